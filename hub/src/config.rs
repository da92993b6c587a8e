//! Configuration, layered: built-in defaults, then `corbi.toml` (or the file named by
//! `CORBI_CONFIG`), then environment variables. Every key is documented where it is declared,
//! and `hub default-config` prints [`DEFAULT_CONFIG_TOML`] as a commented example.
//! Secrets are wrapped in [`Secret`] so that `Debug` and logs never show them.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that has to use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The hub's configuration; see [`DEFAULT_CONFIG_TOML`] for every key with its meaning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://corbi.db` (embedded, created if missing) or `postgres://…`.
    /// Secret because a PostgreSQL URL may carry a password.
    pub database_url: Secret,
    /// `BIND`: address of the HTTP API; port 0 picks a free port.
    pub bind: SocketAddr,
    /// `PUBLIC_URL`: the URL people and Google use to reach this hub (links, OAuth redirects,
    /// webhooks). Empty means `http://{BIND}`.
    pub public_url: String,
    /// `MQTT_URL`: an external broker (`mqtt://host:1883`); empty runs the embedded broker.
    pub mqtt_url: String,
    /// `MQTT_BIND`: address of the embedded broker; port 0 picks a free port.
    pub mqtt_bind: SocketAddr,
    /// `MQTT_USERNAME`: the hub's own login on an external broker (empty: anonymous).
    pub mqtt_username: String,
    /// `MQTT_PASSWORD`: its password.
    pub mqtt_password: Secret,
    /// `MQTT_PUBLIC_URL`: the broker URL handed to devices at enrollment; empty means
    /// `MQTT_URL`, or `mqtt://{bound address}` (`mqtts://` with TLS) of the embedded broker.
    pub mqtt_public_url: String,
    /// `MQTT_TLS_CERT`: PEM certificate chain for the embedded broker; with `MQTT_TLS_KEY` the
    /// devices' listener on `MQTT_BIND` speaks TLS only, so passwords and sealed payloads do
    /// not cross the network in the clear. Empty: plain MQTT.
    pub mqtt_tls_cert: String,
    /// `MQTT_TLS_KEY`: the PEM private key of `MQTT_TLS_CERT`.
    pub mqtt_tls_key: String,
    /// `MQTT_DYNSEC`: the external broker is Mosquitto with its dynamic security plugin, and
    /// the hub's login may use `$CONTROL/dynamic-security/v1`: each enrollment then creates
    /// the device's broker client and a role with exactly its topics, each revocation deletes
    /// them (see docs/EDGE-BROKER.md). Off: the broker's logins and ACLs are the operator's.
    pub mqtt_dynsec: bool,
    /// `METRICS_TOKEN`: `/metrics` answers only requests bearing this token; empty turns
    /// `/metrics` off (404), so the hub's internals are never public by default.
    pub metrics_token: Secret,
    /// `MAX_BODY_BYTES`: requests with a larger body are refused with 413.
    pub max_body_bytes: usize,
    /// `LOG_FORMAT`: `text` for people, `json` for log shippers.
    pub log_format: String,
    /// Background job runner settings.
    pub jobs: JobsConfig,
    /// Keys that seal OAuth tokens and other secrets at rest.
    pub encryption: EncryptionConfig,
    /// The Google OAuth client and API endpoints.
    pub google: GoogleConfig,
    /// The notification vendors' endpoints (SendGrid, Twilio).
    pub notify: NotifyConfig,
    /// Edge devices: schedule publishing and device messages.
    pub edge: EdgeConfig,
    /// Two-way sync with Google: push channels, debounce, safety-net schedule.
    pub sync: SyncConfig,
    /// The web console: sessions and sign-in links.
    pub console: ConsoleConfig,
    /// Rate limits, request timeout and trusted proxies (`hub::protection`).
    pub limits: LimitsConfig,
    /// HTTPS served by the hub itself (`hub::protection::tls`).
    pub tls: TlsConfig,
}

/// How much work one caller may ask of the hub, and whom to believe about the caller's address.
/// A `*_per_second` of 0 turns that class off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// `RATE_LIMIT_CREDENTIAL_PER_SECOND`: sustained requests per second of one token, API key,
    /// device token or console session.
    pub credential_per_second: u32,
    /// `RATE_LIMIT_CREDENTIAL_BURST`: requests one credential may make at once above that rate.
    pub credential_burst: u32,
    /// `RATE_LIMIT_TENANT_PER_SECOND`: sustained requests per second of all of a tenant's
    /// credentials together.
    pub tenant_per_second: u32,
    /// `RATE_LIMIT_TENANT_BURST`: the tenant's burst.
    pub tenant_burst: u32,
    /// `RATE_LIMIT_ADDRESS_PER_SECOND`: sustained requests per second from one client address
    /// to the routes that need no credential (device enrollment, sign-in, the OAuth callback).
    pub address_per_second: u32,
    /// `RATE_LIMIT_ADDRESS_BURST`: that address's burst.
    pub address_burst: u32,
    /// `RATE_LIMIT_WEBHOOK_PER_SECOND`: sustained webhook requests per second from one address
    /// (Google and Twilio notifications); generous, so a vendor is never refused normally.
    pub webhook_per_second: u32,
    /// `RATE_LIMIT_WEBHOOK_BURST`: that address's webhook burst.
    pub webhook_burst: u32,
    /// `REQUEST_TIMEOUT_SECS`: a request not answered within this time is abandoned (0: none).
    pub request_timeout_secs: u64,
    /// `TRUSTED_PROXIES`: comma-separated CIDR blocks (`10.0.0.0/8,127.0.0.1/32`) of proxies
    /// whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; empty believes nobody.
    pub trusted_proxies: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            credential_per_second: 20,
            credential_burst: 300,
            tenant_per_second: 100,
            tenant_burst: 500,
            address_per_second: 5,
            address_burst: 60,
            webhook_per_second: 100,
            webhook_burst: 1000,
            request_timeout_secs: 60,
            trusted_proxies: String::new(),
        }
    }
}

/// HTTPS without a proxy: with a certificate and key the API listener on `BIND` speaks TLS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// `TLS_CERT`: path of the PEM certificate chain; reloaded on SIGHUP or when the file
    /// changes. Empty: plain HTTP.
    pub cert: String,
    /// `TLS_KEY`: path of its PEM private key.
    pub key: String,
    /// `HTTP_REDIRECT_BIND`: with TLS on, an optional plain-HTTP address that only redirects
    /// to `PUBLIC_URL` (for people who type the bare host name). Empty: none.
    pub redirect_bind: String,
}

impl TlsConfig {
    /// True when the hub serves HTTPS.
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty() && !self.key.is_empty()
    }
}

/// How people stay signed in to the web console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleConfig {
    /// `CONSOLE_SESSION_IDLE_MINUTES`: a session nobody used for this long ends.
    pub session_idle_minutes: u32,
    /// `CONSOLE_SESSION_MAX_HOURS`: every session ends this long after sign-in.
    pub session_max_hours: u32,
    /// `CONSOLE_SIGNIN_LINK_MINUTES`: how long a one-time sign-in link stays usable.
    pub signin_link_minutes: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_idle_minutes: 7 * 24 * 60,
            session_max_hours: 30 * 24,
            signin_link_minutes: 15,
        }
    }
}

/// Where the notification vendors are reached; the defaults are the vendors' own. Tenants'
/// credentials are tenant configuration (sealed in the database), not hub configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// `SENDGRID_BASE_URL`: root of SendGrid's v3 API (`/v3/mail/send` is appended).
    pub sendgrid_base_url: String,
    /// `TWILIO_BASE_URL`: root of Twilio's REST API (`/2010-04-01/Accounts/…` is appended).
    pub twilio_base_url: String,
    /// `NOTIFY_TIMEOUT_MS`: timeout of one request to a vendor. A request that times out after
    /// it was sent may have been accepted, so it is never resent (see `hub::notify`).
    pub timeout_ms: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            sendgrid_base_url: "https://api.sendgrid.com".into(),
            twilio_base_url: "https://api.twilio.com".into(),
            timeout_ms: 10_000,
        }
    }
}

/// How schedules reach the devices and what the hub accepts from them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EdgeConfig {
    /// `EDGE_SNAPSHOT_DAYS`: a published schedule holds today plus this many following days.
    pub snapshot_days: u32,
    /// `EDGE_SNAPSHOT_MAX_BYTES`: a published schedule is cut to this many encoded bytes
    /// (fewer days, then shorter titles, then fewer meetings), so it always fits the broker's
    /// packet limit; at most the protocol's 262144. Lower it to fit a broker with a smaller
    /// `message_size_limit`.
    pub snapshot_max_bytes: usize,
    /// `EDGE_ENROLLMENT_TTL_MINUTES`: how long an enrollment code stays usable.
    pub enrollment_ttl_minutes: u32,
    /// `EDGE_MAX_MESSAGE_AGE_SECS`: device messages made longer ago than this are dropped, so a
    /// captured message cannot be replayed later (bounds how long a device may stay offline).
    pub max_message_age_secs: u64,
    /// `EDGE_MAX_CLOCK_SKEW_SECS`: how far in the future a device's clock may be.
    pub max_clock_skew_secs: u64,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            snapshot_days: 7,
            snapshot_max_bytes: 256 * 1024 - 4096,
            enrollment_ttl_minutes: 60,
            max_message_age_secs: 24 * 3600,
            max_clock_skew_secs: 300,
        }
    }
}

/// How two-way sync with Google runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncConfig {
    /// `SYNC_DEBOUNCE_MS`: a calendar's sync runs this long after the first notification of a
    /// burst, so a burst of edits costs one or two list calls.
    pub debounce_ms: u64,
    /// `SYNC_SAFETY_INTERVAL_SECS`: every calendar is synced at least this often, catching up
    /// notifications Google lost.
    pub safety_interval_secs: u64,
    /// `SYNC_CHECK_SECS`: how often the scheduler looks for due safety-net syncs and channels
    /// to renew.
    pub check_secs: u64,
    /// `SYNC_CHANNEL_TTL_SECS`: the channel lifetime asked of Google (Google may grant less).
    pub channel_ttl_secs: u64,
    /// `SYNC_RENEW_BEFORE_SECS`: a channel is replaced this long before it expires.
    pub renew_before_secs: u64,
    /// `SYNC_FAILURE_BACKOFF_MAX_SECS`: the longest pause of a calendar's safety-net sync after
    /// repeated failures (the pause doubles per failure from the check interval).
    pub failure_backoff_max_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            debounce_ms: 250,
            safety_interval_secs: 900,
            check_secs: 60,
            channel_ttl_secs: 604_800,
            renew_before_secs: 86_400,
            failure_backoff_max_secs: 3600,
        }
    }
}

/// Keys for sealing secrets at rest. Several keys may be listed so old data stays readable while
/// `hub rotate-keys` re-seals it under the active one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EncryptionConfig {
    /// `ENCRYPTION_KEYS`: comma-separated `id:base64-of-32-bytes` pairs.
    pub keys: Secret,
    /// `ENCRYPTION_KEY_ID`: the key that seals new data; empty means the first listed.
    pub active_key_id: String,
}

/// Google OAuth client and endpoints; the defaults are Google's own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GoogleConfig {
    /// `GOOGLE_CLIENT_ID`: the OAuth client id of this CORBI installation.
    pub client_id: String,
    /// `GOOGLE_CLIENT_SECRET`: its secret.
    pub client_secret: Secret,
    /// `GOOGLE_AUTH_URL`: the authorization endpoint people are sent to.
    pub auth_url: String,
    /// `GOOGLE_TOKEN_URL`: the token endpoint (code exchange, refresh).
    pub token_url: String,
    /// `GOOGLE_REVOKE_URL`: where tokens are revoked on disconnect.
    pub revoke_url: String,
    /// `GOOGLE_API_BASE_URL`: root of the Calendar API (`…/calendar/v3/` is appended).
    pub api_base_url: String,
    /// `GOOGLE_ISSUER`: the OpenID Connect issuer people sign in with; its discovery document
    /// (`{issuer}/.well-known/openid-configuration`) names the other endpoints and the keys.
    pub issuer: String,
    /// `GOOGLE_REQUESTS_PER_SECOND`: per-connection token bucket, below Google's per-user quota.
    pub requests_per_second: u32,
    /// `GOOGLE_RETRY_DEADLINE_MS`: how long one call may keep retrying rate limits and 5xx.
    pub retry_deadline_ms: u64,
    /// `GOOGLE_TIMEOUT_MS`: timeout of a single HTTP request to Google.
    pub timeout_ms: u64,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            client_id: String::new(),
            client_secret: Secret::default(),
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            revoke_url: "https://oauth2.googleapis.com/revoke".into(),
            api_base_url: "https://www.googleapis.com".into(),
            issuer: "https://accounts.google.com".into(),
            requests_per_second: 8,
            retry_deadline_ms: 10_000,
            timeout_ms: 15_000,
        }
    }
}

/// How the durable job queue runs in this process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsConfig {
    /// `JOBS_WORKERS`: jobs run at once by this process; 0 runs no worker (API-only replica).
    pub workers: usize,
    /// `JOBS_POLL_MS`: how often an idle worker looks for due jobs written by other processes.
    pub poll_ms: u64,
    /// `JOBS_LEASE_SECS`: a claimed job not finished within this time is taken again by
    /// another worker (its first runner is presumed dead).
    pub lease_secs: u64,
    /// `JOBS_MAX_ATTEMPTS`: attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// `JOBS_BACKOFF_BASE_MS`: delay before the first retry; doubles each attempt, with jitter.
    pub backoff_base_ms: u64,
    /// `JOBS_BACKOFF_MAX_SECS`: the longest delay between two attempts.
    pub backoff_max_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: 4,
            poll_ms: 1000,
            lease_secs: 300,
            max_attempts: 8,
            backoff_base_ms: 2000,
            backoff_max_secs: 3600,
        }
    }
}

impl JobsConfig {
    /// The lease as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    /// The idle poll interval as a duration.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: Secret::new("sqlite://corbi.db"),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: String::new(),
            mqtt_url: String::new(),
            mqtt_bind: SocketAddr::from(([127, 0, 0, 1], 1883)),
            mqtt_username: String::new(),
            mqtt_password: Secret::default(),
            mqtt_public_url: String::new(),
            mqtt_tls_cert: String::new(),
            mqtt_tls_key: String::new(),
            mqtt_dynsec: false,
            metrics_token: Secret::default(),
            max_body_bytes: 1024 * 1024,
            log_format: "text".into(),
            jobs: JobsConfig::default(),
            encryption: EncryptionConfig::default(),
            google: GoogleConfig::default(),
            notify: NotifyConfig::default(),
            edge: EdgeConfig::default(),
            sync: SyncConfig::default(),
            console: ConsoleConfig::default(),
            limits: LimitsConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// A commented example of every key, printed by `hub default-config`.
pub const DEFAULT_CONFIG_TOML: &str = r#"# CORBI hub configuration. Every key can also be set by the environment variable in
# brackets, which wins over this file. Put this file at ./corbi.toml or point CORBI_CONFIG at it.

# [DATABASE_URL] sqlite://corbi.db (embedded, created if missing) or postgres://user@host/db
database_url = "sqlite://corbi.db"
# [BIND] address of the HTTP API; port 0 picks a free port
bind = "127.0.0.1:8080"
# [PUBLIC_URL] URL people and Google use to reach this hub; empty means http://{bind}
public_url = ""
# [MQTT_URL] external broker such as mqtt://127.0.0.1:1883; empty runs the embedded broker
mqtt_url = ""
# [MQTT_BIND] address of the embedded broker; port 0 picks a free port
mqtt_bind = "127.0.0.1:1883"
# [MQTT_USERNAME] / [MQTT_PASSWORD] the hub's own login on an external broker (empty: anonymous)
mqtt_username = ""
mqtt_password = ""
# [MQTT_PUBLIC_URL] broker URL handed to devices; empty means MQTT_URL or the embedded broker's address
mqtt_public_url = ""
# [MQTT_TLS_CERT] / [MQTT_TLS_KEY] PEM certificate chain and key: the embedded broker's device
# listener then speaks TLS only (devices use mqtts://); empty: plain MQTT
mqtt_tls_cert = ""
mqtt_tls_key = ""
# [MQTT_DYNSEC] the external broker is Mosquitto with the dynamic security plugin: the hub creates
# and deletes each device's broker client and role itself (docs/EDGE-BROKER.md)
mqtt_dynsec = false
# [METRICS_TOKEN] bearer token Prometheus sends to /metrics; empty turns /metrics off
metrics_token = ""
# [MAX_BODY_BYTES] larger request bodies are refused with 413
max_body_bytes = 1048576
# [LOG_FORMAT] text or json
log_format = "text"

[jobs]
# [JOBS_WORKERS] jobs run at once by this process; 0 runs none (API-only replica)
workers = 4
# [JOBS_POLL_MS] how often an idle worker looks for jobs written by other processes
poll_ms = 1000
# [JOBS_LEASE_SECS] a claimed job unfinished after this long is run again elsewhere
lease_secs = 300
# [JOBS_MAX_ATTEMPTS] attempts before a job is dead-lettered
max_attempts = 8
# [JOBS_BACKOFF_BASE_MS] first retry delay; doubles per attempt, with jitter
backoff_base_ms = 2000
# [JOBS_BACKOFF_MAX_SECS] longest delay between attempts
backoff_max_secs = 3600

[encryption]
# [ENCRYPTION_KEYS] comma-separated id:base64(32 random bytes) pairs; seals OAuth tokens at rest.
# Generate one with: head -c 32 /dev/urandom | base64
keys = ""
# [ENCRYPTION_KEY_ID] the key that seals new data; empty means the first listed
active_key_id = ""

[google]
# [GOOGLE_CLIENT_ID] / [GOOGLE_CLIENT_SECRET] the OAuth client of this installation
client_id = ""
client_secret = ""
# [GOOGLE_AUTH_URL] [GOOGLE_TOKEN_URL] [GOOGLE_REVOKE_URL] [GOOGLE_API_BASE_URL] Google's endpoints
auth_url = "https://accounts.google.com/o/oauth2/v2/auth"
token_url = "https://oauth2.googleapis.com/token"
revoke_url = "https://oauth2.googleapis.com/revoke"
api_base_url = "https://www.googleapis.com"
# [GOOGLE_ISSUER] OpenID Connect issuer for "Sign in with Google" (discovery document, keys)
issuer = "https://accounts.google.com"
# [GOOGLE_REQUESTS_PER_SECOND] per-connection request budget, below Google's per-user quota
requests_per_second = 8
# [GOOGLE_RETRY_DEADLINE_MS] how long one call keeps retrying rate limits and 5xx
retry_deadline_ms = 10000
# [GOOGLE_TIMEOUT_MS] timeout of one HTTP request to Google
timeout_ms = 15000

[notify]
# [SENDGRID_BASE_URL] root of SendGrid's API (email notifications)
sendgrid_base_url = "https://api.sendgrid.com"
# [TWILIO_BASE_URL] root of Twilio's API (WhatsApp notifications)
twilio_base_url = "https://api.twilio.com"
# [NOTIFY_TIMEOUT_MS] timeout of one request to SendGrid or Twilio
timeout_ms = 10000

[edge]
# [EDGE_SNAPSHOT_DAYS] a device's schedule holds today plus this many following days
snapshot_days = 7
# [EDGE_SNAPSHOT_MAX_BYTES] a schedule is cut to this size (fewer days, shorter titles) to fit the broker
snapshot_max_bytes = 258048
# [EDGE_ENROLLMENT_TTL_MINUTES] how long a device enrollment code stays usable
enrollment_ttl_minutes = 60
# [EDGE_MAX_MESSAGE_AGE_SECS] device messages older than this are dropped (replay window)
max_message_age_secs = 86400
# [EDGE_MAX_CLOCK_SKEW_SECS] how far ahead a device clock may run
max_clock_skew_secs = 300

[sync]
# [SYNC_DEBOUNCE_MS] a calendar's sync waits this long after a notification, folding a burst into one
debounce_ms = 250
# [SYNC_SAFETY_INTERVAL_SECS] every calendar is synced at least this often (lost notifications)
safety_interval_secs = 900
# [SYNC_CHECK_SECS] how often due safety-net syncs and channel renewals are looked for
check_secs = 60
# [SYNC_CHANNEL_TTL_SECS] push channel lifetime asked of Google (it may grant less)
channel_ttl_secs = 604800
# [SYNC_RENEW_BEFORE_SECS] a channel is replaced this long before it expires
renew_before_secs = 86400
# [SYNC_FAILURE_BACKOFF_MAX_SECS] longest pause of a failing calendar's safety-net sync
failure_backoff_max_secs = 3600

[console]
# [CONSOLE_SESSION_IDLE_MINUTES] a console session nobody used for this long ends
session_idle_minutes = 10080
# [CONSOLE_SESSION_MAX_HOURS] every console session ends this long after sign-in
session_max_hours = 720
# [CONSOLE_SIGNIN_LINK_MINUTES] how long a one-time sign-in link (`hub user login-link`) works
signin_link_minutes = 15

[limits]
# Rate limits per class: sustained requests per second and burst; 0 per second turns a class off.
# Refused requests answer 429 RATE_LIMITED with Retry-After.
# [RATE_LIMIT_CREDENTIAL_PER_SECOND] / [RATE_LIMIT_CREDENTIAL_BURST] one token, key or session
credential_per_second = 20
credential_burst = 300
# [RATE_LIMIT_TENANT_PER_SECOND] / [RATE_LIMIT_TENANT_BURST] all of a tenant's callers together
tenant_per_second = 100
tenant_burst = 500
# [RATE_LIMIT_ADDRESS_PER_SECOND] / [RATE_LIMIT_ADDRESS_BURST] one client address on the routes
# without a credential: device enrollment, sign-in (/auth/...), the OAuth callback
address_per_second = 5
address_burst = 60
# [RATE_LIMIT_WEBHOOK_PER_SECOND] / [RATE_LIMIT_WEBHOOK_BURST] one address on /webhooks/...
webhook_per_second = 100
webhook_burst = 1000
# [REQUEST_TIMEOUT_SECS] a request not answered within this time is abandoned; 0: no timeout
request_timeout_secs = 60
# [TRUSTED_PROXIES] CIDR blocks (10.0.0.0/8,127.0.0.1/32) whose X-Forwarded-For/-Proto are believed
trusted_proxies = ""

[tls]
# [TLS_CERT] / [TLS_KEY] PEM certificate chain and private key: the hub serves HTTPS (HTTP/1.1 and
# HTTP/2) on BIND, reloading both on SIGHUP or when the files change; empty: plain HTTP
cert = ""
key = ""
# [HTTP_REDIRECT_BIND] with TLS on, a plain-HTTP address that only redirects to PUBLIC_URL; empty: none
redirect_bind = ""
"#;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

/// Environment variables that map onto nested keys (`JOBS_WORKERS` → `jobs.workers`).
const NESTED_ENV: &[(&str, &str)] = &[
    ("JOBS_WORKERS", "jobs.workers"),
    ("JOBS_POLL_MS", "jobs.poll_ms"),
    ("JOBS_LEASE_SECS", "jobs.lease_secs"),
    ("JOBS_MAX_ATTEMPTS", "jobs.max_attempts"),
    ("JOBS_BACKOFF_BASE_MS", "jobs.backoff_base_ms"),
    ("JOBS_BACKOFF_MAX_SECS", "jobs.backoff_max_secs"),
    ("ENCRYPTION_KEYS", "encryption.keys"),
    ("ENCRYPTION_KEY_ID", "encryption.active_key_id"),
    ("GOOGLE_CLIENT_ID", "google.client_id"),
    ("GOOGLE_CLIENT_SECRET", "google.client_secret"),
    ("GOOGLE_AUTH_URL", "google.auth_url"),
    ("GOOGLE_TOKEN_URL", "google.token_url"),
    ("GOOGLE_REVOKE_URL", "google.revoke_url"),
    ("GOOGLE_API_BASE_URL", "google.api_base_url"),
    ("GOOGLE_REQUESTS_PER_SECOND", "google.requests_per_second"),
    ("GOOGLE_RETRY_DEADLINE_MS", "google.retry_deadline_ms"),
    ("GOOGLE_TIMEOUT_MS", "google.timeout_ms"),
    ("GOOGLE_ISSUER", "google.issuer"),
    (
        "CONSOLE_SESSION_IDLE_MINUTES",
        "console.session_idle_minutes",
    ),
    ("CONSOLE_SESSION_MAX_HOURS", "console.session_max_hours"),
    ("CONSOLE_SIGNIN_LINK_MINUTES", "console.signin_link_minutes"),
    (
        "RATE_LIMIT_CREDENTIAL_PER_SECOND",
        "limits.credential_per_second",
    ),
    ("RATE_LIMIT_CREDENTIAL_BURST", "limits.credential_burst"),
    ("RATE_LIMIT_TENANT_PER_SECOND", "limits.tenant_per_second"),
    ("RATE_LIMIT_TENANT_BURST", "limits.tenant_burst"),
    ("RATE_LIMIT_ADDRESS_PER_SECOND", "limits.address_per_second"),
    ("RATE_LIMIT_ADDRESS_BURST", "limits.address_burst"),
    ("RATE_LIMIT_WEBHOOK_PER_SECOND", "limits.webhook_per_second"),
    ("RATE_LIMIT_WEBHOOK_BURST", "limits.webhook_burst"),
    ("REQUEST_TIMEOUT_SECS", "limits.request_timeout_secs"),
    ("TRUSTED_PROXIES", "limits.trusted_proxies"),
    ("TLS_CERT", "tls.cert"),
    ("TLS_KEY", "tls.key"),
    ("HTTP_REDIRECT_BIND", "tls.redirect_bind"),
    ("SENDGRID_BASE_URL", "notify.sendgrid_base_url"),
    ("TWILIO_BASE_URL", "notify.twilio_base_url"),
    ("NOTIFY_TIMEOUT_MS", "notify.timeout_ms"),
    ("EDGE_SNAPSHOT_DAYS", "edge.snapshot_days"),
    ("EDGE_SNAPSHOT_MAX_BYTES", "edge.snapshot_max_bytes"),
    ("EDGE_ENROLLMENT_TTL_MINUTES", "edge.enrollment_ttl_minutes"),
    ("EDGE_MAX_MESSAGE_AGE_SECS", "edge.max_message_age_secs"),
    ("EDGE_MAX_CLOCK_SKEW_SECS", "edge.max_clock_skew_secs"),
    ("SYNC_DEBOUNCE_MS", "sync.debounce_ms"),
    ("SYNC_SAFETY_INTERVAL_SECS", "sync.safety_interval_secs"),
    ("SYNC_CHECK_SECS", "sync.check_secs"),
    ("SYNC_CHANNEL_TTL_SECS", "sync.channel_ttl_secs"),
    ("SYNC_RENEW_BEFORE_SECS", "sync.renew_before_secs"),
    (
        "SYNC_FAILURE_BACKOFF_MAX_SECS",
        "sync.failure_backoff_max_secs",
    ),
];

/// Top-level keys read from the environment under their upper-case names.
const TOP_ENV: &[&str] = &[
    "DATABASE_URL",
    "BIND",
    "PUBLIC_URL",
    "MQTT_URL",
    "MQTT_BIND",
    "MQTT_USERNAME",
    "MQTT_PASSWORD",
    "MQTT_PUBLIC_URL",
    "MQTT_TLS_CERT",
    "MQTT_TLS_KEY",
    "MQTT_DYNSEC",
    "METRICS_TOKEN",
    "MAX_BODY_BYTES",
    "LOG_FORMAT",
];

impl Config {
    /// Loads defaults, then the config file, then the environment.
    pub fn load() -> Result<Config, ConfigError> {
        let file = std::env::var("CORBI_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("corbi.toml"));
        Config::figment(file)
            .extract()
            .map_err(|e| ConfigError(Box::new(e)))
    }

    fn figment(file: PathBuf) -> Figment {
        let nested = Env::raw()
            .filter(|key| NESTED_ENV.iter().any(|(env, _)| key.as_str() == *env))
            .map(|key| {
                let path = NESTED_ENV
                    .iter()
                    .find(|(env, _)| key.as_str() == *env)
                    .map_or(key.as_str(), |(_, path)| path);
                path.to_string().into()
            });
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(
                Env::raw()
                    .only(TOP_ENV)
                    .map(|k| k.as_str().to_lowercase().into()),
            )
            .merge(nested)
    }

    /// The base URL under which this hub is reached from outside.
    pub fn public_base_url(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            format!("{scheme}://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_example_parses_to_the_defaults() {
        let parsed: Config = Figment::from(Toml::string(DEFAULT_CONFIG_TOML))
            .extract()
            .expect("example parses");
        let defaults = Config::default();
        assert_eq!(parsed.database_url.expose(), defaults.database_url.expose());
        assert_eq!(parsed.bind, defaults.bind);
        assert_eq!(parsed.jobs.lease_secs, defaults.jobs.lease_secs);
        assert_eq!(parsed.max_body_bytes, defaults.max_body_bytes);
        assert_eq!(parsed.google.token_url, defaults.google.token_url);
        assert_eq!(
            parsed.google.retry_deadline_ms,
            defaults.google.retry_deadline_ms
        );
        assert_eq!(
            parsed.notify.sendgrid_base_url,
            defaults.notify.sendgrid_base_url
        );
        assert_eq!(
            parsed.notify.twilio_base_url,
            defaults.notify.twilio_base_url
        );
        assert_eq!(parsed.notify.timeout_ms, defaults.notify.timeout_ms);
        assert_eq!(
            parsed.limits.credential_burst,
            defaults.limits.credential_burst
        );
        assert_eq!(parsed.limits.webhook_burst, defaults.limits.webhook_burst);
        assert_eq!(
            parsed.limits.request_timeout_secs,
            defaults.limits.request_timeout_secs
        );
        assert_eq!(parsed.sync.debounce_ms, defaults.sync.debounce_ms);
        assert_eq!(
            parsed.sync.safety_interval_secs,
            defaults.sync.safety_interval_secs
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }
}
