//! Recurrence lines as Google writes them, rewritten into the one form the `rrule` crate reads.
//!
//! Google (and RFC 5545) allow forms the crate refuses: a date-only `UNTIL=20270301` (required
//! when the series starts on a DATE, i.e. all-day series), a floating `UNTIL` without `Z`,
//! `RDATE`/`EXDATE` with `VALUE=DATE`, `VALUE=PERIOD` or their own `TZID`, and `BYSETPOS`
//! without another `BYxxx` part. Every date is rewritten here as a UTC instant, so what the
//! crate sees is always `UNTIL=…Z` and `EXDATE;TZID=UTC:…`. A rule that still cannot be read
//! is reported (never guessed), and the caller falls back to the first occurrence.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::RecurrenceError;

/// The rule parts that make `BYSETPOS` meaningful (RFC 5545 §3.3.10).
const BY_PARTS: [&str; 9] = [
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYEASTER",
];

/// Rewrites every line for a series that starts at `start` (local time in `zone`).
pub(super) fn normalise(
    lines: &[String],
    zone: Tz,
    start: NaiveDateTime,
) -> Result<Vec<String>, RecurrenceError> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.contains('\n') || line.contains('\r') {
            return Err(RecurrenceError(
                "a recurrence line spans several lines".into(),
            ));
        }
        let Some((head, value)) = line.split_once(':') else {
            return Err(unsupported(line));
        };
        let mut params = head.split(';');
        let name = params.next().unwrap_or_default().to_ascii_uppercase();
        match name.as_str() {
            "RRULE" | "EXRULE" => out.push(format!("{name}:{}", rule(value, zone, start)?)),
            "RDATE" | "EXDATE" => {
                let tz = params
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("TZID"))
                    .and_then(|(_, v)| v.trim_matches('"').parse::<Tz>().ok())
                    .unwrap_or(zone);
                let dates = value
                    .split(',')
                    .map(|v| {
                        let v = v.split('/').next().unwrap_or_default();
                        instant(v, tz, start.time())
                            .map(|at| at.format("%Y%m%dT%H%M%S").to_string())
                            .ok_or_else(|| RecurrenceError(format!("unreadable date in {name}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(format!("{name};TZID=UTC:{}", dates.join(",")));
            }
            _ => return Err(unsupported(line)),
        }
    }
    Ok(out)
}

fn unsupported(line: &str) -> RecurrenceError {
    let name: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '-')
        .collect();
    RecurrenceError(format!("unsupported recurrence line {name}"))
}

/// One RRULE/EXRULE value: `UNTIL` as a UTC instant (a DATE means the whole day, and an
/// `UNTIL` before the start keeps the first occurrence), a lone `BYSETPOS` dropped (the set
/// it selects from has one member per period, so ±1 keeps it).
fn rule(value: &str, zone: Tz, start: NaiveDateTime) -> Result<String, RecurrenceError> {
    let mut parts: Vec<(String, String)> = Vec::new();
    for part in value.split(';').filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(RecurrenceError(
                "a recurrence rule part has no value".into(),
            ));
        };
        let key = key.trim().to_ascii_uppercase();
        let mut val = val.trim().to_ascii_uppercase();
        if key == "UNTIL" {
            let until = if val.len() == 8 {
                instant(
                    &val,
                    zone,
                    NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN),
                )
            } else {
                instant(&val, zone, start.time())
            }
            .ok_or_else(|| RecurrenceError("the rule's UNTIL is not a date".into()))?;
            let first = local(zone, start).unwrap_or(until);
            val = until.max(first).format("%Y%m%dT%H%M%SZ").to_string();
        }
        parts.push((key, val));
    }
    let has_by = parts.iter().any(|(k, _)| BY_PARTS.contains(&k.as_str()));
    if !has_by {
        parts.retain(|(k, _)| k != "BYSETPOS");
    }
    Ok(parts
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";"))
}

/// A DATE (`20270301`, at `time` local), a UTC DATE-TIME (`…Z`) or a local DATE-TIME in `tz`.
fn instant(text: &str, tz: Tz, time: NaiveTime) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.len() == 8 {
        let day = NaiveDate::parse_from_str(text, "%Y%m%d").ok()?;
        return local(tz, day.and_time(time));
    }
    if let Some(utc) = text.strip_suffix('Z') {
        let at = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(Utc.from_utc_datetime(&at));
    }
    local(
        tz,
        NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S").ok()?,
    )
}

/// A local time in `tz` (the earlier of an ambiguous hour; the hour after a skipped one).
pub(super) fn local(tz: Tz, at: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&at)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(at + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 1, 4)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date")
    }

    fn norm(lines: &[&str], zone: Tz) -> Vec<String> {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        normalise(&lines, zone, start()).expect("normalises")
    }

    #[test]
    fn google_until_forms_become_utc_instants() {
        assert_eq!(
            norm(&["RRULE:FREQ=WEEKLY;UNTIL=20270301"], chrono_tz::UTC),
            ["RRULE:FREQ=WEEKLY;UNTIL=20270301T235959Z"]
        );
        assert_eq!(
            norm(
                &["RRULE:FREQ=DAILY;UNTIL=20270301T100000"],
                chrono_tz::Europe::Berlin
            ),
            ["RRULE:FREQ=DAILY;UNTIL=20270301T090000Z"]
        );
        assert_eq!(
            norm(
                &["RRULE:FREQ=DAILY;UNTIL=20270301T095959Z;"],
                chrono_tz::Europe::Berlin
            ),
            ["RRULE:FREQ=DAILY;UNTIL=20270301T095959Z"]
        );
    }

    #[test]
    fn dates_lists_and_lone_bysetpos() {
        assert_eq!(
            norm(
                &[
                    "RDATE;VALUE=DATE:20270110,20270111",
                    "EXDATE;TZID=Europe/Berlin:20270105T010000"
                ],
                chrono_tz::UTC
            ),
            [
                "RDATE;TZID=UTC:20270110T000000,20270111T000000",
                "EXDATE;TZID=UTC:20270105T000000"
            ]
        );
        assert_eq!(
            norm(
                &["RDATE;VALUE=PERIOD:20270110T100000Z/PT1H"],
                chrono_tz::UTC
            ),
            ["RDATE;TZID=UTC:20270110T100000"]
        );
        assert_eq!(
            norm(&["RRULE:FREQ=MONTHLY;BYSETPOS=1"], chrono_tz::UTC),
            ["RRULE:FREQ=MONTHLY"]
        );
        assert_eq!(
            norm(&["RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1"], chrono_tz::UTC),
            ["RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1"]
        );
    }

    #[test]
    fn unreadable_lines_are_reported() {
        for line in [
            "BEGIN:VEVENT",
            "RRULE:FREQ=DAILY;UNTIL=soon",
            "RDATE:tomorrow",
            "X-WR:1",
        ] {
            let lines = vec![line.to_string()];
            assert!(
                normalise(&lines, chrono_tz::UTC, start()).is_err(),
                "{line}"
            );
        }
    }
}
