//! The job queue survives `kill -9` of a hub process mid-job: another process runs the job
//! again after the lease expires, and its effect happens exactly once.

use std::{process::Stdio, time::Duration};

use emulators::google::{AdminCommand, Fault};
use hub::{
    db::Db,
    jobs::{NewJob, Queue, Registry},
    meetings::{model, store},
};
use serde_json::json;
use sqlx::Row;

use crate::{
    on_both_engines,
    support::{Engine, ROOMS_ACCOUNT, World, booking, eventually, fast_jobs},
};

fn hub_process(world_env: &[(String, String)]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("serve")
        .envs(world_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("BIND", "127.0.0.1:0")
        .env("MQTT_BIND", "127.0.0.1:0")
        .env("JOBS_LEASE_SECS", "3")
        .env("JOBS_POLL_MS", "100")
        .env("RUST_LOG", "warn")
        .env_remove("CORBI_CONFIG")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hub serve starts")
}

async fn job_state(db: &Db, id: &str) -> (String, i64) {
    let row = sqlx::query("SELECT state, attempts FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .expect("job");
    (row.get("state"), row.get("attempts"))
}

async fn a_job_killed_mid_run_runs_again_once_in_another_process(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = world.rooms[0].clone();
    let made = world
        .book(
            &world.acme.ai_key,
            booking(&room, "Model", "2030-12-16", "08:00", "09:00"),
        )
        .await;
    let made: serde_json::Value = made.json().await.expect("json");
    let model_row = store::get(
        world.hub.db(),
        &world.acme.tenant_id,
        made["id"].as_str().expect("id"),
    )
    .await
    .expect("row");
    let calendar = world.calendar_of(&room).await;
    let config = world.hub.hub.state.config.clone();
    let World {
        hub: test_hub,
        google,
        acme,
        ..
    } = world;
    let url = test_hub.db.url.clone();
    let base = google.emulator.base_url();
    let env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), url.clone()),
        (
            "ENCRYPTION_KEYS".into(),
            config.encryption.keys.expose().to_string(),
        ),
        ("GOOGLE_CLIENT_ID".into(), config.google.client_id.clone()),
        (
            "GOOGLE_CLIENT_SECRET".into(),
            config.google.client_secret.expose().to_string(),
        ),
        ("GOOGLE_AUTH_URL".into(), format!("{base}/o/oauth2/auth")),
        ("GOOGLE_TOKEN_URL".into(), format!("{base}/token")),
        ("GOOGLE_API_BASE_URL".into(), base.clone()),
    ];
    let tenant = acme.tenant_id.clone();
    let crate::support::TestHub {
        hub: in_process,
        db: keep_database,
        ..
    } = test_hub;
    in_process.stop().await;

    // A reservation whose writer died after Google accepted the event.
    let id = uuid::Uuid::new_v4().to_string();
    let mut pending = model_row.clone();
    pending.google_event_id = model::event_id_for(&id);
    pending.id = id.clone();
    pending.title = "Survivor".into();
    pending.start = model_row.start + chrono::Duration::hours(3);
    pending.end = pending.start + chrono::Duration::hours(1);
    let db = Db::connect(&url).await.expect("db");
    let queue = Queue::new(db.clone(), fast_jobs(), Registry::new());
    let mut tx = db.begin_write().await.expect("tx");
    store::insert_pending(&mut tx, &queue, &pending, None)
        .await
        .expect("pending");
    tx.commit().await.expect("commit");
    let token = google
        .emulator
        .issue_access_token(ROOMS_ACCOUNT, &["https://www.googleapis.com/auth/calendar"]);
    let inserted = reqwest::Client::new()
        .post(format!("{base}/calendar/v3/calendars/{calendar}/events"))
        .bearer_auth(token)
        .json(&json!({
            "id": pending.google_event_id,
            "summary": "Survivor",
            "start": {"dateTime": hub::text::zulu(pending.start)},
            "end": {"dateTime": hub::text::zulu(pending.end)},
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(inserted.status(), 200);

    // The first process claims the recovery job and hangs in Google; it is killed mid-job.
    google.emulator.inject(
        Some("calendar.events.get"),
        Fault::Latency { millis: 60_000 },
        1,
    );
    let job = queue
        .enqueue(NewJob::now(
            hub::meetings::recover::RECOVER_KIND,
            Some(&tenant),
            json!({"meeting_id": id}),
        ))
        .await
        .expect("enqueued")
        .expect("job id");
    let mut first = hub_process(&env);
    eventually(
        Duration::from_secs(30),
        "the first process is running the job",
        || async { job_state(&db, &job).await == ("running".to_string(), 1) },
    )
    .await;
    first.kill().await.expect("kill -9");
    google.emulator.apply(AdminCommand::Clear);

    // A second process takes the job once the lease expired and finishes it.
    let mut second = hub_process(&env);
    eventually(
        Duration::from_secs(30),
        "the second process finishes the job",
        || async { job_state(&db, &job).await.0 == "done" },
    )
    .await;
    assert_eq!(
        job_state(&db, &job).await.1,
        2,
        "run exactly twice: killed once, finished once"
    );
    let confirmed = store::get(&db, &tenant, &id)
        .await
        .expect("the booking is confirmed");
    assert_eq!(confirmed.title, "Survivor");
    let created: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM meeting_changes WHERE meeting_id = $1 AND change_type = 'CREATED'",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(created, 1, "the effect happened once");
    second.kill().await.expect("stop");
    drop(keep_database);
}
on_both_engines!(a_job_killed_mid_run_runs_again_once_in_another_process);
