//! Event handlers: insert, get, list, patch, update, delete, move, instances.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::api::{Ctx, Params, json_object};
use super::error::ApiError;
use super::event_model::{Write, cancel, new_event, patched, replaced, set_organizer};
use super::listing::{
    Page, find_instance, instances as list_instances, list as list_events, parse_list,
};
use super::methods::{
    EVENTS_DELETE, EVENTS_GET, EVENTS_INSERT, EVENTS_INSTANCES, EVENTS_LIST, EVENTS_MOVE,
    EVENTS_PATCH, EVENTS_UPDATE,
};
use super::store::{Calendar, Role, Store, next_etag};
use super::{Shared, push};

/// The calendar if the caller may read its events; 404 otherwise, as Google answers.
pub fn readable<'a>(
    store: &'a Store,
    calendar_id: &str,
    caller: &str,
) -> Result<(&'a Calendar, Role), ApiError> {
    let calendar = store
        .calendars
        .get(calendar_id)
        .ok_or_else(ApiError::not_found)?;
    match calendar.role(caller) {
        Some(role) if role >= Role::Reader => Ok((calendar, role)),
        _ => Err(ApiError::not_found()),
    }
}

/// The calendar if the caller may write events; 404 when invisible, 403 for readers.
pub fn writable<'a>(
    store: &'a mut Store,
    calendar_id: &str,
    caller: &str,
) -> Result<&'a mut Calendar, ApiError> {
    let calendar = store
        .calendars
        .get_mut(calendar_id)
        .ok_or_else(ApiError::not_found)?;
    match calendar.role(caller) {
        Some(Role::Writer | Role::Owner) => Ok(calendar),
        Some(Role::Reader) => Err(ApiError::writer_required()),
        _ => Err(ApiError::not_found()),
    }
}

/// A stored event or a generated instance of a recurring one.
fn lookup(calendar: &Calendar, event_id: &str) -> Result<Map<String, Value>, ApiError> {
    if let Some(event) = calendar.event(event_id) {
        return Ok(event.body.clone());
    }
    find_instance(calendar, event_id)?.ok_or_else(ApiError::not_found)
}

fn check_etag(ctx: &Ctx, body: &Map<String, Value>) -> Result<(), ApiError> {
    match ctx.if_match() {
        Some(expected)
            if expected != "*" && body.get("etag").and_then(Value::as_str) != Some(expected) =>
        {
            Err(ApiError::condition_not_met())
        }
        _ => Ok(()),
    }
}

fn write_ctx<'a>(caller: &'a str, params: &Params) -> Result<Write<'a>, ApiError> {
    Ok(Write {
        caller,
        conference_v1: params.conference_v1()?,
        now: Utc::now(),
        etag: next_etag(),
    })
}

/// `POST calendars/{calendarId}/events`.
pub async fn insert(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(calendar_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_INSERT).await?;
    let params = Params::parse(raw.as_deref());
    let input = json_object(&body)?;
    let write = write_ctx(&caller, &params)?;
    let (event, id) = {
        let mut store = shared.lock();
        let id = store.resolve(&calendar_id, &caller);
        let calendar = writable(&mut store, &id, &caller)?;
        let event = new_event(calendar, input, &write)?;
        calendar.put_event(event.clone());
        (event, id)
    };
    push::notify(&shared, &id);
    Ok(Json(Value::Object(event)))
}

/// `GET calendars/{calendarId}/events/{eventId}` (deleted events answer with `status: cancelled`).
pub async fn get(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path((calendar_id, event_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_GET).await?;
    let store = shared.lock();
    let (calendar, _) = readable(&store, &store.resolve(&calendar_id, &caller), &caller)?;
    Ok(Json(Value::Object(lookup(calendar, &event_id)?)))
}

fn events_response(calendar: &Calendar, role: Role, page: Page) -> Value {
    let updated = calendar
        .events
        .values()
        .filter_map(|e| e.body.get("updated").and_then(Value::as_str))
        .max()
        .map_or_else(|| super::times::format_millis(Utc::now()), str::to_owned);
    let mut body = json!({
        "kind": "calendar#events",
        "etag": format!("\"p3{}\"", calendar.seq),
        "summary": calendar.summary,
        "updated": updated,
        "timeZone": calendar.time_zone,
        "accessRole": role.as_str(),
        "defaultReminders": [],
        "items": page.items,
    });
    if let Some(description) = &calendar.description {
        body["description"] = json!(description);
    }
    if let Some(token) = page.next_page_token {
        body["nextPageToken"] = json!(token);
    }
    if let Some(token) = page.next_sync_token {
        body["nextSyncToken"] = json!(token);
    }
    body
}

/// `GET calendars/{calendarId}/events`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(calendar_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_LIST).await?;
    let params = Params::parse(raw.as_deref());
    let store = shared.lock();
    let (calendar, role) = readable(&store, &store.resolve(&calendar_id, &caller), &caller)?;
    let query = parse_list(&params, calendar)?;
    let page = list_events(calendar, &query, Utc::now())?;
    Ok(Json(events_response(calendar, role, page)))
}

/// `GET calendars/{calendarId}/events/{eventId}/instances`.
pub async fn instances(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_INSTANCES).await?;
    let params = Params::parse(raw.as_deref());
    let store = shared.lock();
    let (calendar, role) = readable(&store, &store.resolve(&calendar_id, &caller), &caller)?;
    let master = calendar.event(&event_id).ok_or_else(ApiError::not_found)?;
    let page = list_instances(calendar, master, &params, Utc::now())?;
    Ok(Json(events_response(calendar, role, page)))
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Patch,
    Update,
}

async fn modify(
    shared: Arc<Shared>,
    ctx: Ctx,
    (calendar_id, event_id): (String, String),
    raw: Option<String>,
    body: Bytes,
    change: Change,
) -> Result<Json<Value>, ApiError> {
    let spec = match change {
        Change::Patch => &EVENTS_PATCH,
        Change::Update => &EVENTS_UPDATE,
    };
    let caller = ctx.authorize(&shared, spec).await?;
    let params = Params::parse(raw.as_deref());
    let input = json_object(&body)?;
    let write = write_ctx(&caller, &params)?;
    let (event, id) = {
        let mut store = shared.lock();
        let id = store.resolve(&calendar_id, &caller);
        let calendar = writable(&mut store, &id, &caller)?;
        let existing = lookup(calendar, &event_id)?;
        check_etag(&ctx, &existing)?;
        let event = match change {
            Change::Patch => patched(calendar, &existing, input, &write)?,
            Change::Update => replaced(calendar, &existing, input, &write)?,
        };
        calendar.put_event(event.clone());
        (event, id)
    };
    push::notify(&shared, &id);
    Ok(Json(Value::Object(event)))
}

/// `PATCH calendars/{calendarId}/events/{eventId}`.
pub async fn patch(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(ids): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    modify(shared, ctx, ids, raw, body, Change::Patch).await
}

/// `PUT calendars/{calendarId}/events/{eventId}`.
pub async fn update(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(ids): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    modify(shared, ctx, ids, raw, body, Change::Update).await
}

/// `DELETE calendars/{calendarId}/events/{eventId}`: marks it cancelled (exceptions of a series too).
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path((calendar_id, event_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_DELETE).await?;
    let id = {
        let mut store = shared.lock();
        let id = store.resolve(&calendar_id, &caller);
        let calendar = writable(&mut store, &id, &caller)?;
        let existing = lookup(calendar, &event_id)?;
        if existing.get("status").and_then(Value::as_str) == Some("cancelled") {
            return Err(ApiError::deleted());
        }
        check_etag(&ctx, &existing)?;
        let exceptions = exceptions_of(calendar, &event_id);
        for mut body in std::iter::once(existing).chain(exceptions) {
            cancel(&mut body, next_etag(), Utc::now());
            calendar.put_event(body);
        }
        id
    };
    push::notify(&shared, &id);
    Ok(StatusCode::NO_CONTENT)
}

fn exceptions_of(calendar: &Calendar, master_id: &str) -> Vec<Map<String, Value>> {
    calendar
        .events
        .values()
        .filter(|e| e.recurring_event_id() == Some(master_id) && !e.cancelled())
        .map(|e| e.body.clone())
        .collect()
}

/// `POST calendars/{calendarId}/events/{eventId}/move?destination=…`: the event (with a series'
/// exceptions) leaves the source, which then lists it as cancelled, and joins the destination.
pub async fn move_event(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &EVENTS_MOVE).await?;
    let params = Params::parse(raw.as_deref());
    let destination = params
        .get("destination")
        .ok_or_else(|| ApiError::required("Required parameter: destination"))?;
    let (moved, source, target) = {
        let mut store = shared.lock();
        let source = store.resolve(&calendar_id, &caller);
        let target = store.resolve(destination, &caller);
        writable(&mut store, &target, &caller)?;
        let calendar = writable(&mut store, &source, &caller)?;
        let event = calendar
            .event(&event_id)
            .filter(|e| !e.cancelled())
            .ok_or_else(ApiError::not_found)?;
        if event.recurring_event_id().is_some() {
            return Err(
                ApiError::invalid("Cannot change the organizer of an instance.")
                    .reason("cannotChangeOrganizerOfInstance"),
            );
        }
        let bodies: Vec<_> = std::iter::once(event.body.clone())
            .chain(exceptions_of(calendar, &event_id))
            .collect();
        if source == target {
            return Ok(Json(Value::Object(event.body.clone())));
        }
        for body in &bodies {
            let mut tombstone = body.clone();
            cancel(&mut tombstone, next_etag(), Utc::now());
            calendar.put_event(tombstone);
        }
        let destination = writable(&mut store, &target, &caller)?;
        let now = super::times::format_millis(Utc::now());
        for mut body in bodies {
            set_organizer(&mut body, destination);
            body.insert("etag".into(), json!(next_etag()));
            body.insert("updated".into(), json!(now));
            destination.put_event(body);
        }
        (
            destination
                .event(&event_id)
                .map(|e| e.body.clone())
                .unwrap_or_default(),
            source,
            target,
        )
    };
    push::notify(&shared, &source);
    push::notify(&shared, &target);
    Ok(Json(Value::Object(moved)))
}
