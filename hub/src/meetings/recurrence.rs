//! Recurring meetings: RRULE/EXDATE/RDATE lines expanded (with the `rrule` crate) in the
//! meeting's own time zone, so a weekly 10:00 meeting stays at 10:00 local time across a DST
//! change while its UTC instants move.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rrule::RRuleSet;

/// The most occurrences ever expanded for one question (a guard against pathological rules).
const MAX_OCCURRENCES: usize = 5_000;
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

impl Series<'_> {
    fn rule_set(&self) -> Result<RRuleSet, RecurrenceError> {
        for line in self.lines {
            let known = ["RRULE:", "EXDATE", "RDATE", "EXRULE:"]
                .iter()
                .any(|p| line.starts_with(p));
            if !known || line.contains('\n') {
                return Err(RecurrenceError(format!(
                    "unsupported recurrence line: {line}"
                )));
            }
        }
        let local = self.start.with_timezone(&self.zone).format("%Y%m%dT%H%M%S");
        let text = format!(
            "DTSTART;TZID={}:{local}\n{}",
            self.zone.name(),
            self.lines.join("\n")
        );
        text.parse::<RRuleSet>()
            .map(RRuleSet::limit)
            .map_err(|e| RecurrenceError(format!("invalid recurrence: {e}")))
    }

    /// Checks the lines parse and yield at least one occurrence.
    pub fn validate(&self) -> Result<(), RecurrenceError> {
        let set = self.rule_set()?;
        if (&set).into_iter().next().is_none() {
            return Err(RecurrenceError("the recurrence has no occurrence".into()));
        }
        Ok(())
    }

    /// Occurrences overlapping `[from, to)`, at most `limit`. Without rule lines the series
    /// is its one occurrence.
    pub fn between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Occurrence>, RecurrenceError> {
        if self.lines.is_empty() {
            let only = Occurrence {
                start: self.start,
                end: self.start + self.duration,
            };
            return Ok((only.start < to && only.end > from && limit > 0)
                .then_some(only)
                .into_iter()
                .collect());
        }
        let set = self.rule_set()?;
        let mut found = Vec::new();
        for start in (&set).into_iter().take(MAX_OCCURRENCES) {
            let start = start.with_timezone(&Utc);
            if start >= to || found.len() >= limit {
                break;
            }
            let end = start + self.duration;
            if end > from {
                found.push(Occurrence { start, end });
            }
        }
        Ok(found)
    }

    /// The window the occurrences span: the first start to the last end (or the horizon).
    pub fn span(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), RecurrenceError> {
        let end = self
            .last_end()?
            .unwrap_or(self.start + Duration::days(HORIZON_DAYS));
        Ok((self.start, end))
    }

    /// The end of the last occurrence, or None for a series that runs past the horizon.
    pub fn last_end(&self) -> Result<Option<DateTime<Utc>>, RecurrenceError> {
        if self.lines.is_empty() {
            return Ok(Some(self.start + self.duration));
        }
        let horizon = self.start + Duration::days(HORIZON_DAYS);
        let set = self.rule_set()?;
        let mut last = None;
        for start in (&set).into_iter().take(MAX_OCCURRENCES) {
            let start = start.with_timezone(&Utc);
            if start >= horizon {
                return Ok(None);
            }
            last = Some(start + self.duration);
        }
        Ok(last)
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
        series
            .between(at("2026-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z"), 100)
            .expect("expands")
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
        let all = series
            .between(at("2027-01-01T00:00:00Z"), at("2027-02-01T00:00:00Z"), 100)
            .expect("expands");
        assert_eq!(all.len(), 4, "one date excluded");
        let window = series
            .between(at("2027-01-03T10:15:00Z"), at("2027-01-04T10:00:01Z"), 100)
            .expect("expands");
        assert_eq!(window.len(), 2, "overlapping occurrences only");
        assert_eq!(
            series.last_end().expect("end"),
            Some(at("2027-01-05T10:30:00Z"))
        );
        let open = vec!["RRULE:FREQ=WEEKLY".to_string()];
        let forever = Series {
            lines: &open,
            ..series.clone()
        };
        assert_eq!(forever.last_end().expect("end"), None);
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
}
