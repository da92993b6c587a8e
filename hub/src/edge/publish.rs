//! Schedule publishing: every [`MeetingChanged`] event becomes one coalesced `edge.publish` job
//! per resource it touches (the new resource and, for a move, the old one); the job builds the
//! resource's [`ScheduleSnapshot`] (today plus the configured days, in the tenant's zone), gives
//! it the next version, cuts it to the size budget ([`budget`](super::budget)), seals it with
//! the resource key and publishes it retained.
//!
//! The version is committed before the publish, so a failed commit can never leave a version
//! a tablet already saw to be handed out again; a failed publish notes its version and the
//! job's retry publishes under the same number (a newer version taken meanwhile supersedes
//! it). Publishes of one resource are coalesced into one job at a time, so they leave in
//! version order; a device ignores a version older than the one it holds in any case.

use async_trait::async_trait;
use chrono::{Duration, NaiveTime, TimeZone, Utc};
use serde_json::json;
use shared::{
    MeetingStatus,
    protocol::{self, Message, ScheduleSnapshot, SnapshotMeeting, seal, topics},
};

use shared::protocol::seal::SealKey;
use sqlx::Row;

use super::{Edge, EdgeError, budget, store};
use crate::{
    connections::seal::Sealer,
    db::{Db, DbError, Tx, timestamp},
    jobs::{ClaimedJob, JobContext, JobError, JobHandler, NewJob, Queue, Registry, outbox},
    meetings::{
        events::{MEETING_EVENTS, MeetingChanged},
        model::Meeting,
        store::{self as meetings_store, ListFilter},
    },
    resources, settings,
};

/// The job kind that routes a meeting event to the resources it touches.
pub const ROUTE_KIND: &str = "edge.route";
/// The job kind that publishes one resource's schedule (payload `{"resource_id"}`).
pub const PUBLISH_KIND: &str = "edge.publish";

/// Registers the edge's job handlers and its outbox subscription.
pub fn register(registry: &mut Registry, edge: &Edge) {
    registry
        .handle(ROUTE_KIND, RouteEvent)
        .handle(PUBLISH_KIND, PublishSchedule { edge: edge.clone() })
        .subscribe(MEETING_EVENTS, ROUTE_KIND);
}

/// The publish job of a resource, coalesced with one already waiting.
pub fn publish_job(tenant_id: &str, resource_id: &str) -> NewJob {
    NewJob::now(
        PUBLISH_KIND,
        Some(tenant_id),
        json!({"resource_id": resource_id}),
    )
    .coalesce(format!("{PUBLISH_KIND}:{resource_id}"))
}

/// Enqueues a publish of the resource now (after an enrollment, a revocation, a request).
pub async fn request_publish(
    queue: &Queue,
    tenant_id: &str,
    resource_id: &str,
) -> Result<(), EdgeError> {
    queue.enqueue(publish_job(tenant_id, resource_id)).await?;
    Ok(())
}

struct RouteEvent;

#[async_trait]
impl JobHandler for RouteEvent {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let received = outbox::receive::<MeetingChanged>(&job.payload)?;
        for resource_id in received.event.resources_touched() {
            ctx.queue
                .enqueue(publish_job(&received.tenant_id, resource_id))
                .await?;
        }
        Ok(())
    }
}

struct PublishSchedule {
    edge: Edge,
}

#[async_trait]
impl JobHandler for PublishSchedule {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let tenant_id = job
            .tenant_id
            .as_deref()
            .ok_or_else(|| JobError::Permanent("publish job without tenant".into()))?;
        let resource_id = job.payload["resource_id"]
            .as_str()
            .ok_or_else(|| JobError::Permanent("publish job without resource_id".into()))?;
        match publish(&self.edge, ctx.db(), tenant_id, resource_id).await {
            Ok(_) => Ok(()),
            Err(EdgeError::NoSealer) => {
                Err(JobError::Permanent("ENCRYPTION_KEYS is not set".into()))
            }
            Err(err) => Err(JobError::Retry(err.to_string())),
        }
    }
}

/// Publishes the resource's schedule now; `None` when no device ever enrolled for it.
pub async fn publish(
    edge: &Edge,
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
) -> Result<Option<u64>, EdgeError> {
    let sealer = edge.sealer()?;
    let mut tx = db.begin_write().await?;
    let Some((version, key)) = next_snapshot(&mut tx, sealer, tenant_id, resource_id).await? else {
        return Ok(None);
    };
    tx.commit().await?;
    match send(edge, db, tenant_id, resource_id, version, &key).await {
        Ok(()) => Ok(Some(version)),
        Err(err) => {
            publish_failed(db, tenant_id, resource_id, version).await?;
            Err(err)
        }
    }
}

async fn send(
    edge: &Edge,
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
    version: u64,
    key: &SealKey,
) -> Result<(), EdgeError> {
    let config = edge.config();
    let (snapshot, from) =
        build_snapshot(db, config.snapshot_days, tenant_id, resource_id, version).await?;
    let full = snapshot.meetings.len();
    let snapshot = budget::fit(
        snapshot,
        config.snapshot_max_bytes.min(protocol::MAX_MESSAGE_BYTES),
        from,
        config.snapshot_days,
    );
    let meetings = snapshot.meetings.len();
    let topic = topics::schedule(tenant_id, resource_id)
        .map_err(|e| EdgeError::Broker(format!("topic: {e}")))?;
    let sealed = seal::seal(
        key,
        &topic,
        &protocol::encode(&Message::ScheduleSnapshot(snapshot)),
    );
    edge.publish(&topic, sealed, true)?;
    edge.metrics().edge_snapshots_published.inc();
    tracing::info!(
        tenant_id,
        resource_id,
        version,
        meetings,
        left_out = full - meetings,
        "schedule published"
    );
    Ok(())
}

async fn build_snapshot(
    db: &Db,
    days: u32,
    tenant_id: &str,
    resource_id: &str,
    version: u64,
) -> Result<(ScheduleSnapshot, chrono::DateTime<Utc>), EdgeError> {
    let resource = resources::get(db, tenant_id, resource_id)
        .await
        .map_err(|e| EdgeError::Broker(format!("resource: {e}")))?;
    let settings = settings::load(db, tenant_id).await?;
    let zone: chrono_tz::Tz = settings.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let now = Utc::now();
    let midnight = now
        .with_timezone(&zone)
        .date_naive()
        .and_time(NaiveTime::MIN);
    let from = zone
        .from_local_datetime(&midnight)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc));
    let to = from + Duration::days(i64::from(days) + 1);
    let filter = ListFilter {
        from: Some(from),
        to: Some(to),
        resource_id: Some(resource_id.to_string()),
        limit: 1000,
        ..ListFilter::default()
    };
    let (found, _) = meetings_store::list(db, tenant_id, &filter)
        .await
        .map_err(|e| EdgeError::Broker(format!("meetings: {e}")))?;
    let released = crate::meetings::transitions::released_ids(db, tenant_id, resource_id, from, to)
        .await
        .map_err(|e| EdgeError::Broker(format!("meetings: {e}")))?;
    let mut meetings = Vec::new();
    for meeting in &found {
        let status = if released.contains(&meeting.id) {
            shared::protocol::SnapshotStatus::Released
        } else {
            meeting.status.into()
        };
        let slots = meeting.occurrences(from, to);
        meetings.extend(slots.into_iter().map(|slot| SnapshotMeeting {
            start_ms: slot.start.timestamp_millis(),
            end_ms: slot.end.timestamp_millis(),
            status,
            ..snapshot_meeting(meeting)
        }));
    }
    meetings.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
    let snapshot = ScheduleSnapshot {
        resource_id: resource.id,
        name: resource.name,
        kind: resource.kind,
        capacity: resource.capacity.and_then(|c| u32::try_from(c).ok()),
        time_zone: settings.time_zone.clone(),
        version,
        generated_at: now.timestamp_millis(),
        check_in_opens_minutes_before: settings.check_in.opens_minutes_before,
        check_in_closes_minutes_after: settings.check_in.closes_minutes_after,
        meetings,
    };
    Ok((snapshot, from))
}

fn snapshot_meeting(meeting: &Meeting) -> SnapshotMeeting {
    SnapshotMeeting {
        id: meeting.id.clone(),
        title: meeting.title.clone(),
        organizer_name: organizer_name(meeting),
        start_ms: meeting.start.timestamp_millis(),
        end_ms: meeting.end.timestamp_millis(),
        status: meeting.status.into(),
        checked_in: meeting.checked_in_at.is_some() || meeting.status == MeetingStatus::Attended,
    }
}

/// The organizer's name as people call them (never an address): the organizer's participant
/// name, else the first named participant, else nothing.
fn organizer_name(meeting: &Meeting) -> String {
    let organizer = meeting.organizer_email.as_deref();
    meeting
        .participants
        .iter()
        .find(|p| Some(p.email.as_str()) == organizer && p.name.is_some())
        .or_else(|| meeting.participants.iter().find(|p| p.name.is_some()))
        .and_then(|p| p.name.clone())
        .unwrap_or_default()
}

/// Takes the resource's next snapshot version (or, when the publish of the latest one failed,
/// that version again) inside `tx`, and returns it with the current key. The caller commits
/// before publishing, so a version a device may have seen is never handed out twice.
/// `None` when no device ever enrolled for the resource (nothing to publish).
pub async fn next_snapshot(
    tx: &mut Tx,
    sealer: &Sealer,
    tenant_id: &str,
    resource_id: &str,
) -> Result<Option<(u64, SealKey)>, EdgeError> {
    let row = sqlx::query(
        "UPDATE edge_resources SET snapshot_version = CASE \
             WHEN failed_version > 0 AND failed_version = snapshot_version THEN snapshot_version ELSE snapshot_version + 1 END, failed_version = 0, updated_at = $1 \
         WHERE tenant_id = $2 AND resource_id = $3 \
         RETURNING snapshot_version, key_id, resource_key_sealed, key_generation",
    )
    .bind(timestamp(Utc::now()))
    .bind(tenant_id)
    .bind(resource_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let version: i64 = row.try_get("snapshot_version")?;
    let key = store::open_resource_key(sealer, resource_id, &row)?;
    Ok(Some((u64::try_from(version).unwrap_or(0), key)))
}

/// Notes that publishing `version` failed, so the retry uses it again (unless a newer version
/// was taken meanwhile, which will be published instead).
pub async fn publish_failed(
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
    version: u64,
) -> Result<(), DbError> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE edge_resources SET failed_version = $1 \
         WHERE tenant_id = $2 AND resource_id = $3 AND snapshot_version = $1",
    )
    .bind(version)
    .bind(tenant_id)
    .bind(resource_id)
    .execute(db.pool())
    .await?;
    Ok(())
}
