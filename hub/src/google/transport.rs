//! How one Calendar call travels: the request (`Call`), the access token and its refresh on
//! 401, the per-connection rate limit, retries with backoff that honour `Retry-After` within
//! a deadline, and the mapping of Google's error answers to [`GoogleError`], with a span and a
//! metric per call.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::{Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tracing::Instrument;

use super::{Google, GoogleError};
use crate::{
    connections::{Connection, ConnectionError},
    observability::{GoogleCallLabels, OperationLabels},
    ops_stats::{self, Counter},
};

/// One call: operation name (for metrics), method, path under `calendar/v3/`, query, body.
pub(super) struct Call<'a> {
    operation: &'static str,
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    if_match: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub(super) fn new(operation: &'static str, method: Method, path: String) -> Self {
        Call {
            operation,
            method,
            path,
            query: Vec::new(),
            body: None,
            if_match: None,
        }
    }

    pub(super) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub(super) fn body(mut self, body: &impl Serialize) -> Self {
        self.body = serde_json::to_value(body).ok();
        self
    }

    pub(super) fn if_match(mut self, etag: Option<&'a str>) -> Self {
        self.if_match = etag;
        self
    }
}

/// How a single HTTP attempt ended.
pub(super) enum Attempt {
    Done(Option<Value>),
    Unauthorized,
    Retry {
        cause: String,
        retry_after: Option<Duration>,
    },
    Fail(GoogleError),
}

impl Google {
    pub(super) async fn fetch<T: DeserializeOwned>(
        &self,
        connection: &Connection,
        call: Call<'_>,
    ) -> Result<T, GoogleError> {
        let operation = call.operation;
        let body = self.execute(connection, call).await?.unwrap_or(Value::Null);
        serde_json::from_value(body).map_err(|e| GoogleError::Rejected {
            status: 200,
            reason: "unreadableResponse".into(),
            message: format!("{operation}: {e}"),
        })
    }

    /// Runs one call with token handling, rate limiting, retries and error mapping.
    pub(super) async fn execute(
        &self,
        connection: &Connection,
        call: Call<'_>,
    ) -> Result<Option<Value>, GoogleError> {
        let span = tracing::info_span!(
            "google_call",
            tenant_id = %connection.tenant_id,
            operation = call.operation,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .execute_with_retries(connection, &call)
            .instrument(span.clone())
            .await;
        let outcome = outcome_label(&result);
        span.record("status", outcome);
        span.record("latency_ms", started.elapsed().as_millis());
        let metrics = &self.inner.metrics;
        metrics
            .google_calls
            .get_or_create(&GoogleCallLabels {
                operation: call.operation.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        metrics
            .google_latency
            .get_or_create(&OperationLabels {
                operation: call.operation.to_string(),
            })
            .observe(started.elapsed().as_secs_f64());
        let db = self.inner.connections.db();
        ops_stats::record_later(db, &connection.tenant_id, Counter::GoogleCalls, 1);
        if result.is_err() {
            ops_stats::record_later(db, &connection.tenant_id, Counter::GoogleErrors, 1);
        }
        result
    }

    async fn execute_with_retries(
        &self,
        connection: &Connection,
        call: &Call<'_>,
    ) -> Result<Option<Value>, GoogleError> {
        let deadline = Instant::now() + self.inner.retry_deadline;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(8))
            .with_jitter()
            .without_max_times()
            .build();
        let mut token = self
            .inner
            .connections
            .access_token(connection)
            .await
            .map_err(|e| self.connection_failure(e))?;
        let mut refreshed = false;
        loop {
            self.inner.limiter.until_key_ready(&connection.id).await;
            match self.attempt(call, &token).await {
                Attempt::Done(body) => return Ok(body),
                Attempt::Fail(err) => return Err(err),
                Attempt::Unauthorized if !refreshed => {
                    refreshed = true;
                    token = self
                        .inner
                        .connections
                        .refresh_after_rejection(connection, &token)
                        .await
                        .map_err(|e| self.connection_failure(e))?;
                }
                Attempt::Unauthorized => {
                    return Err(self.connection_failure(ConnectionError::NeedsReconsent(
                        "Google rejected a freshly refreshed access token".into(),
                    )));
                }
                Attempt::Retry { cause, retry_after } => {
                    let backoff = delays.next().unwrap_or(Duration::from_secs(8));
                    let wait = retry_after.map_or(backoff, |server| server.max(backoff));
                    if Instant::now() + wait > deadline {
                        let retry_after_secs = wait.as_secs().max(1);
                        return Err(GoogleError::Unavailable {
                            retry_after_secs,
                            cause,
                        });
                    }
                    tracing::debug!(%cause, wait_ms = wait.as_millis(), "retrying Google call");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub(super) async fn attempt(&self, call: &Call<'_>, token: &str) -> Attempt {
        let url = format!("{}/{}", self.inner.api_root, call.path);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .bearer_auth(token)
            .query(&call.query);
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        if let Some(etag) = call.if_match {
            request = request.header(header::IF_MATCH, etag);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                return Attempt::Retry {
                    cause: transport_cause(&err),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Attempt::Done((!body.is_null()).then_some(body));
        }
        classify(status, &body, retry_after)
            .unwrap_or_else(|| Attempt::Fail(rejected(status, &body)))
    }
}

/// Maps an error answer of Google to what to do about it.
pub(super) fn classify(
    status: StatusCode,
    body: &Value,
    retry_after: Option<Duration>,
) -> Option<Attempt> {
    let reason = body["error"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let attempt = match status.as_u16() {
        401 => Attempt::Unauthorized,
        403 if matches!(
            reason.as_str(),
            "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded"
        ) =>
        {
            Attempt::Retry {
                cause: format!("403 {reason}"),
                retry_after,
            }
        }
        403 if reason == "insufficientPermissions"
            || message.contains("insufficient authentication scopes") =>
        {
            Attempt::Fail(GoogleError::NotConnected {
                reason: "the Google connection lacks a scope this action needs".into(),
                reconsent_url: String::new(),
                missing_scopes: Vec::new(),
            })
        }
        403 => Attempt::Fail(GoogleError::PermissionDenied(format!(
            "{reason}: {message}"
        ))),
        404 => Attempt::Fail(GoogleError::NotFound),
        409 => Attempt::Fail(GoogleError::Duplicate),
        410 => Attempt::Fail(GoogleError::Gone { reason }),
        412 => Attempt::Fail(GoogleError::PreconditionFailed),
        429 => Attempt::Retry {
            cause: "429 rate limited".into(),
            retry_after,
        },
        500..=599 => Attempt::Retry {
            cause: format!("{} {reason}", status.as_u16()),
            retry_after,
        },
        _ => return None,
    };
    Some(attempt)
}

pub(super) fn rejected(status: StatusCode, body: &Value) -> GoogleError {
    GoogleError::Rejected {
        status: status.as_u16(),
        reason: body["error"]["errors"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        message: body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

fn outcome_label(result: &Result<Option<Value>, GoogleError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(GoogleError::NotConnected { .. }) => "not_connected",
        Err(GoogleError::PermissionDenied(_)) => "permission_denied",
        Err(GoogleError::NotFound) => "not_found",
        Err(GoogleError::PreconditionFailed) => "precondition_failed",
        Err(GoogleError::Gone { .. }) => "gone",
        Err(GoogleError::Duplicate) => "duplicate",
        Err(GoogleError::Unavailable { .. }) => "unavailable",
        Err(GoogleError::Rejected { .. }) => "rejected",
    }
}

/// A transport failure described without the URL (which may carry tokens in a query).
pub(super) fn transport_cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else {
        "transport error".into()
    }
}

/// Percent-encodes one path segment (calendar ids hold `@` and `#`).
/// The path of one event (and `suffix`, such as `/move`), ids percent-encoded.
pub(super) fn event_path(calendar_id: &str, event_id: &str, suffix: &str) -> String {
    format!(
        "calendars/{}/events/{}{suffix}",
        encode(calendar_id),
        encode(event_id)
    )
}

pub(super) fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
