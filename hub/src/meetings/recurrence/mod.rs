//! Recurring meetings: RRULE/EXDATE/RDATE/EXRULE lines expanded (with the `rrule` crate) in
//! the meeting's own time zone, so a weekly 10:00 meeting stays at 10:00 local time across a
//! DST change while its UTC instants move.
//!
//! Lines are first rewritten into the forms the crate reads ([`lines`]). Expansion is bounded
//! per question, not per series: an open series is moved forward to the window asked about
//! (its start shifted by whole periods), so a daily series begun years ago still counts, and
//! no question walks more than [`MAX_STEPS`] rule steps. A stored series whose lines still
//! cannot be expanded counts as its first occurrence only ([`Series::problem`] says why),
//! which is what Google's own event start shows; it never makes a question fail.

mod lines;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rrule::RRuleSet;

/// The most rule steps one question walks (occurrences before the window included).
const MAX_STEPS: usize = 20_000;
/// How far ahead an open-ended series is considered.
pub const HORIZON_DAYS: i64 = 730;

/// Why recurrence lines were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct RecurrenceError(pub String);

/// One occurrence, as a half-open UTC interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// Start.
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
}

/// A recurring series: the first occurrence, its length and its rule lines.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// The first occurrence's start.
    pub start: DateTime<Utc>,
    /// Each occurrence's length.
    pub duration: Duration,
    /// The zone the rule is read in.
    pub zone: Tz,
    /// RRULE / EXDATE / RDATE / EXRULE lines.
    pub lines: &'a [String],
}

/// The normalised lines of a series and what is known of its one rule, for seeking.
struct Rules {
    lines: Vec<String>,
    /// The period of the single open RRULE (no COUNT, no EXRULE): the start may be moved by
    /// whole periods without changing any occurrence.
    period: Option<Duration>,
    /// Every RRULE is bounded: the latest `UNTIL` (None if one has COUNT or neither).
    until: Option<DateTime<Utc>>,
    /// Some RRULE has neither COUNT nor UNTIL.
    open: bool,
}

impl Series<'_> {
    fn local_start(&self) -> NaiveDateTime {
        self.start.with_timezone(&self.zone).naive_local()
    }

    fn rules(&self) -> Result<Rules, RecurrenceError> {
        let lines = lines::normalise(self.lines, self.zone, self.local_start())?;
        let rrules: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("RRULE:"))
            .collect();
        let part = |rule: &str, key: &str| {
            rule.split(';')
                .find_map(|p| p.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                .map(str::to_string)
        };
        let open = rrules
            .iter()
            .any(|r| part(r, "COUNT").is_none() && part(r, "UNTIL").is_none());
        let until = if rrules.iter().all(|r| part(r, "COUNT").is_none()) {
            rrules
                .iter()
                .filter_map(|r| part(r, "UNTIL"))
                .filter_map(|u| NaiveDateTime::parse_from_str(&u, "%Y%m%dT%H%M%SZ").ok())
                .map(|u| u.and_utc())
                .max()
        } else {
            None
        };
        let period = match rrules.as_slice() {
            [rule]
                if part(rule, "COUNT").is_none()
                    && !lines.iter().any(|l| l.starts_with("EXRULE")) =>
            {
                let interval = part(rule, "INTERVAL")
                    .and_then(|i| i.parse::<i64>().ok())
                    .unwrap_or(1)
                    .max(1);
                match part(rule, "FREQ").as_deref() {
                    Some("WEEKLY") => Some(Duration::weeks(interval)),
                    Some("DAILY") => Some(Duration::days(interval)),
                    Some("HOURLY") => Some(Duration::hours(interval)),
                    Some("MINUTELY") => Some(Duration::minutes(interval)),
                    Some("SECONDLY") => Some(Duration::seconds(interval)),
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(Rules {
            lines,
            period,
            until,
            open,
        })
    }

    /// The rule set starting at `local` (the series' start, or a later aligned start).
    fn rule_set(&self, rules: &Rules, local: NaiveDateTime) -> Result<RRuleSet, RecurrenceError> {
        let text = format!(
            "DTSTART;TZID={}:{}\n{}",
            self.zone.name(),
            local.format("%Y%m%dT%H%M%S"),
            rules.lines.join("\n")
        );
        text.parse::<RRuleSet>()
            .map(RRuleSet::limit)
            .map_err(|e| RecurrenceError(format!("invalid recurrence: {e}")))
    }

    /// Checks the lines can be read and yield at least one occurrence (for rules CORBI is
    /// asked to write; rules read from Google are kept either way).
    pub fn validate(&self) -> Result<(), RecurrenceError> {
        let rules = self.rules()?;
        let set = self.rule_set(&rules, self.local_start())?;
        if (&set).into_iter().next().is_none() {
            return Err(RecurrenceError("the recurrence has no occurrence".into()));
        }
        Ok(())
    }

    /// Why the lines cannot be expanded (None for a single meeting or a readable rule): such
    /// a series counts as its first occurrence only.
    pub fn problem(&self) -> Option<RecurrenceError> {
        if self.lines.is_empty() {
            return None;
        }
        self.validate().err()
    }

    fn first(&self) -> Occurrence {
        Occurrence {
            start: self.start,
            end: self.start + self.duration,
        }
    }

    /// Occurrences overlapping `[from, to)`, at most `limit`. Without rule lines, or with
    /// lines that cannot be expanded, the series is its first occurrence.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>, limit: usize) -> Vec<Occurrence> {
        let first = self.first();
        let single = || {
            (first.start < to && first.end > from && limit > 0)
                .then_some(first)
                .into_iter()
                .collect()
        };
        if self.lines.is_empty() {
            return single();
        }
        let Some(set) = self
            .rules()
            .and_then(|rules| self.rule_set(&rules, self.seek(&rules, from)))
            .ok()
        else {
            return single();
        };
        let mut found = Vec::new();
        for start in (&set).into_iter().take(MAX_STEPS) {
            let start = start.with_timezone(&Utc);
            if start >= to || found.len() >= limit {
                break;
            }
            let end = start + self.duration;
            if end > from {
                found.push(Occurrence { start, end });
            }
        }
        found
    }

    /// The local start to expand from for a window beginning at `from`: the series' start
    /// moved by whole periods to at least one period before the window (its occurrence there
    /// ends before the window, so an unmatched shifted start never shows).
    fn seek(&self, rules: &Rules, from: DateTime<Utc>) -> NaiveDateTime {
        let start = self.local_start();
        let Some(period) = rules.period.filter(|p| p.num_seconds() > 0) else {
            return start;
        };
        let target = (from - self.duration)
            .with_timezone(&self.zone)
            .naive_local()
            - period;
        if target <= start {
            return start;
        }
        let periods = (target - start).num_seconds() / period.num_seconds();
        i32::try_from(periods)
            .ok()
            .and_then(|n| period.checked_mul(n))
            .and_then(|shift| start.checked_add_signed(shift))
            .unwrap_or(start)
    }

    /// The window the occurrences span: the first start to the last end (or the horizon).
    pub fn span(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = self
            .last_end()
            .unwrap_or(self.start + Duration::days(HORIZON_DAYS));
        (self.start, end)
    }

    /// An end no occurrence passes, kept beside the row for range queries: exact for COUNT
    /// rules, the last `UNTIL` (or `RDATE`) plus a duration for UNTIL rules, None for a
    /// series that runs past the horizon; the first occurrence's end when it does not recur
    /// or cannot be expanded.
    pub fn last_end(&self) -> Option<DateTime<Utc>> {
        if self.lines.is_empty() {
            return Some(self.first().end);
        }
        let Ok(rules) = self.rules() else {
            return Some(self.first().end);
        };
        let Ok(set) = self.rule_set(&rules, self.local_start()) else {
            return Some(self.first().end);
        };
        if rules.open {
            return None;
        }
        let horizon = self.start + Duration::days(HORIZON_DAYS);
        if let Some(until) = rules.until {
            let rdates = set.get_rdate().iter().map(|d| d.with_timezone(&Utc)).max();
            let last = until.max(rdates.unwrap_or(until)).max(self.start);
            return (last < horizon).then_some(last + self.duration);
        }
        let mut last = None;
        for (step, start) in (&set).into_iter().enumerate() {
            let start = start.with_timezone(&Utc);
            if start >= horizon || step >= MAX_STEPS {
                return None;
            }
            last = Some(start + self.duration);
        }
        last.or(Some(self.first().end))
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

    fn weekly(lines: &[String], zone: Tz, first: &str) -> Vec<Occurrence> {
        let series = Series {
            start: at(first),
            duration: Duration::hours(1),
            zone,
            lines,
        };
        series.between(at("2026-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z"), 100)
    }

    #[test]
    fn a_weekly_berlin_meeting_keeps_its_local_time_across_dst() {
        let lines = vec!["RRULE:FREQ=WEEKLY;COUNT=3".to_string()];
        // 10:00 CEST on Sunday 18 Oct 2026; DST ends on 25 Oct.
        let found = weekly(&lines, chrono_tz::Europe::Berlin, "2026-10-18T08:00:00Z");
        let starts: Vec<String> = found.iter().map(|o| o.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-10-18T08:00:00+00:00",
                "2026-10-25T09:00:00+00:00",
                "2026-11-01T09:00:00+00:00"
            ]
        );
    }

    #[test]
    fn a_new_york_series_moves_in_utc_when_dst_starts() {
        let lines = vec!["RRULE:FREQ=DAILY;COUNT=3".to_string()];
        // 09:00 EST on 7 March 2026; DST starts on 8 March.
        let found = weekly(&lines, chrono_tz::America::New_York, "2026-03-07T14:00:00Z");
        assert_eq!(found[0].start, at("2026-03-07T14:00:00Z"));
        assert_eq!(found[1].start, at("2026-03-08T13:00:00Z"));
    }

    #[test]
    fn exdates_windows_and_series_ends() {
        let lines = vec![
            "RRULE:FREQ=DAILY;COUNT=5".to_string(),
            "EXDATE;TZID=UTC:20270102T100000".to_string(),
        ];
        let series = Series {
            start: at("2027-01-01T10:00:00Z"),
            duration: Duration::minutes(30),
            zone: chrono_tz::UTC,
            lines: &lines,
        };
        let all = series.between(at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"), 100);
        assert_eq!(all.len(), 4, "one date excluded");
        let window = series.between(at("2027-01-03T10:15:00Z"), at("2027-01-04T10:00:01Z"), 100);
        assert_eq!(window.len(), 2, "overlapping occurrences only");
        assert_eq!(series.last_end(), Some(at("2027-01-05T10:30:00Z")));
        let open = vec!["RRULE:FREQ=WEEKLY".to_string()];
        let forever = Series {
            lines: &open,
            ..series.clone()
        };
        assert_eq!(forever.last_end(), None);
    }

    #[test]
    fn bad_rules_are_refused() {
        let start = at("2027-01-01T10:00:00Z");
        for lines in [
            vec!["RRULE:FREQ=SOMETIMES".to_string()],
            vec!["BEGIN:VEVENT".to_string()],
        ] {
            let series = Series {
                start,
                duration: Duration::hours(1),
                zone: chrono_tz::UTC,
                lines: &lines,
            };
            assert!(series.validate().is_err(), "{lines:?}");
        }
    }

    #[test]
    fn old_open_series_still_count_in_todays_window() {
        let daily = vec!["RRULE:FREQ=DAILY".to_string()];
        let hourly = vec!["RRULE:FREQ=HOURLY;INTERVAL=2".to_string()];
        for (lines, first) in [
            (&daily, "2019-03-04T09:00:00Z"),
            (&hourly, "2024-01-01T00:00:00Z"),
        ] {
            let series = Series {
                start: at(first),
                duration: Duration::minutes(30),
                zone: chrono_tz::Europe::Berlin,
                lines,
            };
            let found = series.between(at("2027-06-01T00:00:00Z"), at("2027-06-02T00:00:00Z"), 100);
            assert!(!found.is_empty(), "{lines:?}");
            assert!(found.iter().all(|o| o.end > at("2027-06-01T00:00:00Z")));
            assert_eq!(series.last_end(), None);
        }
        let weekdays = vec!["RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR".to_string()];
        let series = Series {
            start: at("2020-01-06T08:00:00Z"),
            duration: Duration::hours(1),
            zone: chrono_tz::UTC,
            lines: &weekdays,
        };
        // Saturday 5 and Sunday 6 June 2027 are free; Monday 7 is not.
        let weekend = series.between(at("2027-06-05T00:00:00Z"), at("2027-06-07T00:00:00Z"), 100);
        assert!(weekend.is_empty(), "{weekend:?}");
        let monday = series.between(at("2027-06-07T00:00:00Z"), at("2027-06-08T00:00:00Z"), 100);
        assert_eq!(
            monday,
            [Occurrence {
                start: at("2027-06-07T08:00:00Z"),
                end: at("2027-06-07T09:00:00Z")
            }]
        );
    }

    #[test]
    fn google_forms_expand_and_unreadable_rules_keep_the_first_occurrence() {
        let all_day = vec![
            "RRULE:FREQ=WEEKLY;UNTIL=20270301".to_string(),
            "EXDATE;VALUE=DATE:20270111".to_string(),
            "RDATE;VALUE=DATE:20270303".to_string(),
        ];
        let series = Series {
            start: at("2027-01-04T00:00:00Z"),
            duration: Duration::days(1),
            zone: chrono_tz::UTC,
            lines: &all_day,
        };
        assert_eq!(series.problem(), None);
        let found = series.between(at("2027-01-01T00:00:00Z"), at("2027-04-01T00:00:00Z"), 100);
        // 4 Jan .. 1 Mar weekly is 9 Mondays, less 11 Jan, plus 3 Mar.
        assert_eq!(found.len(), 9, "{found:?}");
        assert_eq!(series.last_end(), Some(at("2027-03-04T00:00:00Z")));
        let broken = vec!["RRULE:FREQ=FORTNIGHTLY".to_string()];
        let series = Series {
            lines: &broken,
            ..series
        };
        assert!(series.problem().is_some());
        let found = series.between(at("2027-01-01T00:00:00Z"), at("2027-04-01T00:00:00Z"), 100);
        assert_eq!(found, [series.first()]);
        assert_eq!(series.last_end(), Some(at("2027-01-05T00:00:00Z")));
    }
}
