//! MCP benchmark (issue 19): the latency of a tool call over MCP (rmcp's Streamable HTTP
//! client, protocol 2026-07-28) against the same REST call, in the same run, on one hub on
//! SQLite with the Google emulator: `find_free_slots` versus `GET /api/v1/calendar/free-slots`
//! and `book_meeting` versus `POST /api/v1/calendar/events`. The two are interleaved call by
//! call so that both see the same machine load; booking goes to two rooms, one per path.
//!
//! Run: `cargo bench -p hub --bench mcp` (`CALLS=N` changes the count per kind, default 300).

mod common;

use std::time::Instant;

use common::{connected_hub, create_rooms, fresh_postgres, percentile};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt,
    model::{CallToolRequestParams, ClientConfig, ProtocolVersion},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    println!("MCP benchmark: {calls} calls of each kind, sequential client, interleaved\n");
    println!(
        "| engine | what | REST p50 ms | REST p99 ms | MCP p50 ms | MCP p99 ms | MCP/REST p50 | MCP/REST p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("sqlite", &sqlite, calls).await?;
    match std::env::var("CORBI_TEST_POSTGRES_URL") {
        Ok(admin) => run("postgres", &fresh_postgres(&admin).await?, calls).await?,
        Err(_) => println!("| postgres | skipped: set CORBI_TEST_POSTGRES_URL | | | | | | |"),
    }
    Ok(())
}

async fn run(engine: &str, url: &str, calls: usize) -> anyhow::Result<()> {
    let bench = connected_hub(url, 200).await?;
    let rooms: Vec<String> = create_rooms(&bench, 2)
        .await?
        .iter()
        .filter_map(|room| room["id"].as_str().map(str::to_string))
        .collect();
    let (rest_room, mcp_room) = (rooms[0].clone(), rooms[1].clone());
    let base = bench.hub.base_url().to_string();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
            .auth_header(bench.token.clone()),
    );
    let mcp = ClientConfig::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::LATEST],
            },
        )
        .await?;
    let tool = |name: &'static str, args: Value| {
        let args = match args {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        CallToolRequestParams::new(name).with_arguments(args)
    };

    let (mut rest, mut over_mcp) = (Vec::new(), Vec::new());
    for i in 0..calls {
        let (from, to) = day(i);
        let started = Instant::now();
        let answer = bench
            .client
            .get(format!("{base}/api/v1/calendar/free-slots"))
            .query(&[
                ("duration_minutes", "60"),
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("time_zone", "UTC"),
                ("resource_id", rest_room.as_str()),
            ])
            .bearer_auth(&bench.token)
            .send()
            .await?;
        anyhow::ensure!(
            answer.status() == 200,
            "free-slots answered {}",
            answer.status()
        );
        answer.bytes().await?;
        rest.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let result = mcp
            .call_tool(tool(
                "find_free_slots",
                json!({"duration_minutes": 60, "from": from, "to": to, "time_zone": "UTC", "resource_id": mcp_room}),
            ))
            .await?;
        anyhow::ensure!(result.is_error == Some(false), "find_free_slots failed");
        over_mcp.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    report(engine, "find_free_slots", &rest, &over_mcp);

    let (mut rest, mut over_mcp) = (Vec::new(), Vec::new());
    let (mut google_rest, mut google_mcp) = (0, 0);
    for i in 0..calls {
        let (start, end) = slot(i);
        let before = bench.google.requests().len();
        let started = Instant::now();
        let answer = bench
            .client
            .post(format!("{base}/api/v1/calendar/events"))
            .bearer_auth(&bench.token)
            .json(&json!({"title": format!("REST {i}"), "start": start, "end": end, "time_zone": "UTC", "resource_id": rest_room}))
            .send()
            .await?;
        anyhow::ensure!(
            answer.status() == 201,
            "booking answered {}",
            answer.status()
        );
        answer.bytes().await?;
        rest.push(started.elapsed().as_secs_f64() * 1000.0);
        let middle = bench.google.requests().len();
        google_rest += middle - before;
        let started = Instant::now();
        let result = mcp
            .call_tool(tool(
                "book_meeting",
                json!({"title": format!("MCP {i}"), "start": start, "end": end, "time_zone": "UTC", "resource_id": mcp_room}),
            ))
            .await?;
        anyhow::ensure!(result.is_error == Some(false), "book_meeting failed");
        over_mcp.push(started.elapsed().as_secs_f64() * 1000.0);
        google_mcp += bench.google.requests().len() - middle;
    }
    report(engine, "book_meeting", &rest, &over_mcp);
    println!(
        "| {engine} | Google requests per booking (incl. background sync): REST {:.2}, MCP {:.2} | | | | | | |",
        google_rest as f64 / calls as f64,
        google_mcp as f64 / calls as f64
    );

    mcp.cancel().await?;
    bench.hub.stop().await;
    Ok(())
}

/// A working day far ahead (UTC 08:00 to 18:00), a different one for every 50 calls.
fn day(i: usize) -> (String, String) {
    let date = chrono::NaiveDate::from_ymd_opt(2031, 3, 3)
        .map(|d| d + chrono::Duration::weeks((i / 50) as i64))
        .unwrap_or_default();
    (format!("{date}T08:00:00Z"), format!("{date}T18:00:00Z"))
}

/// A distinct one-hour slot for booking `i`.
fn slot(i: usize) -> (String, String) {
    let date = chrono::NaiveDate::from_ymd_opt(2032, 1, 5)
        .map(|d| d + chrono::Duration::days((i / 8) as i64))
        .unwrap_or_default();
    let hour = 8 + (i % 8);
    (
        format!("{date}T{hour:02}:00:00Z"),
        format!("{date}T{hour:02}:59:00Z"),
    )
}

fn report(engine: &str, what: &str, rest: &[f64], over_mcp: &[f64]) {
    let (r50, r99) = (percentile(rest, 0.5), percentile(rest, 0.99));
    let (m50, m99) = (percentile(over_mcp, 0.5), percentile(over_mcp, 0.99));
    println!(
        "| {engine} | {what} | {r50:.2} | {r99:.2} | {m50:.2} | {m99:.2} | {:.2}x | {:.2}x |",
        m50 / r50,
        m99 / r99
    );
}
