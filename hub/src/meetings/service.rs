//! Writes of meetings, in the order that keeps CORBI and Google in step (see the module doc of
//! [`super`]): book, change, cancel.

use chrono::{Duration, Utc};
use shared::{ActorType, ChangeType, CreatedByType, MeetingStatus, Source};

use super::{
    MeetingError, Meetings,
    availability::FREEBUSY_DAYS,
    conflict::{check_google_busy, clashes_under_lock, conflict},
    external,
    google_event::{apply_facts, event_body, facts, send_updates},
    model::{Meeting, WriteState, event_id_for},
    store::{self, ChangeActor, GoogleFacts},
    validate::{self, Draft, MeetingPatch, NewMeeting},
};
use crate::{
    auth::{
        Actor,
        policy::{self, MeetingAction, MeetingOrigin},
        store as users,
    },
    connections::{Connection, Owner},
    db::{DbError, new_id},
    google::{Google, GoogleError, scopes},
    resources::{self, Resource},
    settings::{self, TenantSettings},
};

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

/// Books a meeting. Returns the meeting and whether this call created it (false: an earlier
/// request with the same idempotency key did).
pub async fn create(
    state: &Meetings,
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
    state: &Meetings,
    actor: &Actor,
    key: Option<&str>,
) -> Result<Option<Meeting>, MeetingError> {
    let Some(key) = key else { return Ok(None) };
    let found = store::by_idempotency_key(&state.db, &actor.tenant_id, &actor.id, key).await?;
    Ok(found.filter(|m| m.write_state == WriteState::Confirmed))
}

async fn target_for(
    state: &Meetings,
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
    state: &Meetings,
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
    state: &Meetings,
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
        Some(_) => draft.series().last_end(),
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
    state: &Meetings,
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

/// Checks Google's free/busy of the resource for bookings made there and not yet synced, then
/// inserts the event (a retried insert that finds its own event already there takes it).
async fn insert_event(
    state: &Meetings,
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

fn draft_of(meeting: &Meeting) -> Draft {
    Draft {
        title: meeting.title.clone(),
        description: meeting.description.clone(),
        start: meeting.start,
        end: meeting.end,
        zone: meeting.zone(),
        participants: meeting.participants.clone(),
        resource_id: meeting.resource_id.clone(),
        location: meeting.location.clone(),
        meeting_link: meeting.meeting_link.clone(),
        recurrence: meeting.recurrence.clone(),
        metadata: meeting.metadata.clone(),
    }
}

/// Changes a meeting: fields, times (RESCHEDULED) or resource (`events.move`).
pub async fn update(
    state: &Meetings,
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
        next.series_end = next.computed_series_end();
    }
    if current.diff(&next).is_empty() {
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
            current.occurrences(current.start, current.end + Duration::days(FREEBUSY_DAYS))
        };
        if let Err(err) =
            check_google_busy(state, &connection, &next, resource, &mine, &settings).await
        {
            store::release_holds(&state.db, &actor.tenant_id, id).await?;
            return Err(err);
        }
    }
    external::mark_writing(&state.db, &actor.tenant_id, id).await?;
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
    store::save_change(
        &state.db,
        &state.jobs,
        &current,
        &next,
        change,
        &change_actor(actor),
    )
    .await?;
    tracing::info!(meeting_id = %id, change = %change, "meeting changed");
    store::get(&state.db, &actor.tenant_id, id).await
}

/// Holds the new slot of a meeting being moved (every occurrence within the free/busy window),
/// under the resource's lock, or refuses with CONFLICT.
async fn hold_slot(
    state: &Meetings,
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
    for slot in next.occurrences(from, to.min(from + Duration::days(FREEBUSY_DAYS))) {
        store::insert_hold(&mut tx, next, &resource.id, slot).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write_update(
    state: &Meetings,
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
    state: &Meetings,
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
    external::mark_writing(&state.db, &actor.tenant_id, id).await?;
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
    store::save_change(
        &state.db,
        &state.jobs,
        &current,
        &next,
        ChangeType::Cancelled,
        &change_actor(actor),
    )
    .await?;
    tracing::info!(meeting_id = %id, "meeting cancelled");
    store::get(&state.db, &actor.tenant_id, id).await
}
