//! Durable jobs, periodic schedules, singleton leases and the outbox.
//!
//! Jobs live in the database, so they survive restarts: a worker claims a job with a lease;
//! finishing marks it done; failing schedules a retry with exponential backoff and jitter, and a
//! job that keeps failing is dead-lettered for admins to see and retry. A runner that dies
//! mid-job loses its lease and the job runs again elsewhere (at least once); a handler that
//! writes to the database can finish the job in its own transaction
//! ([`ClaimedJob::complete_in`]) so its effect happens exactly once.
//!
//! The outbox ([`outbox`]) writes domain events in the caller's transaction and turns each one
//! into a job per subscribed consumer, so notifications, edge publishing and sync plug in as
//! job handlers.
//!
//! Files: `queue.rs` (SQL of the queue), `runner.rs` (workers and the periodic scheduler),
//! `lease.rs` (singleton leases), `outbox.rs`, `routes.rs` (admin API).

pub mod lease;
pub mod outbox;
pub mod queue;
pub mod routes;
pub mod runner;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use serde_json::Value;

use crate::db::{Db, DbError};
pub use queue::{ClaimedJob, JobRecord, JobState, NewJob, Queue};

/// Why a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (a vendor outage, a lock, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Will never succeed; dead-letter it now.
    #[error("{0}")]
    Permanent(String),
}

impl From<DbError> for JobError {
    fn from(err: DbError) -> Self {
        JobError::Retry(err.to_string())
    }
}

crate::db::classified_sqlx_errors!(JobError);

/// What a handler gets besides its job: the queue (to enqueue follow-ups) and the database.
#[derive(Clone)]
pub struct JobContext {
    /// The queue, for follow-up jobs and outbox events.
    pub queue: Queue,
}

impl JobContext {
    /// The database.
    pub fn db(&self) -> &Db {
        self.queue.db()
    }
}

/// Runs jobs of one kind.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Does the work. `Ok` finishes the job; an error retries or dead-letters it.
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError>;
}

/// A job enqueued on a fixed interval.
#[derive(Debug, Clone)]
pub struct Periodic {
    /// Unique schedule name (also the dedupe key of its jobs).
    pub name: String,
    /// How often.
    pub every: Duration,
    /// The job kind to enqueue.
    pub kind: String,
    /// The job payload.
    pub payload: Value,
}

/// Every job kind this process can run, outbox subscriptions and periodic schedules; built once
/// at start, before the queue.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    subscriptions: Vec<(String, String)>,
    periodic: Vec<Periodic>,
}

impl Registry {
    /// A registry with the queue's own housekeeping job.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        registry.handle(queue::PRUNE_KIND, queue::PruneFinishedJobs);
        registry.every(Periodic {
            name: queue::PRUNE_KIND.into(),
            every: Duration::from_secs(3600),
            kind: queue::PRUNE_KIND.into(),
            payload: Value::Null,
        });
        registry
    }

    /// Registers the handler of a job kind.
    pub fn handle(&mut self, kind: &str, handler: impl JobHandler) -> &mut Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    /// Makes every outbox event whose type starts with `event_prefix` enqueue a job of `kind`.
    pub fn subscribe(&mut self, event_prefix: &str, kind: &str) -> &mut Self {
        self.subscriptions
            .push((event_prefix.to_string(), kind.to_string()));
        self
    }

    /// Adds a periodic schedule.
    pub fn every(&mut self, periodic: Periodic) -> &mut Self {
        self.periodic.retain(|p| p.name != periodic.name);
        self.periodic.push(periodic);
        self
    }

    /// Adds every handler, subscription and schedule of `other` (its entries win).
    pub fn merge(mut self, other: Registry) -> Self {
        self.handlers.extend(other.handlers);
        self.subscriptions.extend(other.subscriptions);
        for periodic in other.periodic {
            self.every(periodic);
        }
        self
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }

    fn subscribers<'a>(&'a self, event_type: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.subscriptions
            .iter()
            .filter(move |(prefix, _)| event_type.starts_with(prefix.as_str()))
            .map(|(_, kind)| kind.as_str())
    }

    fn periodic(&self) -> &[Periodic] {
        &self.periodic
    }
}

/// Delay before retry number `attempt` (1-based): `base · 2^(attempt-1)` capped at `max`, then
/// "equal jitter" — a random point in the upper half — so retries of many jobs spread out
/// without ever coming sooner than half the nominal delay.
pub fn backoff_delay(attempt: u32, base: Duration, max: Duration, unit_random: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let nominal = base
        .checked_mul(1u32 << exponent.min(31))
        .unwrap_or(max)
        .min(max);
    let jitter = unit_random.clamp(0.0, 1.0);
    nominal.div_f64(2.0) + nominal.div_f64(2.0).mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_stays_in_the_upper_half_and_caps() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        assert_eq!(backoff_delay(1, base, max, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(1, base, max, 1.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(3, base, max, 1.0), Duration::from_secs(8));
        assert_eq!(backoff_delay(3, base, max, 0.0), Duration::from_secs(4));
        assert_eq!(backoff_delay(10, base, max, 1.0), max);
        assert_eq!(backoff_delay(200, base, max, 0.5), Duration::from_secs(45));
        for attempt in 1..20 {
            let d = backoff_delay(attempt, base, max, 0.37);
            assert!(
                d <= max && d >= base.min(max).div_f64(2.0),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn subscriptions_match_by_prefix() {
        let mut registry = Registry::new();
        registry.subscribe("meeting.", "notify.meeting");
        registry.subscribe("meeting.cancelled", "edge.publish");
        let kinds: Vec<&str> = registry.subscribers("meeting.cancelled").collect();
        assert_eq!(kinds, ["notify.meeting", "edge.publish"]);
        assert_eq!(registry.subscribers("resource.updated").count(), 0);
    }
}
