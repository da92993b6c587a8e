//! HTTP of meetings (docs/API.md, "Meetings") and resource availability.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRef, Path, State},
    http::{HeaderMap, StatusCode},
};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Meetings,
    queries::{self, AvailabilityView, Interval, ListParams, RangeParams, SlotList, SlotParams},
    service, store,
    validate::{MeetingPatch, NewMeeting},
    view::MeetingList,
};
use crate::{
    auth::{Actor, policy},
    db::Db,
    error::{ApiError, ApiJson, ApiQuery, FieldError, parse_json},
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
    device_walk_up_only(&actor, &body)?;
    let (meeting, _) = service::create(&state, &actor, body, key).await?;
    Ok((StatusCode::CREATED, Json(meeting.view_for(&actor))))
}

/// A device books only walk-ups over REST; the times are checked properly by the service,
/// this only reads their length.
fn device_walk_up_only(actor: &Actor, body: &NewMeeting) -> Result<(), ApiError> {
    let minutes = match (
        DateTime::parse_from_rfc3339(&body.start),
        DateTime::parse_from_rfc3339(&body.end),
    ) {
        (Ok(start), Ok(end)) => (end - start).num_minutes(),
        _ => 0,
    };
    let repeats = body
        .recurrence
        .as_ref()
        .is_some_and(|rules| !rules.is_empty());
    Ok(policy::may_book_as_device(
        actor,
        minutes,
        body.participants.len(),
        repeats,
    )?)
}

/// Lists meetings of the tenant, by start time, a page at a time.
#[utoipa::path(get, path = "/api/v1/calendar/events", params(ListParams),
    responses((status = 200, body = MeetingList)), tag = "meetings")]
async fn list_meetings(
    State(state): State<Meetings>,
    actor: Actor,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<MeetingList>, ApiError> {
    Ok(Json(
        queries::list(&state, &actor, &params)
            .await?
            .view_for(&actor),
    ))
}

/// One meeting.
#[utoipa::path(get, path = "/api/v1/calendar/events/{id}", params(("id" = String, Path, description = "The meeting's id")),
    responses((status = 200, description = "the meeting")), tag = "meetings")]
async fn get_meeting(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        store::get(&state.db, &actor.tenant_id, &id)
            .await?
            .view_for(&actor),
    ))
}

/// Changes a meeting; `If-Match` with its etag makes the change conditional.
#[utoipa::path(patch, path = "/api/v1/calendar/events/{id}", params(("id" = String, Path, description = "The meeting's id"), ("If-Match" = Option<String>, Header)),
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
            .view_for(&actor),
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
#[utoipa::path(post, path = "/api/v1/calendar/events/{id}/cancel", params(("id" = String, Path, description = "The meeting's id")),
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
            .view_for(&actor),
    ))
}

/// The change log of a meeting.
#[utoipa::path(get, path = "/api/v1/calendar/events/{id}/changes", params(("id" = String, Path, description = "The meeting's id")),
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

/// The earliest free slots for the resource and participants, in working hours.
#[utoipa::path(get, path = "/api/v1/calendar/free-slots", params(SlotParams),
    responses((status = 200, body = SlotList)), tag = "meetings")]
async fn free_slots(
    State(state): State<Meetings>,
    actor: Actor,
    ApiQuery(params): ApiQuery<SlotParams>,
) -> Result<Json<SlotList>, ApiError> {
    let found = queries::free_slots(&state, &actor, &params).await?;
    Ok(Json(SlotList {
        slots: found.iter().map(Interval::from).collect(),
    }))
}

/// When a resource is busy and free (local bookings and its Google calendar).
#[utoipa::path(get, path = "/api/v1/resources/{id}/availability", params(("id" = String, Path), RangeParams),
    responses((status = 200, body = AvailabilityView)), tag = "resources")]
async fn availability(
    State(state): State<Meetings>,
    actor: Actor,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<RangeParams>,
) -> Result<Json<AvailabilityView>, ApiError> {
    let seen = queries::resource_availability(&state, &actor, &id, &params).await?;
    Ok(Json(seen.view()))
}
