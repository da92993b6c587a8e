//! Twilio Programmable Messaging emulator (API 2010-04-01): `POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth and form-encoded
//! parameters, checked against Twilio's OpenAPI spec and documented error codes, answered with the
//! Message resource (201) or Twilio's error JSON, every request recorded, faults injectable, and
//! signed status callbacks (`X-Twilio-Signature`) POSTed in the background.
//!
//! Layout: `mod.rs` (config, the embeddable [`TwilioEmulator`] handle, the router), `messages`
//! (the endpoints and their checks), `phone` (address formats and segments), `callbacks`
//! (the signature and the delivery worker), `error` (Twilio's error bodies), `admin` (the
//! `/_emulator/*` endpoints and their commands).

mod admin;
mod callbacks;
mod error;
mod messages;
mod phone;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use crate::support::Fault;
pub use admin::{AdminCommand, CallbackFault};
pub use callbacks::{CallbackRecord, signature};
pub use error::TwilioError;
pub use phone::is_e164;

use crate::support::{CountedQueue, Tasks, lock, spawn_server};
use callbacks::Outgoing;

/// The API version in paths, resources and callbacks.
pub const API_VERSION: &str = "2010-04-01";

/// Emulator settings.
#[derive(Debug, Clone, Default)]
pub struct TwilioConfig {
    /// Accounts: AccountSid (`AC` + 32 hex) → auth token; the Basic credentials the API accepts
    /// and the key that signs status callbacks.
    pub accounts: HashMap<String, String>,
    /// Accept `http://` status-callback URLs on loopback hosts (tests, `hub demo`); otherwise only
    /// HTTPS is accepted.
    pub allow_http_callbacks_on_loopback: bool,
    /// Pause between two status callbacks of one message (none by default).
    pub callback_interval: Duration,
}

impl TwilioConfig {
    /// The same config with one more account.
    pub fn with_account(mut self, account_sid: &str, auth_token: &str) -> Self {
        self.accounts
            .insert(account_sid.to_owned(), auth_token.to_owned());
        self
    }
}

/// One request to the Messages endpoint, as `GET /_emulator/messages` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedMessage {
    /// When it arrived, RFC 3339 UTC.
    pub received_at: String,
    /// The status answered (201 created, 4xx/5xx refused).
    pub status: u16,
    /// The new Message's SID (`SM…`), for created messages.
    pub sid: Option<String>,
    /// The form fields received; a repeated field (`MediaUrl`) becomes an array.
    pub params: Map<String, Value>,
    /// The AccountSid of the path; not part of the inspection JSON.
    #[serde(skip)]
    pub account_sid: String,
}

/// Mutable state behind the handles.
#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, String>,
    messages: Vec<RecordedMessage>,
    resources: HashMap<String, Value>,
    callbacks: Vec<CallbackRecord>,
    faults: CountedQueue<Fault>,
    callback_faults: CountedQueue<CallbackFault>,
}

/// State shared by the handlers, the callback worker and the [`TwilioEmulator`] handles.
#[derive(Debug)]
struct Shared {
    config: TwilioConfig,
    state: Mutex<State>,
    jobs: mpsc::UnboundedSender<Outgoing>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// A running Twilio emulator; clones share the same state and server, which stops (with the
/// callback worker) when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct TwilioEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _tasks: Arc<Tasks>,
}

impl TwilioEmulator {
    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn start(config: TwilioConfig) -> std::io::Result<TwilioEmulator> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, config).await
    }

    /// Serves on an already bound listener (the binary and `hub demo` bind a fixed address).
    pub async fn start_on(
        listener: TcpListener,
        config: TwilioConfig,
    ) -> std::io::Result<TwilioEmulator> {
        let addr = listener.local_addr()?;
        let (jobs, job_rx) = mpsc::unbounded_channel();
        let state = State {
            accounts: config.accounts.clone(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(state),
            jobs,
        });
        let worker = tokio::spawn(callbacks::run_worker(Arc::clone(&shared), job_rx));
        let server = spawn_server(listener, router(Arc::clone(&shared)), "twilio");
        Ok(TwilioEmulator {
            shared,
            addr,
            _tasks: Arc::new(Tasks(vec![worker, server])),
        })
    }

    /// Root URL, e.g. `http://127.0.0.1:PORT`; messages are created at
    /// `{base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds (or re-keys) an account while running.
    pub fn add_account(&self, account_sid: &str, auth_token: &str) {
        self.shared
            .lock()
            .accounts
            .insert(account_sid.to_owned(), auth_token.to_owned());
    }

    /// Every Messages request received so far, oldest first, created or not.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.shared.lock().messages.clone()
    }

    /// The created ones (201) only.
    pub fn created(&self) -> Vec<RecordedMessage> {
        let messages = self.messages();
        messages.into_iter().filter(|m| m.status == 201).collect()
    }

    /// The current Message resource of `sid` (its status follows the callbacks sent).
    pub fn message(&self, sid: &str) -> Option<Value> {
        self.shared.lock().resources.get(sid).cloned()
    }

    /// Every status callback attempted so far, oldest first.
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.shared.lock().callbacks.clone()
    }

    /// Empties the message and callback logs.
    pub fn clear_messages(&self) {
        let mut state = self.shared.lock();
        state.messages.clear();
        state.callbacks.clear();
    }

    /// Queues `fault` for the next `count` Messages API requests.
    pub fn inject(&self, fault: Fault, count: u32) {
        self.apply(AdminCommand::Inject { count, fault });
    }

    /// Queues a delivery outcome or callback misbehaviour for the next `count` created messages
    /// that have a `StatusCallback`.
    pub fn inject_callback(&self, fault: CallbackFault, count: u32) {
        self.apply(AdminCommand::Callback { count, fault });
    }

    /// Runs an admin command (the same ones `POST /_emulator/faults` accepts).
    pub fn apply(&self, command: AdminCommand) {
        admin::apply(&self.shared, command);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages.json",
            post(messages::create),
        )
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages/{message}",
            get(messages::fetch),
        )
        .merge(admin::routes())
        .with_state(shared)
}
