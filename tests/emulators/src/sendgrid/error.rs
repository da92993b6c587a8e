//! SendGrid's error answers: `{"errors":[{"message","field","help"}]}` with the status SendGrid
//! uses, plus the rate-limit headers on 429.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Where SendGrid's validation errors point for help.
const HELP_BASE: &str =
    "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message";

/// One entry of the `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorItem {
    /// Human-readable reason, SendGrid's wording.
    pub message: String,
    /// The offending JSON path (`personalizations.0.to.0.email`), `null` when not about a field.
    pub field: Option<String>,
    /// Link to SendGrid's explanation, `null` when SendGrid gives none.
    pub help: Option<String>,
}

impl ErrorItem {
    /// An error about no particular field.
    pub fn general(message: &str) -> Self {
        ErrorItem {
            message: message.to_owned(),
            field: None,
            help: None,
        }
    }

    /// An error about `field`, with a help link to the field's family (indices dropped).
    pub fn field(field: &str, message: &str) -> Self {
        let anchor: Vec<&str> = field
            .split('.')
            .filter(|part| part.parse::<usize>().is_err())
            .collect();
        ErrorItem {
            message: message.to_owned(),
            field: Some(field.to_owned()),
            help: Some(format!("{HELP_BASE}.{}", anchor.join("."))),
        }
    }
}

/// The rate-limit headers SendGrid sends with a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Reset`, unix seconds.
    pub reset_at: i64,
}

/// An error answer of the Mail Send endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}", errors.first().map(|e| e.message.as_str()).unwrap_or_default())]
pub struct MailError {
    /// HTTP status.
    pub status: StatusCode,
    /// Every problem found (validation reports them all at once, as SendGrid does).
    pub errors: Vec<ErrorItem>,
    /// Rate-limit headers, on 429 only.
    pub rate_limit: Option<RateLimit>,
}

impl MailError {
    fn general(status: StatusCode, message: &str) -> Self {
        MailError {
            status,
            errors: vec![ErrorItem::general(message)],
            rate_limit: None,
        }
    }

    /// 401 without an `Authorization` header.
    pub fn authorization_required() -> Self {
        Self::general(StatusCode::UNAUTHORIZED, "authorization required")
    }

    /// 401 for a key SendGrid does not know.
    pub fn invalid_key() -> Self {
        Self::general(
            StatusCode::UNAUTHORIZED,
            "The provided authorization grant is invalid, expired, or revoked",
        )
    }

    /// 403 for a key without the `mail.send` scope.
    pub fn forbidden() -> Self {
        Self::general(StatusCode::FORBIDDEN, "access forbidden")
    }

    /// 400 for a body that is not JSON.
    pub fn bad_request() -> Self {
        Self::general(StatusCode::BAD_REQUEST, "Bad Request")
    }

    /// 400 for a request whose `Content-Type` is not JSON.
    pub fn wrong_content_type() -> Self {
        Self::general(
            StatusCode::BAD_REQUEST,
            "Content-Type should be application/json.",
        )
    }

    /// 413 over the 30 MB message limit.
    pub fn too_large() -> Self {
        Self::general(StatusCode::PAYLOAD_TOO_LARGE, "content too large")
    }

    /// 400 with the validation errors found.
    pub fn invalid(errors: Vec<ErrorItem>) -> Self {
        MailError {
            status: StatusCode::BAD_REQUEST,
            errors,
            rate_limit: None,
        }
    }

    /// 429 with the rate-limit headers; the window resets `retry_after_secs` from now.
    pub fn too_many_requests(limit: u32, retry_after_secs: u64) -> Self {
        let reset_at =
            chrono::Utc::now().timestamp() + i64::try_from(retry_after_secs).unwrap_or(0);
        MailError {
            rate_limit: Some(RateLimit { limit, reset_at }),
            ..Self::general(StatusCode::TOO_MANY_REQUESTS, "too many requests")
        }
    }

    /// 500.
    pub fn internal() -> Self {
        Self::general(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    /// 503.
    pub fn unavailable() -> Self {
        Self::general(StatusCode::SERVICE_UNAVAILABLE, "service unavailable")
    }
}

impl IntoResponse for MailError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errors": self.errors });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(rate) = self.rate_limit {
            let headers = response.headers_mut();
            for (name, value) in [
                ("x-ratelimit-limit", rate.limit.to_string()),
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", rate.reset_at.to_string()),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
        response
    }
}
