//! Workers that run claimed jobs, and the scheduler that enqueues periodic jobs under a lease.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{sync::Semaphore, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{ClaimedJob, JobContext, JobError, JobState, NewJob, Queue, lease, queue::FailOutcome};
use crate::{
    db::{DbError, new_id, timestamp},
    observability::{JobLabels, Metrics, StateLabels},
};

/// The lease name of the periodic scheduler.
const SCHEDULER_LEASE: &str = "jobs.scheduler";

/// Starts `workers` concurrent job runners and the periodic scheduler; both stop when
/// `shutdown` is cancelled.
pub fn spawn(
    queue: Queue,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let workers = queue.config().workers;
    if workers == 0 {
        return Vec::new();
    }
    vec![
        tokio::spawn(run_workers(
            queue.clone(),
            metrics.clone(),
            workers,
            shutdown.clone(),
        )),
        tokio::spawn(run_scheduler(queue, metrics, shutdown)),
    ]
}

async fn run_workers(
    queue: Queue,
    metrics: Arc<Metrics>,
    workers: usize,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(workers));
    let context = JobContext {
        queue: queue.clone(),
    };
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            () = shutdown.cancelled() => return,
        };
        let woken = queue.wake().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match queue.claim(1).await {
            Ok(mut jobs) if !jobs.is_empty() => {
                let job = jobs.remove(0);
                let context = context.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    run_one(&context, &metrics, job).await;
                    drop(permit);
                });
            }
            Ok(_) => {
                drop(permit);
                let idle = idle_wait(&queue).await;
                tokio::select! {
                    () = &mut woken => {}
                    () = tokio::time::sleep(idle) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            Err(err) => {
                drop(permit);
                tracing::warn!(error = %err, "claiming jobs failed");
                tokio::select! {
                    () = tokio::time::sleep(queue.config().poll_interval()) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// How long an idle worker waits: until the next queued job is due, at most one poll interval
/// (other processes may enqueue without waking us).
async fn idle_wait(queue: &Queue) -> Duration {
    let poll = queue.config().poll_interval();
    match queue.next_due().await {
        Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or_default().min(poll),
        _ => poll,
    }
}

#[tracing::instrument(skip_all, fields(job_id = %job.id, kind = %job.kind, attempt = job.attempt, tenant_id = ?job.tenant_id))]
async fn run_one(context: &JobContext, metrics: &Metrics, job: ClaimedJob) {
    let queue = &context.queue;
    let labels = JobLabels {
        kind: job.kind.clone(),
    };
    let result = if job.attempt > job.max_attempts {
        Err(JobError::Permanent(
            "the job's runner stopped during every attempt".into(),
        ))
    } else {
        match queue.registry().handler(&job.kind) {
            Some(handler) => {
                let lease = queue.config().lease();
                match tokio::time::timeout(lease, handler.run(context, &job)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(JobError::Retry("the job ran longer than its lease".into())),
                }
            }
            None => Err(JobError::Permanent(format!(
                "no handler for job kind {}",
                job.kind
            ))),
        }
    };
    let recorded = match result {
        Ok(()) => queue.complete(&job).await.map(|_| {
            metrics.jobs_succeeded.get_or_create(&labels).inc();
        }),
        Err(error) => queue.fail(&job, &error).await.map(|outcome| match outcome {
            FailOutcome::Retry(at) => {
                metrics.jobs_retried.get_or_create(&labels).inc();
                tracing::warn!(%error, retry_at = %timestamp(at), "job failed; will retry");
            }
            FailOutcome::Dead => {
                metrics.jobs_dead.get_or_create(&labels).inc();
                tracing::error!(%error, "job dead-lettered");
            }
        }),
    };
    if let Err(err) = recorded {
        tracing::error!(error = %err, "could not record the job's outcome; its lease will expire and it runs again");
    }
}

/// Refreshes the queue-depth gauge: one grouped count per scheduler tick, so a scrape of
/// `/metrics` never reads the jobs table.
async fn refresh_depth(queue: &Queue, metrics: &Metrics) {
    match queue.depth().await {
        Ok(depths) => {
            for job_state in JobState::ALL {
                let count = depths
                    .iter()
                    .find(|(s, _)| s == job_state)
                    .map_or(0, |(_, n)| *n);
                let labels = StateLabels {
                    state: job_state.as_str().to_string(),
                };
                metrics.jobs_depth.get_or_create(&labels).set(count);
            }
        }
        Err(err) => tracing::warn!(error = %err, "queue depth not refreshed"),
    }
}

async fn run_scheduler(queue: Queue, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let holder = new_id();
    if let Err(err) = register_periodic(&queue).await {
        tracing::error!(error = %err, "periodic schedules could not be registered");
    }
    let tick = queue.config().poll_interval().min(Duration::from_secs(5));
    let lease_ttl = (tick * 6).max(Duration::from_secs(10));
    loop {
        match lease::try_acquire(queue.db(), SCHEDULER_LEASE, &holder, lease_ttl).await {
            Ok(true) => {
                if let Err(err) = enqueue_due_periodic(&queue).await {
                    tracing::warn!(error = %err, "periodic jobs could not be enqueued");
                }
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "scheduler lease check failed"),
        }
        refresh_depth(&queue, &metrics).await;
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = shutdown.cancelled() => {
                if let Err(err) = lease::release(queue.db(), SCHEDULER_LEASE, &holder).await {
                    tracing::debug!(error = %err, "scheduler lease not released");
                }
                return;
            }
        }
    }
}

/// Writes every schedule of the registry (first run due now; a changed interval applies from
/// the next run).
pub async fn register_periodic(queue: &Queue) -> Result<(), DbError> {
    let now = timestamp(Utc::now());
    for periodic in queue.registry().periodic() {
        sqlx::query(
            "INSERT INTO periodic_jobs (name, interval_secs, next_run_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET interval_secs = excluded.interval_secs",
        )
        .bind(&periodic.name)
        .bind(i64::try_from(periodic.every.as_secs()).unwrap_or(i64::MAX))
        .bind(&now)
        .execute(queue.db().pool())
        .await?;
    }
    Ok(())
}

/// Enqueues each due periodic job once: moving `next_run_at` and enqueuing happen in one
/// transaction, and the conditional update lets only one process win a given run.
pub async fn enqueue_due_periodic(queue: &Queue) -> Result<usize, DbError> {
    let mut enqueued = 0;
    for periodic in queue.registry().periodic() {
        let now = Utc::now();
        let next = now + chrono::Duration::from_std(periodic.every).unwrap_or_default();
        let mut tx = queue.db().begin_write().await?;
        let moved = sqlx::query(
            "UPDATE periodic_jobs SET next_run_at = $1 WHERE name = $2 AND next_run_at <= $3",
        )
        .bind(timestamp(next))
        .bind(&periodic.name)
        .bind(timestamp(now))
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 1 {
            let job = NewJob::now(&periodic.kind, None, periodic.payload.clone())
                .coalesce(format!("periodic:{}", periodic.name));
            queue.enqueue_in(&mut tx, job).await?;
            enqueued += 1;
        }
        tx.commit().await?;
    }
    if enqueued > 0 {
        queue.notify_workers();
    }
    Ok(enqueued)
}
