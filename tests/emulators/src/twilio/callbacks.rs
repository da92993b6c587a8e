//! Status callbacks: the `X-Twilio-Signature` algorithm and the background worker that POSTs each
//! message's status progression (queued → sent → delivered, or the outcome a [`CallbackFault`]
//! asks for) to its `StatusCallback`, one message after another, in order.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::json;
use sha1::Sha1;
use tokio::sync::mpsc;

use super::admin::CallbackFault;
use super::phone::channel;
use super::{API_VERSION, Shared};
use crate::support::{now_rfc3339, random_hex};

/// How long the worker waits for a callback receiver to answer.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Twilio's request signature: base64(HMAC-SHA1(auth token, URL + every POST parameter's name
/// and value, sorted by name)). The hub verifies status callbacks with the same algorithm.
pub fn signature<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &str,
    url: &str,
    params: &[(K, V)],
) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    let mut data = url.to_owned();
    for (name, value) in pairs {
        data.push_str(name);
        data.push_str(value);
    }
    <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .map(|mut mac| {
            mac.update(data.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default()
}

/// One attempted status callback, as `GET /_emulator/callbacks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackRecord {
    /// The message's SID.
    pub sid: String,
    /// `MessageStatus` sent.
    pub message_status: String,
    /// The `StatusCallback` URL.
    pub url: String,
    /// The receiver's answer, if it answered.
    pub status: Option<u16>,
    /// Transport error, or `dropped` (fault), if it did not.
    pub error: Option<String>,
    /// When it was attempted, RFC 3339 UTC.
    pub at: String,
}

/// The callbacks one created message owes.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The `StatusCallback` URL.
    pub url: String,
    /// The account's auth token, the signing key.
    pub auth_token: String,
    /// The account.
    pub account_sid: String,
    /// The message.
    pub sid: String,
    /// `From` as requested, if given.
    pub from: Option<String>,
    /// `To` as requested.
    pub to: String,
    /// `MessagingServiceSid` as requested, if given.
    pub messaging_service_sid: Option<String>,
    /// The outcome or misbehaviour queued for this message.
    pub fault: Option<CallbackFault>,
}

/// Hands a message's callbacks to the worker.
pub fn schedule(shared: &Shared, outgoing: Outgoing) {
    if shared.jobs.send(outgoing).is_err() {
        tracing::warn!("twilio callback worker is gone");
    }
}

/// The statuses a message goes through, with the `ErrorCode` of a failing one.
fn progression(fault: Option<CallbackFault>) -> Vec<(&'static str, Option<u32>)> {
    match fault {
        Some(CallbackFault::Failed { error_code }) => {
            vec![("queued", None), ("failed", Some(error_code))]
        }
        Some(CallbackFault::Undelivered { error_code }) => vec![
            ("queued", None),
            ("sent", None),
            ("undelivered", Some(error_code)),
        ],
        Some(CallbackFault::Read) => vec![
            ("queued", None),
            ("sent", None),
            ("delivered", None),
            ("read", None),
        ],
        _ => vec![("queued", None), ("sent", None), ("delivered", None)],
    }
}

/// The worker: sends every message's callbacks in order, one message after another.
pub async fn run_worker(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Outgoing>) {
    let client = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .build()
        .unwrap_or_default();
    while let Some(job) = jobs.recv().await {
        deliver(&shared, &client, &job).await;
    }
}

async fn deliver(shared: &Shared, client: &reqwest::Client, job: &Outgoing) {
    for (index, (status, error_code)) in progression(job.fault).into_iter().enumerate() {
        if index > 0 && !shared.config.callback_interval.is_zero() {
            tokio::time::sleep(shared.config.callback_interval).await;
        }
        update_resource(shared, &job.sid, status, error_code);
        let params = params(job, status, error_code);
        let token = format!("{}-{}", job.account_sid, random_hex(32));
        match job.fault {
            Some(CallbackFault::Drop) => record(shared, job, status, None, Some("dropped".into())),
            Some(CallbackFault::Duplicate) => {
                post(shared, client, job, status, &params, &token).await;
                post(shared, client, job, status, &params, &token).await;
            }
            _ => post(shared, client, job, status, &params, &token).await,
        }
    }
}

fn params(job: &Outgoing, status: &str, error_code: Option<u32>) -> Vec<(String, String)> {
    let mut params = vec![
        ("AccountSid", job.account_sid.clone()),
        ("ApiVersion", API_VERSION.to_owned()),
        ("MessageSid", job.sid.clone()),
        ("MessageStatus", status.to_owned()),
        ("SmsSid", job.sid.clone()),
        ("SmsStatus", status.to_owned()),
        ("To", job.to.clone()),
    ];
    let optional = [
        ("From", job.from.clone()),
        ("MessagingServiceSid", job.messaging_service_sid.clone()),
        ("ErrorCode", error_code.map(|c| c.to_string())),
        ("ChannelPrefix", channel(&job.to).map(str::to_owned)),
    ];
    params.extend(optional.into_iter().filter_map(|(k, v)| Some((k, v?))));
    params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

async fn post(
    shared: &Shared,
    client: &reqwest::Client,
    job: &Outgoing,
    status: &str,
    params: &[(String, String)],
    idempotency_token: &str,
) {
    let result = client
        .post(&job.url)
        .header(
            "X-Twilio-Signature",
            signature(&job.auth_token, &job.url, params),
        )
        .header("I-Twilio-Idempotency-Token", idempotency_token)
        .header("User-Agent", "TwilioProxy/1.1")
        .form(params)
        .send()
        .await;
    let answer = result.as_ref().ok().map(|r| r.status().as_u16());
    record(
        shared,
        job,
        status,
        answer,
        result.err().map(|e| e.to_string()),
    );
}

fn update_resource(shared: &Shared, sid: &str, status: &str, error_code: Option<u32>) {
    let now = Utc::now().to_rfc2822();
    let mut state = shared.lock();
    let Some(resource) = state.resources.get_mut(sid) else {
        return;
    };
    resource["status"] = json!(status);
    resource["date_updated"] = json!(now);
    if status == "sent" {
        resource["date_sent"] = json!(now);
    }
    if let Some(code) = error_code {
        resource["error_code"] = json!(code);
    }
}

fn record(
    shared: &Shared,
    job: &Outgoing,
    status: &str,
    answer: Option<u16>,
    error: Option<String>,
) {
    shared.lock().callbacks.push(CallbackRecord {
        sid: job.sid.clone(),
        message_status: status.to_owned(),
        url: job.url.clone(),
        status: answer,
        error,
        at: now_rfc3339(),
    });
}
