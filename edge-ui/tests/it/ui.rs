//! The real window under Slint's testing backend: taps on the rendered buttons reach the agent,
//! and state changes re-render what is on screen.

use std::sync::Arc;

use edge_agent::{AgentEvent, ManualClock};
use edge_ui::controller::{Controller, WALK_UP_TITLE};
use edge_ui::screen::Screen;
use i_slint_backend_testing::ElementHandle;
use slint::ComponentHandle;
use slint::platform::PointerEventButton;

use shared::protocol::{CheckInOutcome, SnapshotStatus};

use crate::support::{Call, FakeAgent, at, check_in_answer, meeting, schedule};

fn screen_at(now: i64) -> (Screen<FakeAgent>, FakeAgent) {
    i_slint_backend_testing::init_no_event_loop();
    let agent = FakeAgent::new(schedule(), now - 60_000);
    let screen = Screen::new(
        Controller::new(agent.clone()),
        Arc::new(ManualClock::new(now)),
    )
    .expect("window");
    screen.window().show().expect("show");
    (screen, agent)
}

fn shows(screen: &Screen<FakeAgent>, text: &str) -> bool {
    ElementHandle::find_by_accessible_label(screen.window(), text)
        .any(|e| e.is_valid() && e.size().width > 0.0)
}

fn button(screen: &Screen<FakeAgent>, label: &str) -> ElementHandle {
    ElementHandle::find_by_accessible_label(screen.window(), label)
        .next()
        .unwrap_or_else(|| panic!("no button labelled {label:?}"))
}

#[test]
fn tapping_check_in_calls_the_agent_and_shows_the_confirmation_line() {
    let (screen, agent) = screen_at(at(9, 55));
    assert!(shows(&screen, "CHECK-IN OPEN"));
    assert!(shows(&screen, "Check in to “Design review”"));
    button(&screen, "Check in").invoke_accessible_default_action();
    assert_eq!(agent.calls(), vec![Call::CheckIn("design".into())]);
    assert!(shows(&screen, "Checking in…"));
    assert!(
        ElementHandle::find_by_accessible_label(screen.window(), "Check in")
            .next()
            .is_none(),
        "the button goes away once tapped"
    );
    screen.on_event(&check_in_answer(
        "key-1",
        CheckInOutcome::Accepted {
            status: SnapshotStatus::Attended,
        },
    ));
    assert!(shows(&screen, "✓ Checked in. Enjoy your meeting"));
    assert!(shows(&screen, "BOOKED"));
    assert!(!shows(&screen, "Checking in…"));
}

#[test]
fn a_tap_on_book_30_sends_the_request() {
    let (screen, agent) = screen_at(at(12, 10));
    assert!(shows(&screen, "AVAILABLE"));
    assert!(shows(&screen, "Free until 13:00"));
    assert!(
        ElementHandle::find_by_accessible_label(screen.window(), "Book 60 minutes")
            .next()
            .is_none()
    );
    button(&screen, "Book 30 minutes").mock_single_click(PointerEventButton::Left);
    assert_eq!(agent.calls(), vec![Call::WalkUp(30, WALK_UP_TITLE.into())]);
    assert!(shows(&screen, "Booking… waiting for the hub to confirm"));
    assert_eq!(
        button(&screen, "Book 15 minutes").accessible_enabled(),
        Some(false),
        "no second booking while one is pending"
    );
}

#[test]
fn a_schedule_update_re_renders_the_screen() {
    let (screen, agent) = screen_at(at(12, 10));
    assert!(shows(&screen, "AVAILABLE"));
    let mut updated = schedule();
    let mut lunch = meeting(
        "lunch",
        "Lunch talk",
        "Edsger Dijkstra",
        at(12, 0),
        at(13, 0),
    );
    lunch.checked_in = true;
    updated.meetings.push(lunch);
    updated.version += 1;
    agent.set_schedule(updated, at(12, 10));
    screen.on_event(&AgentEvent::ScheduleUpdated { version: 8 });
    assert!(shows(&screen, "BOOKED"));
    assert!(shows(&screen, "Lunch talk"));
    assert!(shows(&screen, "Organised by Edsger Dijkstra"));
    assert!(!shows(&screen, "AVAILABLE"));
}

#[test]
fn going_offline_shows_the_banner_with_the_age_of_the_last_sync() {
    let (screen, agent) = screen_at(at(12, 10));
    assert!(!shows(
        &screen,
        "Offline · last sync 1 minute ago · check-ins and bookings are queued"
    ));
    agent.set_connection(edge_agent::ConnectionState::Offline);
    screen.on_event(&AgentEvent::Connection(
        edge_agent::ConnectionState::Offline,
    ));
    assert!(shows(
        &screen,
        "Offline · last sync 1 minute ago · check-ins and bookings are queued"
    ));
}
