//! The outbox: a domain event is written in the same transaction as the change it describes,
//! and becomes one job per subscribed consumer in that transaction too — so a committed change
//! always reaches its consumers, and a rolled-back one never does.
//!
//! Producers and consumers speak typed events ([`OutboxEvent`]): the producing capability owns
//! the event's type and its versions; [`DomainEvent`] is only the stored envelope.

use chrono::Utc;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::{JobError, NewJob, Queue};
use crate::db::{DbError, Tx, new_id, timestamp};

/// A typed event, owned by the capability that emits it. Its payload must stay readable by
/// the next release (new fields optional, old spellings kept), because events queued before an
/// upgrade are delivered after it.
pub trait OutboxEvent: Serialize + DeserializeOwned {
    /// The dotted type consumers subscribe to by prefix, e.g. `meeting.created`.
    fn event_type(&self) -> String;
    /// The id of what changed (a meeting, a resource).
    fn subject_id(&self) -> &str;
}

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

impl DomainEvent {
    /// The envelope of a typed event.
    pub fn of<E: OutboxEvent>(tenant_id: &str, event: &E) -> Result<DomainEvent, DbError> {
        let payload = serde_json::to_value(event)
            .map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
        Ok(DomainEvent {
            tenant_id: tenant_id.to_string(),
            event_type: event.event_type(),
            subject_id: Some(event.subject_id().to_string()),
            payload,
        })
    }
}

/// A typed event as a consumer's job receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received<E> {
    /// The outbox row's id; consumers use it as their idempotency key.
    pub event_id: String,
    /// Tenant of the change.
    pub tenant_id: String,
    /// The event.
    pub event: E,
}

/// Reads a consumer job's payload as the typed event `E`; an unreadable one is permanent (a
/// retry would read the same bytes).
pub fn receive<E: OutboxEvent>(job_payload: &Value) -> Result<Received<E>, JobError> {
    let delivery: Delivery = serde_json::from_value(job_payload.clone())
        .map_err(|e| JobError::Permanent(format!("unreadable outbox delivery: {e}")))?;
    let event = serde_json::from_value(delivery.event.payload).map_err(|e| {
        JobError::Permanent(format!(
            "unreadable {} event: {e}",
            delivery.event.event_type
        ))
    })?;
    Ok(Received {
        event_id: delivery.event_id,
        tenant_id: delivery.event.tenant_id,
        event,
    })
}

/// What a consumer's job receives as payload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    /// The outbox row's id; consumers use it as their idempotency key.
    pub event_id: String,
    /// The event.
    pub event: DomainEvent,
}

/// Records a typed event in the caller's transaction and enqueues it for every subscriber.
pub async fn emit_typed<E: OutboxEvent>(
    queue: &Queue,
    tx: &mut Tx,
    tenant_id: &str,
    event: &E,
) -> Result<String, DbError> {
    emit(queue, tx, DomainEvent::of(tenant_id, event)?).await
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
