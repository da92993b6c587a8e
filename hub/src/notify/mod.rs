//! Notifications: participants hear about bookings, reschedules and cancellations — by email
//! through SendGrid and by WhatsApp through Twilio — once per change, whoever made it (a person,
//! an AI agent, a device or Google's own UI through sync: all of them reach the same outbox).
//!
//! Flow: the outbox turns every `meeting.*` event into a `notify.meeting` job ([`register`]).
//! The job reads the tenant's preferences (`settings.notifications`: per channel, on/off, which
//! change types, template id, sender), the meeting as it is now and the tenant's sealed vendor
//! credentials ([`credentials`]), then for each channel that announces this change type:
//!
//! 1. records one [`log`] row per recipient — unique on (meeting, change, channel, recipient), so
//!    a duplicated event, a retried job or a webhook echo of the same change finds them already
//!    there;
//! 2. claims the `pending` rows (`sending`, committed) *before* calling the vendor;
//! 3. calls the vendor and settles the rows: `sent` (with the vendor's message id), `failed`
//!    (400/401/403…: the vendor's error is kept and listed at `GET /api/v1/admin/notifications`),
//!    back to `pending` with a retry of the job (429, 5xx, connection refused: the vendor did not
//!    take it — a vendor outage delays the notice, never drops it), or `unknown`.
//!
//! **The residual window, honestly.** Neither SendGrid's Mail Send nor Twilio's Messages API
//! takes an idempotency key, so nothing can make "send" and "commit" atomic. If the hub dies, or
//! the vendor's answer is lost (timeout, broken connection), *after* the request left and before
//! the row is settled, we cannot know whether the vendor accepted it. Such rows are never sent
//! again: they become `unknown` (at once on a lost answer; after `timeout + 2 s` for a sender
//! that died) and are shown to admins. So a notice is sent at most once, and exactly once unless
//! the hub crashes or loses the vendor's answer in that window. For WhatsApp the window closes
//! further: Twilio's signed status callback (which carries our row id in its URL) proves the
//! message was accepted and turns an `unknown` row into `sent`.
//!
//! Files: `content.rs` (what a notice says), `log.rs` (the log's SQL), `credentials.rs` (sealed
//! vendor secrets), `vendor.rs` (reading vendors' answers), `sendgrid.rs`, `twilio.rs` (requests and
//! signature check), `job.rs` (the job handler), `routes.rs` (admin API and Twilio's callback).

pub mod content;
pub mod credentials;
pub mod job;
pub mod log;
pub mod routes;
pub mod sendgrid;
pub mod twilio;
pub mod vendor;

use std::{sync::Arc, time::Duration};

use serde_json::json;
use shared::ErrorCode;

use crate::{
    config::{Config, NotifyConfig},
    connections::seal::{SealError, Sealer},
    db::DbError,
    error::{ApiError, FieldError},
    jobs::Registry,
    observability::{Metrics, NotifyLabels},
};

pub use routes::routes;

/// The job kind that turns meeting events into notices.
pub const MEETING_KIND: &str = "notify.meeting";

/// How long a connection to a vendor may take before the attempt counts as "never left".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Email through SendGrid.
    Email,
    /// WhatsApp through Twilio.
    WhatsApp,
}

impl Channel {
    /// The stored spelling (and the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::WhatsApp => "whatsapp",
        }
    }
}

/// What can go wrong with notification settings, credentials or callbacks, or building the
/// notifier.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Malformed fields.
    #[error("invalid notification fields")]
    Invalid(Vec<FieldError>),
    /// The hub has no sealing key, so secrets cannot be stored or read.
    #[error("no encryption key is configured (ENCRYPTION_KEYS)")]
    NoKey,
    /// The sealed secrets could not be opened.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The opened secrets are not the expected document.
    #[error("the stored notification credentials are unreadable")]
    Unreadable,
    /// A status callback that Twilio did not sign.
    #[error("status callback not signed by Twilio")]
    Forged,
    /// The vendors' HTTP client could not be built (at start).
    #[error("HTTP client: {0}")]
    Client(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(NotifyError);

impl From<NotifyError> for ApiError {
    fn from(err: NotifyError) -> Self {
        match err {
            NotifyError::Invalid(fields) => ApiError::validation(fields),
            NotifyError::NoKey => ApiError::new(
                ErrorCode::Conflict,
                "This hub cannot store secrets yet. Its operator must set ENCRYPTION_KEYS first.",
            ),
            NotifyError::Seal(_) | NotifyError::Unreadable => ApiError::new(
                ErrorCode::Conflict,
                "The stored notification credentials cannot be opened with this hub's keys. Please set them again.",
            )
            .with_cause(err),
            NotifyError::Forged => ApiError::forbidden(
                "This request does not carry a valid Twilio signature.",
            )
            .with_details(json!({})),
            NotifyError::Client(_) => ApiError::internal(err),
            NotifyError::Db(db) => db.into(),
        }
    }
}

/// What sending notices needs: the vendors' HTTP client and URLs, the sealing keys, the hub's
/// public URL (links and callbacks) and the metrics. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    sealer: Option<Sealer>,
    config: NotifyConfig,
    public_url: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// Builds the notifier from the hub's configuration; fails on unusable encryption keys or
    /// when no HTTP client can be built, which the hub reports as a start error.
    pub fn new(
        config: &Config,
        public_url: Arc<str>,
        metrics: Arc<Metrics>,
    ) -> Result<Notifier, NotifyError> {
        let sealer = if config.encryption.keys.expose().is_empty() {
            None
        } else {
            Some(Sealer::from_config(&config.encryption)?)
        };
        let timeout = Duration::from_millis(config.notify.timeout_ms);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(CONNECT_TIMEOUT))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Client(e.to_string()))?;
        Ok(Notifier {
            inner: Arc::new(Inner {
                http,
                sealer,
                config: config.notify.clone(),
                public_url,
                metrics,
            }),
        })
    }

    /// The sealing keys, if the hub has any.
    pub fn sealer(&self) -> Option<&Sealer> {
        self.inner.sealer.as_ref()
    }

    /// The URL Twilio reports a message's delivery to; the log row's id rides along so the
    /// callback finds its row (and tenant) even before the send was settled.
    pub fn status_callback_url(&self, log_id: &str) -> String {
        format!(
            "{}{}?n={log_id}",
            self.inner.public_url,
            twilio::STATUS_PATH
        )
    }

    /// The hub's public URL.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    fn count(&self, channel: Channel, outcome: &str, by: u64) {
        if by > 0 {
            self.inner
                .metrics
                .notifications
                .get_or_create(&NotifyLabels {
                    channel: channel.as_str().to_string(),
                    outcome: outcome.to_string(),
                })
                .inc_by(by);
        }
    }

    /// How long a `sending` row may stay so before its sender is presumed dead.
    fn stale_after(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeout_ms) + Duration::from_secs(2)
    }
}

/// Registers the notification job and its outbox subscription.
pub fn register(registry: &mut Registry, notifier: Notifier) {
    registry.handle(MEETING_KIND, job::NotifyMeeting { notifier });
    registry.subscribe(crate::meetings::events::MEETING_EVENTS, MEETING_KIND);
}
