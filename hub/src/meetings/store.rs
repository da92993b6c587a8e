//! The SQL of meetings: the one insert, confirmation, updates, the change log (with its
//! outbox event) and the queries of the list and conflict checks. Every function takes the
//! tenant id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::{ActorType, ChangeType, MeetingStatus};
use sqlx::Row;

use super::{
    MeetingError,
    events::{MEETING_CHANGED_VERSION, MeetingChanged},
    model::{Meeting, WriteState},
    recover,
    recurrence::Occurrence,
};
use crate::{
    db::{Db, DbError, Tx, dialect, new_id, timestamp},
    jobs::{Queue, outbox},
    text::zulu,
};

/// A meeting query with the given clause; static text, as sqlx requires.
macro_rules! select_meetings {
    ($filter:literal) => {
        concat!(
            "SELECT id, tenant_id, resource_id, title, description, start_at, end_at, time_zone, status, \
             write_state, created_by_type, created_by, source, organizer_email, participants, location, meeting_link, \
             recurrence, series_end_at, metadata, calendar_id, connection_owner, google_event_id, etag, ical_uid, sequence, \
             google_updated, checked_in_at, cancel_reason, created_at, updated_at, last_sync_time FROM meetings ",
            $filter
        )
    };
}

pub(crate) use select_meetings;

/// Something that occupies a resource for a while.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    /// The meeting, or None for a hold of an unknown meeting.
    pub meeting_id: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// The occupied interval.
    pub slot: Occurrence,
}

/// Who changed something, for the change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeActor {
    /// USER, AI, DEVICE, SYSTEM, EXTERNAL.
    pub actor_type: ActorType,
    /// Their id, if any.
    pub actor_id: Option<String>,
}

/// Locks the resource's row for the rest of the transaction, so two bookings of one resource
/// check and write one after the other.
pub async fn lock_resource(
    tx: &mut Tx,
    backend: crate::db::Backend,
    tenant_id: &str,
    resource_id: &str,
) -> Result<(), DbError> {
    sqlx::query(dialect::lock_resource(backend))
        .bind(tenant_id)
        .bind(resource_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(())
}

/// What occupies `resource_id` during `[from, to)`: meetings that hold their slot (recurring
/// ones expanded) and unexpired holds, except those of `except_meeting`.
pub async fn busy(
    tx: &mut Tx,
    tenant_id: &str,
    resource_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except_meeting: Option<&str>,
) -> Result<Vec<Busy>, MeetingError> {
    let except = except_meeting.unwrap_or_default();
    let rows = sqlx::query(select_meetings!(
        "WHERE tenant_id = $1 AND resource_id = $2 AND status IN ('SCHEDULED', 'ATTENDED') AND id <> $3 \
           AND start_at < $4 AND (end_at > $5 OR (recurrence IS NOT NULL AND (series_end_at IS NULL OR series_end_at > $5)))"
    ))
    .bind(tenant_id)
    .bind(resource_id)
    .bind(except)
    .bind(timestamp(to))
    .bind(timestamp(from))
    .fetch_all(&mut **tx)
    .await?;
    let mut found = Vec::new();
    for row in &rows {
        let meeting = Meeting::from_row(row)?;
        for slot in meeting.occurrences(from, to) {
            found.push(Busy {
                meeting_id: Some(meeting.id.clone()),
                title: Some(meeting.title.clone()),
                slot,
            });
        }
    }
    let holds = sqlx::query(
        "SELECT meeting_id, start_at, end_at FROM slot_holds \
         WHERE tenant_id = $1 AND resource_id = $2 AND meeting_id <> $3 AND expires_at > $4 AND start_at < $5 AND end_at > $6",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .bind(except)
    .bind(timestamp(Utc::now()))
    .bind(timestamp(to))
    .bind(timestamp(from))
    .fetch_all(&mut **tx)
    .await?;
    for row in &holds {
        let start: String = row.try_get("start_at")?;
        let end: String = row.try_get("end_at")?;
        found.push(Busy {
            meeting_id: Some(row.try_get("meeting_id")?),
            title: None,
            slot: Occurrence {
                start: crate::db::parse_timestamp(&start)?,
                end: crate::db::parse_timestamp(&end)?,
            },
        });
    }
    found.sort_by_key(|b| b.slot.start);
    Ok(found)
}

/// Inserts `meeting` as a reservation (pending, with none of Google's facts yet) and its
/// recovery job, in the caller's transaction.
pub async fn insert_pending(
    tx: &mut Tx,
    queue: &Queue,
    meeting: &Meeting,
    idempotency_key: Option<&str>,
) -> Result<(), MeetingError> {
    let now = Utc::now();
    let reservation = Meeting {
        write_state: WriteState::Pending,
        etag: None,
        ical_uid: None,
        sequence: 0,
        google_updated: None,
        checked_in_at: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        last_sync_time: None,
        ..meeting.clone()
    };
    if !insert(tx, &reservation, idempotency_key).await? {
        return Err(DbError::Conflict("the calendar already holds this event".into()).into());
    }
    queue.enqueue_in(tx, recover::job(meeting)).await?;
    Ok(())
}

/// The one insert of a meeting row, every column from `meeting`. False when the calendar
/// already holds a meeting for the same Google event (sync imported it meanwhile). A reused
/// idempotency key is a [`DbError::Conflict`].
pub async fn insert(
    tx: &mut Tx,
    meeting: &Meeting,
    idempotency_key: Option<&str>,
) -> Result<bool, MeetingError> {
    let inserted = sqlx::query(
        "INSERT INTO meetings (id, tenant_id, resource_id, title, description, start_at, end_at, time_zone, status, write_state, \
             created_by_type, created_by, source, organizer_email, participants, location, meeting_link, recurrence, series_end_at, \
             metadata, calendar_id, connection_owner, google_event_id, etag, ical_uid, sequence, google_updated, idempotency_key, \
             created_at, updated_at, last_sync_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, \
             $25, $26, $27, $28, $29, $30, $31) \
         ON CONFLICT (tenant_id, calendar_id, google_event_id) DO NOTHING",
    )
    .bind(&meeting.id)
    .bind(&meeting.tenant_id)
    .bind(meeting.resource_id.as_deref())
    .bind(&meeting.title)
    .bind(meeting.description.as_deref())
    .bind(timestamp(meeting.start))
    .bind(timestamp(meeting.end))
    .bind(&meeting.time_zone)
    .bind(meeting.status.as_str())
    .bind(meeting.write_state.as_str())
    .bind(meeting.created_by_type.as_str())
    .bind(&meeting.created_by)
    .bind(meeting.source.as_str())
    .bind(meeting.organizer_email.as_deref())
    .bind(json!(meeting.participants).to_string())
    .bind(meeting.location.as_deref())
    .bind(meeting.meeting_link.as_deref())
    .bind(meeting.recurrence.as_ref().map(|r| json!(r).to_string()))
    .bind(meeting.series_end.map(timestamp))
    .bind(meeting.metadata.to_string())
    .bind(&meeting.calendar_id)
    .bind(&meeting.connection_owner)
    .bind(&meeting.google_event_id)
    .bind(meeting.etag.as_deref())
    .bind(meeting.ical_uid.as_deref())
    .bind(meeting.sequence)
    .bind(meeting.google_updated.as_deref())
    .bind(idempotency_key)
    .bind(timestamp(meeting.created_at))
    .bind(timestamp(meeting.updated_at))
    .bind(meeting.last_sync_time.map(timestamp))
    .execute(&mut **tx)
    .await
    .map_err(DbError::classify)?;
    Ok(inserted.rows_affected() == 1)
}

/// Google's view of an event we wrote, as stored beside the meeting.
#[derive(Debug, Clone, Default)]
pub struct GoogleFacts {
    /// ETag.
    pub etag: Option<String>,
    /// iCalUID.
    pub ical_uid: Option<String>,
    /// Sequence.
    pub sequence: i64,
    /// Google's `updated`.
    pub updated: Option<String>,
    /// Organizer address.
    pub organizer_email: Option<String>,
    /// Meet link Google made, if any.
    pub hangout_link: Option<String>,
    /// Attendees' response statuses by address.
    pub responses: Vec<(String, String)>,
}

/// Confirms a pending meeting with what Google answered, logs CREATED and emits the outbox
/// event, all in one transaction. False if the row was no longer pending (recovered meanwhile).
pub async fn confirm_created(
    db: &Db,
    queue: &Queue,
    meeting: &Meeting,
    facts: &GoogleFacts,
    actor: &ChangeActor,
) -> Result<bool, MeetingError> {
    let mut tx = db.begin_write().await?;
    let now = Utc::now();
    let updated = sqlx::query(
        "UPDATE meetings SET write_state = 'confirmed', etag = $1, ical_uid = $2, sequence = $3, google_updated = $4, \
             organizer_email = COALESCE(organizer_email, $5), meeting_link = COALESCE(meeting_link, $6), updated_at = $7, last_sync_time = $7 \
         WHERE tenant_id = $8 AND id = $9 AND write_state = 'pending'",
    )
    .bind(facts.etag.as_deref())
    .bind(facts.ical_uid.as_deref())
    .bind(facts.sequence)
    .bind(facts.updated.as_deref())
    .bind(facts.organizer_email.as_deref())
    .bind(facts.hangout_link.as_deref())
    .bind(timestamp(now))
    .bind(&meeting.tenant_id)
    .bind(&meeting.id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    log_created(&mut tx, queue, meeting, actor).await?;
    tx.commit().await?;
    queue.notify_workers();
    Ok(true)
}

/// One change of a meeting, as the change log and its event record it.
pub struct LoggedChange<'a> {
    /// The meeting after the change.
    pub meeting: &'a Meeting,
    /// The resource it held before (the same as now unless it moved rooms; None when created).
    pub resource_before: Option<&'a str>,
    /// What happened.
    pub change: ChangeType,
    /// Who did it.
    pub actor: &'a ChangeActor,
    /// The change-log row's `diff`.
    pub diff: Value,
}

impl<'a> LoggedChange<'a> {
    /// The change from `before` to `after`: its diff is [`Meeting::diff`], the resource left is
    /// `before`'s.
    pub fn between(
        before: &'a Meeting,
        after: &'a Meeting,
        change: ChangeType,
        actor: &'a ChangeActor,
    ) -> Self {
        LoggedChange {
            meeting: after,
            resource_before: before.resource_id.as_deref(),
            change,
            actor,
            diff: Value::Object(before.diff(after)),
        }
    }
}

/// Logs the creation of a meeting (with a snapshot of what was booked as its diff).
pub async fn log_created(
    tx: &mut Tx,
    queue: &Queue,
    meeting: &Meeting,
    actor: &ChangeActor,
) -> Result<String, MeetingError> {
    let diff = json!({
        "title": meeting.title,
        "start": zulu(meeting.start),
        "end": zulu(meeting.end),
        "resource_id": meeting.resource_id,
    });
    let change = LoggedChange {
        meeting,
        resource_before: None,
        change: ChangeType::Created,
        actor,
        diff,
    };
    log_change(tx, queue, change).await
}

/// The one writer of the change log: the row and its [`MeetingChanged`] event, in the caller's
/// transaction.
pub async fn log_change(
    tx: &mut Tx,
    queue: &Queue,
    logged: LoggedChange<'_>,
) -> Result<String, MeetingError> {
    let change_id = new_id();
    let meeting = logged.meeting;
    let at = Utc::now();
    sqlx::query(
        "INSERT INTO meeting_changes (id, tenant_id, meeting_id, change_type, actor_type, actor_id, at, diff) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&change_id)
    .bind(&meeting.tenant_id)
    .bind(&meeting.id)
    .bind(logged.change.as_str())
    .bind(logged.actor.actor_type.as_str())
    .bind(logged.actor.actor_id.as_deref())
    .bind(timestamp(at))
    .bind(logged.diff.to_string())
    .execute(&mut **tx)
    .await?;
    let event = MeetingChanged {
        version: MEETING_CHANGED_VERSION,
        meeting_id: meeting.id.clone(),
        change_id: change_id.clone(),
        change_type: logged.change,
        actor: logged.actor.clone(),
        resource_after: meeting.resource_id.clone(),
        resource_before: logged.resource_before.map(str::to_string),
        at: Some(at),
    };
    outbox::emit_typed(queue, tx, &meeting.tenant_id, &event).await?;
    Ok(change_id)
}

/// Deletes a reservation that never reached Google (or was refused there).
pub async fn drop_pending(db: &Db, tenant_id: &str, meeting_id: &str) -> Result<(), MeetingError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "DELETE FROM meetings WHERE tenant_id = $1 AND id = $2 AND write_state = 'pending'",
    )
    .bind(tenant_id)
    .bind(meeting_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A confirmed meeting of the tenant.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> Result<Meeting, MeetingError> {
    let row = sqlx::query(select_meetings!(
        "WHERE tenant_id = $1 AND id = $2 AND write_state = 'confirmed'"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(MeetingError::NotFound)?;
    Ok(Meeting::from_row(&row)?)
}

/// A meeting of the tenant in any write state (recovery).
pub async fn get_any(db: &Db, tenant_id: &str, id: &str) -> Result<Option<Meeting>, MeetingError> {
    let row = sqlx::query(select_meetings!("WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(Meeting::from_row).transpose()?)
}

/// The meeting an earlier request with this idempotency key created, if any.
pub async fn by_idempotency_key(
    db: &Db,
    tenant_id: &str,
    actor_id: &str,
    key: &str,
) -> Result<Option<Meeting>, MeetingError> {
    let row = sqlx::query(select_meetings!(
        "WHERE tenant_id = $1 AND created_by = $2 AND idempotency_key = $3"
    ))
    .bind(tenant_id)
    .bind(actor_id)
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(Meeting::from_row).transpose()?)
}

/// Holds `slot` of a resource for a meeting being moved, for a few minutes.
pub async fn insert_hold(
    tx: &mut Tx,
    meeting: &Meeting,
    resource_id: &str,
    slot: Occurrence,
) -> Result<(), MeetingError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO slot_holds (id, tenant_id, resource_id, meeting_id, start_at, end_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&meeting.tenant_id)
    .bind(resource_id)
    .bind(&meeting.id)
    .bind(timestamp(slot.start))
    .bind(timestamp(slot.end))
    .bind(timestamp(Utc::now() + recover::RECOVER_AFTER))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Releases the holds of a meeting.
pub async fn release_holds(db: &Db, tenant_id: &str, meeting_id: &str) -> Result<(), MeetingError> {
    sqlx::query("DELETE FROM slot_holds WHERE tenant_id = $1 AND meeting_id = $2")
        .bind(tenant_id)
        .bind(meeting_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Stores a changed meeting with its Google facts, logs the change (the [`Meeting::diff`] of
/// `before` and `meeting`), emits the event and releases the meeting's holds — in one
/// transaction.
pub async fn save_change(
    db: &Db,
    queue: &Queue,
    before: &Meeting,
    meeting: &Meeting,
    change: ChangeType,
    actor: &ChangeActor,
) -> Result<(), MeetingError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE meetings SET resource_id = $1, title = $2, description = $3, start_at = $4, end_at = $5, time_zone = $6, \
             status = $7, participants = $8, location = $9, meeting_link = $10, calendar_id = $11, connection_owner = $12, \
             etag = $13, sequence = $14, google_updated = $15, cancel_reason = $16, checked_in_at = $17, updated_at = $18, \
             last_sync_time = $18, series_end_at = $19, write_intent_until = NULL \
         WHERE tenant_id = $20 AND id = $21",
    )
    .bind(meeting.resource_id.as_deref())
    .bind(&meeting.title)
    .bind(meeting.description.as_deref())
    .bind(timestamp(meeting.start))
    .bind(timestamp(meeting.end))
    .bind(&meeting.time_zone)
    .bind(meeting.status.as_str())
    .bind(json!(meeting.participants).to_string())
    .bind(meeting.location.as_deref())
    .bind(meeting.meeting_link.as_deref())
    .bind(&meeting.calendar_id)
    .bind(&meeting.connection_owner)
    .bind(meeting.etag.as_deref())
    .bind(meeting.sequence)
    .bind(meeting.google_updated.as_deref())
    .bind(meeting.cancel_reason.as_deref())
    .bind(meeting.checked_in_at.map(timestamp))
    .bind(timestamp(Utc::now()))
    .bind(meeting.series_end.map(timestamp))
    .bind(&meeting.tenant_id)
    .bind(&meeting.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM slot_holds WHERE tenant_id = $1 AND meeting_id = $2")
        .bind(&meeting.tenant_id)
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    log_change(
        &mut tx,
        queue,
        LoggedChange::between(before, meeting, change, actor),
    )
    .await?;
    tx.commit().await?;
    queue.notify_workers();
    Ok(())
}

/// Filters of the meeting list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Overlapping from.
    pub from: Option<DateTime<Utc>>,
    /// Overlapping until.
    pub to: Option<DateTime<Utc>>,
    /// Resource.
    pub resource_id: Option<String>,
    /// Status.
    pub status: Option<MeetingStatus>,
    /// A normalized address that takes part in or organizes the meeting.
    pub participant: Option<String>,
    /// AI or HUMAN.
    pub created_by_type: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Continue after (start, id).
    pub after: Option<(String, String)>,
}

/// A page of meetings ordered by start then id, and whether more follow.
pub async fn list(
    db: &Db,
    tenant_id: &str,
    filter: &ListFilter,
) -> Result<(Vec<Meeting>, bool), MeetingError> {
    let far_past = "0000-01-01T00:00:00.000000Z".to_string();
    let far_future = "9999-12-31T23:59:59.999999Z".to_string();
    let (after_start, after_id) = filter
        .after
        .clone()
        .unwrap_or_else(|| (far_past.clone(), String::new()));
    let rows = sqlx::query(select_meetings!(
        "WHERE tenant_id = $1 AND write_state = 'confirmed' \
           AND start_at < $2 AND (end_at > $3 OR (recurrence IS NOT NULL AND (series_end_at IS NULL OR series_end_at > $3))) \
           AND ($4 = '' OR resource_id = $4) AND ($5 = '' OR status = $5) AND ($6 = '' OR created_by_type = $6) \
           AND (start_at > $7 OR (start_at = $7 AND id > $8)) \
           AND ($10 = '' OR organizer_email = $10 OR participants LIKE $11 ESCAPE '!') \
         ORDER BY start_at, id LIMIT $9"
    ))
    .bind(tenant_id)
    .bind(filter.to.map_or(far_future, timestamp))
    .bind(filter.from.map_or(far_past, timestamp))
    .bind(filter.resource_id.clone().unwrap_or_default())
    .bind(filter.status.map(|s| s.as_str().to_string()).unwrap_or_default())
    .bind(filter.created_by_type.clone().unwrap_or_default())
    .bind(after_start)
    .bind(after_id)
    .bind(i64::from(filter.limit) + 1)
    .bind(filter.participant.clone().unwrap_or_default())
    .bind(participant_pattern(filter.participant.as_deref()))
    .fetch_all(db.pool())
    .await?;
    let mut meetings = rows
        .iter()
        .map(Meeting::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let more = meetings.len() > filter.limit as usize;
    meetings.truncate(filter.limit as usize);
    Ok((meetings, more))
}

/// The LIKE pattern that finds an address in the stored participants JSON
/// (`[{"email":"…",…}]`, written by serde_json without spaces); `!` escapes LIKE's wildcards.
fn participant_pattern(email: Option<&str>) -> String {
    let Some(email) = email else {
        return String::new();
    };
    let escaped: String = email
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '!' => vec!['!', c],
            other => vec![other],
        })
        .collect();
    format!("%\"email\":\"{escaped}\"%")
}

/// The change log of a meeting, oldest first.
pub async fn changes(
    db: &Db,
    tenant_id: &str,
    meeting_id: &str,
) -> Result<Vec<Value>, MeetingError> {
    let rows = sqlx::query(
        "SELECT id, change_type, actor_type, actor_id, at, diff FROM meeting_changes \
         WHERE tenant_id = $1 AND meeting_id = $2 ORDER BY at, id",
    )
    .bind(tenant_id)
    .bind(meeting_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let diff: String = row.try_get("diff")?;
            let at: String = row.try_get("at")?;
            Ok(json!({
                "id": row.try_get::<String, _>("id")?,
                "change_type": row.try_get::<String, _>("change_type")?,
                "actor_type": row.try_get::<String, _>("actor_type")?,
                "actor_id": row.try_get::<Option<String>, _>("actor_id")?,
                "at": zulu(crate::db::parse_timestamp(&at)?),
                "diff": serde_json::from_str::<Value>(&diff).unwrap_or(Value::Null),
            }))
        })
        .collect::<Result<Vec<_>, DbError>>()
        .map_err(MeetingError::from)
}
