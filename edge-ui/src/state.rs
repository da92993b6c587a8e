//! A screen state as JSON: the schedule, the connection, the time and the last tap. The PNG mode
//! renders one (`edge-ui --render-png OUT.png --state state.json`); support can write one from a
//! device's report, and the screenshot tests build theirs in code.
//!
//! ```json
//! { "now": "2026-03-10T09:05:00Z", "connection": "online",
//!   "last_sync": "2026-03-10T09:04:00Z", "schedule": { …ScheduleSnapshot… }, "action": null }
//! ```
//! `schedule` is the protocol's `ScheduleSnapshot` (times in Unix ms, `kind` "ROOM"/"DEVICE");
//! `action` is a [`crate::controller::Action`] (`{"kind": "walk_up", "key": "k", "minutes": 30,
//! "answer": null}`).

use chrono::{DateTime, Utc};
use edge_agent::store::CachedSnapshot;
use edge_agent::{AgentError, ConnectionState, ManualClock};
use serde::{Deserialize, Serialize};
use shared::protocol::ScheduleSnapshot;

use crate::controller::{Action, AgentPort};

/// The connection as a state file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// Connected.
    #[default]
    Online,
    /// The broker is unreachable.
    Offline,
    /// Not connected yet.
    Connecting,
}

impl From<Link> for ConnectionState {
    fn from(link: Link) -> Self {
        match link {
            Link::Online => ConnectionState::Online,
            Link::Offline => ConnectionState::Offline,
            Link::Connecting => ConnectionState::Connecting,
        }
    }
}

/// Everything a frame depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderState {
    /// The wall-clock time shown.
    pub now: DateTime<Utc>,
    /// The connection.
    #[serde(default)]
    pub connection: Link,
    /// When the schedule was received (defaults to `now`).
    #[serde(default)]
    pub last_sync: Option<DateTime<Utc>>,
    /// The cached schedule; `None` before the first one.
    #[serde(default)]
    pub schedule: Option<ScheduleSnapshot>,
    /// The last tap and its answer.
    #[serde(default)]
    pub action: Option<Action>,
}

impl RenderState {
    /// Parses a state file's JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// An agent port frozen at this state.
    pub fn agent(&self) -> Frozen {
        Frozen {
            cached: self.schedule.clone().map(|snapshot| CachedSnapshot {
                snapshot,
                received_at_ms: self.last_sync.unwrap_or(self.now).timestamp_millis(),
            }),
            connection: self.connection.into(),
        }
    }

    /// A clock stopped at `now`.
    pub fn clock(&self) -> ManualClock {
        ManualClock::new(self.now.timestamp_millis())
    }
}

/// An agent that never changes and refuses to send: what a rendered state needs.
#[derive(Debug, Clone)]
pub struct Frozen {
    cached: Option<CachedSnapshot>,
    connection: ConnectionState,
}

impl AgentPort for Frozen {
    fn cached(&self) -> Option<CachedSnapshot> {
        self.cached.clone()
    }

    fn connection(&self) -> ConnectionState {
        self.connection
    }

    fn check_in(&self, _meeting_id: &str) -> Result<String, AgentError> {
        Err(AgentError::Stopped)
    }

    fn book_walk_up(&self, _minutes: u16, _title: &str) -> Result<String, AgentError> {
        Err(AgentError::Stopped)
    }
}
