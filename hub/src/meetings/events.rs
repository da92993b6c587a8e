//! The event every meeting change emits: written by the one change-log function
//! ([`super::store::log_change`]) in the transaction of the change, read typed by every
//! consumer (tablet publishing, notifications, and whatever subscribes next).
//!
//! Versions: version 1 (the first release) had no `version`, `resource_before` or `at`; it
//! still decodes, with those empty. A consumer that needs the old resource of a version-1 move
//! cannot learn it from the event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::ChangeType;

use super::store::ChangeActor;
use crate::jobs::outbox::OutboxEvent;

/// The version this release writes.
pub const MEETING_CHANGED_VERSION: u32 = 2;

/// The outbox prefix of every meeting event (`meeting.created`, `meeting.cancelled`, …).
pub const MEETING_EVENTS: &str = "meeting.";

/// A meeting changed: created, updated, rescheduled, cancelled, attended, no-show, released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingChanged {
    /// Payload version; absent in events of version 1.
    #[serde(default = "first_version")]
    pub version: u32,
    /// The meeting.
    pub meeting_id: String,
    /// Its change-log row (consumers key their idempotency on it).
    pub change_id: String,
    /// What happened.
    pub change_type: ChangeType,
    /// Who did it.
    #[serde(flatten)]
    pub actor: ChangeActor,
    /// The resource the meeting holds after the change (`resource_id` on the wire since
    /// version 1).
    #[serde(rename = "resource_id")]
    pub resource_after: Option<String>,
    /// The resource it held before (differs from `resource_after` when it moved rooms).
    #[serde(default)]
    pub resource_before: Option<String>,
    /// When the change was logged (None in version 1).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

fn first_version() -> u32 {
    1
}

impl MeetingChanged {
    /// Every resource whose schedule the change touches: the one it holds and, after a move,
    /// the one it left.
    pub fn resources_touched(&self) -> Vec<&str> {
        let mut touched: Vec<&str> = self.resource_after.iter().map(String::as_str).collect();
        if let Some(before) = self.resource_before.as_deref()
            && !touched.contains(&before)
        {
            touched.push(before);
        }
        touched
    }
}

impl OutboxEvent for MeetingChanged {
    fn event_type(&self) -> String {
        format!(
            "{MEETING_EVENTS}{}",
            self.change_type.as_str().to_ascii_lowercase()
        )
    }

    fn subject_id(&self) -> &str {
        &self.meeting_id
    }
}

#[cfg(test)]
mod tests {
    use shared::ActorType;

    use super::*;

    /// The payload the first release stored in `outbox_events` and in queued jobs.
    const VERSION_1_PAYLOAD: &str = r#"{"meeting_id":"m-1","change_id":"c-1","change_type":"RESCHEDULED","resource_id":"r-2","actor_type":"AI","actor_id":"key-1"}"#;

    #[test]
    fn a_version_1_payload_still_decodes() {
        let event: MeetingChanged =
            serde_json::from_str(VERSION_1_PAYLOAD).expect("version 1 decodes");
        assert_eq!(
            event,
            MeetingChanged {
                version: 1,
                meeting_id: "m-1".into(),
                change_id: "c-1".into(),
                change_type: ChangeType::Rescheduled,
                actor: ChangeActor {
                    actor_type: ActorType::Ai,
                    actor_id: Some("key-1".into()),
                },
                resource_after: Some("r-2".into()),
                resource_before: None,
                at: None,
            }
        );
        assert_eq!(event.event_type(), "meeting.rescheduled");
        assert_eq!(event.resources_touched(), ["r-2"]);
    }

    #[test]
    fn the_current_version_round_trips_and_names_both_rooms_of_a_move() {
        let event = MeetingChanged {
            version: MEETING_CHANGED_VERSION,
            meeting_id: "m-1".into(),
            change_id: "c-2".into(),
            change_type: ChangeType::Updated,
            actor: ChangeActor {
                actor_type: ActorType::User,
                actor_id: Some("u-1".into()),
            },
            resource_after: Some("r-2".into()),
            resource_before: Some("r-1".into()),
            at: Some(Utc::now()),
        };
        let wire = serde_json::to_value(&event).expect("encodes");
        assert_eq!(wire["resource_id"], "r-2");
        assert_eq!(wire["actor_type"], "USER");
        let back: MeetingChanged = serde_json::from_value(wire).expect("decodes");
        assert_eq!(back, event);
        assert_eq!(back.resources_touched(), ["r-2", "r-1"]);
    }
}
