//! Request plumbing shared by every Calendar handler: the request log middleware, the caller
//! context (bearer token → account, scope check, injected faults, per-user quota), and the small
//! parsers for query strings and JSON bodies.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value};

use super::Shared;
use super::error::ApiError;
use super::faults::Fault;
use super::methods::MethodSpec;
use super::store::{QuotaWindow, RequestRecord, Store};
use super::times::format_millis;

/// Where a handler leaves the caller's email for the request log.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<String>>>);

impl CallerSlot {
    /// Records the caller.
    pub fn set(&self, email: &str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(email.to_owned());
    }

    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Middleware that appends every answered request to the request log.
pub async fn log_requests(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let response = next.run(request).await;
    let record = RequestRecord {
        method,
        path,
        query,
        caller: slot.get(),
        status: response.status().as_u16(),
        at: format_millis(Utc::now()),
    };
    shared.lock().requests.push(record);
    response
}

/// Per-request context: headers and the caller slot.
#[derive(Debug, Clone)]
pub struct Ctx {
    headers: HeaderMap,
    slot: CallerSlot,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let slot = parts
            .extensions
            .get::<CallerSlot>()
            .cloned()
            .unwrap_or_default();
        Ok(Ctx {
            headers: parts.headers.clone(),
            slot,
        })
    }
}

impl Ctx {
    /// Authenticates the bearer token, checks its scopes against `spec`, applies queued faults
    /// and the per-user quota; answers the caller's email.
    pub async fn authorize(&self, shared: &Shared, spec: &MethodSpec) -> Result<String, ApiError> {
        let email = self.authenticate(shared, spec)?;
        self.slot.set(&email);
        let fault = shared.lock().faults.take_api(spec.id);
        apply_fault(fault).await?;
        check_quota(shared, &email)?;
        Ok(email)
    }

    fn authenticate(&self, shared: &Shared, spec: &MethodSpec) -> Result<String, ApiError> {
        let value = self
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(ApiError::login_required)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(ApiError::invalid_credentials)?;
        let store = shared.lock();
        let record = store
            .access_tokens
            .get(token.trim())
            .ok_or_else(ApiError::invalid_credentials)?;
        if record.expires_at <= Utc::now() {
            return Err(ApiError::invalid_credentials());
        }
        if !spec.allows(&record.scopes) {
            self.slot.set(&record.email);
            return Err(ApiError::insufficient_scopes());
        }
        Ok(record.email.clone())
    }

    /// The `If-Match` header, if sent.
    pub fn if_match(&self) -> Option<&str> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }
}

/// Applies a fault taken from the queue: sleeps for latency, fails for error faults.
pub async fn apply_fault(fault: Option<Fault>) -> Result<(), ApiError> {
    match fault {
        Some(Fault::Latency { millis }) => {
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            Ok(())
        }
        Some(fault) => fault.error().map_or(Ok(()), Err),
        None => Ok(()),
    }
}

fn check_quota(shared: &Shared, email: &str) -> Result<(), ApiError> {
    let Some(quota) = shared.config.quota else {
        return Ok(());
    };
    let minute = Utc::now().timestamp() / 60;
    let mut store = shared.lock();
    let window = store
        .quota
        .entry(email.to_owned())
        .or_insert(QuotaWindow { minute, count: 0 });
    if window.minute != minute {
        *window = QuotaWindow { minute, count: 0 };
    }
    window.count += 1;
    if window.count <= quota.per_user_per_minute {
        return Ok(());
    }
    let retry_after = u64::try_from(60 - Utc::now().timestamp() % 60).unwrap_or(60);
    Err(if quota.answer_429 {
        ApiError::too_many_requests(retry_after)
    } else {
        ApiError::user_rate_limit()
    })
}

/// Query parameters as received (repeated names kept).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Params(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parameter; absent → `None`, anything but `true`/`false` → 400.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_parameter(
                name,
                &format!("Invalid boolean value for {name}."),
            )),
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::invalid_parameter(name, "Invalid Value"))
            })
            .transpose()
    }

    /// Whether `conferenceDataVersion=1` was sent.
    pub fn conference_v1(&self) -> Result<bool, ApiError> {
        Ok(self.int("conferenceDataVersion")?.unwrap_or(0) >= 1)
    }
}

/// Parses a JSON object body as Google does (`parseError` otherwise).
pub fn json_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::parse_error()),
    }
}

/// Locks the store; a poisoned lock is taken over (a panicking handler leaves consistent data).
pub fn lock(mutex: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
