//! `events.list` and `events.instances`: filters, recurring-event expansion, page tokens and sync
//! tokens. A sync token holds a position in the calendar's change counter (and the calendar's
//! sync generation, so invalidation answers 410); a page token holds the last sort key sent and
//! the change-counter snapshot the listing started from.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::api::Params;
use super::error::ApiError;
use super::event_model::tombstone_view;
use super::store::{Calendar, StoredEvent};
use super::times::{Occurrence, Span, event_span, occurrences, parse_rfc3339, recurrence};

/// How far ahead open-ended recurrences are expanded when no `timeMax` is given.
const EXPANSION_HORIZON_DAYS: i64 = 730;
const DEFAULT_PAGE: i64 = 250;
const MAX_PAGE: i64 = 2500;
/// Parameters Google refuses together with `syncToken`.
const NOT_WITH_SYNC_TOKEN: &[&str] = &[
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Stored,
    StartTime,
    Updated,
}

type Key = (i64, i64);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Cursor {
    /// Last sort key sent.
    a: Key,
    /// Change-counter snapshot of the listing.
    u: u64,
    /// Lower change-counter bound of an incremental listing.
    s: Option<u64>,
}

/// A parsed `events.list` request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    max_results: usize,
    cursor: Option<Cursor>,
    since: Option<u64>,
    show_deleted: bool,
    single_events: bool,
    time_min: Option<DateTime<Utc>>,
    time_max: Option<DateTime<Utc>>,
    updated_min: Option<DateTime<Utc>>,
    private_props: Vec<(String, String)>,
    shared_props: Vec<(String, String)>,
    text: Option<String>,
    ical_uid: Option<String>,
    order: Order,
}

fn time_param(params: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(name)
        .map(|v| parse_rfc3339(v).ok_or_else(|| ApiError::invalid_parameter(name, "Bad Request")))
        .transpose()
}

fn property_filters(params: &Params, name: &str) -> Result<Vec<(String, String)>, ApiError> {
    params
        .all(name)
        .into_iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    ApiError::invalid_parameter(name, "Invalid extended property filter.")
                })
        })
        .collect()
}

fn max_results(params: &Params, default: i64) -> Result<usize, ApiError> {
    let n = params.int("maxResults")?.unwrap_or(default);
    if n < 1 {
        return Err(ApiError::invalid_parameter("maxResults", "Invalid Value"));
    }
    Ok(usize::try_from(n.min(MAX_PAGE)).unwrap_or(250))
}

fn decode_cursor(token: &str) -> Result<Cursor, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::invalid_parameter("pageToken", "Invalid page token value."))
}

fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

fn calendar_tag(calendar: &Calendar) -> String {
    let digest = Sha256::digest(calendar.id.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..6])
}

/// The sync token for `calendar` at change-counter position `seq`.
pub fn sync_token(calendar: &Calendar, seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}:{}",
        calendar_tag(calendar),
        calendar.epoch,
        seq
    ))
}

fn decode_sync_token(calendar: &Calendar, token: &str) -> Result<u64, ApiError> {
    let invalid = || ApiError::invalid_parameter("syncToken", "Invalid sync token value.");
    let text = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let mut parts = text.split(':');
    let (Some(tag), Some(epoch), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let (epoch, seq) = (
        epoch.parse::<u64>().map_err(|_| invalid())?,
        seq.parse::<u64>().map_err(|_| invalid())?,
    );
    if tag != calendar_tag(calendar) {
        return Err(invalid());
    }
    if epoch != calendar.epoch || seq > calendar.seq {
        return Err(ApiError::full_sync_required());
    }
    Ok(seq)
}

/// Parses and validates the `events.list` query parameters.
pub fn parse_list(params: &Params, calendar: &Calendar) -> Result<ListQuery, ApiError> {
    let since = params
        .get("syncToken")
        .map(|t| decode_sync_token(calendar, t))
        .transpose()?;
    let show_deleted = params.bool("showDeleted")?;
    if since.is_some() {
        if let Some(name) = NOT_WITH_SYNC_TOKEN.iter().find(|n| params.get(n).is_some()) {
            return Err(ApiError::invalid_parameter(
                name,
                &format!("Sync token cannot be used with {name}."),
            ));
        }
        if show_deleted == Some(false) {
            return Err(ApiError::invalid_parameter(
                "showDeleted",
                "Sync token cannot be used with showDeleted=false.",
            ));
        }
    }
    let single_events = params.bool("singleEvents")?.unwrap_or(false);
    let order = match params.get("orderBy") {
        None => Order::Stored,
        Some("startTime") if single_events => Order::StartTime,
        Some("updated") => Order::Updated,
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "orderBy",
                "The requested ordering is not available for the particular query.",
            ));
        }
    };
    let (time_min, time_max) = (
        time_param(params, "timeMin")?,
        time_param(params, "timeMax")?,
    );
    if let (Some(min), Some(max)) = (time_min, time_max)
        && min >= max
    {
        return Err(ApiError::time_range_empty());
    }
    Ok(ListQuery {
        max_results: max_results(params, DEFAULT_PAGE)?,
        cursor: params.get("pageToken").map(decode_cursor).transpose()?,
        since,
        show_deleted: show_deleted.unwrap_or(false),
        single_events,
        time_min,
        time_max,
        updated_min: time_param(params, "updatedMin")?,
        private_props: property_filters(params, "privateExtendedProperty")?,
        shared_props: property_filters(params, "sharedExtendedProperty")?,
        text: params.get("q").map(str::to_lowercase),
        ical_uid: params.get("iCalUID").map(str::to_owned),
        order,
    })
}

/// A listed item, rendered to JSON only if it lands on the page being answered.
#[derive(Debug)]
enum Entry<'a> {
    Full(&'a Map<String, Value>),
    Tombstone(&'a Map<String, Value>),
    Instance(&'a Map<String, Value>, Occurrence),
}

impl Entry<'_> {
    fn render(self) -> Value {
        match self {
            Entry::Full(body) => Value::Object(body.clone()),
            Entry::Tombstone(body) => tombstone_view(body),
            Entry::Instance(master, occurrence) => {
                Value::Object(instance_view(master, &occurrence))
            }
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// Events of this page.
    pub items: Vec<Value>,
    /// Token of the next page, if any.
    pub next_page_token: Option<String>,
    /// Sync token, on the last page of `events.list` only.
    pub next_sync_token: Option<String>,
}

/// Runs an `events.list` query.
pub fn list(calendar: &Calendar, query: &ListQuery, now: DateTime<Utc>) -> Result<Page, ApiError> {
    let upper = query.cursor.map_or(calendar.seq, |c| c.u);
    let since = query.cursor.map_or(query.since, |c| c.s);
    let mut items = Vec::new();
    for event in calendar.events.values() {
        if event.seq > upper || since.is_some_and(|s| event.seq <= s) {
            continue;
        }
        collect_event(calendar, query, since.is_some(), event, now, &mut items)?;
    }
    Ok(paginate(
        items,
        query.max_results,
        query.cursor.map(|c| c.a),
        |after| Cursor {
            a: after,
            u: upper,
            s: since,
        },
        || sync_token(calendar, upper),
    ))
}

fn collect_event<'a>(
    calendar: &Calendar,
    query: &ListQuery,
    incremental: bool,
    event: &'a StoredEvent,
    now: DateTime<Utc>,
    out: &mut Vec<(Key, Entry<'a>)>,
) -> Result<(), ApiError> {
    let body = &event.body;
    let span = event_span(body, &calendar.time_zone).ok();
    let updated = body
        .get("updated")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    if event.cancelled() {
        let recently_deleted = query
            .updated_min
            .is_some_and(|m| updated.is_some_and(|u| u >= m));
        if incremental || query.show_deleted || recently_deleted {
            out.push((
                key(query.order, event.order, span, updated),
                Entry::Tombstone(body),
            ));
        }
        return Ok(());
    }
    if !incremental && !matches_filters(query, body, updated) {
        return Ok(());
    }
    if recurrence(body).is_some() {
        return collect_recurring(calendar, query, event, span, updated, now, out);
    }
    if span.is_some_and(|s| s.overlaps(query.time_min, query.time_max)) {
        out.push((
            key(query.order, event.order, span, updated),
            Entry::Full(body),
        ));
    }
    Ok(())
}

fn collect_recurring<'a>(
    calendar: &Calendar,
    query: &ListQuery,
    event: &'a StoredEvent,
    span: Option<Span>,
    updated: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    out: &mut Vec<(Key, Entry<'a>)>,
) -> Result<(), ApiError> {
    let Some(span) = span else { return Ok(()) };
    let from = query.time_min.unwrap_or(span.start);
    let to = query
        .time_max
        .unwrap_or_else(|| from.max(now) + chrono::Duration::days(EXPANSION_HORIZON_DAYS));
    let instances = occurrences(&event.body, &calendar.time_zone, from, to)?;
    if !query.single_events {
        let unbounded = query.time_min.is_none() && query.time_max.is_none();
        if unbounded || !instances.is_empty() {
            out.push((
                key(query.order, event.order, Some(span), updated),
                Entry::Full(&event.body),
            ));
        }
        return Ok(());
    }
    for occurrence in instances {
        if calendar
            .event(&instance_id(event.id(), &occurrence))
            .is_some()
        {
            continue;
        }
        let k = key(query.order, event.order, Some(occurrence.span), updated);
        out.push((k, Entry::Instance(&event.body, occurrence)));
    }
    Ok(())
}

fn matches_filters(
    query: &ListQuery,
    body: &Map<String, Value>,
    updated: Option<DateTime<Utc>>,
) -> bool {
    let props = |kind: &str, wanted: &[(String, String)]| {
        wanted.iter().all(|(k, v)| {
            body.get("extendedProperties")
                .and_then(|p| p.get(kind))
                .and_then(|p| p.get(k))
                .and_then(Value::as_str)
                == Some(v.as_str())
        })
    };
    query
        .updated_min
        .is_none_or(|m| updated.is_some_and(|u| u >= m))
        && props("private", &query.private_props)
        && props("shared", &query.shared_props)
        && query
            .ical_uid
            .as_deref()
            .is_none_or(|u| body.get("iCalUID").and_then(Value::as_str) == Some(u))
        && query.text.as_deref().is_none_or(|t| matches_text(body, t))
}

fn matches_text(body: &Map<String, Value>, text: &str) -> bool {
    let mut haystack: Vec<&str> = ["summary", "description", "location"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_str))
        .collect();
    if let Some(Value::Array(attendees)) = body.get("attendees") {
        haystack.extend(
            attendees
                .iter()
                .filter_map(|a| a.get("email").and_then(Value::as_str)),
        );
    }
    haystack.iter().any(|h| h.to_lowercase().contains(text))
}

fn millis(at: Option<DateTime<Utc>>) -> i64 {
    at.map_or(0, |t| t.timestamp_millis())
}

fn key(order: Order, stored: u64, span: Option<Span>, updated: Option<DateTime<Utc>>) -> Key {
    let stored = i64::try_from(stored).unwrap_or(i64::MAX);
    let start = millis(span.map(|s| s.start));
    match order {
        Order::Stored => (stored, start),
        Order::StartTime => (start, stored),
        Order::Updated => (
            millis(updated),
            stored
                .saturating_mul(1 << 20)
                .saturating_add(start % (1 << 20)),
        ),
    }
}

fn paginate(
    mut items: Vec<(Key, Entry<'_>)>,
    max: usize,
    after: Option<Key>,
    cursor: impl Fn(Key) -> Cursor,
    sync: impl Fn() -> String,
) -> Page {
    items.sort_by_key(|(k, _)| *k);
    let mut remaining = items
        .into_iter()
        .filter(|(k, _)| after.is_none_or(|a| *k > a))
        .peekable();
    let page: Vec<(Key, Entry<'_>)> = remaining.by_ref().take(max).collect();
    let more = remaining.peek().is_some();
    let last = page.last().map(|(k, _)| *k);
    let items = page.into_iter().map(|(_, entry)| entry.render()).collect();
    match last.filter(|_| more) {
        Some(last) => Page {
            items,
            next_page_token: Some(encode_cursor(&cursor(last))),
            next_sync_token: None,
        },
        None => Page {
            items,
            next_page_token: None,
            next_sync_token: Some(sync()),
        },
    }
}

/// The id Google gives an instance of a recurring event.
pub fn instance_id(master_id: &str, occurrence: &Occurrence) -> String {
    format!("{master_id}_{}", occurrence.suffix)
}

/// An instance of a recurring event as Google returns it.
pub fn instance_view(master: &Map<String, Value>, occurrence: &Occurrence) -> Map<String, Value> {
    let mut body = master.clone();
    let master_id = master
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    body.remove("recurrence");
    body.insert("id".into(), json!(instance_id(&master_id, occurrence)));
    body.insert("recurringEventId".into(), json!(master_id));
    body.insert("originalStartTime".into(), occurrence.start_json.clone());
    body.insert("start".into(), occurrence.start_json.clone());
    body.insert("end".into(), occurrence.end_json.clone());
    body
}

/// Finds the generated instance `instance_id` of a stored recurring event.
pub fn find_instance(
    calendar: &Calendar,
    instance_id: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some((master_id, suffix)) = instance_id.rsplit_once('_') else {
        return Ok(None);
    };
    let Some(master) = calendar
        .event(master_id)
        .filter(|m| !m.cancelled() && recurrence(&m.body).is_some())
    else {
        return Ok(None);
    };
    let Some(day) = suffix
        .get(..8)
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok())
    else {
        return Ok(None);
    };
    let from = day.and_time(chrono::NaiveTime::MIN).and_utc() - chrono::Duration::days(1);
    let to = from + chrono::Duration::days(3);
    let found = occurrences(&master.body, &calendar.time_zone, from, to)?
        .into_iter()
        .find(|o| o.suffix == suffix);
    Ok(found.map(|o| instance_view(&master.body, &o)))
}

/// Runs an `events.instances` query for a stored recurring event.
pub fn instances(
    calendar: &Calendar,
    master: &StoredEvent,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Page, ApiError> {
    let show_deleted = params.bool("showDeleted")?.unwrap_or(false);
    let (time_min, time_max) = (
        time_param(params, "timeMin")?,
        time_param(params, "timeMax")?,
    );
    let original_start = time_param(params, "originalStart")?;
    let max = max_results(params, MAX_PAGE)?;
    let after = params
        .get("pageToken")
        .map(decode_cursor)
        .transpose()?
        .map(|c| c.a);
    let Ok(span) = event_span(&master.body, &calendar.time_zone) else {
        return Ok(paginate(Vec::new(), max, None, no_cursor, String::new));
    };
    let from = time_min.unwrap_or(span.start);
    let to =
        time_max.unwrap_or_else(|| from.max(now) + chrono::Duration::days(EXPANSION_HORIZON_DAYS));
    let mut items = Vec::new();
    for occurrence in occurrences(&master.body, &calendar.time_zone, from, to)? {
        if original_start.is_some_and(|o| o != occurrence.span.start) {
            continue;
        }
        let id = instance_id(master.id(), &occurrence);
        let view = match calendar.event(&id) {
            Some(exception) if exception.cancelled() && !show_deleted => continue,
            Some(exception) if exception.cancelled() => Entry::Tombstone(&exception.body),
            Some(exception) => Entry::Full(&exception.body),
            None => Entry::Instance(&master.body, occurrence.clone()),
        };
        items.push(((millis(Some(occurrence.span.start)), 0), view));
    }
    let mut page = paginate(items, max, after, no_cursor, String::new);
    page.next_sync_token = None;
    Ok(page)
}

fn no_cursor(after: Key) -> Cursor {
    Cursor {
        a: after,
        u: 0,
        s: None,
    }
}
