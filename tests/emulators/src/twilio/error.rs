//! Twilio's REST error answers: `{"code","message","more_info","status"}` with Twilio's error codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer of the Messages API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code} {message}")]
pub struct TwilioError {
    /// HTTP status.
    pub status: StatusCode,
    /// Twilio's error code (`21211`, `20003`, ...), what clients branch on.
    pub code: u32,
    /// Human-readable message, Twilio's wording.
    pub message: String,
}

impl TwilioError {
    fn new(status: StatusCode, code: u32, message: &str) -> Self {
        TwilioError {
            status,
            code,
            message: message.to_owned(),
        }
    }

    fn bad(code: u32, message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 20003: missing or wrong credentials.
    pub fn authenticate() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }

    /// 404 20404: no such resource.
    pub fn not_found(path: &str) -> Self {
        let message = format!("The requested resource {path} was not found");
        Self::new(StatusCode::NOT_FOUND, 20404, &message)
    }

    /// 429 20429.
    pub fn too_many_requests() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests")
    }

    /// 500 20500.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "An internal server error has occurred",
        )
    }

    /// 503 20503.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service Unavailable",
        )
    }

    /// 400 21604.
    pub fn to_required() -> Self {
        Self::bad(21604, "A 'To' phone number is required.")
    }

    /// 400 21211.
    pub fn invalid_to(to: &str) -> Self {
        Self::bad(
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        )
    }

    /// 400 21603.
    pub fn from_required() -> Self {
        Self::bad(21603, "A 'From' phone number is required.")
    }

    /// 400 21212.
    pub fn invalid_from(from: &str) -> Self {
        let message = format!(
            "The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID."
        );
        Self::bad(21212, &message)
    }

    /// 400 21910: `whatsapp:` on one side only.
    pub fn channel_mismatch() -> Self {
        Self::bad(
            21910,
            "Invalid From and To pair. From and To should be of the same channel",
        )
    }

    /// 400 21266.
    pub fn same_to_and_from() -> Self {
        Self::bad(21266, "'To' and 'From' number cannot be the same")
    }

    /// 400 21602.
    pub fn body_required() -> Self {
        Self::bad(21602, "Message body is required.")
    }

    /// 400 21617.
    pub fn body_too_long() -> Self {
        Self::bad(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        )
    }

    /// 400 21620.
    pub fn invalid_media_url() -> Self {
        Self::bad(21620, "Invalid media URL(s)")
    }

    /// 400 21701.
    pub fn invalid_messaging_service(sid: &str) -> Self {
        Self::bad(
            21701,
            &format!("The Messaging Service Sid {sid} is invalid."),
        )
    }

    /// 400 21655.
    pub fn invalid_content_sid() -> Self {
        Self::bad(21655, "The ContentSid is Invalid")
    }

    /// 400 21609: not a URL, or (emulator policy) not HTTPS.
    pub fn invalid_status_callback() -> Self {
        Self::bad(21609, "Invalid StatusCallback")
    }
}

impl IntoResponse for TwilioError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}
