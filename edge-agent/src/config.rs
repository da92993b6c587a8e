//! The agent's settings. The binary fills them from its command line; the UI crate builds them in
//! code. Every duration is an embassy-time [`Duration`] like the rest of the core.

use std::path::PathBuf;

use embassy_time::Duration;

use crate::logic::Backoff;

/// Name of the SQLite cache inside the data directory.
pub const CACHE_FILE: &str = "agent.db";

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the credentials file and the SQLite cache live.
    pub data_dir: PathBuf,
    /// Broker URL overriding the one handed out at enrollment (e.g. a local broker on the site).
    pub mqtt_url: Option<String>,
    /// PEM certificate(s) to trust for `mqtts://` instead of the system's roots: the site's own
    /// CA, or the broker's self-signed certificate.
    pub mqtt_ca: Option<PathBuf>,
    /// A cached schedule older than this makes the agent ask for a fresh one (default 15 min).
    pub max_cache_age: Duration,
    /// How often the agent sends a heartbeat and checks the cache's age (default 60 s).
    pub housekeeping_every: Duration,
    /// MQTT keep-alive: how fast a dead connection is noticed (default 10 s).
    pub keep_alive: Duration,
    /// Waiting between reconnection attempts.
    pub reconnect: Backoff,
}

impl AgentConfig {
    /// Defaults for a device whose files live in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            mqtt_url: None,
            mqtt_ca: None,
            max_cache_age: Duration::from_secs(15 * 60),
            housekeeping_every: Duration::from_secs(60),
            keep_alive: Duration::from_secs(10),
            reconnect: Backoff::default(),
        }
    }

    /// Path of the SQLite cache.
    pub fn cache_path(&self) -> PathBuf {
        self.data_dir.join(CACHE_FILE)
    }
}

/// Converts to the standard library's duration for tokio and rumqttc.
pub(crate) fn to_std(duration: Duration) -> std::time::Duration {
    std::time::Duration::from_micros(duration.as_micros())
}
