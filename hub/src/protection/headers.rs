//! Security headers on every answer. The console is a same-origin Vite build with no inline
//! scripts or styles (React sets styles through the DOM, which CSP allows), so the policy
//! allows only the hub's own origin and forbids framing; API answers get the same headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// The console's Content-Security-Policy: same-origin everything, no plugins, no framing, no
/// `<base>` tricks; images may also be `data:` URLs (icons inlined by the build).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// One year, without `includeSubDomains`: the hub does not speak for its parent domain.
const HSTS: &str = "max-age=31536000";

/// The headers added to every answer.
pub(super) struct SecurityHeaders {
    fixed: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// The set; HSTS only when the public URL is https (browsers ignore it over plain HTTP,
    /// and sending it for an http hub would make a later switch to https sticky by accident).
    pub(super) fn new(hsts: bool) -> Self {
        let mut fixed = vec![
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ];
        if hsts {
            fixed.push((
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            ));
        }
        SecurityHeaders { fixed }
    }

    /// Adds the headers a handler did not set itself.
    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.fixed {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}
