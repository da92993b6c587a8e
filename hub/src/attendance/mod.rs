//! Attendance: check-in (ATTENDED), the no-show sweep (NO_SHOW after the check-in window), and
//! auto-release (giving an unused room back in Google before the window closes).
//!
//! Every decision takes the time it is judged at as a parameter (`now`, and for a device's
//! queued check-in the time it was made), so the window edges are tested with an injected
//! clock. Status changes are conditional updates ([`meetings::transitions::transition`]), so a
//! late check-in racing the sweep has exactly one outcome. Recurring series are not tracked:
//! their status stays SCHEDULED and check-in on them is refused with a sentence.

pub mod device;

use std::sync::Arc;

use async_trait::async_trait;
use axum::{
    Json,
    extract::{FromRef, Path, State},
};
use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::{Value, json};
use shared::{ActorType, ChangeType, ErrorCode, MeetingStatus};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Actor, store as tenants},
    connections::Owner,
    db::Db,
    error::ApiError,
    google::{Google, GoogleError, scopes},
    handles::capability_handles,
    jobs::{ClaimedJob, JobContext, JobError, JobHandler, Periodic, Queue, Registry, lease},
    meetings::{
        MeetingError, Meetings,
        availability::{SlotQuery, busy_time},
        google_event::facts,
        model::Meeting,
        service::change_actor,
        store::{self, ChangeActor},
        transitions::{self, Transition},
        validate::NewMeeting,
    },
    observability::Metrics,
    ops_stats::{self, Counter},
    settings::{self, TenantSettings},
    text::zulu,
};

/// The job kind of the sweep.
pub const SWEEP_KIND: &str = "attendance.sweep";
/// How far a device's clock may run ahead of the hub's before its check-in time is not trusted.
const CLOCK_SKEW: Duration = Duration::minutes(2);

/// Why a check-in or sweep step failed.
#[derive(Debug, thiserror::Error)]
pub enum AttendanceError {
    /// Check-in has not opened yet.
    #[error("check-in opens at {0}")]
    TooEarly(DateTime<Utc>),
    /// The window has closed (or the room was released).
    #[error("check-in has closed")]
    TooLate,
    /// The meeting was cancelled.
    #[error("cancelled meeting")]
    Cancelled,
    /// Recurring series are not tracked.
    #[error("recurring meeting")]
    Recurring,
    /// A device of another resource.
    #[error("device of another resource")]
    WrongDevice,
    /// Only people and room devices check in.
    #[error("only people and devices check in")]
    NotAPerson,
    /// The room is not free for a walk-up booking; the sentence says why.
    #[error("room taken: {0}")]
    RoomTaken(String),
    /// The meeting failed.
    #[error(transparent)]
    Meeting(#[from] MeetingError),
    /// Google failed while releasing a room.
    #[error(transparent)]
    Google(#[from] GoogleError),
    /// Tenants could not be listed.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

impl From<AttendanceError> for ApiError {
    fn from(err: AttendanceError) -> Self {
        match err {
            AttendanceError::TooEarly(opens) => ApiError::new(
                ErrorCode::InvalidSlot,
                format!(
                    "Check-in for this meeting opens at {} UTC. Please try again then.",
                    opens.format("%H:%M")
                ),
            )
            .with_details(json!({"opens_at": zulu(opens)})),
            AttendanceError::TooLate => ApiError::new(
                ErrorCode::InvalidSlot,
                "Check-in for this meeting has closed. If you still need the room, please book it again.",
            ),
            AttendanceError::Cancelled => ApiError::new(
                ErrorCode::InvalidSlot,
                "This meeting was cancelled, so there is nothing to check in to.",
            ),
            AttendanceError::Recurring => ApiError::new(
                ErrorCode::InvalidSlot,
                "Check-in is not tracked for recurring meetings yet. Nothing needs to be done.",
            ),
            AttendanceError::WrongDevice => ApiError::new(
                ErrorCode::Forbidden,
                "This device belongs to another room, so it cannot check in to this meeting.",
            ),
            AttendanceError::NotAPerson => ApiError::new(
                ErrorCode::Forbidden,
                "Only the people in the meeting or the room's device can check in. An assistant cannot.",
            ),
            AttendanceError::RoomTaken(sentence) => ApiError::new(ErrorCode::Conflict, sentence),
            AttendanceError::Meeting(meeting) => meeting.into(),
            AttendanceError::Google(google) => google.into(),
            AttendanceError::Auth(auth) => auth.into(),
        }
    }
}

capability_handles! {
    /// What check-in over HTTP uses of the hub, taken from any router state holding these handles.
    pub struct AttendanceState {
        /// Meetings and tenant settings.
        pub db: Db,
        /// The outbox the status change is announced through.
        pub jobs: Queue,
    }
}

/// The routes of this module.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AttendanceState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(show))
}

/// Checks in to a meeting (a person, or the device of its room): ATTENDED.
#[utoipa::path(post, path = "/api/v1/calendar/events/{id}/show", params(("id" = String, Path)),
    responses((status = 200, description = "the meeting, ATTENDED")), tag = "meetings")]
async fn show(
    State(state): State<AttendanceState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let meeting = check_in(&state.db, &state.jobs, &actor, &id, now, now).await?;
    Ok(Json(meeting.view_for(&actor)))
}

/// The check-in window of a meeting under the tenant's settings.
pub fn window(meeting: &Meeting, settings: &TenantSettings) -> (DateTime<Utc>, DateTime<Utc>) {
    let opens =
        meeting.start - Duration::minutes(i64::from(settings.check_in.opens_minutes_before));
    let closes =
        meeting.start + Duration::minutes(i64::from(settings.check_in.closes_minutes_after));
    (opens, closes)
}

/// Checks in to a meeting at `at` (when the person tapped; a device's queued check-in keeps its
/// own time), judged at `now`. Repeating a check-in answers the same meeting. A device's
/// check-in made inside the window turns a NO_SHOW back into ATTENDED unless the room was
/// released meanwhile.
pub async fn check_in(
    db: &Db,
    queue: &Queue,
    actor: &Actor,
    meeting_id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Meeting, AttendanceError> {
    let meeting = store::get(db, &actor.tenant_id, meeting_id).await?;
    if !matches!(actor.actor_type, ActorType::User | ActorType::Device) {
        return Err(AttendanceError::NotAPerson);
    }
    if actor.actor_type == ActorType::Device
        && !device_may_use(actor, meeting.resource_id.as_deref())
    {
        return Err(AttendanceError::WrongDevice);
    }
    match meeting.status {
        MeetingStatus::Attended => return Ok(meeting),
        MeetingStatus::Cancelled => return Err(AttendanceError::Cancelled),
        MeetingStatus::Scheduled | MeetingStatus::NoShow => {}
    }
    if meeting.recurrence.is_some() {
        return Err(AttendanceError::Recurring);
    }
    let settings = settings::load(db, &actor.tenant_id)
        .await
        .map_err(MeetingError::from)?;
    let at = if at > now + CLOCK_SKEW { now } else { at };
    let (opens, closes) = window(&meeting, &settings);
    if at < opens {
        return Err(AttendanceError::TooEarly(opens));
    }
    if at > closes
        || (meeting.status == MeetingStatus::NoShow && actor.actor_type != ActorType::Device)
    {
        return Err(AttendanceError::TooLate);
    }
    let from: &[MeetingStatus] = if actor.actor_type == ActorType::Device {
        &[MeetingStatus::Scheduled, MeetingStatus::NoShow]
    } else {
        &[MeetingStatus::Scheduled]
    };
    let done = transitions::transition(
        db,
        queue,
        Transition {
            meeting: &meeting,
            from,
            to: MeetingStatus::Attended,
            checked_in_at: Some(at),
            released_at: None,
            facts: None,
            change: ChangeType::Attended,
            actor: &change_actor(actor),
        },
    )
    .await?;
    let current = store::get(db, &actor.tenant_id, meeting_id).await?;
    match (done, current.status) {
        (_, MeetingStatus::Attended) => Ok(current),
        _ => Err(AttendanceError::TooLate),
    }
}

/// Whether a device may act on a resource: only on the one it is bound to.
fn device_may_use(actor: &Actor, resource_id: Option<&str>) -> bool {
    actor.resource_id.is_some() && actor.resource_id.as_deref() == resource_id
}

/// Books the room now at the door: 15, 30 or 60 minutes from `now`, shortened to end when the
/// next booking starts, through the same policy, conflict and Google path as the API
/// (created by a HUMAN; the actor is the device). `key` makes a replayed request answer the
/// same booking.
pub async fn walk_up(
    meetings: &Meetings,
    actor: &Actor,
    resource_id: &str,
    title: &str,
    minutes: u16,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Meeting, AttendanceError> {
    if ![15, 30, 60].contains(&minutes) {
        return Err(MeetingError::InvalidSlot(
            "Walk-up bookings last 15, 30 or 60 minutes.".into(),
        )
        .into());
    }
    if actor.actor_type == ActorType::Device && !device_may_use(actor, Some(resource_id)) {
        return Err(AttendanceError::WrongDevice);
    }
    if let Some(first) = crate::meetings::service::replayed(meetings, actor, Some(key)).await? {
        return Ok(first);
    }
    let resource = crate::resources::ensure_bookable(&meetings.db, &actor.tenant_id, resource_id)
        .await
        .map_err(MeetingError::from)?;
    let start = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let wanted_end = start + Duration::minutes(i64::from(minutes));
    let query = SlotQuery {
        resource: Some(resource),
        participants: Vec::new(),
        from: start,
        to: wanted_end,
        duration: Duration::minutes(1),
        zone: chrono_tz::UTC,
        limit: 0,
        except_meeting: None,
        moving: false,
    };
    let busy = busy_time(meetings, &actor.tenant_id, &query).await?;
    if busy.iter().any(|b| b.start <= start) {
        return Err(AttendanceError::RoomTaken(
            "The room is booked right now, so it cannot be booked at the door.".into(),
        ));
    }
    let end = busy
        .iter()
        .map(|b| b.start)
        .min()
        .map_or(wanted_end, |next| next.min(wanted_end));
    if end - start < Duration::minutes(MIN_WALK_UP_MINUTES) {
        return Err(AttendanceError::RoomTaken(format!(
            "The room is free for only {} minutes before the next meeting, which is too short to book.",
            (end - start).num_minutes()
        )));
    }
    let request = NewMeeting {
        title: if title.trim().is_empty() {
            "Walk-up booking".into()
        } else {
            title.to_string()
        },
        description: None,
        start: start.to_rfc3339(),
        end: end.to_rfc3339(),
        time_zone: None,
        participants: Vec::new(),
        resource_id: Some(resource_id.to_string()),
        location: None,
        meeting_link: None,
        recurrence: None,
        metadata: Some(json!({"walk_up": true})),
    };
    let (meeting, _) =
        crate::meetings::service::create(meetings, actor, request, Some(key)).await?;
    Ok(meeting)
}

/// The shortest walk-up booking worth making.
const MIN_WALK_UP_MINUTES: i64 = 10;

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Meetings marked NO_SHOW after their window closed.
    pub no_shows: usize,
    /// Rooms given back early by auto-release.
    pub released: usize,
    /// Tenants skipped after an error (logged and counted; the others were still swept).
    pub failed_tenants: usize,
}

/// Marks NO_SHOW every started single meeting nobody checked in to whose window closed by
/// `now`, and — for tenants with auto-release on — releases rooms of meetings without check-in
/// `after_minutes` past their start (shortening the Google event to end now). A tenant whose
/// sweep fails is logged and counted, and the sweep goes on with the next one.
pub async fn sweep(
    db: &Db,
    queue: &Queue,
    google: &Google,
    metrics: &Metrics,
    now: DateTime<Utc>,
) -> Result<SweepReport, AttendanceError> {
    let mut report = SweepReport::default();
    for tenant_id in tenants::tenant_ids(db).await? {
        if let Err(err) = sweep_tenant(db, queue, google, &tenant_id, now, &mut report).await {
            report.failed_tenants += 1;
            metrics.sweep_tenant_failures.inc();
            tracing::warn!(%tenant_id, error = %err,
                "no-show sweep failed for this tenant; the others are swept, it is retried next sweep");
        }
    }
    metrics.no_shows.inc_by(report.no_shows as u64);
    metrics.releases.inc_by(report.released as u64);
    if report.no_shows + report.released > 0 {
        tracing::info!(
            no_shows = report.no_shows,
            released = report.released,
            "no-show sweep"
        );
    }
    Ok(report)
}

/// One tenant's part of [`sweep`], adding to `report`.
async fn sweep_tenant(
    db: &Db,
    queue: &Queue,
    google: &Google,
    tenant_id: &str,
    now: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<(), AttendanceError> {
    let settings = settings::load(db, tenant_id)
        .await
        .map_err(MeetingError::from)?;
    let mut no_shows = 0_u64;
    for meeting in transitions::started_unattended(db, tenant_id, now).await? {
        match decide(&meeting, &settings, now) {
            Decision::Wait => {}
            Decision::NoShow => {
                let marked = mark_no_show(db, queue, &meeting, None, None).await?;
                report.no_shows += usize::from(marked);
                no_shows += u64::from(marked);
            }
            Decision::Release => match release(db, queue, google, &meeting, now).await {
                Ok(true) => {
                    report.released += 1;
                    no_shows += 1;
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(meeting_id = %meeting.id, error = %err, "room could not be released; retried next sweep")
                }
            },
        }
    }
    ops_stats::record(db, tenant_id, Counter::NoShows, no_shows).await;
    Ok(())
}

enum Decision {
    Wait,
    NoShow,
    Release,
}

fn decide(meeting: &Meeting, settings: &TenantSettings, now: DateTime<Utc>) -> Decision {
    let (_, closes) = window(meeting, settings);
    let auto = &settings.auto_release;
    let release_at = meeting.start + Duration::minutes(i64::from(auto.after_minutes));
    let too_long = auto.exempt_longer_than_minutes > 0
        && meeting.end - meeting.start
            > Duration::minutes(i64::from(auto.exempt_longer_than_minutes));
    let last_minute = meeting.start - meeting.created_at
        < Duration::minutes(i64::from(auto.exempt_booked_within_minutes));
    let releasable = auto.enabled && meeting.resource_id.is_some() && !too_long && !last_minute;
    if releasable && now >= release_at && now < meeting.end {
        Decision::Release
    } else if now >= closes {
        Decision::NoShow
    } else {
        Decision::Wait
    }
}

const SYSTEM: ChangeActor = ChangeActor {
    actor_type: ActorType::System,
    actor_id: None,
};

async fn mark_no_show(
    db: &Db,
    queue: &Queue,
    meeting: &Meeting,
    released_at: Option<DateTime<Utc>>,
    facts: Option<&store::GoogleFacts>,
) -> Result<bool, AttendanceError> {
    let done = transitions::transition(
        db,
        queue,
        Transition {
            meeting,
            from: &[MeetingStatus::Scheduled],
            to: MeetingStatus::NoShow,
            checked_in_at: None,
            released_at,
            facts,
            change: ChangeType::NoShow,
            actor: &SYSTEM,
        },
    )
    .await?;
    if done {
        tracing::info!(meeting_id = %meeting.id, tenant_id = %meeting.tenant_id, released = released_at.is_some(), "meeting marked NO_SHOW");
    }
    Ok(done)
}

/// Gives the room back: the Google event on the resource calendar ends now, the meeting is
/// NO_SHOW with `released_at`.
async fn release(
    db: &Db,
    queue: &Queue,
    google: &Google,
    meeting: &Meeting,
    now: DateTime<Utc>,
) -> Result<bool, AttendanceError> {
    let connection = google
        .connection(
            &meeting.tenant_id,
            &Owner::from_key(&meeting.connection_owner),
            &[scopes::EVENTS],
        )
        .await?;
    let zone = meeting.zone();
    let end = now.max(meeting.start + Duration::minutes(1));
    let patch = json!({"end": {"dateTime": end.with_timezone(&zone).to_rfc3339(), "timeZone": zone.name()}});
    let event = google
        .events_patch(
            &connection,
            &meeting.calendar_id,
            &meeting.google_event_id,
            &patch,
            None,
            "none",
        )
        .await?;
    mark_no_show(db, queue, meeting, Some(now), Some(&facts(&event))).await
}

/// Runs the sweep under the singleton lease.
pub struct Sweep {
    /// The Calendar client (auto-release writes to Google).
    pub google: Google,
    /// Where no-shows and releases are counted.
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl JobHandler for Sweep {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let lease_ttl = ctx.queue.config().lease();
        if !lease::try_acquire(ctx.db(), SWEEP_KIND, &job.id, lease_ttl).await? {
            return Ok(());
        }
        let result = sweep(
            ctx.db(),
            &ctx.queue,
            &self.google,
            &self.metrics,
            Utc::now(),
        )
        .await;
        lease::release(ctx.db(), SWEEP_KIND, &job.id).await?;
        result
            .map(|_| ())
            .map_err(|e| JobError::Retry(e.to_string()))
    }
}

/// Registers the sweep: every two minutes, plus a nightly run as a safety net.
pub fn register(registry: &mut Registry, google: &Google, metrics: &Arc<Metrics>) {
    registry.handle(
        SWEEP_KIND,
        Sweep {
            google: google.clone(),
            metrics: metrics.clone(),
        },
    );
    registry.every(Periodic {
        name: "attendance.sweep".into(),
        every: std::time::Duration::from_secs(120),
        kind: SWEEP_KIND.into(),
        payload: Value::Null,
    });
    registry.every(Periodic {
        name: "attendance.nightly".into(),
        every: std::time::Duration::from_secs(86_400),
        kind: SWEEP_KIND.into(),
        payload: Value::Null,
    });
}
