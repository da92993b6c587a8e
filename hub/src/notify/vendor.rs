//! Reading a vendor's answer into how the attempt settles. The line that matters for "never
//! twice" is between a request that certainly did not take (connection refused, 429, 5xx — sent
//! again later) and one that may have (timeout or broken connection after the request left —
//! never sent again, because neither SendGrid nor Twilio offers an idempotency key).

use reqwest::{Response, StatusCode, header::HeaderMap};
use serde_json::Value;

use super::log::Settled;

/// What a vendor's answer body says, vendor by vendor.
pub trait VendorAnswer {
    /// The vendor's name, for messages.
    const NAME: &'static str;
    /// The vendor's id of an accepted message.
    fn message_id(headers: &HeaderMap, body: &Value) -> Option<String>;
    /// The vendor's explanation of a refusal.
    fn explain(body: &Value) -> Option<String>;
}

/// Settles an attempt from the vendor's answer (or the transport error).
pub async fn settle<V: VendorAnswer>(result: Result<Response, reqwest::Error>) -> Settled {
    let response = match result {
        Ok(response) => response,
        Err(err) if err.is_connect() || err.is_builder() => {
            return Settled::Retry(format!(
                "{} could not be reached: {}",
                V::NAME,
                err.without_url()
            ));
        }
        Err(err) => {
            return Settled::Unknown(format!(
                "{} did not answer ({}); the message may have been accepted, so it is not resent.",
                V::NAME,
                err.without_url()
            ));
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response
        .bytes()
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    if status.is_success() {
        return Settled::Sent {
            vendor_id: V::message_id(&headers, &body),
        };
    }
    let explanation = V::explain(&body).unwrap_or_else(|| "no explanation given".into());
    let sentence = format!("{} answered {}: {explanation}", V::NAME, status.as_u16());
    if transient(status) {
        Settled::Retry(sentence)
    } else {
        Settled::Failed(sentence)
    }
}

/// Rate limits and server errors: the vendor did not take the message and asks to come back.
fn transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}
