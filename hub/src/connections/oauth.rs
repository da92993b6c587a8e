//! OAuth 2.0 authorization-code flow with PKCE and offline access (the `oauth2` crate), and
//! its routes: `/oauth/google/start` sends a signed-in person to Google's consent screen,
//! `/oauth/google/callback` stores the grant, `GET /api/v1/google/connection` tells an admin
//! where the connection stands and what is missing.
//!
//! The `state` parameter is a random value bound (by its hash, server side) to the tenant, the
//! user and the PKCE verifier; it is single-use and expires after ten minutes.

use std::{future::Future, pin::Pin};

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use chrono::{Duration, Utc};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
    basic::{BasicClient, BasicErrorResponseType},
};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ConnectionError, ConnectionStatus, Grant, Owner};
use crate::{
    AppState,
    auth::{Actor, policy, tokens},
    config::GoogleConfig,
    db::{Db, DbError, timestamp},
    error::{ApiError, ApiQuery},
    google::scopes,
};

type GoogleOAuth =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Why a refresh failed.
#[derive(Debug)]
pub enum RefreshError {
    /// Google no longer honours the refresh token (`invalid_grant`).
    InvalidGrant,
    /// Worth retrying later (network, 5xx); the text never holds a token.
    Transient(String),
}

/// The OAuth client of this installation.
#[derive(Clone)]
pub struct OAuthClient {
    client: GoogleOAuth,
    transport: Transport,
}

/// The HTTP transport of the `oauth2` crate, on this hub's reqwest client.
#[derive(Clone)]
struct Transport(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Transport {
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = axum::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response.bytes().await?;
            Ok(builder.body(bytes.to_vec()).unwrap_or_default())
        })
    }
}

impl OAuthClient {
    /// Builds the client from configuration; the redirect goes to this hub's callback.
    pub fn new(
        config: &GoogleConfig,
        public_url: &str,
        http: reqwest::Client,
    ) -> Result<Self, url::ParseError> {
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::new(config.auth_url.clone())?)
            .set_token_uri(TokenUrl::new(config.token_url.clone())?)
            .set_redirect_uri(RedirectUrl::new(format!(
                "{public_url}/oauth/google/callback"
            ))?)
            .set_auth_type(AuthType::RequestBody);
        Ok(OAuthClient {
            client,
            transport: Transport(http),
        })
    }

    fn authorization_url(
        &self,
        state: &str,
        scopes: &[&str],
        challenge: PkceCodeChallenge,
        login_hint: Option<&str>,
    ) -> String {
        let state = state.to_string();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_string())))
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .add_extra_param("include_granted_scopes", "true")
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_string());
        }
        request.url().0.to_string()
    }

    async fn exchange(&self, code: &str, verifier: &str) -> Result<Grant, String> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&self.transport)
            .await
            .map_err(|err| describe(&err))?;
        Ok(grant_from(&response))
    }

    /// Trades a refresh token for a new access token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Grant, RefreshError> {
        let response = self
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_string()))
            .request_async(&self.transport)
            .await;
        match response {
            Ok(response) => Ok(grant_from(&response)),
            Err(RequestTokenError::ServerResponse(body))
                if *body.error() == BasicErrorResponseType::InvalidGrant =>
            {
                Err(RefreshError::InvalidGrant)
            }
            Err(err) => Err(RefreshError::Transient(describe(&err))),
        }
    }
}

fn grant_from(response: &oauth2::basic::BasicTokenResponse) -> Grant {
    let lifetime = response.expires_in().map_or(Duration::hours(1), |d| {
        Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(3600))
    });
    Grant {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
        expires_at: Utc::now() + lifetime,
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|scope| scope.to_string()).collect()),
    }
}

/// Describes a token-endpoint failure without any token in it.
fn describe<RE: std::error::Error + 'static>(
    err: &RequestTokenError<RE, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> String {
    match err {
        RequestTokenError::ServerResponse(body) => {
            format!("token endpoint refused: {}", body.error())
        }
        RequestTokenError::Request(_) => "token endpoint unreachable".into(),
        RequestTokenError::Parse(_, _) => "token endpoint answered something unreadable".into(),
        RequestTokenError::Other(text) => format!("token endpoint failed: {text}"),
    }
}

/// The routes of the OAuth flow.
pub fn routes() -> OpenApiRouter<AppState> {
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
    State(state): State<AppState>,
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
    Ok(Redirect::to(&url).into_response())
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
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<CallbackParams>,
) -> Result<Response, ApiError> {
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
pub fn connection_error(err: ConnectionError) -> ApiError {
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
    State(state): State<AppState>,
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
