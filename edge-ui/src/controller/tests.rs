use chrono::{NaiveDate, TimeZone};

use super::*;

const ZONE: &str = "Europe/Berlin";
const DAY_MS: i64 = 86_400_000;

/// Unix ms of `h:m:s.ms` on Tuesday 2026-03-10 in Berlin (UTC+1).
fn at(h: u32, m: u32) -> i64 {
    at_ms(h, m, 0, 0)
}

fn at_ms(h: u32, m: u32, s: u32, ms: u32) -> i64 {
    let naive = NaiveDate::from_ymd_opt(2026, 3, 10)
        .and_then(|d| d.and_hms_milli_opt(h, m, s, ms))
        .expect("test fixture");
    zone(ZONE)
        .from_local_datetime(&naive)
        .single()
        .expect("test fixture")
        .timestamp_millis()
}

fn meeting(id: &str, from: i64, to: i64, status: SnapshotStatus) -> SnapshotMeeting {
    SnapshotMeeting {
        id: id.into(),
        title: format!("Meeting {id}"),
        organizer_name: "Ada Lovelace".into(),
        start_ms: from,
        end_ms: to,
        status,
        checked_in: false,
    }
}

fn snapshot(meetings: Vec<SnapshotMeeting>) -> ScheduleSnapshot {
    ScheduleSnapshot {
        resource_id: "r1".into(),
        name: "Atlas".into(),
        kind: ResourceKind::Room,
        capacity: Some(8),
        time_zone: ZONE.into(),
        version: 1,
        generated_at: at(7, 0),
        check_in_opens_minutes_before: 10,
        check_in_closes_minutes_after: 15,
        meetings,
    }
}

fn ten_to_eleven() -> ScheduleSnapshot {
    snapshot(vec![meeting(
        "m1",
        at(10, 0),
        at(11, 0),
        SnapshotStatus::Scheduled,
    )])
}

#[test]
fn status_follows_the_check_in_window_to_the_millisecond() {
    let s = ten_to_eleven();
    let cases = [
        (at_ms(9, 49, 59, 999), Status::Available),
        (at(9, 50), Status::CheckInOpen),
        (at_ms(9, 59, 59, 999), Status::CheckInOpen),
        (at(10, 0), Status::CheckInOpen),
        (at_ms(10, 14, 59, 999), Status::CheckInOpen),
        (at(10, 15), Status::Booked),
        (at_ms(10, 59, 59, 999), Status::Booked),
        (at(11, 0), Status::Available),
    ];
    for (now, expected) in cases {
        assert_eq!(
            status(&s, None, now),
            expected,
            "at {}",
            hh_mm(zone(ZONE), now)
        );
    }
}

#[test]
fn a_checked_in_meeting_is_booked_not_check_in_open() {
    let mut s = ten_to_eleven();
    s.meetings[0].checked_in = true;
    assert_eq!(status(&s, None, at(10, 5)), Status::Booked);
    assert!(check_in_target(&s, None, at(10, 5)).is_none());
}

#[test]
fn a_check_in_accepted_here_closes_the_button_before_the_next_snapshot() {
    let s = ten_to_eleven();
    let accepted = Action::CheckIn {
        key: "k".into(),
        meeting_id: "m1".into(),
        answer: Some((
            CheckInOutcome::Accepted {
                status: SnapshotStatus::Attended,
            },
            at(10, 2),
        )),
    };
    assert_eq!(status(&s, Some(&accepted), at(10, 3)), Status::Booked);
    let refused = Action::CheckIn {
        key: "k".into(),
        meeting_id: "m1".into(),
        answer: Some((
            CheckInOutcome::Refused {
                reason: shared::protocol::RefusalCode::TooLate,
                sentence: "Too late.".into(),
            },
            at(10, 2),
        )),
    };
    assert_eq!(status(&s, Some(&refused), at(10, 3)), Status::CheckInOpen);
}

#[test]
fn a_released_or_no_show_slot_says_released_and_offers_booking() {
    for released in [SnapshotStatus::Released, SnapshotStatus::NoShow] {
        let s = snapshot(vec![meeting("m1", at(10, 0), at(11, 0), released)]);
        assert_eq!(status(&s, None, at(10, 20)), Status::Released);
        assert_eq!(book_choices(&s, None, at(10, 20)), vec![15, 30, 60]);
    }
}

#[test]
fn book_now_lengths_end_by_the_next_meeting() {
    let s = ten_to_eleven();
    let cases: [(i64, Vec<u16>); 7] = [
        (at(6, 0), vec![15, 30, 60]),
        (at(9, 0), vec![15, 30, 60]),
        (at(9, 15), vec![15, 30, 45]),
        (at(9, 30), vec![15, 30]),
        (at(9, 40), vec![15, 20]),
        (at(9, 45), vec![15]),
        (at(9, 44), vec![15, 16]),
    ];
    for (now, expected) in cases {
        assert_eq!(
            book_choices(&s, None, now),
            expected,
            "at {}",
            hh_mm(zone(ZONE), now)
        );
    }
    assert_eq!(book_choices(&s, None, at_ms(9, 49, 59, 999)), vec![10]);
    assert!(
        book_choices(&s, None, at(9, 50)).is_empty(),
        "check-in window open"
    );
    assert!(
        book_choices(&s, None, at(10, 30)).is_empty(),
        "busy: nothing to book"
    );
    assert_eq!(
        book_choices(&s, None, at(11, 0)),
        vec![15, 30, 60],
        "nothing next"
    );
}

#[test]
fn times_are_shown_in_the_resource_time_zone() {
    let s = ten_to_eleven();
    let cached = CachedSnapshot {
        snapshot: s,
        received_at_ms: at(9, 0),
    };
    let view = view_model(Some(&cached), false, None, at(10, 20));
    assert_eq!(view.clock, "10:20");
    assert_eq!((view.weekday, view.day, view.month), (1, 10, 3));
    let current = view.current.expect("test fixture");
    assert_eq!(
        (current.from.as_str(), current.to.as_str()),
        ("10:00", "11:00")
    );
    assert_eq!(view.minutes_left, 40);
    assert_eq!(view.sync_age_minutes, 80);
    let mut tokyo = cached.clone();
    tokyo.snapshot.time_zone = "Asia/Tokyo".into();
    assert_eq!(
        view_model(Some(&tokyo), false, None, at(10, 20)).clock,
        "18:20"
    );
    let mut unknown = cached;
    unknown.snapshot.time_zone = "Mars/Olympus".into();
    assert_eq!(
        view_model(Some(&unknown), false, None, at(10, 20)).clock,
        "09:20"
    );
}

#[test]
fn minutes_left_round_up() {
    let cached = CachedSnapshot {
        snapshot: ten_to_eleven(),
        received_at_ms: at(9, 0),
    };
    let view = view_model(Some(&cached), false, None, at_ms(10, 59, 30, 0));
    assert_eq!(view.minutes_left, 1);
}

#[test]
fn the_timeline_labels_each_slot_and_fills_the_gaps() {
    let mut attended = meeting("a", at(8, 30), at(9, 0), SnapshotStatus::Attended);
    attended.checked_in = true;
    let s = snapshot(vec![
        attended,
        meeting("n", at(9, 0), at(9, 30), SnapshotStatus::NoShow),
        meeting("c", at(11, 0), at(12, 0), SnapshotStatus::Cancelled),
        meeting("b", at(10, 0), at(11, 0), SnapshotStatus::Scheduled),
        meeting("l", at(14, 0), at(15, 0), SnapshotStatus::Scheduled),
        meeting(
            "tomorrow",
            at(10, 0) + DAY_MS,
            at(11, 0) + DAY_MS,
            SnapshotStatus::Scheduled,
        ),
    ]);
    let rows: Vec<_> = timeline(&s, None, zone(ZONE), at(10, 15))
        .into_iter()
        .map(|r| (r.kind, r.from, r.to, r.current))
        .collect();
    let row = |k, f: &str, t: &str, c| (k, f.to_owned(), t.to_owned(), c);
    assert_eq!(
        rows,
        vec![
            row(SlotKind::Available, "08:00", "08:30", false),
            row(SlotKind::Completed, "08:30", "09:00", false),
            row(SlotKind::Available, "09:00", "10:00", false),
            row(SlotKind::NoShow, "09:00", "09:30", false),
            row(SlotKind::Booked, "10:00", "11:00", true),
            row(SlotKind::Available, "11:00", "14:00", false),
            row(SlotKind::Cancelled, "11:00", "12:00", false),
            row(SlotKind::Booked, "14:00", "15:00", false),
            row(SlotKind::Available, "15:00", "18:00", false),
        ]
    );
}

#[test]
fn without_a_schedule_nothing_can_be_tapped() {
    let view = view_model(None, true, None, at(10, 0));
    assert!(!view.has_schedule);
    assert!(view.book_choices.is_empty());
    assert!(view.check_in.is_none());
    assert!(view.offline);
}

#[test]
fn an_early_check_in_books_the_room_for_the_meeting_about_to_start() {
    let s = ten_to_eleven();
    let pending = Action::CheckIn {
        key: "k".into(),
        meeting_id: "m1".into(),
        answer: None,
    };
    assert_eq!(status(&s, Some(&pending), at(9, 55)), Status::Booked);
    assert_eq!(
        current_meeting(&s, Some(&pending), at(9, 55)).map(|m| m.id),
        Some("m1".to_owned())
    );
    assert!(book_choices(&s, Some(&pending), at(9, 55)).is_empty());
    let mut checked_in = ten_to_eleven();
    checked_in.meetings[0].checked_in = true;
    assert_eq!(status(&checked_in, None, at(9, 55)), Status::Booked);
    assert_eq!(status(&checked_in, None, at(9, 49)), Status::Available);
}

#[test]
fn a_next_meeting_on_another_day_is_not_shown_as_next() {
    let cached = CachedSnapshot {
        snapshot: ten_to_eleven(),
        received_at_ms: at(9, 0),
    };
    let evening = view_model(Some(&cached), false, None, at(19, 0));
    assert!(evening.next.is_none());
    let mut tomorrow = cached.clone();
    tomorrow.snapshot.meetings[0].start_ms += DAY_MS;
    tomorrow.snapshot.meetings[0].end_ms += DAY_MS;
    let view = view_model(Some(&tomorrow), false, None, at(12, 0));
    assert!(
        view.next.is_none(),
        "tomorrow's 10:00 is not 'free until 10:00'"
    );
    assert_eq!(view.book_choices, vec![15, 30, 60]);
}

#[test]
fn only_the_slot_holding_now_is_highlighted() {
    let s = snapshot(vec![
        meeting("c", at(11, 0), at(12, 0), SnapshotStatus::Cancelled),
        meeting("b", at(13, 0), at(14, 0), SnapshotStatus::Scheduled),
    ]);
    let current: Vec<_> = timeline(&s, None, zone(ZONE), at(11, 30))
        .into_iter()
        .filter(|r| r.current)
        .map(|r| (r.kind, r.from))
        .collect();
    assert_eq!(current, vec![(SlotKind::Available, "08:00".to_owned())]);
}
