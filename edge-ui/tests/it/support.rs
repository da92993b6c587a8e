//! A fake agent (records calls, answers with keys) and the fixed states the tests share.

use std::cell::RefCell;
use std::rc::Rc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use edge_agent::store::CachedSnapshot;
use edge_agent::{AgentError, AgentEvent, ConnectionState, DeviceOutcome};
use edge_ui::controller::{Action, AgentPort, zone};
use edge_ui::state::{Link, RenderState};
use shared::domain::ResourceKind;
use shared::protocol::{
    CheckInOutcome, RefusalCode, ScheduleSnapshot, SnapshotMeeting, SnapshotStatus, WalkUpOutcome,
};

pub const ZONE: &str = "Europe/Berlin";

/// Unix ms of `h:m` on Tuesday 2026-03-10 in Berlin.
pub fn at(h: u32, m: u32) -> i64 {
    let naive = NaiveDate::from_ymd_opt(2026, 3, 10)
        .and_then(|d| d.and_hms_opt(h, m, 0))
        .expect("test fixture");
    zone(ZONE)
        .from_local_datetime(&naive)
        .single()
        .expect("test fixture")
        .timestamp_millis()
}

pub fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("test fixture")
}

pub fn meeting(id: &str, title: &str, who: &str, from: i64, to: i64) -> SnapshotMeeting {
    SnapshotMeeting {
        id: id.into(),
        title: title.into(),
        organizer_name: who.into(),
        start_ms: from,
        end_ms: to,
        status: SnapshotStatus::Scheduled,
        checked_in: false,
    }
}

/// Atlas's Tuesday: a finished stand-up, a no-show, a cancelled review, design at 10,
/// customer call at 13, retro at 15.
pub fn schedule() -> ScheduleSnapshot {
    let mut standup = meeting(
        "standup",
        "Team stand-up",
        "Grace Hopper",
        at(8, 30),
        at(9, 0),
    );
    standup.status = SnapshotStatus::Attended;
    standup.checked_in = true;
    let mut no_show = meeting("sync", "Vendor sync", "Alan Turing", at(9, 0), at(9, 30));
    no_show.status = SnapshotStatus::NoShow;
    let mut cancelled = meeting(
        "review",
        "Budget review",
        "Ada Lovelace",
        at(11, 0),
        at(12, 0),
    );
    cancelled.status = SnapshotStatus::Cancelled;
    ScheduleSnapshot {
        resource_id: "room-atlas".into(),
        name: "Atlas".into(),
        kind: ResourceKind::Room,
        capacity: Some(8),
        time_zone: ZONE.into(),
        version: 7,
        generated_at: at(7, 0),
        check_in_opens_minutes_before: 10,
        check_in_closes_minutes_after: 15,
        meetings: vec![
            standup,
            no_show,
            meeting(
                "design",
                "Design review",
                "Margaret Hamilton",
                at(10, 0),
                at(11, 0),
            ),
            cancelled,
            meeting(
                "call",
                "Customer call",
                "Katherine Johnson",
                at(13, 0),
                at(14, 0),
            ),
            meeting(
                "retro",
                "Sprint retro",
                "Barbara Liskov",
                at(15, 0),
                at(16, 0),
            ),
        ],
    }
}

pub fn state(now: i64, schedule: ScheduleSnapshot) -> RenderState {
    RenderState {
        now: utc(now),
        connection: Link::Online,
        last_sync: Some(utc(now - 60_000)),
        schedule: Some(schedule),
        action: None,
    }
}

/// The key states of the screen, by name (the screenshot file names); `released` is 09:15,
/// inside the vendor sync nobody checked into.
pub fn key_states() -> Vec<(&'static str, RenderState, edge_ui::render::Size)> {
    use edge_ui::render::Size;
    let available = state(at(12, 10), schedule());
    let booked = state(at(10, 25), schedule());
    let released = state(at(9, 15), schedule());
    let check_in_open = state(at(9, 53), schedule());
    let mut offline = state(at(10, 5), schedule());
    offline.connection = Link::Offline;
    offline.last_sync = Some(utc(at(9, 18)));
    offline.action = Some(Action::CheckIn {
        key: "k-offline".into(),
        meeting_id: "design".into(),
        answer: None,
    });
    let mut confirmed = state(at(12, 12), schedule());
    confirmed.action = Some(Action::WalkUp {
        key: "k-walk".into(),
        minutes: 30,
        answer: Some((
            WalkUpOutcome::Confirmed {
                meeting_id: "walk".into(),
                start_ms: at(12, 10),
                end_ms: at(12, 40),
            },
            at(12, 11),
        )),
    });
    let mut refused = state(at(12, 12), schedule());
    refused.action = Some(Action::WalkUp {
        key: "k-walk".into(),
        minutes: 30,
        answer: Some((
            WalkUpOutcome::Refused {
                reason: RefusalCode::Conflict,
                sentence: "Someone booked this room from 12:15 a moment ago.".into(),
            },
            at(12, 11),
        )),
    });
    let mut device_schedule = schedule();
    device_schedule.name = "Projector P-2".into();
    device_schedule.kind = ResourceKind::Device;
    device_schedule.capacity = None;
    let device = state(at(10, 25), device_schedule);
    let no_schedule = RenderState {
        now: utc(at(10, 25)),
        connection: Link::Connecting,
        last_sync: None,
        schedule: None,
        action: None,
    };
    vec![
        ("available", available, Size::TABLET),
        ("booked", booked, Size::TABLET),
        ("released", released, Size::TABLET),
        ("check_in_open", check_in_open, Size::TABLET),
        ("offline", offline, Size::TABLET),
        ("walk_up_confirmed", confirmed, Size::TABLET),
        ("walk_up_refused", refused, Size::TABLET),
        ("device_variant", device, Size::DEVICE),
        ("no_schedule", no_schedule, Size::TABLET),
    ]
}

/// What the fake agent was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CheckIn(String),
    WalkUp(u16, String),
}

#[derive(Debug)]
struct Inner {
    cached: Option<CachedSnapshot>,
    connection: ConnectionState,
    calls: Vec<Call>,
}

/// An in-memory agent: its schedule and connection are set by the test; calls are recorded and
/// answered with keys `key-1`, `key-2`, ….
#[derive(Debug, Clone)]
pub struct FakeAgent(Rc<RefCell<Inner>>);

impl FakeAgent {
    pub fn new(schedule: ScheduleSnapshot, received_at_ms: i64) -> Self {
        Self(Rc::new(RefCell::new(Inner {
            cached: Some(CachedSnapshot {
                snapshot: schedule,
                received_at_ms,
            }),
            connection: ConnectionState::Online,
            calls: Vec::new(),
        })))
    }

    pub fn set_connection(&self, state: ConnectionState) {
        self.0.borrow_mut().connection = state;
    }

    pub fn set_schedule(&self, schedule: ScheduleSnapshot, received_at_ms: i64) {
        self.0.borrow_mut().cached = Some(CachedSnapshot {
            snapshot: schedule,
            received_at_ms,
        });
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.borrow().calls.clone()
    }

    fn record(&self, call: Call) -> String {
        let mut inner = self.0.borrow_mut();
        inner.calls.push(call);
        format!("key-{}", inner.calls.len())
    }
}

impl AgentPort for FakeAgent {
    fn cached(&self) -> Option<CachedSnapshot> {
        self.0.borrow().cached.clone()
    }

    fn connection(&self) -> ConnectionState {
        self.0.borrow().connection
    }

    fn check_in(&self, meeting_id: &str) -> Result<String, AgentError> {
        Ok(self.record(Call::CheckIn(meeting_id.into())))
    }

    fn book_walk_up(&self, minutes: u16, title: &str) -> Result<String, AgentError> {
        Ok(self.record(Call::WalkUp(minutes, title.into())))
    }
}

pub fn check_in_answer(key: &str, outcome: CheckInOutcome) -> AgentEvent {
    AgentEvent::Answered {
        idempotency_key: key.into(),
        outcome: DeviceOutcome::CheckIn(outcome),
    }
}

pub fn walk_up_answer(key: &str, outcome: WalkUpOutcome) -> AgentEvent {
    AgentEvent::Answered {
        idempotency_key: key.into(),
        outcome: DeviceOutcome::WalkUp(outcome),
    }
}
