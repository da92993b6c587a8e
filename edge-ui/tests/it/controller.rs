//! The controller against the fake agent: taps become agent calls, answers become notices, and
//! the offline case says "queued".

use edge_agent::ConnectionState;
use edge_ui::controller::{Controller, NOTICE_MS, Notice, Status, WALK_UP_TITLE};
use shared::protocol::{CheckInOutcome, RefusalCode, SnapshotStatus, WalkUpOutcome};

use crate::support::{Call, FakeAgent, at, check_in_answer, schedule, walk_up_answer};

fn controller() -> (Controller<FakeAgent>, FakeAgent) {
    let agent = FakeAgent::new(schedule(), at(9, 0));
    (Controller::new(agent.clone()), agent)
}

#[test]
fn check_in_offline_is_queued_then_confirmed_when_the_hub_answers() {
    let (mut c, agent) = controller();
    agent.set_connection(ConnectionState::Offline);
    let now = at(9, 55);
    assert_eq!(c.view(now).status, Status::CheckInOpen);
    c.check_in(now);
    assert_eq!(agent.calls(), vec![Call::CheckIn("design".into())]);
    let view = c.view(now);
    assert_eq!(view.notice, Notice::CheckInQueued);
    assert!(view.offline);
    assert!(
        view.check_in.is_none(),
        "no second check-in while one is queued"
    );

    agent.set_connection(ConnectionState::Online);
    assert_eq!(c.view(now).notice, Notice::CheckInSending);
    c.on_event(
        &check_in_answer(
            "key-1",
            CheckInOutcome::Accepted {
                status: SnapshotStatus::Attended,
            },
        ),
        at(10, 1),
    );
    let view = c.view(at(10, 1));
    assert_eq!(view.notice, Notice::CheckInAccepted);
    assert_eq!(view.status, Status::Booked);
    assert_eq!(
        c.view(at(10, 1) + NOTICE_MS).notice,
        Notice::None,
        "the confirmation fades"
    );
}

#[test]
fn check_in_outside_the_window_calls_nothing() {
    let (mut c, agent) = controller();
    c.check_in(at(9, 49));
    c.check_in(at(10, 15));
    assert!(agent.calls().is_empty());
    assert_eq!(c.view(at(10, 15)).notice, Notice::None);
}

#[test]
fn a_refused_check_in_shows_the_hubs_sentence_and_allows_a_retry() {
    let (mut c, agent) = controller();
    c.check_in(at(10, 14));
    c.on_event(
        &check_in_answer(
            "key-1",
            CheckInOutcome::Refused {
                reason: RefusalCode::TooLate,
                sentence: "The check-in window closed at 10:15.".into(),
            },
        ),
        at(10, 14),
    );
    let view = c.view(at(10, 14));
    assert_eq!(view.notice, Notice::CheckInRefused);
    assert_eq!(view.notice_detail, "The check-in window closed at 10:15.");
    assert!(view.check_in.is_some());
    assert_eq!(agent.calls().len(), 1);
}

#[test]
fn an_answer_to_another_message_is_ignored() {
    let (mut c, _agent) = controller();
    c.check_in(at(9, 55));
    c.on_event(
        &check_in_answer(
            "someone-else",
            CheckInOutcome::Accepted {
                status: SnapshotStatus::Attended,
            },
        ),
        at(9, 56),
    );
    assert_eq!(c.view(at(9, 56)).notice, Notice::CheckInSending);
}

#[test]
fn book_now_sends_only_offered_lengths_and_waits_for_the_hub() {
    let (mut c, agent) = controller();
    let now = at(12, 30);
    assert_eq!(c.view(now).book_choices, vec![15, 30]);
    c.book_now(60, now);
    assert!(
        agent.calls().is_empty(),
        "60 minutes would run into the 13:00 call"
    );
    c.book_now(30, now);
    assert_eq!(agent.calls(), vec![Call::WalkUp(30, WALK_UP_TITLE.into())]);
    assert_eq!(c.view(now).notice, Notice::BookingSending);
    c.book_now(15, now);
    assert_eq!(agent.calls().len(), 1, "one booking at a time");
    assert_eq!(
        c.view(now).status,
        Status::Available,
        "pending until the hub confirms"
    );

    c.on_event(
        &walk_up_answer(
            "key-1",
            WalkUpOutcome::Confirmed {
                meeting_id: "walk".into(),
                start_ms: now,
                end_ms: at(13, 0),
            },
        ),
        now,
    );
    let view = c.view(now);
    assert_eq!(view.notice, Notice::BookingConfirmed);
    assert_eq!(view.notice_detail, "13:00");
    assert_eq!(view.status, Status::Booked);
    assert_eq!(view.current.map(|m| m.to), Some("13:00".to_owned()));
    assert!(view.book_choices.is_empty());
}

#[test]
fn book_now_offline_is_queued_and_a_refusal_says_why() {
    let (mut c, agent) = controller();
    agent.set_connection(ConnectionState::Offline);
    c.book_now(15, at(12, 0));
    assert_eq!(c.view(at(12, 0)).notice, Notice::BookingQueued);
    c.on_event(
        &walk_up_answer(
            "key-1",
            WalkUpOutcome::Refused {
                reason: RefusalCode::Conflict,
                sentence: "Someone booked this room a moment ago.".into(),
            },
        ),
        at(12, 2),
    );
    let view = c.view(at(12, 2));
    assert_eq!(view.notice, Notice::BookingRefused);
    assert_eq!(view.notice_detail, "Someone booked this room a moment ago.");
    assert_eq!(view.status, Status::Available);
    assert_eq!(view.book_choices, vec![15, 30, 58]);
}

#[test]
fn a_new_schedule_changes_the_view() {
    let (c, agent) = controller();
    let now = at(12, 30);
    assert_eq!(c.view(now).status, Status::Available);
    let mut busier = schedule();
    busier.meetings.push(crate::support::meeting(
        "lunch",
        "Lunch talk",
        "Edsger Dijkstra",
        at(12, 0),
        at(13, 0),
    ));
    agent.set_schedule(busier, now);
    let view = c.view(now);
    assert_eq!(view.status, Status::Booked);
    assert_eq!(view.current.map(|m| m.title), Some("Lunch talk".to_owned()));
}
