//! Availability: the busy time of a resource (its local bookings and holds, and Google's
//! free/busy of its calendar) and of participants who connected their own calendar, and the
//! earliest free slots inside the tenant's working hours. The same search answers `free-slots`
//! and the proposal of a CONFLICT.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::{MeetingError, Meetings, recurrence::Occurrence, slots, store};
use crate::{
    auth::store as users,
    connections::{Connection, Owner},
    google::{Google, GoogleError, scopes},
    resources::Resource,
    settings::TenantSettings,
    text::{parse_rfc3339, zulu},
};

/// How far ahead a booking is checked against Google's free/busy and held.
pub const FREEBUSY_DAYS: i64 = 90;

/// A free-slot question.
#[derive(Debug, Clone)]
pub struct SlotQuery {
    /// The resource that must be free.
    pub resource: Option<Resource>,
    /// Participants' addresses; CORBI users with a connected calendar must be free too.
    pub participants: Vec<String>,
    /// From.
    pub from: DateTime<Utc>,
    /// Until.
    pub to: DateTime<Utc>,
    /// Slot length.
    pub duration: Duration,
    /// Zone of the working hours.
    pub zone: Tz,
    /// How many slots.
    pub limit: usize,
    /// A meeting whose own bookings do not count as busy (the one being booked or moved).
    pub except_meeting: Option<String>,
    /// Whether that meeting is in Google already (being moved), so its current slot in
    /// Google's free/busy is its own and counts as free.
    pub moving: bool,
}

/// The busy time of the resource (local bookings and Google) and of participants who are
/// CORBI users with a connected calendar, during `[from, to)`.
pub async fn busy_time(
    state: &Meetings,
    tenant_id: &str,
    query: &SlotQuery,
) -> Result<Vec<Occurrence>, MeetingError> {
    let mut busy = Vec::new();
    if let Some(resource) = &query.resource {
        let mut tx = state.db.pool().begin().await?;
        let local = store::busy(
            &mut tx,
            tenant_id,
            &resource.id,
            query.from,
            query.to,
            query.except_meeting.as_deref(),
        )
        .await?;
        tx.commit().await?;
        busy.extend(local.into_iter().map(|b| b.slot));
        let connection = state
            .google
            .tenant_connection(tenant_id, &[scopes::FREEBUSY])
            .await?;
        let mut google = google_busy(
            &state.google,
            &connection,
            &resource.calendar_id,
            query.from,
            query.to,
        )
        .await?;
        if let Some(except) = query.except_meeting.as_ref().filter(|_| query.moving)
            && let Some(moving) = store::get_any(&state.db, tenant_id, except).await?
        {
            let own = moving.occurrences(query.from, query.to);
            google = slots::subtract(&google, &own);
        }
        busy.extend(google);
    }
    for email in &query.participants {
        busy.extend(participant_busy(state, tenant_id, email, query.from, query.to).await?);
    }
    Ok(slots::merge(busy))
}

async fn participant_busy(
    state: &Meetings,
    tenant_id: &str,
    email: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, MeetingError> {
    let Ok(user) = users::user_by_email(&state.db, tenant_id, email).await else {
        return Ok(Vec::new());
    };
    let Ok(connection) = state
        .google
        .connection(tenant_id, &Owner::User(user.id), &[scopes::FREEBUSY])
        .await
    else {
        return Ok(Vec::new());
    };
    google_busy(
        &state.google,
        &connection,
        &connection.account_email.clone(),
        from,
        to,
    )
    .await
}

/// The earliest free slots for a query, inside the tenant's working hours.
pub async fn find_free_slots(
    state: &Meetings,
    tenant_id: &str,
    settings: &TenantSettings,
    query: &SlotQuery,
) -> Result<Vec<Occurrence>, MeetingError> {
    let busy = busy_time(state, tenant_id, query).await?;
    Ok(slots::free_slots(
        &busy,
        query.from,
        query.to,
        query.duration,
        query.zone,
        settings,
        query.limit,
    ))
}

pub(super) async fn google_busy(
    google: &Google,
    connection: &Connection,
    calendar_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, MeetingError> {
    let answer = google
        .freebusy(connection, &zulu(from), &zulu(to), &[calendar_id])
        .await?;
    let calendar = answer
        .calendars
        .get(calendar_id)
        .cloned()
        .unwrap_or_default();
    if !calendar.errors.is_empty() {
        return Err(GoogleError::PermissionDenied(format!(
            "free/busy of {calendar_id} is not readable"
        ))
        .into());
    }
    Ok(calendar
        .busy
        .iter()
        .filter_map(|b| {
            Some(Occurrence {
                start: parse_rfc3339(&b.start)?,
                end: parse_rfc3339(&b.end)?,
            })
        })
        .collect())
}
