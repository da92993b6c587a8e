//! Status changes after booking — check-in, NO_SHOW, release — as conditional updates, so a
//! late check-in racing the no-show sweep has exactly one outcome; and the queries the sweep
//! and the tablets ask about them. Each change is logged through [`store::log_change`], like
//! every other.

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::{ChangeType, MeetingStatus};

use super::{
    MeetingError,
    model::Meeting,
    store::{self, ChangeActor, GoogleFacts, LoggedChange, select_meetings},
};
use crate::{
    db::{Db, timestamp},
    jobs::Queue,
    text::zulu,
};

/// A status change that only happens if the meeting is still in one of `from` (and not
/// released): check-in, no-show, release. Writes the change log and the outbox event in the
/// same transaction; false when another writer got there first.
pub struct Transition<'a> {
    /// The meeting as last read.
    pub meeting: &'a Meeting,
    /// Statuses it may leave.
    pub from: &'a [MeetingStatus],
    /// The new status.
    pub to: MeetingStatus,
    /// When someone checked in (ATTENDED).
    pub checked_in_at: Option<DateTime<Utc>>,
    /// When the room was given back (auto-release).
    pub released_at: Option<DateTime<Utc>>,
    /// Google facts after the release shortened the event.
    pub facts: Option<&'a GoogleFacts>,
    /// The change-log row.
    pub change: ChangeType,
    /// Who did it.
    pub actor: &'a ChangeActor,
}

/// Applies a [`Transition`].
pub async fn transition(db: &Db, queue: &Queue, t: Transition<'_>) -> Result<bool, MeetingError> {
    let mut tx = db.begin_write().await?;
    let allowed: Vec<&str> = t.from.iter().map(|s| s.as_str()).collect();
    let updated = sqlx::query(
        "UPDATE meetings SET status = $1, checked_in_at = COALESCE($2, checked_in_at), released_at = COALESCE($3, released_at), \
             etag = COALESCE($4, etag), sequence = COALESCE($5, sequence), google_updated = COALESCE($6, google_updated), updated_at = $7 \
         WHERE tenant_id = $8 AND id = $9 AND released_at IS NULL AND (status = $10 OR status = $11 OR status = $12)",
    )
    .bind(t.to.as_str())
    .bind(t.checked_in_at.map(timestamp))
    .bind(t.released_at.map(timestamp))
    .bind(t.facts.and_then(|f| f.etag.clone()))
    .bind(t.facts.map(|f| f.sequence))
    .bind(t.facts.and_then(|f| f.updated.clone()))
    .bind(timestamp(Utc::now()))
    .bind(&t.meeting.tenant_id)
    .bind(&t.meeting.id)
    .bind(allowed.first().copied().unwrap_or_default())
    .bind(allowed.get(1).copied().unwrap_or_default())
    .bind(allowed.get(2).copied().unwrap_or_default())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    let mut diff = json!({"status": {"from": t.meeting.status, "to": t.to}});
    if let Some(at) = t.checked_in_at {
        diff["checked_in_at"] = json!(zulu(at));
    }
    if let Some(at) = t.released_at {
        diff["released_at"] = json!(zulu(at));
    }
    let logged = LoggedChange {
        meeting: t.meeting,
        resource_before: t.meeting.resource_id.as_deref(),
        change: t.change,
        actor: t.actor,
        diff,
    };
    store::log_change(&mut tx, queue, logged).await?;
    tx.commit().await?;
    queue.notify_workers();
    Ok(true)
}

/// Whether (and when) a meeting's resource was given back by auto-release.
pub async fn released_at(
    db: &Db,
    tenant_id: &str,
    meeting_id: &str,
) -> Result<Option<DateTime<Utc>>, MeetingError> {
    let value: Option<String> =
        sqlx::query_scalar("SELECT released_at FROM meetings WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(meeting_id)
            .fetch_optional(db.pool())
            .await?
            .flatten();
    Ok(value
        .as_deref()
        .map(crate::db::parse_timestamp)
        .transpose()?)
}

/// Single (non-recurring) confirmed meetings of a tenant that are still SCHEDULED and started
/// at or before `started_by`: what the no-show sweep looks at.
pub async fn started_unattended(
    db: &Db,
    tenant_id: &str,
    started_by: DateTime<Utc>,
) -> Result<Vec<Meeting>, MeetingError> {
    let rows = sqlx::query(select_meetings!(
        "WHERE tenant_id = $1 AND status = 'SCHEDULED' AND write_state = 'confirmed' AND recurrence IS NULL \
           AND released_at IS NULL AND start_at <= $2 ORDER BY start_at LIMIT 500"
    ))
    .bind(tenant_id)
    .bind(timestamp(started_by))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(Meeting::from_row)
        .collect::<Result<Vec<_>, _>>()?)
}

/// Ids of a resource's meetings in `[from, to)` whose room was given back by auto-release (the
/// tablet shows them as RELEASED).
pub async fn released_ids(
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>, MeetingError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM meetings WHERE tenant_id = $1 AND resource_id = $2 AND released_at IS NOT NULL \
           AND start_at < $3 AND end_at > $4",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .bind(timestamp(to))
    .bind(timestamp(from))
    .fetch_all(db.pool())
    .await?;
    Ok(ids.into_iter().collect())
}
