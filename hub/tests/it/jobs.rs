//! The durable job queue: crash recovery, racing workers, backoff, dead letters, coalescing,
//! the outbox, periodic jobs and leases — on both engines.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::Utc;
use hub::{
    db::{Db, parse_timestamp},
    jobs::{
        ClaimedJob, JobContext, JobError, JobHandler, JobState, NewJob, Periodic, Queue, Registry,
        lease,
        outbox::{self, Delivery, DomainEvent},
        runner,
    },
};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

use crate::{
    on_both_engines,
    support::{Engine, TestDb, TestHub, eventually, expect_error, fast_jobs},
};

const WAIT: Duration = Duration::from_secs(20);

/// Writes one effect row and finishes the job in the same transaction.
struct RecordEffect;

#[async_trait]
impl JobHandler for RecordEffect {
    async fn run(&self, ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let mut tx = ctx.db().begin_write().await?;
        insert_effect(&mut tx, &job.id).await;
        job.complete_in(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_effect(tx: &mut hub::db::Tx, job_id: &str) {
    sqlx::query("INSERT INTO test_effects (job_id) VALUES ($1)")
        .bind(job_id)
        .execute(&mut **tx)
        .await
        .expect("effect written");
}

/// Fails until told to succeed.
struct FailUntil {
    succeed: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl JobHandler for FailUntil {
    async fn run(&self, _ctx: &JobContext, _job: &ClaimedJob) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.succeed.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(JobError::Retry("the vendor answered 503".into()))
        }
    }
}

/// Remembers the outbox deliveries it receives.
struct Collect(Arc<Mutex<Vec<Delivery>>>);

#[async_trait]
impl JobHandler for Collect {
    async fn run(&self, _ctx: &JobContext, job: &ClaimedJob) -> Result<(), JobError> {
        let delivery: Delivery = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        self.0.lock().expect("lock").push(delivery);
        Ok(())
    }
}

async fn create_effects_table(db: &Db) {
    sqlx::query("CREATE TABLE test_effects (job_id TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .expect("effects table");
}

async fn effects(db: &Db, job_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM test_effects WHERE job_id = $1")
        .bind(job_id)
        .fetch_one(db.pool())
        .await
        .expect("count")
}

async fn job_row(db: &Db, job_id: &str) -> (String, i64, String) {
    let row = sqlx::query("SELECT state, attempts, run_at FROM jobs WHERE id = $1")
        .bind(job_id)
        .fetch_one(db.pool())
        .await
        .expect("job row");
    (row.get("state"), row.get("attempts"), row.get("run_at"))
}

async fn a_runner_that_dies_mid_job_loses_its_lease_and_the_effect_happens_once(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    create_effects_table(&db).await;
    // The first process claims the job with a short lease, writes its effect in a
    // transaction and dies before committing (the transaction is dropped, as kill -9 would).
    let dying = Queue::new(
        test_db.connect().await,
        hub::config::JobsConfig {
            lease_secs: 1,
            ..fast_jobs()
        },
        Registry::new(),
    );
    let job_id = dying
        .enqueue(NewJob::now("test.effect", None, json!({})))
        .await
        .expect("enqueued")
        .expect("id");
    let claimed = dying.claim(1).await.expect("claim").pop().expect("claimed");
    let mut tx = dying.db().begin_write().await.expect("tx");
    insert_effect(&mut tx, &claimed.id).await;
    drop(tx);
    dying.db().close().await;
    assert_eq!(job_row(&db, &job_id).await.0, "running");

    // A second process runs the job once the lease has expired.
    let mut registry = Registry::new();
    registry.handle("test.effect", RecordEffect);
    let queue = Queue::new(db.clone(), fast_jobs(), registry);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let metrics = Arc::new(hub::observability::Metrics::new());
    let tasks = runner::spawn(queue.clone(), metrics.clone(), shutdown.clone());
    eventually(
        WAIT,
        "the job is run again after its lease expired",
        || async { job_row(&db, &job_id).await.0 == "done" },
    )
    .await;
    shutdown.cancel();
    for task in tasks {
        task.await.expect("runner stops");
    }
    let (_, attempts, _) = job_row(&db, &job_id).await;
    assert_eq!(attempts, 2, "run again exactly once after the crash");
    assert_eq!(
        effects(&db, &job_id).await,
        1,
        "the crashed attempt left nothing behind"
    );
}
on_both_engines!(a_runner_that_dies_mid_job_loses_its_lease_and_the_effect_happens_once);

async fn racing_workers_never_claim_one_job_twice(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let first = Queue::new(test_db.connect().await, fast_jobs(), Registry::new());
    let second = Queue::new(test_db.connect().await, fast_jobs(), Registry::new());
    let mut enqueued = HashSet::new();
    for n in 0..60 {
        let id = first
            .enqueue(NewJob::now("test.race", None, json!({"n": n})))
            .await
            .expect("enqueue")
            .expect("id");
        enqueued.insert(id);
    }
    let claim_all = |queue: Queue| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = queue.claim(3).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|job| job.id));
            }
        })
    };
    let (a, b) = tokio::join!(claim_all(first), claim_all(second));
    let (a, b) = (a.expect("worker a"), b.expect("worker b"));
    let all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    let distinct: HashSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), distinct.len(), "a job was claimed twice");
    assert_eq!(distinct, enqueued, "every job was claimed");
}
on_both_engines!(racing_workers_never_claim_one_job_twice);

async fn failures_back_off_then_dead_letter_and_admins_can_retry(engine: Engine) {
    let succeed = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    registry.handle(
        "test.flaky",
        FailUntil {
            succeed: succeed.clone(),
            runs: runs.clone(),
        },
    );
    let hub = TestHub::start_with(engine, registry, |_| {}).await;
    let acme = hub.seed("acme").await;
    let globex = hub.seed("globex").await;
    let queue = hub.hub.state.jobs.clone();
    let job_id = queue
        .enqueue(NewJob::now("test.flaky", Some(&acme.tenant_id), json!({})))
        .await
        .expect("enqueue")
        .expect("id");

    eventually(
        WAIT,
        "the job is dead-lettered after 3 attempts",
        || async { job_row(hub.db(), &job_id).await.0 == "dead" },
    )
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    let dead: Value = hub
        .call(
            Method::GET,
            "/api/v1/admin/jobs?state=dead",
            Some(&acme.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(dead["items"][0]["id"], job_id.as_str());
    assert_eq!(dead["items"][0]["attempts"], 3);
    assert_eq!(dead["items"][0]["last_error"], "the vendor answered 503");
    let theirs: Value = hub
        .call(
            Method::GET,
            "/api/v1/admin/jobs?state=dead",
            Some(&globex.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        theirs["items"].as_array().map(Vec::len),
        Some(0),
        "another tenant sees none of it"
    );
    expect_error(
        hub.call(
            Method::GET,
            "/api/v1/admin/jobs",
            Some(&acme.member_token),
            None,
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let retry_path = format!("/api/v1/admin/jobs/{job_id}/retry");
    expect_error(
        hub.call(Method::POST, &retry_path, Some(&globex.admin_token), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;

    succeed.store(true, Ordering::SeqCst);
    let retried = hub
        .call(Method::POST, &retry_path, Some(&acme.admin_token), None)
        .await;
    assert_eq!(retried.status(), 200);
    eventually(WAIT, "the retried job finishes", || async {
        job_row(hub.db(), &job_id).await.0 == "done"
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    expect_error(
        hub.call(Method::POST, &retry_path, Some(&acme.admin_token), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    hub.stop().await;
}
on_both_engines!(failures_back_off_then_dead_letter_and_admins_can_retry);

/// Claims the job once it is due.
async fn next_due(queue: &Queue) -> ClaimedJob {
    eventually(WAIT, "the job is due", || async {
        queue.claim(1).await.expect("claim").pop()
    })
    .await
}

async fn a_failed_attempt_is_rescheduled_with_exponential_backoff(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    let config = hub::config::JobsConfig {
        backoff_base_ms: 400,
        backoff_max_secs: 60,
        max_attempts: 5,
        ..fast_jobs()
    };
    let queue = Queue::new(db.clone(), config, Registry::new());
    let job_id = queue
        .enqueue(NewJob::now("test.backoff", None, json!({})))
        .await
        .expect("enqueue")
        .expect("id");
    for (attempt, nominal_ms) in [(1, 400), (2, 800)] {
        let job = next_due(&queue).await;
        assert_eq!(job.attempt, attempt);
        let failed_at = Utc::now();
        queue
            .fail(&job, &JobError::Retry("busy".into()))
            .await
            .expect("recorded");
        let (state, _, run_at) = job_row(&db, &job_id).await;
        assert_eq!(state, "queued");
        let delay = (parse_timestamp(&run_at).expect("time") - failed_at).num_milliseconds();
        assert!(
            delay >= nominal_ms / 2 - 5 && delay <= nominal_ms + 200,
            "attempt {attempt}: {delay} ms"
        );
    }
    let job = next_due(&queue).await;
    queue
        .fail(&job, &JobError::Permanent("bad payload".into()))
        .await
        .expect("recorded");
    assert_eq!(
        job_row(&db, &job_id).await.0,
        "dead",
        "a permanent error dead-letters at once"
    );
}
on_both_engines!(a_failed_attempt_is_rescheduled_with_exponential_backoff);

async fn queued_jobs_with_one_key_coalesce(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let queue = Queue::new(test_db.connect().await, fast_jobs(), Registry::new());
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            queue
                .enqueue(NewJob::now("sync.calendar", None, json!({})).coalesce("sync:cal-1"))
                .await
                .expect("enqueue"),
        );
    }
    assert!(ids[0].is_some());
    assert!(ids[1..].iter().all(Option::is_none), "{ids:?}");
    let claimed = queue.claim(10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let again = queue
        .enqueue(NewJob::now("sync.calendar", None, json!({})).coalesce("sync:cal-1"))
        .await
        .expect("enqueue");
    assert!(
        again.is_some(),
        "a job already running does not swallow the next one"
    );
}
on_both_engines!(queued_jobs_with_one_key_coalesce);

async fn outbox_events_reach_subscribers_only_when_committed(engine: Engine) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut registry = Registry::new();
    // A type of its own: the hub's meeting and resource consumers read typed events and
    // dead-letter an unreadable one, which this envelope-level test would otherwise leave.
    registry
        .handle("test.consumer", Collect(seen.clone()))
        .subscribe("probe.", "test.consumer");
    let hub = TestHub::start_with(engine, registry, |_| {}).await;
    let acme = hub.seed("acme").await;
    let queue = hub.hub.state.jobs.clone();
    let event = |kind: &str| DomainEvent {
        tenant_id: acme.tenant_id.clone(),
        event_type: kind.to_string(),
        subject_id: Some("m-1".into()),
        payload: json!({"title": "Review"}),
    };

    let mut tx = hub.db().begin_write().await.expect("tx");
    outbox::emit(&queue, &mut tx, event("probe.created"))
        .await
        .expect("emit");
    tx.rollback().await.expect("rollback");

    let mut tx = hub.db().begin_write().await.expect("tx");
    let kept = outbox::emit(&queue, &mut tx, event("probe.cancelled"))
        .await
        .expect("emit");
    outbox::emit(&queue, &mut tx, event("unsubscribed.updated"))
        .await
        .expect("emit");
    tx.commit().await.expect("commit");
    queue.notify_workers();

    eventually(WAIT, "the committed event is delivered", || async {
        !seen.lock().expect("lock").is_empty()
    })
    .await;
    eventually(WAIT, "no consumer job is left", || async {
        queue
            .depth()
            .await
            .expect("depth")
            .iter()
            .all(|(s, n)| *s == JobState::Done || *n == 0)
    })
    .await;
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.len(),
        1,
        "rolled-back and unsubscribed events are not delivered: {seen:?}"
    );
    assert_eq!(seen[0].event_id, kept);
    assert_eq!(seen[0].event, event("probe.cancelled"));
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox_events")
        .fetch_one(hub.db().pool())
        .await
        .expect("count");
    assert_eq!(stored, 2);
    hub.stop().await;
}
on_both_engines!(outbox_events_reach_subscribers_only_when_committed);

async fn a_periodic_job_is_enqueued_once_per_interval_across_processes(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let registry = || {
        let mut registry = Registry::new();
        registry.every(Periodic {
            name: "test.tick".into(),
            every: Duration::from_secs(3600),
            kind: "test.tick".into(),
            payload: Value::Null,
        });
        registry
    };
    let a = Queue::new(test_db.connect().await, fast_jobs(), registry());
    let b = Queue::new(test_db.connect().await, fast_jobs(), registry());
    runner::register_periodic(&a).await.expect("registered");
    runner::register_periodic(&b).await.expect("registered");
    let (x, y) = tokio::join!(
        runner::enqueue_due_periodic(&a),
        runner::enqueue_due_periodic(&b)
    );
    let total = x.expect("a") + y.expect("b");
    assert_eq!(
        total, 2,
        "each schedule (test.tick and the built-in prune) enqueued once in all"
    );
    assert_eq!(
        runner::enqueue_due_periodic(&a).await.expect("a"),
        0,
        "not due again within the interval"
    );
    let ticks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'test.tick'")
        .fetch_one(a.db().pool())
        .await
        .expect("count");
    assert_eq!(ticks, 1);
}
on_both_engines!(a_periodic_job_is_enqueued_once_per_interval_across_processes);

async fn a_lease_has_one_holder_until_it_expires(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    let short = Duration::from_millis(300);
    assert!(
        lease::try_acquire(&db, "nightly", "replica-a", short)
            .await
            .expect("a")
    );
    assert!(
        !lease::try_acquire(&db, "nightly", "replica-b", short)
            .await
            .expect("b")
    );
    assert!(
        lease::try_acquire(&db, "nightly", "replica-a", short)
            .await
            .expect("renewal")
    );
    eventually(WAIT, "b takes the expired lease", || async {
        lease::try_acquire(&db, "nightly", "replica-b", short)
            .await
            .expect("b")
    })
    .await;
    assert!(
        !lease::try_acquire(&db, "nightly", "replica-a", short)
            .await
            .expect("a")
    );
    lease::release(&db, "nightly", "replica-b")
        .await
        .expect("release");
    assert!(
        lease::try_acquire(&db, "nightly", "replica-a", short)
            .await
            .expect("a after release")
    );
}
on_both_engines!(a_lease_has_one_holder_until_it_expires);

/// A meeting event as the first release wrote it into the queue (no `version`,
/// `resource_before` or `at`): after an upgrade its consumers still read it and finish.
async fn a_meeting_event_queued_by_the_previous_release_is_still_handled(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let queue = hub.hub.state.jobs.clone();
    let stored = json!({
        "event_id": "legacy-event",
        "event": {
            "tenant_id": acme.tenant_id,
            "event_type": "meeting.rescheduled",
            "subject_id": "legacy-meeting",
            "payload": {
                "meeting_id": "legacy-meeting",
                "change_id": "legacy-change",
                "change_type": "RESCHEDULED",
                "resource_id": "legacy-room",
                "actor_type": "AI",
                "actor_id": "legacy-key"
            }
        }
    });
    let mut ids = Vec::new();
    for kind in [hub::edge::publish::ROUTE_KIND, hub::notify::MEETING_KIND] {
        let job = NewJob::now(kind, Some(&acme.tenant_id), stored.clone());
        ids.push(queue.enqueue(job).await.expect("enqueued").expect("job id"));
    }
    let db = hub.db().clone();
    eventually(WAIT, "both consumers finish the stored event", || async {
        let mut done = 0;
        for id in &ids {
            let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_one(db.pool())
                .await
                .expect("job");
            assert_ne!(
                state, "dead",
                "a stored event of the previous release was refused"
            );
            done += usize::from(state == "done");
        }
        done == ids.len()
    })
    .await;
    let publishes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND payload LIKE '%legacy-room%'",
    )
    .bind(hub::edge::publish::PUBLISH_KIND)
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(
        publishes, 1,
        "the room named by the old event is republished"
    );
    hub.stop().await;
}
on_both_engines!(a_meeting_event_queued_by_the_previous_release_is_still_handled);
