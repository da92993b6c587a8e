//! Plumbing shared by the SendGrid and Twilio emulators: the background-task guard, a queue of
//! counted faults, timestamps, hex ids, the loopback check for callback URLs and the shared admin
//! command shape.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use chrono::{SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Aborts the server (and workers) when the last emulator handle is dropped.
#[derive(Debug)]
pub struct Tasks(pub Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// Serves `app` on `listener` in the background; `name` tags the error log if the server stops.
pub fn spawn_server(listener: TcpListener, app: Router, name: &'static str) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, emulator = name, "emulator server stopped");
        }
    })
}

/// Locks a mutex, ignoring poisoning: a panicking test must not hide the state from the next call.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Now as RFC 3339 with milliseconds, the `received_at` of the inspection endpoints.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `len` random lowercase hex digits, for vendor ids (`SM…`, `X-Message-Id`).
pub fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Whether `text` is exactly `prefix` followed by 32 hex digits (Twilio SIDs, SendGrid template ids).
pub fn is_prefixed_hex32(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether a callback URL may be called: HTTPS always, plain HTTP only on loopback when allowed.
pub fn callback_allowed(address: &str, allow_http_loopback: bool) -> bool {
    let Ok(url) = url::Url::parse(address) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => allow_http_loopback && loopback,
        _ => false,
    }
}

/// Faults waiting to be applied, each to its next `count` occurrences, oldest first.
#[derive(Debug)]
pub struct CountedQueue<T>(VecDeque<(T, u32)>);

impl<T> Default for CountedQueue<T> {
    fn default() -> Self {
        CountedQueue(VecDeque::new())
    }
}

impl<T: Clone> CountedQueue<T> {
    /// Queues `item` for the next `count` occurrences (0 queues nothing).
    pub fn push(&mut self, item: T, count: u32) {
        if count > 0 {
            self.0.push_back((item, count));
        }
    }

    /// Takes the item for this occurrence, if any is queued.
    pub fn take(&mut self) -> Option<T> {
        let (item, left) = self.0.front_mut()?;
        *left -= 1;
        let taken = item.clone();
        if *left == 0 {
            self.0.pop_front();
        }
        Some(taken)
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A misbehaviour of the vendor's API for one request, queued through the library or
/// `POST /_emulator/faults` (`{"kind":"tooManyRequests","retryAfterSecs":2}`, `{"kind":"latency","millis":300}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Fault {
    /// 429 with the vendor's rate-limit error (SendGrid adds its `X-RateLimit-*` headers).
    TooManyRequests {
        /// Seconds until the (pretend) rate-limit window resets.
        #[serde(rename = "retryAfterSecs", default = "one_sec")]
        retry_after_secs: u64,
    },
    /// 500 with the vendor's internal-error body.
    InternalError,
    /// 503 with the vendor's unavailable body.
    ServiceUnavailable,
    /// The request is handled normally, after this delay.
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// The request is handled and recorded (the message is sent), but the answer comes only after
    /// this delay: a client that times out believes it failed while the vendor accepted it.
    StallAfterAccept {
        /// Delay in milliseconds.
        millis: u64,
    },
}

fn one_sec() -> u64 {
    1
}

impl Fault {
    /// Delay before handling, for `Latency`.
    pub fn delay_before(self) -> Option<Duration> {
        match self {
            Fault::Latency { millis } => Some(Duration::from_millis(millis)),
            _ => None,
        }
    }

    /// Delay after handling, for `StallAfterAccept`.
    pub fn delay_after(self) -> Option<Duration> {
        match self {
            Fault::StallAfterAccept { millis } => Some(Duration::from_millis(millis)),
            _ => None,
        }
    }
}

/// The default `count` of admin commands.
pub fn one() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_queue_runs_out_in_order() {
        let mut queue = CountedQueue::default();
        queue.push('a', 2);
        queue.push('b', 0);
        queue.push('c', 1);
        let taken: Vec<_> = std::iter::from_fn(|| queue.take()).collect();
        assert_eq!(taken, vec!['a', 'a', 'c']);
    }

    #[test]
    fn callbacks_need_https_unless_loopback_is_allowed() {
        assert!(callback_allowed("https://hub.example.com/cb", false));
        assert!(!callback_allowed("http://hub.example.com/cb", true));
        assert!(!callback_allowed("http://127.0.0.1:9/cb", false));
        assert!(callback_allowed("http://127.0.0.1:9/cb", true));
        assert!(!callback_allowed("not a url", true));
    }

    #[test]
    fn prefixed_hex_ids() {
        assert!(is_prefixed_hex32(&format!("SM{}", random_hex(32)), "SM"));
        assert!(!is_prefixed_hex32("SM123", "SM"));
    }
}
