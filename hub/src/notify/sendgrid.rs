//! Email through SendGrid's v3 Mail Send: one request per change, with the tenant's dynamic
//! template and one personalization (its own `dynamic_template_data`) per participant.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::{content::Notice, log::Settled, vendor};

/// SendGrid's answers.
pub struct SendGrid;

impl vendor::VendorAnswer for SendGrid {
    const NAME: &'static str = "SendGrid";

    fn message_id(headers: &HeaderMap, _body: &Value) -> Option<String> {
        headers
            .get("x-message-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn explain(body: &Value) -> Option<String> {
        let messages: Vec<String> = body["errors"]
            .as_array()?
            .iter()
            .map(|e| match e["field"].as_str() {
                Some(field) => format!("{field}: {}", e["message"].as_str().unwrap_or_default()),
                None => e["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

/// What sending through SendGrid needs from the tenant.
#[derive(Clone)]
pub struct Account<'a> {
    /// The API key.
    pub api_key: &'a str,
    /// The dynamic template id.
    pub template_id: &'a str,
    /// The sender address.
    pub from: &'a str,
}

/// A recipient: address and name.
pub type Recipient = (String, Option<String>);

/// The Mail Send body.
pub fn body(notice: &Notice, account: &Account<'_>, recipients: &[Recipient]) -> Value {
    let personalizations: Vec<Value> = recipients
        .iter()
        .map(|(email, name)| {
            let mut to = json!({"email": email});
            if let Some(name) = name {
                to["name"] = json!(name);
            }
            json!({"to": [to], "dynamic_template_data": notice.template_data(name.as_deref())})
        })
        .collect();
    json!({
        "personalizations": personalizations,
        "from": {"email": account.from},
        "template_id": account.template_id,
    })
}

/// Sends one Mail Send request and settles it.
pub async fn send(
    http: &reqwest::Client,
    base_url: &str,
    account: &Account<'_>,
    body: &Value,
) -> Settled {
    let result = http
        .post(format!("{}/v3/mail/send", base_url.trim_end_matches('/')))
        .bearer_auth(account.api_key)
        .json(body)
        .send()
        .await;
    vendor::settle::<SendGrid>(result).await
}
