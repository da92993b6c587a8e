//! The one error answer of the API contract: `{"error": {code, message, details,
//! correlation_id}}`. Every module maps its own error enum into [`ApiError`] once; the message is
//! a sentence a voice agent can read aloud, and the internal cause is logged here, never sent.
//!
//! Also the request extractors whose rejections use the same shape ([`ApiJson`], [`ApiQuery`]).

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::ErrorCode;

use crate::{db::DbError, observability::current_correlation_id};

/// An error answer of the contract.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<Value>,
    retry_after_secs: Option<u64>,
    cause: Option<String>,
}

impl ApiError {
    /// An error with a speakable message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            cause: None,
        }
    }

    /// Adds the machine-readable `details` object.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Sets `Retry-After` (rate limits, Google unavailable).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Records the internal cause to log; it is never part of the answer.
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// A failure inside CORBI: the client hears a generic sentence, the log gets the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorCode::Internal,
            "Something went wrong on our side. Please try again in a moment.",
        )
        .with_cause(cause)
    }

    /// The common 401.
    pub fn unauthenticated() -> Self {
        ApiError::new(
            ErrorCode::Unauthenticated,
            "You need to sign in. Send a valid token in the Authorization header.",
        )
    }

    /// The common 404: unknown ids and ids of another tenant answer the same.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            ErrorCode::NotFound,
            format!("We could not find that {what}."),
        )
    }

    /// The common 403 for a role that may not do something.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// A 422 naming each bad field: `details.fields = [{field, problem}]`.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        let message = match names.as_slice() {
            [] => "The request is not valid.".to_string(),
            [one] => format!("The field {one} is not valid."),
            many => format!("These fields are not valid: {}.", many.join(", ")),
        };
        let fields: Vec<Value> = fields
            .into_iter()
            .map(|f| json!({"field": f.field, "problem": f.problem}))
            .collect();
        ApiError::new(ErrorCode::ValidationFailed, message).with_details(json!({"fields": fields}))
    }

    /// The speakable sentence (devices show it as is).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The contract code, for tests and metrics.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The machine-readable `details` object (`{}` when there is nothing to add).
    pub fn details(&self) -> Value {
        self.details.clone().unwrap_or_else(|| json!({}))
    }

    /// Logs the internal cause once (at error level for server failures); answers that do
    /// not go through [`IntoResponse`] (MCP tool results) call it themselves.
    pub fn log_cause(&self) {
        let server_error = self.code.http_status() >= 500;
        match (&self.cause, server_error) {
            (Some(cause), true) => tracing::error!(code = %self.code, %cause, "request failed"),
            (Some(cause), false) => tracing::info!(code = %self.code, %cause, "request refused"),
            (None, _) => tracing::debug!(code = %self.code, "request refused"),
        }
    }
}

/// One bad field of a request.
#[derive(Debug, Clone)]
pub struct FieldError {
    /// Dotted path of the field (`participants[0].email`).
    pub field: String,
    /// What is wrong, in plain words.
    pub problem: String,
}

impl FieldError {
    /// A bad field.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let correlation_id = current_correlation_id();
        self.log_cause();
        let body = json!({"error": {
            "code": self.code.as_str(),
            "message": self.message,
            "details": self.details.unwrap_or_else(|| json!({})),
            "correlation_id": correlation_id,
        }});
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => ApiError::not_found("item"),
            DbError::Conflict(cause) => ApiError::new(
                ErrorCode::Conflict,
                "That clashes with something that already exists.",
            )
            .with_cause(cause),
            other => ApiError::internal(other),
        }
    }
}

/// A JSON body whose rejections answer in the contract's shape, naming the bad field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ApiError::validation(vec![FieldError::new(
                "body",
                "send a JSON body with Content-Type: application/json",
            )]));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Parses a JSON document, turning serde's complaint into a field error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        if err.inner().is_syntax() || err.inner().is_eof() {
            return ApiError::validation(vec![FieldError::new(
                "body",
                "the body is not valid JSON",
            )]);
        }
        let problem = plain_serde_message(err.inner());
        let field = field_path(&err.path().to_string(), &problem);
        ApiError::validation(vec![FieldError::new(field, problem)])
    })
}

/// The dotted path of the bad field; serde reports a missing field at its parent's path, so
/// the field's own name is taken from the message.
fn field_path(path: &str, problem: &str) -> String {
    let missing = problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_string(),
        (".", None) => "body".to_string(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (parent, None) => parent.to_string(),
    }
}

fn plain_serde_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime == "application/json" || mime.ends_with("+json")
        })
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "The request is too large. Send a smaller body.",
        )
    } else {
        ApiError::validation(vec![FieldError::new("body", "the body could not be read")])
            .with_cause(rejection.body_text())
    }
}

/// Query parameters whose rejections answer in the contract's shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                let problem = err.inner().to_string();
                ApiError::validation(vec![FieldError::new(field, problem)])
            })
    }
}

/// Answers unknown paths in the contract's shape.
pub async fn route_not_found() -> ApiError {
    ApiError::not_found("page")
}

/// Answers a known path with the wrong method in the contract's shape.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "That action is not available at this address.",
    )
}
