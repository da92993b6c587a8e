//! `hub demo`: the binary writes its credentials file, and what it seeds works as docs/API.md says:
//! the sample week on the seeded resources, the console's sign-in links, a quiet start.

use std::{
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{eventually, init_log_capture, no_redirects};

/// What the demo process printed so far, line by line, without terminal colours.
type Output = Arc<Mutex<Vec<String>>>;

/// Starts the built `hub demo` with the default log filter, collects its output, and waits
/// for its credentials file.
async fn start_demo(dir: &Path, file: &Path) -> (tokio::process::Child, Output) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(["demo", "--credentials-out"])
        .arg(file)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("demo.db").display()),
        )
        .env("BIND", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("ENCRYPTION_KEYS")
        .env_remove("CORBI_CONFIG")
        .env_remove("MQTT_BIND")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hub demo starts");
    let output = Output::default();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    collect(stdout, output.clone());
    collect(stderr, output.clone());
    eventually(
        Duration::from_secs(60),
        "the credentials file is written",
        || async { std::fs::read_to_string(file).is_ok_and(|t| t.ends_with('\n')) },
    )
    .await;
    (child, output)
}

fn collect(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static, into: Output) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("output").push(without_colours(&line));
        }
    });
}

/// Drops ANSI escape sequences (`ESC [ … letter`).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for rest in chars.by_ref() {
                if rest.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_binary_writes_credentials_that_work() {
    init_log_capture();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("credentials.json");
    let (mut child, _) = start_demo(dir.path(), &file).await;
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
    // Only this test's notices count: the demo's own week sends some too.
    let received = |vendor: &'static str, to: &'static str| {
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
            body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m.to_string().contains(to))
                .count()
        }
    };
    eventually(
        Duration::from_secs(30),
        "the demo's notices reach the emulators",
        || async {
            received("sendgrid", "guest@example.com").await == 2
                && received("twilio", "+4915112345678").await == 1
        },
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_books_a_week_hands_out_console_links_and_starts_quietly() {
    init_log_capture();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("credentials.json");
    let (mut child, output) = start_demo(dir.path(), &file).await;
    let credentials: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    let base = credentials["base_url"].as_str().expect("base_url");
    let client = no_redirects();

    // The console block: its root and one-time sign-in links that open a session.
    let console = &credentials["console"];
    assert_eq!(console["url"], format!("{base}/"), "{console}");
    let admin_link = console["admin_login_url"].as_str().expect("admin link");
    let member_link = console["member_login_url"].as_str().expect("member link");
    assert!(admin_link.starts_with(&format!("{base}/auth/link?token=")));
    let followed = client.get(admin_link).send().await.expect("sent");
    assert_eq!(followed.status(), StatusCode::SEE_OTHER);
    let session = session_cookie(&followed).expect("a session cookie");
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .header(header::COOKIE, session)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["name"], "Dana Admin", "{me}");
    let to_rooms = client
        .get(format!("{member_link}&next=/rooms"))
        .send()
        .await
        .expect("sent");
    assert_eq!(to_rooms.status(), StatusCode::SEE_OTHER);
    assert_eq!(to_rooms.headers()[header::LOCATION], "/rooms");
    assert!(session_cookie(&to_rooms).is_some());

    // "Sign in with Google" without a hint picks the emulator's first account: the admin.
    let start = client
        .get(format!("{base}/auth/google/start"))
        .send()
        .await
        .expect("sent");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let state = cookie(&start, "corbi_signin_state").expect("a state cookie");
    let at_google = client.get(location(&start)).send().await.expect("Google");
    assert!(
        at_google.status().is_redirection(),
        "{}",
        at_google.status()
    );
    let back = client
        .get(location(&at_google))
        .header(header::COOKIE, state)
        .send()
        .await
        .expect("callback");
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&back).is_some(), "{}", location(&back));

    // The week on the seeded room: attended, no-show, cancelled, a stand-up series, one made in
    // Google by the outside user, one in progress and one later today.
    let admin = credentials["admin_token"].as_str().expect("token");
    let resources = credentials["resources"].as_array().expect("resources");
    let now = Utc::now();
    let week = |resource: &Value| {
        let url = format!("{base}/api/v1/calendar/events");
        let id = resource["id"].as_str().expect("id").to_string();
        let client = client.clone();
        async move {
            let body: Value = client
                .get(url)
                .query(&[
                    ("resource_id", id.as_str()),
                    ("from", &(now - chrono::Duration::days(7)).to_rfc3339()),
                    ("to", &(now + chrono::Duration::days(7)).to_rfc3339()),
                    ("limit", "200"),
                ])
                .bearer_auth(admin)
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            body["items"].as_array().expect("items").clone()
        }
    };
    let room = resources
        .iter()
        .find(|r| r["kind"] == "ROOM" && r["seeded"] == true)
        .expect("a seeded room");
    let meetings = week(room).await;
    let count = |status: &str| meetings.iter().filter(|m| m["status"] == status).count();
    assert!(count("ATTENDED") >= 2, "{meetings:#?}");
    assert_eq!(count("NO_SHOW"), 1, "{meetings:#?}");
    assert_eq!(count("CANCELLED"), 1, "{meetings:#?}");
    assert!(count("SCHEDULED") >= 2, "{meetings:#?}");
    let time = |m: &Value, field: &str| {
        DateTime::parse_from_rfc3339(m[field].as_str().expect("time")).expect("RFC 3339")
    };
    let past = |m: &&Value| time(m, "end") < now;
    assert!(
        meetings
            .iter()
            .filter(past)
            .all(|m| m["status"] != "SCHEDULED")
    );
    assert!(
        meetings
            .iter()
            .any(|m| m["recurrence"].as_array().is_some_and(|r| r
                .iter()
                .any(|l| l.as_str().is_some_and(|l| l.contains("FREQ=WEEKLY"))))),
        "a weekly series: {meetings:#?}"
    );
    let from_google = meetings
        .iter()
        .find(|m| m["title"] == "Partner workshop")
        .expect("the outside user's meeting");
    assert_eq!(from_google["source"], "EXTERNAL");
    let in_progress = meetings
        .iter()
        .find(|m| time(m, "start") <= now && now < time(m, "end"))
        .expect("a meeting in progress");
    assert_eq!(in_progress["status"], "ATTENDED", "{in_progress}");
    assert!(in_progress["checked_in_at"].is_string());
    assert!(
        meetings.iter().any(|m| m["status"] == "SCHEDULED"
            && time(m, "start") > now
            && time(m, "start") < now + chrono::Duration::hours(3)),
        "one later today: {meetings:#?}"
    );
    let device = resources
        .iter()
        .find(|r| r["kind"] == "DEVICE" && r["seeded"] == true)
        .expect("a seeded device");
    let on_device = week(device).await;
    assert!(
        on_device.iter().any(|m| m["status"] == "ATTENDED"),
        "{on_device:#?}"
    );
    assert!(
        on_device.iter().any(|m| m["status"] == "SCHEDULED"),
        "{on_device:#?}"
    );
    for free in resources.iter().filter(|r| r["seeded"] == false) {
        assert!(week(free).await.is_empty(), "{free} stays free for scripts");
    }

    // A healthy start says nothing alarming, and the banner starts with the console.
    let lines = output.lock().expect("output").clone();
    let alarming: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(alarming.is_empty(), "{alarming:#?}");
    let banner = lines
        .iter()
        .position(|l| l.starts_with("Console: "))
        .expect("the banner names the console");
    assert_eq!(lines[banner], format!("Console: {base}/"));
    let listening = lines
        .iter()
        .position(|l| l.starts_with("CORBI demo hub listening"))
        .expect("the banner");
    assert!(banner < listening, "{lines:#?}");

    // (After the quiet-start check: a refused link is logged as a warning.)
    let again = client.get(admin_link).send().await.expect("sent");
    assert!(session_cookie(&again).is_none(), "a link works once");
    child.kill().await.expect("demo stops");
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_string()
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    cookie(response, "corbi_session").filter(|c| c.contains("corbi_ses_"))
}
