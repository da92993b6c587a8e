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
    insights::range::OccupancyParams,
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
    let mut compute_ms = Vec::new();
    let mut read_ms = Vec::new();
    let (start_at, end_at) = (
        from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        (to + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    );
    for i in 0..=runs {
        let started = Instant::now();
        let query = format!("from={from}&to={to}");
        hub::insights::answer_occupancy(&db, &tenant_id, OccupancyParams::parse(&query)).await?;
        let answered = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        hub::meetings::usage::overlapping(&db, &tenant_id, start_at, end_at).await?;
        if i > 0 {
            compute_ms.push(answered);
            read_ms.push(started.elapsed().as_secs_f64() * 1000.0);
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
        "| {engine} | the answer without HTTP and JSON (read + arithmetic) | {rows} | {:.1} | {:.1} |",
        p(&compute_ms, 0.5),
        p(&compute_ms, 0.99)
    );
    println!(
        "| {engine} | the narrow read of the range's meetings alone | {rows} | {:.1} | {:.1} |",
        p(&read_ms, 0.5),
        p(&read_ms, 0.99)
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

/// A year of meetings spread evenly over the days and rooms, 30 to 120 minutes between 07:00
/// and 19:00 UTC, mostly attended, some no-shows (a third of them released) and cancellations
/// (none left SCHEDULED in the past, so the no-show sweep has nothing to write during the
/// run); plus one weekly series per room through the hub's own insert. The singles go in as
/// multi-row inserts of generated literals (the per-row insert takes minutes on PostgreSQL).
async fn generate(
    db: &Db,
    tenant_id: &str,
    rooms: &[String],
    first: NaiveDate,
    count: usize,
) -> anyhow::Result<()> {
    let created = Utc::now() - Duration::days(HISTORY_DAYS + 30);
    let mut tx = db.begin_write().await?;
    for (r, room) in rooms.iter().enumerate() {
        let start = first.and_hms_opt(6, 0, 0).unwrap_or_default().and_utc()
            + Duration::days(i64::try_from(r % 7).unwrap_or(0));
        let mut series = meeting(
            tenant_id,
            room,
            &format!("series {r}"),
            start,
            30,
            MeetingStatus::Scheduled,
            2,
            created,
        );
        series.recurrence = Some(vec!["RRULE:FREQ=WEEKLY;COUNT=52".into()]);
        series.series_end = series.computed_series_end();
        hub::meetings::store::insert(&mut tx, &series, None).await?;
    }
    tx.commit().await?;
    let cells = rooms.len() * usize::try_from(HISTORY_DAYS).unwrap_or(1);
    let mut values = Vec::new();
    let mut n: u64 = 0;
    for cell in 0..cells {
        let (day, r) = (cell / rooms.len(), cell % rooms.len());
        let date = first + Duration::days(i64::try_from(day).unwrap_or(0));
        let here = (cell + 1) * count / cells - cell * count / cells;
        for slot in 0..here {
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let roll = (n >> 33) % 100;
            let quarter = i64::try_from(roll % 4).unwrap_or(0);
            let start = date.and_hms_opt(7, 0, 0).unwrap_or_default().and_utc()
                + Duration::minutes(i64::try_from(slot).unwrap_or(0) * 150 + quarter * 15);
            let status = match roll {
                0..=64 => MeetingStatus::Attended,
                65..=84 => MeetingStatus::NoShow,
                _ => MeetingStatus::Cancelled,
            };
            let m = meeting(
                tenant_id,
                &rooms[r],
                "",
                start,
                30 + quarter * 30,
                status,
                roll,
                created,
            );
            let released = if status == MeetingStatus::NoShow && roll.is_multiple_of(3) {
                format!("'{}'", timestamp(start + Duration::minutes(10)))
            } else {
                "NULL".into()
            };
            values.push(format!(
                "('{id}', '{tenant}', '{room}', 'Bench', '{start}', '{end}', 'UTC', '{status}', 'confirmed', 'HUMAN', 'bench', 'CORBI', \
                 '{people}', '{{}}', 'bench-history', 'tenant', '{id}', 0, {released}, '{created}', '{updated}')",
                id = m.id,
                tenant = tenant_id,
                room = rooms[r],
                start = timestamp(m.start),
                end = timestamp(m.end),
                status = status.as_str(),
                people = json!(m.participants),
                created = timestamp(m.created_at),
                updated = timestamp(m.updated_at),
            ));
            if values.len() == 500 {
                flush(db, &mut values).await?;
            }
        }
    }
    flush(db, &mut values).await
}

async fn flush(db: &Db, values: &mut Vec<String>) -> anyhow::Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO meetings (id, tenant_id, resource_id, title, start_at, end_at, time_zone, status, write_state, \
             created_by_type, created_by, source, participants, metadata, calendar_id, connection_owner, google_event_id, \
             sequence, released_at, created_at, updated_at) VALUES {}",
        values.join(", ")
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(db.pool())
        .await?;
    values.clear();
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
