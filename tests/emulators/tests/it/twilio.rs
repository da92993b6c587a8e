//! Twilio Messaging emulator: message creation and the log, the parameter checks with Twilio's
//! error codes, authentication, faults, signed status callbacks, and the spec file itself.

use std::time::{Duration, Instant};

use base64::Engine;
use emulators::twilio::{CallbackFault, Fault, TwilioConfig, TwilioEmulator, signature};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use super::vendors::{FormHook, Received, load_spec, wait_until};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-1";
const OTHER_SID: &str = "ACfedcba9876543210fedcba9876543210";
const OTHER_TOKEN: &str = "auth-token-2";
const FROM: &str = "whatsapp:+14155238886";
const TO: &str = "whatsapp:+41791234567";

struct Env {
    emu: TwilioEmulator,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    body: Value,
}

async fn env_with(allow_http: bool) -> Env {
    let config = TwilioConfig {
        allow_http_callbacks_on_loopback: allow_http,
        ..TwilioConfig::default()
    }
    .with_account(SID, TOKEN)
    .with_account(OTHER_SID, OTHER_TOKEN);
    Env {
        emu: TwilioEmulator::start(config).await.expect("start"),
        http: reqwest::Client::new(),
    }
}

async fn env() -> Env {
    env_with(true).await
}

fn messages_path(account: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/Messages.json")
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn create(&self, params: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(self.url(&messages_path(SID)))
            .basic_auth(SID, Some(TOKEN))
            .form(params);
        answer(request).await
    }

    async fn admin(&self, command: Value) {
        let request = self.http.post(self.url("/_emulator/faults")).json(&command);
        assert_eq!(request.send().await.expect("admin").status().as_u16(), 204);
    }

    async fn wait_status(&self, sid: &str, status: &str) {
        wait_until(|| self.emu.message(sid).is_some_and(|m| m["status"] == status)).await;
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("send");
    Answer {
        status: response.status().as_u16(),
        body: response.json().await.expect("json body"),
    }
}

fn cancellation(callback: Option<&str>) -> Vec<(&str, &str)> {
    let mut params = vec![
        ("To", TO),
        ("From", FROM),
        (
            "Body",
            "Budget (Tue 1 Dec 10:00 CET) was cancelled. Reschedule: https://corbi.example/m/1",
        ),
    ];
    if let Some(url) = callback {
        params.push(("StatusCallback", url));
    }
    params
}

/// Twilio's algorithm computed independently: HMAC-SHA1 over the URL and the sorted parameters.
fn expected_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let data: String = sorted
        .iter()
        .fold(url.to_owned(), |acc, (k, v)| acc + k + v);
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn statuses(received: &[Received]) -> Vec<&str> {
    received
        .iter()
        .map(|r| r.param("MessageStatus").expect("status"))
        .collect()
}

#[tokio::test]
async fn a_created_message_answers_201_with_the_message_resource_and_is_listed() {
    let env = env().await;
    let created = env.create(&cancellation(None)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let message = &created.body;
    let sid = message["sid"].as_str().expect("sid");
    assert!(
        sid.starts_with("SM") && sid.len() == 34 && sid[2..].chars().all(|c| c.is_ascii_hexdigit())
    );
    assert_eq!(message["account_sid"], SID);
    assert_eq!(
        (&message["to"], &message["from"]),
        (&json!(TO), &json!(FROM))
    );
    assert!(
        message["body"]
            .as_str()
            .expect("body")
            .contains("cancelled")
    );
    assert_eq!(message["status"], "queued");
    assert_eq!(message["direction"], "outbound-api");
    assert_eq!(message["api_version"], "2010-04-01");
    assert_eq!(message["num_segments"], "1");
    assert_eq!(message["num_media"], "0");
    assert_eq!(
        (&message["price"], &message["error_code"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        message["uri"],
        format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json")
    );
    chrono::DateTime::parse_from_rfc2822(message["date_created"].as_str().expect("date"))
        .expect("date_created is RFC 2822");

    let log: Value = env
        .http
        .get(env.url("/_emulator/messages"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let item = &log["items"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["params", "received_at", "sid", "status"]);
    assert_eq!((&item["status"], &item["sid"]), (&json!(201), &json!(sid)));
    assert_eq!(item["params"]["To"], TO);
    assert_eq!(item["params"]["From"], FROM);
    let fetched = answer(
        env.http
            .get(env.url(&format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json")))
            .basic_auth(SID, Some(TOKEN)),
    )
    .await;
    assert_eq!((fetched.status, &fetched.body["sid"]), (200, &json!(sid)));
}

#[tokio::test]
async fn sms_segments_media_and_messaging_services_are_modelled() {
    let env = env().await;
    let long = "x".repeat(200);
    let sms = env
        .create(&[
            ("To", "+41791234567"),
            ("From", "+14155552345"),
            ("Body", &long),
        ])
        .await;
    assert_eq!((sms.status, &sms.body["num_segments"]), (201, &json!("2")));
    let media = env
        .create(&[
            ("To", TO),
            ("From", FROM),
            ("MediaUrl", "https://corbi.example/a.png"),
            ("MediaUrl", "https://corbi.example/b.png"),
        ])
        .await;
    assert_eq!((media.status, &media.body["num_media"]), (201, &json!("2")));
    let service = "MG0123456789abcdef0123456789abcdef";
    let pooled = env
        .create(&[("To", TO), ("MessagingServiceSid", service), ("Body", "hi")])
        .await;
    assert_eq!(pooled.status, 201);
    assert_eq!(
        (&pooled.body["from"], &pooled.body["status"]),
        (&Value::Null, &json!("accepted"))
    );
    assert_eq!(pooled.body["messaging_service_sid"], service);
    let listed = env.emu.messages();
    assert_eq!(
        listed[1].params["MediaUrl"],
        json!(["https://corbi.example/a.png", "https://corbi.example/b.png"])
    );
}

#[tokio::test]
async fn each_check_answers_with_twilios_error_code() {
    let env = env_with(false).await;
    let long = "x".repeat(1601);
    let cases: Vec<(u32, Vec<(&str, &str)>)> = vec![
        (21604, vec![("From", FROM), ("Body", "hi")]),
        (
            21211,
            vec![
                ("To", "0791234567"),
                ("From", "+14155552345"),
                ("Body", "hi"),
            ],
        ),
        (
            21211,
            vec![
                ("To", "whatsapp:41791234567"),
                ("From", FROM),
                ("Body", "hi"),
            ],
        ),
        (21603, vec![("To", TO), ("Body", "hi")]),
        (
            21212,
            vec![
                ("To", "+41791234567"),
                ("From", "not a sender!"),
                ("Body", "hi"),
            ],
        ),
        (
            21910,
            vec![("To", "+41791234567"), ("From", FROM), ("Body", "hi")],
        ),
        (
            21910,
            vec![("To", TO), ("From", "+14155552345"), ("Body", "hi")],
        ),
        (21266, vec![("To", TO), ("From", TO), ("Body", "hi")]),
        (21602, vec![("To", TO), ("From", FROM)]),
        (21602, vec![("To", TO), ("From", FROM), ("Body", "")]),
        (21617, vec![("To", TO), ("From", FROM), ("Body", &long)]),
        (
            21701,
            vec![("To", TO), ("MessagingServiceSid", "MG123"), ("Body", "hi")],
        ),
        (
            21620,
            vec![("To", TO), ("From", FROM), ("MediaUrl", "not a url")],
        ),
        (
            21655,
            vec![("To", TO), ("From", FROM), ("ContentSid", "HX1")],
        ),
        (
            21609,
            vec![
                ("To", TO),
                ("From", FROM),
                ("Body", "hi"),
                ("StatusCallback", "http://127.0.0.1:9/cb"),
            ],
        ),
        (
            21609,
            vec![
                ("To", TO),
                ("From", FROM),
                ("Body", "hi"),
                ("StatusCallback", "ftp://hub.example/cb"),
            ],
        ),
    ];
    for (code, params) in &cases {
        let answer = env.create(params).await;
        assert_eq!(answer.status, 400, "{code}: {}", answer.body);
        assert_eq!(answer.body["code"], *code, "{}", answer.body);
        assert_eq!(answer.body["status"], 400);
        assert_eq!(
            answer.body["more_info"],
            format!("https://www.twilio.com/docs/errors/{code}")
        );
        assert!(
            answer.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let log = env.emu.messages();
    assert_eq!(log.len(), cases.len());
    assert!(log.iter().all(|m| m.status == 400 && m.sid.is_none()));
    let content = env
        .create(&[
            ("To", TO),
            ("From", FROM),
            ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
        ])
        .await;
    assert_eq!(content.status, 201, "a content template needs no Body");
}

#[tokio::test]
async fn a_json_body_carries_no_parameters() {
    let env = env().await;
    let request = env
        .http
        .post(env.url(&messages_path(SID)))
        .basic_auth(SID, Some(TOKEN))
        .json(&json!({ "To": TO }));
    let refused = answer(request).await;
    assert_eq!(
        (refused.status, &refused.body["code"]),
        (400, &json!(21604))
    );
}

#[tokio::test]
async fn credentials_must_match_the_account() {
    let env = env().await;
    let url = env.url(&messages_path(SID));
    let form = cancellation(None);
    let expected = json!({ "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401 });
    let attempts = [
        env.http.post(&url).form(&form),
        env.http
            .post(&url)
            .basic_auth(SID, Some("wrong"))
            .form(&form),
        env.http
            .post(&url)
            .basic_auth(OTHER_SID, Some(OTHER_TOKEN))
            .form(&form),
        env.http.post(&url).bearer_auth(TOKEN).form(&form),
    ];
    for attempt in attempts {
        let refused = answer(attempt).await;
        assert_eq!((refused.status, &refused.body), (401, &expected));
    }
    let other = answer(
        env.http
            .post(env.url(&messages_path(OTHER_SID)))
            .basic_auth(OTHER_SID, Some(OTHER_TOKEN))
            .form(&form),
    )
    .await;
    assert_eq!(other.status, 201);
    let statuses: Vec<u16> = env.emu.messages().iter().map(|m| m.status).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 201]);
    assert_eq!(env.emu.messages()[4].account_sid, OTHER_SID);
}

#[tokio::test]
async fn injected_faults_answer_as_twilio_then_run_out() {
    let env = env().await;
    env.emu.inject(
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        2,
    );
    env.admin(json!({ "action": "inject", "fault": { "kind": "internalError" } }))
        .await;
    env.admin(json!({ "action": "inject", "fault": { "kind": "serviceUnavailable" } }))
        .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let answer = env.create(&cancellation(None)).await;
        codes.push((answer.status, answer.body["code"].as_u64()));
    }
    assert_eq!(
        codes,
        [
            (429, Some(20429)),
            (429, Some(20429)),
            (500, Some(20500)),
            (503, Some(20503)),
            (201, None)
        ]
    );
    assert_eq!(env.emu.created().len(), 1);
}

#[tokio::test]
async fn latency_and_stalls_delay_the_answer() {
    let env = env().await;
    env.emu.inject(Fault::Latency { millis: 200 }, 1);
    let started = Instant::now();
    assert_eq!(env.create(&cancellation(None)).await.status, 201);
    assert!(started.elapsed() >= Duration::from_millis(200));
    env.emu.inject(Fault::StallAfterAccept { millis: 2_000 }, 1);
    let impatient = env
        .http
        .post(env.url(&messages_path(SID)))
        .basic_auth(SID, Some(TOKEN))
        .form(&cancellation(None))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(impatient.expect_err("client times out").is_timeout());
    assert_eq!(
        env.emu.created().len(),
        2,
        "the stalled message was created"
    );
}

#[tokio::test]
async fn status_callbacks_arrive_signed_and_in_order() {
    let env = env().await;
    let hook = FormHook::start().await;
    let created = env.create(&cancellation(Some(&hook.url))).await;
    let sid = created.body["sid"].as_str().expect("sid").to_owned();
    let received = hook.wait_for(3).await;
    assert_eq!(statuses(&received), ["queued", "sent", "delivered"]);
    for callback in &received {
        let expected = expected_signature(TOKEN, &hook.url, &callback.params);
        assert_eq!(callback.header("x-twilio-signature"), expected);
        assert_eq!(signature(TOKEN, &hook.url, &callback.params), expected);
        assert_eq!(callback.param("MessageSid"), Some(sid.as_str()));
        assert_eq!(callback.param("AccountSid"), Some(SID));
        assert_eq!(callback.param("From"), Some(FROM));
        assert_eq!(callback.param("To"), Some(TO));
        assert_eq!(callback.param("ApiVersion"), Some("2010-04-01"));
        assert_eq!(callback.param("ErrorCode"), None);
        assert!(
            callback
                .header("content-type")
                .starts_with("application/x-www-form-urlencoded")
        );
        assert!(!callback.header("i-twilio-idempotency-token").is_empty());
    }
    env.wait_status(&sid, "delivered").await;
    let records = env.emu.callbacks();
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.status == Some(204) && r.url == hook.url)
    );
}

#[tokio::test]
async fn failed_and_undelivered_outcomes_carry_an_error_code() {
    let env = env().await;
    env.emu
        .inject_callback(CallbackFault::Failed { error_code: 63016 }, 1);
    env.admin(json!({ "action": "callback", "fault": { "kind": "undelivered" } }))
        .await;
    let failed_hook = FormHook::start().await;
    let undelivered_hook = FormHook::start().await;
    let failed = env.create(&cancellation(Some(&failed_hook.url))).await;
    let undelivered = env.create(&cancellation(Some(&undelivered_hook.url))).await;
    let first = failed_hook.wait_for(2).await;
    assert_eq!(statuses(&first), ["queued", "failed"]);
    assert_eq!(first[1].param("ErrorCode"), Some("63016"));
    let second = undelivered_hook.wait_for(3).await;
    assert_eq!(statuses(&second), ["queued", "sent", "undelivered"]);
    assert_eq!(second[2].param("ErrorCode"), Some("30003"));
    let sid = undelivered.body["sid"].as_str().expect("sid");
    env.wait_status(sid, "undelivered").await;
    assert_eq!(env.emu.message(sid).expect("resource")["error_code"], 30003);
    let failed_sid = failed.body["sid"].as_str().expect("sid");
    assert_eq!(
        env.emu.message(failed_sid).expect("resource")["status"],
        "failed"
    );
}

#[tokio::test]
async fn duplicate_read_and_dropped_callbacks() {
    let env = env().await;
    env.emu.inject_callback(CallbackFault::Duplicate, 1);
    env.emu.inject_callback(CallbackFault::Drop, 1);
    env.emu.inject_callback(CallbackFault::Read, 1);
    let (twice, never, read) = (
        FormHook::start().await,
        FormHook::start().await,
        FormHook::start().await,
    );
    env.create(&cancellation(Some(&twice.url))).await;
    let dropped = env.create(&cancellation(Some(&never.url))).await;
    env.create(&cancellation(Some(&read.url))).await;
    let doubled = twice.wait_for(6).await;
    assert_eq!(
        statuses(&doubled),
        ["queued", "queued", "sent", "sent", "delivered", "delivered"]
    );
    for pair in doubled.chunks(2) {
        assert_eq!(
            pair[0].header("i-twilio-idempotency-token"),
            pair[1].header("i-twilio-idempotency-token")
        );
    }
    assert_eq!(
        statuses(&read.wait_for(4).await),
        ["queued", "sent", "delivered", "read"]
    );
    let dropped_sid = dropped.body["sid"].as_str().expect("sid").to_owned();
    let records = env.emu.callbacks();
    let dropped_records: Vec<_> = records.iter().filter(|r| r.sid == dropped_sid).collect();
    assert_eq!(dropped_records.len(), 3);
    assert!(
        dropped_records
            .iter()
            .all(|r| r.error.as_deref() == Some("dropped") && r.status.is_none())
    );
    assert!(never.received().is_empty());
    let listed: Value = env
        .http
        .get(env.url("/_emulator/callbacks"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed["items"].as_array().expect("items").len(),
        records.len()
    );
}

#[tokio::test]
async fn https_callbacks_are_accepted_without_the_loopback_exception() {
    let env = env_with(false).await;
    let created = env
        .create(&cancellation(Some("https://hub.example.com/twilio/status")))
        .await;
    assert_eq!(created.status, 201);
}

#[test]
fn signature_matches_twilios_documented_example() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675310"),
        ("Digits", "1234"),
        ("From", "+14158675310"),
        ("To", "+18005551212"),
    ];
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert_eq!(
        signature("12345", url, &params),
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    );
}

#[tokio::test]
async fn every_field_answered_is_in_the_spec() {
    let Some(spec) = load_spec("twilio-api-v2010.json") else {
        return;
    };
    let operation = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"];
    let schema_ref =
        &operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(schema_ref, "#/components/schemas/api.v2010.account.message");
    let properties = spec["components"]["schemas"]["api.v2010.account.message"]["properties"]
        .as_object()
        .expect("message schema");
    let form = &operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(form["required"], json!(["To"]));
    let known = &spec["components"]["schemas"]["message_enum_status"]["enum"];

    let env = env().await;
    let hook = FormHook::start().await;
    let created = env.create(&cancellation(Some(&hook.url))).await;
    let message = created.body.as_object().expect("object");
    for field in message.keys() {
        assert!(
            properties.contains_key(field),
            "{field} is not in api.v2010.account.message"
        );
    }
    for (name, _) in cancellation(Some(&hook.url)) {
        assert!(
            form["properties"][name].is_object(),
            "{name} is a documented parameter"
        );
    }
    let sid = message["sid"].as_str().expect("sid");
    let received = hook.wait_for(3).await;
    for status in statuses(&received) {
        assert!(known.as_array().expect("enum").contains(&json!(status)));
    }
    env.wait_status(sid, "delivered").await;
}
