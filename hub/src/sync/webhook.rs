//! `POST /webhooks/google/calendar`: Google's push notifications. The answer never waits on
//! Google: the channel is checked (id known, token equal in constant time, resource id equal),
//! the receipt stored (a repeated channel id + message number is a duplicate) and the
//! calendar's sync job enqueued — coalesced with one already queued and debounced — in one
//! transaction.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Duration;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{SyncState, channels::token_hash, store, sync_job};
use crate::{
    db::DbError,
    observability::{OutcomeLabels, current_correlation_id},
    ops_stats::{self, Counter},
};

/// How a notification was answered (the metric label).
fn count(state: &SyncState, outcome: &str) {
    state
        .metrics
        .sync_webhooks
        .get_or_create(&OutcomeLabels {
            outcome: outcome.into(),
        })
        .inc();
}

fn refusal(status: StatusCode, code: &str, message: &str, details: serde_json::Value) -> Response {
    let body = json!({"error": {
        "code": code,
        "message": message,
        "details": details,
        "correlation_id": current_correlation_id(),
    }});
    (status, Json(body)).into_response()
}

fn unavailable(state: &SyncState, err: &DbError) -> Response {
    count(state, "unavailable");
    tracing::error!(error = %err, "push notification could not be recorded");
    let mut response = refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "CALENDAR_UNAVAILABLE",
        "The notification could not be recorded right now. Please send it again.",
        json!({}),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn not_found(state: &SyncState, outcome: &str) -> Response {
    count(state, outcome);
    refusal(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "This notification channel is not known here.",
        json!({}),
    )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Receives a Google Calendar push notification.
#[utoipa::path(post, path = "/webhooks/google/calendar", tag = "sync",
    params(
        ("X-Goog-Channel-ID" = String, Header, description = "Our channel id"),
        ("X-Goog-Channel-Token" = Option<String>, Header, description = "The channel's secret token"),
        ("X-Goog-Resource-ID" = String, Header, description = "Google's id of the watched calendar"),
        ("X-Goog-Resource-State" = String, Header, description = "sync, exists or not_exists"),
        ("X-Goog-Message-Number" = String, Header, description = "Message number of the channel"),
    ),
    responses(
        (status = 200, description = "Recorded (or a duplicate, or the channel's sync message)"),
        (status = 400, description = "X-Goog headers missing or malformed"),
        (status = 404, description = "Unknown channel, or wrong channel token or resource id"),
        (status = 503, description = "Could not be recorded; Google retries"),
    ))]
pub async fn receive(State(state): State<SyncState>, headers: HeaderMap) -> Response {
    let channel_id = header_text(&headers, "x-goog-channel-id");
    let resource_id = header_text(&headers, "x-goog-resource-id");
    let resource_state = header_text(&headers, "x-goog-resource-state");
    let number = header_text(&headers, "x-goog-message-number");
    let (Some(channel_id), Some(resource_id), Some(resource_state), Some(number)) =
        (channel_id, resource_id, resource_state, number)
    else {
        count(&state, "malformed");
        return refusal(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            "This is not a Google Calendar notification: its X-Goog headers are missing.",
            json!({"required_headers": ["X-Goog-Channel-ID", "X-Goog-Resource-ID", "X-Goog-Resource-State", "X-Goog-Message-Number"]}),
        );
    };
    let (Ok(number), true) = (
        number.trim().parse::<i64>(),
        matches!(resource_state, "sync" | "exists" | "not_exists"),
    ) else {
        count(&state, "malformed");
        return refusal(
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            "This notification's message number or resource state is not valid.",
            json!({}),
        );
    };
    let channel = match store::channel(&state.db, channel_id).await {
        Ok(Some(channel)) => channel,
        Ok(None) => {
            tracing::warn!(
                security = true,
                "push notification for an unknown channel refused"
            );
            return not_found(&state, "unknown_channel");
        }
        Err(err) => return unavailable(&state, &err),
    };
    let given = token_hash(header_text(&headers, "x-goog-channel-token").unwrap_or_default());
    let token_ok: bool = given.as_bytes().ct_eq(channel.token_hash.as_bytes()).into();
    let resource_ok = channel
        .google_resource_id
        .as_deref()
        .is_none_or(|stored| stored.is_empty() || stored == resource_id);
    let daily = |counter| ops_stats::record(&state.db, &channel.tenant_id, counter, 1);
    if !token_ok || !resource_ok {
        tracing::warn!(security = true, channel_id = %channel.id, tenant_id = %channel.tenant_id,
            "push notification with a wrong channel token or resource id refused");
        daily(Counter::WebhooksRefused).await;
        return not_found(&state, "bad_token");
    }
    if channel.status == "stopped" {
        daily(Counter::WebhooksRefused).await;
        return not_found(&state, "stopped_channel");
    }
    if resource_state == "sync" {
        count(&state, "sync");
        daily(Counter::WebhooksSync).await;
        return StatusCode::OK.into_response();
    }
    match record(&state, &channel, number, resource_state).await {
        Ok(true) => {
            count(&state, "accepted");
            daily(Counter::WebhooksAccepted).await;
            StatusCode::OK.into_response()
        }
        Ok(false) => {
            count(&state, "duplicate");
            daily(Counter::WebhooksDuplicate).await;
            StatusCode::OK.into_response()
        }
        Err(err) => {
            daily(Counter::WebhookErrors).await;
            unavailable(&state, &err)
        }
    }
}

/// Stores the receipt and enqueues the calendar's sync in one transaction; false for a
/// duplicate.
async fn record(
    state: &SyncState,
    channel: &store::ChannelRow,
    number: i64,
    resource_state: &str,
) -> Result<bool, DbError> {
    let mut tx = state.db.begin_write().await?;
    if !store::insert_receipt(&mut tx, &channel.id, number, resource_state).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    let debounce =
        Duration::milliseconds(i64::try_from(state.config.sync.debounce_ms).unwrap_or(250));
    let job = sync_job(&channel.tenant_id, &channel.calendar_id, debounce);
    state.jobs.enqueue_in(&mut tx, job).await?;
    tx.commit().await?;
    state.jobs.notify_workers();
    Ok(true)
}
