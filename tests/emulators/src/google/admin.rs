//! The emulator's own endpoints (`/_emulator/*`), for tests and people running the binary: the
//! request log of docs/API.md ("The demo"), the push log, and fault injection (ID token faults
//! included).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::Shared;
use super::faults::{AdminCommand, FaultRule};
use super::oauth::revoke_grant;

/// Routes under `/_emulator`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/pushes", get(pushes))
        .route("/_emulator/faults", post(faults))
}

async fn requests(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "items": shared.lock().requests }))
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.lock().requests.clear();
    StatusCode::NO_CONTENT
}

async fn pushes(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "items": shared.lock().pushes }))
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
    let mut store = shared.lock();
    match command {
        AdminCommand::Inject { op, count, fault } => {
            store.faults.push_api(FaultRule { op, fault, count })
        }
        AdminCommand::Push { count, fault } => store.faults.push_push(fault, count),
        AdminCommand::IdToken { count, fault } => store.faults.push_id_token(fault, count),
        AdminCommand::ExpireAccessTokens { email } => {
            let now = chrono::Utc::now();
            store
                .access_tokens
                .values_mut()
                .filter(|t| t.email == email)
                .for_each(|t| t.expires_at = now);
        }
        AdminCommand::RevokeRefreshTokens { email } => {
            let grants: Vec<String> = store
                .refresh_tokens
                .iter()
                .filter(|(_, g)| g.email == email)
                .map(|(t, _)| t.clone())
                .collect();
            grants
                .iter()
                .for_each(|grant| revoke_grant(&mut store, grant));
        }
        AdminCommand::InvalidateSyncTokens { calendar_id } => {
            if let Some(calendar) = store.calendars.get_mut(&calendar_id) {
                calendar.epoch += 1;
            }
        }
        AdminCommand::Clear => store.faults.clear(),
    }
}
