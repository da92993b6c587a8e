//! Helpers: a running emulator with two accounts, a JSON HTTP caller, and a webhook receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use emulators::google::{GoogleConfig, GoogleEmulator, SCOPE_PREFIX};
use serde_json::Value;

pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";

pub fn scope(short: &str) -> String {
    format!("{SCOPE_PREFIX}{short}")
}

pub struct Env {
    pub emu: GoogleEmulator,
    pub http: reqwest::Client,
    pub alice: String,
    pub bob: String,
}

pub async fn env() -> Env {
    env_with(GoogleConfig {
        allow_http_loopback: true,
        ..GoogleConfig::default()
    })
    .await
}

pub async fn env_with(config: GoogleConfig) -> Env {
    let emu = GoogleEmulator::start(config).await.expect("start emulator");
    emu.add_account(ALICE);
    emu.add_account(BOB);
    let full = scope("calendar");
    let alice = emu.issue_access_token(ALICE, &[&full]);
    let bob = emu.issue_access_token(BOB, &[&full]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Env {
        emu,
        http,
        alice,
        bob,
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
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

    pub async fn insert(&self, calendar: &str, body: Value) -> Value {
        let answer = self
            .call(
                "POST",
                &format!("/calendar/v3/calendars/{calendar}/events"),
                &self.alice,
                Some(body),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }
}

pub fn timed(summary: &str, start: &str, end: &str) -> Value {
    serde_json::json!({ "summary": summary, "start": { "dateTime": start }, "end": { "dateTime": end } })
}

pub fn reason(body: &Value) -> &str {
    body["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
}

/// A webhook receiver recording every POST it gets.
#[derive(Clone)]
pub struct Hook {
    pub url: String,
    received: Arc<Mutex<Vec<HeaderMap>>>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

impl Hook {
    pub async fn start() -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hook");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let hook = Hook {
            url,
            received: Arc::default(),
            statuses: Arc::default(),
        };
        let state = hook.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    assert!(body.is_empty(), "push notifications carry no body");
                    state.received.lock().expect("lock").push(headers);
                    let scripted = {
                        let mut statuses = state.statuses.lock().expect("lock");
                        if statuses.is_empty() {
                            200
                        } else {
                            statuses.remove(0)
                        }
                    };
                    axum::http::StatusCode::from_u16(scripted).expect("status")
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve hook") });
        hook
    }

    /// The next answers the hook gives (then 200).
    pub fn answer_with(&self, statuses: &[u16]) {
        self.statuses
            .lock()
            .expect("lock")
            .extend_from_slice(statuses);
    }

    pub fn received(&self) -> Vec<HeaderMap> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until at least `n` notifications arrived (deadline 5 s).
    pub async fn wait_for(&self, n: usize) -> Vec<HeaderMap> {
        wait_until(|| self.received().len() >= n).await;
        self.received()
    }
}

/// Polls `condition` until it holds; panics after 5 s.
pub async fn wait_until(condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition not met within 5 s");
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
