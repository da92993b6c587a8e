//! Check-ins and walk-up bookings from room devices over MQTT: the edge capability hands each
//! stored request here ([`crate::edge::DeviceRequests`]; the hub's wiring builds [`AtTheDoor`]
//! and gives it to the edge runtime) and sends back the outcome with a sentence the screen shows
//! as is.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::{
    ActorType, ErrorCode,
    protocol::{
        CheckIn, CheckInOutcome, RefusalCode, SnapshotStatus, WalkUpOutcome, WalkUpRequest,
    },
};

use super::{AttendanceError, check_in, walk_up};
use crate::{
    auth::Actor,
    edge::{DeviceRef, DeviceRequests},
    error::ApiError,
    meetings::Meetings,
};

/// Decides device requests with the attendance rules.
pub struct AtTheDoor {
    /// The meetings capability: walk-ups book through it, check-ins use its database and queue.
    meetings: Meetings,
}

impl AtTheDoor {
    /// Decides with this hub's meetings capability.
    pub fn new(meetings: Meetings) -> Self {
        AtTheDoor { meetings }
    }
}

fn device_actor(device: &DeviceRef) -> Actor {
    Actor {
        tenant_id: device.tenant_id.clone(),
        actor_type: ActorType::Device,
        id: device.device_id.clone(),
        role: None,
        resource_id: Some(device.resource_id.clone()),
    }
}

fn refusal(err: AttendanceError) -> (RefusalCode, String) {
    let reason = match &err {
        AttendanceError::TooEarly(_) => RefusalCode::TooEarly,
        AttendanceError::TooLate => RefusalCode::TooLate,
        AttendanceError::Cancelled => RefusalCode::NotActive,
        AttendanceError::WrongDevice | AttendanceError::NotAPerson => RefusalCode::Forbidden,
        AttendanceError::RoomTaken(_) => RefusalCode::Conflict,
        _ => RefusalCode::Unavailable,
    };
    let answer = ApiError::from(err);
    let reason = match (reason, answer.code()) {
        (RefusalCode::Unavailable, ErrorCode::NotFound) => RefusalCode::NotFound,
        (RefusalCode::Unavailable, ErrorCode::Conflict) => RefusalCode::Conflict,
        (RefusalCode::Unavailable, ErrorCode::InvalidSlot | ErrorCode::ValidationFailed) => {
            RefusalCode::InvalidSlot
        }
        (RefusalCode::Unavailable, ErrorCode::ResourceDisabled) => RefusalCode::ResourceDisabled,
        (RefusalCode::Unavailable, ErrorCode::Forbidden) => RefusalCode::Forbidden,
        (reason, _) => reason,
    };
    (reason, answer.message().to_string())
}

fn millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now)
}

#[async_trait]
impl DeviceRequests for AtTheDoor {
    async fn check_in(&self, device: &DeviceRef, request: &CheckIn) -> CheckInOutcome {
        let state = &self.meetings;
        let actor = device_actor(device);
        match check_in(
            &state.db,
            &state.jobs,
            &actor,
            &request.meeting_id,
            millis(request.at_ms),
            Utc::now(),
        )
        .await
        {
            Ok(meeting) => CheckInOutcome::Accepted {
                status: SnapshotStatus::from(meeting.status),
            },
            Err(err) => {
                let (reason, sentence) = refusal(err);
                CheckInOutcome::Refused { reason, sentence }
            }
        }
    }

    async fn walk_up(&self, device: &DeviceRef, request: &WalkUpRequest) -> WalkUpOutcome {
        let state = &self.meetings;
        let actor = device_actor(device);
        let now = Utc::now();
        match walk_up(
            state,
            &actor,
            &device.resource_id,
            &request.title,
            request.minutes,
            &request.idempotency_key,
            now,
        )
        .await
        {
            Ok(meeting) => WalkUpOutcome::Confirmed {
                meeting_id: meeting.id,
                start_ms: meeting.start.timestamp_millis(),
                end_ms: meeting.end.timestamp_millis(),
            },
            Err(err) => {
                let (reason, sentence) = refusal(err);
                WalkUpOutcome::Refused { reason, sentence }
            }
        }
    }
}
