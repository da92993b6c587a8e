//! The agent's clock, injected so that every time decision can be tested without waiting.
//!
//! Two readings: a monotonic [`Instant`] for ages and retry timing, and Unix milliseconds to compare
//! with the schedule's meeting times.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use embassy_time::{Duration, Instant};

/// Where the agent reads the time; [`SystemClock`] in production, [`ManualClock`] in tests.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic now, for ages and retry timing.
    fn now(&self) -> Instant;
    /// Wall-clock now in Unix milliseconds, for comparing with meeting times.
    fn unix_ms(&self) -> i64;
}

/// The machine's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told, so UI and agent tests can step through a day.
#[derive(Debug, Clone)]
pub struct ManualClock {
    reading: Arc<Mutex<(Instant, i64)>>,
}

impl ManualClock {
    /// Starts at `unix_ms` wall time and an arbitrary monotonic origin.
    pub fn new(unix_ms: i64) -> Self {
        Self {
            reading: Arc::new(Mutex::new((Instant::from_secs(1_000), unix_ms))),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut reading = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
        reading.0 += by;
        reading.1 += i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.reading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    fn unix_ms(&self) -> i64 {
        self.reading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
    }
}
