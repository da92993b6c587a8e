//! The sync jobs: one calendar's incremental sync (full after a 410), the reconciliation of a
//! resource's channel, channel renewal, and the periodic tick that schedules safety-net syncs
//! and renewals.

use std::{collections::HashSet, sync::Arc, time::Duration as StdDuration};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{RENEW_KIND, SyncError, channels::Channels, enqueue_sync, reconcile_job, store};
use crate::{
    connections::Owner,
    google::{Google, GoogleError, ListParams, scopes},
    jobs::{ClaimedJob, JobContext, JobError, JobHandler, NewJob, lease, outbox},
    meetings::external::{self, Applied, CalendarScope},
    observability::{Metrics, OutcomeLabels, SyncRunLabels},
    ops_stats::{self, Counter},
    resources,
    resources::events::ResourceChanged,
    settings,
};

/// Largest page asked of `events.list`.
const PAGE_SIZE: u32 = 250;
/// How long one calendar's sync may hold its lease.
const SYNC_LEASE: StdDuration = StdDuration::from_secs(120);

/// Runs the sync of one calendar (`payload.calendar_id`).
pub struct SyncCalendarJob {
    /// The Calendar client.
    pub google: Google,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: crate::config::SyncConfig,
}

/// How a sync run ended.
enum Run {
    Done,
    Deferred,
}

#[async_trait]
impl JobHandler for SyncCalendarJob {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let (Some(tenant_id), Some(calendar_id)) = (
            job.tenant_id.as_deref(),
            job.payload["calendar_id"].as_str(),
        ) else {
            return Err(JobError::Permanent("sync job without calendar".into()));
        };
        let Some(calendar) = store::calendar(ctx.db(), tenant_id, calendar_id).await? else {
            return Ok(());
        };
        if !calendar.enabled {
            return Ok(());
        }
        let lease_name = format!("sync:{tenant_id}:{calendar_id}");
        if !lease::try_acquire(ctx.db(), &lease_name, &job.id, SYNC_LEASE).await? {
            self.follow_up(ctx, tenant_id, calendar_id).await?;
            return Ok(());
        }
        let result = self.sync(ctx, &calendar).await;
        lease::release(ctx.db(), &lease_name, &job.id).await?;
        self.settle(ctx, &calendar, result).await
    }
}

impl SyncCalendarJob {
    fn debounce(&self) -> Duration {
        Duration::milliseconds(i64::try_from(self.config.debounce_ms).unwrap_or(250))
    }

    async fn follow_up(
        &self,
        ctx: &JobContext,
        tenant_id: &str,
        calendar_id: &str,
    ) -> Result<(), JobError> {
        enqueue_sync(&ctx.queue, tenant_id, calendar_id, self.debounce()).await?;
        Ok(())
    }

    fn count_run(&self, mode: &str, result: &str) {
        self.metrics
            .sync_runs
            .get_or_create(&SyncRunLabels {
                mode: mode.into(),
                result: result.into(),
            })
            .inc();
    }

    async fn settle(
        &self,
        ctx: &JobContext,
        calendar: &store::SyncCalendar,
        result: Result<Run, SyncError>,
    ) -> Result<(), JobError> {
        let (tenant_id, calendar_id) = (&calendar.tenant_id, &calendar.calendar_id);
        match result {
            Ok(Run::Done) => Ok(()),
            Ok(Run::Deferred) => self.follow_up(ctx, tenant_id, calendar_id).await,
            Err(SyncError::Google(GoogleError::NotConnected { reason, .. })) => {
                store::set_paused(ctx.db(), tenant_id, calendar_id, Some(&reason)).await?;
                self.count_run("incremental", "paused");
                tracing::warn!(%tenant_id, "calendar sync paused: the connection needs re-consent");
                Ok(())
            }
            Err(err) => {
                let exponent = u32::try_from(calendar.failures.clamp(0, 16)).unwrap_or(16);
                let pause = self
                    .config
                    .check_secs
                    .max(1)
                    .saturating_mul(1 << exponent)
                    .min(self.config.failure_backoff_max_secs);
                let retry_at = Utc::now() + Duration::seconds(i64::try_from(pause).unwrap_or(3600));
                store::record_failure(ctx.db(), tenant_id, calendar_id, retry_at).await?;
                self.count_run("incremental", "failed");
                tracing::warn!(%tenant_id, error = %err, "calendar sync failed; the safety net retries");
                Ok(())
            }
        }
    }

    async fn sync(
        &self,
        ctx: &JobContext,
        calendar: &store::SyncCalendar,
    ) -> Result<Run, SyncError> {
        let owner = Owner::from_key(&calendar.connection_owner);
        let connection = self
            .google
            .connection(&calendar.tenant_id, &owner, &[scopes::EVENTS])
            .await?;
        let scope = CalendarScope {
            tenant_id: calendar.tenant_id.clone(),
            calendar_id: calendar.calendar_id.clone(),
            resource_id: calendar.resource_id.clone(),
            connection_owner: calendar.connection_owner.clone(),
        };
        let mut token = calendar.sync_token.clone();
        loop {
            let mode = if token.is_some() {
                "incremental"
            } else {
                "full"
            };
            match self.pages(ctx, &connection, &scope, token.as_deref()).await {
                Err(SyncError::Google(GoogleError::Gone { .. })) if token.is_some() => {
                    store::clear_token(ctx.db(), &scope.tenant_id, &scope.calendar_id).await?;
                    self.metrics.sync_full_resyncs.inc();
                    tracing::info!(tenant_id = %scope.tenant_id, "sync token invalidated; running a full sync");
                    token = None;
                }
                Ok(run) => {
                    let result = if matches!(run, Run::Deferred) {
                        "deferred"
                    } else {
                        "ok"
                    };
                    self.count_run(mode, result);
                    return Ok(run);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Lists every page from `token` (a full listing without one), applying each page in its
    /// own transaction; the last page's transaction also stores the next sync token.
    async fn pages(
        &self,
        ctx: &JobContext,
        connection: &crate::connections::Connection,
        scope: &CalendarScope,
        token: Option<&str>,
    ) -> Result<Run, SyncError> {
        let started = Utc::now();
        // A full listing starts at the tenant's import window: onboarding a calendar with
        // years of history brings in only the recent past (Google refuses timeMin with a
        // sync token, and incremental changes are never bounded).
        let since = match token {
            Some(_) => None,
            None => {
                let window = settings::load(ctx.db(), &scope.tenant_id)
                    .await?
                    .google_import;
                Some(started - Duration::days(i64::from(window.days_back)))
            }
        };
        let mut seen = HashSet::new();
        let mut deferred = false;
        let mut page_token: Option<String> = None;
        loop {
            let params = ListParams {
                sync_token: token.map(str::to_string),
                page_token: page_token.take(),
                show_deleted: true,
                max_results: Some(PAGE_SIZE),
                time_min: since.map(crate::text::zulu),
                ..ListParams::default()
            };
            let page = self
                .google
                .events_list(connection, &scope.calendar_id, &params)
                .await?;
            let last = page.next_page_token.is_none();
            let mut tx = ctx.db().begin_write().await?;
            let mut synced = page.items.len() as u64;
            for event in &page.items {
                let applied = external::apply_event(&mut tx, &ctx.queue, scope, event).await?;
                deferred |= applied == Applied::Deferred;
                self.observe(applied, event.updated.as_deref());
                if let Some(id) = &event.id {
                    seen.insert(id.clone());
                }
            }
            if last && !deferred {
                if let Some(since) = since {
                    let cancelled =
                        external::cancel_absent(&mut tx, &ctx.queue, scope, &seen, started, since)
                            .await?;
                    for _ in 0..cancelled {
                        self.observe(Applied::Changed(shared::ChangeType::Cancelled), None);
                    }
                    synced += cancelled;
                }
                let next_safety = Utc::now()
                    + Duration::seconds(
                        i64::try_from(self.config.safety_interval_secs).unwrap_or(900),
                    );
                store::store_token(
                    &mut tx,
                    &scope.tenant_id,
                    &scope.calendar_id,
                    page.next_sync_token.as_deref(),
                    token.is_none(),
                    next_safety,
                )
                .await?;
            }
            tx.commit().await?;
            ops_stats::record(ctx.db(), &scope.tenant_id, Counter::EventsSynced, synced).await;
            ctx.queue.notify_workers();
            match page.next_page_token {
                Some(next) => page_token = Some(next),
                None if deferred => return Ok(Run::Deferred),
                None => return Ok(Run::Done),
            }
        }
    }

    fn observe(&self, applied: Applied, updated: Option<&str>) {
        self.metrics
            .sync_events
            .get_or_create(&OutcomeLabels {
                outcome: applied.label().into(),
            })
            .inc();
        let changed = matches!(applied, Applied::Created | Applied::Changed(_));
        if let (true, Some(updated)) = (changed, updated)
            && let Ok(at) = DateTime::parse_from_rfc3339(updated)
        {
            let lag = (Utc::now() - at.with_timezone(&Utc))
                .num_milliseconds()
                .max(0);
            #[allow(clippy::cast_precision_loss)]
            self.metrics.sync_lag.observe(lag as f64 / 1000.0);
        }
    }
}

/// Brings a resource's following in line with its state: an enabled resource's calendar is
/// followed and watched (then synced); a disabled one's channels are stopped.
pub struct ReconcileResourceJob {
    /// Channel operations.
    pub channels: Channels,
}

#[async_trait]
impl JobHandler for ReconcileResourceJob {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let (Some(tenant_id), Some(resource_id)) = (
            job.tenant_id.as_deref(),
            job.payload["resource_id"].as_str(),
        ) else {
            return Err(JobError::Permanent("reconcile job without resource".into()));
        };
        let resource = match resources::get(ctx.db(), tenant_id, resource_id).await {
            Ok(resource) => resource,
            Err(resources::ResourceError::NotFound) => return Ok(()),
            Err(other) => return Err(JobError::Retry(other.to_string())),
        };
        let calendar_id = &resource.calendar_id;
        let retry = |e: SyncError| JobError::Retry(e.to_string());
        if !resource.enabled {
            store::unfollow(ctx.db(), tenant_id, calendar_id).await?;
            self.channels
                .stop_all(ctx.db(), tenant_id, calendar_id)
                .await
                .map_err(retry)?;
            return Ok(());
        }
        let owner = Owner::Tenant.key();
        store::follow(ctx.db(), tenant_id, calendar_id, Some(&resource.id), &owner).await?;
        if store::live_channels(ctx.db(), tenant_id, calendar_id)
            .await?
            .is_empty()
        {
            match self
                .channels
                .open(ctx.db(), tenant_id, calendar_id, &owner)
                .await
            {
                Ok(_) => {}
                Err(SyncError::Google(GoogleError::NotConnected { reason, .. })) => {
                    store::set_paused(ctx.db(), tenant_id, calendar_id, Some(&reason)).await?;
                    return Ok(());
                }
                Err(other) => return Err(retry(other)),
            }
        }
        enqueue_sync(&ctx.queue, tenant_id, calendar_id, Duration::zero()).await?;
        Ok(())
    }
}

/// Renews one channel (`payload.channel_id`).
pub struct RenewChannelJob {
    /// Channel operations.
    pub channels: Channels,
}

#[async_trait]
impl JobHandler for RenewChannelJob {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let Some(channel_id) = job.payload["channel_id"].as_str() else {
            return Err(JobError::Permanent("renew job without channel".into()));
        };
        let Some(channel) = store::channel(ctx.db(), channel_id).await? else {
            return Ok(());
        };
        if channel.status != "active" {
            return Ok(());
        }
        self.channels
            .renew(ctx.db(), &channel)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))
    }
}

impl TickJob {
    /// Follows and watches the primary calendar of every person who connected their own Google
    /// account (meetings they organise live there), once.
    async fn follow_people(&self, ctx: &JobContext) -> Result<(), JobError> {
        let people = self
            .google
            .connections()
            .active_user_calendars()
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        for (tenant_id, owner, calendar_id) in people {
            if store::calendar(ctx.db(), &tenant_id, &calendar_id)
                .await?
                .is_some()
            {
                continue;
            }
            store::follow(ctx.db(), &tenant_id, &calendar_id, None, &owner).await?;
            match self
                .channels
                .open(ctx.db(), &tenant_id, &calendar_id, &owner)
                .await
            {
                Ok(_) => {
                    enqueue_sync(&ctx.queue, &tenant_id, &calendar_id, Duration::zero()).await?
                }
                Err(SyncError::Google(GoogleError::NotConnected { reason, .. })) => {
                    store::set_paused(ctx.db(), &tenant_id, &calendar_id, Some(&reason)).await?;
                }
                Err(other) => return Err(JobError::Retry(other.to_string())),
            }
        }
        Ok(())
    }
}

/// Follows a resource's [`ResourceChanged`] event: the Google calls happen in the (coalesced)
/// reconcile job, so the admin's request is answered at once.
pub struct FollowResourceJob;

#[async_trait]
impl JobHandler for FollowResourceJob {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let received = outbox::receive::<ResourceChanged>(&job.payload)?;
        ctx.queue
            .enqueue(reconcile_job(
                &received.tenant_id,
                &received.event.resource_id,
            ))
            .await?;
        Ok(())
    }
}

/// The periodic tick: reconciles resources out of step, renews channels nearing expiry,
/// enqueues due safety-net syncs (resuming paused calendars whose connection works again) and
/// prunes old receipts.
pub struct TickJob {
    /// The Calendar client (connection checks only; no Google call).
    pub google: Google,
    /// Channel operations (following people's own calendars).
    pub channels: Channels,
    /// Settings.
    pub config: crate::config::SyncConfig,
}

#[async_trait]
impl JobHandler for TickJob {
    async fn run(&self, ctx: &JobContext, _job: &ClaimedJob) -> Result<(), JobError> {
        let now = Utc::now();
        for (tenant_id, resource_id) in store::resources_to_reconcile(ctx.db()).await? {
            ctx.queue
                .enqueue(reconcile_job(&tenant_id, &resource_id))
                .await?;
        }
        self.follow_people(ctx).await?;
        let renew_before =
            now + Duration::seconds(i64::try_from(self.config.renew_before_secs).unwrap_or(86_400));
        for channel in store::expiring_channels(ctx.db(), renew_before).await? {
            let job = NewJob::now(
                RENEW_KIND,
                Some(&channel.tenant_id),
                json!({"channel_id": channel.id}),
            )
            .coalesce(format!("sync-renew:{}", channel.id));
            ctx.queue.enqueue(job).await?;
        }
        let interval =
            Duration::seconds(i64::try_from(self.config.safety_interval_secs).unwrap_or(900));
        for calendar in store::due_for_safety(ctx.db(), now).await? {
            let (tenant_id, calendar_id) = (&calendar.tenant_id, &calendar.calendar_id);
            if calendar.paused {
                let owner = Owner::from_key(&calendar.connection_owner);
                if self
                    .google
                    .connection(tenant_id, &owner, &[scopes::EVENTS])
                    .await
                    .is_err()
                {
                    store::schedule_safety(ctx.db(), tenant_id, calendar_id, now + interval)
                        .await?;
                    continue;
                }
                store::set_paused(ctx.db(), tenant_id, calendar_id, None).await?;
            }
            store::schedule_safety(ctx.db(), tenant_id, calendar_id, now + interval).await?;
            enqueue_sync(&ctx.queue, tenant_id, calendar_id, Duration::zero()).await?;
        }
        store::prune_receipts(ctx.db(), now - Duration::days(1)).await?;
        Ok(())
    }
}
