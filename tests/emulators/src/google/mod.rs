//! Google Calendar v3 + Google OAuth 2.0 / OpenID Connect emulator: a real HTTP server holding
//! accounts, calendars, ACLs and events in memory, answering with Google's paths, field names and
//! error bodies, and POSTing push notifications to registered webhooks.
//!
//! Layout: `mod.rs` (config, the embeddable [`GoogleEmulator`] handle, the router), `api` (request
//! log, caller context, parsers), `error` (Google error bodies), `methods` (served methods and their
//! scopes), `store` (state), `oauth`, `oidc` (discovery document, JWKS, ID tokens signed with the
//! committed test key `oidc_key.pem`, userinfo), `calendars`, `events`, `event_model`, `listing`
//! and `times` (events, sync tokens, recurrence), `freebusy`, `push` (channels and delivery),
//! `faults` and `admin` (the `/_emulator/*` endpoints).

mod admin;
mod api;
mod calendars;
mod error;
mod event_model;
mod events;
mod faults;
mod freebusy;
mod listing;
mod methods;
mod oauth;
mod oidc;
mod push;
mod rules;
mod store;
mod times;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use error::{ApiError, OAuthError};
pub use faults::{AdminCommand, Fault, FaultRule, IdTokenFault, PushFault};
pub use methods::{MethodSpec, SCOPE_PREFIX, served_methods};
pub use push::PushRecord;
pub use store::{RequestRecord, Role};

use push::Delivery;
use store::Store;

/// Per-user quota, off unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaConfig {
    /// Calendar calls one account may make per minute before being refused.
    pub per_user_per_minute: u32,
    /// Refuse with 429 `rateLimitExceeded` instead of 403 `userRateLimitExceeded`.
    pub answer_429: bool,
}

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// Lifetime of access tokens (Google: one hour); tests shorten it to exercise refresh.
    pub access_token_ttl: Duration,
    /// Accept `http://` push addresses on loopback hosts; Google accepts only HTTPS.
    pub allow_http_loopback: bool,
    /// Channel lifetime when `params.ttl` is not given (Google: 604800 s).
    pub default_channel_ttl_secs: u64,
    /// Per-user quota; `None` (the default) means unlimited.
    pub quota: Option<QuotaConfig>,
    /// First retry delay for push deliveries answered 500/502/503/504 (doubles per retry).
    pub push_retry_base: Duration,
    /// Retries after the first failed push delivery.
    pub push_retries: u32,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            access_token_ttl: Duration::from_secs(3600),
            allow_http_loopback: false,
            default_channel_ttl_secs: 604_800,
            quota: None,
            push_retry_base: Duration::from_millis(100),
            push_retries: 3,
        }
    }
}

/// State shared by the handlers, the push worker and the [`GoogleEmulator`] handles.
#[derive(Debug)]
pub(crate) struct Shared {
    config: GoogleConfig,
    store: Mutex<Store>,
    base_url: String,
    push_tx: mpsc::UnboundedSender<Delivery>,
    keys: &'static oidc::Keys,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        api::lock(&self.store)
    }
}

/// Aborts the server and the push worker when the last handle is dropped.
#[derive(Debug)]
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// A running emulator; clones share the same state and server.
#[derive(Debug, Clone)]
pub struct GoogleEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _tasks: Arc<Tasks>,
}

impl GoogleEmulator {
    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn start(config: GoogleConfig) -> std::io::Result<GoogleEmulator> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, config).await
    }

    /// Serves on an already bound listener (the binary binds a fixed address).
    pub async fn start_on(
        listener: TcpListener,
        config: GoogleConfig,
    ) -> std::io::Result<GoogleEmulator> {
        let addr = listener.local_addr()?;
        let keys = oidc::Keys::get().map_err(std::io::Error::other)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            config,
            store: Mutex::new(Store::default()),
            base_url: format!("http://{addr}"),
            push_tx,
            keys,
        });
        let worker = tokio::spawn(push::run_worker(Arc::clone(&shared), push_rx));
        let app = router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "google emulator server stopped");
            }
        });
        Ok(GoogleEmulator {
            shared,
            addr,
            _tasks: Arc::new(Tasks(vec![worker, server])),
        })
    }

    /// Root URL, e.g. `http://127.0.0.1:PORT`, also the OpenID Connect issuer (`iss`); the Calendar
    /// API lives under `/calendar/v3/`, OAuth under `/o/oauth2/auth` (alias `/o/oauth2/v2/auth`),
    /// `/token` and `/revoke`, OpenID Connect under `/.well-known/openid-configuration`,
    /// `/oauth2/v3/certs` and `/v1/userinfo`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates an account and its primary calendar (id = email).
    pub fn add_account(&self, email: &str) {
        self.shared.lock().add_account(email);
    }

    /// The `sub` claim ID tokens and userinfo give for `email`: 21 digits, stable across runs.
    pub fn subject(&self, email: &str) -> String {
        oidc::subject(email)
    }

    /// Creates a secondary calendar owned by `owner_email`; answers its id.
    pub fn create_calendar(&self, owner_email: &str, summary: &str) -> String {
        calendars::create(&mut self.shared.lock(), owner_email, summary, None)
    }

    /// Grants `email` a role on a calendar (replacing any earlier role).
    pub fn share_calendar(&self, calendar_id: &str, email: &str, role: Role) {
        if let Some(calendar) = self.shared.lock().calendars.get_mut(calendar_id) {
            calendar.acl.insert(email.to_owned(), role);
        }
    }

    /// Issues an access token directly (an "external user" that did not go through OAuth).
    /// `scopes` are full scope URLs.
    pub fn issue_access_token(&self, email: &str, scopes: &[&str]) -> String {
        let ttl = oauth::ttl(&self.shared.config);
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.shared
            .lock()
            .issue_access_token(email, scopes, ttl, None)
    }

    /// Registers an OAuth client; the authorization and token endpoints accept only registered ones.
    pub fn register_oauth_client(&self, client_id: &str, client_secret: &str) {
        self.shared
            .lock()
            .clients
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Queues `fault` for the next `count` calls of method `op` (`calendar.events.list`,
    /// `oauth.token`, ...), or of any call when `op` is `None`.
    pub fn inject(&self, op: Option<&str>, fault: Fault, count: u32) {
        let rule = FaultRule {
            op: op.map(str::to_owned),
            fault,
            count,
        };
        self.shared.lock().faults.push_api(rule);
    }

    /// Queues a push fault for the next `count` notifications.
    pub fn inject_push(&self, fault: PushFault, count: u32) {
        self.shared.lock().faults.push_push(fault, count);
    }

    /// Spoils the next `count` ID tokens the token endpoint issues with `fault`.
    pub fn inject_id_token(&self, fault: IdTokenFault, count: u32) {
        self.shared.lock().faults.push_id_token(fault, count);
    }

    /// Runs an admin command (the same ones `POST /_emulator/faults` accepts).
    pub fn apply(&self, command: AdminCommand) {
        admin::apply(&self.shared, command);
    }

    /// Expires every access token of `email` now.
    pub fn expire_access_tokens(&self, email: &str) {
        self.apply(AdminCommand::ExpireAccessTokens {
            email: email.to_owned(),
        });
    }

    /// Revokes every refresh token of `email` (and the access tokens minted from them).
    pub fn revoke_refresh_tokens(&self, email: &str) {
        self.apply(AdminCommand::RevokeRefreshTokens {
            email: email.to_owned(),
        });
    }

    /// Makes every sync token issued so far for `calendar_id` answer 410.
    pub fn invalidate_sync_tokens(&self, calendar_id: &str) {
        self.apply(AdminCommand::InvalidateSyncTokens {
            calendar_id: calendar_id.to_owned(),
        });
    }

    /// Every Calendar and OAuth request served so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Every push delivery attempted so far, oldest first.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.shared.lock().pushes.clone()
    }

    /// The stored events of a calendar (deleted ones included, as `status: cancelled`), in creation order.
    pub fn events(&self, calendar_id: &str) -> Vec<Value> {
        let store = self.shared.lock();
        let Some(calendar) = store.calendars.get(calendar_id) else {
            return Vec::new();
        };
        calendar
            .events
            .values()
            .map(|e| Value::Object(e.body.clone()))
            .collect()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let calendar = Router::new()
        .route(
            "/calendar/v3/users/me/calendarList",
            get(calendars::list_calendar_list),
        )
        .route("/calendar/v3/calendars", post(calendars::insert))
        .route(
            "/calendar/v3/calendars/{calendar_id}",
            get(calendars::get).delete(calendars::delete),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events",
            get(events::list).post(events::insert),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/watch",
            post(push::watch),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}",
            get(events::get)
                .patch(events::patch)
                .put(events::update)
                .delete(events::delete),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}/move",
            post(events::move_event),
        )
        .route(
            "/calendar/v3/calendars/{calendar_id}/events/{event_id}/instances",
            get(events::instances),
        )
        .route("/calendar/v3/channels/stop", post(push::stop))
        .route("/calendar/v3/freeBusy", post(freebusy::query))
        .route("/o/oauth2/auth", get(oauth::authorize))
        .route("/o/oauth2/v2/auth", get(oauth::authorize))
        .route("/token", post(oauth::token))
        .route("/revoke", post(oauth::revoke))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/oauth2/v3/certs", get(oidc::certs))
        .route("/v1/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            api::log_requests,
        ));
    calendar.merge(admin::routes()).with_state(shared)
}
