//! Google Calendar connections as people make them: `/oauth/google/start` sends a signed-in
//! person to Google's consent screen, `/oauth/google/callback` stores the grant,
//! `GET /api/v1/google/connection` tells an admin where the connection stands and what is
//! missing. They live with the Google client because what they ask for and check are its
//! [`scopes`]; the OAuth client and the sealed token store they use are [`crate::connections`].
//!
//! The `state` parameter is a random value bound (by its hash, server side) to the tenant, the
//! user and the PKCE verifier; it is single-use and expires after ten minutes. It is also set in
//! a cookie scoped to `/oauth/google` when the flow starts, and the callback accepts it only from
//! the browser holding that cookie: a consent link forwarded to a colleague cannot attach the
//! colleague's Google account to the sender.

use std::sync::Arc;

use axum::{
    Json,
    extract::{FromRef, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{Duration, Utc};
use oauth2::PkceCodeChallenge;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Google, scopes};
use crate::{
    auth::{Actor, policy, sessions, tokens},
    connections::{ConnectionError, ConnectionStatus, Connections, Owner},
    db::{Db, DbError, timestamp},
    error::{ApiError, ApiQuery},
    handles::capability_handles,
};

capability_handles! {
    /// What the connect routes use of the hub, taken from any router state holding these handles.
    pub struct ConnectState {
        /// Pending consents.
        pub db: Db,
        /// The OAuth client and the sealed token store.
        pub connections: Connections,
        /// Learns the connected account's address.
        pub google: Google,
        /// The hub's URL as people reach it (where to connect).
        pub public_url: Arc<str>,
    }
}

/// The routes of the OAuth flow.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    ConnectState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
        .routes(routes!(connection_status))
}

/// Parameters of `/oauth/google/start`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StartParams {
    /// `tenant` (admins: the account owning resource calendars) or `user` (your own calendar).
    #[serde(rename = "for")]
    pub target: Option<String>,
    /// The Google account to preselect.
    pub login_hint: Option<String>,
}

/// Sends the signed-in person to Google's consent screen (302).
#[utoipa::path(get, path = "/oauth/google/start", params(StartParams),
    responses((status = 302, description = "to Google's consent screen")), tag = "google")]
async fn start(
    State(state): State<ConnectState>,
    actor: Actor,
    ApiQuery(params): ApiQuery<StartParams>,
) -> Result<Response, ApiError> {
    let (owner, wanted) = match params.target.as_deref().unwrap_or("tenant") {
        "tenant" => {
            policy::require_admin(&actor)?;
            (Owner::Tenant, scopes::TENANT)
        }
        "user" if actor.actor_type == shared::ActorType::User => {
            (Owner::User(actor.id.clone()), scopes::USER)
        }
        _ => {
            return Err(ApiError::validation(vec![crate::error::FieldError::new(
                "for",
                "use tenant (administrators) or user (a person's own calendar)",
            )]));
        }
    };
    let state_value = tokens::generate(tokens::TokenKind::OAuthState);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    save_state(
        &state.db,
        &state_value,
        &actor,
        &owner,
        wanted,
        verifier.secret(),
    )
    .await?;
    let url = state.connections.oauth().authorization_url(
        &state_value,
        wanted,
        challenge,
        params.login_hint.as_deref(),
    );
    let cookie = browser_cookie(&state.public_url, Some(&state_value));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
}

/// The cookie that ties a consent in progress to the browser that started it.
const BROWSER_COOKIE: &str = "corbi_oauth_state";

fn browser_cookie(public_url: &str, value: Option<&str>) -> String {
    sessions::flow_cookie(
        BROWSER_COOKIE,
        value,
        "/oauth/google",
        public_url.starts_with("https://"),
        Duration::minutes(10),
    )
}

/// True when the request carries the state cookie with this value.
fn started_in_this_browser(headers: &axum::http::HeaderMap, value: &str) -> bool {
    !value.is_empty() && sessions::cookie_value(headers, BROWSER_COOKIE).as_deref() == Some(value)
}

async fn save_state(
    db: &Db,
    value: &str,
    actor: &Actor,
    owner: &Owner,
    wanted: &[&str],
    verifier: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, tenant_id, user_id, owner, scopes, pkce_verifier, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tokens::hash(value))
    .bind(&actor.tenant_id)
    .bind(&actor.id)
    .bind(owner.key())
    .bind(wanted.join(" "))
    .bind(verifier)
    .bind(timestamp(Utc::now() + Duration::minutes(10)))
    .execute(db.pool())
    .await
    .map_err(DbError::classify)?;
    Ok(())
}

struct PendingConsent {
    tenant_id: String,
    owner: Owner,
    verifier: String,
}

/// Takes (and deletes) a pending consent; expired and unknown states answer None.
async fn take_state(db: &Db, value: &str) -> Result<Option<PendingConsent>, DbError> {
    let hash = tokens::hash(value);
    // A read first: a flood of made-up states must not queue for the write lock.
    let known = sqlx::query("SELECT 1 FROM oauth_states WHERE state_hash = $1 AND expires_at > $2")
        .bind(&hash)
        .bind(timestamp(Utc::now()))
        .fetch_optional(db.pool())
        .await?;
    if known.is_none() {
        return Ok(None);
    }
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "DELETE FROM oauth_states WHERE state_hash = $1 AND expires_at > $2 \
         RETURNING tenant_id, owner, pkce_verifier",
    )
    .bind(&hash)
    .bind(timestamp(Utc::now()))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(|row| {
        let owner: String = row.try_get("owner")?;
        Ok(PendingConsent {
            tenant_id: row.try_get("tenant_id")?,
            owner: Owner::from_key(&owner),
            verifier: row.try_get("pkce_verifier")?,
        })
    })
    .transpose()
}

/// Parameters Google sends back to the callback.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// Our state value.
    pub state: Option<String>,
    /// Set when the person declined.
    pub error: Option<String>,
}

/// Where Google returns the person after consent; stores the sealed grant.
#[utoipa::path(get, path = "/oauth/google/callback", params(CallbackParams),
    responses((status = 200, description = "connected"), (status = 400, description = "refused or expired")), tag = "google")]
async fn callback(
    State(state): State<ConnectState>,
    headers: axum::http::HeaderMap,
    ApiQuery(params): ApiQuery<CallbackParams>,
) -> Result<Response, ApiError> {
    if !started_in_this_browser(&headers, params.state.as_deref().unwrap_or_default()) {
        tracing::warn!(
            security = true,
            "Google consent answered in a browser that did not start it; refused"
        );
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "This Google connection was started in another browser. Start it again here, from CORBI.",
        ));
    }
    let Some(pending) = take_state(&state.db, params.state.as_deref().unwrap_or_default()).await?
    else {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "This sign-in link has expired or was already used. Start again from CORBI.",
        ));
    };
    if params.error.is_some() {
        return Ok(page(
            StatusCode::BAD_REQUEST,
            "Google access was not granted, so nothing was connected.",
        ));
    }
    let code = params.code.unwrap_or_default();
    let grant = match state
        .connections
        .oauth()
        .exchange(&code, &pending.verifier)
        .await
    {
        Ok(grant) => grant,
        Err(cause) => {
            tracing::warn!(%cause, tenant_id = %pending.tenant_id, "authorization code exchange failed");
            return Ok(page(
                StatusCode::BAD_GATEWAY,
                "Google did not accept the sign-in. Please try again.",
            ));
        }
    };
    let email = state
        .google
        .primary_calendar_id(&grant.access_token)
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "could not read the connected account's primary calendar");
            String::new()
        });
    state
        .connections
        .store_grant(&pending.tenant_id, &pending.owner, &email, &grant)
        .await
        .map_err(connection_error)?;
    tracing::info!(tenant_id = %pending.tenant_id, "Google account connected");
    Ok(page(
        StatusCode::OK,
        "Your Google account is connected to CORBI. You can close this window.",
    ))
}

fn page(status: StatusCode, sentence: &str) -> Response {
    let html = format!("<!doctype html><meta charset=utf-8><title>CORBI</title><p>{sentence}</p>");
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// Maps connection failures onto the contract.
fn connection_error(err: ConnectionError) -> ApiError {
    match err {
        ConnectionError::Db(db) => db.into(),
        other => ApiError::internal(other),
    }
}

/// Parameters of the status endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatusParams {
    /// `tenant` (default) or `user`.
    #[serde(rename = "for")]
    pub target: Option<String>,
}

/// Where a connection stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// Whether any account is connected.
    pub connected: bool,
    /// `active` or `needs_reconsent`.
    pub status: Option<ConnectionStatus>,
    /// Why it needs consent again.
    pub status_reason: Option<String>,
    /// The connected account.
    pub account_email: Option<String>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Scopes CORBI needs and lacks.
    pub missing_scopes: Vec<String>,
    /// Where to (re)connect: open it signed in to CORBI.
    pub connect_url: String,
}

/// Status of the tenant's (or your own) Google connection.
#[utoipa::path(get, path = "/api/v1/google/connection", params(StatusParams),
    responses((status = 200, body = ConnectionView)), tag = "google")]
async fn connection_status(
    State(state): State<ConnectState>,
    actor: Actor,
    ApiQuery(params): ApiQuery<StatusParams>,
) -> Result<Json<ConnectionView>, ApiError> {
    let (owner, required, target) = match params.target.as_deref() {
        Some("user") => (Owner::User(actor.id.clone()), scopes::USER, "user"),
        _ => (Owner::Tenant, scopes::TENANT, "tenant"),
    };
    let found = state
        .connections
        .find(&actor.tenant_id, &owner)
        .await
        .map_err(connection_error)?;
    let connect_url = format!("{}/oauth/google/start?for={target}", state.public_url);
    let view = match found {
        None => ConnectionView {
            connected: false,
            status: None,
            status_reason: None,
            account_email: None,
            scopes: Vec::new(),
            missing_scopes: required.iter().map(|s| (*s).to_string()).collect(),
            connect_url,
        },
        Some(connection) => ConnectionView {
            connected: true,
            missing_scopes: scopes::missing(required, &connection.scopes)
                .into_iter()
                .map(str::to_string)
                .collect(),
            status: Some(connection.status),
            status_reason: connection.status_reason,
            account_email: Some(connection.account_email),
            scopes: connection.scopes,
            connect_url,
        },
    };
    Ok(Json(view))
}
