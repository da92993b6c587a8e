//! Two-way sync: what changes in Google reaches CORBI through push notifications and
//! incremental sync, exactly once and in order, under lost, repeated and reordered
//! notifications, expired sync tokens and restarts.
//!
//! The flow: every enabled resource calendar is followed (a `sync_calendars` row with its sync
//! token and health) and watched (a push channel, [`channels`]). Google's notification reaches
//! [`webhook`], which stores a receipt (dedupe on channel id + message number) and enqueues the
//! calendar's sync job, coalesced with one already queued and debounced so a burst of edits
//! costs one list call. The job ([`engine`]) lists from the stored token, follows every page and
//! applies each event through [`crate::meetings::external`]; the next token is stored only in
//! the transaction that applies the last page, so a crash replays pages (idempotently) instead of
//! losing them. A 410 clears the token and runs a full listing, cancelling what it no longer
//! contains. A periodic tick renews channels before expiry (new first, then the old one
//! stopped), reconciles resources that were enabled or disabled, and runs a safety-net sync per
//! calendar (every 15 minutes by default) that backs off after failures and pauses a calendar
//! whose connection needs re-consent (shown to admins at `GET /api/v1/sync/calendars`).
//!
//! A resource onboarded, enabled or disabled reaches sync as its typed `ResourceChanged`
//! outbox event (sync subscribes; resources never call sync), which queues the coalesced
//! reconcile job that watches or stops watching its calendar.
//!
//! Files: `store.rs` (SQL), `channels.rs` (watch, renew, stop), `webhook.rs` (the route),
//! `engine.rs` (jobs).

pub mod channels;
pub mod engine;
pub mod store;
pub mod webhook;

use std::{sync::Arc, time::Duration as StdDuration};

use axum::{
    Json,
    extract::{FromRef, State},
};
use chrono::{Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Actor, policy},
    config::Config,
    db::{Db, DbError},
    error::ApiError,
    google::{Google, GoogleError},
    handles::capability_handles,
    jobs::{NewJob, Periodic, Queue, Registry},
    meetings::external,
    observability::Metrics,
    resources::events::RESOURCE_EVENTS,
};

/// Job kind: sync one calendar.
pub const SYNC_KIND: &str = "sync.calendar";
/// Job kind: follow/watch or stop a resource's calendar.
pub const RECONCILE_KIND: &str = "sync.reconcile";
/// Job kind: a resource was onboarded, enabled or disabled (its outbox event).
pub const RESOURCE_EVENT_KIND: &str = "sync.resource_changed";
/// Job kind: renew one channel.
pub const RENEW_KIND: &str = "sync.renew";
/// Job kind: the periodic tick.
pub const TICK_KIND: &str = "sync.tick";

/// What can go wrong in sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Google failed or refused.
    #[error(transparent)]
    Google(#[from] GoogleError),
    /// Applying an event failed.
    #[error(transparent)]
    Meeting(#[from] crate::meetings::MeetingError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(SyncError);

impl From<SyncError> for ApiError {
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::Google(google) => google.into(),
            SyncError::Meeting(meeting) => meeting.into(),
            SyncError::Db(db) => db.into(),
        }
    }
}

capability_handles! {
    /// The handles the webhook and the sync health view work with.
    pub struct SyncState {
        /// The database.
        pub db: Db,
        /// The job queue the calendar syncs are enqueued on.
        pub jobs: Queue,
        /// Webhook outcome counters.
        pub metrics: Arc<Metrics>,
        /// Debounce and channel settings.
        pub config: Arc<Config>,
    }
}

/// The routes of this module.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    SyncState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(webhook::receive))
        .routes(routes!(list_calendars))
}

/// The sync job of a calendar: coalesced with one already queued, run after `delay`.
pub fn sync_job(tenant_id: &str, calendar_id: &str, delay: Duration) -> NewJob {
    NewJob::now(
        SYNC_KIND,
        Some(tenant_id),
        json!({"calendar_id": calendar_id}),
    )
    .coalesce(format!("sync:{tenant_id}:{calendar_id}"))
    .at(Utc::now() + delay)
}

/// Enqueues (or coalesces) the sync of a calendar.
pub async fn enqueue_sync(
    queue: &Queue,
    tenant_id: &str,
    calendar_id: &str,
    delay: Duration,
) -> Result<(), DbError> {
    queue
        .enqueue(sync_job(tenant_id, calendar_id, delay))
        .await
        .map(|_| ())
}

/// The job that starts (or, for a disabled resource, stops) following a resource's calendar,
/// coalesced with one already queued.
pub fn reconcile_job(tenant_id: &str, resource_id: &str) -> NewJob {
    NewJob::now(
        RECONCILE_KIND,
        Some(tenant_id),
        json!({"resource_id": resource_id}),
    )
    .coalesce(format!("sync-reconcile:{tenant_id}:{resource_id}"))
}

/// Registers the sync jobs and the periodic tick.
pub fn register(
    registry: &mut Registry,
    config: &Config,
    google: &Google,
    metrics: &Arc<Metrics>,
    public_url: &str,
) {
    let channels = channels::Channels {
        google: google.clone(),
        public_url: public_url.to_string(),
        config: config.sync.clone(),
    };
    registry
        .handle(
            SYNC_KIND,
            engine::SyncCalendarJob {
                google: google.clone(),
                metrics: metrics.clone(),
                config: config.sync.clone(),
            },
        )
        .handle(RESOURCE_EVENT_KIND, engine::FollowResourceJob)
        .subscribe(RESOURCE_EVENTS, RESOURCE_EVENT_KIND)
        .handle(
            RECONCILE_KIND,
            engine::ReconcileResourceJob {
                channels: channels.clone(),
            },
        )
        .handle(
            RENEW_KIND,
            engine::RenewChannelJob {
                channels: channels.clone(),
            },
        )
        .handle(
            TICK_KIND,
            engine::TickJob {
                google: google.clone(),
                channels,
                config: config.sync.clone(),
            },
        )
        .every(Periodic {
            name: TICK_KIND.into(),
            every: StdDuration::from_secs(config.sync.check_secs.max(1)),
            kind: TICK_KIND.into(),
            payload: Value::Null,
        });
}

/// A followed calendar as admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarHealth {
    /// Google calendar id.
    pub calendar_id: String,
    /// The resource whose calendar it is.
    pub resource_id: Option<String>,
    /// `active`, `paused` (the connection needs re-consent) or `disabled`.
    pub status: String,
    /// Why it is paused.
    pub reason: Option<String>,
    /// Failed runs in a row.
    pub failures: i64,
    /// Last successful sync.
    pub last_synced_at: Option<String>,
    /// Events of the calendar CORBI keeps in a reduced form (a repeat rule it cannot read).
    pub warnings: Vec<external::RecurrenceWarning>,
}

/// Sync health of the tenant's calendars (admins).
#[utoipa::path(get, path = "/api/v1/sync/calendars", tag = "sync",
    responses((status = 200, description = "{\"items\": [CalendarHealth]}")))]
async fn list_calendars(
    State(state): State<SyncState>,
    actor: Actor,
) -> Result<Json<Value>, ApiError> {
    policy::require_admin(&actor)?;
    let mut items = Vec::new();
    for c in store::calendars(&state.db, &actor.tenant_id).await? {
        let warnings =
            external::recurrence_warnings(&state.db, &actor.tenant_id, &c.calendar_id, 20)
                .await
                .map_err(ApiError::from)?;
        items.push(CalendarHealth {
            status: if !c.enabled {
                "disabled".into()
            } else if c.paused {
                "paused".into()
            } else {
                "active".into()
            },
            calendar_id: c.calendar_id,
            resource_id: c.resource_id,
            reason: c.status_reason,
            failures: c.failures,
            last_synced_at: c.last_synced_at,
            warnings,
        });
    }
    Ok(Json(json!({"items": items})))
}
