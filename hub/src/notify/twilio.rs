//! WhatsApp through Twilio's Messages API (one request per recipient, form-encoded, Basic auth,
//! with a `StatusCallback` back to the hub), and the verification of Twilio's signed callbacks.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha1::Sha1;

use super::{log::Settled, vendor};

/// The path of the status callback route.
pub const STATUS_PATH: &str = "/webhooks/twilio/status";

/// Twilio's answers.
pub struct Twilio;

impl vendor::VendorAnswer for Twilio {
    const NAME: &'static str = "Twilio";

    fn message_id(_headers: &HeaderMap, body: &Value) -> Option<String> {
        body["sid"].as_str().map(str::to_string)
    }

    fn explain(body: &Value) -> Option<String> {
        let message = body["message"].as_str()?;
        Some(match body["code"].as_u64() {
            Some(code) => format!("{message} (error {code})"),
            None => message.to_string(),
        })
    }
}

/// What sending through Twilio needs from the tenant.
#[derive(Clone)]
pub struct Account<'a> {
    /// AccountSid.
    pub account_sid: &'a str,
    /// Auth token.
    pub auth_token: &'a str,
    /// The WhatsApp sender, E.164.
    pub from: &'a str,
}

/// One WhatsApp message.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The recipient, E.164.
    pub to: &'a str,
    /// The text.
    pub body: &'a str,
    /// Where Twilio reports delivery.
    pub status_callback: &'a str,
}

/// Creates one message and settles the attempt.
pub async fn send(
    http: &reqwest::Client,
    base_url: &str,
    account: &Account<'_>,
    message: &Message<'_>,
) -> Settled {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        base_url.trim_end_matches('/'),
        account.account_sid
    );
    let form = [
        ("To", format!("whatsapp:{}", message.to)),
        ("From", format!("whatsapp:{}", account.from)),
        ("Body", message.body.to_string()),
        ("StatusCallback", message.status_callback.to_string()),
    ];
    let result = http
        .post(url)
        .basic_auth(account.account_sid, Some(account.auth_token))
        .form(&form)
        .send()
        .await;
    vendor::settle::<Twilio>(result).await
}

/// Whether `signature` (the `X-Twilio-Signature` header) is Twilio's signature of this request:
/// base64(HMAC-SHA1(auth token, full URL + every POST parameter's name and value, sorted by
/// name)), compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort_unstable();
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_twilio_and_reject_any_change() {
        let params = vec![
            ("MessageStatus".to_string(), "delivered".to_string()),
            ("MessageSid".to_string(), "SM1".to_string()),
        ];
        let url = "https://hub.example.com/webhooks/twilio/status?n=1";
        let signed = emulators::twilio::signature("token", url, &params);
        assert!(verify("token", url, &params, &signed));
        assert!(!verify("other", url, &params, &signed));
        assert!(!verify(
            "token",
            "https://evil.example.com/",
            &params,
            &signed
        ));
        let mut changed = params.clone();
        changed[0].1 = "read".into();
        assert!(!verify("token", url, &changed, &signed));
        assert!(!verify("token", url, &params, "not base64!"));
    }
}
