//! Edge benchmark (issue 7): how fast a meeting change made through the API reaches a device's
//! SQLite cache, and how much memory the agent needs.
//!
//! One hub on SQLite with its embedded broker (production defaults, e.g. `JOBS_POLL_MS`), the
//! Google emulator, 100 rooms with one in-process `edge-agent` each. 1,000 bookings, sequential,
//! round-robin over the rooms; each is timed from the API call until the room's agent has cached
//! the new schedule (the agent writes SQLite before it reports the version). Beside it, in the
//! same run: the embedded broker's bare QoS 1 publish → receive round trip (a rumqttc client
//! publishing to itself, payload the size of a sealed ten-meeting schedule), the floor any
//! propagation pays. Memory: the real `edge-agent` binary enrolled on a room with 100 meetings,
//! its `/proc/<pid>/status` read once it has cached them.
//!
//! Run: `cargo build --release -p edge-agent && cargo bench -p hub --bench edge`
//! (`CHANGES=N` and `AGENTS=N` change the counts; without the release `edge-agent` binary the
//! memory row says it was skipped).

use std::{
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DurationRound, Utc};
use edge_agent::{Agent, AgentConfig, DeviceIdentity, EnrollmentResponse, SystemClock};
use emulators::google::{GoogleConfig as EmulatedGoogle, GoogleEmulator};
use hub::{
    Hub,
    auth::{Role, store},
    config::{Config, Secret},
    connections::seal,
    jobs::Registry,
};
use reqwest::Client;
use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Packet, QoS};
use serde_json::{Value, json};
use shared::protocol::{
    self,
    seal::{SealKey, seal},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::broadcast::error::RecvError,
};

const ACCOUNT: &str = "rooms@bench.example";
const WAIT: Duration = Duration::from_secs(30);
const MEMORY_MEETINGS: usize = 100;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (changes, agents) = (count("CHANGES", 1000), count("AGENTS", 100));
    println!(
        "edge benchmark: {changes} changes over {agents} rooms, one agent per room, sequential client; SQLite, embedded broker\n"
    );
    let dir = tempfile::tempdir()?;
    let (_google, hub, bench) = start(&dir.path().join("bench.db")).await?;
    let rooms = bench.rooms(agents + 1).await?;
    let rss_before = vm_status(std::process::id(), "VmRSS");
    let mut devices = Vec::new();
    for (i, room) in rooms[..agents].iter().enumerate() {
        let enrollment = bench.enroll(room).await?;
        let agent_dir = dir.path().join(format!("agent-{i}"));
        let agent = start_agent(&enrollment, agent_dir)?;
        devices.push((room.clone(), enrollment, agent));
    }
    for (_, _, agent) in &devices {
        wait_for(agent, |_| true).await?;
    }
    let rss_agents = vm_status(std::process::id(), "VmRSS");

    let mut total = Vec::with_capacity(changes);
    let mut after_commit = Vec::with_capacity(changes);
    let mut api = Vec::with_capacity(changes);
    let mut failures = 0;
    let started = Instant::now();
    for i in 0..changes {
        let (room, _, agent) = &devices[i % agents];
        let title = format!("Change {i}");
        let t0 = Instant::now();
        let booked = bench.book(room, &title, i / agents).await?;
        let t1 = Instant::now();
        let seen = booked
            && wait_for(agent, |titles| titles.contains(&title))
                .await
                .is_ok();
        if !seen {
            failures += 1;
            continue;
        }
        total.push(ms(t0.elapsed()));
        after_commit.push(ms(t1.elapsed()));
        api.push(ms(t1 - t0));
    }
    let elapsed = started.elapsed();

    let sample = devices[0].2.snapshot().context("a cached schedule")?;
    let encoded = protocol::encode(&protocol::Message::ScheduleSnapshot(sample.snapshot));
    let any_key = SealKey::from_slice(&[7; 32]).context("key")?;
    let payload_len = seal(&any_key, "bench", &encoded).len();
    let memory_room = &rooms[agents];
    let floor_device = bench.enroll(memory_room).await?;
    let floor = broker_round_trip(&hub, &floor_device, changes, payload_len, true).await?;
    let nagle = broker_round_trip(&hub, &floor_device, changes, payload_len, false).await?;

    println!("| what | n | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    row(
        "embedded broker publish → receive (floor, TCP_NODELAY)",
        &floor,
    );
    row("same, rumqttc default (Nagle on)", &nagle);
    row("API call returns 201", &api);
    row("201 → agent's SQLite cache", &after_commit);
    row("API call → agent's SQLite cache", &total);
    println!(
        "\n{} changes in {:.1} s ({:.0}/s), {failures} not seen within {WAIT:?}; floor payload {payload_len} bytes",
        total.len(),
        elapsed.as_secs_f64(),
        total.len() as f64 / elapsed.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (rss_before, rss_agents) {
        println!(
            "in-process agents: bench VmRSS {before} kB → {after} kB with {agents} agents connected ({:.0} kB each)",
            (after - before) as f64 / agents as f64
        );
    }

    match agent_binary() {
        Some(binary) => {
            memory(&bench, memory_room, &binary, &dir.path().join("memory")).await?;
        }
        None => println!(
            "\nagent memory: skipped, build the binary first: cargo build --release -p edge-agent"
        ),
    }
    for (_, _, agent) in &devices {
        agent.shutdown().await;
    }
    hub.stop().await;
    Ok(())
}

/// The hub, its tenant and admin token, and an HTTP client.
struct Bench {
    base: String,
    token: String,
    client: Client,
}

async fn start(db: &std::path::Path) -> anyhow::Result<(GoogleEmulator, Hub, Bench)> {
    let google = GoogleEmulator::start(EmulatedGoogle {
        allow_http_loopback: true,
        ..EmulatedGoogle::default()
    })
    .await?;
    google.register_oauth_client("bench", "bench-secret");
    google.add_account(ACCOUNT);
    let mut config = Config {
        database_url: Secret::new(format!("sqlite://{}", db.display())),
        bind: "127.0.0.1:0".parse()?,
        mqtt_bind: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    let base = google.base_url();
    config.google.client_id = "bench".into();
    config.google.client_secret = Secret::new("bench-secret");
    config.google.auth_url = format!("{base}/o/oauth2/auth");
    config.google.token_url = format!("{base}/token");
    config.google.api_base_url = base.clone();
    config.google.requests_per_second = 100_000;
    config.encryption.keys = Secret::new(seal::generate_key("bench"));
    let hub = Hub::start(config, Registry::new()).await?;
    let db = &hub.state.db;
    let tenant = store::create_tenant(db, "bench", "Bench").await?;
    let admin = store::create_user(db, &tenant.id, "admin@bench.example", Role::Admin).await?;
    let token = store::issue_personal_token(db, &admin, "bench")
        .await?
        .token;
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let status = hub::demo::consent(&client, hub.base_url(), &token, "tenant", ACCOUNT).await?;
    anyhow::ensure!(status.is_success(), "consent failed: {status}");
    let bench = Bench {
        base: hub.base_url().to_string(),
        token,
        client,
    };
    Ok((google, hub, bench))
}

impl Bench {
    async fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }

    async fn rooms(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let mut rooms = Vec::with_capacity(count);
        for n in 0..count {
            let body = json!({"name": format!("Room {n}"), "kind": "ROOM", "calendar": {"mode": "CREATE"}});
            let room: Value = self
                .post("/api/v1/resources", Some(body))
                .await?
                .json()
                .await?;
            rooms.push(room["id"].as_str().context("room id")?.to_string());
        }
        Ok(rooms)
    }

    async fn enrollment_code(&self, room: &str) -> anyhow::Result<String> {
        let path = format!("/api/v1/resources/{room}/devices");
        let created: Value = self.post(&path, None).await?.json().await?;
        Ok(created["enrollment_code"]
            .as_str()
            .context("enrollment code")?
            .to_string())
    }

    async fn enroll(&self, room: &str) -> anyhow::Result<EnrollmentResponse> {
        let code = self.enrollment_code(room).await?;
        let answer = self
            .client
            .post(format!("{}/api/v1/devices/enroll", self.base))
            .json(&json!({"enrollment_code": code}))
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 200, "enrollment: {}", answer.status());
        Ok(answer.json().await?)
    }

    /// Books the `slot`-th half hour from now in `room`; true when the API answered 201.
    async fn book(&self, room: &str, title: &str, slot: usize) -> anyhow::Result<bool> {
        let start = (Utc::now() + chrono::Duration::minutes(10 + 30 * slot as i64))
            .duration_trunc(chrono::Duration::minutes(1))?;
        let end = start + chrono::Duration::minutes(25);
        let body = json!({
            "title": title, "start": start.to_rfc3339(), "end": end.to_rfc3339(), "time_zone": "UTC",
            "resource_id": room,
        });
        let answer = self.post("/api/v1/calendar/events", Some(body)).await?;
        Ok(answer.status() == 201)
    }
}

fn start_agent(enrollment: &EnrollmentResponse, dir: PathBuf) -> anyhow::Result<Agent> {
    std::fs::create_dir_all(&dir)?;
    let identity = DeviceIdentity::from_enrollment(enrollment.clone())?;
    Ok(Agent::start(
        AgentConfig::new(dir),
        identity,
        Arc::new(SystemClock),
    )?)
}

fn titles(agent: &Agent) -> Vec<String> {
    agent
        .snapshot()
        .map(|c| c.snapshot.meetings.into_iter().map(|m| m.title).collect())
        .unwrap_or_default()
}

/// Waits (on the agent's events, not by polling) until its cached schedule satisfies `done`.
async fn wait_for(agent: &Agent, done: impl Fn(&[String]) -> bool) -> anyhow::Result<()> {
    let mut events = agent.subscribe();
    let check = || agent.snapshot().is_some() && done(&titles(agent));
    tokio::time::timeout(WAIT, async {
        while !check() {
            if let Err(RecvError::Closed) = events.recv().await {
                return;
            }
        }
    })
    .await
    .context("the agent never cached the change")
}

/// QoS 1 publish → receive on the embedded broker, a device login publishing to a topic it
/// subscribed to (outside the up topics, so the hub does not see it). With Nagle on, this
/// ping-pong on one connection waits for the broker's delayed ACK (the client's PUBACK for the
/// last message holds back its next PUBLISH), which the hub → agent path does not pay; the
/// floor is therefore measured with TCP_NODELAY, and the default shown beside it.
async fn broker_round_trip(
    hub: &Hub,
    device: &EnrollmentResponse,
    count: usize,
    payload_len: usize,
    nodelay: bool,
) -> anyhow::Result<Vec<f64>> {
    let url = url::Url::parse(hub.state.edge.device_url())?;
    let mut options = MqttOptions::new(
        device.device_id.clone(),
        url.host_str().context("host")?,
        url.port().unwrap_or(1883),
    );
    options.set_credentials(&device.mqtt.username, device.mqtt.password.expose());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(nodelay);
    eventloop.set_network_options(network);
    let topic = format!("bench/{}/echo", device.device_id);
    client.subscribe(&topic, QoS::AtLeastOnce).await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = eventloop.poll().await? {
            break;
        }
    }
    let payload = vec![7u8; payload_len];
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        client
            .publish(&topic, QoS::AtLeastOnce, false, payload.clone())
            .await?;
        loop {
            if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await? {
                break;
            }
        }
        latencies.push(ms(sent.elapsed()));
    }
    let _ = client.disconnect().await;
    Ok(latencies)
}

/// The `edge-agent` binary of this bench's build profile (`target/release` under `cargo
/// bench`), if built.
fn agent_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let release = exe.parent()?.parent()?;
    let binary = release.join("edge-agent");
    binary.is_file().then_some(binary)
}

/// Runs the real agent binary on a room, books 100 meetings there and reads its memory once it
/// has cached them (an in-process observer agent on the same room tells which version that is).
async fn memory(
    bench: &Bench,
    room: &str,
    binary: &std::path::Path,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let observer = start_agent(&bench.enroll(room).await?, dir.join("observer"))?;
    let code = bench.enrollment_code(room).await?;
    let mut child = tokio::process::Command::new(binary)
        .args([
            "--hub",
            &bench.base,
            "--enrollment-code",
            &code,
            "--data-dir",
        ])
        .arg(dir.join("binary"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("agent pid")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let first = cached_version(&mut lines, 0).await?;
    let rss_empty = vm_status(pid, "VmRSS");
    for slot in 0..MEMORY_MEETINGS {
        anyhow::ensure!(
            bench.book(room, &format!("Memory {slot}"), slot).await?,
            "booking {slot} refused"
        );
    }
    wait_for(&observer, |titles| titles.len() >= MEMORY_MEETINGS).await?;
    let version = observer.snapshot().context("observer")?.snapshot.version;
    cached_version(&mut lines, version).await?;
    let (rss, peak) = (vm_status(pid, "VmRSS"), vm_status(pid, "VmHWM"));
    println!(
        "\nagent memory ({}, pid {pid}): VmRSS {} kB with an empty schedule (v{first}), {} kB with {MEMORY_MEETINGS} meetings cached (v{version}); peak VmHWM {} kB",
        binary.display(),
        show(rss_empty),
        show(rss),
        show(peak)
    );
    observer.shutdown().await;
    child.kill().await?;
    Ok(())
}

/// Reads the agent's log until it reports a cached schedule of at least `version`.
async fn cached_version(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    version: u64,
) -> anyhow::Result<u64> {
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await? {
            let Some(found) = plain(&line)
                .split_once("schedule cached version=")
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
            else {
                continue;
            };
            if found >= version {
                return Ok(found);
            }
        }
        anyhow::bail!("the agent exited")
    })
    .await
    .context("the agent binary never cached the schedule")?
}

/// A log line without ANSI colour codes.
fn plain(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            text.push(c);
        }
    }
    text
}

/// A `/proc/<pid>/status` field in kB.
fn vm_status(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn show(kb: Option<u64>) -> String {
    kb.map_or_else(|| "?".into(), |kb| kb.to_string())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

fn row(what: &str, values: &[f64]) {
    let max = values.iter().copied().fold(0.0, f64::max);
    println!(
        "| {what} | {} | {:.2} | {:.2} | {max:.2} |",
        values.len(),
        percentile(values, 0.5),
        percentile(values, 0.99)
    );
}
