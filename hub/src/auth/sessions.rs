//! Browser sessions of the console: a random secret in an `HttpOnly` cookie, stored only as its
//! hash, with an idle and an absolute lifetime. A session acts as its user exactly as the user's
//! personal token would; a deactivated user's sessions stop at once because every check joins
//! the user's `active` flag.
//!
//! A cookie is sent by the browser whatever page made the request, so a request that changes
//! state and rides on a session must also carry the session's CSRF token (derived from the
//! secret, so nothing more is stored) and, checked by [`super::origin_guard`], an `Origin` that
//! is the hub's own.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{
    Actor, AuthError, Role,
    tokens::{self, TokenKind},
};
use crate::db::{Db, Tx, parse_timestamp, timestamp};
use shared::ActorType;

/// The cookie's name over plain HTTP (development, tests on loopback).
pub const COOKIE: &str = "corbi_session";
/// The cookie's name when the hub is reached over HTTPS: the `__Host-` prefix makes browsers
/// refuse it unless it is `Secure`, host-only and `Path=/`.
pub const SECURE_COOKIE: &str = "__Host-corbi_session";
/// The header a cookie-authenticated request that changes state carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lives.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Ends a session nobody used for this long.
    pub idle: Duration,
    /// Ends every session this long after sign-in, used or not.
    pub absolute: Duration,
}

/// Writing `last_seen_at` on every request would make each page view a write; once a minute
/// keeps the idle lifetime exact to a minute.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Opens a session for the user and returns the cookie's secret (shown to the browser only).
pub async fn open(
    db: &Db,
    tenant_id: &str,
    user_id: &str,
    lifetimes: Lifetimes,
) -> Result<String, AuthError> {
    let mut tx = db.begin_write().await?;
    let secret = open_in(&mut tx, tenant_id, user_id, lifetimes).await?;
    tx.commit().await?;
    Ok(secret)
}

/// [`open`] inside the caller's transaction (a sign-in link is spent in the same one).
pub async fn open_in(
    tx: &mut Tx,
    tenant_id: &str,
    user_id: &str,
    lifetimes: Lifetimes,
) -> Result<String, AuthError> {
    let secret = tokens::generate(TokenKind::Session);
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO sessions (id_hash, tenant_id, user_id, created_at, last_seen_at, expires_at, idle_secs) \
         VALUES ($1, $2, $3, $4, $4, $5, $6)",
    )
    .bind(tokens::hash(&secret))
    .bind(tenant_id)
    .bind(user_id)
    .bind(timestamp(now))
    .bind(timestamp(now + lifetimes.absolute))
    .bind(lifetimes.idle.num_seconds())
    .execute(&mut **tx)
    .await?;
    Ok(secret)
}

/// The actor of a live session; an unknown, ended, idle or expired session, or one whose user
/// was deactivated, is refused like a bad token.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Actor, AuthError> {
    let id_hash = tokens::hash(secret);
    let row = sqlx::query(
        "SELECT s.tenant_id, s.user_id, s.last_seen_at, s.expires_at, s.idle_secs, u.role \
         FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id \
         WHERE s.id_hash = $1 AND u.active = 1",
    )
    .bind(&id_hash)
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::Unauthenticated)?;
    let now = Utc::now();
    let last_seen = parse_timestamp(&row.try_get::<String, _>("last_seen_at")?)?;
    let expires = parse_timestamp(&row.try_get::<String, _>("expires_at")?)?;
    let idle = Duration::seconds(row.try_get("idle_secs")?);
    if now >= expires || now >= last_seen + idle {
        return Err(AuthError::Unauthenticated);
    }
    if now - last_seen >= TOUCH_EVERY {
        touch(db, &id_hash, now).await?;
    }
    let role: String = row.try_get("role")?;
    Ok(Actor {
        tenant_id: row.try_get("tenant_id")?,
        actor_type: ActorType::User,
        id: row.try_get("user_id")?,
        role: Role::parse(&role),
        resource_id: None,
    })
}

async fn touch(db: &Db, id_hash: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
        .bind(timestamp(now))
        .bind(id_hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends one session (sign-out). Ending an unknown one is not an error: the browser is signed
/// out either way.
pub async fn close(db: &Db, secret: &str) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(tokens::hash(secret))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Ends every session of a user (deactivation), in the caller's transaction.
pub async fn close_all_in(tx: &mut Tx, tenant_id: &str, user_id: &str) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The CSRF token of a session: a hash of its secret, so it proves the page that sends it
/// could read what the hub gave that session, without revealing the secret.
pub fn csrf_token(secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"corbi csrf\0");
    digest.update(secret.as_bytes());
    hex::encode(digest.finalize())
}

/// True when `presented` is the session's CSRF token (compared in constant time).
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    csrf_token(secret)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// The value of the request's cookie called `name`, if it sent one.
pub fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The session secret the request's cookies carry, if any.
pub fn secret_from_cookies(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie_value(headers, SECURE_COOKIE)
        .or_else(|| cookie_value(headers, COOKIE))
        .filter(|value| value.starts_with("corbi_ses_"))
}

/// A `Set-Cookie` value for a flow in progress (an OAuth or sign-in `state`): `HttpOnly`,
/// `SameSite=Lax`, scoped to `path`, living `ttl`; `value` None removes it.
pub fn flow_cookie(
    name: &str,
    value: Option<&str>,
    path: &str,
    secure: bool,
    ttl: Duration,
) -> String {
    let max_age = match value {
        Some(_) => cookie::time::Duration::seconds(ttl.num_seconds()),
        None => cookie::time::Duration::ZERO,
    };
    cookie::Cookie::build((name.to_string(), value.unwrap_or_default().to_string()))
        .path(path.to_string())
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure)
        .max_age(max_age)
        .build()
        .to_string()
}

/// The `Set-Cookie` value that stores a session in the browser, or (`secret` None) removes it.
pub fn set_cookie(secure: bool, secret: Option<&str>, lifetimes: Lifetimes) -> String {
    let name = if secure { SECURE_COOKIE } else { COOKIE };
    let mut cookie = cookie::Cookie::build((name, secret.unwrap_or_default().to_string()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure);
    cookie = match secret {
        Some(_) => cookie.max_age(cookie::time::Duration::seconds(
            lifetimes.absolute.num_seconds(),
        )),
        None => cookie.max_age(cookie::time::Duration::ZERO),
    };
    cookie.build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let a = tokens::generate(TokenKind::Session);
        let b = tokens::generate(TokenKind::Session);
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_token(&a).contains(&a));
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let lifetimes = Lifetimes {
            idle: Duration::hours(1),
            absolute: Duration::days(1),
        };
        let plain = set_cookie(false, Some("corbi_ses_x"), lifetimes);
        assert!(plain.starts_with("corbi_session=corbi_ses_x"), "{plain}");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(!plain.contains("Secure"));
        let secure = set_cookie(true, Some("corbi_ses_x"), lifetimes);
        assert!(secure.starts_with("__Host-corbi_session=") && secure.contains("Secure"));
        assert!(set_cookie(false, None, lifetimes).contains("Max-Age=0"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "theme=dark; corbi_session=corbi_ses_abc; x=1"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            secret_from_cookies(&headers).as_deref(),
            Some("corbi_ses_abc")
        );
    }
}
