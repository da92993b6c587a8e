//! Push notifications: `events.watch` and `channels.stop`, and the background worker that POSTs
//! notifications (sync, then `exists` on every change) with Google's `X-Goog-*` headers, retries on
//! 500/502/503/504, and applies the queued push faults.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::api::{Ctx, json_object};
use super::error::ApiError;
use super::events::readable;
use super::faults::PushFault;
use super::methods::{CHANNELS_STOP, EVENTS_WATCH};
use super::store::Store;
use super::times::format_millis;

/// How long a reordered notification waits for a later one to overtake it.
const REORDER_HOLD: Duration = Duration::from_secs(1);

/// A registered push channel.
#[derive(Debug, Clone)]
pub struct ChannelRecord {
    /// Client-chosen channel id.
    pub id: String,
    /// Opaque id of the watched collection.
    pub resource_id: String,
    /// Watched calendar.
    pub calendar_id: String,
    /// Webhook address.
    pub address: String,
    /// Client token echoed in `X-Goog-Channel-Token`.
    pub token: Option<String>,
    /// Expiry, ms since the epoch.
    pub expiration_ms: i64,
    /// Account that created it.
    pub owner: String,
    /// Set by `channels.stop`.
    pub stopped: bool,
    /// Last message number sent.
    pub message_number: u64,
}

/// One attempted push delivery, as `GET /_emulator/pushes` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PushRecord {
    /// Channel id.
    pub channel_id: String,
    /// `sync` or `exists`.
    pub resource_state: String,
    /// `X-Goog-Message-Number`.
    pub message_number: u64,
    /// Address posted to.
    pub address: String,
    /// Response status, if the webhook answered.
    pub status: Option<u16>,
    /// Transport error or `dropped` (fault), if it did not.
    pub error: Option<String>,
    /// When it was attempted.
    pub at: String,
}

/// A notification on its way to a webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    address: String,
    channel_id: String,
    state: &'static str,
    number: u64,
    headers: Vec<(&'static str, String)>,
    fault: Option<PushFault>,
}

fn resource_uri(shared: &Shared, calendar_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(calendar_id.as_bytes()).collect();
    format!(
        "{}/calendar/v3/calendars/{encoded}/events?alt=json",
        shared.base_url
    )
}

fn delivery(
    shared: &Shared,
    channel: &ChannelRecord,
    state: &'static str,
    fault: Option<PushFault>,
) -> Delivery {
    let expires = std::time::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(channel.expiration_ms).unwrap_or(0));
    let mut headers = vec![
        ("X-Goog-Channel-ID", channel.id.clone()),
        (
            "X-Goog-Channel-Expiration",
            httpdate::fmt_http_date(expires),
        ),
        ("X-Goog-Resource-ID", channel.resource_id.clone()),
        ("X-Goog-Resource-State", state.to_owned()),
        (
            "X-Goog-Resource-URI",
            resource_uri(shared, &channel.calendar_id),
        ),
        ("X-Goog-Message-Number", channel.message_number.to_string()),
    ];
    if let Some(token) = &channel.token {
        headers.push(("X-Goog-Channel-Token", token.clone()));
    }
    Delivery {
        address: channel.address.clone(),
        channel_id: channel.id.clone(),
        state,
        number: channel.message_number,
        headers,
        fault,
    }
}

/// Queues an `exists` notification on every live channel watching `calendar_id`.
pub fn notify(shared: &Shared, calendar_id: &str) {
    let deliveries = {
        let mut store = shared.lock();
        exists_deliveries(shared, &mut store, calendar_id)
    };
    for delivery in deliveries {
        let _ = shared.push_tx.send(delivery);
    }
}

fn exists_deliveries(shared: &Shared, store: &mut Store, calendar_id: &str) -> Vec<Delivery> {
    let now_ms = Utc::now().timestamp_millis();
    let mut ids: Vec<String> = store
        .channels
        .values()
        .filter(|c| c.calendar_id == calendar_id && c.expiration_ms > now_ms)
        .map(|c| c.id.clone())
        .collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let stopped = store.channels.get(&id).is_some_and(|c| c.stopped);
        if stopped && !store.faults.take_deliver_after_stop() {
            continue;
        }
        let fault = store.faults.take_push();
        let Some(channel) = store.channels.get_mut(&id) else {
            continue;
        };
        channel.message_number += rand::rng().random_range(2..=9);
        out.push(delivery(shared, channel, "exists", fault));
    }
    out
}

fn check_address(shared: &Shared, address: &str) -> Result<(), ApiError> {
    let url = url::Url::parse(address).map_err(|_| ApiError::webhook_not_https(address))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if shared.config.allow_http_loopback && loopback => Ok(()),
        _ => Err(ApiError::webhook_not_https(address)),
    }
}

fn expiration_ms(shared: &Shared, body: &Map<String, Value>) -> Result<i64, ApiError> {
    let now = Utc::now().timestamp_millis();
    let ttl = match body.get("params").and_then(|p| p.get("ttl")) {
        Some(ttl) => ttl
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s > 0)
            .ok_or_else(|| ApiError::invalid("Invalid ttl value for channel."))?,
        None => i64::try_from(shared.config.default_channel_ttl_secs).unwrap_or(604_800),
    };
    let requested = match body.get("expiration") {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    Ok(requested.unwrap_or(now + ttl * 1000))
}

fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::required(&format!("Required: {name}")))
}

/// `POST calendars/{calendarId}/events/watch`: registers a channel and sends the `sync` message.
pub async fn watch(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(calendar_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_WATCH).await?;
    let body = json_object(&body)?;
    let (id, address) = (field(&body, "id")?, field(&body, "address")?);
    if !matches!(
        body.get("type").and_then(Value::as_str),
        Some("web_hook" | "webhook")
    ) {
        return Err(ApiError::invalid("Invalid value for: type"));
    }
    check_address(&shared, address)?;
    let expiration = expiration_ms(&shared, &body)?;
    let mut store = shared.lock();
    let resolved = store.resolve(&calendar_id, &caller);
    let resource_id = readable(&store, &resolved, &caller)?.0.resource_id.clone();
    if store.channels.contains_key(id) {
        return Err(ApiError::channel_id_not_unique(id));
    }
    let token = body.get("token").and_then(Value::as_str).map(str::to_owned);
    let channel = ChannelRecord {
        id: id.to_owned(),
        resource_id,
        calendar_id: resolved.clone(),
        address: address.to_owned(),
        token: token.clone(),
        expiration_ms: expiration,
        owner: caller,
        stopped: false,
        message_number: 1,
    };
    let fault = store.faults.take_push();
    let _ = shared
        .push_tx
        .send(delivery(&shared, &channel, "sync", fault));
    store.channels.insert(id.to_owned(), channel.clone());
    let mut answer = json!({
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": resource_uri(&shared, &resolved),
        "expiration": expiration.to_string(),
    });
    if let Some(token) = token {
        answer["token"] = json!(token);
    }
    Ok(Json(answer))
}

/// `POST channels/stop`: stops a channel the caller created (204), 404 otherwise.
pub async fn stop(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let caller = ctx.authorize(&shared, &CHANNELS_STOP).await?;
    let body = json_object(&body)?;
    let (id, resource_id) = (field(&body, "id")?, field(&body, "resourceId")?);
    let mut store = shared.lock();
    let channel = store
        .channels
        .get_mut(id)
        .filter(|c| c.resource_id == resource_id && c.owner == caller && !c.stopped)
        .ok_or_else(|| {
            ApiError::not_found().with_message(&format!("Channel '{id}' not found for project"))
        })?;
    channel.stopped = true;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery worker: sends queued notifications in order, one at a time.
pub async fn run_worker(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Delivery>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut held: Option<Delivery> = None;
    loop {
        let next = if held.is_some() {
            match tokio::time::timeout(REORDER_HOLD, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    if let Some(late) = held.take() {
                        send(&shared, &client, late).await;
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(delivery) = next else { return };
        match delivery.fault {
            Some(PushFault::Reorder) if held.is_none() => held = Some(delivery),
            Some(PushFault::Delay { millis }) => {
                let (shared, client) = (Arc::clone(&shared), client.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    send(&shared, &client, delivery).await;
                });
            }
            _ => {
                send(&shared, &client, delivery).await;
                if let Some(late) = held.take() {
                    send(&shared, &client, late).await;
                }
            }
        }
    }
}

async fn send(shared: &Shared, client: &reqwest::Client, delivery: Delivery) {
    match delivery.fault {
        Some(PushFault::Drop) => record(shared, &delivery, None, Some("dropped".into())),
        Some(PushFault::Duplicate) => {
            post_with_retries(shared, client, &delivery).await;
            post_with_retries(shared, client, &delivery).await;
        }
        _ => post_with_retries(shared, client, &delivery).await,
    }
}

async fn post_with_retries(shared: &Shared, client: &reqwest::Client, delivery: &Delivery) {
    let mut backoff = shared.config.push_retry_base;
    for attempt in 0..=shared.config.push_retries {
        let mut request = client
            .post(&delivery.address)
            .header("User-Agent", "APIs-Google")
            .header("Content-Length", "0");
        for (name, value) in &delivery.headers {
            request = request.header(*name, value);
        }
        let result = request.send().await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        record(
            shared,
            delivery,
            status,
            result.err().map(|e| e.to_string()),
        );
        let retry = matches!(status, Some(500 | 502 | 503 | 504));
        if !retry || attempt == shared.config.push_retries {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

fn record(shared: &Shared, delivery: &Delivery, status: Option<u16>, error: Option<String>) {
    shared.lock().pushes.push(PushRecord {
        channel_id: delivery.channel_id.clone(),
        resource_state: delivery.state.to_owned(),
        message_number: delivery.number,
        address: delivery.address.clone(),
        status,
        error,
        at: format_millis(Utc::now()),
    });
}
