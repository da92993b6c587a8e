//! `hub demo`: everything of `serve`, plus the Google Calendar, SendGrid and Twilio emulators
//! in-process and a seeded tenant `demo` — admin, member and AI credentials, the tenant's Google
//! account connected through the real OAuth flow, rooms and a device with calendars of their
//! own, and an external Google user with writer access to them (docs/API.md, "The demo"). The
//! seeded resources get a sample week ([`week`]) and the credentials carry one-time console
//! sign-in links for the named admin and member.
//!
//! A demo started on a database that already holds a `demo` tenant archives the old one (its
//! slug is renamed, its Google connection marked for re-consent): its calendars lived in the
//! previous run's emulator.

use std::path::Path;

use chrono::Utc;
use emulators::{
    google::{GoogleConfig as EmulatedGoogle, GoogleEmulator},
    sendgrid::{SendGridConfig, SendGridEmulator},
    twilio::{TwilioConfig, TwilioEmulator},
};
use reqwest::{Client, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use shared::ActorType;

use crate::{
    Hub, StartError,
    auth::{AuthError, Role, store},
    config::{Config, Secret},
    connections::{ConnectionError, Owner, seal},
    jobs::Registry,
    signin::{SigninError, links},
};

mod setup;
mod week;

pub use setup::consent;
use setup::{enroll_demo_device, onboard_resources, start_device_agents, turn_on_notifications};

/// The demo tenant's slug.
pub const DEMO_TENANT: &str = "demo";
/// The Google account that owns the demo's resource calendars.
pub const ROOMS_ACCOUNT: &str = "rooms@demo.corbi.example";
/// Another Google user, acting in Google's own UI.
pub const EXTERNAL_USER: &str = "alex@partner.example";
/// The demo admin: a person of the tenant and a Google account of the emulator.
pub const ADMIN_EMAIL: &str = "admin@demo.corbi.example";
const ADMIN_NAME: &str = "Dana Admin";
/// The demo member.
pub const MEMBER_EMAIL: &str = "member@demo.corbi.example";
const MEMBER_NAME: &str = "Sam Member";
const OAUTH_CLIENT_ID: &str = "corbi-demo.apps.googleusercontent.com";
const OAUTH_CLIENT_SECRET: &str = "corbi-demo-client-secret";
const TWILIO_ACCOUNT: (&str, &str) = (
    "AC00000000000000000000000000000000",
    "demo-twilio-auth-token",
);
const SENDGRID_KEY: &str = "SG.demo-sendgrid-key";
/// The demo's SendGrid dynamic template (any `d-` + 32 hex id; the emulator does not render it).
const DEMO_EMAIL_TEMPLATE: &str = "d-0c0b1d00000000000000000000000001";
const DEMO_EMAIL_SENDER: &str = "notifications@demo.corbi.example";
const DEMO_WHATSAPP_SENDER: &str = "+14155238886";
const FULL_CALENDAR_SCOPE: &str = "https://www.googleapis.com/auth/calendar";

/// The rooms and devices the demo onboards: name, kind, capacity, whether it carries samples.
const RESOURCES: &[(&str, &str, Option<i64>, bool)] = &[
    ("Atlas", "ROOM", Some(8), true),
    ("Borealis", "ROOM", Some(6), false),
    ("Cosmos", "ROOM", Some(12), false),
    ("Delta", "ROOM", Some(4), false),
    ("Camera kit", "DEVICE", None, true),
    ("Projector 1", "DEVICE", None, false),
];

/// The credentials file of docs/API.md (`hub demo --credentials-out`).
#[derive(Debug, Serialize)]
pub struct DemoCredentials {
    /// The hub's URL.
    pub base_url: String,
    /// The console and one-time sign-in links into it.
    pub console: DemoConsole,
    /// The tenant slug.
    pub tenant: String,
    /// Personal token of the demo admin.
    pub admin_token: String,
    /// Personal token of the demo member.
    pub member_token: String,
    /// API key of the demo AI agent.
    pub ai_key: String,
    /// Rooms first, then devices.
    pub resources: Vec<DemoResource>,
    /// A device enrollment code `{code, resource_id}` for an unseeded device.
    pub device_enrollment: Option<Value>,
    /// The emulated Google.
    pub google: Value,
    /// The SendGrid emulator.
    pub sendgrid: Value,
    /// The Twilio emulator.
    pub twilio: Value,
}

/// The console block of the credentials file: each link signs its holder in once, within
/// `CONSOLE_SIGNIN_LINK_MINUTES`; `?next=/path` on it picks the page to land on.
#[derive(Debug, Serialize)]
pub struct DemoConsole {
    /// The console's root.
    pub url: String,
    /// Signs in as the demo admin.
    pub admin_login_url: String,
    /// Signs in as the demo member.
    pub member_login_url: String,
}

/// A resource as the credentials file lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DemoResource {
    /// Resource id.
    pub id: String,
    /// Name.
    pub name: String,
    /// ROOM or DEVICE.
    pub kind: String,
    /// Whether the demo put sample meetings on it.
    pub seeded: bool,
    /// Its Google calendar, where the sample week's Google-side events are written.
    #[serde(skip)]
    pub calendar_id: String,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The hub did not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// An emulator did not start.
    #[error("an emulator could not start: {0}")]
    Emulator(#[from] std::io::Error),
    /// Seeding the tenant failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The Google connection could not be archived or made.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A console sign-in link could not be made.
    #[error(transparent)]
    Signin(#[from] SigninError),
    /// A step through the hub's own API failed.
    #[error("demo setup step failed: {0}")]
    Step(String),
}

/// A running demo: the hub, the emulators it talks to and the seeded credentials.
pub struct Demo {
    /// The hub.
    pub hub: Hub,
    /// Emulated Google Calendar and OAuth.
    pub google: GoogleEmulator,
    /// Emulated SendGrid.
    pub sendgrid: SendGridEmulator,
    /// Emulated Twilio.
    pub twilio: TwilioEmulator,
    /// What the credentials file holds.
    pub credentials: DemoCredentials,
    /// One in-process edge agent per demo device, showing the device flow.
    pub agents: Vec<edge_agent::Agent>,
}

/// Starts the emulators and the hub, and seeds the demo tenant.
pub async fn start(mut config: Config) -> Result<Demo, DemoError> {
    let google = GoogleEmulator::start(EmulatedGoogle {
        allow_http_loopback: true,
        ..EmulatedGoogle::default()
    })
    .await?;
    google.register_oauth_client(OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET);
    // Without `login_hint` the emulator signs in as the first account added: the admin, so
    // "Sign in with Google" on the console works for the demo admin.
    google.add_account(ADMIN_EMAIL);
    google.add_account(MEMBER_EMAIL);
    google.add_account(ROOMS_ACCOUNT);
    google.add_account(EXTERNAL_USER);
    let sendgrid = SendGridEmulator::start(SendGridConfig {
        api_keys: vec![SENDGRID_KEY.into()],
        ..SendGridConfig::default()
    })
    .await?;
    let twilio = TwilioEmulator::start(
        TwilioConfig {
            allow_http_callbacks_on_loopback: true,
            ..TwilioConfig::default()
        }
        .with_account(TWILIO_ACCOUNT.0, TWILIO_ACCOUNT.1),
    )
    .await?;
    point_at_emulators(&mut config, &google);
    config.notify.sendgrid_base_url = sendgrid.base_url();
    config.notify.twilio_base_url = twilio.base_url();
    let hub = Hub::start(config, Registry::new()).await?;
    let credentials = seed(&hub, &google, &sendgrid, &twilio).await?;
    let agents = start_device_agents(&credentials).await?;
    Ok(Demo {
        agents,
        hub,
        google,
        sendgrid,
        twilio,
        credentials,
    })
}

fn point_at_emulators(config: &mut Config, google: &GoogleEmulator) {
    let base = google.base_url();
    config.google.client_id = OAUTH_CLIENT_ID.into();
    config.google.client_secret = Secret::new(OAUTH_CLIENT_SECRET);
    config.google.auth_url = format!("{base}/o/oauth2/auth");
    config.google.token_url = format!("{base}/token");
    config.google.revoke_url = format!("{base}/revoke");
    config.google.issuer = base.clone();
    config.google.api_base_url = base;
    if config.encryption.keys.expose().is_empty() {
        tracing::info!(
            "ENCRYPTION_KEYS is not set: the demo seals tokens with a key made for this run"
        );
        config.encryption.keys = Secret::new(seal::generate_key("demo"));
        config.encryption.active_key_id = String::new();
    }
}

async fn seed(
    hub: &Hub,
    google: &GoogleEmulator,
    sendgrid: &SendGridEmulator,
    twilio: &TwilioEmulator,
) -> Result<DemoCredentials, DemoError> {
    let db = &hub.state.db;
    archive_previous(hub).await?;
    let tenant = store::create_tenant(db, DEMO_TENANT, "CORBI Demo").await?;
    let admin =
        store::create_named_user(db, &tenant.id, ADMIN_EMAIL, ADMIN_NAME, Role::Admin).await?;
    let member =
        store::create_named_user(db, &tenant.id, MEMBER_EMAIL, MEMBER_NAME, Role::Member).await?;
    let admin_token = store::issue_personal_token(db, &admin, "demo").await?.token;
    let member_token = store::issue_personal_token(db, &member, "demo")
        .await?
        .token;
    let ai_key = store::issue_api_key(db, &tenant.id, "demo voice agent", ActorType::Ai)
        .await?
        .token;

    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let status = consent(
        &client,
        hub.base_url(),
        &admin_token,
        "tenant",
        ROOMS_ACCOUNT,
    )
    .await?;
    if status != StatusCode::OK {
        return Err(DemoError::Step(format!("Google consent answered {status}")));
    }
    let resources = onboard_resources(&client, hub.base_url(), &admin_token, google).await?;
    turn_on_notifications(&client, hub.base_url(), &admin_token).await?;
    let people = week::People {
        admin: &admin,
        admin_token: &admin_token,
        member: &member,
        member_token: &member_token,
    };
    week::seed(hub, google, &client, &people, &resources).await?;
    let device_enrollment = enroll_demo_device(hub, &tenant.id, &admin.id, &resources).await?;
    let console = DemoConsole {
        url: format!("{}/", hub.base_url()),
        admin_login_url: links::create(db, &hub.state.signin, DEMO_TENANT, ADMIN_EMAIL, None)
            .await?,
        member_login_url: links::create(db, &hub.state.signin, DEMO_TENANT, MEMBER_EMAIL, None)
            .await?,
    };
    Ok(DemoCredentials {
        base_url: hub.base_url().to_string(),
        console,
        tenant: tenant.slug,
        admin_token,
        member_token,
        ai_key,
        resources,
        device_enrollment: Some(device_enrollment),
        google: json!({
            "base_url": google.base_url(),
            "external_user_email": EXTERNAL_USER,
            "external_user_token": google.issue_access_token(EXTERNAL_USER, &[FULL_CALENDAR_SCOPE]),
        }),
        sendgrid: json!({"base_url": sendgrid.base_url()}),
        twilio: json!({"base_url": twilio.base_url()}),
    })
}

/// Renames an earlier demo tenant out of the way and marks its connection for re-consent.
async fn archive_previous(hub: &Hub) -> Result<(), DemoError> {
    let db = &hub.state.db;
    let previous = match store::tenant_by_slug(db, DEMO_TENANT).await {
        Ok(tenant) => tenant,
        Err(AuthError::TenantNotFound) => return Ok(()),
        Err(other) => return Err(other.into()),
    };
    let archived = format!("demo-archived-{}", Utc::now().timestamp());
    store::rename_tenant(db, &previous.id, &archived).await?;
    if let Some(connection) = hub
        .state
        .connections
        .find(&previous.id, &Owner::Tenant)
        .await?
    {
        hub.state
            .connections
            .mark_needs_reconsent(&connection, "archived demo tenant")
            .await?;
    }
    tracing::info!(%archived, "archived the previous demo tenant");
    Ok(())
}

/// Writes the credentials as JSON readable only by the owner.
pub fn write_credentials(path: &Path, credentials: &DemoCredentials) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let json = serde_json::to_vec_pretty(credentials).map_err(std::io::Error::other)?;
    file.write_all(&json)?;
    file.write_all(b"\n")
}
