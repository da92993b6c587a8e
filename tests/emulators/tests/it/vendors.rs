//! Helpers for the SendGrid and Twilio tests: the vendors' spec files, a form-posting webhook
//! receiver, and condition polling.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;

/// The vendor spec `name` from `../shared/specs`, or `None` (with a note) when it is absent and
/// `CORBI_REQUIRE_SPECS` is not set.
pub fn load_spec(name: &str) -> Option<Value> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "..",
        "shared",
        "specs",
        name,
    ]
    .iter()
    .collect();
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("spec is JSON")),
        Err(error) if std::env::var_os("CORBI_REQUIRE_SPECS").is_some() => {
            panic!("spec {} unreadable: {error}", path.display())
        }
        Err(error) => {
            eprintln!(
                "note: skipping, spec {} unreadable: {error}",
                path.display()
            );
            None
        }
    }
}

/// One POST a [`FormHook`] received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub params: Vec<(String, String)>,
}

impl Received {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A webhook receiver recording every form POST.
#[derive(Clone)]
pub struct FormHook {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FormHook {
    pub async fn start() -> FormHook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hook");
        let url = format!(
            "http://{}/twilio/status?tenant=t1",
            listener.local_addr().expect("addr")
        );
        let hook = FormHook {
            url,
            received: Arc::default(),
        };
        let received = Arc::clone(&hook.received);
        let app = axum::Router::new().route(
            "/twilio/status",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let received = Arc::clone(&received);
                async move {
                    let params = url::form_urlencoded::parse(&body).into_owned().collect();
                    received
                        .lock()
                        .expect("lock")
                        .push(Received { headers, params });
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve hook") });
        hook
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until at least `n` POSTs arrived (deadline 5 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
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
