//! How meetings used their resources, for the insights figures: a narrow read of the meetings
//! overlapping a range (only the columns the figures need, participants counted by the
//! database) and each one's occurrences. Insights never reads this module's tables itself.

use chrono::{DateTime, Utc};
use shared::MeetingStatus;
use sqlx::Row;

use super::{
    MeetingError,
    recurrence::{Occurrence, Series},
};
use crate::db::{Db, dialect, parse_timestamp, timestamp};

/// One meeting as the usage figures see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The meeting.
    pub id: String,
    /// The room or device it booked.
    pub resource_id: String,
    /// Start (of the first occurrence, for a series).
    pub start: DateTime<Utc>,
    /// End (exclusive) of that occurrence, as booked.
    pub end: DateTime<Utc>,
    /// The zone its recurrence is read in.
    pub time_zone: String,
    /// Life-cycle status.
    pub status: MeetingStatus,
    /// RRULE/EXDATE lines of a series (a cancelled occurrence is an EXDATE).
    pub recurrence: Option<Vec<String>>,
    /// When someone checked in.
    pub checked_in_at: Option<DateTime<Utc>>,
    /// When auto-release gave the room back.
    pub released_at: Option<DateTime<Utc>>,
    /// When it was cancelled (its last change), for a CANCELLED meeting.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// How many participants it lists.
    pub participants: i64,
}

impl Usage {
    /// Its occurrences overlapping `[from, to)` (one for a single meeting).
    pub fn occurrences(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Occurrence>, MeetingError> {
        let lines = self.recurrence.as_deref().unwrap_or_default();
        let series = Series {
            start: self.start,
            duration: self.end - self.start,
            zone: self.time_zone.parse().unwrap_or(chrono_tz::UTC),
            lines,
        };
        Ok(series.between(from, to, usize::MAX))
    }
}

/// The tenant's confirmed meetings on a resource overlapping `[from, to)`.
pub async fn overlapping(
    db: &Db,
    tenant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Usage>, MeetingError> {
    let rows = sqlx::query(dialect::meeting_usage(db.backend()))
        .bind(tenant_id)
        .bind(timestamp(to))
        .bind(timestamp(from))
        .fetch_all(db.pool())
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let status: String = row.try_get("status")?;
        let status = MeetingStatus::parse(&status).unwrap_or(MeetingStatus::Scheduled);
        let recurrence: Option<String> = row.try_get("recurrence")?;
        let start: String = row.try_get("start_at")?;
        let end: String = row.try_get("end_at")?;
        let updated: String = row.try_get("updated_at")?;
        let people: Option<i64> = row.try_get("people")?;
        found.push(Usage {
            id: row.try_get("id")?,
            resource_id: row.try_get("resource_id")?,
            start: parse_timestamp(&start)?,
            end: parse_timestamp(&end)?,
            time_zone: row.try_get("time_zone")?,
            status,
            recurrence: recurrence.and_then(|r| serde_json::from_str(&r).ok()),
            checked_in_at: optional(row, "checked_in_at")?,
            released_at: optional(row, "released_at")?,
            cancelled_at: (status == MeetingStatus::Cancelled)
                .then(|| parse_timestamp(&updated))
                .transpose()?,
            participants: people.unwrap_or(0),
        });
    }
    Ok(found)
}

fn optional(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, MeetingError> {
    let text: Option<String> = row.try_get(column)?;
    Ok(text.as_deref().map(parse_timestamp).transpose()?)
}
