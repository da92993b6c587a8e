//! Protection of the HTTP surface, so the hub can face the internet without a proxy: rate
//! limits per credential, per tenant and per client address ([`limits`]), the believed client
//! address behind trusted proxies ([`proxy`]), security headers and the request timeout
//! ([`headers`]), and HTTPS served by the hub itself with certificate reloads and an optional
//! redirect listener ([`tls`]). It owns the `[limits]` and `[tls]` configuration sections' use
//! and [`ProtectionError`]; [`guard`] is the one middleware `app()` puts in front of every route.

pub mod headers;
pub mod limits;
pub mod proxy;
pub mod tls;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::Extensions,
    middleware::Next,
    response::{IntoResponse, Response},
};
use shared::ErrorCode;

use crate::{config::Config, error::ApiError};

pub use limits::Limits;
pub use proxy::{ClientAddr, TrustedProxies};

/// Why the protection settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProtectionError {
    /// `TRUSTED_PROXIES` holds something that is not a CIDR block or an address.
    #[error("TRUSTED_PROXIES: {0:?} is not a CIDR block such as 10.0.0.0/8")]
    BadProxy(String),
    /// The certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The PEM files hold no usable certificate chain or key.
    #[error("{0}")]
    Pem(String),
    /// rustls refused the certificate, key or protocol settings.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Everything [`guard`] needs; built once per hub from its configuration.
pub struct Protection {
    limits: Arc<Limits>,
    proxies: TrustedProxies,
    headers: headers::SecurityHeaders,
    timeout: Option<Duration>,
}

impl Protection {
    /// Reads the `[limits]` section; `session_cookies` names the cookies that carry a console
    /// session (a credential for the per-credential limit). HSTS is sent when `public_url` is
    /// https.
    pub fn new(
        config: &Config,
        public_url: &str,
        session_cookies: &'static [&'static str],
    ) -> Result<Protection, ProtectionError> {
        let limits = &config.limits;
        Ok(Protection {
            limits: Arc::new(Limits::new(limits, session_cookies)),
            proxies: TrustedProxies::parse(&limits.trusted_proxies)?,
            headers: headers::SecurityHeaders::new(public_url.starts_with("https://")),
            timeout: (limits.request_timeout_secs > 0)
                .then(|| Duration::from_secs(limits.request_timeout_secs)),
        })
    }
}

/// The middleware in front of every route: resolves the client address (dropping forwarded
/// headers from untrusted peers), refuses over-limit callers with 429 before any handler (and
/// so any database lock) runs, bounds the handler's time and adds the security headers to
/// every answer, refusals included.
pub async fn guard(
    State(protection): State<Arc<Protection>>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = protection.proxies.resolve(&mut request);
    let admitted = protection
        .limits
        .admit(request.uri().path(), request.headers(), client);
    let mut response = match admitted {
        Err(wait) => limits::refusal(wait).into_response(),
        Ok(()) => {
            request
                .extensions_mut()
                .insert(TenantBudget(protection.limits.clone()));
            match protection.timeout {
                Some(limit) => match tokio::time::timeout(limit, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => timed_out().into_response(),
                },
                None => next.run(request).await,
            }
        }
    };
    protection.headers.apply(response.headers_mut());
    response
}

/// The tenant limiter, handed to the place that learns the tenant (the `Actor` extractor).
#[derive(Clone)]
struct TenantBudget(Arc<Limits>);

/// Charges one request to the tenant's overall budget; called where the caller's tenant becomes
/// known, so the check costs no extra lookup. Without [`guard`] in front (a router built
/// without protection) every request passes.
pub fn charge_tenant(extensions: &Extensions, tenant_id: &str) -> Result<(), ApiError> {
    match extensions.get::<TenantBudget>() {
        Some(TenantBudget(budget)) => budget.charge_tenant(tenant_id).map_err(limits::refusal),
        None => Ok(()),
    }
}

/// The answer to a request that ran longer than `REQUEST_TIMEOUT_SECS`.
fn timed_out() -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        "That took too long on our side. Please try again in a moment.",
    )
    .with_cause("request timed out")
}
