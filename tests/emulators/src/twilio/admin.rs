//! The emulator's own endpoints: `GET|DELETE /_emulator/messages` (the log of docs/API.md, "The demo"),
//! `GET /_emulator/callbacks` and `POST /_emulator/faults`, and the callback faults.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Fault, Shared};
use crate::support::one;

/// How a message's delivery goes, or how its status callbacks misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CallbackFault {
    /// queued → failed, with `ErrorCode` (default 30008, "unknown error").
    Failed {
        /// Twilio error code sent as `ErrorCode`.
        #[serde(rename = "errorCode", default = "unknown_error")]
        error_code: u32,
    },
    /// queued → sent → undelivered, with `ErrorCode` (default 30003, "unreachable handset").
    Undelivered {
        /// Twilio error code sent as `ErrorCode`.
        #[serde(rename = "errorCode", default = "unreachable")]
        error_code: u32,
    },
    /// queued → sent → delivered → read (a WhatsApp read receipt).
    Read,
    /// Every callback of the message is POSTed twice (same idempotency token).
    Duplicate,
    /// No callback is POSTed (each is recorded as `dropped`).
    Drop,
}

fn unknown_error() -> u32 {
    30008
}

fn unreachable() -> u32 {
    30003
}

/// A command of `POST /_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum AdminCommand {
    /// Queue an API fault for the next `count` requests:
    /// `{"action":"inject","count":2,"fault":{"kind":"tooManyRequests"}}`.
    Inject {
        /// Number of requests (default 1).
        #[serde(default = "one")]
        count: u32,
        /// The fault.
        fault: Fault,
    },
    /// Queue a callback fault for the next `count` messages with a `StatusCallback`:
    /// `{"action":"callback","fault":{"kind":"undelivered","errorCode":30003}}`.
    Callback {
        /// Number of messages (default 1).
        #[serde(default = "one")]
        count: u32,
        /// The fault.
        fault: CallbackFault,
    },
    /// Drop every queued fault: `{"action":"clear"}`.
    Clear,
}

/// Routes under `/_emulator`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/messages", get(messages).delete(clear_messages))
        .route("/_emulator/callbacks", get(callbacks))
        .route("/_emulator/faults", post(faults))
}

async fn messages(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "items": shared.lock().messages }))
}

async fn clear_messages(State(shared): State<Arc<Shared>>) -> StatusCode {
    let mut state = shared.lock();
    state.messages.clear();
    state.callbacks.clear();
    StatusCode::NO_CONTENT
}

async fn callbacks(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "items": shared.lock().callbacks }))
}

async fn faults(
    State(shared): State<Arc<Shared>>,
    Json(command): Json<AdminCommand>,
) -> StatusCode {
    apply(&shared, command);
    StatusCode::NO_CONTENT
}

/// Runs one admin command against the state.
pub fn apply(shared: &Shared, command: AdminCommand) {
    let mut state = shared.lock();
    match command {
        AdminCommand::Inject { count, fault } => state.faults.push(fault, count),
        AdminCommand::Callback { count, fault } => state.callback_faults.push(fault, count),
        AdminCommand::Clear => {
            state.faults.clear();
            state.callback_faults.clear();
        }
    }
}
