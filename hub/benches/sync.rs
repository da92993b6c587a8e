//! Sync benchmark (issue: two-way sync). Prints three tables, each beside a baseline measured in
//! the same run:
//! (a) webhook acknowledgement latency and throughput with 16 concurrent senders, against a bare
//!     axum handler answering 200 on the same machine;
//! (b) Google `events.list` calls per calendar for a burst of 1,000 external edits across 50
//!     calendars (target ≤ 1.05);
//! (c) time from an external edit in Google to the local row updated, p50/p99, beside the bare
//!     round trip of the edit itself.
//!
//! Run: `cargo bench -p hub --bench sync` (SQLite; `CORBI_TEST_POSTGRES_URL` adds PostgreSQL).

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use common::{BenchHub, TENANT, connected_hub, create_rooms, fresh_postgres, percentile};
use emulators::google::{GoogleEmulator, Role};
use hub::{
    Hub,
    sync::{channels::token_hash, store as sync_store},
};
use reqwest::Client;
use serde_json::{Value, json};
use sqlx::Row;

const OUTSIDER: &str = "outsider@bench.example";
const CALENDARS: usize = 50;
const BURST: usize = 1000;
const WEBHOOKS: usize = 4000;
const SENDERS: usize = 16;
const EDITS: usize = 200;
const FULL: &str = "https://www.googleapis.com/auth/calendar";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    run(
        "sqlite",
        &format!("sqlite://{}", dir.path().join("sync.db").display()),
    )
    .await?;
    match std::env::var("CORBI_TEST_POSTGRES_URL") {
        Ok(admin) => run("postgres", &fresh_postgres(&admin).await?).await?,
        Err(_) => println!("postgres: skipped (set CORBI_TEST_POSTGRES_URL)"),
    }
    Ok(())
}

struct Bench {
    hub: Hub,
    google: GoogleEmulator,
    tenant: String,
    calendars: Vec<String>,
    outsider: String,
    client: Client,
}

async fn run(engine: &str, database_url: &str) -> anyhow::Result<()> {
    let bench = setup(database_url).await?;
    println!("\n## {engine}\n");
    webhook_throughput(&bench).await?;
    burst(&bench).await?;
    latency(&bench).await?;
    bench.hub.stop().await;
    Ok(())
}

async fn setup(database_url: &str) -> anyhow::Result<Bench> {
    let bench = connected_hub(database_url, 100).await?;
    bench.google.add_account(OUTSIDER);
    let mut calendars = Vec::new();
    for room in create_rooms(&bench, CALENDARS).await? {
        let calendar = room["calendar_id"]
            .as_str()
            .context("calendar id")?
            .to_string();
        bench
            .google
            .share_calendar(&calendar, OUTSIDER, Role::Writer);
        calendars.push(calendar);
    }
    let BenchHub {
        google,
        hub,
        client,
        ..
    } = bench;
    let db = &hub.state.db;
    let tenant_id = hub::auth::store::tenant_by_slug(db, TENANT).await?.id;
    for calendar in &calendars {
        wait(Duration::from_secs(120), || async {
            sync_store::calendar(db, &tenant_id, calendar)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.sync_token.is_some())
        })
        .await
        .context("calendars followed")?;
    }
    let outsider = google.issue_access_token(OUTSIDER, &[FULL]);
    Ok(Bench {
        hub,
        google,
        tenant: tenant_id,
        calendars,
        outsider,
        client,
    })
}

async fn wait<F, Fut>(within: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    anyhow::bail!("condition not met in {within:?}")
}

/// Sends `WEBHOOKS` requests from `SENDERS` tasks; returns (latencies ms, requests per second).
async fn hammer(
    url: String,
    headers: Arc<dyn Fn(usize) -> Vec<(String, String)> + Send + Sync>,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let client = Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let (client, url, headers) = (client.clone(), url.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for n in (sender..WEBHOOKS).step_by(SENDERS) {
                let mut request = client.post(&url);
                for (name, value) in headers(n) {
                    request = request.header(name, value);
                }
                let one = Instant::now();
                let status = request.send().await?.status();
                anyhow::ensure!(status.is_success(), "webhook answered {status}");
                latencies.push(one.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok((all, WEBHOOKS as f64 / started.elapsed().as_secs_f64()))
}

async fn webhook_throughput(bench: &Bench) -> anyhow::Result<()> {
    let db = &bench.hub.state.db;
    let channel = uuid::Uuid::new_v4().to_string();
    let token = "bench-channel-token";
    sync_store::insert_channel(
        db,
        &channel,
        &bench.tenant,
        &bench.calendars[0],
        "tenant",
        &token_hash(token),
    )
    .await?;
    sync_store::activate_channel(
        db,
        &channel,
        "bench-resource",
        chrono::Utc::now() + chrono::Duration::days(1),
    )
    .await?;
    let headers: Arc<dyn Fn(usize) -> Vec<(String, String)> + Send + Sync> = Arc::new(move |n| {
        vec![
            ("X-Goog-Channel-ID".into(), channel.clone()),
            ("X-Goog-Channel-Token".into(), token.into()),
            ("X-Goog-Resource-ID".into(), "bench-resource".into()),
            ("X-Goog-Resource-State".into(), "exists".into()),
            (
                "X-Goog-Resource-URI".into(),
                "https://www.googleapis.com/calendar/v3/calendars/x/events".into(),
            ),
            ("X-Goog-Message-Number".into(), (n * 7 + 2).to_string()),
        ]
    });
    let (hub_latencies, hub_rate) = hammer(
        format!("{}/webhooks/google/calendar", bench.hub.base_url()),
        headers.clone(),
    )
    .await?;
    let bare = axum::Router::new().route(
        "/webhooks/google/calendar",
        axum::routing::post(|| async { "" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/webhooks/google/calendar", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, bare).await });
    let (bare_latencies, bare_rate) = hammer(bare_url, headers).await?;
    println!(
        "(a) webhook acknowledgement, {WEBHOOKS} notifications from {SENDERS} concurrent senders\n"
    );
    println!("| handler | p50 ms | p99 ms | per second |");
    println!("|---|---|---|---|");
    println!(
        "| hub webhook (check, receipt, coalesced sync job) | {:.2} | {:.2} | {hub_rate:.0} |",
        percentile(&hub_latencies, 0.5),
        percentile(&hub_latencies, 0.99)
    );
    println!(
        "| bare axum 200 | {:.2} | {:.2} | {bare_rate:.0} |",
        percentile(&bare_latencies, 0.5),
        percentile(&bare_latencies, 0.99)
    );
    println!(
        "| ratio hub / bare | {:.1}x | {:.1}x | {:.2} |\n",
        percentile(&hub_latencies, 0.5) / percentile(&bare_latencies, 0.5),
        percentile(&hub_latencies, 0.99) / percentile(&bare_latencies, 0.99),
        hub_rate / bare_rate
    );
    Ok(())
}

fn events_url(bench: &Bench, calendar: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(calendar.as_bytes()).collect();
    format!(
        "{}/calendar/v3/calendars/{encoded}/events",
        bench.google.base_url()
    )
}

/// One event per calendar made by the outsider, imported by sync; returns (calendar, event id, meeting id).
async fn seed_events(bench: &Bench) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut made = Vec::new();
    for (n, calendar) in bench.calendars.iter().enumerate() {
        let event: Value = bench
            .client
            .post(events_url(bench, calendar))
            .bearer_auth(&bench.outsider)
            .json(&json!({"summary": "seed", "start": {"dateTime": format!("2031-03-{:02}T10:00:00Z", 3 + n % 20)}, "end": {"dateTime": format!("2031-03-{:02}T11:00:00Z", 3 + n % 20)}}))
            .send()
            .await?
            .json()
            .await?;
        made.push((
            calendar.clone(),
            event["id"].as_str().context("event id")?.to_string(),
        ));
    }
    let db = &bench.hub.state.db;
    let mut found = Vec::new();
    for (calendar, event_id) in made {
        let deadline = Instant::now() + Duration::from_secs(60);
        let meeting_id = loop {
            let row = sqlx::query("SELECT id FROM meetings WHERE tenant_id = $1 AND calendar_id = $2 AND google_event_id = $3")
                .bind(&bench.tenant)
                .bind(&calendar)
                .bind(&event_id)
                .fetch_optional(db.pool())
                .await?;
            if let Some(row) = row {
                break row.try_get::<String, _>("id")?;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "event {event_id} was not imported"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        found.push((calendar, event_id, meeting_id));
    }
    Ok(found)
}

async fn title(bench: &Bench, meeting_id: &str) -> String {
    sqlx::query_scalar("SELECT title FROM meetings WHERE tenant_id = $1 AND id = $2")
        .bind(&bench.tenant)
        .bind(meeting_id)
        .fetch_one(bench.hub.state.db.pool())
        .await
        .unwrap_or_default()
}

async fn patch_title(
    bench: &Bench,
    calendar: &str,
    event_id: &str,
    title: &str,
) -> anyhow::Result<()> {
    let status = bench
        .client
        .patch(format!("{}/{event_id}", events_url(bench, calendar)))
        .bearer_auth(&bench.outsider)
        .json(&json!({"summary": title}))
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "patch answered {status}");
    Ok(())
}

fn list_calls(bench: &Bench) -> usize {
    bench
        .google
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/events"))
        .count()
}

async fn burst(bench: &Bench) -> anyhow::Result<()> {
    let events = seed_events(bench).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = list_calls(bench);
    let started = Instant::now();
    for n in 0..BURST {
        let (calendar, event_id, _) = &events[n % events.len()];
        patch_title(bench, calendar, event_id, &format!("edit {n}")).await?;
    }
    let burst_time = started.elapsed();
    for (n, (_, _, meeting_id)) in events.iter().enumerate() {
        let last = (0..BURST)
            .filter(|i| i % events.len() == n)
            .max()
            .unwrap_or(0);
        let expected = format!("edit {last}");
        wait(Duration::from_secs(120), || async {
            title(bench, meeting_id).await == expected
        })
        .await
        .context("burst applied")?;
    }
    let settled = started.elapsed();
    let calls = list_calls(bench) - before;
    println!(
        "(b) a burst of {BURST} external edits across {CALENDARS} calendars (sent in {:.2} s, all applied after {:.2} s)\n",
        burst_time.as_secs_f64(),
        settled.as_secs_f64()
    );
    println!("| events.list calls | per calendar per burst | target |");
    println!("|---|---|---|");
    println!(
        "| {calls} | {:.2} | ≤ 1.05 |\n",
        calls as f64 / CALENDARS as f64
    );
    Ok(())
}

async fn latency(bench: &Bench) -> anyhow::Result<()> {
    let events = seed_events(bench).await?;
    let (calendar, event_id, meeting_id) = &events[0];
    let mut propagation = Vec::new();
    let mut edit_only = Vec::new();
    for n in 0..EDITS {
        let name = format!("latency {n}");
        let sent = Instant::now();
        patch_title(bench, calendar, event_id, &name).await?;
        edit_only.push(sent.elapsed().as_secs_f64() * 1000.0);
        wait(Duration::from_secs(30), || async {
            title(bench, meeting_id).await == name
        })
        .await
        .context("edit applied")?;
        propagation.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "(c) {EDITS} sequential external edits: from the edit in Google to the local row (debounce 250 ms included)\n"
    );
    println!("| what | p50 ms | p99 ms |");
    println!("|---|---|---|");
    println!(
        "| edit in Google → local row updated | {:.1} | {:.1} |",
        percentile(&propagation, 0.5),
        percentile(&propagation, 0.99)
    );
    println!(
        "| the edit's own round trip (floor) | {:.2} | {:.2} |",
        percentile(&edit_only, 0.5),
        percentile(&edit_only, 0.99)
    );
    Ok(())
}
