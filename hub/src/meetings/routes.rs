//! HTTP of meetings (docs/API.md, "Meetings") and resource availability.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRef, Path, State},
    http::{HeaderMap, StatusCode},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::MeetingStatus;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    MeetingError, Meetings,
    availability::{self, SlotQuery},
    service, slots,
    store::{self, ListFilter},
    validate::{MeetingPatch, NewMeeting, zone},
};
use crate::{
    auth::Actor,
    db::{Db, timestamp},
    error::{ApiError, ApiJson, ApiQuery, FieldError, parse_json},
    resources, settings,
    text::zulu,
};

/// The routes of this module.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Meetings: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_meeting, list_meetings))
        .routes(routes!(free_slots))
        .routes(routes!(get_meeting, patch_meeting))
        .routes(routes!(cancel_meeting))
        .routes(routes!(meeting_changes))
        .routes(routes!(availability))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Books a meeting; a repeated `Idempotency-Key` answers the first result.
#[utoipa::path(post, path = "/api/v1/calendar/events", request_body = NewMeeting,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe key")),
    responses((status = 201, description = "the meeting"), (status = 409, description = "CONFLICT")), tag = "meetings")]
async fn create_meeting(
    State(state): State<Meetings>,
    actor: Actor,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewMeeting>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = header(&headers, "idempotency-key");
    if key.is_some_and(|k| k.len() > 255) {
        return Err(ApiError::validation(vec![FieldError::new(
            "Idempotency-Key",
            "at most 255 characters",
        )]));
    }
    let (meeting, _) = service::create(&state, &actor, body, key).await?;
    Ok((StatusCode::CREATED, Json(meeting.view())))
}

/// Filters of the meeting list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Meetings ending after this time.
    pub from: Option<String>,
    /// Meetings starting before this time.
    pub to: Option<String>,
    /// Only this resource.
    pub resource_id: Option<String>,
    /// SCHEDULED, ATTENDED, NO_SHOW, CANCELLED.
    pub status: Option<String>,
    /// AI or HUMAN.
    pub created_by_type: Option<String>,
    /// Page size (default 50, max 200).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::validation(vec![FieldError::new(
                        field,
                        "use RFC 3339, like 2026-12-01T09:00:00Z",
                    )])
                })
        })
        .transpose()
}

/// Lists meetings of the tenant, by start time, a page at a time.
#[utoipa::path(get, path = "/api/v1/calendar/events", params(ListParams),
    responses((status = 200, description = "{items, next_cursor}")), tag = "meetings")]
async fn list_meetings(
    State(state): State<Meetings>,
    actor: Actor,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            MeetingStatus::parse(s).ok_or_else(|| {
                ApiError::validation(vec![FieldError::new(
                    "status",
                    "use SCHEDULED, ATTENDED, NO_SHOW or CANCELLED",
                )])
            })
        })
        .transpose()?;
    if params
        .created_by_type
        .as_deref()
        .is_some_and(|c| c != "AI" && c != "HUMAN")
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "created_by_type",
            "use AI or HUMAN",
        )]));
    }
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = ListFilter {
        from: parse_time("from", params.from.as_deref())?,
        to: parse_time("to", params.to.as_deref())?,
        resource_id: params.resource_id,
        status,
        created_by_type: params.created_by_type,
        limit: params.limit.unwrap_or(50).clamp(1, 200),
        after,
    };
    let (meetings, more) = store::list(&state.db, &actor.tenant_id, &filter).await?;
    let next_cursor = more
        .then(|| {
            meetings
                .last()
                .map(|m| encode_cursor(&timestamp(m.start), &m.id))
        })
        .flatten();
    let items: Vec<Value> = meetings.iter().map(super::model::Meeting::view).collect();
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}

fn encode_cursor(start: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{start}|{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::validation(vec![FieldError::new(
            "cursor",
            "use the next_cursor of the previous page",
        )])
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (start, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((start.to_string(), id.to_string()))
}

/// One meeting.
#[utoipa::path(get, path = "/api/v1/calendar/events/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "the meeting")), tag = "meetings")]
async fn get_meeting(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        store::get(&state.db, &actor.tenant_id, &id).await?.view(),
    ))
}

/// Changes a meeting; `If-Match` with its etag makes the change conditional.
#[utoipa::path(patch, path = "/api/v1/calendar/events/{id}", params(("id" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = MeetingPatch, responses((status = 200, description = "the meeting")), tag = "meetings")]
async fn patch_meeting(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<MeetingPatch>,
) -> Result<Json<Value>, ApiError> {
    let if_match = header(&headers, "if-match");
    Ok(Json(
        service::update(&state, &actor, &id, patch, if_match)
            .await?
            .view(),
    ))
}

/// Optional body of the cancel call.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why, told to participants.
    pub reason: Option<String>,
}

/// Cancels a meeting.
#[utoipa::path(post, path = "/api/v1/calendar/events/{id}/cancel", params(("id" = String, Path)),
    request_body = Option<CancelBody>, responses((status = 200, description = "the cancelled meeting")), tag = "meetings")]
async fn cancel_meeting(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        parse_json(&body)?
    };
    Ok(Json(
        service::cancel(&state, &actor, &id, body.reason)
            .await?
            .view(),
    ))
}

/// The change log of a meeting.
#[utoipa::path(get, path = "/api/v1/calendar/events/{id}/changes", params(("id" = String, Path)),
    responses((status = 200, description = "{items}")), tag = "meetings")]
async fn meeting_changes(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    store::get(&state.db, &actor.tenant_id, &id).await?;
    let items = store::changes(&state.db, &actor.tenant_id, &id).await?;
    Ok(Json(json!({"items": items})))
}

/// Parameters of the free-slot search.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SlotParams {
    /// Slot length in minutes (5 to 1440).
    pub duration_minutes: Option<i64>,
    /// Earliest start (default now).
    pub from: Option<String>,
    /// Latest end (default a week after `from`; at most 62 days after).
    pub to: Option<String>,
    /// The room or device that must be free.
    pub resource_id: Option<String>,
    /// Comma-separated participant addresses (at most 20).
    pub participants: Option<String>,
    /// Zone of the working hours (default the tenant's).
    pub time_zone: Option<String>,
    /// How many slots (default 5, max 50).
    pub limit: Option<usize>,
}

/// Participants one free-slots query may name: each can cost a Google free/busy lookup, so the
/// work of one request stays bounded.
const MAX_FREE_SLOT_PARTICIPANTS: usize = 20;

/// The earliest free slots for the resource and participants, in working hours.
#[utoipa::path(get, path = "/api/v1/calendar/free-slots", params(SlotParams),
    responses((status = 200, description = "{slots: [{start, end}]}")), tag = "meetings")]
async fn free_slots(
    State(state): State<Meetings>,
    actor: Actor,
    ApiQuery(params): ApiQuery<SlotParams>,
) -> Result<Json<Value>, ApiError> {
    let settings = settings::load(&state.db, &actor.tenant_id).await?;
    let minutes = params.duration_minutes.ok_or_else(|| {
        ApiError::validation(vec![FieldError::new(
            "duration_minutes",
            "give the slot length in minutes",
        )])
    })?;
    if !(5..=1440).contains(&minutes) {
        return Err(ApiError::validation(vec![FieldError::new(
            "duration_minutes",
            "use 5 to 1440 minutes",
        )]));
    }
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        Duration::days(7),
    )?;
    let zone =
        zone(params.time_zone.as_deref().unwrap_or(&settings.time_zone)).map_err(ApiError::from)?;
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
            crate::auth::store::normalize_email(p).map_err(|_| {
                ApiError::validation(vec![FieldError::new(
                    "participants",
                    "list addresses separated by commas",
                )])
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if participants.len() > MAX_FREE_SLOT_PARTICIPANTS {
        return Err(ApiError::validation(vec![FieldError::new(
            "participants",
            format!("ask about at most {MAX_FREE_SLOT_PARTICIPANTS} people at once"),
        )]));
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
    let found = availability::find_free_slots(&state, &actor.tenant_id, &settings, &query).await?;
    let slots: Vec<Value> = found
        .iter()
        .map(|s| json!({"start": zulu(s.start), "end": zulu(s.end)}))
        .collect();
    Ok(Json(json!({"slots": slots})))
}

/// Reads a `[from, to)` range: from defaults to now, to to `default_length` after from, and the
/// range may span at most 62 days.
fn range(
    from: Option<&str>,
    to: Option<&str>,
    default_length: Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let from = parse_time("from", from)?.unwrap_or_else(Utc::now);
    let to = parse_time("to", to)?.unwrap_or(from + default_length);
    if to <= from {
        return Err(MeetingError::InvalidSlot(
            "The end of the range must come after its start.".into(),
        )
        .into());
    }
    if to - from > Duration::days(62) {
        return Err(MeetingError::InvalidSlot(
            "Please ask about at most 62 days at a time.".into(),
        )
        .into());
    }
    Ok((from, to))
}

/// Parameters of the availability view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RangeParams {
    /// Start (default now).
    pub from: Option<String>,
    /// End (default a day later; at most 62 days after `from`).
    pub to: Option<String>,
}

/// When a resource is busy and free (local bookings and its Google calendar).
#[utoipa::path(get, path = "/api/v1/resources/{id}/availability", params(("id" = String, Path), RangeParams),
    responses((status = 200, description = "{busy, free}")), tag = "resources")]
async fn availability(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<RangeParams>,
) -> Result<Json<Value>, ApiError> {
    let resource = resources::get(&state.db, &actor.tenant_id, &id).await?;
    let (from, to) = range(
        params.from.as_deref(),
        params.to.as_deref(),
        Duration::days(1),
    )?;
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
    let busy: Vec<_> = availability::busy_time(&state, &actor.tenant_id, &query)
        .await?
        .into_iter()
        .map(|b| super::recurrence::Occurrence {
            start: b.start.max(from),
            end: b.end.min(to),
        })
        .collect();
    let free = slots::subtract(
        &[super::recurrence::Occurrence {
            start: from,
            end: to,
        }],
        &busy,
    );
    let show = |list: &[super::recurrence::Occurrence]| -> Vec<Value> {
        list.iter()
            .map(|s| json!({"start": zulu(s.start), "end": zulu(s.end)}))
            .collect()
    };
    Ok(Json(json!({"busy": show(&busy), "free": show(&free)})))
}
