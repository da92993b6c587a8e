//! Busy and free time: interval arithmetic and the free-slot search that both
//! `GET /free-slots` and the CONFLICT proposal use.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::recurrence::Occurrence;
use crate::settings::TenantSettings;

/// Slots start on quarter hours.
const GRID_MINUTES: i64 = 15;

/// The union of intervals, sorted and merged (touching intervals merge too).
pub fn merge(mut intervals: Vec<Occurrence>) -> Vec<Occurrence> {
    intervals.retain(|i| i.end > i.start);
    intervals.sort_by_key(|i| i.start);
    let mut merged: Vec<Occurrence> = Vec::new();
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}

/// What of `from` is not covered by `minus`.
pub fn subtract(from: &[Occurrence], minus: &[Occurrence]) -> Vec<Occurrence> {
    let minus = merge(minus.to_vec());
    let mut out = Vec::new();
    for interval in merge(from.to_vec()) {
        let mut cursor = interval.start;
        for cut in minus
            .iter()
            .filter(|c| c.start < interval.end && c.end > interval.start)
        {
            if cut.start > cursor {
                out.push(Occurrence {
                    start: cursor,
                    end: cut.start,
                });
            }
            cursor = cursor.max(cut.end);
        }
        if cursor < interval.end {
            out.push(Occurrence {
                start: cursor,
                end: interval.end,
            });
        }
    }
    out
}

/// The working hours of every working day in `[from, to)`, read in `zone`.
pub fn working_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    zone: Tz,
    settings: &TenantSettings,
) -> Vec<Occurrence> {
    let days = settings.working_days();
    let (Some(open), Some(close)) = (
        hhmm(&settings.working_hours.start),
        hhmm(&settings.working_hours.end),
    ) else {
        return Vec::new();
    };
    let first = from.with_timezone(&zone).date_naive();
    let last = to.with_timezone(&zone).date_naive();
    let mut windows = Vec::new();
    let mut date = first;
    while date <= last {
        if days.contains(&date.weekday()) {
            let start = local(zone, date, open).max(from);
            let end = local(zone, date, close).min(to);
            if start < end {
                windows.push(Occurrence { start, end });
            }
        }
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    windows
}

fn hhmm(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

/// A local wall-clock time as UTC; a time skipped by a DST change moves to the first valid one.
fn local(zone: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    zone.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// The earliest slots of `duration` inside working hours in `[from, to)` that avoid `busy`;
/// slots start on quarter hours and follow each other without overlapping.
pub fn free_slots(
    busy: &[Occurrence],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    duration: Duration,
    zone: Tz,
    settings: &TenantSettings,
    limit: usize,
) -> Vec<Occurrence> {
    let free = subtract(&working_windows(from, to, zone, settings), busy);
    let step = round_up(duration);
    let mut slots = Vec::new();
    for window in free {
        let mut start = align(window.start);
        while start + duration <= window.end && slots.len() < limit {
            slots.push(Occurrence {
                start,
                end: start + duration,
            });
            start += step;
        }
        if slots.len() >= limit {
            break;
        }
    }
    slots
}

fn round_up(duration: Duration) -> Duration {
    let minutes = duration.num_minutes().max(1);
    Duration::minutes((minutes + GRID_MINUTES - 1) / GRID_MINUTES * GRID_MINUTES)
}

fn align(at: DateTime<Utc>) -> DateTime<Utc> {
    let floored = at
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at);
    let minute = i64::from(floored.minute());
    let over = minute % GRID_MINUTES;
    let aligned = floored - Duration::minutes(over);
    if aligned < at {
        aligned + Duration::minutes(GRID_MINUTES)
    } else {
        aligned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn span(a: &str, b: &str) -> Occurrence {
        Occurrence {
            start: at(a),
            end: at(b),
        }
    }

    #[test]
    fn intervals_merge_and_subtract() {
        let merged = merge(vec![
            span("2027-01-01T10:00:00Z", "2027-01-01T11:00:00Z"),
            span("2027-01-01T11:00:00Z", "2027-01-01T12:00:00Z"),
        ]);
        assert_eq!(
            merged,
            [span("2027-01-01T10:00:00Z", "2027-01-01T12:00:00Z")]
        );
        let left = subtract(
            &[span("2027-01-01T08:00:00Z", "2027-01-01T18:00:00Z")],
            &merged,
        );
        assert_eq!(
            left,
            [
                span("2027-01-01T08:00:00Z", "2027-01-01T10:00:00Z"),
                span("2027-01-01T12:00:00Z", "2027-01-01T18:00:00Z")
            ]
        );
    }

    #[test]
    fn free_slots_follow_working_hours_in_the_zone_across_dst() {
        let settings = TenantSettings::default();
        let zone = chrono_tz::America::New_York;
        // Friday 6 March 2026 (EST) to Monday 9 March (EDT): working days are Fri and Mon.
        let busy = [span("2026-03-09T12:00:00Z", "2026-03-09T13:30:00Z")];
        let slots = free_slots(
            &busy,
            at("2026-03-06T21:30:00Z"),
            at("2026-03-10T00:00:00Z"),
            Duration::hours(1),
            zone,
            &settings,
            3,
        );
        // Friday 16:30–17:30 and 17:30–18:00 is too short; Monday opens 08:00 EDT = 12:00Z, busy until 13:30Z.
        assert_eq!(
            slots[0],
            span("2026-03-06T21:30:00Z", "2026-03-06T22:30:00Z")
        );
        assert_eq!(
            slots[1],
            span("2026-03-09T13:30:00Z", "2026-03-09T14:30:00Z")
        );
        assert_eq!(
            slots[2],
            span("2026-03-09T14:30:00Z", "2026-03-09T15:30:00Z")
        );
    }

    #[test]
    fn slots_start_on_quarter_hours() {
        let settings = TenantSettings::default();
        let slots = free_slots(
            &[],
            at("2027-01-04T09:07:00Z"),
            at("2027-01-04T12:00:00Z"),
            Duration::minutes(25),
            chrono_tz::UTC,
            &settings,
            2,
        );
        assert_eq!(
            slots[0],
            span("2027-01-04T09:15:00Z", "2027-01-04T09:40:00Z")
        );
        assert_eq!(slots[1].start, at("2027-01-04T09:45:00Z"));
    }
}
