//! The notification log: one row per (meeting, change, channel, recipient), unique, written
//! before anything is sent. Its states are the heart of "never twice": a row leaves `pending`
//! only through a claim that is committed before the vendor is called, and a row left in
//! `sending` (its sender died or timed out after the request left) becomes `unknown`, never
//! `pending` again.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use super::Channel;
use crate::db::{Db, DbError, new_id, timestamp};

/// The columns every read selects.
macro_rules! select_log {
    ($filter:literal) => {
        concat!(
            "SELECT id, tenant_id, meeting_id, change_id, change_type, channel, recipient, state, attempts, \
             vendor_id, delivery_status, error, created_at, updated_at FROM notification_log ",
            $filter
        )
    };
}

/// The states of a row (see the migration for their meaning).
pub const STATES: [&str; 6] = ["pending", "sending", "sent", "failed", "unknown", "skipped"];

/// A log row as admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Row id (also in the Twilio status callback URL).
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The meeting.
    pub meeting_id: String,
    /// The change announced.
    pub change_id: String,
    /// CREATED, UPDATED, RESCHEDULED, CANCELLED.
    pub change_type: String,
    /// `email` or `whatsapp`.
    pub channel: String,
    /// Address (email or E.164 phone; the email for a skipped WhatsApp recipient).
    pub recipient: String,
    /// pending, sending, sent, failed, unknown, skipped.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// SendGrid `X-Message-Id` or Twilio message SID.
    pub vendor_id: Option<String>,
    /// Twilio delivery status: queued, sent, delivered, read, failed, undelivered.
    pub delivery_status: Option<String>,
    /// Why it failed, was skipped or is unknown (the vendor's words where it gave any).
    pub error: Option<String>,
    /// Recorded.
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
}

fn entry(row: &AnyRow) -> Result<Entry, DbError> {
    Ok(Entry {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        meeting_id: row.try_get("meeting_id")?,
        change_id: row.try_get("change_id")?,
        change_type: row.try_get("change_type")?,
        channel: row.try_get("channel")?,
        recipient: row.try_get("recipient")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        vendor_id: row.try_get("vendor_id")?,
        delivery_status: row.try_get("delivery_status")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Which change of which meeting, on which channel: the rows one job handles together.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Tenant.
    pub tenant_id: String,
    /// Meeting.
    pub meeting_id: String,
    /// The change-log id.
    pub change_id: String,
    /// Its type.
    pub change_type: String,
    /// The channel.
    pub channel: Channel,
}

/// A recipient to record: the address, or why it cannot be addressed.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The address (or the participant's email when skipped).
    pub recipient: String,
    /// Why it is skipped, if it is.
    pub skipped: Option<String>,
}

/// Records every planned recipient once (`pending`, or `skipped` with its reason); rows that
/// exist already are left as they are. Answers the skipped recipients that were new.
pub async fn record<'a>(
    db: &Db,
    batch: &Batch,
    planned: &'a [Planned],
) -> Result<Vec<&'a Planned>, DbError> {
    let now = timestamp(Utc::now());
    let mut tx = db.begin_write().await?;
    let mut new_skips = Vec::new();
    for plan in planned {
        let state = if plan.skipped.is_some() {
            "skipped"
        } else {
            "pending"
        };
        let inserted = sqlx::query(
            "INSERT INTO notification_log (id, tenant_id, meeting_id, change_id, change_type, channel, recipient, \
                 state, attempts, error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10) \
             ON CONFLICT (meeting_id, change_id, channel, recipient) DO NOTHING",
        )
        .bind(new_id())
        .bind(&batch.tenant_id)
        .bind(&batch.meeting_id)
        .bind(&batch.change_id)
        .bind(&batch.change_type)
        .bind(batch.channel.as_str())
        .bind(&plan.recipient)
        .bind(state)
        .bind(plan.skipped.as_deref())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 && plan.skipped.is_some() {
            new_skips.push(plan);
        }
    }
    tx.commit().await?;
    Ok(new_skips)
}

/// Marks every `pending` row of the batch failed with `reason` (the channel cannot be used:
/// missing credentials, template or sender). Answers how many.
pub async fn fail_pending(db: &Db, batch: &Batch, reason: &str) -> Result<u64, DbError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE notification_log SET state = 'failed', error = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND change_id = $4 AND channel = $5 AND state = 'pending'",
    )
    .bind(reason)
    .bind(timestamp(Utc::now()))
    .bind(&batch.tenant_id)
    .bind(&batch.change_id)
    .bind(batch.channel.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Rows left `sending` since before `stale_before`: their sender died or lost the vendor's
/// answer after the request may have left. They become `unknown` — never sent again.
pub async fn expire_stale(
    db: &Db,
    batch: &Batch,
    stale_before: DateTime<Utc>,
) -> Result<u64, DbError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE notification_log SET state = 'unknown', \
             error = 'The attempt was interrupted after the request may have reached the vendor; it is not resent.', \
             updated_at = $1 \
         WHERE tenant_id = $2 AND change_id = $3 AND channel = $4 AND state = 'sending' AND updated_at < $5",
    )
    .bind(timestamp(Utc::now()))
    .bind(&batch.tenant_id)
    .bind(&batch.change_id)
    .bind(batch.channel.as_str())
    .bind(timestamp(stale_before))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Claims the batch's `pending` rows (all, or the one of `recipient`) for one attempt
/// (`sending`, committed before the vendor is called) and answers them. Another attempt's claim
/// is never taken over.
pub async fn claim(
    db: &Db,
    batch: &Batch,
    claim: &str,
    recipient: Option<&str>,
) -> Result<Vec<Entry>, DbError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE notification_log SET state = 'sending', claim = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE tenant_id = $3 AND change_id = $4 AND channel = $5 AND state = 'pending' \
           AND ($6 = '' OR recipient = $6)",
    )
    .bind(claim)
    .bind(timestamp(Utc::now()))
    .bind(&batch.tenant_id)
    .bind(&batch.change_id)
    .bind(batch.channel.as_str())
    .bind(recipient.unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(select_log!(
        "WHERE tenant_id = $1 AND claim = $2 AND state = 'sending' ORDER BY recipient"
    ))
    .bind(&batch.tenant_id)
    .bind(claim)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter().map(entry).collect()
}

/// How many rows of the batch another attempt is sending right now.
pub async fn in_flight(db: &Db, batch: &Batch) -> Result<i64, DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM notification_log \
         WHERE tenant_id = $1 AND change_id = $2 AND channel = $3 AND state = 'sending'",
    )
    .bind(&batch.tenant_id)
    .bind(&batch.change_id)
    .bind(batch.channel.as_str())
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("n")?)
}

/// How an attempt ended, for its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The vendor accepted it.
    Sent {
        /// Its id for the message.
        vendor_id: Option<String>,
    },
    /// The vendor refused it for good.
    Failed(String),
    /// The vendor refused it for now, or it never left: may be sent again.
    Retry(String),
    /// It may have been accepted; never sent again.
    Unknown(String),
}

impl Settled {
    fn state(&self) -> &'static str {
        match self {
            Settled::Sent { .. } => "sent",
            Settled::Failed(_) => "failed",
            Settled::Retry(_) => "pending",
            Settled::Unknown(_) => "unknown",
        }
    }
}

/// Writes the outcome of the attempt `claim` onto its rows `ids`. A row a status callback
/// already proved sent is never downgraded.
pub async fn settle(
    db: &Db,
    claim: &str,
    ids: &[String],
    outcome: &Settled,
) -> Result<(), DbError> {
    let (vendor_id, error) = match outcome {
        Settled::Sent { vendor_id } => (vendor_id.as_deref(), None),
        Settled::Failed(e) | Settled::Retry(e) | Settled::Unknown(e) => (None, Some(e.as_str())),
    };
    let now = timestamp(Utc::now());
    let mut tx = db.begin_write().await?;
    for id in ids {
        sqlx::query(
            "UPDATE notification_log SET state = $1, vendor_id = COALESCE(vendor_id, $2), error = $3, updated_at = $4 \
             WHERE id = $5 AND claim = $6 AND (state = 'sending' OR ($1 = 'sent' AND state IN ('unknown', 'sent')))",
        )
        .bind(outcome.state())
        .bind(vendor_id)
        .bind(error)
        .bind(&now)
        .bind(id)
        .bind(claim)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One row by id, for the status callback (which learns the tenant from it).
pub async fn find(db: &Db, id: &str) -> Result<Option<Entry>, DbError> {
    let row = sqlx::query(select_log!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(entry).transpose()
}

/// The order of Twilio's delivery statuses: a callback that arrives late never moves a row back.
fn status_rank(status: &str) -> Option<i32> {
    match status {
        "accepted" | "queued" => Some(1),
        "sending" => Some(2),
        "sent" => Some(3),
        "delivered" => Some(4),
        "read" => Some(5),
        "undelivered" | "failed" => Some(6),
        _ => None,
    }
}

/// Whether `status` is one Twilio reports for messages.
pub fn known_status(status: &str) -> bool {
    status_rank(status).is_some()
}

/// Records a verified delivery status. The callback proves Twilio accepted the message, so a row
/// still `sending` or `unknown` becomes `sent`.
pub async fn record_delivery(
    db: &Db,
    entry: &Entry,
    message_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> Result<(), DbError> {
    let later = match (
        entry.delivery_status.as_deref().and_then(status_rank),
        status_rank(status),
    ) {
        (Some(current), Some(new)) => new >= current,
        (None, Some(_)) => true,
        (_, None) => false,
    };
    let error = error_code.map(|code| format!("Twilio reported error {code} for this message."));
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE notification_log SET \
             delivery_status = CASE WHEN $1 = 1 THEN $2 ELSE delivery_status END, \
             vendor_id = COALESCE(vendor_id, $3), \
             error = COALESCE($4, error), \
             state = CASE WHEN state IN ('sending', 'unknown') THEN 'sent' ELSE state END, \
             updated_at = $5 \
         WHERE tenant_id = $6 AND id = $7",
    )
    .bind(i32::from(later))
    .bind(status)
    .bind(message_sid)
    .bind(error)
    .bind(timestamp(Utc::now()))
    .bind(&entry.tenant_id)
    .bind(&entry.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Filters of the admin list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this state.
    pub state: Option<String>,
    /// Only this meeting.
    pub meeting_id: Option<String>,
    /// Most rows.
    pub limit: u32,
}

/// The tenant's log, newest first.
pub async fn list(db: &Db, tenant_id: &str, filter: &ListFilter) -> Result<Vec<Entry>, DbError> {
    let rows = sqlx::query(select_log!(
        "WHERE tenant_id = $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR meeting_id = $3) \
         ORDER BY created_at DESC, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(filter.state.clone().unwrap_or_default())
    .bind(filter.meeting_id.clone().unwrap_or_default())
    .bind(i64::from(filter.limit))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry).collect()
}
