//! `calendarList.list`, `calendars.get`, `calendars.insert`, `calendars.delete`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Shared;
use super::api::{Ctx, Params, json_object};
use super::error::ApiError;
use super::methods::{CALENDAR_LIST_LIST, CALENDARS_DELETE, CALENDARS_GET, CALENDARS_INSERT};
use super::store::{Calendar, Role, Store};

/// Creates a secondary calendar owned by `owner`; answers its id.
pub fn create(store: &mut Store, owner: &str, summary: &str, time_zone: Option<&str>) -> String {
    let id = format!("c_{}@group.calendar.google.com", hex_id());
    let mut calendar = Calendar::new(&id, summary, owner, false);
    if let Some(zone) = time_zone {
        calendar.time_zone = zone.to_owned();
    }
    store.calendars.insert(id.clone(), calendar);
    id
}

fn hex_id() -> String {
    use std::fmt::Write;
    let bytes: [u8; 32] = rand::random();
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn conference_properties() -> Value {
    json!({ "allowedConferenceSolutionTypes": ["hangoutsMeet"] })
}

fn calendar_json(calendar: &Calendar) -> Value {
    let mut body = json!({
        "kind": "calendar#calendar",
        "etag": calendar.etag,
        "id": calendar.id,
        "summary": calendar.summary,
        "timeZone": calendar.time_zone,
        "conferenceProperties": conference_properties(),
    });
    if let Some(description) = &calendar.description {
        body["description"] = json!(description);
    }
    body
}

fn list_entry_json(calendar: &Calendar, role: Role) -> Value {
    let mut entry = calendar_json(calendar);
    entry["kind"] = json!("calendar#calendarListEntry");
    entry["accessRole"] = json!(role.as_str());
    entry["colorId"] = json!("14");
    entry["backgroundColor"] = json!("#9fe1e7");
    entry["foregroundColor"] = json!("#000000");
    entry["selected"] = json!(true);
    entry["defaultReminders"] = json!([]);
    if calendar.primary && role == Role::Owner {
        entry["primary"] = json!(true);
    }
    entry
}

/// `GET users/me/calendarList`: every calendar the caller has a role on (`minAccessRole` honoured).
pub async fn list_calendar_list(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &CALENDAR_LIST_LIST).await?;
    let params = Params::parse(raw.as_deref());
    let min_role = match params.get("minAccessRole") {
        Some(role) => Role::parse(role)
            .ok_or_else(|| ApiError::invalid_parameter("minAccessRole", "Invalid Value"))?,
        None => Role::FreeBusyReader,
    };
    let store = shared.lock();
    let mut calendars: Vec<(&Calendar, Role)> = store
        .calendars
        .values()
        .filter_map(|c| c.role(&caller).filter(|r| *r >= min_role).map(|r| (c, r)))
        .collect();
    calendars.sort_by(|a, b| (!a.0.primary, &a.0.id).cmp(&(!b.0.primary, &b.0.id)));
    let items: Vec<Value> = calendars
        .into_iter()
        .map(|(c, r)| list_entry_json(c, r))
        .collect();
    let etag = store
        .calendars
        .get(&caller)
        .map(|c| c.etag.clone())
        .unwrap_or_default();
    Ok(Json(
        json!({ "kind": "calendar#calendarList", "etag": etag, "items": items }),
    ))
}

/// `GET calendars/{calendarId}`.
pub async fn get(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(calendar_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &CALENDARS_GET).await?;
    let store = shared.lock();
    let id = store.resolve(&calendar_id, &caller);
    let calendar = store
        .calendars
        .get(&id)
        .filter(|c| c.role(&caller).is_some_and(|r| r >= Role::Reader))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(calendar_json(calendar)))
}

/// `POST calendars`: creates a secondary calendar owned by the caller.
pub async fn insert(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &CALENDARS_INSERT).await?;
    let body = json_object(&body)?;
    let summary = body
        .get("summary")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::required("Missing title."))?;
    let time_zone = body.get("timeZone").and_then(Value::as_str);
    if let Some(zone) = time_zone {
        zone.parse::<chrono_tz::Tz>()
            .map_err(|_| ApiError::invalid("Invalid time zone definition."))?;
    }
    let mut store = shared.lock();
    let id = create(&mut store, &caller, summary, time_zone);
    let calendar = store
        .calendars
        .get_mut(&id)
        .ok_or_else(ApiError::not_found)?;
    calendar.description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Json(calendar_json(calendar)))
}

/// `DELETE calendars/{calendarId}`: owner only; a primary calendar cannot be deleted.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    Path(calendar_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let caller = ctx.authorize(&shared, &CALENDARS_DELETE).await?;
    let mut store = shared.lock();
    let id = store.resolve(&calendar_id, &caller);
    let calendar = store.calendars.get(&id).ok_or_else(ApiError::not_found)?;
    match calendar.role(&caller) {
        None | Some(Role::FreeBusyReader) => return Err(ApiError::not_found()),
        Some(Role::Owner) => {}
        Some(_) => return Err(ApiError::forbidden()),
    }
    if calendar.primary {
        return Err(ApiError::invalid("Cannot delete primary calendar.")
            .reason("cannotDeletePrimaryCalendar"));
    }
    store.calendars.remove(&id);
    store.channels.retain(|_, ch| ch.calendar_id != id);
    Ok(StatusCode::NO_CONTENT)
}
