//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (create) and
//! `GET …/Messages/{Sid}.json` (fetch): injected faults, Basic auth, then the parameters in
//! Twilio's order of checks; every create request lands in the message log.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::callbacks::{self, Outgoing};
use super::error::TwilioError;
use super::phone::{channel, num_segments, valid_from, valid_to};
use super::{API_VERSION, Fault, RecordedMessage, Shared};
use crate::support::{callback_allowed, is_prefixed_hex32, now_rfc3339, random_hex};

/// Longest body Twilio takes.
const MAX_BODY_CHARS: usize = 1600;

/// The form fields of a request, in order, repeated names kept.
type Params = Vec<(String, String)>;

/// A create request that passed every check.
#[derive(Debug)]
struct Checked<'a> {
    to: &'a str,
    from: Option<&'a str>,
    messaging_service_sid: Option<&'a str>,
    body: &'a str,
    media: usize,
    status_callback: Option<&'a str>,
}

/// The create handler.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form_params(&headers, &body);
    let fault = shared.lock().faults.take();
    if let Some(delay) = fault.and_then(Fault::delay_before) {
        tokio::time::sleep(delay).await;
    }
    let result = match fault.and_then(fault_error) {
        Some(error) => Err(error),
        None => accept(&shared, &account_sid, &headers, &params),
    };
    record(&shared, &account_sid, &params, &result);
    if result.is_ok()
        && let Some(delay) = fault.and_then(Fault::delay_after)
    {
        tokio::time::sleep(delay).await;
    }
    match result {
        Ok(resource) => (StatusCode::CREATED, Json(resource)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The fetch handler: the Message resource as it is now.
pub async fn fetch(
    State(shared): State<Arc<Shared>>,
    Path((account_sid, message)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, TwilioError> {
    authenticate(&shared, &account_sid, &headers)?;
    let sid = message.strip_suffix(".json").unwrap_or_default();
    shared
        .lock()
        .resources
        .get(sid)
        .filter(|r| r["account_sid"] == account_sid.as_str())
        .cloned()
        .map(Json)
        .ok_or_else(|| {
            TwilioError::not_found(&format!(
                "/{API_VERSION}/Accounts/{account_sid}/Messages/{message}"
            ))
        })
}

fn fault_error(fault: Fault) -> Option<TwilioError> {
    match fault {
        Fault::TooManyRequests { .. } => Some(TwilioError::too_many_requests()),
        Fault::InternalError => Some(TwilioError::internal()),
        Fault::ServiceUnavailable => Some(TwilioError::unavailable()),
        Fault::Latency { .. } | Fault::StallAfterAccept { .. } => None,
    }
}

/// Twilio reads only form-encoded bodies; anything else carries no parameters.
fn form_params(headers: &HeaderMap, body: &[u8]) -> Params {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Vec::new();
    }
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

fn authenticate(
    shared: &Shared,
    account_sid: &str,
    headers: &HeaderMap,
) -> Result<String, TwilioError> {
    let (user, password) = basic_credentials(headers).ok_or_else(TwilioError::authenticate)?;
    shared
        .lock()
        .accounts
        .get(&user)
        .filter(|token| **token == password && user == account_sid)
        .cloned()
        .ok_or_else(TwilioError::authenticate)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn accept(
    shared: &Shared,
    account_sid: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Value, TwilioError> {
    let auth_token = authenticate(shared, account_sid, headers)?;
    let checked = check(shared, params)?;
    let sid = format!("SM{}", random_hex(32));
    let resource = resource(account_sid, &sid, &checked);
    let mut state = shared.lock();
    state.resources.insert(sid.clone(), resource.clone());
    if let Some(url) = checked.status_callback {
        let fault = state.callback_faults.take();
        let outgoing = Outgoing {
            url: url.to_owned(),
            auth_token,
            account_sid: account_sid.to_owned(),
            sid,
            from: checked.from.map(str::to_owned),
            to: checked.to.to_owned(),
            messaging_service_sid: checked.messaging_service_sid.map(str::to_owned),
            fault,
        };
        callbacks::schedule(shared, outgoing);
    }
    Ok(resource)
}

fn check<'a>(shared: &Shared, params: &'a Params) -> Result<Checked<'a>, TwilioError> {
    let to = param(params, "To").ok_or_else(TwilioError::to_required)?;
    if !valid_to(to) {
        return Err(TwilioError::invalid_to(to));
    }
    let (from, messaging_service_sid) = check_sender(params, to)?;
    let media = check_media(params)?;
    let body = param(params, "Body").unwrap_or_default();
    if body.is_empty() && media == 0 && param(params, "ContentSid").is_none() {
        return Err(TwilioError::body_required());
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(TwilioError::body_too_long());
    }
    if param(params, "ContentSid").is_some_and(|sid| !is_prefixed_hex32(sid, "HX")) {
        return Err(TwilioError::invalid_content_sid());
    }
    let status_callback = param(params, "StatusCallback");
    let allow_http = shared.config.allow_http_callbacks_on_loopback;
    if status_callback.is_some_and(|url| !callback_allowed(url, allow_http)) {
        return Err(TwilioError::invalid_status_callback());
    }
    Ok(Checked {
        to,
        from,
        messaging_service_sid,
        body,
        media,
        status_callback,
    })
}

type Sender<'a> = (Option<&'a str>, Option<&'a str>);

fn check_sender<'a>(params: &'a Params, to: &str) -> Result<Sender<'a>, TwilioError> {
    let from = param(params, "From");
    let service = param(params, "MessagingServiceSid");
    if let Some(sid) = service.filter(|sid| !is_prefixed_hex32(sid, "MG")) {
        return Err(TwilioError::invalid_messaging_service(sid));
    }
    let Some(from) = from else {
        return match service {
            Some(_) => Ok((None, service)),
            None => Err(TwilioError::from_required()),
        };
    };
    if !valid_from(from) {
        return Err(TwilioError::invalid_from(from));
    }
    if channel(from) != channel(to) {
        return Err(TwilioError::channel_mismatch());
    }
    if from == to {
        return Err(TwilioError::same_to_and_from());
    }
    Ok((Some(from), service))
}

fn check_media(params: &Params) -> Result<usize, TwilioError> {
    let urls: Vec<&str> = params
        .iter()
        .filter(|(key, _)| key == "MediaUrl")
        .map(|(_, url)| url.as_str())
        .collect();
    let valid =
        |url: &&str| url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if urls.len() > 10 || !urls.iter().all(valid) {
        return Err(TwilioError::invalid_media_url());
    }
    Ok(urls.len())
}

/// The Message resource of the spec's `api.v2010.account.message` schema, as just created.
fn resource(account_sid: &str, sid: &str, message: &Checked<'_>) -> Value {
    let now = Utc::now().to_rfc2822();
    let uri = format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json");
    let media = format!("/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json");
    let whatsapp = channel(message.to).is_some();
    let status = if message.from.is_none() {
        "accepted"
    } else {
        "queued"
    };
    json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": message.from,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": message.media.to_string(),
        "num_segments": num_segments(message.body, whatsapp).to_string(),
        "price": null,
        "price_unit": null,
        "sid": sid,
        "status": status,
        "subresource_uris": { "media": media },
        "to": message.to,
        "uri": uri,
    })
}

fn record(
    shared: &Shared,
    account_sid: &str,
    params: &Params,
    result: &Result<Value, TwilioError>,
) {
    let mut fields = Map::new();
    for (key, value) in params {
        let value = Value::String(value.clone());
        match fields.get_mut(key) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                fields.insert(key.clone(), value);
            }
        }
    }
    let (status, sid) = match result {
        Ok(resource) => (201, resource["sid"].as_str().map(str::to_owned)),
        Err(error) => (error.status.as_u16(), None),
    };
    shared.lock().messages.push(RecordedMessage {
        received_at: now_rfc3339(),
        status,
        sid,
        params: fields,
        account_sid: account_sid.to_owned(),
    });
}
