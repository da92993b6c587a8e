//! SendGrid Mail Send emulator: acceptance and the message log, the body rules of the spec,
//! authentication, faults, and the spec file itself.

use std::time::{Duration, Instant};

use emulators::sendgrid::{Fault, MAX_BODY_BYTES, SendGridConfig, SendGridEmulator};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::vendors::load_spec;

/// A change made to a valid body to break one rule.
type Mutation = Box<dyn Fn(&mut Value)>;

const KEY: &str = "SG.test-key.secret";
const TEMPLATE: &str = "d-0123456789abcdef0123456789abcdef";

struct Env {
    emu: SendGridEmulator,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn env() -> Env {
    let config = SendGridConfig {
        api_keys: vec![KEY.to_owned()],
        keys_without_mail_send: vec!["SG.read-only".to_owned()],
        ..SendGridConfig::default()
    };
    Env {
        emu: SendGridEmulator::start(config).await.expect("start"),
        http: reqwest::Client::new(),
    }
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn send(&self, body: &Value) -> Answer {
        let request = self
            .http
            .post(self.url("/v3/mail/send"))
            .bearer_auth(KEY)
            .json(body);
        answer(request).await
    }

    async fn log(&self) -> Value {
        let response = self.http.get(self.url("/_emulator/messages")).send().await;
        response.expect("log").json().await.expect("json")
    }

    async fn admin(&self, command: Value) {
        let request = self.http.post(self.url("/_emulator/faults")).json(&command);
        assert_eq!(request.send().await.expect("admin").status().as_u16(), 204);
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json body")
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// What the hub sends: a dynamic template, one personalization per participant.
fn templated() -> Value {
    json!({
        "from": { "email": "noreply@corbi.example", "name": "CORBI" },
        "template_id": TEMPLATE,
        "personalizations": [
            { "to": [{ "email": "ann@example.com", "name": "Ann" }],
              "dynamic_template_data": { "title": "Budget", "start": "2026-12-01 10:00 CET" } },
            { "to": [{ "email": "bob@example.com" }],
              "dynamic_template_data": { "title": "Budget", "start": "2026-12-01 10:00 CET" } }
        ]
    })
}

fn plain() -> Value {
    json!({
        "from": { "email": "noreply@corbi.example" },
        "subject": "Meeting cancelled",
        "content": [
            { "type": "text/plain", "value": "Budget is cancelled." },
            { "type": "text/html", "value": "<p>Budget is cancelled.</p>" }
        ],
        "personalizations": [{ "to": [{ "email": "ann@example.com" }] }]
    })
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("null").to_owned())
        .collect()
}

#[tokio::test]
async fn accepted_mail_answers_202_with_a_message_id_and_is_listed() {
    let env = env().await;
    let first = env.send(&templated()).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.body, Value::Null, "202 has an empty body");
    let id = first.headers["x-message-id"].to_str().expect("ascii");
    assert_eq!(id.len(), 22);
    let second = env.send(&plain()).await;
    assert_ne!(
        second.headers["x-message-id"],
        first.headers["x-message-id"]
    );

    let log = env.log().await;
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let item = items[0].as_object().expect("object");
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["received_at", "request", "status"]);
    assert_eq!(item["status"], 202);
    assert_eq!(item["request"], templated());
    chrono::DateTime::parse_from_rfc3339(item["received_at"].as_str().expect("str"))
        .expect("received_at is RFC 3339");
    let recorded = env.emu.messages();
    assert_eq!(recorded[0].message_id.as_deref(), Some(id));
    assert_eq!(env.emu.accepted().len(), 2);
}

#[tokio::test]
async fn sandbox_mode_validates_without_sending() {
    let env = env().await;
    let mut body = plain();
    body["mail_settings"] = json!({ "sandbox_mode": { "enable": true } });
    let answer = env.send(&body).await;
    assert_eq!(answer.status, 200);
    assert!(answer.headers.get("x-message-id").is_none());
    assert_eq!(env.emu.messages()[0].status, 200);
}

#[tokio::test]
async fn each_rule_of_the_spec_names_its_field() {
    let env = env().await;
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "email": format!("p{i}@example.com") }))
        .collect();
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "personalizations",
            Box::new(|b| {
                b.as_object_mut().expect("obj").remove("personalizations");
            }),
        ),
        (
            "personalizations",
            Box::new(|b| b["personalizations"] = json!([])),
        ),
        (
            "personalizations.0.to",
            Box::new(|b| b["personalizations"][0]["to"] = json!([])),
        ),
        (
            "personalizations.0.to.0.email",
            Box::new(|b| b["personalizations"][0]["to"][0]["email"] = json!("ann.example.com")),
        ),
        (
            "personalizations.1.cc.0.email",
            Box::new(|b| b["personalizations"][1]["cc"] = json!([{ "name": "no address" }])),
        ),
        (
            "personalizations.0",
            Box::new(|b| b["personalizations"][0]["bcc"] = json!([{ "email": "ANN@example.com" }])),
        ),
        (
            "personalizations",
            Box::new(move |b| b["personalizations"][0]["to"] = Value::Array(many.clone())),
        ),
        (
            "personalizations.0.dynamic_template_data",
            Box::new(|b| b["personalizations"][0]["dynamic_template_data"] = json!("title")),
        ),
        (
            "from",
            Box::new(|b| {
                b.as_object_mut().expect("obj").remove("from");
            }),
        ),
        (
            "from.email",
            Box::new(|b| b["from"]["email"] = json!("noreply@")),
        ),
        (
            "template_id",
            Box::new(|b| b["template_id"] = json!("d-123")),
        ),
        (
            "template_id",
            Box::new(|b| b["template_id"] = json!("welcome")),
        ),
        (
            "subject",
            Box::new(|b| {
                b.as_object_mut().expect("obj").remove("template_id");
                b["content"] = json!([{ "type": "text/plain", "value": "x" }]);
            }),
        ),
        (
            "content",
            Box::new(|b| {
                b.as_object_mut().expect("obj").remove("template_id");
                b["subject"] = json!("Hi");
            }),
        ),
        (
            "content.0.value",
            Box::new(|b| b["content"] = json!([{ "type": "text/plain", "value": "" }])),
        ),
        (
            "content.1.type",
            Box::new(
                |b| b["content"] = json!([{ "type": "text/html", "value": "<p/>" }, { "type": "text/plain", "value": "x" }]),
            ),
        ),
        (
            "send_at",
            Box::new(|b| b["send_at"] = json!(chrono::Utc::now().timestamp() + 100 * 3600)),
        ),
        (
            "categories",
            Box::new(|b| b["categories"] = json!(vec!["c"; 11])),
        ),
        (
            "reply_to.email",
            Box::new(|b| b["reply_to"] = json!({ "email": "nobody" })),
        ),
        (
            "attachments.0.filename",
            Box::new(|b| b["attachments"] = json!([{ "content": "aGk=" }])),
        ),
    ];
    for (field, mutate) in &cases {
        let mut body = templated();
        mutate(&mut body);
        let answer = env.send(&body).await;
        assert_eq!(answer.status, 400, "{field}: {}", answer.body);
        assert_eq!(fields(&answer.body), [*field], "{}", answer.body);
        let error = &answer.body["errors"][0];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            error["help"]
                .as_str()
                .is_some_and(|h| h.starts_with("http"))
        );
    }
    let log = env.emu.messages();
    assert_eq!(log.len(), cases.len());
    assert!(
        log.iter()
            .all(|m| m.status == 400 && m.message_id.is_none())
    );
}

#[tokio::test]
async fn every_problem_is_reported_at_once() {
    let env = env().await;
    let body = json!({
        "from": { "email": "bad" },
        "personalizations": [{ "to": [{ "email": "ann@example.com" }, { "email": "x" }] }]
    });
    let answer = env.send(&body).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        fields(&answer.body),
        [
            "from.email",
            "personalizations.0.to.1.email",
            "subject",
            "content"
        ]
    );
}

#[tokio::test]
async fn malformed_requests_are_refused_and_recorded() {
    let env = env().await;
    let url = env.url("/v3/mail/send");
    let not_json = env
        .http
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{nope");
    let broken = answer(not_json).await;
    assert_eq!(broken.status, 400);
    assert_eq!(
        broken.body,
        json!({ "errors": [{ "message": "Bad Request", "field": null, "help": null }] })
    );
    let form = env
        .http
        .post(&url)
        .bearer_auth(KEY)
        .form(&[("subject", "hi")]);
    let wrong_type = answer(form).await;
    assert_eq!(wrong_type.status, 400);
    assert_eq!(
        wrong_type.body["errors"][0]["message"],
        "Content-Type should be application/json."
    );
    let log = env.log().await;
    assert_eq!(log["items"][0]["request"], "{nope");
    assert_eq!(log["items"][1]["request"], "subject=hi");
}

#[tokio::test]
async fn a_body_over_30_mb_is_refused_with_413() {
    let env = env().await;
    let mut body = plain();
    body["content"][0]["value"] = json!("x".repeat(MAX_BODY_BYTES));
    let refused = env.send(&body).await;
    assert_eq!(refused.status, 413);
    assert_eq!(refused.body["errors"][0]["message"], "content too large");
    assert_eq!(env.emu.messages()[0].request, Value::Null);
}

#[tokio::test]
async fn api_keys_are_checked() {
    let env = env().await;
    let url = env.url("/v3/mail/send");
    let missing = answer(env.http.post(&url).json(&plain())).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        json!({ "errors": [{ "message": "authorization required", "field": null, "help": null }] })
    );
    let unknown = answer(env.http.post(&url).bearer_auth("SG.other").json(&plain())).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body["errors"][0]["field"], Value::Null);
    let read_only = answer(
        env.http
            .post(&url)
            .bearer_auth("SG.read-only")
            .json(&plain()),
    )
    .await;
    assert_eq!(
        (read_only.status, &read_only.body["errors"][0]["message"]),
        (403, &json!("access forbidden"))
    );
    env.emu.add_api_key("SG.other");
    let added = answer(env.http.post(&url).bearer_auth("SG.other").json(&plain())).await;
    assert_eq!(added.status, 202);
    let statuses: Vec<u16> = env.emu.messages().iter().map(|m| m.status).collect();
    assert_eq!(statuses, [401, 401, 403, 202]);
}

#[tokio::test]
async fn injected_faults_answer_as_sendgrid_then_run_out() {
    let env = env().await;
    env.emu.inject(
        Fault::TooManyRequests {
            retry_after_secs: 30,
        },
        1,
    );
    env.admin(json!({ "action": "inject", "count": 2, "fault": { "kind": "internalError" } }))
        .await;
    env.admin(json!({ "action": "inject", "fault": { "kind": "serviceUnavailable" } }))
        .await;

    let limited = env.send(&plain()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["errors"][0]["message"], "too many requests");
    assert_eq!(limited.headers["x-ratelimit-limit"], "600");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    let reset: i64 = limited.headers["x-ratelimit-reset"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("unix time");
    assert!(reset >= chrono::Utc::now().timestamp() + 25);
    assert_eq!(env.send(&plain()).await.status, 500);
    assert_eq!(env.send(&plain()).await.status, 500);
    assert_eq!(env.send(&plain()).await.status, 503);
    assert_eq!(env.send(&plain()).await.status, 202);
    let statuses: Vec<u16> = env.emu.messages().iter().map(|m| m.status).collect();
    assert_eq!(statuses, [429, 500, 500, 503, 202]);
}

#[tokio::test]
async fn clear_drops_queued_faults_and_delete_empties_the_log() {
    let env = env().await;
    env.emu.inject(Fault::InternalError, 5);
    env.admin(json!({ "action": "clear" })).await;
    assert_eq!(env.send(&plain()).await.status, 202);
    let deleted = env
        .http
        .delete(env.url("/_emulator/messages"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 204);
    assert_eq!(env.log().await, json!({ "items": [] }));
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let env = env().await;
    env.emu.inject(Fault::Latency { millis: 200 }, 1);
    let started = Instant::now();
    assert_eq!(env.send(&plain()).await.status, 202);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_stalled_answer_still_sends_the_mail() {
    let env = env().await;
    env.emu.inject(Fault::StallAfterAccept { millis: 2_000 }, 1);
    let impatient = env
        .http
        .post(env.url("/v3/mail/send"))
        .bearer_auth(KEY)
        .json(&plain())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(impatient.expect_err("client times out").is_timeout());
    let accepted = env.emu.accepted();
    assert_eq!(
        accepted.len(),
        1,
        "the vendor took it although the client gave up"
    );
    assert!(accepted[0].message_id.is_some());
}

#[tokio::test]
async fn the_spec_has_the_mail_send_operation_and_its_answers() {
    let Some(spec) = load_spec("sendgrid-v3-mail.json") else {
        return;
    };
    let operation = &spec["paths"]["/v3/mail/send"]["post"];
    assert!(operation.is_object(), "POST /v3/mail/send is in the spec");
    for status in ["202", "400", "401", "403", "413", "500"] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerAuth"]["scheme"],
        "bearer"
    );
    let schema = &spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]
        ["schema"];
    assert_eq!(schema["required"], json!(["personalizations", "from"]));
    assert_eq!(schema["properties"]["personalizations"]["maxItems"], 1000);
    assert_eq!(
        schema["properties"]["personalizations"]["items"]["required"],
        json!(["to"])
    );
    let error_item = &spec["components"]["schemas"]["ErrorResponse"]["properties"]["errors"]["items"]
        ["properties"];
    for field in ["message", "field", "help"] {
        assert!(error_item[field].is_object(), "{field} in ErrorResponse");
    }
    let env = env().await;
    assert_eq!(
        env.send(&templated()).await.status,
        202,
        "the hub's request shape is valid"
    );
}
