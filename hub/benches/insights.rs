//! Insights benchmark (issue: insights): a generated year of history — ~300,000 meetings on
//! 200 rooms (singles of every status, some released, and weekly series) — then the 90-day,
//! all-rooms occupancy question through the API (auth, the read, the arithmetic, the JSON),
//! p50/p99, beside a plain `SELECT count(*)` over the same meetings in the same run, on SQLite
//! and (when `CORBI_TEST_POSTGRES_URL` is set) PostgreSQL. Targets: < 1 s SQLite, < 300 ms
//! PostgreSQL.
//!
//! Run: `cargo bench -p hub --bench insights` (`MEETINGS=N`, `RUNS=N` change the sizes).

mod common;

use std::time::Instant;

use chrono::{Duration, NaiveDate, Utc};
use common::{BenchHub, TENANT, connected_hub, create_rooms, fresh_postgres, percentile};
use hub::{
    db::{Db, timestamp},
    meetings::model::{Meeting, Participant, WriteState},
};
use serde_json::json;
use shared::{CreatedByType, MeetingStatus, Source};

const ROOMS: usize = 200;
const HISTORY_DAYS: i64 = 365;
const QUESTION_DAYS: i64 = 90;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let meetings: usize = env_number("MEETINGS", 300_000);
    let runs: usize = env_number("RUNS", 30);
    println!(
        "insights benchmark: {meetings} meetings over {HISTORY_DAYS} days on {ROOMS} rooms; \
         the {QUESTION_DAYS}-day all-rooms question, {runs} runs after one warm-up\n"
    );
    println!("| engine | what | rows | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    run(
        "sqlite",
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        meetings,
        runs,
    )
    .await?;
    match std::env::var("CORBI_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = fresh_postgres(&admin).await?;
            run("postgres", &url, meetings, runs).await?;
        }
        Err(_) => println!("| postgres | skipped: set CORBI_TEST_POSTGRES_URL | | | |"),
    }
    Ok(())
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(engine: &str, database_url: &str, count: usize, runs: usize) -> anyhow::Result<()> {
    let bench = connected_hub(database_url, 200).await?;
    let rooms: Vec<String> = create_rooms(&bench, ROOMS)
        .await?
        .iter()
        .filter_map(|room| room["id"].as_str().map(str::to_string))
        .collect();
    let BenchHub {
        google: _google,
        hub,
        token,
        client,
    } = bench;
    let db = hub.state.db.clone();
    let tenant_id: String = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(TENANT)
        .fetch_one(db.pool())
        .await?;
    let today = Utc::now().date_naive();
    let first = today - Duration::days(HISTORY_DAYS);
    let started = Instant::now();
    generate(&db, &tenant_id, &rooms, first, count).await?;
    eprintln!(
        "{engine}: {count} meetings written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let from = today - Duration::days(QUESTION_DAYS);
    let to = today - Duration::days(1);
    let url = format!(
        "{}/api/v1/insights/occupancy?from={from}&to={to}",
        hub.base_url()
    );
    let mut answer_ms = Vec::new();
    let mut bytes = 0;
    for i in 0..=runs {
        let started = Instant::now();
        let response = client.get(&url).bearer_auth(&token).send().await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        bytes = response.bytes().await?.len();
        if i > 0 {
            answer_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let range_start = timestamp(from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    let range_end = timestamp(
        (to + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    );
    let mut count_ms = Vec::new();
    let mut rows = 0_i64;
    for i in 0..=runs {
        let started = Instant::now();
        rows = sqlx::query_scalar(
            "SELECT count(*) FROM meetings WHERE tenant_id = $1 AND start_at < $2 AND end_at > $3",
        )
        .bind(&tenant_id)
        .bind(&range_end)
        .bind(&range_start)
        .fetch_one(db.pool())
        .await?;
        if i > 0 {
            count_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM meetings")
        .fetch_one(db.pool())
        .await?;
    let p = |v: &[f64], q| percentile(v, q);
    println!(
        "| {engine} | GET occupancy, {QUESTION_DAYS} days × {ROOMS} rooms ({} KiB JSON) | {rows} of {all} | {:.1} | {:.1} |",
        bytes / 1024,
        p(&answer_ms, 0.5),
        p(&answer_ms, 0.99)
    );
    println!(
        "| {engine} | SELECT count(*) of the same meetings (floor) | {rows} | {:.1} | {:.1} |",
        p(&count_ms, 0.5),
        p(&count_ms, 0.99)
    );
    println!(
        "| {engine} | ratio occupancy / count(*) at p50 | | {:.1}× | |",
        p(&answer_ms, 0.5) / p(&count_ms, 0.5).max(0.001)
    );
    hub.stop().await;
    Ok(())
}

/// A year of meetings, the same number a day per room, 30 to 120 minutes, mostly attended,
/// some no-shows (a third of them released) and cancellations (none left SCHEDULED in the
/// past, so the no-show sweep has nothing to write during the run); plus one weekly series
/// per room.
async fn generate(
    db: &Db,
    tenant_id: &str,
    rooms: &[String],
    first: NaiveDate,
    count: usize,
) -> anyhow::Result<()> {
    let created = Utc::now() - Duration::days(HISTORY_DAYS + 30);
    let per_room_day = count as f64 / (rooms.len() as f64 * HISTORY_DAYS as f64);
    let slots = per_room_day.ceil().max(1.0) as i64;
    let mut tx = db.begin_write().await?;
    let mut written = 0;
    let mut n: u64 = 0;
    'days: for day in 0..HISTORY_DAYS {
        let date = first + Duration::days(day);
        for (r, room) in rooms.iter().enumerate() {
            for slot in 0..slots {
                if written >= count {
                    break 'days;
                }
                n = n
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let roll = (n >> 33) % 100;
                let start = date.and_hms_opt(7, 0, 0).unwrap_or_default().and_utc()
                    + Duration::minutes(slot * 150 + i64::try_from(roll % 4).unwrap_or(0) * 15);
                let minutes = 30 + i64::try_from(roll % 4).unwrap_or(0) * 30;
                let status = match roll {
                    0..=64 => MeetingStatus::Attended,
                    65..=84 => MeetingStatus::NoShow,
                    _ => MeetingStatus::Cancelled,
                };
                let mut meeting = meeting(
                    tenant_id,
                    room,
                    &format!("{day}-{r}-{slot}"),
                    start,
                    minutes,
                    status,
                    roll,
                    created,
                );
                if day == 0 && slot == 0 {
                    meeting.recurrence = Some(vec!["RRULE:FREQ=WEEKLY;COUNT=52".into()]);
                    meeting.start = start - Duration::minutes(60);
                    meeting.end = meeting.start + Duration::minutes(30);
                    meeting.status = MeetingStatus::Scheduled;
                    meeting.series_end = meeting.computed_series_end();
                }
                hub::meetings::store::insert(&mut tx, &meeting, None).await?;
                if status == MeetingStatus::NoShow && roll % 3 == 0 {
                    sqlx::query(
                        "UPDATE meetings SET released_at = $1 WHERE tenant_id = $2 AND id = $3",
                    )
                    .bind(timestamp(start + Duration::minutes(10)))
                    .bind(tenant_id)
                    .bind(&meeting.id)
                    .execute(&mut *tx)
                    .await?;
                }
                written += 1;
                if written % 5_000 == 0 {
                    tx.commit().await?;
                    tx = db.begin_write().await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn meeting(
    tenant_id: &str,
    room: &str,
    tag: &str,
    start: chrono::DateTime<Utc>,
    minutes: i64,
    status: MeetingStatus,
    roll: u64,
    created: chrono::DateTime<Utc>,
) -> Meeting {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Meeting {
        id: id.clone(),
        tenant_id: tenant_id.to_string(),
        resource_id: Some(room.to_string()),
        title: format!("Bench {tag}"),
        description: None,
        start,
        end: start + Duration::minutes(minutes),
        time_zone: "UTC".into(),
        status,
        write_state: WriteState::Confirmed,
        created_by_type: CreatedByType::Human,
        created_by: "bench".into(),
        source: Source::Corbi,
        organizer_email: None,
        participants: (0..1 + roll % 6)
            .map(|i| Participant {
                email: format!("p{i}@bench.example"),
                name: None,
                phone: None,
                response_status: "accepted".into(),
            })
            .collect(),
        location: None,
        meeting_link: None,
        recurrence: None,
        series_end: None,
        metadata: json!({}),
        calendar_id: "bench-history".into(),
        connection_owner: "tenant".into(),
        google_event_id: id,
        etag: None,
        ical_uid: None,
        sequence: 0,
        google_updated: None,
        checked_in_at: None,
        cancel_reason: None,
        created_at: created,
        updated_at: if status == MeetingStatus::Cancelled {
            start - Duration::hours(1)
        } else {
            created
        },
        last_sync_time: None,
    }
}
