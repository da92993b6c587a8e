//! What the hub benchmarks share: a hub over a fresh database, connected to an in-process
//! Google emulator as a real tenant would be (OAuth consent through the hub's own endpoints),
//! and the statistics they print.

use anyhow::Context;
use emulators::google::{GoogleConfig as EmulatedGoogle, GoogleEmulator};
use hub::{
    Hub,
    auth::{Role, store},
    config::{Config, JobsConfig, Secret},
    connections::seal,
    jobs::Registry,
};
use reqwest::Client;
use serde_json::{Value, json};
use sqlx::Connection;

/// The bench tenant's slug.
pub const TENANT: &str = "bench";

/// The Google account that owns the bench tenant's resource calendars.
pub const ACCOUNT: &str = "rooms@bench.example";

/// A running hub with a tenant connected to the emulated Google.
pub struct BenchHub {
    /// The emulated Google.
    pub google: GoogleEmulator,
    /// The hub.
    pub hub: Hub,
    /// Its admin's token.
    pub token: String,
    /// An HTTP client that shows redirects.
    pub client: Client,
}

/// A fresh PostgreSQL database on the server named by `admin_url`.
pub async fn fresh_postgres(admin_url: &str) -> anyhow::Result<String> {
    let name = format!("corbi_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Starts the emulator and a hub on `database_url` (no client-side rate limit, so the hub's
/// own cost is measured), and connects a bench tenant through the OAuth flow.
pub async fn connected_hub(database_url: &str, poll_ms: u64) -> anyhow::Result<BenchHub> {
    let google = GoogleEmulator::start(EmulatedGoogle {
        allow_http_loopback: true,
        ..EmulatedGoogle::default()
    })
    .await?;
    google.register_oauth_client("bench", "bench-secret");
    google.add_account(ACCOUNT);
    let mut config = Config {
        database_url: Secret::new(database_url),
        bind: "127.0.0.1:0".parse()?,
        mqtt_bind: "127.0.0.1:0".parse()?,
        jobs: JobsConfig {
            poll_ms,
            ..JobsConfig::default()
        },
        ..Config::default()
    };
    let base = google.base_url();
    config.google.client_id = "bench".into();
    config.google.client_secret = Secret::new("bench-secret");
    config.google.auth_url = format!("{base}/o/oauth2/auth");
    config.google.token_url = format!("{base}/token");
    config.google.api_base_url = base;
    config.google.requests_per_second = 100_000;
    config.encryption.keys = Secret::new(seal::generate_key("bench"));
    let hub = Hub::start(config, Registry::new()).await?;
    let db = &hub.state.db;
    let tenant = store::create_tenant(db, TENANT, "Bench").await?;
    let admin = store::create_user(db, &tenant.id, "admin@bench.example", Role::Admin).await?;
    let token = store::issue_personal_token(db, &admin, "bench")
        .await?
        .token;
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let status = hub::demo::consent(&client, hub.base_url(), &token, "tenant", ACCOUNT).await?;
    anyhow::ensure!(status.is_success(), "consent failed: {status}");
    Ok(BenchHub {
        google,
        hub,
        token,
        client,
    })
}

/// Onboards `count` rooms with calendars created for them; returns the API's answers.
pub async fn create_rooms(bench: &BenchHub, count: usize) -> anyhow::Result<Vec<Value>> {
    let mut rooms = Vec::new();
    for n in 0..count {
        let room: Value = bench
            .client
            .post(format!("{}/api/v1/resources", bench.hub.base_url()))
            .bearer_auth(&bench.token)
            .json(&json!({"name": format!("Room {n}"), "kind": "ROOM", "calendar": {"mode": "CREATE"}}))
            .send()
            .await?
            .json()
            .await?;
        room["id"].as_str().context("room id")?;
        rooms.push(room);
    }
    Ok(rooms)
}

/// The `q` quantile of `values` (nearest rank).
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}
