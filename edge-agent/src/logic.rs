//! The agent's decisions as plain functions of a snapshot and the time: no I/O, no async, no std
//! beyond `alloc`, so they can move to a `no_std` door sign unchanged. Times of meetings are Unix
//! milliseconds; ages and delays are embassy-time [`Duration`]s.

use embassy_time::{Duration, Instant};
use shared::protocol::{ScheduleSnapshot, SnapshotMeeting};

const MINUTE_MS: i64 = 60_000;

/// The meeting holding the resource at `now_ms`, if any (cancelled and released ones do not).
pub fn current_meeting(snapshot: &ScheduleSnapshot, now_ms: i64) -> Option<&SnapshotMeeting> {
    snapshot
        .meetings
        .iter()
        .filter(|m| m.status.holds_resource())
        .find(|m| m.start_ms <= now_ms && now_ms < m.end_ms)
}

/// The first meeting starting after `now_ms` that still holds the resource.
pub fn next_meeting(snapshot: &ScheduleSnapshot, now_ms: i64) -> Option<&SnapshotMeeting> {
    snapshot
        .meetings
        .iter()
        .filter(|m| m.status.holds_resource() && m.start_ms > now_ms)
        .min_by_key(|m| m.start_ms)
}

/// Every meeting overlapping `[from_ms, to_ms)`, in start order, whatever its status (the screen
/// greys out cancelled and released ones).
pub fn timeline(snapshot: &ScheduleSnapshot, from_ms: i64, to_ms: i64) -> Vec<&SnapshotMeeting> {
    let mut meetings: Vec<_> = snapshot
        .meetings
        .iter()
        .filter(|m| m.start_ms < to_ms && m.end_ms > from_ms)
        .collect();
    meetings.sort_by_key(|m| m.start_ms);
    meetings
}

/// Where a meeting's check-in stands, so the screen can show or hide the button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInWindow {
    /// Opens at this time (Unix ms).
    NotYet {
        /// When check-in opens.
        opens_ms: i64,
    },
    /// Open until this time (Unix ms).
    Open {
        /// When check-in closes.
        closes_ms: i64,
    },
    /// The window has passed.
    Closed,
    /// Already checked in, cancelled or released: nothing to check in to.
    NotNeeded,
}

/// The check-in window of `meeting` under the snapshot's policy at `now_ms`. The window closes at
/// the earlier of `start + closes_after` and the meeting's end.
pub fn check_in_window(
    snapshot: &ScheduleSnapshot,
    meeting: &SnapshotMeeting,
    now_ms: i64,
) -> CheckInWindow {
    if meeting.checked_in || !meeting.status.holds_resource() {
        return CheckInWindow::NotNeeded;
    }
    let opens_ms = meeting.start_ms - i64::from(snapshot.check_in_opens_minutes_before) * MINUTE_MS;
    let closes_ms = (meeting.start_ms
        + i64::from(snapshot.check_in_closes_minutes_after) * MINUTE_MS)
        .min(meeting.end_ms);
    if now_ms < opens_ms {
        CheckInWindow::NotYet { opens_ms }
    } else if now_ms < closes_ms {
        CheckInWindow::Open { closes_ms }
    } else {
        CheckInWindow::Closed
    }
}

/// What to do with a snapshot of version `received` when the cache holds `cached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionVerdict {
    /// Next in line (or the first one): store it.
    Apply,
    /// Newer but versions were skipped: store it (snapshots are whole) and ask the hub for the
    /// latest, in case the jump hides a lost publish.
    ApplyAndRequest,
    /// Same or older than what the cache holds (a retained replay): drop it.
    Ignore,
}

/// Judges a received snapshot version against the cached one.
pub fn judge_version(cached: Option<u64>, received: u64) -> VersionVerdict {
    match cached {
        None => VersionVerdict::Apply,
        Some(have) if received <= have => VersionVerdict::Ignore,
        Some(have) if received == have + 1 => VersionVerdict::Apply,
        Some(_) => VersionVerdict::ApplyAndRequest,
    }
}

/// Age of a cache written at `received_at_ms` seen at `now_ms`; never negative.
pub fn cache_age(received_at_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(now_ms - received_at_ms).unwrap_or(0))
}

/// Whether to ask for a snapshot: no cache, or a cache older than `max_age`, and no request sent
/// within `max_age` (so a silent hub is not flooded).
pub fn should_request_snapshot(
    age: Option<Duration>,
    max_age: Duration,
    last_request: Option<Instant>,
    now: Instant,
) -> bool {
    let stale = age.is_none_or(|age| age > max_age);
    let recently_asked = last_request.is_some_and(|at| now.saturating_duration_since(at) < max_age);
    stale && !recently_asked
}

/// Exponential retry timing: `initial`, doubled per failed attempt, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// Delay before retry number `attempt` (0 = first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
        let ticks = self.initial.as_ticks().saturating_mul(factor);
        Duration::from_ticks(ticks.min(self.max.as_ticks()))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests;
