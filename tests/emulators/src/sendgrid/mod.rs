//! SendGrid v3 Mail Send emulator: `POST /v3/mail/send` with bearer API keys, the request checked
//! against SendGrid's OpenAPI spec, answered as SendGrid does (202 + `X-Message-Id`, or its
//! `{"errors":[…]}` bodies), every request recorded, faults injectable.
//!
//! Layout: `mod.rs` (config, the embeddable [`SendGridEmulator`] handle, the router), `mail` (the
//! endpoint), `validate` (the body rules), `error` (SendGrid's error bodies), `admin` (the
//! `/_emulator/*` endpoints and their commands).

mod admin;
mod error;
mod mail;
mod validate;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;

pub use crate::support::Fault;
pub use admin::AdminCommand;
pub use error::{ErrorItem, MailError};
pub use validate::valid_email;

use crate::support::{CountedQueue, Tasks, lock, spawn_server};

/// SendGrid's limit on a whole Mail Send request.
pub const MAX_BODY_BYTES: usize = 30 * 1024 * 1024;

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct SendGridConfig {
    /// API keys accepted as `Authorization: Bearer <key>`; any other key answers 401. More can be
    /// added while running with [`SendGridEmulator::add_api_key`].
    pub api_keys: Vec<String>,
    /// Keys that authenticate but lack the `mail.send` scope: SendGrid answers them 403.
    pub keys_without_mail_send: Vec<String>,
    /// `X-RateLimit-Limit` sent with injected 429s.
    pub rate_limit: u32,
}

impl Default for SendGridConfig {
    fn default() -> Self {
        SendGridConfig {
            api_keys: Vec::new(),
            keys_without_mail_send: Vec::new(),
            rate_limit: 600,
        }
    }
}

/// One request to `POST /v3/mail/send`, as `GET /_emulator/messages` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedMail {
    /// When it arrived, RFC 3339 UTC.
    pub received_at: String,
    /// The status answered (202 accepted, 200 sandbox, 4xx/5xx refused).
    pub status: u16,
    /// The JSON body received (a JSON string holding the raw text when it was not JSON; `null`
    /// when empty or over the size limit).
    pub request: Value,
    /// The `X-Message-Id` answered, for accepted mail; not part of the inspection JSON.
    #[serde(skip)]
    pub message_id: Option<String>,
}

/// Mutable state behind the handles.
#[derive(Debug, Default)]
struct State {
    api_keys: HashSet<String>,
    messages: Vec<RecordedMail>,
    faults: CountedQueue<Fault>,
}

/// State shared by the handlers and the [`SendGridEmulator`] handles.
#[derive(Debug)]
struct Shared {
    config: SendGridConfig,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// A running SendGrid emulator; clones share the same state and server, which stops when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct SendGridEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _tasks: Arc<Tasks>,
}

impl SendGridEmulator {
    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn start(config: SendGridConfig) -> std::io::Result<SendGridEmulator> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, config).await
    }

    /// Serves on an already bound listener (the binary and `hub demo` bind a fixed address).
    pub async fn start_on(
        listener: TcpListener,
        config: SendGridConfig,
    ) -> std::io::Result<SendGridEmulator> {
        let addr = listener.local_addr()?;
        let state = State {
            api_keys: config.api_keys.iter().cloned().collect(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
        });
        let server = spawn_server(listener, router(Arc::clone(&shared)), "sendgrid");
        Ok(SendGridEmulator {
            shared,
            addr,
            _tasks: Arc::new(Tasks(vec![server])),
        })
    }

    /// Root URL, e.g. `http://127.0.0.1:PORT`; Mail Send is `{base_url}/v3/mail/send`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts one more API key (e.g. a tenant's key created during a test).
    pub fn add_api_key(&self, key: &str) {
        self.shared.lock().api_keys.insert(key.to_owned());
    }

    /// Every Mail Send request received so far, oldest first, accepted or not.
    pub fn messages(&self) -> Vec<RecordedMail> {
        self.shared.lock().messages.clone()
    }

    /// The accepted ones (202, or 200 in sandbox mode) only.
    pub fn accepted(&self) -> Vec<RecordedMail> {
        let messages = self.messages();
        messages.into_iter().filter(|m| m.status < 300).collect()
    }

    /// Empties the message log.
    pub fn clear_messages(&self) {
        self.shared.lock().messages.clear();
    }

    /// Queues `fault` for the next `count` Mail Send requests.
    pub fn inject(&self, fault: Fault, count: u32) {
        self.apply(AdminCommand::Inject { count, fault });
    }

    /// Runs an admin command (the same ones `POST /_emulator/faults` accepts).
    pub fn apply(&self, command: AdminCommand) {
        admin::apply(&self.shared, command);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v3/mail/send", post(mail::send))
        .merge(admin::routes())
        .with_state(shared)
}
