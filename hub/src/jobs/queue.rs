//! The SQL of the job queue.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{Row, any::AnyRow};
use tokio::sync::Notify;

use super::{JobContext, JobError, JobHandler, Registry, backoff_delay};
use crate::{
    config::JobsConfig,
    db::{Db, DbError, Tx, dialect, new_id, parse_timestamp, timestamp},
};

/// The kind of the queue's own housekeeping job.
pub const PRUNE_KIND: &str = "jobs.prune";

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its time.
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished.
    Done,
    /// Failed too often, or permanently; waits for an admin.
    Dead,
}

impl JobState {
    /// Every state.
    pub const ALL: &'static [JobState] = &[
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    fn parse(text: &str) -> JobState {
        match text {
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            _ => JobState::Queued,
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Which handler runs it.
    pub kind: String,
    /// The tenant it works for (None for system-wide work).
    pub tenant_id: Option<String>,
    /// Handler input.
    pub payload: Value,
    /// Not before this time.
    pub run_at: DateTime<Utc>,
    /// While a queued job with this key exists, enqueuing another does nothing (coalescing).
    pub dedupe_key: Option<String>,
}

impl NewJob {
    /// A job to run as soon as possible.
    pub fn now(kind: &str, tenant_id: Option<&str>, payload: Value) -> Self {
        NewJob {
            kind: kind.to_string(),
            tenant_id: tenant_id.map(str::to_string),
            payload,
            run_at: Utc::now(),
            dedupe_key: None,
        }
    }

    /// Coalesces with an already queued job of the same key.
    pub fn coalesce(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    /// Runs no earlier than `at`.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = at;
        self
    }
}

/// A job a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Job id.
    pub id: String,
    /// Tenant, if any.
    pub tenant_id: Option<String>,
    /// Handler kind.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    lock_token: String,
}

impl ClaimedJob {
    /// Marks the job done inside the handler's own transaction, so the handler's writes and the
    /// completion commit together (exactly-once effect). A lost lease makes this a no-op and
    /// returns false; the handler should then roll back.
    pub async fn complete_in(&self, tx: &mut Tx) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', lock_token = NULL, locked_until = NULL, updated_at = $1 \
             WHERE id = $2 AND lock_token = $3 AND state = 'running'",
        )
        .bind(timestamp(Utc::now()))
        .bind(&self.id)
        .bind(&self.lock_token)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A job as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// Handler kind.
    pub kind: String,
    /// Where it stands.
    pub state: JobState,
    /// Attempts made.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When it runs (next).
    pub run_at: String,
    /// When it was enqueued.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// What happened to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Queued again at this time.
    Retry(DateTime<Utc>),
    /// Dead-lettered.
    Dead,
}

/// The durable queue; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    db: Db,
    config: JobsConfig,
    registry: Arc<Registry>,
    wake: Arc<Notify>,
}

impl Queue {
    /// A queue over the database with the registry of this process.
    pub fn new(db: Db, config: JobsConfig, registry: Registry) -> Self {
        Queue {
            db,
            config,
            registry: Arc::new(registry),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The settings.
    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    pub(super) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(super) fn wake(&self) -> &Notify {
        &self.wake
    }

    /// Wakes idle local workers after a commit that enqueued work.
    pub fn notify_workers(&self) {
        self.wake.notify_waiters();
    }

    /// Enqueues inside the caller's transaction; returns the job id, or None if it coalesced
    /// into a queued job with the same dedupe key. Call [`Queue::notify_workers`] after commit.
    pub async fn enqueue_in(&self, tx: &mut Tx, job: NewJob) -> Result<Option<String>, DbError> {
        let id = new_id();
        let now = timestamp(Utc::now());
        let inserted = sqlx::query(
            "INSERT INTO jobs (id, tenant_id, kind, payload, state, attempts, max_attempts, run_at, \
                               dedupe_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8, $8) \
             ON CONFLICT (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL DO NOTHING",
        )
        .bind(&id)
        .bind(job.tenant_id.as_deref())
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(i64::from(self.config.max_attempts))
        .bind(timestamp(job.run_at))
        .bind(job.dedupe_key.as_deref())
        .bind(&now)
        .execute(&mut **tx)
        .await
        .map_err(DbError::classify)?;
        Ok((inserted.rows_affected() == 1).then_some(id))
    }

    /// Enqueues in a transaction of its own and wakes the workers.
    pub async fn enqueue(&self, job: NewJob) -> Result<Option<String>, DbError> {
        let mut tx = self.db.begin_write().await?;
        let id = self.enqueue_in(&mut tx, job).await?;
        tx.commit().await?;
        self.notify_workers();
        Ok(id)
    }

    /// Claims up to `limit` due jobs (and jobs whose runner's lease expired).
    pub async fn claim(&self, limit: u32) -> Result<Vec<ClaimedJob>, DbError> {
        let lock_token = new_id();
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.config.lease()).unwrap_or_default();
        let mut tx = self.db.begin_write().await?;
        let rows = sqlx::query(dialect::claim_jobs(self.db.backend()))
            .bind(&lock_token)
            .bind(timestamp(now + lease))
            .bind(timestamp(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| claimed_from_row(row, &lock_token))
            .collect()
    }

    /// Marks a job done; false if its lease was lost (another runner has it now) or the handler
    /// already finished it in its own transaction.
    pub async fn complete(&self, job: &ClaimedJob) -> Result<bool, DbError> {
        let mut tx = self.db.begin_write().await?;
        let done = job.complete_in(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Records a failed attempt: retried later with backoff, or dead-lettered when permanent or
    /// out of attempts.
    pub async fn fail(&self, job: &ClaimedJob, error: &JobError) -> Result<FailOutcome, DbError> {
        let permanent = matches!(error, JobError::Permanent(_));
        if permanent || job.attempt >= job.max_attempts {
            self.set_dead(job, &error.to_string()).await?;
            return Ok(FailOutcome::Dead);
        }
        let delay = backoff_delay(
            job.attempt,
            Duration::from_millis(self.config.backoff_base_ms),
            Duration::from_secs(self.config.backoff_max_secs),
            rand::random::<f64>(),
        );
        let run_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        let requeued = sqlx::query(
            "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, lock_token = NULL, \
                    locked_until = NULL, updated_at = $3 \
             WHERE id = $4 AND lock_token = $5 AND state = 'running'",
        )
        .bind(timestamp(run_at))
        .bind(error.to_string())
        .bind(timestamp(Utc::now()))
        .bind(&job.id)
        .bind(&job.lock_token)
        .execute(self.db.pool())
        .await
        .map_err(DbError::classify);
        match requeued {
            Ok(_) => Ok(FailOutcome::Retry(run_at)),
            Err(DbError::Conflict(_)) => {
                self.finish_superseded(job).await?;
                Ok(FailOutcome::Retry(run_at))
            }
            Err(other) => Err(other),
        }
    }

    /// A queued job with the same dedupe key will do this job's work; this one is finished.
    async fn finish_superseded(&self, job: &ClaimedJob) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE jobs SET state = 'done', last_error = 'superseded by a queued job with the same key', \
                    lock_token = NULL, locked_until = NULL, updated_at = $1 \
             WHERE id = $2 AND lock_token = $3",
        )
        .bind(timestamp(Utc::now()))
        .bind(&job.id)
        .bind(&job.lock_token)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn set_dead(&self, job: &ClaimedJob, error: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = $1, lock_token = NULL, locked_until = NULL, \
                    updated_at = $2 \
             WHERE id = $3 AND lock_token = $4",
        )
        .bind(error)
        .bind(timestamp(Utc::now()))
        .bind(&job.id)
        .bind(&job.lock_token)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Jobs of a tenant in a state, newest first.
    pub async fn list(
        &self,
        tenant_id: &str,
        state: JobState,
        limit: u32,
    ) -> Result<Vec<JobRecord>, DbError> {
        let rows = sqlx::query(
            "SELECT id, kind, state, attempts, max_attempts, last_error, run_at, created_at, updated_at \
             FROM jobs WHERE tenant_id = $1 AND state = $2 ORDER BY updated_at DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(state.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Puts a dead job of the tenant back in the queue with fresh attempts.
    pub async fn retry_dead(&self, tenant_id: &str, job_id: &str) -> Result<JobRecord, DbError> {
        let now = timestamp(Utc::now());
        let row = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND state = 'dead' \
             RETURNING id, kind, state, attempts, max_attempts, last_error, run_at, created_at, updated_at",
        )
        .bind(&now)
        .bind(tenant_id)
        .bind(job_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(DbError::classify)?
        .ok_or(DbError::NotFound)?;
        self.notify_workers();
        record_from_row(&row)
    }

    /// A job of the tenant by id.
    pub async fn get(&self, tenant_id: &str, job_id: &str) -> Result<JobRecord, DbError> {
        let row = sqlx::query(
            "SELECT id, kind, state, attempts, max_attempts, last_error, run_at, created_at, updated_at \
             FROM jobs WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(job_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(DbError::NotFound)?;
        record_from_row(&row)
    }

    /// How many jobs are in each state, for the queue-depth gauge.
    pub async fn depth(&self) -> Result<Vec<(JobState, i64)>, DbError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                Ok((JobState::parse(&state), row.try_get("n")?))
            })
            .collect()
    }

    /// The earliest time a queued job is due, so an idle worker can sleep until then.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, DbError> {
        let next: Option<String> =
            sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE state = 'queued'")
                .fetch_one(self.db.pool())
                .await?;
        next.as_deref().map(parse_timestamp).transpose()
    }
}

fn claimed_from_row(row: &AnyRow, lock_token: &str) -> Result<ClaimedJob, DbError> {
    let payload: String = row.try_get("payload")?;
    let attempts: i64 = row.try_get("attempts")?;
    let max_attempts: i64 = row.try_get("max_attempts")?;
    Ok(ClaimedJob {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        kind: row.try_get("kind")?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
        max_attempts: u32::try_from(max_attempts).unwrap_or(1),
        lock_token: lock_token.to_string(),
    })
}

fn record_from_row(row: &AnyRow) -> Result<JobRecord, DbError> {
    let state: String = row.try_get("state")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        state: JobState::parse(&state),
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        last_error: row.try_get("last_error")?,
        run_at: row.try_get("run_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Deletes finished jobs after a week and outbox events after 30 days, so the tables stay small.
pub struct PruneFinishedJobs;

#[async_trait]
impl JobHandler for PruneFinishedJobs {
    async fn run(&self, ctx: &JobContext, _job: &ClaimedJob) -> Result<(), JobError> {
        let now = Utc::now();
        sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
            .bind(timestamp(now - chrono::Duration::days(7)))
            .execute(ctx.db().pool())
            .await?;
        sqlx::query("DELETE FROM outbox_events WHERE created_at < $1")
            .bind(timestamp(now - chrono::Duration::days(30)))
            .execute(ctx.db().pool())
            .await?;
        Ok(())
    }
}
