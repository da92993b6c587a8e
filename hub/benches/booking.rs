//! Booking benchmark (issue: meetings): 1,000 bookings through the API against the Google
//! emulator, on SQLite and (when `CORBI_TEST_POSTGRES_URL` is set) PostgreSQL. Prints latency
//! percentiles and throughput beside the emulator's bare `events.insert` round trip measured in
//! the same run (the floor), and the Google requests per booking.
//!
//! Run: `cargo bench -p hub --bench booking` (`BOOKINGS=N` changes the count).

mod common;

use std::time::{Duration, Instant};

use common::{ACCOUNT, BenchHub, connected_hub, create_rooms, fresh_postgres, percentile};
use serde_json::json;

const ROOMS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bookings: usize = std::env::var("BOOKINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    println!("booking benchmark: {bookings} bookings, {ROOMS} rooms, sequential client\n");
    println!("| engine | what | p50 ms | p99 ms | per second | Google requests per booking |");
    println!("|---|---|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    run(
        "sqlite",
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        bookings,
    )
    .await?;
    match std::env::var("CORBI_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let url = fresh_postgres(&admin).await?;
            run("postgres", &url, bookings).await?;
        }
        Err(_) => println!("| postgres | skipped: set CORBI_TEST_POSTGRES_URL | | | | |"),
    }
    Ok(())
}

async fn run(engine: &str, database_url: &str, bookings: usize) -> anyhow::Result<()> {
    let bench = connected_hub(database_url, 200).await?;
    let rooms: Vec<String> = create_rooms(&bench, ROOMS)
        .await?
        .iter()
        .filter_map(|room| room["id"].as_str().map(str::to_string))
        .collect();
    let BenchHub {
        google,
        hub,
        token,
        client,
        ..
    } = bench;
    let base = google.base_url();

    let floor_token =
        google.issue_access_token(ACCOUNT, &["https://www.googleapis.com/auth/calendar"]);
    let floor_calendar = google.create_calendar(ACCOUNT, "floor");
    let floor = time_each(bookings, |i| {
        let request = client
            .post(format!("{base}/calendar/v3/calendars/{floor_calendar}/events"))
            .bearer_auth(&floor_token)
            .json(&json!({"summary": format!("floor {i}"), "start": {"dateTime": slot(i).0}, "end": {"dateTime": slot(i).1}}));
        async move { request.send().await.map(|r| r.status().is_success()).unwrap_or(false) }
    })
    .await;
    report(engine, "emulator events.insert (floor)", &floor, None);

    let before = google.requests().len();
    let booked = time_each(bookings, |i| {
        let (start, end) = slot(i / ROOMS);
        let body = json!({"title": format!("Bench {i}"), "start": start, "end": end, "time_zone": "UTC", "resource_id": rooms[i % ROOMS]});
        let request = client.post(format!("{}/api/v1/calendar/events", hub.base_url())).bearer_auth(&token).json(&body);
        async move { request.send().await.map(|r| r.status().as_u16() == 201).unwrap_or(false) }
    })
    .await;
    let during = google.requests()[before..].to_vec();
    let per_booking = |keep: &dyn Fn(&str, &str) -> bool| {
        during.iter().filter(|r| keep(&r.method, &r.path)).count() as f64 / bookings as f64
    };
    let freebusy = per_booking(&|_, path| path.ends_with("/freeBusy"));
    let inserts = per_booking(&|method, path| method == "POST" && path.ends_with("/events"));
    let sync_lists = per_booking(&|method, path| method == "GET" && path.ends_with("/events"));
    report(
        engine,
        "book through the API",
        &booked,
        Some(freebusy + inserts),
    );
    println!(
        "| {engine} | per booking: freebusy {freebusy:.2}, insert {inserts:.2}; plus {sync_lists:.2} events.list by sync after pushes | | | | |"
    );
    println!(
        "| {engine} | ratio API p50 / floor p50 | {:.1}x | {:.1}x | | |",
        percentile(&booked.latencies, 0.5) / percentile(&floor.latencies, 0.5),
        percentile(&booked.latencies, 0.99) / percentile(&floor.latencies, 0.99)
    );
    hub.stop().await;
    Ok(())
}

/// A one-hour slot on a distinct weekday morning far in the future, for index `i`.
fn slot(i: usize) -> (String, String) {
    let day = chrono::NaiveDate::from_ymd_opt(2031, 1, 6)
        .map(|d| d + chrono::Duration::days((i / 8) as i64))
        .unwrap_or_default();
    let hour = 8 + (i % 8);
    (
        format!("{day}T{hour:02}:00:00Z"),
        format!("{day}T{hour:02}:59:00Z"),
    )
}

struct Timings {
    latencies: Vec<f64>,
    total: Duration,
    failures: usize,
}

async fn time_each<F, Fut>(count: usize, mut make: F) -> Timings
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    let started = Instant::now();
    for i in 0..count {
        let one = Instant::now();
        if !make(i).await {
            failures += 1;
        }
        latencies.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    Timings {
        latencies,
        total: started.elapsed(),
        failures,
    }
}

fn report(engine: &str, what: &str, timings: &Timings, google_per_booking: Option<f64>) {
    let rate = timings.latencies.len() as f64 / timings.total.as_secs_f64();
    let failures = if timings.failures > 0 {
        format!(" ({} failed)", timings.failures)
    } else {
        String::new()
    };
    println!(
        "| {engine} | {what}{failures} | {:.2} | {:.2} | {rate:.0} | {} |",
        percentile(&timings.latencies, 0.5),
        percentile(&timings.latencies, 0.99),
        google_per_booking.map_or(String::new(), |g| format!("{g:.2}"))
    );
}
