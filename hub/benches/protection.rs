//! Protection benchmark (issue 16): requests per second of an authenticated GET
//! (`/api/v1/resources` with an AI key) through hubs started in the same run: rate limits off,
//! rate limits on (set so high nothing is refused, so the cost of the check shows), and HTTPS
//! (rate limits on) over HTTP/2 and HTTP/1.1. Rounds alternate between the hubs so machine
//! load falls on all alike; the median round is printed, with each as a ratio to limits-off.
//!
//! Run: `cargo bench -p hub --bench protection` (`REQUESTS=N`, `ROUNDS=N`, `PARALLEL=N`).

use std::time::Instant;

use futures::{StreamExt, stream};
use hub::{
    Hub,
    auth::{Role, store},
    config::{Config, Secret},
    jobs::Registry,
};
use shared::ActorType;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Target {
    name: &'static str,
    hub: Hub,
    client: reqwest::Client,
    key: String,
    rates: Vec<f64>,
}

async fn start(
    name: &'static str,
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut Config),
    client: reqwest::Client,
) -> anyhow::Result<Target> {
    let mut config = Config {
        database_url: Secret::new(format!(
            "sqlite://{}",
            dir.join(format!(
                "{}.db",
                name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ))
            .display()
        )),
        bind: "127.0.0.1:0".parse()?,
        mqtt_bind: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    adjust(&mut config);
    let hub = Hub::start(config, Registry::new()).await?;
    let tenant = store::create_tenant(&hub.state.db, "bench", "bench").await?;
    store::create_user(
        &hub.state.db,
        &tenant.id,
        "admin@bench.example.com",
        Role::Admin,
    )
    .await?;
    let key = store::issue_api_key(&hub.state.db, &tenant.id, "bench", ActorType::Ai)
        .await?
        .token;
    Ok(Target {
        name,
        hub,
        client,
        key,
        rates: Vec::new(),
    })
}

async fn round(target: &Target, requests: usize, parallel: usize) -> anyhow::Result<f64> {
    let url = format!("{}/api/v1/resources", target.hub.base_url());
    let started = Instant::now();
    let statuses: Vec<_> = stream::iter(
        (0..requests).map(|_| target.client.get(&url).bearer_auth(&target.key).send()),
    )
    .buffer_unordered(parallel)
    .collect()
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    for status in statuses {
        anyhow::ensure!(status?.status() == 200, "{}: a request failed", target.name);
    }
    Ok(requests as f64 / elapsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests = env("REQUESTS", 2000);
    let rounds = env("ROUNDS", 5);
    let parallel = env("PARALLEL", 8);
    let dir = tempfile::tempdir()?;
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem())?;
    std::fs::write(&key, made.signing_key.serialize_pem())?;
    let root = reqwest::Certificate::from_pem(made.cert.pem().as_bytes())?;
    let high = |config: &mut Config| {
        config.limits.credential_per_second = 1_000_000;
        config.limits.credential_burst = 1_000_000;
        config.limits.tenant_per_second = 1_000_000;
        config.limits.tenant_burst = 1_000_000;
    };
    let tls = |config: &mut Config| {
        high(config);
        config.tls.cert = cert.display().to_string();
        config.tls.key = key.display().to_string();
    };
    let mut targets = vec![
        start(
            "plain, rate limits off",
            dir.path(),
            |config| {
                config.limits.credential_per_second = 0;
                config.limits.tenant_per_second = 0;
            },
            reqwest::Client::new(),
        )
        .await?,
        start(
            "plain, rate limits on",
            dir.path(),
            high,
            reqwest::Client::new(),
        )
        .await?,
        start(
            "HTTPS HTTP/2, rate limits on",
            dir.path(),
            tls,
            reqwest::Client::builder()
                .add_root_certificate(root.clone())
                .build()?,
        )
        .await?,
        start(
            "HTTPS HTTP/1.1, rate limits on",
            dir.path(),
            tls,
            reqwest::Client::builder()
                .add_root_certificate(root)
                .http1_only()
                .build()?,
        )
        .await?,
    ];
    for target in &targets {
        round(target, requests / 10, parallel).await?;
    }
    for _ in 0..rounds {
        for target in &mut targets {
            let rate = round(target, requests, parallel).await?;
            target.rates.push(rate);
        }
    }
    println!(
        "protection benchmark: authenticated GET, {requests} requests x {rounds} rounds, {parallel} in flight, SQLite\n"
    );
    println!("| hub | requests per second (median round) | ratio to limits off |");
    println!("|---|---|---|");
    let median = |rates: &[f64]| {
        let mut sorted = rates.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let baseline = median(&targets[0].rates);
    for target in &targets {
        let rate = median(&target.rates);
        println!("| {} | {rate:.0} | {:.2} |", target.name, rate / baseline);
    }
    for target in targets {
        target.hub.stop().await;
    }
    Ok(())
}
