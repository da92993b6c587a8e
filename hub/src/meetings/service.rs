//! Writes of meetings, in the order that keeps CORBI and Google in step (see the module doc of
//! [`super`]), and the recovery job for reservations whose writer died.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use shared::{ActorType, ChangeType, CreatedByType, MeetingStatus, Source};

use super::{
    MeetingError,
    model::{Meeting, WriteState, event_id_for, zulu},
    recurrence::Occurrence,
    slots,
    store::{self, Busy, ChangeActor, GoogleFacts},
    validate::{self, Draft, MeetingPatch, NewMeeting},
};
use crate::{
    AppState,
    auth::{
        Actor,
        policy::{self, MeetingAction, MeetingOrigin},
        store as users,
    },
    connections::{Connection, Owner},
    db::{DbError, new_id},
    google::{
        Google, GoogleError, scopes,
        types::{Attendee, Event, EventDateTime, ExtendedProperties},
    },
    jobs::{ClaimedJob, JobContext, JobError, JobHandler},
    resources::{self, Resource},
    settings::{self, TenantSettings},
};

/// How far ahead the CONFLICT proposal looks for a free slot.
const PROPOSAL_DAYS: i64 = 14;
/// How far ahead a recurring booking is checked against Google's free/busy and held.
const FREEBUSY_DAYS: i64 = 90;

/// Where a meeting's event lives.
struct Target {
    calendar_id: String,
    owner: Owner,
    resource: Option<Resource>,
}

/// The change-log actor of an API caller.
pub fn change_actor(actor: &Actor) -> ChangeActor {
    ChangeActor {
        actor_type: actor.actor_type,
        actor_id: Some(actor.id.clone()),
    }
}

fn origin(meeting: &Meeting) -> MeetingOrigin<'_> {
    MeetingOrigin {
        created_by_type: meeting.created_by_type,
        created_by: &meeting.created_by,
    }
}

fn zone_of(meeting: &Meeting) -> Tz {
    meeting.time_zone.parse().unwrap_or(chrono_tz::UTC)
}

/// Books a meeting. Returns the meeting and whether this call created it (false: an earlier
/// request with the same idempotency key did).
pub async fn create(
    state: &AppState,
    actor: &Actor,
    input: NewMeeting,
    idempotency_key: Option<&str>,
) -> Result<(Meeting, bool), MeetingError> {
    if let Some(existing) = replayed(state, actor, idempotency_key).await? {
        return Ok((existing, false));
    }
    let settings = settings::load(&state.db, &actor.tenant_id).await?;
    let draft = validate::new_meeting(input, &settings.time_zone, Utc::now())?;
    policy::may_book(actor, draft.resource_id.as_deref())?;
    let target = target_for(state, actor, draft.resource_id.as_deref(), &settings).await?;
    let connection = connection_for(&state.google, &actor.tenant_id, &target).await?;
    let meeting = new_row(state, actor, &draft, &target, &connection).await?;
    match reserve(
        state,
        &meeting,
        target.resource.as_ref(),
        idempotency_key,
        &settings,
    )
    .await
    {
        Ok(()) => {}
        Err(MeetingError::Db(DbError::Conflict(_))) if idempotency_key.is_some() => {
            let first = replayed(state, actor, idempotency_key)
                .await?
                .ok_or(MeetingError::NotFound)?;
            return Ok((first, false));
        }
        Err(other) => return Err(other),
    }
    let facts = match insert_event(state, &meeting, &target, &connection, &settings).await {
        Ok(facts) => facts,
        Err(err) => {
            store::drop_pending(&state.db, &meeting.tenant_id, &meeting.id).await?;
            return Err(err);
        }
    };
    store::confirm_created(
        &state.db,
        &state.jobs,
        &meeting,
        &facts,
        &change_actor(actor),
    )
    .await?;
    tracing::info!(meeting_id = %meeting.id, resource_id = ?meeting.resource_id, "meeting booked");
    Ok((
        store::get(&state.db, &actor.tenant_id, &meeting.id).await?,
        true,
    ))
}

/// The meeting an earlier request with the same idempotency key made, once it is confirmed.
pub async fn replayed(
    state: &AppState,
    actor: &Actor,
    key: Option<&str>,
) -> Result<Option<Meeting>, MeetingError> {
    let Some(key) = key else { return Ok(None) };
    let found = store::by_idempotency_key(&state.db, &actor.tenant_id, &actor.id, key).await?;
    Ok(found.filter(|m| m.write_state == WriteState::Confirmed))
}

async fn target_for(
    state: &AppState,
    actor: &Actor,
    resource_id: Option<&str>,
    settings: &TenantSettings,
) -> Result<Target, MeetingError> {
    if let Some(id) = resource_id {
        let resource = resources::ensure_bookable(&state.db, &actor.tenant_id, id).await?;
        return Ok(Target {
            calendar_id: resource.calendar_id.clone(),
            owner: Owner::Tenant,
            resource: Some(resource),
        });
    }
    if actor.actor_type == ActorType::User {
        let own = Owner::User(actor.id.clone());
        if let Ok(connection) = state
            .google
            .connection(&actor.tenant_id, &own, &[scopes::EVENTS])
            .await
        {
            return Ok(Target {
                calendar_id: connection.account_email,
                owner: own,
                resource: None,
            });
        }
    }
    tenant_calendar(state, &actor.tenant_id, settings).await
}

/// The tenant's default calendar for meetings without a resource (AI bookings, people without
/// a connected calendar): the configured one, else the tenant account's primary calendar.
async fn tenant_calendar(
    state: &AppState,
    tenant_id: &str,
    settings: &TenantSettings,
) -> Result<Target, MeetingError> {
    let calendar_id = match &settings.default_calendar_id {
        Some(id) => id.clone(),
        None => {
            state
                .google
                .tenant_connection(tenant_id, &[scopes::EVENTS])
                .await?
                .account_email
        }
    };
    Ok(Target {
        calendar_id,
        owner: Owner::Tenant,
        resource: None,
    })
}

async fn connection_for(
    google: &Google,
    tenant_id: &str,
    target: &Target,
) -> Result<Connection, MeetingError> {
    let needed: &[&str] = if target.resource.is_some() {
        &[scopes::EVENTS, scopes::FREEBUSY]
    } else {
        &[scopes::EVENTS]
    };
    Ok(google.connection(tenant_id, &target.owner, needed).await?)
}

async fn new_row(
    state: &AppState,
    actor: &Actor,
    draft: &Draft,
    target: &Target,
    connection: &Connection,
) -> Result<Meeting, MeetingError> {
    let id = new_id();
    let organizer_email = match actor.actor_type {
        ActorType::User => users::user_by_id(&state.db, &actor.tenant_id, &actor.id)
            .await
            .ok()
            .map(|u| u.email),
        _ => Some(connection.account_email.clone()),
    };
    let series_end = match &draft.recurrence {
        Some(_) => draft.series().last_end().map_err(|e| {
            MeetingError::Invalid(vec![crate::error::FieldError::new("recurrence", e.0)])
        })?,
        None => None,
    };
    let now = Utc::now();
    Ok(Meeting {
        google_event_id: event_id_for(&id),
        id,
        tenant_id: actor.tenant_id.clone(),
        resource_id: draft.resource_id.clone(),
        title: draft.title.clone(),
        description: draft.description.clone(),
        start: draft.start,
        end: draft.end,
        time_zone: draft.zone.name().to_string(),
        status: MeetingStatus::Scheduled,
        write_state: WriteState::Pending,
        created_by_type: if actor.actor_type == ActorType::Ai {
            CreatedByType::Ai
        } else {
            CreatedByType::Human
        },
        created_by: actor.id.clone(),
        source: Source::Corbi,
        organizer_email,
        participants: draft.participants.clone(),
        location: draft.location.clone(),
        meeting_link: draft.meeting_link.clone(),
        recurrence: draft.recurrence.clone(),
        series_end,
        metadata: draft.metadata.clone(),
        calendar_id: target.calendar_id.clone(),
        connection_owner: target.owner.key(),
        etag: None,
        ical_uid: None,
        sequence: 0,
        google_updated: None,
        checked_in_at: None,
        cancel_reason: None,
        created_at: now,
        updated_at: now,
        last_sync_time: None,
    })
}

/// Takes the slot locally: under the resource's lock, checks local bookings and holds, then
/// writes the pending row — or refuses with CONFLICT.
async fn reserve(
    state: &AppState,
    meeting: &Meeting,
    resource: Option<&Resource>,
    key: Option<&str>,
    settings: &TenantSettings,
) -> Result<(), MeetingError> {
    let mut tx = state.db.begin_write().await?;
    if let Some(resource) = resource {
        let (_, clashes) = clashes_under_lock(state, &mut tx, meeting, resource).await?;
        if !clashes.is_empty() {
            tx.rollback().await?;
            return Err(conflict(state, meeting, resource, &clashes, settings).await);
        }
    }
    store::insert_pending(&mut tx, &state.jobs, meeting, key).await?;
    tx.commit().await?;
    Ok(())
}

/// Takes the resource's lock for the rest of `tx` and finds the local bookings and holds that
/// clash with any occurrence of `meeting` (other than its own); returns the span checked. The
/// caller rolls back before building a CONFLICT answer, so the lock is not held meanwhile.
async fn clashes_under_lock(
    state: &AppState,
    tx: &mut crate::db::Tx,
    meeting: &Meeting,
    resource: &Resource,
) -> Result<((DateTime<Utc>, DateTime<Utc>), Vec<Busy>), MeetingError> {
    store::lock_resource(tx, state.db.backend(), &meeting.tenant_id, &resource.id).await?;
    let series = store::series(meeting);
    let (from, to) = store::span(&series)?;
    let busy = store::busy(
        tx,
        &meeting.tenant_id,
        &resource.id,
        from,
        to,
        Some(&meeting.id),
    )
    .await?;
    Ok(((from, to), store::clashes(&series, &busy)?))
}

/// Checks Google's free/busy of the resource for bookings made there and not yet synced, then
/// inserts the event (a retried insert that finds its own event already there takes it).
async fn insert_event(
    state: &AppState,
    meeting: &Meeting,
    target: &Target,
    connection: &Connection,
    settings: &TenantSettings,
) -> Result<GoogleFacts, MeetingError> {
    if let Some(resource) = &target.resource {
        check_google_busy(state, connection, meeting, resource, &[], settings).await?;
    }
    let body = event_body(meeting, true);
    let event = match state
        .google
        .events_insert(
            connection,
            &meeting.calendar_id,
            &body,
            send_updates(meeting),
        )
        .await
    {
        Ok(event) => event,
        Err(GoogleError::Duplicate) => {
            state
                .google
                .events_get(connection, &meeting.calendar_id, &meeting.google_event_id)
                .await?
        }
        Err(other) => return Err(other.into()),
    };
    Ok(facts(&event))
}

/// Busy time Google knows for the resource calendar must not overlap the meeting: it catches
/// bookings made in Google and not yet synced (CORBI's own bookings that overlap were refused
/// by the local check already). `also_mine` are intervals of this meeting Google still shows
/// (its old slot while it is being moved), which do not count.
async fn check_google_busy(
    state: &AppState,
    connection: &Connection,
    meeting: &Meeting,
    resource: &Resource,
    also_mine: &[Occurrence],
    settings: &TenantSettings,
) -> Result<(), MeetingError> {
    let series = store::series(meeting);
    let (from, to) = store::span(&series)?;
    let to = to.min(from + Duration::days(FREEBUSY_DAYS));
    let google_busy =
        google_busy(&state.google, connection, &resource.calendar_id, from, to).await?;
    if google_busy.is_empty() {
        return Ok(());
    }
    let external: Vec<Busy> = slots::subtract(&google_busy, also_mine)
        .into_iter()
        .map(|slot| Busy {
            meeting_id: None,
            title: None,
            slot,
        })
        .collect();
    let clashes = store::clashes(&series, &external)?;
    if clashes.is_empty() {
        return Ok(());
    }
    Err(conflict(state, meeting, resource, &clashes, settings).await)
}

async fn google_busy(
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
                start: parse(&b.start)?,
                end: parse(&b.end)?,
            })
        })
        .collect())
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Builds the CONFLICT answer: names the first clash and proposes the next free slot of the
/// same length (found with the same search as `free-slots`).
async fn conflict(
    state: &AppState,
    meeting: &Meeting,
    resource: &Resource,
    clashes: &[Busy],
    settings: &TenantSettings,
) -> MeetingError {
    let zone = zone_of(meeting);
    let duration = meeting.end - meeting.start;
    let query = SlotQuery {
        resource: Some(resource.clone()),
        participants: Vec::new(),
        from: meeting.start,
        to: meeting.start + Duration::days(PROPOSAL_DAYS),
        duration,
        zone,
        limit: 1,
        except_meeting: Some(meeting.id.clone()),
        moving: meeting.write_state == WriteState::Confirmed,
    };
    let proposal = match find_free_slots(state, &meeting.tenant_id, settings, &query).await {
        Ok(slots) => slots.into_iter().next(),
        Err(err) => {
            tracing::warn!(error = %err, "no slot proposal for the conflict");
            None
        }
    };
    let sentence = conflict_sentence(&resource.name, &clashes[0], zone, duration, proposal);
    MeetingError::Conflict {
        sentence,
        conflicts: clashes
            .iter()
            .map(|c| json!({"meeting_id": c.meeting_id, "title": c.title, "start": zulu(c.slot.start), "end": zulu(c.slot.end)}))
            .collect(),
        proposal: proposal.map(|p| json!({"start": zulu(p.start), "end": zulu(p.end)})),
    }
}

fn conflict_sentence(
    resource: &str,
    clash: &Busy,
    zone: Tz,
    duration: Duration,
    proposal: Option<Occurrence>,
) -> String {
    let start = clash.slot.start.with_timezone(&zone);
    let end = clash.slot.end.with_timezone(&zone);
    let by = clash
        .title
        .as_ref()
        .map_or_else(|| "another booking".to_string(), |t| format!("\"{t}\""));
    let mut sentence = format!(
        "{resource} is already booked on {} from {} to {} ({} time) by {by}.",
        start.format("%A %-d %B"),
        start.format("%H:%M"),
        end.format("%H:%M"),
        zone.name()
    );
    match proposal {
        Some(slot) => {
            let s = slot.start.with_timezone(&zone);
            let e = slot.end.with_timezone(&zone);
            sentence.push_str(&format!(
                " The next free slot of {} minutes is on {} from {} to {}.",
                duration.num_minutes(),
                s.format("%A %-d %B"),
                s.format("%H:%M"),
                e.format("%H:%M")
            ));
        }
        None => {
            sentence.push_str(" I could not find a free slot of that length in the next two weeks.")
        }
    }
    sentence
}

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
    state: &AppState,
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
            let own = store::occurrences(&moving, query.from, query.to)?;
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
    state: &AppState,
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
    state: &AppState,
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

fn send_updates(meeting: &Meeting) -> &'static str {
    if meeting.participants.is_empty() {
        "none"
    } else {
        "all"
    }
}

fn event_time(at: DateTime<Utc>, zone: Tz) -> EventDateTime {
    EventDateTime {
        date_time: Some(at.with_timezone(&zone).to_rfc3339()),
        date: None,
        time_zone: Some(zone.name().to_string()),
    }
}

/// The Google event of a meeting; `with_id` for inserts (the id is derived from the meeting's).
fn event_body(meeting: &Meeting, with_id: bool) -> Event {
    let zone = zone_of(meeting);
    let mut private = std::collections::BTreeMap::new();
    private.insert("corbi_meeting_id".to_string(), meeting.id.clone());
    private.insert("corbi_tenant_id".to_string(), meeting.tenant_id.clone());
    private.insert(
        "corbi_created_by_type".to_string(),
        meeting.created_by_type.as_str().to_string(),
    );
    if let Some(link) = &meeting.meeting_link {
        private.insert("corbi_meeting_link".to_string(), link.clone());
    }
    Event {
        id: with_id.then(|| meeting.google_event_id.clone()),
        summary: Some(meeting.title.clone()),
        description: meeting.description.clone(),
        location: meeting.location.clone(),
        start: Some(event_time(meeting.start, zone)),
        end: Some(event_time(meeting.end, zone)),
        recurrence: meeting.recurrence.clone(),
        attendees: Some(
            meeting
                .participants
                .iter()
                .map(|p| Attendee {
                    email: p.email.clone(),
                    display_name: p.name.clone(),
                    response_status: None,
                    resource: None,
                })
                .collect(),
        ),
        extended_properties: Some(ExtendedProperties {
            private,
            shared: Default::default(),
        }),
        ..Event::default()
    }
}

/// What CORBI keeps of Google's answer.
pub fn facts(event: &Event) -> GoogleFacts {
    GoogleFacts {
        etag: event.etag.clone(),
        ical_uid: event.ical_uid.clone(),
        sequence: event.sequence.unwrap_or(0),
        updated: event.updated.clone(),
        organizer_email: event.organizer.as_ref().and_then(|o| o.email.clone()),
        hangout_link: event.hangout_link.clone(),
        responses: event
            .attendees
            .iter()
            .flatten()
            .map(|a| {
                (
                    a.email.to_ascii_lowercase(),
                    a.response_status
                        .clone()
                        .unwrap_or_else(|| "needsAction".into()),
                )
            })
            .collect(),
    }
}

fn apply_facts(meeting: &mut Meeting, facts: &GoogleFacts) {
    meeting.etag = facts.etag.clone();
    meeting.sequence = facts.sequence;
    meeting.google_updated = facts.updated.clone();
    for participant in &mut meeting.participants {
        if let Some((_, status)) = facts
            .responses
            .iter()
            .find(|(email, _)| *email == participant.email)
        {
            participant.response_status = status.clone();
        }
    }
}

fn draft_of(meeting: &Meeting) -> Draft {
    Draft {
        title: meeting.title.clone(),
        description: meeting.description.clone(),
        start: meeting.start,
        end: meeting.end,
        zone: zone_of(meeting),
        participants: meeting.participants.clone(),
        resource_id: meeting.resource_id.clone(),
        location: meeting.location.clone(),
        meeting_link: meeting.meeting_link.clone(),
        recurrence: meeting.recurrence.clone(),
        metadata: meeting.metadata.clone(),
    }
}

/// The fields that differ, as `{field: {"from": old, "to": new}}`.
fn diff(before: &Meeting, after: &Meeting) -> Map<String, Value> {
    let (a, b) = (before.view(), after.view());
    let mut changed = Map::new();
    for field in [
        "title",
        "description",
        "start",
        "end",
        "time_zone",
        "participants",
        "resource_id",
        "location",
        "meeting_link",
        "status",
        "cancel_reason",
    ] {
        if a[field] != b[field] {
            changed.insert(field.to_string(), json!({"from": a[field], "to": b[field]}));
        }
    }
    changed
}

/// Changes a meeting: fields, times (RESCHEDULED) or resource (`events.move`).
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: &str,
    patch: MeetingPatch,
    if_match: Option<&str>,
) -> Result<Meeting, MeetingError> {
    let current = store::get(&state.db, &actor.tenant_id, id).await?;
    policy::may_change_meeting(actor, MeetingAction::Update, origin(&current))?;
    if current.status == MeetingStatus::Cancelled {
        return Err(MeetingError::InvalidSlot(
            "This meeting was cancelled, so it can no longer be changed. Please book a new one."
                .into(),
        ));
    }
    if if_match.is_some_and(|tag| current.etag.as_deref() != Some(tag)) {
        return Err(MeetingError::Stale);
    }
    let settings = settings::load(&state.db, &actor.tenant_id).await?;
    let (draft, times_changed) = validate::patched(draft_of(&current), patch, Utc::now())?;
    let resource_changed = draft.resource_id != current.resource_id;
    let target = if resource_changed {
        match draft.resource_id.as_deref() {
            Some(resource_id) => target_for(state, actor, Some(resource_id), &settings).await?,
            None => tenant_calendar(state, &actor.tenant_id, &settings).await?,
        }
    } else {
        let resource = match &current.resource_id {
            Some(rid) => Some(resources::get(&state.db, &actor.tenant_id, rid).await?),
            None => None,
        };
        Target {
            calendar_id: current.calendar_id.clone(),
            owner: Owner::from_key(&current.connection_owner),
            resource,
        }
    };
    if target.owner.key() != current.connection_owner {
        return Err(MeetingError::InvalidSlot(
            "This meeting lives in a personal calendar, so it cannot be moved to that calendar. Cancel it and book again instead.".into(),
        ));
    }
    let mut next = current.clone();
    next.title = draft.title;
    next.description = draft.description;
    next.start = draft.start;
    next.end = draft.end;
    next.time_zone = draft.zone.name().to_string();
    next.participants = draft.participants;
    next.location = draft.location;
    next.meeting_link = draft.meeting_link;
    next.resource_id = draft.resource_id;
    next.calendar_id = target.calendar_id.clone();
    if next.recurrence.is_some() {
        next.series_end = store::series(&next).last_end().ok().flatten();
    }
    if diff(&current, &next).is_empty() {
        return Ok(current);
    }
    let connection = connection_for(&state.google, &actor.tenant_id, &target).await?;
    if let Some(resource) = &target.resource
        && (times_changed || resource_changed)
    {
        hold_slot(state, &next, resource, &settings).await?;
        let mine = if resource_changed {
            Vec::new()
        } else {
            store::occurrences(
                &current,
                current.start,
                current.end + Duration::days(FREEBUSY_DAYS),
            )?
        };
        if let Err(err) =
            check_google_busy(state, &connection, &next, resource, &mine, &settings).await
        {
            store::release_holds(&state.db, &actor.tenant_id, id).await?;
            return Err(err);
        }
    }
    super::external::mark_writing(&state.db, &actor.tenant_id, id).await?;
    let written = write_update(
        state,
        &connection,
        &current,
        &next,
        if_match.and(current.etag.as_deref()),
    )
    .await;
    let facts = match written {
        Ok(facts) => facts,
        Err(err) => {
            store::release_holds(&state.db, &actor.tenant_id, id).await?;
            return Err(err);
        }
    };
    apply_facts(&mut next, &facts);
    let change = if times_changed {
        ChangeType::Rescheduled
    } else {
        ChangeType::Updated
    };
    let changes = Value::Object(diff(&current, &next));
    store::save_change(
        &state.db,
        &state.jobs,
        &next,
        change,
        &change_actor(actor),
        changes,
    )
    .await?;
    tracing::info!(meeting_id = %id, change = %change, "meeting changed");
    store::get(&state.db, &actor.tenant_id, id).await
}

/// Holds the new slot of a meeting being moved (every occurrence within the free/busy window),
/// under the resource's lock, or refuses with CONFLICT.
async fn hold_slot(
    state: &AppState,
    next: &Meeting,
    resource: &Resource,
    settings: &TenantSettings,
) -> Result<(), MeetingError> {
    let mut tx = state.db.begin_write().await?;
    let ((from, to), clashes) = clashes_under_lock(state, &mut tx, next, resource).await?;
    if !clashes.is_empty() {
        tx.rollback().await?;
        return Err(conflict(state, next, resource, &clashes, settings).await);
    }
    for slot in store::occurrences(next, from, to.min(from + Duration::days(FREEBUSY_DAYS)))? {
        store::insert_hold(&mut tx, next, &resource.id, slot).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write_update(
    state: &AppState,
    connection: &Connection,
    current: &Meeting,
    next: &Meeting,
    if_match: Option<&str>,
) -> Result<GoogleFacts, MeetingError> {
    let mut if_match = if_match;
    if next.calendar_id != current.calendar_id {
        state
            .google
            .events_move(
                connection,
                &current.calendar_id,
                &current.google_event_id,
                &next.calendar_id,
            )
            .await?;
        if_match = None;
    }
    let body = serde_json::to_value(event_body(next, false))
        .map_err(|e| MeetingError::Db(DbError::Other(sqlx::Error::Encode(Box::new(e)))))?;
    let event = state
        .google
        .events_patch(
            connection,
            &next.calendar_id,
            &next.google_event_id,
            &body,
            if_match,
            send_updates(next),
        )
        .await?;
    Ok(facts(&event))
}

/// Cancels a meeting: the Google event is deleted (attendees are told by Google), the meeting
/// stays in CORBI as CANCELLED with the cancelling actor in the change log. Cancelling twice
/// answers the cancelled meeting.
pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    id: &str,
    reason: Option<String>,
) -> Result<Meeting, MeetingError> {
    let current = store::get(&state.db, &actor.tenant_id, id).await?;
    if current.status == MeetingStatus::Cancelled {
        return Ok(current);
    }
    policy::may_change_meeting(actor, MeetingAction::Cancel, origin(&current))?;
    let owner = Owner::from_key(&current.connection_owner);
    let connection = state
        .google
        .connection(&actor.tenant_id, &owner, &[scopes::EVENTS])
        .await?;
    super::external::mark_writing(&state.db, &actor.tenant_id, id).await?;
    match state
        .google
        .events_delete(
            &connection,
            &current.calendar_id,
            &current.google_event_id,
            send_updates(&current),
        )
        .await
    {
        Ok(()) | Err(GoogleError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    let mut next = current.clone();
    next.status = MeetingStatus::Cancelled;
    next.cancel_reason = reason.map(|r| r.chars().take(500).collect());
    let changes = Value::Object(diff(&current, &next));
    store::save_change(
        &state.db,
        &state.jobs,
        &next,
        ChangeType::Cancelled,
        &change_actor(actor),
        changes,
    )
    .await?;
    tracing::info!(meeting_id = %id, "meeting cancelled");
    store::get(&state.db, &actor.tenant_id, id).await
}

/// Settles a reservation whose writer may have died between the Google write and the
/// confirmation: confirms it if the event is in Google, removes it if not.
pub struct RecoverReservation {
    /// The Calendar client.
    pub google: Google,
}

#[async_trait]
impl JobHandler for RecoverReservation {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let (Some(tenant_id), Some(meeting_id)) =
            (job.tenant_id.as_deref(), job.payload["meeting_id"].as_str())
        else {
            return Err(JobError::Permanent(
                "recovery job without tenant or meeting".into(),
            ));
        };
        let retry = |e: MeetingError| JobError::Retry(e.to_string());
        let Some(meeting) = store::get_any(ctx.db(), tenant_id, meeting_id)
            .await
            .map_err(retry)?
        else {
            return Ok(());
        };
        if meeting.write_state == WriteState::Confirmed {
            return Ok(());
        }
        let owner = Owner::from_key(&meeting.connection_owner);
        let connection = self
            .google
            .connection(tenant_id, &owner, &[scopes::EVENTS])
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        match self
            .google
            .events_get(&connection, &meeting.calendar_id, &meeting.google_event_id)
            .await
        {
            Ok(event) if event.status.as_deref() != Some("cancelled") => {
                let actor = ChangeActor {
                    actor_type: if meeting.created_by_type == CreatedByType::Ai {
                        ActorType::Ai
                    } else {
                        ActorType::User
                    },
                    actor_id: Some(meeting.created_by.clone()),
                };
                store::confirm_created(ctx.db(), &ctx.queue, &meeting, &facts(&event), &actor)
                    .await
                    .map_err(retry)?;
                tracing::info!(%meeting_id, "recovered a booking that reached Google");
                Ok(())
            }
            Ok(_) | Err(GoogleError::NotFound) | Err(GoogleError::Gone { .. }) => {
                store::drop_pending(ctx.db(), tenant_id, meeting_id)
                    .await
                    .map_err(retry)?;
                tracing::info!(%meeting_id, "dropped a reservation that never reached Google");
                Ok(())
            }
            Err(other) => Err(JobError::Retry(other.to_string())),
        }
    }
}
