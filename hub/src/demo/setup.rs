//! The demo's setup steps, taken through the hub's own API as an admin and a browser would:
//! the Google consent, onboarding the resources, turning notifications on and enrolling the
//! demo devices with an in-process edge agent each.

use emulators::google::{GoogleEmulator, Role as CalendarRole};
use reqwest::{Client, Method, StatusCode, header};
use serde_json::{Value, json};

use super::{
    DEMO_EMAIL_SENDER, DEMO_EMAIL_TEMPLATE, DEMO_WHATSAPP_SENDER, DemoCredentials, DemoError,
    DemoResource, EXTERNAL_USER, RESOURCES, SENDGRID_KEY, TWILIO_ACCOUNT,
};
use crate::Hub;

/// Starts one in-process edge agent per demo device, each with an enrollment of its own (the
/// code in the credentials file stays unused for a standalone agent) and its data under the
/// temporary directory, so the device flow — schedules arriving, check-ins — runs in the demo.
pub(super) async fn start_device_agents(
    credentials: &DemoCredentials,
) -> Result<Vec<edge_agent::Agent>, DemoError> {
    let client = Client::new();
    let base = &credentials.base_url;
    let mut agents = Vec::new();
    for device in credentials.resources.iter().filter(|r| r.kind == "DEVICE") {
        let url = format!("{base}/api/v1/resources/{}/devices", device.id);
        let code = call(
            &client,
            Method::POST,
            &url,
            &credentials.admin_token,
            &json!({}),
        )
        .await?;
        let enrolled = client
            .post(format!("{base}/api/v1/devices/enroll"))
            .json(&json!({"enrollment_code": code["enrollment_code"]}))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| DemoError::Step(format!("demo device enrollment: {e}")))?
            .json::<edge_agent::EnrollmentResponse>()
            .await
            .map_err(|e| DemoError::Step(format!("demo device enrollment: {e}")))?;
        let identity = edge_agent::DeviceIdentity::from_enrollment(enrolled)
            .map_err(|e| DemoError::Step(format!("demo device identity: {e}")))?;
        let dir = std::env::temp_dir()
            .join("corbi-demo-agents")
            .join(&device.id);
        std::fs::create_dir_all(&dir)?;
        let config = edge_agent::AgentConfig::new(&dir);
        let agent = edge_agent::Agent::start(
            config,
            identity,
            std::sync::Arc::new(edge_agent::SystemClock),
        )
        .map_err(|e| DemoError::Step(format!("demo device agent: {e}")))?;
        tracing::info!(device = %device.name, data = %dir.display(), "demo device agent started");
        agents.push(agent);
    }
    Ok(agents)
}

/// An enrollment code for the first unseeded device, so a standalone `edge-agent` can join.
pub(super) async fn enroll_demo_device(
    hub: &Hub,
    tenant_id: &str,
    admin_id: &str,
    resources: &[DemoResource],
) -> Result<Value, DemoError> {
    let device = resources
        .iter()
        .find(|r| r.kind == "DEVICE" && !r.seeded)
        .ok_or_else(|| DemoError::Step("the demo has no unseeded device".into()))?;
    let ttl = chrono::Duration::days(7);
    let enrollment =
        crate::edge::store::create_enrollment(&hub.state.db, tenant_id, &device.id, admin_id, ttl)
            .await
            .map_err(|e| DemoError::Step(format!("device enrollment: {e}")))?;
    Ok(json!({"code": enrollment.code, "resource_id": device.id}))
}

/// Email on create, reschedule and cancel, WhatsApp on cancel, through the in-process
/// emulators (docs/API.md, "The demo"): the vendor credentials and the preferences, set through
/// the hub's own API as an admin would.
pub(super) async fn turn_on_notifications(
    client: &Client,
    base_url: &str,
    admin_token: &str,
) -> Result<(), DemoError> {
    let credentials = json!({
        "sendgrid_api_key": SENDGRID_KEY,
        "twilio_account_sid": TWILIO_ACCOUNT.0,
        "twilio_auth_token": TWILIO_ACCOUNT.1,
        "twilio_whatsapp_from": DEMO_WHATSAPP_SENDER,
    });
    call(
        client,
        Method::PUT,
        &format!("{base_url}/api/v1/tenant/notification-credentials"),
        admin_token,
        &credentials,
    )
    .await?;
    let settings = json!({"notifications": {
        "email": {"enabled": true, "on": ["CREATED", "RESCHEDULED", "CANCELLED"],
                  "template_id": DEMO_EMAIL_TEMPLATE, "sender": DEMO_EMAIL_SENDER},
        "whatsapp": {"enabled": true, "on": ["CANCELLED"], "sender": DEMO_WHATSAPP_SENDER},
    }});
    call(
        client,
        Method::PUT,
        &format!("{base_url}/api/v1/tenant/settings"),
        admin_token,
        &settings,
    )
    .await?;
    Ok(())
}

/// Walks the OAuth consent as a person in a browser would: CORBI's start URL, Google's consent
/// (the emulator approves at once for `login_hint`), back to CORBI's callback. Returns the
/// callback's status.
pub async fn consent(
    client: &Client,
    base_url: &str,
    token: &str,
    target: &str,
    login_hint: &str,
) -> Result<StatusCode, DemoError> {
    let start = client
        .get(format!("{base_url}/oauth/google/start"))
        .query(&[("for", target), ("login_hint", login_hint)])
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| DemoError::Step(format!("consent start: {e}")))?;
    let to_google = redirect_target(&start)?;
    let browser_cookies: Vec<String> = start
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect();
    let approved = client
        .get(to_google)
        .send()
        .await
        .map_err(|e| DemoError::Step(format!("Google consent: {e}")))?;
    let back = redirect_target(&approved)?;
    let callback = client
        .get(back)
        .header(header::COOKIE, browser_cookies.join("; "))
        .send()
        .await
        .map_err(|e| DemoError::Step(format!("consent callback: {e}")))?;
    Ok(callback.status())
}

fn redirect_target(response: &reqwest::Response) -> Result<String, DemoError> {
    if !response.status().is_redirection() {
        return Err(DemoError::Step(format!(
            "expected a redirect, got {}",
            response.status()
        )));
    }
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| DemoError::Step("redirect without a Location".into()))
}

pub(super) async fn onboard_resources(
    client: &Client,
    base_url: &str,
    admin_token: &str,
    google: &GoogleEmulator,
) -> Result<Vec<DemoResource>, DemoError> {
    let mut onboarded = Vec::new();
    for (name, kind, capacity, seeded) in RESOURCES {
        let body = json!({"name": name, "kind": kind, "capacity": capacity, "calendar": {"mode": "CREATE"}});
        let created: Value = call(
            client,
            Method::POST,
            &format!("{base_url}/api/v1/resources"),
            admin_token,
            &body,
        )
        .await?;
        let calendar_id = created["calendar_id"].as_str().unwrap_or_default();
        google.share_calendar(calendar_id, EXTERNAL_USER, CalendarRole::Writer);
        onboarded.push(DemoResource {
            id: created["id"].as_str().unwrap_or_default().to_string(),
            calendar_id: calendar_id.to_string(),
            name: (*name).to_string(),
            kind: (*kind).to_string(),
            seeded: *seeded,
        });
    }
    onboarded.sort_by_key(|r| r.kind != "ROOM");
    Ok(onboarded)
}

pub(super) async fn call(
    client: &Client,
    method: Method,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<Value, DemoError> {
    let response = client
        .request(method, url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|e| DemoError::Step(format!("{url}: {e}")))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| DemoError::Step(format!("{url}: {e}")))?;
    if status.is_success() {
        Ok(answer)
    } else {
        Err(DemoError::Step(format!(
            "{url} answered {status}: {}",
            answer["error"]["message"]
        )))
    }
}
