//! The messages exchanged over MQTT. Field order is wire order (postcard), so fields are only ever
//! appended in a new [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION), never reordered.
//!
//! Times are Unix milliseconds (UTC) so a device without a time-zone database can compare them; the
//! snapshot carries the resource's IANA time zone for display.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::domain::{MeetingStatus, ResourceKind};

/// Every message of the protocol; the variant says what the payload is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Hub → device (retained on the schedule topic): the resource's whole schedule.
    ScheduleSnapshot(ScheduleSnapshot),
    /// Device → hub: someone checked in at the device.
    CheckIn(CheckIn),
    /// Hub → device: what became of a [`CheckIn`].
    CheckInResult(CheckInResult),
    /// Device → hub: book the resource now, at the device.
    WalkUpRequest(WalkUpRequest),
    /// Hub → device: what became of a [`WalkUpRequest`].
    WalkUpResult(WalkUpResult),
    /// Device → hub: the device is alive and how far behind it is.
    Heartbeat(Heartbeat),
    /// Device → hub: publish the schedule again (version gap or stale cache).
    SnapshotRequest(SnapshotRequest),
    /// Hub → device (on its down topic, sealed with its device key): the resource's schedule
    /// key changed (another device of the resource was revoked); open schedules with this one.
    ScheduleKey(ScheduleKey),
}

impl Message {
    /// A short name of the message kind, for logs and metrics.
    pub const fn kind(&self) -> &'static str {
        match self {
            Message::ScheduleSnapshot(_) => "schedule_snapshot",
            Message::CheckIn(_) => "check_in",
            Message::CheckInResult(_) => "check_in_result",
            Message::WalkUpRequest(_) => "walk_up_request",
            Message::WalkUpResult(_) => "walk_up_result",
            Message::Heartbeat(_) => "heartbeat",
            Message::SnapshotRequest(_) => "snapshot_request",
            Message::ScheduleKey(_) => "schedule_key",
        }
    }
}

/// A resource's schedule as the hub last knew it; each one replaces the previous one whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSnapshot {
    /// The resource the schedule belongs to; a device drops snapshots for any other.
    pub resource_id: String,
    /// The resource's display name.
    pub name: String,
    /// Room or device, which decides what the screen shows.
    pub kind: ResourceKind,
    /// Seats, for rooms.
    pub capacity: Option<u32>,
    /// IANA time zone of the resource, for display.
    pub time_zone: String,
    /// Increases by one with every publish for this resource; a jump tells the device it missed one.
    pub version: u64,
    /// When the hub built the snapshot (Unix ms).
    pub generated_at: i64,
    /// How many minutes before a meeting's start check-in opens.
    pub check_in_opens_minutes_before: u32,
    /// How many minutes after a meeting's start check-in is still accepted.
    pub check_in_closes_minutes_after: u32,
    /// The meetings of the published window, in start order.
    pub meetings: Vec<SnapshotMeeting>,
}

/// One meeting as a device needs it: no attendee list, only what the screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeeting {
    /// The hub's meeting id, echoed back in a [`CheckIn`].
    pub id: String,
    /// The title shown on the screen.
    pub title: String,
    /// The organizer's display name (never an e-mail address).
    pub organizer_name: String,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms), after `start_ms`.
    pub end_ms: i64,
    /// Where the meeting stands.
    pub status: SnapshotStatus,
    /// Someone already checked in.
    pub checked_in: bool,
}

/// A meeting's status as devices see it: the domain's statuses plus `Released`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SnapshotStatus {
    /// Booked, not attended yet.
    Scheduled,
    /// Someone checked in.
    Attended,
    /// Nobody checked in in time.
    NoShow,
    /// Called off.
    Cancelled,
    /// Freed early (no-show release or ended at the device); the slot is bookable again.
    Released,
}

impl SnapshotStatus {
    /// Whether the meeting still holds the resource (scheduled or attended).
    pub const fn holds_resource(self) -> bool {
        matches!(self, SnapshotStatus::Scheduled | SnapshotStatus::Attended)
    }
}

impl From<MeetingStatus> for SnapshotStatus {
    fn from(status: MeetingStatus) -> Self {
        match status {
            MeetingStatus::Scheduled => SnapshotStatus::Scheduled,
            MeetingStatus::Attended => SnapshotStatus::Attended,
            MeetingStatus::NoShow => SnapshotStatus::NoShow,
            MeetingStatus::Cancelled => SnapshotStatus::Cancelled,
        }
    }
}

/// A resource's new schedule key, handed to each of its remaining devices after a revocation
/// (and again whenever a device asks for a snapshot, so one that was offline catches up).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleKey {
    /// The resource whose schedules the key opens.
    pub resource_id: String,
    /// Grows by one at each rotation; a device ignores a generation older than its own.
    pub generation: u64,
    /// The 32 key bytes.
    pub key: Vec<u8>,
}

impl core::fmt::Debug for ScheduleKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScheduleKey")
            .field("resource_id", &self.resource_id)
            .field("generation", &self.generation)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A check-in made at a device; the idempotency key makes replays after an outage harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// The meeting checked into.
    pub meeting_id: String,
    /// The device that saw it; must match the device the payload is sealed for.
    pub device_id: String,
    /// When the person checked in at the device (Unix ms), not when the hub heard of it.
    pub at_ms: i64,
    /// Unique per check-in; the hub answers a repeated key with the first answer.
    pub idempotency_key: String,
}

/// The hub's answer to a [`CheckIn`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInResult {
    /// The key of the check-in answered.
    pub idempotency_key: String,
    /// Accepted or refused.
    pub outcome: CheckInOutcome,
}

/// What became of a check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckInOutcome {
    /// Recorded; the meeting now has this status.
    Accepted {
        /// The meeting's status after the check-in.
        status: SnapshotStatus,
    },
    /// Not recorded.
    Refused {
        /// Machine-readable reason, for the screen to pick an icon.
        reason: RefusalCode,
        /// A sentence the screen can show as is.
        sentence: String,
    },
}

/// A booking made at the device for "now".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkUpRequest {
    /// The device asking; must match the device the payload is sealed for.
    pub device_id: String,
    /// Unique per request; the hub answers a repeated key with the first answer.
    pub idempotency_key: String,
    /// Requested start (Unix ms), usually the moment the button was pressed.
    pub start_ms: i64,
    /// Length of the booking.
    pub minutes: u16,
    /// Title for the meeting.
    pub title: String,
}

/// The hub's answer to a [`WalkUpRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkUpResult {
    /// The key of the request answered.
    pub idempotency_key: String,
    /// Confirmed or refused.
    pub outcome: WalkUpOutcome,
}

/// What became of a walk-up booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalkUpOutcome {
    /// Booked; the next snapshot will contain it.
    Confirmed {
        /// The new meeting's id.
        meeting_id: String,
        /// Booked start (Unix ms); the hub may round it.
        start_ms: i64,
        /// Booked end (Unix ms).
        end_ms: i64,
    },
    /// Not booked.
    Refused {
        /// Machine-readable reason.
        reason: RefusalCode,
        /// A sentence the screen can show as is.
        sentence: String,
    },
}

/// Why the hub refused a device's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefusalCode {
    /// Check-in is not open yet for this meeting.
    TooEarly,
    /// The check-in window has closed.
    TooLate,
    /// No such meeting on this resource.
    NotFound,
    /// The meeting was cancelled or released.
    NotActive,
    /// The slot clashes with another booking.
    Conflict,
    /// The requested times cannot be booked (past, too long, outside hours).
    InvalidSlot,
    /// The resource is disabled.
    ResourceDisabled,
    /// The device may not do this (revoked, or another resource's meeting).
    Forbidden,
    /// Google or the hub failed; the device may try again later.
    Unavailable,
}

/// Sent periodically so the hub can show which devices are alive and behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The sending device.
    pub device_id: String,
    /// The agent's version string (crate version).
    pub agent_version: String,
    /// The schedule version the device holds, if any.
    pub cache_version: Option<u64>,
    /// Messages waiting in the device's outbox.
    pub outbox_len: u32,
}

/// Asks the hub to publish the schedule again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    /// The asking device.
    pub device_id: String,
    /// The version it holds, if any.
    pub have_version: Option<u64>,
}
