//! `hub demo`: the binary writes its credentials file, and what it seeds works as docs/API.md says.

use std::{process::Stdio, time::Duration};

use reqwest::Method;
use serde_json::Value;

use crate::support::{eventually, init_log_capture, no_redirects};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_binary_writes_credentials_that_work() {
    init_log_capture();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("credentials.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["demo", "--credentials-out"])
        .arg(&file)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("demo.db").display()),
        )
        .env("BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env_remove("ENCRYPTION_KEYS")
        .env_remove("CORBI_CONFIG")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hub demo starts");
    eventually(
        Duration::from_secs(60),
        "the credentials file is written",
        || async { std::fs::read_to_string(&file).is_ok_and(|t| t.ends_with('\n')) },
    )
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner can read the secrets");
    }
    let credentials: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    let base = credentials["base_url"].as_str().expect("base_url");
    let client = no_redirects();
    let get = |path: String, token: &str| {
        client
            .request(Method::GET, format!("{base}{path}"))
            .bearer_auth(token)
            .send()
    };

    let settings = get(
        "/api/v1/tenant/settings".into(),
        credentials["ai_key"].as_str().expect("ai key"),
    )
    .await
    .expect("sent");
    assert_eq!(settings.status(), 200);
    let connection: Value = get(
        "/api/v1/google/connection".into(),
        credentials["admin_token"].as_str().expect("token"),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    assert_eq!(connection["status"], "active", "{connection}");

    let resources = credentials["resources"].as_array().expect("resources");
    let unseeded = |kind: &str| {
        resources
            .iter()
            .filter(|r| r["kind"] == kind && r["seeded"] == false)
            .count()
    };
    assert!(
        unseeded("ROOM") >= 3 && unseeded("DEVICE") >= 1,
        "{resources:?}"
    );
    let kinds: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(
        kinds
            .windows(2)
            .all(|w| !(w[0] == "DEVICE" && w[1] == "ROOM")),
        "rooms first: {kinds:?}"
    );

    // The external user writes to a room calendar through the emulated Calendar API.
    let room = &resources[0];
    let room_detail: Value = get(
        format!("/api/v1/resources/{}", room["id"].as_str().expect("id")),
        credentials["member_token"].as_str().expect("token"),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("json");
    let calendar = room_detail["calendar_id"].as_str().expect("calendar");
    let google = &credentials["google"];
    let events_url = format!(
        "{}/calendar/v3/calendars/{}/events",
        google["base_url"].as_str().expect("google base"),
        calendar
    );
    let inserted = client
        .post(&events_url)
        .bearer_auth(google["external_user_token"].as_str().expect("token"))
        .json(&serde_json::json!({
            "summary": "Walk-in",
            "start": {"dateTime": "2030-01-07T10:00:00Z"},
            "end": {"dateTime": "2030-01-07T11:00:00Z"},
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        inserted.status(),
        200,
        "the external user has writer access"
    );
    let enrollment = &credentials["device_enrollment"];
    let device = resources
        .iter()
        .find(|r| r["id"] == enrollment["resource_id"])
        .expect("the enrollment names a demo resource");
    assert_eq!(device["kind"], "DEVICE");
    assert_eq!(device["seeded"], false);
    let enrolled: Value = client
        .post(format!("{base}/api/v1/devices/enroll"))
        .json(&serde_json::json!({"enrollment_code": enrollment["code"]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let mqtt_url = enrolled["mqtt"]["url"].as_str().expect("broker URL");
    assert!(
        mqtt_url.starts_with("mqtt://127.0.0.1:") && !mqtt_url.ends_with(":1883"),
        "the demo broker takes a free port: {mqtt_url}"
    );
    for vendor in ["sendgrid", "twilio"] {
        let url = format!(
            "{}/_emulator/messages",
            credentials[vendor]["base_url"].as_str().expect("base")
        );
        assert_eq!(client.get(url).send().await.expect("sent").status(), 200);
    }

    // Notifications are on: booking and cancelling show up at the emulators.
    let member = credentials["member_token"].as_str().expect("token");
    let booked: Value = client
        .post(format!("{base}/api/v1/calendar/events"))
        .bearer_auth(member)
        .json(
            &serde_json::json!({"title": "Demo notice", "start": "2030-01-08T10:00:00Z",
            "end": "2030-01-08T11:00:00Z", "time_zone": "Europe/Berlin", "resource_id": room["id"],
            "participants": [{"email": "guest@example.com", "phone": "+4915112345678"}]}),
        )
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let id = booked["id"].as_str().expect("booked");
    let cancelled = client
        .post(format!("{base}/api/v1/calendar/events/{id}/cancel"))
        .bearer_auth(member)
        .json(&serde_json::json!({"reason": "demo"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(cancelled.status(), 200);
    let received = |vendor: &'static str| {
        let url = format!(
            "{}/_emulator/messages",
            credentials[vendor]["base_url"].as_str().expect("base")
        );
        let client = client.clone();
        async move {
            let body: Value = client
                .get(url)
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            body["items"].as_array().map_or(0, Vec::len)
        }
    };
    eventually(
        Duration::from_secs(30),
        "the demo's notices reach the emulators",
        || async { received("sendgrid").await == 2 && received("twilio").await == 1 },
    )
    .await;
    // Every demo device runs an in-process agent that reaches the broker and reports in.
    let admin = credentials["admin_token"].as_str().expect("token");
    for device in resources.iter().filter(|r| r["kind"] == "DEVICE") {
        let url = format!(
            "{base}/api/v1/resources/{}/devices",
            device["id"].as_str().expect("id")
        );
        let client = client.clone();
        eventually(
            Duration::from_secs(30),
            "the demo device's agent reports in",
            || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let list: Value = client
                        .get(url)
                        .bearer_auth(admin)
                        .send()
                        .await
                        .expect("sent")
                        .json()
                        .await
                        .expect("json");
                    list["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|d| d["last_seen_at"].is_string())
                }
            },
        )
        .await;
    }
    child.kill().await.expect("demo stops");
}
