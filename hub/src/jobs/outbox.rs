//! The outbox: a domain event is written in the same transaction as the change it describes,
//! and becomes one job per subscribed consumer in that transaction too — so a committed change
//! always reaches its consumers, and a rolled-back one never does.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{NewJob, Queue};
use crate::db::{DbError, Tx, new_id, timestamp};

/// A change other capabilities may react to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DomainEvent {
    /// Tenant of the change.
    pub tenant_id: String,
    /// Dotted type, e.g. `meeting.created`; consumers subscribe by prefix.
    pub event_type: String,
    /// The id of what changed (a meeting, a resource).
    pub subject_id: Option<String>,
    /// Event data.
    pub payload: Value,
}

/// What a consumer's job receives as payload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// The outbox row's id; consumers use it as their idempotency key.
    pub event_id: String,
    /// The event.
    pub event: DomainEvent,
}

/// Records `event` in the caller's transaction and enqueues it for every subscriber; returns
/// the event id. Call [`Queue::notify_workers`] after the commit.
pub async fn emit(queue: &Queue, tx: &mut Tx, event: DomainEvent) -> Result<String, DbError> {
    let event_id = new_id();
    sqlx::query(
        "INSERT INTO outbox_events (id, tenant_id, event_type, subject_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&event_id)
    .bind(&event.tenant_id)
    .bind(&event.event_type)
    .bind(event.subject_id.as_deref())
    .bind(event.payload.to_string())
    .bind(timestamp(Utc::now()))
    .execute(&mut **tx)
    .await?;
    let kinds: Vec<String> = queue
        .registry()
        .subscribers(&event.event_type)
        .map(str::to_string)
        .collect();
    let delivery = Delivery {
        event_id: event_id.clone(),
        event,
    };
    let payload = serde_json::to_value(&delivery).unwrap_or(Value::Null);
    for kind in kinds {
        let job = NewJob::now(&kind, Some(&delivery.event.tenant_id), payload.clone());
        queue.enqueue_in(tx, job).await?;
    }
    Ok(event_id)
}
