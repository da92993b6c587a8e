//! The `edge-agent` daemon: enrolls on first start (or loads its saved credentials), then keeps the
//! device's schedule until stopped with Ctrl-C.
//!
//! `edge-agent --hub URL --data-dir DIR [--enrollment-code CODE] [--mqtt-url URL] [--mqtt-ca PEM]`

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use edge_agent::{Agent, AgentConfig, AgentEvent, SystemClock, load_or_enroll};
use tracing_subscriber::EnvFilter;

/// Command line of the agent.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "CORBI edge agent for a room tablet or bookable device"
)]
struct Args {
    /// Base URL of the hub, used for enrollment.
    #[arg(long, env = "CORBI_HUB_URL")]
    hub: String,
    /// Directory for the credentials file and the SQLite cache (created if missing).
    #[arg(long, env = "CORBI_DATA_DIR")]
    data_dir: PathBuf,
    /// One-time enrollment code from the hub's console; needed on first start only.
    #[arg(long, env = "CORBI_ENROLLMENT_CODE")]
    enrollment_code: Option<String>,
    /// Broker URL overriding the one given at enrollment.
    #[arg(long, env = "CORBI_MQTT_URL")]
    mqtt_url: Option<String>,
    /// PEM certificate(s) to trust for mqtts:// instead of the system's roots.
    #[arg(long, env = "CORBI_MQTT_CA")]
    mqtt_ca: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let identity = load_or_enroll(&args.data_dir, &args.hub, args.enrollment_code.as_deref())
        .await
        .context("device identity")?;
    let mut config = AgentConfig::new(args.data_dir);
    config.mqtt_url = args.mqtt_url;
    config.mqtt_ca = args.mqtt_ca;
    let agent = Agent::start(config, identity, Arc::new(SystemClock)).context("starting")?;
    let mut events = agent.subscribe();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => log_event(event),
        }
    }
    agent.shutdown().await;
    Ok(())
}

fn log_event(event: Result<AgentEvent, tokio::sync::broadcast::error::RecvError>) {
    if let Ok(AgentEvent::ScheduleUpdated { version }) = event {
        tracing::info!(version, "schedule cached");
    }
}
