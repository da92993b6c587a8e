//! Requests per second of the Google emulator for `events.insert` and `events.list`
//! (`maxResults=250`) over HTTP on loopback, with N concurrent clients. Not a test: run with
//! `cargo bench -p corbi-emulators --bench throughput` and read the table. Each row is set
//! beside a baseline measured in the same run: a bare axum handler on loopback answering the
//! same bytes (a fixed event for inserts, a captured 250-event page for lists), so the ratio is
//! the emulator's own cost over HTTP and JSON transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use emulators::google::{GoogleConfig, GoogleEmulator, SCOPE_PREFIX};
use serde_json::json;

const ACCOUNT: &str = "bench@example.com";
const RUN: Duration = Duration::from_secs(3);
const SEEDED: usize = 1000;

#[derive(Clone, Copy)]
enum Op {
    Insert,
    List,
}

async fn run(base: &str, token: &str, op: Op, clients: usize) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, done, token) = (http.clone(), Arc::clone(&done), token.to_owned());
        let url = format!("{base}/calendar/v3/calendars/primary/events");
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let request = match op {
                    Op::Insert => http.post(&url).json(&json!({
                        "summary": "bench",
                        "start": { "dateTime": "2026-01-01T10:00:00Z" },
                        "end": { "dateTime": "2026-01-01T11:00:00Z" },
                    })),
                    Op::List => http.get(format!("{url}?maxResults=250")),
                };
                let response = request.bearer_auth(&token).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                response.bytes().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / RUN.as_secs_f64())
}

async fn seeded(events: usize) -> anyhow::Result<(GoogleEmulator, String)> {
    let emulator = GoogleEmulator::start(GoogleConfig::default()).await?;
    emulator.add_account(ACCOUNT);
    let token = emulator.issue_access_token(ACCOUNT, &[&format!("{SCOPE_PREFIX}calendar")]);
    let http = reqwest::Client::new();
    let url = format!(
        "{}/calendar/v3/calendars/primary/events",
        emulator.base_url()
    );
    for i in 0..events {
        let body = json!({
            "summary": format!("seed {i}"),
            "start": { "dateTime": "2026-01-01T10:00:00Z" },
            "end": { "dateTime": "2026-01-01T11:00:00Z" },
        });
        http.post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
    }
    Ok((emulator, token))
}

/// A bare axum server answering every events request with fixed bytes.
async fn baseline(insert_body: String, list_body: String) -> anyhow::Result<String> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/calendar/v3/calendars/primary/events",
        get(move || std::future::ready(list_body.clone()))
            .post(move || std::future::ready(insert_body.clone())),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

async fn captured(base: &str, token: &str, op: Op) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let url = format!("{base}/calendar/v3/calendars/primary/events");
    let request = match op {
        Op::Insert => http.post(&url).json(&json!({"summary": "bench", "start": {"dateTime": "2026-01-01T10:00:00Z"}, "end": {"dateTime": "2026-01-01T11:00:00Z"}})),
        Op::List => http.get(format!("{url}?maxResults=250")),
    };
    Ok(request.bearer_auth(token).send().await?.text().await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (emulator, token) = seeded(SEEDED).await?;
    let bare = baseline(
        captured(&emulator.base_url(), &token, Op::Insert).await?,
        captured(&emulator.base_url(), &token, Op::List).await?,
    )
    .await?;
    println!("| operation | clients | emulator req/s | bare axum req/s | emulator / bare |");
    println!("|---|---|---|---|---|");
    for clients in [1, 4, 16] {
        let (emulator, token) = seeded(0).await?;
        let rate = run(&emulator.base_url(), &token, Op::Insert, clients).await?;
        let floor = run(&bare, &token, Op::Insert, clients).await?;
        println!(
            "| events.insert | {clients} | {rate:.0} | {floor:.0} | {:.2} |",
            rate / floor
        );
    }
    for clients in [1, 4, 16] {
        let rate = run(&emulator.base_url(), &token, Op::List, clients).await?;
        let floor = run(&bare, &token, Op::List, clients).await?;
        println!(
            "| events.list (250/page of {SEEDED}) | {clients} | {rate:.0} | {floor:.0} | {:.2} |",
            rate / floor
        );
    }
    Ok(())
}
