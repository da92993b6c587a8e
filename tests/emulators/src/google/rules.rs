//! Recurrence lines in every form Google accepts, rewritten into the form the `rrule` crate
//! reads: a DATE `UNTIL` (which RFC 5545 requires for all-day series) or a floating one
//! becomes a UTC instant, `RDATE`/`EXDATE` with `VALUE=DATE` or `VALUE=PERIOD` become
//! date-times in the series' zone, and a `BYSETPOS` with no other `BYxxx` part (which Google
//! takes; it selects from a one-member set) is dropped.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

/// Rewrites `lines` for a series starting at `start` (local time in `zone`). Lines it does not
/// know are passed on unchanged, for the crate to judge.
pub fn for_crate(lines: &[String], zone: Tz, start: NaiveDateTime) -> Vec<String> {
    lines
        .iter()
        .map(|line| rewrite(line, zone, start).unwrap_or_else(|| line.clone()))
        .collect()
}

fn rewrite(line: &str, zone: Tz, start: NaiveDateTime) -> Option<String> {
    let (head, value) = line.split_once(':')?;
    let mut params = head.split(';');
    let name = params.next()?.to_ascii_uppercase();
    match name.as_str() {
        "RRULE" | "EXRULE" => {
            let parts: Vec<String> = value
                .split(';')
                .filter(|p| !p.is_empty())
                .map(|part| match part.split_once('=') {
                    Some((k, v)) if k.eq_ignore_ascii_case("UNTIL") => {
                        format!("UNTIL={}", until(v, zone).unwrap_or_else(|| v.to_string()))
                    }
                    _ => part.to_string(),
                })
                .collect();
            let has_by = parts.iter().any(|p| {
                let key = p.split('=').next().unwrap_or_default().to_ascii_uppercase();
                key.starts_with("BY") && key != "BYSETPOS"
            });
            let parts: Vec<String> = parts
                .into_iter()
                .filter(|p| has_by || !p.to_ascii_uppercase().starts_with("BYSETPOS="))
                .collect();
            Some(format!("{name}:{}", parts.join(";")))
        }
        "RDATE" | "EXDATE" => {
            let params: Vec<&str> = params.collect();
            let is_date = params.iter().any(|p| p.eq_ignore_ascii_case("VALUE=DATE"));
            let is_period = params
                .iter()
                .any(|p| p.eq_ignore_ascii_case("VALUE=PERIOD"));
            if !is_date && !is_period {
                return None;
            }
            let tzid = params
                .iter()
                .find(|p| p.to_ascii_uppercase().starts_with("TZID="))
                .map_or_else(|| format!(";TZID={}", zone.name()), |p| format!(";{p}"));
            let values: Vec<String> = value
                .split(',')
                .map(|v| {
                    let v = v.split('/').next().unwrap_or_default();
                    match NaiveDate::parse_from_str(v, "%Y%m%d") {
                        Ok(day) => day
                            .and_time(start.time())
                            .format("%Y%m%dT%H%M%S")
                            .to_string(),
                        Err(_) => v.to_string(),
                    }
                })
                .collect();
            let tzid = if values.iter().any(|v| v.ends_with('Z')) {
                String::new()
            } else {
                tzid
            };
            Some(format!("{name}{tzid}:{}", values.join(",")))
        }
        _ => None,
    }
}

/// A DATE or floating `UNTIL` as a UTC instant (the end of that day for a DATE).
fn until(value: &str, zone: Tz) -> Option<String> {
    if value.ends_with('Z') {
        return None;
    }
    let local = match NaiveDate::parse_from_str(value, "%Y%m%d") {
        Ok(day) => day.and_time(NaiveTime::from_hms_opt(23, 59, 59)?),
        Err(_) => NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok()?,
    };
    let at = zone.from_local_datetime(&local).earliest()?;
    Some(at.naive_utc().format("%Y%m%dT%H%M%SZ").to_string())
}
