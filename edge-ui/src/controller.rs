//! The screen's logic as plain Rust: (agent state, now, time zone) → [`ViewModel`], and taps →
//! agent calls. No Slint type appears here, so every rule is tested without a window against a
//! fake [`AgentPort`].
//!
//! Answers from the hub arrive as [`AgentEvent::Answered`] events; the controller keeps the last
//! tap ([`Action`]) and matches the answer by its idempotency key.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use edge_agent::logic::{self, CheckInWindow};
use edge_agent::store::CachedSnapshot;
use edge_agent::{AgentError, AgentEvent, ConnectionState, DeviceOutcome};
use serde::{Deserialize, Serialize};
use shared::domain::ResourceKind;
use shared::protocol::{
    CheckInOutcome, ScheduleSnapshot, SnapshotMeeting, SnapshotStatus, WalkUpOutcome,
};

const MINUTE_MS: i64 = 60_000;
/// How long an answer (confirmation or refusal) stays on screen.
pub const NOTICE_MS: i64 = 2 * MINUTE_MS;
/// Book-now lengths offered when nothing limits them.
pub const BOOK_CHOICES: [u16; 3] = [15, 30, 60];
/// Shortest "until the next meeting" booking offered when the standard lengths do not fit.
pub const MIN_BOOKING_MINUTES: i64 = 5;
/// Title of a meeting booked at the screen (the hub's calendars show it).
pub const WALK_UP_TITLE: &str = "Walk-up booking";
/// Gaps shorter than this are not shown as Available in the timeline.
const MIN_GAP_MS: i64 = 5 * MINUTE_MS;
/// The timeline shows at least this part of the day (local hours), widened to fit meetings.
const DAY_HOURS: (u32, u32) = (8, 18);

/// The part of the edge agent the screen uses: small, so tests need no MQTT.
pub trait AgentPort {
    /// The cached schedule and when it arrived.
    fn cached(&self) -> Option<CachedSnapshot>;
    /// Whether the broker is reachable.
    fn connection(&self) -> ConnectionState;
    /// Queues a check-in; returns its idempotency key (the answer comes as an event).
    fn check_in(&self, meeting_id: &str) -> Result<String, AgentError>;
    /// Queues a walk-up booking from now; returns its idempotency key.
    fn book_walk_up(&self, minutes: u16, title: &str) -> Result<String, AgentError>;
}

impl AgentPort for edge_agent::Agent {
    fn cached(&self) -> Option<CachedSnapshot> {
        self.snapshot()
    }

    fn connection(&self) -> ConnectionState {
        self.connection_state()
    }

    fn check_in(&self, meeting_id: &str) -> Result<String, AgentError> {
        Ok(edge_agent::Agent::check_in(self, meeting_id)?.idempotency_key)
    }

    fn book_walk_up(&self, minutes: u16, title: &str) -> Result<String, AgentError> {
        Ok(edge_agent::Agent::book_walk_up(self, minutes, title)?.idempotency_key)
    }
}

/// The last tap and, once it came, the hub's answer; serializable so a PNG state can hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// A check-in was queued.
    CheckIn {
        /// Idempotency key of the queued message.
        key: String,
        /// The meeting checked into.
        meeting_id: String,
        /// The hub's answer and when it arrived (Unix ms).
        answer: Option<(CheckInOutcome, i64)>,
    },
    /// A walk-up booking was queued.
    WalkUp {
        /// Idempotency key of the queued message.
        key: String,
        /// Requested length.
        minutes: u16,
        /// The hub's answer and when it arrived (Unix ms).
        answer: Option<(WalkUpOutcome, i64)>,
    },
    /// The agent refused the tap locally (e.g. the window closed meanwhile).
    Failed {
        /// What to show.
        sentence: String,
        /// When it happened (Unix ms).
        at_ms: i64,
    },
}

/// What the room is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Free.
    Available,
    /// Held by a meeting.
    Booked,
    /// A meeting's check-in window is open.
    CheckInOpen,
    /// Free again because the meeting of this slot was released (no-show).
    Released,
}

/// A timeline row's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// Held by a meeting still to come or running.
    Booked,
    /// Nothing holds the resource.
    Available,
    /// Nobody checked in.
    NoShow,
    /// Called off.
    Cancelled,
    /// Over.
    Completed,
}

/// The answer line under the buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Nothing to say.
    None,
    /// Check-in sent, online, no answer yet.
    CheckInSending,
    /// Check-in waiting for the connection.
    CheckInQueued,
    /// The hub recorded the check-in.
    CheckInAccepted,
    /// The hub refused the check-in (detail: its sentence).
    CheckInRefused,
    /// Booking sent, online, no answer yet.
    BookingSending,
    /// Booking waiting for the connection.
    BookingQueued,
    /// Booked (detail: end time).
    BookingConfirmed,
    /// Not booked (detail: the hub's sentence).
    BookingRefused,
    /// The agent refused locally (detail: why).
    Failed,
}

/// A meeting as shown: times already in the resource's zone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeetingLine {
    /// Title.
    pub title: String,
    /// Organizer's display name.
    pub organizer: String,
    /// Start, `HH:MM` local.
    pub from: String,
    /// End, `HH:MM` local.
    pub to: String,
}

/// One timeline row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// What the slot is.
    pub kind: SlotKind,
    /// Start, `HH:MM` local.
    pub from: String,
    /// End, `HH:MM` local.
    pub to: String,
    /// Meeting title (empty for Available).
    pub title: String,
    /// Organizer (empty for Available).
    pub organizer: String,
    /// The slot contains now.
    pub current: bool,
}

/// Everything the screen shows, as plain values; [`crate::screen`] copies it into `Api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewModel {
    /// Resource display name.
    pub resource_name: String,
    /// A bookable device rather than a room.
    pub is_device: bool,
    /// Seats (rooms), 0 when unknown.
    pub capacity: u32,
    /// `HH:MM` in the resource's zone.
    pub clock: String,
    /// 0 = Monday.
    pub weekday: u32,
    /// Day of month.
    pub day: u32,
    /// 1..=12.
    pub month: u32,
    /// A schedule was ever received.
    pub has_schedule: bool,
    /// Status at a glance.
    pub status: Status,
    /// The meeting holding the resource now.
    pub current: Option<MeetingLine>,
    /// Minutes until the current meeting ends (rounded up).
    pub minutes_left: i64,
    /// The next meeting, if it is today (times alone would mislead for another day).
    pub next: Option<MeetingLine>,
    /// Today's rows.
    pub timeline: Vec<Slot>,
    /// The row the timeline scrolls to: the one before the current slot.
    pub timeline_focus: usize,
    /// The broker is unreachable (the banner shows).
    pub offline: bool,
    /// Minutes since the schedule was received.
    pub sync_age_minutes: i64,
    /// The meeting whose check-in button shows, if any.
    pub check_in: Option<(String, String)>,
    /// Book-now lengths offered (empty: book now hidden).
    pub book_choices: Vec<u16>,
    /// The answer line.
    pub notice: Notice,
    /// Its detail (time or sentence).
    pub notice_detail: String,
}

/// Holds the agent port and the last tap; everything else is recomputed from the agent per view.
pub struct Controller<A> {
    agent: A,
    action: Option<Action>,
}

impl<A: AgentPort> Controller<A> {
    /// A controller with nothing tapped yet.
    pub fn new(agent: A) -> Self {
        Self {
            agent,
            action: None,
        }
    }

    /// A controller resuming a tap (the PNG mode renders states holding one).
    pub fn with_action(agent: A, action: Option<Action>) -> Self {
        Self { agent, action }
    }

    /// The agent port, for tests and the binary.
    pub fn agent(&self) -> &A {
        &self.agent
    }

    /// The last tap.
    pub fn action(&self) -> Option<&Action> {
        self.action.as_ref()
    }

    /// The check-in button: checks in to the meeting whose window is open.
    pub fn check_in(&mut self, now_ms: i64) {
        let Some(cached) = self.agent.cached() else {
            return;
        };
        let Some(meeting) = check_in_target(&cached.snapshot, self.action.as_ref(), now_ms) else {
            return;
        };
        let meeting_id = meeting.id.clone();
        self.action = Some(match self.agent.check_in(&meeting_id) {
            Ok(key) => Action::CheckIn {
                key,
                meeting_id,
                answer: None,
            },
            Err(e) => failed(&e, now_ms),
        });
    }

    /// A book-now button: asks for `minutes` from now if that length is offered.
    pub fn book_now(&mut self, minutes: u16, now_ms: i64) {
        let offered = self
            .agent
            .cached()
            .map(|c| book_choices(&c.snapshot, self.action.as_ref(), now_ms))
            .unwrap_or_default();
        if !offered.contains(&minutes) || walk_up_pending(self.action.as_ref()) {
            return;
        }
        self.action = Some(match self.agent.book_walk_up(minutes, WALK_UP_TITLE) {
            Ok(key) => Action::WalkUp {
                key,
                minutes,
                answer: None,
            },
            Err(e) => failed(&e, now_ms),
        });
    }

    /// Records the hub's answer to the last tap; other events need only a new [`Self::view`].
    pub fn on_event(&mut self, event: &AgentEvent, now_ms: i64) {
        let AgentEvent::Answered {
            idempotency_key,
            outcome,
        } = event
        else {
            return;
        };
        match (&mut self.action, outcome) {
            (Some(Action::CheckIn { key, answer, .. }), DeviceOutcome::CheckIn(o))
                if key == idempotency_key =>
            {
                *answer = Some((o.clone(), now_ms));
            }
            (Some(Action::WalkUp { key, answer, .. }), DeviceOutcome::WalkUp(o))
                if key == idempotency_key =>
            {
                *answer = Some((o.clone(), now_ms));
            }
            _ => {}
        }
    }

    /// The screen at `now_ms`.
    pub fn view(&self, now_ms: i64) -> ViewModel {
        let cached = self.agent.cached();
        let offline = self.agent.connection() == ConnectionState::Offline;
        view_model(cached.as_ref(), offline, self.action.as_ref(), now_ms)
    }
}

fn failed(error: &AgentError, now_ms: i64) -> Action {
    Action::Failed {
        sentence: error.to_string(),
        at_ms: now_ms,
    }
}

/// Builds the view model: the pure core of the controller.
pub fn view_model(
    cached: Option<&CachedSnapshot>,
    offline: bool,
    action: Option<&Action>,
    now_ms: i64,
) -> ViewModel {
    let snapshot = cached.map(|c| &c.snapshot);
    let zone = snapshot.map_or(Tz::UTC, |s| zone(&s.time_zone));
    let local = local_time(zone, now_ms);
    let (notice, notice_detail) = notice(action, offline, zone, now_ms);
    let mut view = ViewModel {
        resource_name: snapshot.map(|s| s.name.clone()).unwrap_or_default(),
        is_device: snapshot.is_some_and(|s| s.kind == ResourceKind::Device),
        capacity: snapshot.and_then(|s| s.capacity).unwrap_or(0),
        clock: local.format("%H:%M").to_string(),
        weekday: local.weekday().num_days_from_monday(),
        day: local.day(),
        month: local.month(),
        has_schedule: snapshot.is_some(),
        status: Status::Available,
        current: None,
        minutes_left: 0,
        next: None,
        timeline: Vec::new(),
        timeline_focus: 0,
        offline,
        sync_age_minutes: cached.map_or(0, |c| (now_ms - c.received_at_ms).max(0) / MINUTE_MS),
        check_in: None,
        book_choices: Vec::new(),
        notice,
        notice_detail,
    };
    let Some(snapshot) = snapshot else {
        return view;
    };
    let current = current_meeting(snapshot, action, now_ms);
    view.status = status(snapshot, action, now_ms);
    view.minutes_left = current
        .as_ref()
        .map_or(0, |m| (m.end_ms - now_ms + MINUTE_MS - 1) / MINUTE_MS);
    view.current = current.as_ref().map(|m| line(m, zone));
    let (_, day_end) = day_bounds(zone, now_ms);
    view.next = logic::next_meeting(snapshot, now_ms)
        .filter(|m| m.start_ms < day_end)
        .map(|m| line(m, zone));
    view.timeline = timeline(snapshot, action, zone, now_ms);
    view.timeline_focus = view
        .timeline
        .iter()
        .position(|slot| slot.current)
        .map_or(0, |i| i.saturating_sub(1));
    view.check_in =
        check_in_target(snapshot, action, now_ms).map(|m| (m.id.clone(), m.title.clone()));
    view.book_choices = book_choices(snapshot, action, now_ms);
    view
}

/// The IANA zone of the resource (UTC when unknown, so a bad zone never blanks the screen).
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

fn local_time(zone: Tz, ms: i64) -> DateTime<Tz> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&zone)
}

/// `HH:MM` of a Unix-ms instant in `zone`.
pub fn hh_mm(zone: Tz, ms: i64) -> String {
    local_time(zone, ms).format("%H:%M").to_string()
}

fn line(meeting: &SnapshotMeeting, zone: Tz) -> MeetingLine {
    MeetingLine {
        title: meeting.title.clone(),
        organizer: meeting.organizer_name.clone(),
        from: hh_mm(zone, meeting.start_ms),
        to: hh_mm(zone, meeting.end_ms),
    }
}

/// A walk-up the hub confirmed but the schedule does not contain yet, as a meeting.
fn confirmed_walk_up(
    snapshot: &ScheduleSnapshot,
    action: Option<&Action>,
) -> Option<SnapshotMeeting> {
    let Some(Action::WalkUp {
        answer:
            Some((
                WalkUpOutcome::Confirmed {
                    meeting_id,
                    start_ms,
                    end_ms,
                },
                _,
            )),
        ..
    }) = action
    else {
        return None;
    };
    if snapshot.meetings.iter().any(|m| &m.id == meeting_id) {
        return None;
    }
    Some(SnapshotMeeting {
        id: meeting_id.clone(),
        title: WALK_UP_TITLE.to_owned(),
        organizer_name: String::new(),
        start_ms: *start_ms,
        end_ms: *end_ms,
        status: SnapshotStatus::Scheduled,
        checked_in: false,
    })
}

/// The meeting holding the resource now, counting a just-confirmed walk-up and a next meeting
/// already checked into during its early check-in window (its people are in the room).
pub fn current_meeting(
    snapshot: &ScheduleSnapshot,
    action: Option<&Action>,
    now_ms: i64,
) -> Option<SnapshotMeeting> {
    logic::current_meeting(snapshot, now_ms)
        .cloned()
        .or_else(|| {
            confirmed_walk_up(snapshot, action)
                .filter(|m| m.start_ms <= now_ms && now_ms < m.end_ms)
        })
        .or_else(|| {
            logic::next_meeting(snapshot, now_ms)
                .filter(|m| {
                    now_ms >= check_in_opens(snapshot, m)
                        && (m.checked_in || checked_in_here(action, &m.id))
                })
                .cloned()
        })
}

fn check_in_opens(snapshot: &ScheduleSnapshot, meeting: &SnapshotMeeting) -> i64 {
    meeting.start_ms - i64::from(snapshot.check_in_opens_minutes_before) * MINUTE_MS
}

/// Whether the hub already accepted a check-in for `meeting_id` from this screen.
fn checked_in_here(action: Option<&Action>, meeting_id: &str) -> bool {
    matches!(action, Some(Action::CheckIn { meeting_id: id, answer, .. })
        if id == meeting_id && !matches!(answer, Some((CheckInOutcome::Refused { .. }, _))))
}

/// The meeting (current, else next) whose check-in window is open at `now_ms` and that this
/// screen has not checked into yet.
pub fn check_in_target<'a>(
    snapshot: &'a ScheduleSnapshot,
    action: Option<&Action>,
    now_ms: i64,
) -> Option<&'a SnapshotMeeting> {
    [
        logic::current_meeting(snapshot, now_ms),
        logic::next_meeting(snapshot, now_ms),
    ]
    .into_iter()
    .flatten()
    .find(|m| {
        matches!(
            logic::check_in_window(snapshot, m, now_ms),
            CheckInWindow::Open { .. }
        ) && !checked_in_here(action, &m.id)
    })
}

/// Status at a glance: check-in open beats booked; a released slot says so.
pub fn status(snapshot: &ScheduleSnapshot, action: Option<&Action>, now_ms: i64) -> Status {
    if check_in_target(snapshot, action, now_ms).is_some() {
        return Status::CheckInOpen;
    }
    if current_meeting(snapshot, action, now_ms).is_some() {
        return Status::Booked;
    }
    let released_now = snapshot.meetings.iter().any(|m| {
        matches!(m.status, SnapshotStatus::Released | SnapshotStatus::NoShow)
            && m.start_ms <= now_ms
            && now_ms < m.end_ms
    });
    if released_now {
        Status::Released
    } else {
        Status::Available
    }
}

fn walk_up_pending(action: Option<&Action>) -> bool {
    matches!(action, Some(Action::WalkUp { answer: None, .. }))
}

/// Book-now lengths when the resource is free: 15/30/60 minutes that end by the next meeting,
/// plus "until the next meeting" when that is shorter than an hour and not one of them; none
/// once the next meeting's check-in window has opened.
pub fn book_choices(snapshot: &ScheduleSnapshot, action: Option<&Action>, now_ms: i64) -> Vec<u16> {
    if current_meeting(snapshot, action, now_ms).is_some() {
        return Vec::new();
    }
    let Some(next) = logic::next_meeting(snapshot, now_ms) else {
        return BOOK_CHOICES.to_vec();
    };
    if now_ms >= check_in_opens(snapshot, next) {
        return Vec::new();
    }
    let room = (next.start_ms - now_ms) / MINUTE_MS;
    let mut choices: Vec<u16> = BOOK_CHOICES
        .into_iter()
        .filter(|m| i64::from(*m) <= room)
        .collect();
    let longest = BOOK_CHOICES.iter().copied().max().map_or(0, i64::from);
    if room >= MIN_BOOKING_MINUTES
        && room < longest
        && let Ok(until_next) = u16::try_from(room)
        && !choices.contains(&until_next)
    {
        choices.push(until_next);
    }
    choices
}

fn notice(action: Option<&Action>, offline: bool, zone: Tz, now_ms: i64) -> (Notice, String) {
    let fresh = |at: &i64| now_ms - at < NOTICE_MS;
    match action {
        None => (Notice::None, String::new()),
        Some(Action::CheckIn { answer: None, .. }) if offline => {
            (Notice::CheckInQueued, String::new())
        }
        Some(Action::CheckIn { answer: None, .. }) => (Notice::CheckInSending, String::new()),
        Some(Action::CheckIn {
            answer: Some((outcome, at)),
            ..
        }) if fresh(at) => match outcome {
            CheckInOutcome::Accepted { .. } => (Notice::CheckInAccepted, String::new()),
            CheckInOutcome::Refused { sentence, .. } => (Notice::CheckInRefused, sentence.clone()),
        },
        Some(Action::WalkUp { answer: None, .. }) if offline => {
            (Notice::BookingQueued, String::new())
        }
        Some(Action::WalkUp { answer: None, .. }) => (Notice::BookingSending, String::new()),
        Some(Action::WalkUp {
            answer: Some((outcome, at)),
            ..
        }) if fresh(at) => match outcome {
            WalkUpOutcome::Confirmed { end_ms, .. } => {
                (Notice::BookingConfirmed, hh_mm(zone, *end_ms))
            }
            WalkUpOutcome::Refused { sentence, .. } => (Notice::BookingRefused, sentence.clone()),
        },
        Some(Action::Failed { sentence, at_ms }) if fresh(at_ms) => {
            (Notice::Failed, sentence.clone())
        }
        Some(_) => (Notice::None, String::new()),
    }
}

fn slot_kind(meeting: &SnapshotMeeting, now_ms: i64) -> SlotKind {
    match meeting.status {
        SnapshotStatus::Cancelled => SlotKind::Cancelled,
        SnapshotStatus::NoShow => SlotKind::NoShow,
        SnapshotStatus::Released if meeting.checked_in => SlotKind::Completed,
        SnapshotStatus::Released => SlotKind::NoShow,
        SnapshotStatus::Scheduled | SnapshotStatus::Attended if meeting.end_ms <= now_ms => {
            SlotKind::Completed
        }
        SnapshotStatus::Scheduled | SnapshotStatus::Attended => SlotKind::Booked,
    }
}

/// Unix-ms bounds of the local day containing `now_ms`.
fn day_bounds(zone: Tz, now_ms: i64) -> (i64, i64) {
    let day = local_time(zone, now_ms).date_naive();
    let at = |date: NaiveDate, hour: u32| {
        let naive = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
        zone.from_local_datetime(&naive).earliest().map_or_else(
            || naive.and_utc().timestamp_millis(),
            |t| t.timestamp_millis(),
        )
    };
    let next = day.succ_opt().unwrap_or(day);
    (at(day, 0), at(next, 0))
}

/// Today's rows: every meeting of the day with its kind, and Available for the gaps between
/// the meetings that hold the resource (within working hours, widened to fit the meetings).
pub fn timeline(
    snapshot: &ScheduleSnapshot,
    action: Option<&Action>,
    zone: Tz,
    now_ms: i64,
) -> Vec<Slot> {
    let (day_start, day_end) = day_bounds(zone, now_ms);
    let mut meetings: Vec<SnapshotMeeting> = logic::timeline(snapshot, day_start, day_end)
        .into_iter()
        .cloned()
        .collect();
    meetings.extend(confirmed_walk_up(snapshot, action));
    meetings.sort_by_key(|m| m.start_ms);
    let hour = |h: u32| day_start + i64::from(h) * 60 * MINUTE_MS;
    let open = meetings
        .iter()
        .map(|m| m.start_ms)
        .chain([hour(DAY_HOURS.0)])
        .min()
        .unwrap_or(day_start)
        .max(day_start);
    let close = meetings
        .iter()
        .map(|m| m.end_ms)
        .chain([hour(DAY_HOURS.1)])
        .max()
        .unwrap_or(day_end)
        .min(day_end);
    let mut rows: Vec<(i64, Slot)> = meetings
        .iter()
        .map(|m| {
            let slot = Slot {
                kind: slot_kind(m, now_ms),
                from: hh_mm(zone, m.start_ms),
                to: hh_mm(zone, m.end_ms),
                title: m.title.clone(),
                organizer: m.organizer_name.clone(),
                current: m.status.holds_resource() && m.start_ms <= now_ms && now_ms < m.end_ms,
            };
            (m.start_ms, slot)
        })
        .collect();
    let holding: Vec<_> = meetings
        .iter()
        .filter(|m| m.status.holds_resource())
        .collect();
    let mut cursor = open;
    for m in &holding {
        if m.start_ms - cursor >= MIN_GAP_MS {
            rows.push((cursor, available(zone, cursor, m.start_ms, now_ms)));
        }
        cursor = cursor.max(m.end_ms);
    }
    if close - cursor >= MIN_GAP_MS {
        rows.push((cursor, available(zone, cursor, close, now_ms)));
    }
    rows.sort_by_key(|(start, slot)| (*start, slot.kind != SlotKind::Available));
    rows.into_iter().map(|(_, slot)| slot).collect()
}

fn available(zone: Tz, from: i64, to: i64, now_ms: i64) -> Slot {
    Slot {
        kind: SlotKind::Available,
        from: hh_mm(zone, from),
        to: hh_mm(zone, to),
        title: String::new(),
        organizer: String::new(),
        current: from <= now_ms && now_ms < to,
    }
}

#[cfg(test)]
mod tests;
