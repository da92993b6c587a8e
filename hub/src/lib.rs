//! The CORBI hub: a cloud service that makes people, rooms and devices schedulable through
//! Google Calendar, serving people, admins, AI voice agents and room devices.
//!
//! Layout (docs/ARCHITECTURE.md draws it): one module per capability, each owning its routes,
//! SQL, error type and events — [`auth`] (tokens, the `Actor` extractor, who may do what),
//! [`settings`], [`jobs`] (queue, outbox, typed events), [`connections`] (sealed OAuth grants),
//! [`google`] (the Calendar client and the consent routes), [`resources`], [`meetings`],
//! [`sync`], [`attendance`], [`notify`], [`edge`] (MQTT, device enrollment, schedules) and
//! [`insights`] (occupancy figures, daily operations figures), [`mcp`] (the tools for AI agents
//! at `/mcp`), [`signin`] and [`console`] (the web console's sign-in and files) — over the
//! foundations [`config`], [`db`], [`error`], [`observability`], and the leaves [`text`],
//! [`handles`] and [`ops_stats`]. Modules import each other in one direction only (a test checks that the
//! graph has no circles); capabilities take the handles they use through `FromRef`, never the
//! whole [`AppState`]. This file and `main.rs`, [`cli`] (administrative commands) and `demo`
//! (`hub demo`, only with the `demo` feature) only wire: [`app`] builds the router and
//! [`Hub::start`] runs a whole hub (HTTP server, job runners, MQTT), so tests start real hubs
//! on port 0.

pub mod attendance;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod console;
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
pub mod edge;
pub mod error;
pub mod google;
pub mod handles;
pub mod insights;
pub mod jobs;
pub mod mcp;
pub mod meetings;
pub mod notify;
pub mod observability;
pub mod ops_stats;
pub mod protection;
pub mod resources;
pub mod settings;
pub mod signin;
pub mod sync;
pub mod text;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, FromRef, State},
    http::{StatusCode, header},
    middleware,
    response::IntoResponse,
    routing::get,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    config::Config,
    connections::{Connections, oauth::OAuthClient, seal::Sealer},
    db::{Db, DbError},
    edge::{DeviceRequests, Edge, EdgeError},
    google::Google,
    jobs::{Queue, Registry},
    observability::Metrics,
};

/// What every handler can reach; cheap to clone. Each field is also extractable on its own
/// (`FromRef`), so a capability's routes ask only for the handles they use and never name this
/// type: their routers are generic over the state, and [`app`] instantiates them with this one.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The durable job queue (and outbox).
    pub jobs: Queue,
    /// This hub's metrics.
    pub metrics: Arc<Metrics>,
    /// The configuration it runs with.
    pub config: Arc<Config>,
    /// The URL under which the hub is reached from outside.
    pub public_url: Arc<str>,
    /// Sealed OAuth connections.
    pub connections: Connections,
    /// The one Google Calendar client.
    pub google: Google,
    /// Email and WhatsApp notices (vendors, sealing keys).
    pub notify: notify::Notifier,
    /// The MQTT side: broker, schedule publishing, device messages.
    pub edge: Edge,
    /// Console sign-in: session lifetimes, Google's OpenID Connect client.
    pub signin: signin::Signin,
    /// Rate limits, trusted proxies, security headers and the request timeout.
    pub protection: Arc<protection::Protection>,
}

/// The OpenAPI document's header; paths are collected from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "CORBI hub API", version = "1", description = "Rooms, devices and meetings in two-way sync with Google Calendar. Errors: {\"error\": {code, message, details, correlation_id}}."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The documented API routes of every capability.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(settings::routes())
        .merge(jobs::routes::routes())
        .merge(google::connect::routes())
        .merge(resources::routes())
        .merge(meetings::routes())
        .merge(attendance::routes())
        .merge(notify::routes())
        .merge(edge::routes())
        .merge(sync::routes())
        .merge(auth::routes())
        .merge(signin::routes())
        .merge(insights::routes())
}

/// The OpenAPI document the hub serves at `/api/v1/openapi.json`, without starting a hub
/// (`hub ai-tools` generates agent tool configs from it).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

/// The whole HTTP API of the hub.
pub fn app(state: AppState) -> Router {
    let (api_router, openapi) = api_routes().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api_router)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(mcp::routes(FromRef::from_ref(&state)))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(console::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::<str>::from(auth::origin_of(&state.public_url)),
            auth::origin_guard,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.protection.clone(),
            protection::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            observability::observe_request,
        ))
        .with_state(state)
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and every migration is applied.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.migrations_applied().await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

/// Prometheus text exposition, only for the bearer of `METRICS_TOKEN` (off when it is empty).
/// Answering scans no table: the job runner keeps the queue-depth gauge current, and today's
/// daily figures are index lookups.
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, error::ApiError> {
    let expected = state.config.metrics_token.expose();
    if expected.is_empty() {
        return Err(error::ApiError::new(
            shared::ErrorCode::NotFound,
            "Metrics are off on this hub. Set METRICS_TOKEN to scrape them.",
        ));
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !edge::keys::same_secret(given, expected) {
        return Err(error::ApiError::new(
            shared::ErrorCode::Unauthenticated,
            "Send the metrics token in the Authorization header to read the metrics.",
        ));
    }
    refresh_daily_today(&state).await;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}

/// Sets the `corbi_daily_today` gauges from today's stored figures.
async fn refresh_daily_today(state: &AppState) {
    let today = ops_stats::day_of(chrono::Utc::now());
    match ops_stats::day_totals(&state.db, today).await {
        Ok(totals) => {
            for counter in ops_stats::Counter::ALL {
                let value = totals
                    .iter()
                    .find(|(c, _)| *c == counter)
                    .map_or(0, |(_, n)| *n);
                let labels = observability::DailyLabels {
                    counter: counter.as_str().to_string(),
                };
                state.metrics.daily_today.get_or_create(&labels).set(value);
            }
        }
        Err(err) => tracing::warn!(error = %err, "daily figures unavailable"),
    }
}

/// Why a hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The MQTT broker could not start.
    #[error(transparent)]
    Edge(#[from] EdgeError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running hub: HTTP server plus job runners, stopped with [`Hub::stop`].
pub struct Hub {
    /// The shared state (database, queue, metrics).
    pub state: AppState,
    /// The address the HTTP API listens on.
    pub addr: SocketAddr,
    /// The address of the plain-HTTP redirect listener (`HTTP_REDIRECT_BIND`, TLS only).
    pub redirect_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Hub {
    /// Opens and migrates the database, binds the HTTP address and starts the job runners with
    /// the given job registry. It also plugs the capabilities together: the edge runtime gets
    /// the attendance rules as its device request handlers, so neither module imports the other.
    pub async fn start(config: Config, registry: Registry) -> Result<Hub, StartError> {
        let db = Db::connect_and_migrate(config.database_url.expose()).await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        let public_url: Arc<str> = config.public_base_url(addr).into();
        if let Some(warning) = protection::tls::plain_public_url_warning(&public_url) {
            tracing::warn!("{warning}");
        }
        let guard = protection::Protection::new(
            &config,
            &public_url,
            &[auth::sessions::SECURE_COOKIE, auth::sessions::COOKIE],
        )
        .map_err(|e| StartError::Config(e.to_string()))?;
        let tls = if config.tls.enabled() {
            let certificates = protection::tls::Certificates::load(&config.tls)
                .map_err(|e| StartError::Config(e.to_string()))?;
            let server = certificates
                .server_config()
                .map_err(|e| StartError::Config(e.to_string()))?;
            Some((certificates, server))
        } else {
            None
        };
        let redirect = match (&tls, config.tls.redirect_bind.as_str()) {
            (Some(_), bind) if !bind.is_empty() => Some(
                protection::tls::bind_redirect(bind)
                    .await
                    .map_err(|e| StartError::Config(format!("HTTP_REDIRECT_BIND {bind}: {e}")))?,
            ),
            _ => None,
        };
        let metrics = Arc::new(Metrics::new());
        let (connections, google) = google_clients(&config, &db, &public_url, metrics.clone())?;
        let notifier = notify::Notifier::new(&config, public_url.clone(), metrics.clone())
            .map_err(|e| StartError::Config(e.to_string()))?;
        let signin = signin::Signin::new(&config, &public_url)
            .map_err(|e| StartError::Config(e.to_string()))?;
        let shutdown = CancellationToken::new();
        let (edge, mqtt) = Edge::start(&config, &db, metrics.clone(), shutdown.clone()).await?;
        let queue = Queue::new(
            db.clone(),
            config.jobs.clone(),
            core_jobs(&config, &google, &metrics, &notifier, &edge, &public_url).merge(registry),
        );
        let state = AppState {
            db,
            jobs: queue.clone(),
            metrics,
            config: Arc::new(config),
            public_url,
            connections,
            google,
            notify: notifier,
            edge: edge.clone(),
            signin,
            protection: Arc::new(guard),
        };
        let mut tasks = jobs::runner::spawn(queue, state.metrics.clone(), shutdown.clone());
        let requests: Arc<dyn DeviceRequests> = Arc::new(attendance::device::AtTheDoor::new(
            FromRef::from_ref(&state),
        ));
        tasks.extend(edge.spawn(
            state.db.clone(),
            state.jobs.clone(),
            requests,
            mqtt,
            shutdown.clone(),
        ));
        let router = app(state.clone());
        let redirect_addr = redirect.as_ref().map(|(_, addr)| *addr);
        if let Some((listener, _)) = redirect {
            let redirects = protection::tls::redirect_router(&state.public_url);
            tasks.push(tokio::spawn(serve(listener, redirects, shutdown.clone())));
        }
        match tls {
            Some((certificates, server)) => {
                tasks.push(tokio::spawn(certificates.watch(shutdown.clone())));
                tasks.push(tokio::spawn(protection::tls::serve(
                    listener,
                    router,
                    server,
                    shutdown.clone(),
                )));
            }
            None => tasks.push(tokio::spawn(serve(listener, router, shutdown.clone()))),
        }
        tracing::info!(%addr, backend = state.db.backend().name(), "hub started");
        Ok(Hub {
            state,
            addr,
            redirect_addr,
            shutdown,
            tasks,
        })
    }

    /// The hub's base URL.
    pub fn base_url(&self) -> &str {
        &self.state.public_url
    }

    /// Resolves when the hub is told to stop (by [`Hub::stop`] or a signal handler).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting requests, lets running requests finish and stops the job runners.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::warn!(error = %err, "a hub task ended abnormally");
            }
        }
        self.state.db.close().await;
    }
}

/// The job handlers of the hub's own capabilities.
fn core_jobs(
    config: &Config,
    google: &Google,
    metrics: &Arc<Metrics>,
    notifier: &notify::Notifier,
    edge: &Edge,
    public_url: &str,
) -> Registry {
    let mut registry = Registry::new();
    edge::publish::register(&mut registry, edge);
    meetings::register(&mut registry, google);
    attendance::register(&mut registry, google, metrics);
    notify::register(&mut registry, notifier.clone());
    sync::register(&mut registry, config, google, metrics, public_url);
    registry
}

/// The sealed connections and the Google client for this configuration. Without encryption
/// keys the hub still serves, but cannot store Google tokens (and says so at start).
pub fn google_clients(
    config: &Config,
    db: &Db,
    public_url: &str,
    metrics: Arc<Metrics>,
) -> Result<(Connections, Google), StartError> {
    let sealer = if config.encryption.keys.expose().is_empty() {
        tracing::warn!(
            "ENCRYPTION_KEYS is not set: Google accounts cannot be connected until it is"
        );
        None
    } else {
        Some(
            Sealer::from_config(&config.encryption)
                .map_err(|e| StartError::Config(e.to_string()))?,
        )
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(config.google.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StartError::Config(format!("HTTP client: {e}")))?;
    let oauth = OAuthClient::new(&config.google, public_url, http.clone())
        .map_err(|e| StartError::Config(format!("Google endpoint URL: {e}")))?;
    let connections = Connections::new(db.clone(), sealer, oauth);
    let google = Google::new(
        &config.google,
        http,
        connections.clone(),
        metrics,
        public_url,
    );
    Ok((connections, google))
}

/// Serves the router on the listener until `shutdown` is cancelled; each request carries its
/// peer address (`ConnectInfo`) for the rate limits.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "HTTP server stopped");
    }
}
