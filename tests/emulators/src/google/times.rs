//! Event times: parsing `EventDateTime` values and expanding `recurrence` (RRULE, EXDATE, RDATE)
//! into instances, with the instance ids Google gives them (`<eventId>_<start>`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::RRuleSet;
use serde_json::{Map, Value, json};

use super::error::ApiError;

/// Start and end of an event or instance, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Span {
    /// Whether this span overlaps `[from, to)`; open ends are given as `None`.
    pub fn overlaps(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
        from.is_none_or(|f| self.end > f) && to.is_none_or(|t| self.start < t)
    }
}

/// One instance of a recurring event.
#[derive(Debug, Clone)]
pub struct Occurrence {
    /// When it happens.
    pub span: Span,
    /// Its `start` (and `originalStartTime`) as an `EventDateTime`.
    pub start_json: Value,
    /// Its `end` as an `EventDateTime`.
    pub end_json: Value,
    /// Instance id suffix, e.g. `20260105T090000Z` or `20260105` for all-day events.
    pub suffix: String,
}

/// Parses an RFC 3339 timestamp as Google accepts it in query parameters.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Formats an instant as Google does in `updated` and `created` (UTC, milliseconds, `Z`).
pub fn format_millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time_zone(name: &str) -> Result<Tz, ApiError> {
    name.parse::<Tz>()
        .map_err(|_| ApiError::invalid(&format!("Invalid time zone definition for {name}.")))
}

/// Parses an `EventDateTime` (`date` or `dateTime` + optional `timeZone`) to a UTC instant.
pub fn parse_when(
    value: &Value,
    calendar_tz: &str,
    which: &str,
) -> Result<DateTime<Utc>, ApiError> {
    if let Some(date) = value.get("date").and_then(Value::as_str) {
        let day = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid(&format!("Invalid {which} time.")))?;
        let tz = time_zone(calendar_tz)?;
        return tz
            .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| ApiError::invalid(&format!("Invalid {which} time.")));
    }
    let text = value
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required(&format!("Missing {which} time.")))?;
    if let Some(at) = parse_rfc3339(text) {
        return Ok(at);
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| ApiError::invalid(&format!("Invalid {which} time.")))?;
    let zone = value
        .get("timeZone")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::invalid(&format!("Missing time zone definition for {which} time."))
        })?;
    time_zone(zone)?
        .from_local_datetime(&local)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| ApiError::invalid(&format!("Invalid {which} time.")))
}

/// The span of a stored or submitted event.
pub fn event_span(body: &Map<String, Value>, calendar_tz: &str) -> Result<Span, ApiError> {
    let start = body
        .get("start")
        .ok_or_else(|| ApiError::required("Missing start time."))?;
    let end = body
        .get("end")
        .ok_or_else(|| ApiError::required("Missing end time."))?;
    let start = parse_when(start, calendar_tz, "start")?;
    let end = parse_when(end, calendar_tz, "end")?;
    Ok(Span { start, end })
}

fn is_all_day(body: &Map<String, Value>) -> bool {
    body.get("start").and_then(|s| s.get("date")).is_some()
}

/// The recurrence lines of an event, if it is a recurring master.
pub fn recurrence(body: &Map<String, Value>) -> Option<Vec<String>> {
    let lines: Vec<String> = body
        .get("recurrence")?
        .as_array()?
        .iter()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// Expands a recurring event into its instances overlapping `[from, to)`.
pub fn occurrences(
    body: &Map<String, Value>,
    calendar_tz: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, ApiError> {
    let Some(lines) = recurrence(body) else {
        return Ok(Vec::new());
    };
    let span = event_span(body, calendar_tz)?;
    let duration = span.end - span.start;
    let all_day = is_all_day(body);
    let zone_name = if all_day {
        "UTC".to_owned()
    } else {
        body.get("start")
            .and_then(|s| s.get("timeZone"))
            .and_then(Value::as_str)
            .unwrap_or(calendar_tz)
            .to_owned()
    };
    let zone = time_zone(&zone_name)?;
    let rzone = rrule::Tz::Tz(zone);
    let dt_start = if all_day {
        let local = span
            .start
            .with_timezone(&time_zone(calendar_tz)?)
            .date_naive();
        Utc.from_utc_datetime(&local.and_time(chrono::NaiveTime::MIN))
            .with_timezone(&rzone)
    } else {
        span.start.with_timezone(&rzone)
    };
    let lines = super::rules::for_crate(&lines, zone, dt_start.naive_local());
    let set = RRuleSet::new(dt_start)
        .set_from_string(&lines.join("\n"))
        .map_err(|_| ApiError::invalid("Invalid recurrence rule."))?
        .after((from - duration - chrono::Duration::seconds(1)).with_timezone(&rzone))
        .before(to.with_timezone(&rzone));
    let occurrences = set
        .all(u16::MAX)
        .dates
        .into_iter()
        .map(|at| occurrence(at, duration, all_day, &zone_name, calendar_tz))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(occurrences
        .into_iter()
        .filter(|o| o.span.overlaps(Some(from), Some(to)))
        .collect())
}

fn occurrence(
    at: DateTime<rrule::Tz>,
    duration: chrono::Duration,
    all_day: bool,
    zone_name: &str,
    calendar_tz: &str,
) -> Result<Occurrence, ApiError> {
    if all_day {
        let day = at.date_naive();
        let end_day = day + duration;
        let start_json = json!({ "date": day.format("%Y-%m-%d").to_string() });
        let end_json = json!({ "date": end_day.format("%Y-%m-%d").to_string() });
        let start = parse_when(&start_json, calendar_tz, "start")?;
        let end = parse_when(&end_json, calendar_tz, "end")?;
        return Ok(Occurrence {
            span: Span { start, end },
            start_json,
            end_json,
            suffix: day.format("%Y%m%d").to_string(),
        });
    }
    let start = at.with_timezone(&Utc);
    let end = start + duration;
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&at.timezone())
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    Ok(Occurrence {
        span: Span { start, end },
        start_json: json!({ "dateTime": local(start), "timeZone": zone_name }),
        end_json: json!({ "dateTime": local(end), "timeZone": zone_name }),
        suffix: start.format("%Y%m%dT%H%M%SZ").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly() -> Map<String, Value> {
        let v = json!({
            "start": { "dateTime": "2026-01-05T10:00:00+01:00", "timeZone": "Europe/Berlin" },
            "end": { "dateTime": "2026-01-05T11:00:00+01:00", "timeZone": "Europe/Berlin" },
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=Europe/Berlin:20260112T100000"],
        });
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn weekly_rule_with_exdate_expands_to_three_instances() {
        let from = parse_rfc3339("2026-01-01T00:00:00Z").expect("from");
        let to = parse_rfc3339("2026-03-01T00:00:00Z").expect("to");
        let occ = occurrences(&weekly(), "UTC", from, to).expect("expand");
        let suffixes: Vec<_> = occ.iter().map(|o| o.suffix.as_str()).collect();
        assert_eq!(
            suffixes,
            ["20260105T090000Z", "20260119T090000Z", "20260126T090000Z"]
        );
        assert_eq!(occ[0].start_json["dateTime"], "2026-01-05T10:00:00+01:00");
    }

    #[test]
    fn window_cuts_instances() {
        let from = parse_rfc3339("2026-01-19T09:30:00Z").expect("from");
        let to = parse_rfc3339("2026-01-26T09:00:00Z").expect("to");
        let occ = occurrences(&weekly(), "UTC", from, to).expect("expand");
        assert_eq!(occ.len(), 1, "{occ:?}");
    }

    #[test]
    fn all_day_daily() {
        let v = json!({
            "start": { "date": "2026-02-01" }, "end": { "date": "2026-02-02" },
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        });
        let body = v.as_object().cloned().expect("object");
        let from = parse_rfc3339("2026-01-01T00:00:00Z").expect("from");
        let to = parse_rfc3339("2026-03-01T00:00:00Z").expect("to");
        let occ = occurrences(&body, "Europe/Berlin", from, to).expect("expand");
        let suffixes: Vec<_> = occ.iter().map(|o| o.suffix.as_str()).collect();
        assert_eq!(suffixes, ["20260201", "20260202", "20260203"]);
    }

    #[test]
    fn google_rule_forms_are_accepted() {
        let from = parse_rfc3339("2027-01-01T00:00:00Z").expect("from");
        let to = parse_rfc3339("2027-06-01T00:00:00Z").expect("to");
        for (start, end, lines, expected) in [
            (
                json!({"date": "2027-01-04"}),
                json!({"date": "2027-01-05"}),
                json!([
                    "RRULE:FREQ=WEEKLY;UNTIL=20270301",
                    "EXDATE;VALUE=DATE:20270111"
                ]),
                8,
            ),
            (
                json!({"dateTime": "2027-01-04T10:00:00+01:00", "timeZone": "Europe/Berlin"}),
                json!({"dateTime": "2027-01-04T11:00:00+01:00", "timeZone": "Europe/Berlin"}),
                json!([
                    "RRULE:FREQ=DAILY;UNTIL=20270110T095959Z",
                    "RDATE;VALUE=DATE:20270120"
                ]),
                8,
            ),
            (
                json!({"dateTime": "2027-01-04T10:00:00Z"}),
                json!({"dateTime": "2027-01-04T11:00:00Z"}),
                json!([
                    "RRULE:FREQ=MONTHLY;COUNT=3;BYSETPOS=1",
                    "EXRULE:FREQ=MONTHLY;COUNT=1"
                ]),
                2,
            ),
        ] {
            let v = json!({"start": start, "end": end, "recurrence": lines});
            let body = v.as_object().cloned().expect("object");
            let occ = occurrences(&body, "UTC", from, to).expect("Google takes these forms");
            assert_eq!(occ.len(), expected, "{lines}");
        }
    }
}
