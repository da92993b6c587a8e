//! The emulator's own endpoints: `GET|DELETE /_emulator/messages` (the log of docs/API.md, "The demo") and
//! `POST /_emulator/faults`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Fault, Shared};
use crate::support::one;

/// A command of `POST /_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum AdminCommand {
    /// Queue a fault for the next `count` requests:
    /// `{"action":"inject","count":2,"fault":{"kind":"serviceUnavailable"}}`.
    Inject {
        /// Number of requests (default 1).
        #[serde(default = "one")]
        count: u32,
        /// The fault.
        fault: Fault,
    },
    /// Drop every queued fault: `{"action":"clear"}`.
    Clear,
}

/// Routes under `/_emulator`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/messages", get(messages).delete(clear_messages))
        .route("/_emulator/faults", post(faults))
}

async fn messages(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "items": shared.lock().messages }))
}

async fn clear_messages(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().messages.clear();
    StatusCode::NO_CONTENT
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
        AdminCommand::Clear => state.faults.clear(),
    }
}
