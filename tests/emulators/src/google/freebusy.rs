//! `freebusy.query`: merged busy intervals per calendar (recurring events expanded; transparent and
//! cancelled events left out), and a `notFound` error for calendars the caller cannot see.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::Shared;
use super::api::{Ctx, json_object};
use super::error::ApiError;
use super::methods::FREEBUSY_QUERY;
use super::store::Calendar;
use super::times::{Span, event_span, occurrences, parse_rfc3339, recurrence};

fn required_time(body: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, ApiError> {
    let text = body
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required(&format!("Missing {name}.")))?;
    parse_rfc3339(text).ok_or_else(|| ApiError::invalid(&format!("Invalid {name}.")))
}

/// `POST freeBusy`.
pub async fn query(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = ctx.authorize(&shared, &FREEBUSY_QUERY).await?;
    let body = json_object(&body)?;
    let (from, to) = (
        required_time(&body, "timeMin")?,
        required_time(&body, "timeMax")?,
    );
    if from >= to {
        return Err(ApiError::time_range_empty());
    }
    let ids: Vec<String> = body
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let store = shared.lock();
    let mut calendars = Map::new();
    for id in ids {
        let resolved = store.resolve(&id, &caller);
        let entry = match store
            .calendars
            .get(&resolved)
            .filter(|c| c.role(&caller).is_some())
        {
            Some(calendar) => json!({ "busy": busy(calendar, from, to)? }),
            None => json!({ "busy": [], "errors": [{ "domain": "global", "reason": "notFound" }] }),
        };
        calendars.insert(id, entry);
    }
    Ok(Json(json!({
        "kind": "calendar#freeBusy",
        "timeMin": format(from),
        "timeMax": format(to),
        "calendars": calendars,
    })))
}

fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn busy(
    calendar: &Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Value>, ApiError> {
    let mut spans = Vec::new();
    for event in calendar.events.values() {
        let body = &event.body;
        let transparent = body.get("transparency").and_then(Value::as_str) == Some("transparent");
        if event.cancelled() || transparent {
            continue;
        }
        if recurrence(body).is_some() {
            for occurrence in occurrences(body, &calendar.time_zone, from, to)? {
                let id = format!("{}_{}", event.id(), occurrence.suffix);
                if calendar.event(&id).is_none() {
                    spans.push(occurrence.span);
                }
            }
        } else if let Ok(span) = event_span(body, &calendar.time_zone)
            && span.overlaps(Some(from), Some(to))
        {
            spans.push(span);
        }
    }
    Ok(merge(spans, from, to)
        .into_iter()
        .map(|s| json!({ "start": format(s.start), "end": format(s.end) }))
        .collect())
}

fn merge(mut spans: Vec<Span>, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Span> = Vec::new();
    for span in spans {
        let clipped = Span {
            start: span.start.max(from),
            end: span.end.min(to),
        };
        if clipped.end <= clipped.start {
            continue;
        }
        match merged.last_mut() {
            Some(last) if clipped.start <= last.end => last.end = last.end.max(clipped.end),
            _ => merged.push(clipped),
        }
    }
    merged
}
