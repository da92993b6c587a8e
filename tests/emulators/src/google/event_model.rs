//! Building event resources the way Google fills them on insert, update and patch: ids, etags,
//! timestamps, `iCalUID`, `sequence`, organizer/creator, attendees' `responseStatus`, and Meet
//! conference data for `conferenceData.createRequest`.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::store::{Calendar, random_event_id};
use super::times::{event_span, format_millis, occurrences, recurrence};

/// Properties of the discovery document's `Event` schema that clients may write.
const WRITABLE: &[&str] = &[
    "anyoneCanAddSelf",
    "attachments",
    "attendees",
    "birthdayProperties",
    "colorId",
    "conferenceData",
    "description",
    "end",
    "endTimeUnspecified",
    "eventType",
    "extendedProperties",
    "focusTimeProperties",
    "gadget",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "id",
    "location",
    "outOfOfficeProperties",
    "recurrence",
    "reminders",
    "sequence",
    "source",
    "start",
    "status",
    "summary",
    "transparency",
    "visibility",
    "workingLocationProperties",
];

/// Fields the server owns and keeps from the stored event on update and patch.
const SERVER_OWNED: &[&str] = &[
    "kind",
    "id",
    "created",
    "creator",
    "organizer",
    "htmlLink",
    "iCalUID",
    "recurringEventId",
    "originalStartTime",
];

/// Who writes and how.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    /// Email of the calling account.
    pub caller: &'a str,
    /// `conferenceDataVersion=1` was sent.
    pub conference_v1: bool,
    /// Timestamp of the change.
    pub now: DateTime<Utc>,
    /// New etag.
    pub etag: String,
}

fn writable(input: Map<String, Value>) -> Map<String, Value> {
    input
        .into_iter()
        .filter(|(k, _)| WRITABLE.contains(&k.as_str()))
        .collect()
}

/// Checks a client-supplied event id as Google does (base32hex characters, 5–1024 long).
fn check_id(id: &str) -> Result<(), ApiError> {
    let valid_chars = id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v'));
    if valid_chars && (5..=1024).contains(&id.len()) {
        Ok(())
    } else {
        Err(ApiError::invalid("Invalid resource id value."))
    }
}

/// A new event for `calendar` from an insert body.
pub fn new_event(
    calendar: &Calendar,
    input: Map<String, Value>,
    write: &Write<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let mut body = writable(input);
    let id = match body.get("id").and_then(Value::as_str) {
        Some(id) => {
            check_id(id)?;
            id.to_owned()
        }
        None => random_event_id(),
    };
    if calendar.event(&id).is_some() {
        return Err(ApiError::duplicate());
    }
    let created = format_millis(write.now);
    body.insert("kind".into(), json!("calendar#event"));
    body.insert("id".into(), json!(id));
    body.insert("created".into(), json!(created));
    body.insert("htmlLink".into(), json!(html_link(&id, &calendar.id)));
    body.insert("iCalUID".into(), json!(format!("{id}@google.com")));
    body.insert("creator".into(), person(write.caller, calendar));
    body.insert("organizer".into(), organizer(calendar));
    body.entry("sequence").or_insert(json!(0));
    body.entry("reminders")
        .or_insert(json!({ "useDefault": true }));
    body.entry("eventType").or_insert(json!("default"));
    if !write.conference_v1 {
        body.remove("conferenceData");
    }
    finish(calendar, body, None, write)
}

/// The stored event replaced by an update (PUT) body.
pub fn replaced(
    calendar: &Calendar,
    existing: &Map<String, Value>,
    input: Map<String, Value>,
    write: &Write<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let mut body = writable(input);
    for key in SERVER_OWNED {
        match existing.get(*key) {
            Some(value) => body.insert((*key).to_owned(), value.clone()),
            None => body.remove(*key),
        };
    }
    body.entry("eventType").or_insert(json!("default"));
    body.entry("reminders")
        .or_insert(json!({ "useDefault": true }));
    if !write.conference_v1 {
        keep_conference(&mut body, existing);
    }
    finish(calendar, body, Some(existing), write)
}

/// The stored event with a patch body merged in (objects merged, arrays and scalars replaced, null removes).
pub fn patched(
    calendar: &Calendar,
    existing: &Map<String, Value>,
    patch: Map<String, Value>,
    write: &Write<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let mut body = existing.clone();
    for (key, value) in writable(patch) {
        if key == "id" {
            continue;
        }
        if key == "conferenceData" && !write.conference_v1 {
            continue;
        }
        merge_into(&mut body, key, value);
    }
    finish(calendar, body, Some(existing), write)
}

fn merge_into(target: &mut Map<String, Value>, key: String, value: Value) {
    match (target.get_mut(&key), value) {
        (_, Value::Null) => {
            target.remove(&key);
        }
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                merge_into(old, k, v);
            }
        }
        (_, value) => {
            target.insert(key, value);
        }
    }
}

fn keep_conference(body: &mut Map<String, Value>, existing: &Map<String, Value>) {
    for key in ["conferenceData", "hangoutLink"] {
        match existing.get(key) {
            Some(value) => body.insert(key.to_owned(), value.clone()),
            None => body.remove(key),
        };
    }
}

fn finish(
    calendar: &Calendar,
    mut body: Map<String, Value>,
    existing: Option<&Map<String, Value>>,
    write: &Write<'_>,
) -> Result<Map<String, Value>, ApiError> {
    validate_times(calendar, &body)?;
    let status = body.entry("status").or_insert(json!("confirmed"));
    if !matches!(
        status.as_str(),
        Some("confirmed" | "tentative" | "cancelled")
    ) {
        return Err(ApiError::invalid("Invalid value for: status"));
    }
    normalise_attendees(&mut body, calendar);
    if write.conference_v1 {
        create_conference(&mut body);
    }
    if let Some(existing) = existing {
        bump_sequence(&mut body, existing);
    }
    body.insert("etag".into(), json!(write.etag));
    body.insert("updated".into(), json!(format_millis(write.now)));
    Ok(body)
}

fn validate_times(calendar: &Calendar, body: &Map<String, Value>) -> Result<(), ApiError> {
    let span = event_span(body, &calendar.time_zone)?;
    if span.end < span.start {
        return Err(ApiError::time_range_empty());
    }
    if recurrence(body).is_none() {
        return Ok(());
    }
    let start = body.get("start");
    let timed = start.and_then(|s| s.get("dateTime")).is_some();
    if timed && start.and_then(|s| s.get("timeZone")).is_none() {
        return Err(ApiError::invalid(
            "Missing time zone definition for start time.",
        ));
    }
    occurrences(body, &calendar.time_zone, span.start, span.end).map(|_| ())
}

fn bump_sequence(body: &mut Map<String, Value>, existing: &Map<String, Value>) {
    let changed = ["start", "end", "recurrence", "location"]
        .iter()
        .any(|k| body.get(*k) != existing.get(*k));
    let old = existing
        .get("sequence")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let given = body.get("sequence").and_then(Value::as_i64).unwrap_or(old);
    let next = if changed && given <= old {
        old + 1
    } else {
        given
    };
    body.insert("sequence".into(), json!(next));
}

fn html_link(id: &str, calendar_id: &str) -> String {
    use base64::Engine;
    let eid =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id} {calendar_id}"));
    format!("https://www.google.com/calendar/event?eid={eid}")
}

fn person(email: &str, calendar: &Calendar) -> Value {
    let mut p = json!({ "email": email });
    if email == calendar.id {
        p["self"] = json!(true);
    }
    p
}

fn organizer(calendar: &Calendar) -> Value {
    let mut o = json!({ "email": calendar.id, "self": true });
    if !calendar.primary {
        o["displayName"] = json!(calendar.summary);
    }
    o
}

/// Sets the organizer to `calendar` (after `events.move`).
pub fn set_organizer(body: &mut Map<String, Value>, calendar: &Calendar) {
    body.insert("organizer".into(), organizer(calendar));
    body.insert(
        "htmlLink".into(),
        json!(html_link(
            body.get("id").and_then(Value::as_str).unwrap_or_default(),
            &calendar.id
        )),
    );
}

fn normalise_attendees(body: &mut Map<String, Value>, calendar: &Calendar) {
    let organizer = body
        .get("organizer")
        .and_then(|o| o.get("email"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(Value::Array(attendees)) = body.get_mut("attendees") else {
        return;
    };
    for attendee in attendees.iter_mut().filter_map(Value::as_object_mut) {
        attendee
            .entry("responseStatus")
            .or_insert(json!("needsAction"));
        let email = attendee
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if email.is_some() && email == organizer {
            attendee.insert("organizer".into(), json!(true));
        }
        if email.as_deref() == Some(calendar.id.as_str()) {
            attendee.insert("self".into(), json!(true));
        }
    }
}

fn meet_code() -> String {
    let mut rng = rand::rng();
    let mut letters = |n: usize| {
        (0..n)
            .map(|_| char::from(rng.random_range(b'a'..=b'z')))
            .collect::<String>()
    };
    format!("{}-{}-{}", letters(3), letters(4), letters(3))
}

fn create_conference(body: &mut Map<String, Value>) {
    let Some(conference) = body
        .get_mut("conferenceData")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if conference.contains_key("conferenceId") {
        return;
    }
    let Some(request) = conference
        .get_mut("createRequest")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let kind = request
        .get("conferenceSolutionKey")
        .and_then(|k| k.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("hangoutsMeet")
        .to_owned();
    if kind != "hangoutsMeet" {
        request.insert("status".into(), json!({ "statusCode": "failure" }));
        return;
    }
    request.insert("status".into(), json!({ "statusCode": "success" }));
    let code = meet_code();
    let uri = format!("https://meet.google.com/{code}");
    conference.insert("conferenceId".into(), json!(code));
    conference.insert(
        "entryPoints".into(),
        json!([{ "entryPointType": "video", "uri": uri, "label": format!("meet.google.com/{code}") }]),
    );
    conference.insert(
        "conferenceSolution".into(),
        json!({
            "key": { "type": "hangoutsMeet" },
            "name": "Google Meet",
            "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
        }),
    );
    body.insert("hangoutLink".into(), json!(uri));
}

/// The event as an incremental list shows a deleted one: only what identifies it.
pub fn tombstone_view(body: &Map<String, Value>) -> Value {
    let keep = [
        "kind",
        "etag",
        "id",
        "status",
        "updated",
        "recurringEventId",
        "originalStartTime",
    ];
    Value::Object(
        body.iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Marks an event deleted.
pub fn cancel(body: &mut Map<String, Value>, etag: String, now: DateTime<Utc>) {
    body.insert("status".into(), json!("cancelled"));
    body.insert("etag".into(), json!(etag));
    body.insert("updated".into(), json!(format_millis(now)));
}
