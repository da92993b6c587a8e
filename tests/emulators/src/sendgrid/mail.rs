//! `POST /v3/mail/send`: injected faults, then authentication, size, content type, JSON and the
//! schema, in SendGrid's order; every request lands in the message log.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde_json::Value;

use super::error::MailError;
use super::validate;
use super::{Fault, MAX_BODY_BYTES, RecordedMail, Shared};
use crate::support::now_rfc3339;

/// A request SendGrid took.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Accepted {
    /// 202 with this `X-Message-Id`.
    Queued(String),
    /// 200 with no body: `mail_settings.sandbox_mode.enable` validates without sending.
    Sandbox,
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        match self {
            Accepted::Sandbox => StatusCode::OK.into_response(),
            Accepted::Queued(id) => {
                let mut response = StatusCode::ACCEPTED.into_response();
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert("x-message-id", value);
                }
                response
            }
        }
    }
}

/// The Mail Send handler.
pub async fn send(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let body = to_bytes(body, MAX_BODY_BYTES).await.ok();
    let fault = shared.lock().faults.take();
    if let Some(delay) = fault.and_then(Fault::delay_before) {
        tokio::time::sleep(delay).await;
    }
    let result = match fault.and_then(|f| fault_error(&shared, f)) {
        Some(error) => Err(error),
        None => accept(&shared, &headers, body.as_deref()),
    };
    record(&shared, body.as_deref().unwrap_or_default(), &result);
    if result.is_ok()
        && let Some(delay) = fault.and_then(Fault::delay_after)
    {
        tokio::time::sleep(delay).await;
    }
    match result {
        Ok(accepted) => accepted.into_response(),
        Err(error) => error.into_response(),
    }
}

fn fault_error(shared: &Shared, fault: Fault) -> Option<MailError> {
    match fault {
        Fault::TooManyRequests { retry_after_secs } => Some(MailError::too_many_requests(
            shared.config.rate_limit,
            retry_after_secs,
        )),
        Fault::InternalError => Some(MailError::internal()),
        Fault::ServiceUnavailable => Some(MailError::unavailable()),
        Fault::Latency { .. } | Fault::StallAfterAccept { .. } => None,
    }
}

/// `body` is `None` when it could not be read within SendGrid's size limit.
fn accept(
    shared: &Shared,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Result<Accepted, MailError> {
    authenticate(shared, headers)?;
    let body = body.ok_or_else(MailError::too_large)?;
    if !is_json(headers) {
        return Err(MailError::wrong_content_type());
    }
    let Ok(Value::Object(mail)) = serde_json::from_slice::<Value>(body) else {
        return Err(MailError::bad_request());
    };
    let errors = validate::check(&mail);
    if !errors.is_empty() {
        return Err(MailError::invalid(errors));
    }
    let sandbox = mail
        .get("mail_settings")
        .and_then(|s| s.get("sandbox_mode"))
        .and_then(|s| s.get("enable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(if sandbox {
        Accepted::Sandbox
    } else {
        Accepted::Queued(message_id())
    })
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), MailError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(MailError::authorization_required());
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .ok_or_else(MailError::authorization_required)?;
    if shared
        .config
        .keys_without_mail_send
        .iter()
        .any(|k| k == key)
    {
        return Err(MailError::forbidden());
    }
    if shared.lock().api_keys.contains(key) {
        Ok(())
    } else {
        Err(MailError::invalid_key())
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// 22 URL-safe characters, the shape of SendGrid's message ids.
fn message_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 16]>())
}

fn record(shared: &Shared, body: &[u8], result: &Result<Accepted, MailError>) {
    let request = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) if body.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
    };
    let (status, message_id) = match result {
        Ok(Accepted::Queued(id)) => (StatusCode::ACCEPTED, Some(id.clone())),
        Ok(Accepted::Sandbox) => (StatusCode::OK, None),
        Err(error) => (error.status, None),
    };
    shared.lock().messages.push(RecordedMail {
        received_at: now_rfc3339(),
        status: status.as_u16(),
        request,
        message_id,
    });
}
