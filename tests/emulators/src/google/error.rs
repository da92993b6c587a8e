//! Google's JSON error bodies, produced exactly as the Calendar API and the OAuth endpoints send them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One entry of the `errors` array of a Google API error body.
#[derive(Debug, Clone)]
pub struct ErrorItem {
    /// `global`, `calendar`, `usageLimits`, ... as Google names the error domain.
    pub domain: &'static str,
    /// Machine-readable reason (`notFound`, `fullSyncRequired`, ...), what clients branch on.
    pub reason: &'static str,
    /// Human-readable message of this entry.
    pub message: String,
    /// Where the offending input was (`syncToken`, `If-Match`, ...), if Google names it.
    pub location: Option<(&'static str, String)>,
}

/// A Calendar API error answer: status code plus the `{"error": {...}}` body Google sends
/// (boxed, so `Result`s stay small).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {}", .0.code, .0.message)]
pub struct ApiError(pub Box<ErrorDetail>);

/// What an [`ApiError`] holds.
#[derive(Debug, Clone)]
pub struct ErrorDetail {
    /// HTTP status code.
    pub code: u16,
    /// Top-level `error.message`.
    pub message: String,
    /// The single entry Google puts into `error.errors`.
    pub item: ErrorItem,
    /// `error.status` (the gRPC-style status name) when Google sends one.
    pub status: Option<&'static str>,
    /// `Retry-After` seconds for 429 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(code: u16, domain: &'static str, reason: &'static str, message: &str) -> Self {
        ApiError(Box::new(ErrorDetail {
            code,
            message: message.to_owned(),
            item: ErrorItem {
                domain,
                reason,
                message: message.to_owned(),
                location: None,
            },
            status: None,
            retry_after: None,
        }))
    }

    /// The same error with another top-level and item message.
    pub fn with_message(mut self, message: &str) -> Self {
        self.0.message = message.to_owned();
        self.0.item.message = message.to_owned();
        self
    }

    fn at(mut self, location_type: &'static str, location: &str) -> Self {
        self.0.item.location = Some((location_type, location.to_owned()));
        self
    }

    /// The same error with another `reason`.
    pub fn reason(mut self, reason: &'static str) -> Self {
        self.0.item.reason = reason;
        self
    }

    fn with_status(mut self, status: &'static str) -> Self {
        self.0.status = Some(status);
        self
    }

    /// 401 for a request without any `Authorization` header.
    pub fn login_required() -> Self {
        let mut e = Self::new(401, "global", "required", "Login Required.")
            .at("header", "Authorization")
            .with_status("UNAUTHENTICATED");
        e.0.message = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.".into();
        e
    }

    /// 401 for an unknown, expired or revoked access token.
    pub fn invalid_credentials() -> Self {
        let mut e = Self::new(401, "global", "authError", "Invalid Credentials")
            .at("header", "Authorization")
            .with_status("UNAUTHENTICATED");
        e.0.message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.".into();
        e
    }

    /// 403 when the token holds none of the scopes the method accepts.
    pub fn insufficient_scopes() -> Self {
        let mut e = Self::new(
            403,
            "global",
            "insufficientPermissions",
            "Insufficient Permission",
        )
        .with_status("PERMISSION_DENIED");
        e.0.message = "Request had insufficient authentication scopes.".into();
        e
    }

    /// 404 for a calendar or event that does not exist or is not visible to the caller.
    pub fn not_found() -> Self {
        Self::new(404, "global", "notFound", "Not Found")
    }

    /// 403 for a write to a calendar where the caller is only a reader.
    pub fn writer_required() -> Self {
        Self::new(
            403,
            "global",
            "requiredAccessLevel",
            "You need to have writer access to this calendar.",
        )
    }

    /// 403 for an operation only the owner may perform.
    pub fn forbidden() -> Self {
        Self::new(403, "global", "forbidden", "Forbidden")
    }

    /// 400 for an invalid parameter or body value.
    pub fn invalid(message: &str) -> Self {
        Self::new(400, "global", "invalid", message)
    }

    /// 400 for an invalid query parameter, naming it.
    pub fn invalid_parameter(name: &str, message: &str) -> Self {
        Self::invalid(message).at("parameter", name)
    }

    /// 400 for a missing required value.
    pub fn required(message: &str) -> Self {
        Self::new(400, "global", "required", message)
    }

    /// 400 for a body that is not a JSON object.
    pub fn parse_error() -> Self {
        Self::new(400, "global", "parseError", "Parse Error")
    }

    /// 400 when an event ends before it starts.
    pub fn time_range_empty() -> Self {
        Self::new(
            400,
            "global",
            "timeRangeEmpty",
            "The specified time range is empty.",
        )
    }

    /// 409 when a client-supplied event id already exists.
    pub fn duplicate() -> Self {
        Self::new(
            409,
            "global",
            "duplicate",
            "The requested identifier already exists.",
        )
    }

    /// 410 for a sync token the server no longer accepts.
    pub fn full_sync_required() -> Self {
        let message = "Sync token is no longer valid, a full sync is required.";
        Self::new(410, "calendar", "fullSyncRequired", message).at("parameter", "syncToken")
    }

    /// 410 when deleting an event that is already deleted.
    pub fn deleted() -> Self {
        Self::new(410, "global", "deleted", "Resource has been deleted")
    }

    /// 412 for a stale `If-Match` etag.
    pub fn condition_not_met() -> Self {
        Self::new(412, "global", "conditionNotMet", "Precondition Failed").at("header", "If-Match")
    }

    /// 400 for a push address that is not HTTPS.
    pub fn webhook_not_https(address: &str) -> Self {
        let message = format!("WebHook callback must be HTTPS: {address}");
        Self::new(400, "global", "push.webhookUrlNotHttps", &message)
    }

    /// 400 for a channel id already in use.
    pub fn channel_id_not_unique(id: &str) -> Self {
        Self::new(
            400,
            "global",
            "channelIdNotUnique",
            &format!("Channel id {id} not unique"),
        )
    }

    /// 403 `rateLimitExceeded` (project rate limit).
    pub fn rate_limit() -> Self {
        Self::new(
            403,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        )
    }

    /// 403 `userRateLimitExceeded` (per-user quota).
    pub fn user_rate_limit() -> Self {
        Self::new(
            403,
            "usageLimits",
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
        )
    }

    /// 429 `rateLimitExceeded` with a `Retry-After` header.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        )
        .with_status("RESOURCE_EXHAUSTED");
        e.0.retry_after = Some(retry_after);
        e
    }

    /// 500 or 503 `backendError`.
    pub fn backend(code: u16) -> Self {
        Self::new(code, "global", "backendError", "Backend Error")
    }

    /// The JSON body Google sends with this error.
    pub fn body(&self) -> Value {
        let detail = &self.0;
        let mut item = json!({
            "domain": detail.item.domain,
            "reason": detail.item.reason,
            "message": detail.item.message,
        });
        if let Some((kind, location)) = &detail.item.location {
            item["locationType"] = json!(kind);
            item["location"] = json!(location);
        }
        let mut error = json!({ "code": detail.code, "message": detail.message, "errors": [item] });
        if let Some(status) = detail.status {
            error["status"] = json!(status);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.0.code == 401 {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
            );
        }
        if let Some(secs) = self.0.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// An OAuth 2.0 error answer of Google's token endpoint (`{"error", "error_description"}`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    /// HTTP status code (400 or 401).
    pub code: u16,
    /// RFC 6749 error code such as `invalid_grant`.
    pub error: &'static str,
    /// Google's `error_description`.
    pub description: String,
}

impl OAuthError {
    /// Builds an OAuth error answer.
    pub fn new(code: u16, error: &'static str, description: &str) -> Self {
        Self {
            code,
            error,
            description: description.to_owned(),
        }
    }

    /// `invalid_grant` as Google sends it for revoked or expired refresh tokens.
    pub fn revoked() -> Self {
        Self::new(400, "invalid_grant", "Token has been expired or revoked.")
    }

    /// `invalid_client` for an unknown client or a wrong secret.
    pub fn invalid_client() -> Self {
        Self::new(401, "invalid_client", "Unauthorized")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({ "error": self.error, "error_description": self.description });
        (status, axum::Json(body)).into_response()
    }
}
