//! One-time sign-in links: `hub user login-link` (and the demo) makes a URL that signs its
//! holder in as one user. Only the token's hash is stored; a link works once, for
//! `CONSOLE_SIGNIN_LINK_MINUTES` (15 by default), and only for a user who is still active.
//! Spending the link and opening the session happen in one transaction, so two clicks on the
//! same link cannot both sign in.

use axum::{
    extract::{Query, State},
    response::Response,
};
use chrono::Utc;
use serde::Deserialize;
use sqlx::Row;

use super::{Signin, SigninError, SigninState, failed, same_origin_path, signed_in};
use crate::{
    auth::{
        sessions, store,
        tokens::{self, TokenKind},
    },
    db::{Db, parse_timestamp, timestamp},
};

/// Makes a sign-in link for the user with this email in the tenant; `next` is where the
/// browser goes once signed in (a path of this hub; anything else becomes `/`).
pub async fn create(
    db: &Db,
    signin: &Signin,
    tenant_slug: &str,
    email: &str,
    next: Option<&str>,
) -> Result<String, SigninError> {
    let tenant = store::tenant_by_slug(db, tenant_slug).await?;
    let user = store::user_by_email(db, &tenant.id, email).await?;
    if !user.active {
        return Err(SigninError::Deactivated);
    }
    let token = tokens::generate(TokenKind::SigninLink);
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO signin_links (token_hash, tenant_id, user_id, next_path, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tokens::hash(&token))
    .bind(&tenant.id)
    .bind(&user.id)
    .bind(same_origin_path(next))
    .bind(timestamp(now))
    .bind(timestamp(now + signin.inner.link_ttl))
    .execute(db.pool())
    .await?;
    let mut url = url::Url::parse(&signin.url("/auth/link"))
        .map_err(|_| SigninError::Google("the hub's public URL is not a URL".into()))?;
    url.query_pairs_mut().append_pair("token", &token);
    Ok(url.to_string())
}

/// The query of a sign-in link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LinkParams {
    /// The link's one-time token.
    pub token: Option<String>,
    /// Overrides where to go once signed in (a path of this hub).
    pub next: Option<String>,
}

/// Signs the browser in with a one-time link and sends it on (303), or to the sign-in page
/// with the reason (`link_invalid`, `link_expired`, `link_used`, `deactivated`).
#[utoipa::path(get, path = "/auth/link", params(LinkParams),
    responses((status = 303, description = "signed in, to `next`; or to `/signin?error=…`")),
    tag = "console")]
pub(super) async fn follow(
    State(state): State<SigninState>,
    Query(params): Query<LinkParams>,
) -> Response {
    match spend(&state, params.token.as_deref().unwrap_or_default()).await {
        Ok((secret, stored_next)) => {
            let next = match params.next.as_deref() {
                Some(next) => same_origin_path(Some(next)),
                None => stored_next,
            };
            signed_in(&state.signin, &secret, &next, &[])
        }
        Err(err) => failed(err),
    }
}

/// Marks the link used and opens a session, together; answers the session's secret and the
/// link's stored destination.
async fn spend(state: &SigninState, token: &str) -> Result<(String, String), SigninError> {
    if !token.starts_with("corbi_lnk_") {
        return Err(SigninError::LinkInvalid);
    }
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(
        "SELECT l.tenant_id, l.user_id, l.next_path, l.expires_at, l.used_at, u.active \
         FROM signin_links l JOIN users u ON u.id = l.user_id AND u.tenant_id = l.tenant_id \
         WHERE l.token_hash = $1",
    )
    .bind(tokens::hash(token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(SigninError::LinkInvalid)?;
    if row.try_get::<Option<String>, _>("used_at")?.is_some() {
        return Err(SigninError::LinkUsed);
    }
    let now = Utc::now();
    if parse_timestamp(&row.try_get::<String, _>("expires_at")?)? <= now {
        return Err(SigninError::LinkExpired);
    }
    if row.try_get::<i64, _>("active")? == 0 {
        return Err(SigninError::Deactivated);
    }
    let spent = sqlx::query(
        "UPDATE signin_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
    )
    .bind(timestamp(now))
    .bind(tokens::hash(token))
    .execute(&mut *tx)
    .await?;
    if spent.rows_affected() != 1 {
        return Err(SigninError::LinkUsed);
    }
    let tenant_id: String = row.try_get("tenant_id")?;
    let user_id: String = row.try_get("user_id")?;
    let secret =
        sessions::open_in(&mut tx, &tenant_id, &user_id, state.signin.inner.lifetimes).await?;
    tx.commit().await?;
    tracing::info!(%tenant_id, %user_id, "signed in with a one-time link");
    Ok((secret, row.try_get("next_path")?))
}
