use embassy_time::{Duration, Instant};
use shared::ResourceKind;
use shared::protocol::{ScheduleSnapshot, SnapshotMeeting, SnapshotStatus};

use super::*;
use crate::clock::{Clock, ManualClock};

const NINE: i64 = 1_767_258_000_000; // 2026-01-01T09:00Z
const MIN: i64 = 60_000;

fn meeting(id: &str, start: i64, minutes: i64, status: SnapshotStatus) -> SnapshotMeeting {
    SnapshotMeeting {
        id: id.to_owned(),
        title: id.to_owned(),
        organizer_name: "Ada".to_owned(),
        start_ms: start,
        end_ms: start + minutes * MIN,
        status,
        checked_in: false,
    }
}

fn day() -> ScheduleSnapshot {
    ScheduleSnapshot {
        resource_id: "r".to_owned(),
        name: "Blue".to_owned(),
        kind: ResourceKind::Room,
        capacity: Some(4),
        time_zone: "UTC".to_owned(),
        version: 1,
        generated_at: NINE,
        check_in_opens_minutes_before: 5,
        check_in_closes_minutes_after: 10,
        meetings: vec![
            meeting("late", NINE + 120 * MIN, 30, SnapshotStatus::Scheduled),
            meeting("first", NINE, 60, SnapshotStatus::Scheduled),
            meeting("dropped", NINE + 60 * MIN, 30, SnapshotStatus::Cancelled),
            meeting("freed", NINE + 90 * MIN, 30, SnapshotStatus::Released),
        ],
    }
}

fn ids(meetings: Option<&SnapshotMeeting>) -> Option<&str> {
    meetings.map(|m| m.id.as_str())
}

#[test]
fn current_and_next_follow_the_clock_and_skip_inactive_meetings() {
    let clock = ManualClock::new(NINE - 30 * MIN);
    let s = day();
    assert_eq!(ids(current_meeting(&s, clock.unix_ms())), None);
    assert_eq!(ids(next_meeting(&s, clock.unix_ms())), Some("first"));

    clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(ids(current_meeting(&s, clock.unix_ms())), Some("first"));
    assert_eq!(ids(next_meeting(&s, clock.unix_ms())), Some("late"));

    clock.advance(Duration::from_secs(65 * 60));
    assert_eq!(
        ids(current_meeting(&s, clock.unix_ms())),
        None,
        "cancelled slot is free"
    );

    clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(
        ids(current_meeting(&s, clock.unix_ms())),
        None,
        "released slot is free"
    );
    assert_eq!(ids(next_meeting(&s, clock.unix_ms())), Some("late"));
}

#[test]
fn end_is_exclusive() {
    let s = day();
    assert_eq!(ids(current_meeting(&s, NINE + 60 * MIN - 1)), Some("first"));
    assert_eq!(ids(current_meeting(&s, NINE + 60 * MIN)), None);
}

#[test]
fn timeline_lists_overlapping_meetings_in_start_order() {
    let s = day();
    let all: Vec<_> = timeline(&s, NINE - 60 * MIN, NINE + 24 * 60 * MIN)
        .into_iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(all, ["first", "dropped", "freed", "late"]);
    let morning: Vec<_> = timeline(&s, NINE + 30 * MIN, NINE + 61 * MIN)
        .into_iter()
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(morning, ["first", "dropped"]);
}

#[test]
fn check_in_window_opens_before_and_closes_after_start() {
    let s = day();
    let first = &s.meetings[1];
    let clock = ManualClock::new(NINE - 6 * MIN);
    assert_eq!(
        check_in_window(&s, first, clock.unix_ms()),
        CheckInWindow::NotYet {
            opens_ms: NINE - 5 * MIN
        }
    );
    clock.advance(Duration::from_secs(60));
    let open = CheckInWindow::Open {
        closes_ms: NINE + 10 * MIN,
    };
    assert_eq!(check_in_window(&s, first, clock.unix_ms()), open);
    clock.advance(Duration::from_secs(15 * 60 - 1));
    assert_eq!(check_in_window(&s, first, clock.unix_ms()), open);
    clock.advance(Duration::from_millis(1000));
    assert_eq!(
        check_in_window(&s, first, clock.unix_ms()),
        CheckInWindow::Closed
    );
}

#[test]
fn check_in_window_never_outlives_a_short_meeting_and_ignores_done_ones() {
    let mut s = day();
    s.check_in_closes_minutes_after = 90;
    let short = meeting("short", NINE, 20, SnapshotStatus::Scheduled);
    assert_eq!(
        check_in_window(&s, &short, NINE),
        CheckInWindow::Open {
            closes_ms: NINE + 20 * MIN
        }
    );
    let mut attended = short.clone();
    attended.checked_in = true;
    assert_eq!(
        check_in_window(&s, &attended, NINE),
        CheckInWindow::NotNeeded
    );
    assert_eq!(
        check_in_window(&s, &s.meetings[2], NINE + 60 * MIN),
        CheckInWindow::NotNeeded
    );
}

#[test]
fn versions_apply_in_order_flag_gaps_and_drop_replays() {
    assert_eq!(judge_version(None, 7), VersionVerdict::Apply);
    assert_eq!(judge_version(Some(7), 8), VersionVerdict::Apply);
    assert_eq!(judge_version(Some(7), 10), VersionVerdict::ApplyAndRequest);
    assert_eq!(judge_version(Some(7), 7), VersionVerdict::Ignore);
    assert_eq!(judge_version(Some(7), 3), VersionVerdict::Ignore);
}

#[test]
fn stale_cache_asks_once_per_max_age() {
    let clock = ManualClock::new(NINE);
    let max = Duration::from_secs(600);
    let received = clock.unix_ms();
    let age = |c: &ManualClock| Some(cache_age(received, c.unix_ms()));
    assert!(!should_request_snapshot(
        age(&clock),
        max,
        None,
        clock.now()
    ));
    clock.advance(Duration::from_secs(601));
    assert!(should_request_snapshot(age(&clock), max, None, clock.now()));
    let asked = clock.now();
    clock.advance(Duration::from_secs(599));
    assert!(!should_request_snapshot(
        age(&clock),
        max,
        Some(asked),
        clock.now()
    ));
    clock.advance(Duration::from_secs(2));
    assert!(should_request_snapshot(
        age(&clock),
        max,
        Some(asked),
        clock.now()
    ));
    assert!(
        should_request_snapshot(None, max, None, clock.now()),
        "no cache at all"
    );
}

#[test]
fn cache_age_is_never_negative() {
    assert_eq!(cache_age(NINE, NINE - 5), Duration::from_ticks(0));
    assert_eq!(cache_age(NINE, NINE + 1500), Duration::from_millis(1500));
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
    let delays: Vec<u64> = (0..7).map(|a| backoff.delay(a).as_millis()).collect();
    assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
    assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(2));
}

#[test]
fn manual_clock_moves_both_readings_together() {
    let clock = ManualClock::new(NINE);
    let before = clock.now();
    clock.advance(Duration::from_secs(3));
    assert_eq!(clock.now() - before, Duration::from_secs(3));
    assert_eq!(clock.unix_ms(), NINE + 3000);
    assert!(clock.now() > Instant::from_secs(0));
}
