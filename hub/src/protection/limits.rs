//! Rate limits per class, with `governor`'s keyed GCRA limiters (no lock per request, memory
//! per key a few bytes, idle keys dropped periodically). Classes: a credential (hash of the
//! bearer token or console session, never the secret itself), a tenant (charged where the
//! `Actor` is resolved), and a client address on the routes that need no credential (device
//! enrollment, sign-in, the OAuth callback) and, with a generous budget, on webhooks.

use std::{
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use axum::http::{HeaderMap, header};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use sha2::{Digest, Sha256};
use shared::ErrorCode;

use crate::{config::LimitsConfig, error::ApiError};

/// How many checks of a class between two sweeps of its idle keys.
const SWEEP_EVERY: u32 = 4096;

/// One class: a keyed limiter (None when the class is turned off) and its sweep counter.
struct Class<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU32,
}

impl<K: Hash + Eq + Clone> Class<K> {
    fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Class {
            limiter,
            checks: AtomicU32::new(0),
        }
    }

    /// Takes one request from `key`'s budget, or says how long to wait.
    fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Which budget a route draws from before any credential is checked.
enum RouteClass {
    /// `/webhooks/…`: per address, generous.
    Webhook,
    /// Enrollment, sign-in, OAuth callback: per address.
    Anonymous,
    /// Everything else: per credential, when one is presented.
    Credentialed,
}

fn route_class(path: &str) -> RouteClass {
    if path.starts_with("/webhooks/") {
        RouteClass::Webhook
    } else if path == "/api/v1/devices/enroll"
        || path.starts_with("/auth/")
        || path.starts_with("/oauth/")
    {
        RouteClass::Anonymous
    } else {
        RouteClass::Credentialed
    }
}

/// The hub's limiters.
pub struct Limits {
    credential: Class<[u8; 16]>,
    tenant: Class<String>,
    address: Class<IpAddr>,
    webhook: Class<IpAddr>,
    session_cookies: &'static [&'static str],
}

impl Limits {
    /// The limiters of the `[limits]` section.
    pub fn new(config: &LimitsConfig, session_cookies: &'static [&'static str]) -> Self {
        Limits {
            credential: Class::new(config.credential_per_second, config.credential_burst),
            tenant: Class::new(config.tenant_per_second, config.tenant_burst),
            address: Class::new(config.address_per_second, config.address_burst),
            webhook: Class::new(config.webhook_per_second, config.webhook_burst),
            session_cookies,
        }
    }

    /// Charges a request to its class's budget before it reaches a handler.
    pub(super) fn admit(
        &self,
        path: &str,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<(), Duration> {
        match route_class(path) {
            RouteClass::Webhook => self.webhook.check(&client),
            RouteClass::Anonymous => self.address.check(&client),
            RouteClass::Credentialed => match self.credential_key(headers) {
                Some(key) => self.credential.check(&key),
                None => Ok(()),
            },
        }
    }

    /// Charges a request to its tenant's overall budget.
    pub(super) fn charge_tenant(&self, tenant_id: &str) -> Result<(), Duration> {
        self.tenant.check(&tenant_id.to_string())
    }

    /// A digest of the presented credential (bearer token, else session cookie): the limiter
    /// keeps no secret in memory.
    fn credential_key(&self, headers: &HeaderMap) -> Option<[u8; 16]> {
        let mut hasher = Sha256::new();
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            hasher.update(b"authorization\0");
            hasher.update(value.as_bytes());
        } else {
            let session = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(name, _)| self.session_cookies.contains(name))?;
            hasher.update(b"session\0");
            hasher.update(session.1.as_bytes());
        }
        let digest = hasher.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Some(key)
    }
}

/// The 429 answer: `RATE_LIMITED`, `Retry-After` in whole seconds (at least one) and a sentence
/// a voice agent can read out.
pub(super) fn refusal(wait: Duration) -> ApiError {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let unit = if secs == 1 { "second" } else { "seconds" };
    ApiError::new(
        ErrorCode::RateLimited,
        format!("Too many requests right now. Please wait {secs} {unit} and try again."),
    )
    .with_retry_after(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_budget_is_refused_with_a_wait() {
        let limits = Limits::new(
            &LimitsConfig {
                address_per_second: 1,
                address_burst: 3,
                ..LimitsConfig::default()
            },
            &[],
        );
        let client = IpAddr::from([192, 0, 2, 1]);
        let headers = HeaderMap::new();
        for _ in 0..3 {
            assert!(limits.admit("/auth/link", &headers, client).is_ok());
        }
        let wait = limits
            .admit("/auth/link", &headers, client)
            .expect_err("fourth request refused");
        assert!(wait <= Duration::from_secs(1));
        let other = IpAddr::from([192, 0, 2, 2]);
        assert!(limits.admit("/auth/link", &headers, other).is_ok());
        assert_eq!(refusal(wait).code(), ErrorCode::RateLimited);
    }
}
