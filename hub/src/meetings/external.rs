//! Google events applied to meetings: what two-way sync does with each event it lists.
//!
//! Rules, in order, for one event of a watched calendar (see [`apply_event`]):
//! - the meeting is found by (calendar, event id), else — for an event CORBI is moving here —
//!   by `extendedProperties.private.corbi_meeting_id` of the same tenant, trusted only when
//!   the event id is the meeting's and the meeting is on this calendar or being moved by
//!   CORBI (a marker anywhere else is imported as an ordinary event and logged as a security
//!   event, so a copied or forged marker never takes a meeting over);
//! - a meeting whose CORBI write is in flight (a pending reservation, or a write intent set by
//!   [`mark_writing`] before CORBI calls Google) is **deferred**: sync looks again shortly, after
//!   CORBI has stored what Google answered, so CORBI's own write is never logged twice;
//! - the same etag as stored → nothing to do (our own write coming back, or an event already
//!   applied: idempotent on calendar, event id and etag);
//! - an older `updated` (or the same `updated` and a lower `sequence`) → stale, ignored;
//! - otherwise the event's fields are compared with the meeting's: equal → only Google's facts
//!   (etag, sequence, updated) are refreshed, silently; different → the change is applied with
//!   actor EXTERNAL, one change-log row and the outbox event, in the caller's transaction;
//! - an unknown, non-cancelled event on a resource calendar is imported as a meeting with source
//!   EXTERNAL and creator type HUMAN, so it counts for conflicts from then on; on a person's own
//!   calendar only CORBI's meetings are followed, their private events are left alone.
//!
//! Recurring events: the master is a meeting with its RRULE lines. An exception of an instance
//! (an event with `recurringEventId`) adds `EXDATE` for the instance's original start to the
//! master's lines (logged as an UPDATED change of the master), so the series no longer claims
//! that slot; a moved or edited instance is kept as a meeting of its own (keyed by the
//! instance's event id, creator copied from the master). EXDATE lines added this way are kept
//! when the master itself changes later, since Google keeps exceptions apart from the master's
//! lines.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::{ActorType, ChangeType, CreatedByType, MeetingStatus, Source};

use super::{
    MeetingError,
    google_event::{Fields, instant, set_facts},
    model::{Meeting, WriteState},
    store::{self, ChangeActor, LoggedChange},
};
use crate::{
    db::{Db, Tx, new_id, timestamp},
    google::types::Event,
    jobs::Queue,
    text::parse_rfc3339,
};

/// How long a write intent keeps sync away from a meeting whose Google write CORBI is making.
const WRITE_INTENT_SECS: i64 = 60;

/// The calendar an event was listed from, and what it belongs to.
#[derive(Debug, Clone)]
pub struct CalendarScope {
    /// Tenant.
    pub tenant_id: String,
    /// Google calendar id.
    pub calendar_id: String,
    /// The resource whose calendar it is (None for a person's calendar).
    pub resource_id: Option<String>,
    /// The connection that reads and writes it (`tenant` or `user:<id>`).
    pub connection_owner: String,
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Imported as a new EXTERNAL meeting.
    Created,
    /// A meeting changed (logged with actor EXTERNAL).
    Changed(ChangeType),
    /// Only Google's facts (etag, sequence, updated) were refreshed.
    Refreshed,
    /// Already applied (same etag).
    Unchanged,
    /// Older than what is stored.
    Stale,
    /// CORBI is writing this meeting right now; look again shortly.
    Deferred,
    /// Nothing to do with it (a deletion of something never imported, an unreadable event).
    Ignored,
}

impl Applied {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Applied::Created => "created",
            Applied::Changed(ChangeType::Cancelled) => "cancelled",
            Applied::Changed(ChangeType::Rescheduled) => "rescheduled",
            Applied::Changed(_) => "updated",
            Applied::Refreshed => "refreshed",
            Applied::Unchanged => "unchanged",
            Applied::Stale => "stale",
            Applied::Deferred => "deferred",
            Applied::Ignored => "ignored",
        }
    }
}

fn external_actor() -> ChangeActor {
    ChangeActor {
        actor_type: ActorType::External,
        actor_id: None,
    }
}

/// Marks a meeting as being written to Google by CORBI (called before the Google call); the
/// mark ends when the write is stored ([`store::save_change`] clears it) or after a minute.
pub async fn mark_writing(db: &Db, tenant_id: &str, meeting_id: &str) -> Result<(), MeetingError> {
    let until = Utc::now() + chrono::Duration::seconds(WRITE_INTENT_SECS);
    sqlx::query("UPDATE meetings SET write_intent_until = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(timestamp(until))
        .bind(tenant_id)
        .bind(meeting_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Applies one listed event in the caller's transaction (see the module doc for the rules).
pub async fn apply_event(
    tx: &mut Tx,
    queue: &Queue,
    scope: &CalendarScope,
    event: &Event,
) -> Result<Applied, MeetingError> {
    let Some(event_id) = event.id.as_deref() else {
        return Ok(Applied::Ignored);
    };
    if let Some(master_id) = event.recurring_event_id.as_deref() {
        return apply_exception(tx, queue, scope, event, event_id, master_id).await;
    }
    let found = match find(tx, scope, event_id).await? {
        Some(found) => Some(found),
        None if !is_cancelled(event) => find_by_marker(tx, scope, event).await?,
        None => None,
    };
    match found {
        Some((meeting, intent)) => update_from(tx, queue, scope, event, meeting, intent).await,
        None if is_cancelled(event) => Ok(Applied::Ignored),
        // A person's own calendar: only CORBI's meetings there are ours to follow.
        None if scope.resource_id.is_none() => Ok(Applied::Ignored),
        None => import(tx, queue, scope, event, event_id, None).await,
    }
}

/// Cancels, with actor EXTERNAL, the scheduled meetings of a calendar that a full listing from
/// `since` did not contain (deleted in Google while the sync token was lost), except those
/// changed since the listing began and those that started before `since` (the listing's
/// window may not have covered them). Returns how many.
pub async fn cancel_absent(
    tx: &mut Tx,
    queue: &Queue,
    scope: &CalendarScope,
    seen: &HashSet<String>,
    listing_started: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<u64, MeetingError> {
    let rows = sqlx::query(store::select_meetings!(
        "WHERE tenant_id = $1 AND calendar_id = $2 AND status = 'SCHEDULED' AND write_state = 'confirmed' \
           AND updated_at < $3 AND start_at >= $4"
    ))
    .bind(&scope.tenant_id)
    .bind(&scope.calendar_id)
    .bind(timestamp(listing_started))
    .bind(timestamp(since))
    .fetch_all(&mut **tx)
    .await?;
    let mut cancelled = 0;
    for row in &rows {
        let meeting = Meeting::from_row(row)?;
        if seen.contains(&meeting.google_event_id) {
            continue;
        }
        let mut next = meeting.clone();
        next.status = MeetingStatus::Cancelled;
        if save(tx, queue, &meeting, &next, Some(ChangeType::Cancelled)).await? {
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

async fn find(
    tx: &mut Tx,
    scope: &CalendarScope,
    event_id: &str,
) -> Result<Option<(Meeting, bool)>, MeetingError> {
    let row = sqlx::query(store::select_meetings!(
        "WHERE tenant_id = $1 AND calendar_id = $2 AND google_event_id = $3"
    ))
    .bind(&scope.tenant_id)
    .bind(&scope.calendar_id)
    .bind(event_id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        Some(row) => {
            let meeting = Meeting::from_row(&row)?;
            let intent = intent_active(tx, &meeting).await?;
            Ok(Some((meeting, intent)))
        }
        None => Ok(None),
    }
}

async fn find_by_marker(
    tx: &mut Tx,
    scope: &CalendarScope,
    event: &Event,
) -> Result<Option<(Meeting, bool)>, MeetingError> {
    let private = event
        .extended_properties
        .as_ref()
        .map(|p| &p.private)
        .cloned()
        .unwrap_or_default();
    let (Some(meeting_id), Some(tenant_id)) = (
        private.get("corbi_meeting_id"),
        private.get("corbi_tenant_id"),
    ) else {
        return Ok(None);
    };
    if *tenant_id != scope.tenant_id
        || event.id.as_deref() != Some(&super::model::event_id_for(meeting_id))
    {
        return Ok(None);
    }
    let row = sqlx::query(store::select_meetings!("WHERE tenant_id = $1 AND id = $2"))
        .bind(&scope.tenant_id)
        .bind(meeting_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let meeting = Meeting::from_row(&row)?;
    let intent = intent_active(tx, &meeting).await?;
    // The marker is trusted on the meeting's own calendar, or on the calendar CORBI is moving
    // it to right now (a write in flight); anywhere else it is a copy or a forgery.
    let moving = intent || meeting.write_state == WriteState::Pending;
    if meeting.calendar_id != scope.calendar_id && !moving {
        tracing::warn!(
            security_event = "untrusted_marker",
            tenant_id = %scope.tenant_id,
            meeting_id = %meeting.id,
            "an event on another calendar carries this meeting's CORBI marker; \
             imported as an ordinary external event"
        );
        return Ok(None);
    }
    Ok(Some((meeting, intent)))
}

async fn intent_active(tx: &mut Tx, meeting: &Meeting) -> Result<bool, MeetingError> {
    let until: Option<String> = sqlx::query_scalar(
        "SELECT write_intent_until FROM meetings WHERE tenant_id = $1 AND id = $2",
    )
    .bind(&meeting.tenant_id)
    .bind(&meeting.id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(until.is_some_and(|u| u > timestamp(Utc::now())))
}

fn is_cancelled(event: &Event) -> bool {
    event.status.as_deref() == Some("cancelled")
}

/// Whether the event is older than what the meeting holds: an earlier `updated`, or the same
/// `updated` and a lower `sequence`.
fn is_stale(meeting: &Meeting, event: &Event) -> bool {
    let stored = meeting.google_updated.as_deref().and_then(parse_rfc3339);
    let incoming = event.updated.as_deref().and_then(parse_rfc3339);
    match (stored, incoming) {
        (Some(stored), Some(incoming)) if incoming < stored => true,
        (Some(stored), Some(incoming)) if incoming == stored => {
            event.sequence.unwrap_or(0) < meeting.sequence
        }
        _ => false,
    }
}

async fn update_from(
    tx: &mut Tx,
    queue: &Queue,
    scope: &CalendarScope,
    event: &Event,
    meeting: Meeting,
    intent: bool,
) -> Result<Applied, MeetingError> {
    if meeting.write_state == WriteState::Pending {
        return Ok(Applied::Deferred);
    }
    if meeting.etag.is_some() && meeting.etag == event.etag {
        return Ok(Applied::Unchanged);
    }
    if intent {
        return Ok(Applied::Deferred);
    }
    if is_stale(&meeting, event) {
        return Ok(Applied::Stale);
    }
    let mut next = meeting.clone();
    if is_cancelled(event) {
        next.status = MeetingStatus::Cancelled;
    } else {
        let Some(fields) = Fields::of(event, &meeting.time_zone) else {
            return Ok(Applied::Ignored);
        };
        fields.apply_to(&mut next);
        if next.status == MeetingStatus::Cancelled {
            next.status = MeetingStatus::Scheduled;
        }
        next.calendar_id = scope.calendar_id.clone();
        next.resource_id = scope.resource_id.clone();
        next.connection_owner = scope.connection_owner.clone();
    }
    set_facts(&mut next, event);
    let change = change_type(&meeting, &next);
    if !save(tx, queue, &meeting, &next, change).await? {
        return Ok(Applied::Deferred);
    }
    Ok(change.map_or(Applied::Refreshed, Applied::Changed))
}

/// The change a new version makes, or None when only Google's facts differ.
fn change_type(before: &Meeting, after: &Meeting) -> Option<ChangeType> {
    if before.diff(after).is_empty() {
        None
    } else if after.status == MeetingStatus::Cancelled && before.status != MeetingStatus::Cancelled
    {
        Some(ChangeType::Cancelled)
    } else if before.start != after.start
        || before.end != after.end
        || before.recurrence != after.recurrence
    {
        Some(ChangeType::Rescheduled)
    } else {
        Some(ChangeType::Updated)
    }
}

/// Stores `next` over `before` if nobody changed the row meanwhile (compare-and-set on the
/// etag), logging `change` with actor EXTERNAL when given. False: the row moved on; the caller
/// defers.
async fn save(
    tx: &mut Tx,
    queue: &Queue,
    before: &Meeting,
    next: &Meeting,
    change: Option<ChangeType>,
) -> Result<bool, MeetingError> {
    let now = timestamp(Utc::now());
    let updated = sqlx::query(
        "UPDATE meetings SET resource_id = $1, title = $2, description = $3, start_at = $4, end_at = $5, time_zone = $6, \
             status = $7, participants = $8, location = $9, calendar_id = $10, connection_owner = $11, etag = $12, \
             sequence = $13, google_updated = $14, recurrence = $15, series_end_at = $16, last_sync_time = $17, \
             updated_at = CASE WHEN $18 = 1 THEN $17 ELSE updated_at END \
         WHERE tenant_id = $19 AND id = $20 AND COALESCE(etag, '') = $21 AND updated_at = $22 AND write_state = 'confirmed' \
           AND (write_intent_until IS NULL OR write_intent_until < $17)",
    )
    .bind(next.resource_id.as_deref())
    .bind(&next.title)
    .bind(next.description.as_deref())
    .bind(timestamp(next.start))
    .bind(timestamp(next.end))
    .bind(&next.time_zone)
    .bind(next.status.as_str())
    .bind(json!(next.participants).to_string())
    .bind(next.location.as_deref())
    .bind(&next.calendar_id)
    .bind(&next.connection_owner)
    .bind(next.etag.as_deref())
    .bind(next.sequence)
    .bind(next.google_updated.as_deref())
    .bind(next.recurrence.as_ref().map(|r| json!(r).to_string()))
    .bind(next.series_end.map(timestamp))
    .bind(&now)
    .bind(i64::from(change.is_some()))
    .bind(&before.tenant_id)
    .bind(&before.id)
    .bind(before.etag.clone().unwrap_or_default())
    .bind(timestamp(before.updated_at))
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    if before.recurrence != next.recurrence {
        record_recurrence_problem(tx, next).await?;
    }
    if let Some(change) = change {
        let actor = external_actor();
        let logged = LoggedChange::between(before, next, change, &actor);
        store::log_change(tx, queue, logged).await?;
    }
    Ok(true)
}

/// Imports an event created in Google as a meeting with source EXTERNAL (creator: the master's
/// when it is an instance of a series CORBI knows).
async fn import(
    tx: &mut Tx,
    queue: &Queue,
    scope: &CalendarScope,
    event: &Event,
    event_id: &str,
    master: Option<&Meeting>,
) -> Result<Applied, MeetingError> {
    let Some(fields) = Fields::of(event, "UTC") else {
        return Ok(Applied::Ignored);
    };
    let creator = event
        .creator
        .as_ref()
        .and_then(|c| c.email.clone())
        .or_else(|| event.organizer.as_ref().and_then(|o| o.email.clone()))
        .unwrap_or_else(|| "google".into());
    let now = Utc::now();
    let mut meeting = Meeting {
        id: new_id(),
        tenant_id: scope.tenant_id.clone(),
        resource_id: scope.resource_id.clone(),
        title: String::new(),
        description: None,
        start: fields.start,
        end: fields.end,
        time_zone: fields.time_zone.clone(),
        status: MeetingStatus::Scheduled,
        write_state: WriteState::Confirmed,
        created_by_type: master.map_or(CreatedByType::Human, |m| m.created_by_type),
        created_by: master.map_or(creator, |m| m.created_by.clone()),
        source: master.map_or(Source::External, |m| m.source),
        organizer_email: event.organizer.as_ref().and_then(|o| o.email.clone()),
        participants: Vec::new(),
        location: None,
        meeting_link: event.hangout_link.clone(),
        recurrence: None,
        series_end: None,
        metadata: json!({}),
        calendar_id: scope.calendar_id.clone(),
        connection_owner: scope.connection_owner.clone(),
        google_event_id: event_id.to_string(),
        etag: None,
        ical_uid: event.ical_uid.clone(),
        sequence: 0,
        google_updated: None,
        checked_in_at: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        last_sync_time: Some(now),
    };
    fields.apply_to(&mut meeting);
    set_facts(&mut meeting, event);
    if !store::insert(tx, &meeting, None).await? {
        return Ok(Applied::Deferred);
    }
    record_recurrence_problem(tx, &meeting).await?;
    store::log_created(tx, queue, &meeting, &external_actor()).await?;
    Ok(Applied::Created)
}

/// An instance exception of a series: EXDATE on the master, and a moved or edited instance
/// kept as a meeting of its own.
async fn apply_exception(
    tx: &mut Tx,
    queue: &Queue,
    scope: &CalendarScope,
    event: &Event,
    event_id: &str,
    master_id: &str,
) -> Result<Applied, MeetingError> {
    let master = find(tx, scope, master_id).await?;
    let Some((master, master_intent)) = master else {
        return match find(tx, scope, event_id).await? {
            Some((meeting, intent)) => update_from(tx, queue, scope, event, meeting, intent).await,
            None if is_cancelled(event) => Ok(Applied::Ignored),
            None => import(tx, queue, scope, event, event_id, None).await,
        };
    };
    if master.write_state == WriteState::Pending || master_intent {
        return Ok(Applied::Deferred);
    }
    let excluded = exclude_original(tx, queue, &master, event).await?;
    let instance = match find(tx, scope, event_id).await? {
        Some((meeting, intent)) => update_from(tx, queue, scope, event, meeting, intent).await?,
        None if is_cancelled(event) => Applied::Ignored,
        None => import(tx, queue, scope, event, event_id, Some(&master)).await?,
    };
    Ok(match (excluded, instance) {
        (Some(applied), Applied::Ignored | Applied::Unchanged) => applied,
        (_, instance) => instance,
    })
}

/// Adds `EXDATE` for the exception's original start to the master, once.
async fn exclude_original(
    tx: &mut Tx,
    queue: &Queue,
    master: &Meeting,
    event: &Event,
) -> Result<Option<Applied>, MeetingError> {
    let Some(original) = event
        .original_start_time
        .as_ref()
        .and_then(|at| instant(at, master.zone()))
    else {
        return Ok(None);
    };
    let line = format!("EXDATE;TZID=UTC:{}", original.format("%Y%m%dT%H%M%S"));
    let mut lines = master.recurrence.clone().unwrap_or_default();
    if lines.contains(&line) {
        return Ok(None);
    }
    lines.push(line);
    let mut next = master.clone();
    next.recurrence = Some(lines);
    next.series_end = next.computed_series_end();
    if save(tx, queue, master, &next, Some(ChangeType::Updated)).await? {
        Ok(Some(Applied::Changed(ChangeType::Updated)))
    } else {
        Ok(Some(Applied::Deferred))
    }
}

/// Stores why a series read from Google cannot be expanded (or clears it): such a series
/// counts as its first occurrence only, and admins see it as a calendar warning.
async fn record_recurrence_problem(tx: &mut Tx, meeting: &Meeting) -> Result<(), MeetingError> {
    let problem = meeting.series().problem().map(|p| p.0);
    if let Some(problem) = &problem {
        tracing::warn!(meeting_id = %meeting.id, %problem,
            "a series from Google cannot be expanded; it counts as its first occurrence only");
    }
    sqlx::query("UPDATE meetings SET recurrence_error = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(problem)
        .bind(&meeting.tenant_id)
        .bind(&meeting.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A series of a calendar whose rule CORBI cannot expand.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RecurrenceWarning {
    /// The meeting.
    pub meeting_id: String,
    /// Its title.
    pub title: String,
    /// Where to see it.
    pub link: String,
    /// What could not be read; the series counts as its first occurrence only.
    pub problem: String,
}

/// The series of a calendar stored with a recurrence problem (at most `limit`).
pub async fn recurrence_warnings(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
    limit: i64,
) -> Result<Vec<RecurrenceWarning>, MeetingError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, title, recurrence_error FROM meetings \
         WHERE tenant_id = $1 AND calendar_id = $2 AND recurrence_error IS NOT NULL \
           AND status IN ('SCHEDULED', 'ATTENDED') ORDER BY start_at, id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(calendar_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title, problem)| RecurrenceWarning {
            link: format!("/api/v1/calendar/events/{id}"),
            meeting_id: id,
            title,
            problem: format!("The repeat rule cannot be read ({problem}); only its first occurrence counts as busy."),
        })
        .collect())
}
