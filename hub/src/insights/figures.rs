//! The occupancy figures, computed from the meetings of a range: pure arithmetic on half-open
//! intervals (whole seconds), with every day, hour and working window read in the tenant's zone
//! so days stay days across DST changes. The definitions are in README ("Insights") and
//! docs/API.md; this file follows them word for word.

use std::collections::HashMap;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use shared::MeetingStatus;

use super::view::{Band, Day, Occupancy, ResourceOccupancy, Totals};
use crate::meetings::{MeetingError, usage::Usage};

/// Working time and zone of a tenant.
#[derive(Debug, Clone)]
pub struct WorkingTime {
    /// The tenant's zone; days, hours and windows are read in it.
    pub zone: Tz,
    /// Working days.
    pub days: Vec<Weekday>,
    /// Start of the working day.
    pub start: NaiveTime,
    /// End of the working day.
    pub end: NaiveTime,
    /// Minutes after a meeting's start when its check-in window closes.
    pub check_in_closes_after: i64,
}

/// A resource the figures are about.
#[derive(Debug, Clone)]
pub struct Subject {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ROOM` or `DEVICE`.
    pub kind: String,
    /// Seats, if known.
    pub capacity: Option<i64>,
}

/// The question: which days (inclusive), for which resources, judged at `now`.
#[derive(Debug, Clone)]
pub struct Question {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The resources, in answer order.
    pub subjects: Vec<Subject>,
    /// When the question is asked (which check-in windows have closed).
    pub now: DateTime<Utc>,
}

/// Capacity bands of the right-sizing table: (lowest, highest) seats.
const BANDS: [(i64, i64); 6] = [(1, 2), (3, 4), (5, 8), (9, 12), (13, 20), (21, i64::MAX)];

type Interval = (i64, i64);

/// The instant a local time of the zone names: the earlier of two (a time that occurs twice
/// when clocks go back), the first valid one after it (a time skipped when they go forward).
pub fn local_instant(zone: Tz, at: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = at;
    for _ in 0..4 {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => probe += Duration::minutes(30),
        }
    }
    Utc.from_utc_datetime(&at)
}

/// Midnight starting `day` in the zone.
pub fn day_start(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    local_instant(zone, day.and_time(NaiveTime::MIN))
}

/// The working window of a day, if it is a working day.
fn window(work: &WorkingTime, day: NaiveDate) -> Option<Interval> {
    work.days.contains(&day.weekday()).then(|| {
        (
            local_instant(work.zone, day.and_time(work.start)).timestamp(),
            local_instant(work.zone, day.and_time(work.end)).timestamp(),
        )
    })
}

/// Sorted, disjoint union of intervals.
fn union(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.retain(|(s, e)| s < e);
    intervals.sort_unstable();
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for (s, e) in intervals {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Seconds of a union inside `[from, to)`.
fn covered(union: &[Interval], from: i64, to: i64) -> i64 {
    let first = union.partition_point(|(_, e)| *e <= from);
    union[first..]
        .iter()
        .take_while(|(s, _)| *s < to)
        .map(|(s, e)| (*e).min(to) - (*s).max(from))
        .filter(|d| *d > 0)
        .sum()
}

/// The intersection of two unions.
fn intersection(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (s, e) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

/// Running sums behind a [`Totals`].
#[derive(Debug, Default, Clone)]
struct Tally {
    bookings: u64,
    available: i64,
    booked: i64,
    used: i64,
    no_shows: u64,
    attended: u64,
    cancelled: u64,
    released: i64,
    rebooked: i64,
    closed_attended: u64,
    closed_no_shows: u64,
    per_capacity_sum: f64,
    per_capacity_n: u64,
    single_person: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.bookings += other.bookings;
        self.available += other.available;
        self.booked += other.booked;
        self.used += other.used;
        self.no_shows += other.no_shows;
        self.attended += other.attended;
        self.cancelled += other.cancelled;
        self.released += other.released;
        self.rebooked += other.rebooked;
        self.closed_attended += other.closed_attended;
        self.closed_no_shows += other.closed_no_shows;
        self.per_capacity_sum += other.per_capacity_sum;
        self.per_capacity_n += other.per_capacity_n;
        self.single_person += other.single_person;
    }

    fn day(&self, date: NaiveDate) -> Day {
        Day {
            date: date.to_string(),
            bookings: self.bookings,
            available_hours: hours(self.available),
            booked_hours: hours(self.booked),
            used_hours: hours(self.used),
            no_shows: self.no_shows,
            attended: self.attended,
            cancelled: self.cancelled,
            released_hours: hours(self.released),
            rebooked_hours: hours(self.rebooked),
        }
    }

    fn totals(&self) -> Totals {
        let judged = self.closed_attended + self.closed_no_shows;
        Totals {
            bookings: self.bookings,
            available_hours: hours(self.available),
            booked_hours: hours(self.booked),
            used_hours: hours(self.used),
            no_shows: self.no_shows,
            attended: self.attended,
            cancelled: self.cancelled,
            released_hours: hours(self.released),
            rebooked_hours: hours(self.rebooked),
            utilization: ratio(self.booked as f64, self.available as f64),
            used_utilization: ratio(self.used as f64, self.available as f64),
            no_show_rate: ratio(self.closed_no_shows as f64, judged as f64),
            mean_participants_per_capacity: ratio(
                self.per_capacity_sum,
                self.per_capacity_n as f64,
            ),
            single_person_share: ratio(self.single_person as f64, self.bookings as f64),
        }
    }
}

/// Seconds as hours, to four decimals.
fn hours(seconds: i64) -> f64 {
    round4(seconds as f64 / 3600.0)
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// `part / whole` to four decimals, or None when there is no whole.
fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| round4(part / whole))
}

/// Per capacity band: meetings and their participants.
#[derive(Debug, Default, Clone, Copy)]
struct BandTally {
    meetings: u64,
    people: u64,
}

/// The whole answer for `question` from the meetings overlapping its range (any resource;
/// those of other resources are left out).
pub fn occupancy(
    work: &WorkingTime,
    question: &Question,
    meetings: &[Usage],
) -> Result<Occupancy, MeetingError> {
    let zone = work.zone;
    let range_start = day_start(zone, question.from);
    let range_end = day_start(zone, question.to + Duration::days(1));
    let dates: Vec<NaiveDate> = question
        .from
        .iter_days()
        .take_while(|d| *d <= question.to)
        .collect();
    let windows: Vec<Option<Interval>> = dates.iter().map(|d| window(work, *d)).collect();
    let slots = hour_slots(zone, range_start.timestamp(), range_end.timestamp());
    let mut by_resource: HashMap<&str, Vec<&Usage>> = HashMap::new();
    for meeting in meetings {
        by_resource
            .entry(meeting.resource_id.as_str())
            .or_default()
            .push(meeting);
    }
    let mut heat_booked = [[0_i64; 24]; 7];
    let mut bands = [BandTally::default(); BANDS.len()];
    let mut all = Tally::default();
    let mut resources = Vec::with_capacity(question.subjects.len());
    for subject in &question.subjects {
        let mine = by_resource
            .get(subject.id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let mut days = vec![Tally::default(); dates.len()];
        let mut booked = Vec::new();
        let mut used = Vec::new();
        let mut released = Vec::new();
        let band = subject
            .capacity
            .filter(|c| *c > 0)
            .and_then(|c| BANDS.iter().position(|(lo, hi)| (*lo..=*hi).contains(&c)));
        for meeting in mine {
            for o in meeting.occurrences(range_start, range_end)? {
                let day = o.start.with_timezone(&zone).date_naive();
                let index = usize::try_from((day - question.from).num_days())
                    .ok()
                    .filter(|i| *i < dates.len());
                if meeting.cancelled_at.is_some_and(|c| c <= o.start) {
                    if let Some(i) = index {
                        days[i].cancelled += 1;
                    }
                    continue;
                }
                let release = meeting.released_at.filter(|r| *r > o.start && *r < o.end);
                let end = release.unwrap_or(o.end);
                booked.push((o.start.timestamp(), end.timestamp()));
                if meeting.status == MeetingStatus::Attended {
                    used.push((o.start.timestamp(), end.timestamp()));
                }
                if let Some(r) = release {
                    released.push((r.timestamp(), o.end.timestamp()));
                }
                let Some(i) = index else { continue };
                let tally = &mut days[i];
                tally.bookings += 1;
                let closed =
                    o.start + Duration::minutes(work.check_in_closes_after) <= question.now;
                match meeting.status {
                    MeetingStatus::Attended => {
                        tally.attended += 1;
                        tally.closed_attended += u64::from(closed);
                    }
                    MeetingStatus::NoShow => {
                        tally.no_shows += 1;
                        tally.closed_no_shows += u64::from(closed);
                    }
                    _ => {}
                }
                let people = meeting.participants.max(1);
                tally.single_person += u64::from(people == 1);
                if let (Some(capacity), Some(b)) = (subject.capacity.filter(|c| *c > 0), band) {
                    tally.per_capacity_sum += people as f64 / capacity as f64;
                    tally.per_capacity_n += 1;
                    bands[b].meetings += 1;
                    bands[b].people += u64::try_from(people).unwrap_or(0);
                }
            }
        }
        let booked = union(booked);
        let used = union(used);
        let released = union(released);
        let rebooked = intersection(&released, &booked);
        for (tally, window) in days.iter_mut().zip(&windows) {
            if let Some((from, to)) = *window {
                tally.available = to - from;
                tally.booked = covered(&booked, from, to);
                tally.used = covered(&used, from, to);
                tally.released = covered(&released, from, to);
                tally.rebooked = covered(&rebooked, from, to);
            }
        }
        for (from, to) in &booked {
            let first = slots.partition_point(|slot| slot.to <= *from);
            for slot in slots[first..].iter().take_while(|slot| slot.from < *to) {
                heat_booked[slot.weekday][slot.hour] += (*to).min(slot.to) - (*from).max(slot.from);
            }
        }
        let mut totals = Tally::default();
        for tally in &days {
            totals.add(tally);
        }
        all.add(&totals);
        resources.push(ResourceOccupancy {
            resource_id: subject.id.clone(),
            name: subject.name.clone(),
            kind: subject.kind.clone(),
            capacity: subject.capacity,
            days: days.iter().zip(&dates).map(|(t, d)| t.day(*d)).collect(),
            totals: totals.totals(),
        });
    }
    Ok(Occupancy {
        time_zone: zone.name().to_string(),
        from: question.from.to_string(),
        to: question.to.to_string(),
        resources,
        totals: all.totals(),
        heatmap: heatmap(&heat_booked, &slots, question.subjects.len()),
        right_sizing: BANDS
            .iter()
            .zip(bands)
            .map(|((lo, hi), t)| Band {
                capacity_from: *lo,
                capacity_to: (*hi != i64::MAX).then_some(*hi),
                meetings: t.meetings,
                mean_participants: ratio(t.people as f64, t.meetings as f64),
            })
            .collect(),
    })
}

/// One local clock hour of the range, as elapsed time (two when clocks go back, none when
/// they go forward).
struct HourSlot {
    weekday: usize,
    hour: usize,
    from: i64,
    to: i64,
}

/// The local clock hours of `[from, to)`.
fn hour_slots(zone: Tz, from: i64, to: i64) -> Vec<HourSlot> {
    let mut slots = Vec::new();
    let mut at = from;
    while at < to {
        let Some(instant) = DateTime::from_timestamp(at, 0) else {
            break;
        };
        let local = instant.with_timezone(&zone);
        let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
        let next = (at + 3600 - into_hour).min(to);
        slots.push(HourSlot {
            weekday: local.weekday().num_days_from_monday() as usize,
            hour: local.hour() as usize,
            from: at,
            to: next,
        });
        at = next;
    }
    slots
}

/// Booked share per weekday (Monday first) and local hour.
fn heatmap(booked: &[[i64; 24]; 7], slots: &[HourSlot], resources: usize) -> Vec<Vec<f64>> {
    let mut length = [[0_i64; 24]; 7];
    for slot in slots {
        length[slot.weekday][slot.hour] += slot.to - slot.from;
    }
    let resources = resources as f64;
    booked
        .iter()
        .zip(&length)
        .map(|(b, l)| {
            b.iter()
                .zip(l)
                .map(|(b, l)| ratio(*b as f64, *l as f64 * resources).unwrap_or(0.0))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_merge_touching_and_overlapping_intervals() {
        assert_eq!(
            union(vec![(5, 7), (1, 3), (3, 4), (6, 9)]),
            vec![(1, 4), (5, 9)]
        );
        assert_eq!(covered(&[(1, 4), (5, 9)], 2, 6), 3);
        assert_eq!(
            intersection(&[(1, 4), (5, 9)], &[(3, 6)]),
            vec![(3, 4), (5, 6)]
        );
    }

    #[test]
    fn berlin_days_and_hours_follow_the_clock_across_the_october_change() {
        let zone: Tz = "Europe/Berlin".parse().expect("zone");
        let sunday = NaiveDate::from_ymd_opt(2030, 10, 27).expect("date");
        let length = day_start(zone, sunday + Duration::days(1)) - day_start(zone, sunday);
        assert_eq!(length, Duration::hours(25));
        let slots = hour_slots(
            zone,
            day_start(zone, sunday).timestamp(),
            day_start(zone, sunday + Duration::days(1)).timestamp(),
        );
        assert_eq!(slots.len(), 25);
        assert_eq!(slots.iter().filter(|s| s.hour == 2).count(), 2);
    }
}
