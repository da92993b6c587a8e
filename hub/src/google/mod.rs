//! The one Google Calendar client. Every call to Google goes through [`Google::execute`]:
//! it takes a usable access token from the connection (refreshing before expiry, and once more
//! when Google answers 401), waits for the connection's token bucket (below Google's per-user
//! quota), retries rate limits, 429 and 5xx with exponential backoff and jitter while honouring
//! `Retry-After`, within a deadline, and maps what is left onto the contract's codes. Each call
//! gets a span (tenant, operation, status, latency) and Prometheus counters per operation and
//! outcome.
//!
//! Files: `types.rs` (Calendar v3 resources), `scopes.rs` (least-privilege scopes),
//! `transport.rs` (one call's token, rate limit, retries and error mapping), `connect.rs` (the
//! OAuth routes that connect an account, and its status).

pub mod connect;
pub mod scopes;
mod transport;
pub mod types;

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::Method;
use serde_json::{Value, json};
use shared::ErrorCode;

use crate::{
    config::GoogleConfig,
    connections::{Connection, ConnectionError, ConnectionStatus, Connections, Owner},
    error::ApiError,
    observability::Metrics,
};
use transport::{Attempt, Call, classify, encode, event_path, transport_cause};
use types::{Calendar, CalendarListEntry, CalendarListPage, Channel, Event, EventsPage, FreeBusy};

/// What can go wrong with a Google call, after retries.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// No usable connection; a person must connect (again).
    #[error("Google is not connected: {reason}")]
    NotConnected {
        /// Why, in plain words.
        reason: String,
        /// Where an admin (re)connects.
        reconsent_url: String,
        /// Scopes that are missing, if that is the reason.
        missing_scopes: Vec<String>,
    },
    /// Google refused the operation for this account.
    #[error("Google refused: {0}")]
    PermissionDenied(String),
    /// The calendar or event does not exist (or is not visible to the account).
    #[error("not found in Google")]
    NotFound,
    /// The etag given with `If-Match` is stale.
    #[error("the Google event changed meanwhile")]
    PreconditionFailed,
    /// The resource or sync token is gone (410); `reason` tells which.
    #[error("gone: {reason}")]
    Gone {
        /// Google's reason (`fullSyncRequired`, `deleted`, …).
        reason: String,
    },
    /// A resource with that id already exists (409).
    #[error("already exists in Google")]
    Duplicate,
    /// Google kept failing or rate-limiting until the deadline.
    #[error("Google is unavailable: {cause}")]
    Unavailable {
        /// Seconds after which trying again makes sense.
        retry_after_secs: u64,
        /// What happened last.
        cause: String,
    },
    /// Google refused the request as malformed.
    #[error("Google rejected the request ({status} {reason}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Google's reason code.
        reason: String,
        /// Google's message.
        message: String,
    },
}

impl From<GoogleError> for ApiError {
    fn from(err: GoogleError) -> Self {
        match err {
            GoogleError::NotConnected { reason, reconsent_url, missing_scopes } => ApiError::new(
                ErrorCode::CalendarNotConnected,
                "CORBI cannot reach this Google calendar right now. An administrator needs to connect the Google account again.",
            )
            .with_details(json!({"reconsent_url": reconsent_url, "missing_scopes": missing_scopes}))
            .with_cause(reason),
            GoogleError::PermissionDenied(cause) => ApiError::new(
                ErrorCode::CalendarPermissionDenied,
                "Google Calendar did not allow this change. The connected account may only have read access to that calendar.",
            )
            .with_cause(cause),
            GoogleError::NotFound => ApiError::not_found("calendar item"),
            GoogleError::PreconditionFailed => ApiError::new(
                ErrorCode::PreconditionFailed,
                "This meeting was changed by someone else in the meantime. Please load it again and retry.",
            ),
            GoogleError::Unavailable { retry_after_secs, cause } => ApiError::new(
                ErrorCode::CalendarUnavailable,
                "Google Calendar is not responding right now. Please try again in a minute.",
            )
            .with_retry_after(retry_after_secs)
            .with_cause(cause),
            other => ApiError::internal(other),
        }
    }
}

/// Parameters of `events.list`.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// Incremental sync from this token.
    pub sync_token: Option<String>,
    /// Page to fetch.
    pub page_token: Option<String>,
    /// Include cancelled events.
    pub show_deleted: bool,
    /// Expand recurring events into instances.
    pub single_events: bool,
    /// Lower bound (RFC 3339) of the events' end.
    pub time_min: Option<String>,
    /// Upper bound (RFC 3339) of the events' start.
    pub time_max: Option<String>,
    /// `key=value` of a private extended property.
    pub private_extended_property: Option<String>,
    /// Page size (max 2500).
    pub max_results: Option<u32>,
}

/// The Google Calendar client; cheap to clone.
#[derive(Clone)]
pub struct Google {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_root: String,
    connections: Connections,
    limiter: DefaultKeyedRateLimiter<String>,
    retry_deadline: Duration,
    metrics: Arc<Metrics>,
    public_url: String,
}

impl Google {
    /// A client for the configured endpoints.
    pub fn new(
        config: &GoogleConfig,
        http: reqwest::Client,
        connections: Connections,
        metrics: Arc<Metrics>,
        public_url: &str,
    ) -> Self {
        let per_second = NonZeroU32::new(config.requests_per_second).unwrap_or(NonZeroU32::MIN);
        Google {
            inner: Arc::new(Inner {
                http,
                api_root: format!("{}/calendar/v3", config.api_base_url.trim_end_matches('/')),
                connections,
                limiter: RateLimiter::keyed(Quota::per_second(per_second)),
                retry_deadline: Duration::from_millis(config.retry_deadline_ms),
                metrics,
                public_url: public_url.to_string(),
            }),
        }
    }

    /// The connections this client takes its tokens from.
    pub fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    /// The tenant-wide connection, usable and holding `required` scopes.
    pub async fn tenant_connection(
        &self,
        tenant_id: &str,
        required: &[&str],
    ) -> Result<Connection, GoogleError> {
        self.connection(tenant_id, &Owner::Tenant, required).await
    }

    /// A connection, usable and holding `required` scopes.
    pub async fn connection(
        &self,
        tenant_id: &str,
        owner: &Owner,
        required: &[&str],
    ) -> Result<Connection, GoogleError> {
        let connection = self
            .inner
            .connections
            .find(tenant_id, owner)
            .await
            .map_err(|e| self.connection_failure(e))?;
        let connection =
            connection.ok_or_else(|| self.connection_failure(ConnectionError::Missing))?;
        if connection.status == ConnectionStatus::NeedsReconsent {
            let reason = connection.status_reason.clone().unwrap_or_default();
            return Err(self.connection_failure(ConnectionError::NeedsReconsent(reason)));
        }
        let missing = scopes::missing(required, &connection.scopes);
        if !missing.is_empty() {
            return Err(GoogleError::NotConnected {
                reason: "the Google connection lacks scopes this action needs".into(),
                reconsent_url: self.reconsent_url(),
                missing_scopes: missing.into_iter().map(str::to_string).collect(),
            });
        }
        Ok(connection)
    }

    fn reconsent_url(&self) -> String {
        format!("{}/oauth/google/start?for=tenant", self.inner.public_url)
    }

    fn connection_failure(&self, err: ConnectionError) -> GoogleError {
        match err {
            ConnectionError::Unavailable(cause) => GoogleError::Unavailable {
                retry_after_secs: 30,
                cause,
            },
            ConnectionError::Missing
            | ConnectionError::NeedsReconsent(_)
            | ConnectionError::Seal(_) => GoogleError::NotConnected {
                reason: err.to_string(),
                reconsent_url: self.reconsent_url(),
                missing_scopes: Vec::new(),
            },
            ConnectionError::Db(db) => GoogleError::Unavailable {
                retry_after_secs: 5,
                cause: db.to_string(),
            },
        }
    }

    /// The account's primary calendar id (its address), with a fresh access token.
    pub async fn primary_calendar_id(&self, access_token: &str) -> Result<String, GoogleError> {
        let url = format!("{}/calendars/primary", self.inner.api_root);
        let response = self
            .inner
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| GoogleError::Unavailable {
                retry_after_secs: 5,
                cause: transport_cause(&e),
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body.get("id").and_then(Value::as_str) {
            Some(id) if status.is_success() => Ok(id.to_string()),
            _ => Err(
                classify(status, &body, None).map_or(
                    GoogleError::NotFound,
                    |attempt| match attempt {
                        Attempt::Fail(err) => err,
                        _ => GoogleError::NotFound,
                    },
                ),
            ),
        }
    }

    /// `calendars.get`.
    pub async fn calendar_get(
        &self,
        connection: &Connection,
        calendar_id: &str,
    ) -> Result<Calendar, GoogleError> {
        let call = Call::new(
            "calendars.get",
            Method::GET,
            format!("calendars/{}", encode(calendar_id)),
        );
        self.fetch(connection, call).await
    }

    /// `calendars.insert`.
    pub async fn calendar_insert(
        &self,
        connection: &Connection,
        calendar: &Calendar,
    ) -> Result<Calendar, GoogleError> {
        let call = Call::new("calendars.insert", Method::POST, "calendars".into()).body(calendar);
        self.fetch(connection, call).await
    }

    /// `calendarList.list`, every page.
    pub async fn calendar_list(
        &self,
        connection: &Connection,
    ) -> Result<Vec<CalendarListEntry>, GoogleError> {
        let mut entries = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut call = Call::new(
                "calendarList.list",
                Method::GET,
                "users/me/calendarList".into(),
            )
            .query("maxResults", "250");
            if let Some(token) = page_token.take() {
                call = call.query("pageToken", token);
            }
            let page: CalendarListPage = self.fetch(connection, call).await?;
            entries.extend(page.items);
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => return Ok(entries),
            }
        }
    }

    /// `events.insert` (attendees are notified per `send_updates`: all, externalOnly, none).
    pub async fn events_insert(
        &self,
        connection: &Connection,
        calendar_id: &str,
        event: &Event,
        send_updates: &str,
    ) -> Result<Event, GoogleError> {
        let call = Call::new(
            "events.insert",
            Method::POST,
            format!("calendars/{}/events", encode(calendar_id)),
        )
        .query("sendUpdates", send_updates)
        .query("conferenceDataVersion", "1")
        .body(event);
        self.fetch(connection, call).await
    }

    /// `events.get`.
    pub async fn events_get(
        &self,
        connection: &Connection,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<Event, GoogleError> {
        let call = Call::new(
            "events.get",
            Method::GET,
            event_path(calendar_id, event_id, ""),
        );
        self.fetch(connection, call).await
    }

    /// `events.patch`, conditional on `if_match` when given.
    pub async fn events_patch(
        &self,
        connection: &Connection,
        calendar_id: &str,
        event_id: &str,
        patch: &Value,
        if_match: Option<&str>,
        send_updates: &str,
    ) -> Result<Event, GoogleError> {
        let call = Call::new(
            "events.patch",
            Method::PATCH,
            event_path(calendar_id, event_id, ""),
        )
        .query("sendUpdates", send_updates)
        .body(patch)
        .if_match(if_match);
        self.fetch(connection, call).await
    }

    /// `events.delete`; an event already deleted (410) counts as done.
    pub async fn events_delete(
        &self,
        connection: &Connection,
        calendar_id: &str,
        event_id: &str,
        send_updates: &str,
    ) -> Result<(), GoogleError> {
        let call = Call::new(
            "events.delete",
            Method::DELETE,
            event_path(calendar_id, event_id, ""),
        )
        .query("sendUpdates", send_updates);
        match self.execute(connection, call).await {
            Ok(_) | Err(GoogleError::Gone { .. }) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// `events.move` to another calendar.
    pub async fn events_move(
        &self,
        connection: &Connection,
        calendar_id: &str,
        event_id: &str,
        destination: &str,
    ) -> Result<Event, GoogleError> {
        let call = Call::new(
            "events.move",
            Method::POST,
            event_path(calendar_id, event_id, "/move"),
        )
        .query("destination", destination);
        self.fetch(connection, call).await
    }

    /// One page of `events.list`.
    pub async fn events_list(
        &self,
        connection: &Connection,
        calendar_id: &str,
        params: &ListParams,
    ) -> Result<EventsPage, GoogleError> {
        let mut call = Call::new(
            "events.list",
            Method::GET,
            format!("calendars/{}/events", encode(calendar_id)),
        );
        let options = [
            ("syncToken", params.sync_token.clone()),
            ("pageToken", params.page_token.clone()),
            ("timeMin", params.time_min.clone()),
            ("timeMax", params.time_max.clone()),
            (
                "privateExtendedProperty",
                params.private_extended_property.clone(),
            ),
            ("maxResults", params.max_results.map(|n| n.to_string())),
            (
                "showDeleted",
                params.show_deleted.then(|| "true".to_string()),
            ),
            (
                "singleEvents",
                params.single_events.then(|| "true".to_string()),
            ),
        ];
        for (name, value) in options {
            if let Some(value) = value {
                call = call.query(name, value);
            }
        }
        self.fetch(connection, call).await
    }

    /// `freebusy.query` over several calendars.
    pub async fn freebusy(
        &self,
        connection: &Connection,
        time_min: &str,
        time_max: &str,
        calendar_ids: &[&str],
    ) -> Result<FreeBusy, GoogleError> {
        let items: Vec<Value> = calendar_ids.iter().map(|id| json!({"id": id})).collect();
        let body = json!({"timeMin": time_min, "timeMax": time_max, "items": items});
        let call = Call::new("freebusy.query", Method::POST, "freeBusy".into()).body(&body);
        self.fetch(connection, call).await
    }

    /// `events.watch`: opens a push channel for a calendar's events.
    pub async fn events_watch(
        &self,
        connection: &Connection,
        calendar_id: &str,
        channel: &Channel,
    ) -> Result<Channel, GoogleError> {
        let call = Call::new(
            "events.watch",
            Method::POST,
            format!("calendars/{}/events/watch", encode(calendar_id)),
        )
        .body(channel);
        self.fetch(connection, call).await
    }

    /// `channels.stop`.
    pub async fn channels_stop(
        &self,
        connection: &Connection,
        channel: &Channel,
    ) -> Result<(), GoogleError> {
        let call = Call::new("channels.stop", Method::POST, "channels/stop".into()).body(channel);
        self.execute(connection, call).await.map(|_| ())
    }
}
