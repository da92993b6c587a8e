//! Recovery of reservations: a booking is a pending row until Google confirms it; if its
//! writer dies in between, this job (queued with the reservation, run after a few minutes)
//! settles the row from what Google has.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use serde_json::json;
use shared::{ActorType, CreatedByType};

use super::{
    MeetingError,
    google_event::facts,
    model::{Meeting, WriteState},
    store::{self, ChangeActor},
};
use crate::{
    connections::Owner,
    google::{Google, GoogleError, scopes},
    jobs::{ClaimedJob, JobContext, JobError, JobHandler, NewJob},
};

/// The job that settles a reservation whose writer may have died.
pub const RECOVER_KIND: &str = "meetings.recover";
/// How long a reservation may stay pending before recovery looks at it.
pub const RECOVER_AFTER: Duration = Duration::minutes(5);

/// The recovery job of a reservation, due when the writer should long have finished.
pub fn job(meeting: &Meeting) -> NewJob {
    NewJob::now(
        RECOVER_KIND,
        Some(&meeting.tenant_id),
        json!({"meeting_id": meeting.id}),
    )
    .at(Utc::now() + RECOVER_AFTER)
}

/// Settles a reservation whose writer may have died between the Google write and the
/// confirmation: confirms it if the event is in Google, removes it if not.
pub struct RecoverReservation {
    /// The Calendar client.
    pub google: Google,
}

#[async_trait]
impl JobHandler for RecoverReservation {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let (Some(tenant_id), Some(meeting_id)) =
            (job.tenant_id.as_deref(), job.payload["meeting_id"].as_str())
        else {
            return Err(JobError::Permanent(
                "recovery job without tenant or meeting".into(),
            ));
        };
        let retry = |e: MeetingError| JobError::Retry(e.to_string());
        let Some(meeting) = store::get_any(ctx.db(), tenant_id, meeting_id)
            .await
            .map_err(retry)?
        else {
            return Ok(());
        };
        if meeting.write_state == WriteState::Confirmed {
            return Ok(());
        }
        let owner = Owner::from_key(&meeting.connection_owner);
        let connection = self
            .google
            .connection(tenant_id, &owner, &[scopes::EVENTS])
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        match self
            .google
            .events_get(&connection, &meeting.calendar_id, &meeting.google_event_id)
            .await
        {
            Ok(event) if event.status.as_deref() != Some("cancelled") => {
                let actor = ChangeActor {
                    actor_type: if meeting.created_by_type == CreatedByType::Ai {
                        ActorType::Ai
                    } else {
                        ActorType::User
                    },
                    actor_id: Some(meeting.created_by.clone()),
                };
                store::confirm_created(ctx.db(), &ctx.queue, &meeting, &facts(&event), &actor)
                    .await
                    .map_err(retry)?;
                tracing::info!(%meeting_id, "recovered a booking that reached Google");
                Ok(())
            }
            Ok(_) | Err(GoogleError::NotFound) | Err(GoogleError::Gone { .. }) => {
                store::drop_pending(ctx.db(), tenant_id, meeting_id)
                    .await
                    .map_err(retry)?;
                tracing::info!(%meeting_id, "dropped a reservation that never reached Google");
                Ok(())
            }
            Err(other) => Err(JobError::Retry(other.to_string())),
        }
    }
}
