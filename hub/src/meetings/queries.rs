//! The read side of meetings as callers ask it: the meeting list, free slots, a resource's
//! availability and the rooms free for a whole range. The REST handlers and the MCP tools
//! call these same functions, so a question answers the same over either; the parameter
//! types are the query strings of the REST API and the tools' arguments (one schema for both).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::{MeetingStatus, ResourceKind};

use super::{
    MeetingError, Meetings,
    availability::{self, SlotQuery},
    model::Meeting,
    recurrence::Occurrence,
    slots,
    store::{self, ListFilter},
    validate::zone,
    view::{MeetingList, MeetingView},
};
use crate::{
    auth::{Actor, store::normalize_email},
    db::timestamp,
    error::FieldError,
    resources::{self, Resource},
    settings,
    text::zulu,
};

/// Filters of the meeting list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Meetings ending after this time (RFC 3339, like 2026-12-01T09:00:00+01:00).
    pub from: Option<String>,
    /// Meetings starting before this time (RFC 3339).
    pub to: Option<String>,
    /// Only meetings in this room or device (its id).
    pub resource_id: Option<String>,
    /// Only meetings in this state: SCHEDULED, ATTENDED, NO_SHOW or CANCELLED.
    pub status: Option<String>,
    /// Only meetings this address takes part in or organizes.
    pub participant: Option<String>,
    /// Only meetings booked by an AI or by a person: AI or HUMAN.
    pub created_by_type: Option<String>,
    /// Page size (default 50, at most 200).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of meetings.
#[derive(Debug)]
pub struct Page {
    /// The meetings, by start time.
    pub items: Vec<Meeting>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

impl Page {
    /// As the API shows it to `actor`.
    pub fn view_for(&self, actor: &Actor) -> MeetingList {
        MeetingList {
            items: self
                .items
                .iter()
                .map(|m| MeetingView::for_actor(m, actor))
                .collect(),
            next_cursor: self.next_cursor.clone(),
        }
    }
}

/// Parameters of the free-slot search.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct SlotParams {
    /// Slot length in minutes (5 to 1440).
    pub duration_minutes: Option<i64>,
    /// Earliest start, RFC 3339 (default now).
    pub from: Option<String>,
    /// Latest end, RFC 3339 (default a week after `from`; at most 62 days after).
    pub to: Option<String>,
    /// The room or device that must be free (its id).
    pub resource_id: Option<String>,
    /// Comma-separated addresses of people who must be free too.
    pub participants: Option<String>,
    /// IANA zone of the working hours, like Europe/Berlin (default the tenant's).
    pub time_zone: Option<String>,
    /// How many slots (default 5, at most 50).
    pub limit: Option<usize>,
}

/// A half-open interval as the API shows it, in UTC.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Interval {
    /// Start, RFC 3339 in UTC.
    pub start: String,
    /// End, RFC 3339 in UTC, exclusive.
    pub end: String,
}

impl From<&Occurrence> for Interval {
    fn from(o: &Occurrence) -> Self {
        Interval {
            start: zulu(o.start),
            end: zulu(o.end),
        }
    }
}

/// The answer of the free-slot search.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotList {
    /// The earliest free slots, in order.
    pub slots: Vec<Interval>,
}

/// The answer of the availability view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AvailabilityView {
    /// Busy intervals, clipped to the range.
    pub busy: Vec<Interval>,
    /// The rest of the range.
    pub free: Vec<Interval>,
}

/// Parameters of the availability view.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// Start, RFC 3339 (default now).
    pub from: Option<String>,
    /// End, RFC 3339 (default a day later; at most 62 days after `from`).
    pub to: Option<String>,
}

/// Parameters of the search for rooms free during a whole range.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct RoomParams {
    /// Start of the range, RFC 3339.
    pub from: Option<String>,
    /// End of the range, RFC 3339 (at most 62 days after `from`).
    pub to: Option<String>,
    /// Only rooms with at least this many seats.
    pub min_capacity: Option<i64>,
    /// IANA zone the caller speaks in, like Europe/Berlin (default the tenant's).
    pub time_zone: Option<String>,
}

fn invalid(field: &str, problem: &str) -> MeetingError {
    MeetingError::Invalid(vec![FieldError::new(field, problem)])
}

/// Reads an optional RFC 3339 time of a query.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, MeetingError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| invalid(field, "use RFC 3339, like 2026-12-01T09:00:00Z"))
        })
        .transpose()
}

/// Reads a `[from, to)` range: from defaults to now, to to `default_length` after from, and the
/// range may span at most 62 days.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    default_length: Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), MeetingError> {
    let from = parse_time("from", from)?.unwrap_or_else(Utc::now);
    let to = parse_time("to", to)?.unwrap_or(from + default_length);
    if to <= from {
        return Err(MeetingError::InvalidSlot(
            "The end of the range must come after its start.".into(),
        ));
    }
    if to - from > Duration::days(62) {
        return Err(MeetingError::InvalidSlot(
            "Please ask about at most 62 days at a time.".into(),
        ));
    }
    Ok((from, to))
}

/// A page of the tenant's meetings matching the filters, by start time.
pub async fn list(
    state: &Meetings,
    actor: &Actor,
    params: &ListParams,
) -> Result<Page, MeetingError> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            MeetingStatus::parse(s)
                .ok_or_else(|| invalid("status", "use SCHEDULED, ATTENDED, NO_SHOW or CANCELLED"))
        })
        .transpose()?;
    if params
        .created_by_type
        .as_deref()
        .is_some_and(|c| c != "AI" && c != "HUMAN")
    {
        return Err(invalid("created_by_type", "use AI or HUMAN"));
    }
    let participant = params
        .participant
        .as_deref()
        .filter(|p| !p.trim().is_empty())
        .map(|p| normalize_email(p).map_err(|_| invalid("participant", "not an email address")))
        .transpose()?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = ListFilter {
        from: parse_time("from", params.from.as_deref())?,
        to: parse_time("to", params.to.as_deref())?,
        resource_id: params.resource_id.clone(),
        status,
        participant,
        created_by_type: params.created_by_type.clone(),
        limit: params.limit.unwrap_or(50).clamp(1, 200),
        after,
    };
    let (items, more) = store::list(&state.db, &actor.tenant_id, &filter).await?;
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|m| encode_cursor(&timestamp(m.start), &m.id))
        })
        .flatten();
    Ok(Page { items, next_cursor })
}

fn encode_cursor(start: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{start}|{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), MeetingError> {
    let bad = || invalid("cursor", "use the next_cursor of the previous page");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (start, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((start.to_string(), id.to_string()))
}

/// Participants one free-slots query may name: each can cost a Google free/busy lookup, so the
/// work of one request stays bounded.
const MAX_FREE_SLOT_PARTICIPANTS: usize = 20;

/// The earliest free slots for the resource and participants, inside the tenant's working
/// hours in the asked zone.
pub async fn free_slots(
    state: &Meetings,
    actor: &Actor,
    params: &SlotParams,
) -> Result<Vec<Occurrence>, MeetingError> {
    let settings = settings::load(&state.db, &actor.tenant_id).await?;
    let minutes = params
        .duration_minutes
        .ok_or_else(|| invalid("duration_minutes", "give the slot length in minutes"))?;
    if !(5..=1440).contains(&minutes) {
        return Err(invalid("duration_minutes", "use 5 to 1440 minutes"));
    }
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        Duration::days(7),
    )?;
    let zone = zone(params.time_zone.as_deref().unwrap_or(&settings.time_zone))?;
    let resource = match params.resource_id.as_deref() {
        Some(id) => Some(resources::get(&state.db, &actor.tenant_id, id).await?),
        None => None,
    };
    let participants = params
        .participants
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            normalize_email(p)
                .map_err(|_| invalid("participants", "list addresses separated by commas"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if participants.len() > MAX_FREE_SLOT_PARTICIPANTS {
        return Err(invalid(
            "participants",
            "ask about at most 20 people at once",
        ));
    }
    let query = SlotQuery {
        resource,
        participants,
        from,
        to,
        duration: Duration::minutes(minutes),
        zone,
        limit: params.limit.unwrap_or(5).clamp(1, 50),
        except_meeting: None,
        moving: false,
    };
    availability::find_free_slots(state, &actor.tenant_id, &settings, &query).await
}

/// When a resource is busy and free over a range (its bookings and its Google calendar).
pub struct Availability {
    /// Busy intervals, clipped to the range.
    pub busy: Vec<Occurrence>,
    /// The rest of the range.
    pub free: Vec<Occurrence>,
}

impl Availability {
    /// As the API shows it.
    pub fn view(&self) -> AvailabilityView {
        AvailabilityView {
            busy: self.busy.iter().map(Interval::from).collect(),
            free: self.free.iter().map(Interval::from).collect(),
        }
    }
}

/// The busy and free time of one resource over `[from, to)`.
pub async fn availability(
    state: &Meetings,
    actor: &Actor,
    resource: Resource,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Availability, MeetingError> {
    let query = SlotQuery {
        resource: Some(resource),
        participants: Vec::new(),
        from,
        to,
        duration: Duration::minutes(1),
        zone: chrono_tz::UTC,
        limit: 0,
        except_meeting: None,
        moving: false,
    };
    let busy: Vec<_> = availability::busy_time(state, &actor.tenant_id, &query)
        .await?
        .into_iter()
        .map(|b| Occurrence {
            start: b.start.max(from),
            end: b.end.min(to),
        })
        .collect();
    let free = slots::subtract(
        &[Occurrence {
            start: from,
            end: to,
        }],
        &busy,
    );
    Ok(Availability { busy, free })
}

/// The availability of a resource named by id, over the range of the parameters (default a
/// day from now).
pub async fn resource_availability(
    state: &Meetings,
    actor: &Actor,
    resource_id: &str,
    params: &RangeParams,
) -> Result<Availability, MeetingError> {
    let resource = resources::get(&state.db, &actor.tenant_id, resource_id).await?;
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        Duration::days(1),
    )?;
    availability(state, actor, resource, from, to).await
}

/// The enabled rooms with enough seats that are free during the whole range, by name. Built
/// on the availability of each room (bookings and Google free/busy), so it answers what a
/// booking of that range would find.
pub async fn available_rooms(
    state: &Meetings,
    actor: &Actor,
    params: &RoomParams,
) -> Result<Vec<Resource>, MeetingError> {
    let settings = settings::load(&state.db, &actor.tenant_id).await?;
    zone(params.time_zone.as_deref().unwrap_or(&settings.time_zone))?;
    if params.min_capacity.is_some_and(|c| c < 1) {
        return Err(invalid(
            "min_capacity",
            "use a number of seats of 1 or more",
        ));
    }
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        Duration::hours(1),
    )?;
    let mut rooms: Vec<Resource> = resources::list(&state.db, &actor.tenant_id)
        .await?
        .into_iter()
        .filter(|r| r.kind == ResourceKind::Room && r.enabled)
        .filter(|r| {
            params
                .min_capacity
                .is_none_or(|min| r.capacity.is_some_and(|c| c >= min))
        })
        .collect();
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    let mut free = Vec::new();
    for room in rooms {
        let seen = availability(state, actor, room.clone(), from, to).await?;
        if seen.busy.is_empty() {
            free.push(room);
        }
    }
    Ok(free)
}
