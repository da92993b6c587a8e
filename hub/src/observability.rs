//! Tracing, correlation ids and Prometheus metrics.
//!
//! Every request gets one span named by its matched route and a correlation id (taken from
//! `X-Correlation-Id` or generated) that is echoed back and carried into error answers.
//! Metrics live in a per-process [`Metrics`] registry (no global recorder, so tests can run many
//! hubs in one process). Nothing here records headers or bodies, so tokens cannot reach logs.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tracing::Instrument;

/// The header that carries the correlation id in and out.
pub static CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The correlation id of the request being served, if any.
pub fn current_correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// Labels of the per-route HTTP metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The matched route template (never the raw path, which could hold ids).
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of the job-queue metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// Job kind.
    pub kind: String,
}

/// Labels of the queue-depth gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Job state.
    pub state: String,
}

/// Labels of the Google call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GoogleCallLabels {
    /// Calendar API method, e.g. `events.insert`.
    pub operation: String,
    /// `ok`, `unavailable`, `not_found`, …
    pub outcome: String,
}

/// Labels by operation only.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// Calendar API method.
    pub operation: String,
}

/// Labels of the notification counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// `email` or `whatsapp`.
    pub channel: String,
    /// `sent`, `failed`, `retry`, `unknown` or `skipped`.
    pub outcome: String,
}

/// Labels of the edge message counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EdgeLabels {
    /// Message kind (received) or why it was dropped (dropped).
    pub what: String,
}

/// Labels by outcome only (webhook notifications, synced events).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened, e.g. `accepted`, `duplicate`, `unknown_channel`, `created`, `stale`.
    pub outcome: String,
}

/// Labels of the daily operations figures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DailyLabels {
    /// The figure, e.g. `events_synced`, `google_errors`.
    pub counter: String,
}

/// Labels of the sync-run counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncRunLabels {
    /// `incremental` or `full`.
    pub mode: String,
    /// `ok`, `deferred`, `failed`, `paused`.
    pub result: String,
}

/// The hub's metrics; one instance per running hub.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests answered, by route and status.
    pub http_requests: Family<RouteLabels, Counter>,
    /// HTTP latency in seconds, by route and status.
    pub http_latency: Family<RouteLabels, Histogram>,
    /// Jobs finished successfully, by kind.
    pub jobs_succeeded: Family<JobLabels, Counter>,
    /// Job attempts that failed and were scheduled again, by kind.
    pub jobs_retried: Family<JobLabels, Counter>,
    /// Jobs dead-lettered, by kind.
    pub jobs_dead: Family<JobLabels, Counter>,
    /// Jobs in the queue by state, refreshed on each scrape.
    pub jobs_depth: Family<StateLabels, Gauge>,
    /// Google Calendar calls by operation and outcome (after retries).
    pub google_calls: Family<GoogleCallLabels, Counter>,
    /// Google Calendar call latency in seconds, retries included.
    pub google_latency: Family<OperationLabels, Histogram>,
    /// Meetings marked NO_SHOW by the sweep.
    pub no_shows: Counter,
    /// Rooms given back early by auto-release.
    pub releases: Counter,
    /// Tenants a periodic sweep skipped after an error (the sweep went on with the next).
    pub sweep_tenant_failures: Counter,
    /// Notices by channel and outcome, one per recipient.
    pub notifications: Family<NotifyLabels, Counter>,
    /// Device messages accepted, by message kind.
    pub edge_received: Family<EdgeLabels, Counter>,
    /// Device messages dropped, by reason (seal, malformed, replayed, stale, …).
    pub edge_dropped: Family<EdgeLabels, Counter>,
    /// What the embedded broker's gate refused, by kind (login, subscribe, publish, malformed).
    pub edge_gate_refused: Family<EdgeLabels, Counter>,
    /// Schedule snapshots published.
    pub edge_snapshots_published: Counter,
    /// Google events applied by sync, by outcome (a per-day figure is a query over it).
    pub sync_events: Family<OutcomeLabels, Counter>,
    /// Webhook notifications by outcome (refusals included).
    pub sync_webhooks: Family<OutcomeLabels, Counter>,
    /// Calendar sync runs by mode and result.
    pub sync_runs: Family<SyncRunLabels, Counter>,
    /// Full resyncs after Google invalidated a sync token (410).
    pub sync_full_resyncs: Counter,
    /// Seconds from a change in Google (`updated`) to its application here.
    pub sync_lag: Histogram,
    /// Today's (UTC) daily operations figures over every tenant and hub process, read from
    /// the database on each scrape with one index lookup.
    pub daily_today: Family<DailyLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("corbi");
        let http_requests = Family::<RouteLabels, Counter>::default();
        let http_latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        let jobs_succeeded = Family::<JobLabels, Counter>::default();
        let jobs_retried = Family::<JobLabels, Counter>::default();
        let jobs_dead = Family::<JobLabels, Counter>::default();
        let jobs_depth = Family::<StateLabels, Gauge>::default();
        let google_calls = Family::<GoogleCallLabels, Counter>::default();
        let google_latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        let no_shows = Counter::default();
        let releases = Counter::default();
        let sweep_tenant_failures = Counter::default();
        registry.register("no_shows", "Meetings marked NO_SHOW", no_shows.clone());
        registry.register(
            "sweep_tenant_failures",
            "Tenants a periodic sweep skipped after an error",
            sweep_tenant_failures.clone(),
        );
        registry.register(
            "auto_releases",
            "Rooms released after no check-in",
            releases.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_latency.clone(),
        );
        registry.register("jobs_succeeded", "Jobs finished", jobs_succeeded.clone());
        registry.register("jobs_retried", "Job attempts retried", jobs_retried.clone());
        registry.register("jobs_dead", "Jobs dead-lettered", jobs_dead.clone());
        registry.register("jobs_queue_depth", "Jobs by state", jobs_depth.clone());
        registry.register(
            "google_calls",
            "Google Calendar calls",
            google_calls.clone(),
        );
        registry.register(
            "google_call_duration_seconds",
            "Google Calendar call latency",
            google_latency.clone(),
        );
        let notifications = Family::<NotifyLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notices by channel and outcome",
            notifications.clone(),
        );
        let edge_received = Family::<EdgeLabels, Counter>::default();
        let edge_dropped = Family::<EdgeLabels, Counter>::default();
        let edge_gate_refused = Family::<EdgeLabels, Counter>::default();
        registry.register(
            "edge_gate_refused",
            "Device packets the embedded broker's gate refused, by kind",
            edge_gate_refused.clone(),
        );
        let edge_snapshots_published = Counter::default();
        registry.register(
            "edge_messages_received",
            "Device messages accepted, by kind",
            edge_received.clone(),
        );
        registry.register(
            "edge_messages_dropped",
            "Device messages dropped, by reason",
            edge_dropped.clone(),
        );
        registry.register(
            "edge_snapshots_published",
            "Schedule snapshots published",
            edge_snapshots_published.clone(),
        );
        let sync_events = Family::<OutcomeLabels, Counter>::default();
        let sync_webhooks = Family::<OutcomeLabels, Counter>::default();
        let sync_runs = Family::<SyncRunLabels, Counter>::default();
        let sync_full_resyncs = Counter::default();
        let sync_lag = Histogram::new([
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
        ]);
        registry.register(
            "sync_events",
            "Google events applied by sync",
            sync_events.clone(),
        );
        registry.register(
            "sync_webhook_notifications",
            "Google push notifications received",
            sync_webhooks.clone(),
        );
        registry.register("sync_runs", "Calendar sync runs", sync_runs.clone());
        registry.register(
            "sync_full_resyncs",
            "Full resyncs after an invalid sync token",
            sync_full_resyncs.clone(),
        );
        registry.register(
            "sync_lag_seconds",
            "Time from a change in Google to its application",
            sync_lag.clone(),
        );
        let daily_today = Family::<DailyLabels, Gauge>::default();
        registry.register(
            "daily_today",
            "Today's (UTC) daily operations figures, all tenants and hub processes",
            daily_today.clone(),
        );
        Metrics {
            registry,
            daily_today,
            notifications,
            edge_received,
            edge_dropped,
            edge_gate_refused,
            edge_snapshots_published,
            sync_events,
            sync_webhooks,
            sync_runs,
            sync_full_resyncs,
            sync_lag,
            http_requests,
            http_latency,
            jobs_succeeded,
            jobs_retried,
            jobs_dead,
            jobs_depth,
            google_calls,
            google_latency,
            no_shows,
            releases,
            sweep_tenant_failures,
        }
    }

    /// The registry, for capabilities that add metrics of their own at start.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics could not be encoded");
        }
        out
    }
}

/// Middleware: correlation id, the request span (named by route) and the HTTP metrics.
pub async fn observe_request(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let correlation_id = correlation_id_of(&request);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{method} {route}"),
        %method,
        %route,
        correlation_id = %correlation_id,
        tenant_id = tracing::field::Empty,
        actor_type = tracing::field::Empty,
        actor_id = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = CORRELATION_ID
        .scope(correlation_id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    span.record("status", status);
    let labels = RouteLabels {
        method,
        route,
        status,
    };
    metrics.http_requests.get_or_create(&labels).inc();
    metrics
        .http_latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response
            .headers_mut()
            .insert(CORRELATION_HEADER.clone(), value);
    }
    span.in_scope(|| tracing::debug!(status, "request answered"));
    response
}

/// Takes a caller's correlation id if it is short and printable, else makes one.
fn correlation_id_of(request: &Request) -> String {
    request
        .headers()
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// The log filter when `RUST_LOG` is not set: the hub at INFO; sqlx and the embedded broker
/// only when something goes wrong (their INFO lines, one per query or MQTT connection, bury
/// the hub's own).
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,rumqttd=warn";

/// Installs the process-wide log subscriber; only binaries call this.
pub fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        tracing::debug!("a log subscriber was already installed");
    }
}
