//! "Sign in with Google": OpenID Connect's authorization-code flow with PKCE, `state` and
//! `nonce`. The issuer's discovery document names the endpoints and the signing keys; the id
//! token's signature (RS256, by `kid` from the JWKS), issuer, audience, expiry and nonce are all
//! checked before its verified email is matched to an active user.
//!
//! The `state` is stored (hashed) with the nonce and the PKCE verifier, and also set in a
//! short-lived cookie scoped to `/auth/google`: the callback must come back to the browser that
//! started, so a sign-in URL sent to someone else cannot sign them in as the sender.

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::Response,
};
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use oauth2::PkceCodeChallenge;
use serde::Deserialize;
use sqlx::Row;

use super::{
    SigninError, SigninState, failed, open_session, same_origin_path, see_other, signed_in,
};
use crate::{
    auth::{
        sessions, store,
        tokens::{self, TokenKind},
    },
    config::GoogleConfig,
    db::{Db, parse_timestamp, timestamp},
};

/// The browser-binding cookie of a sign-in in progress.
const STATE_COOKIE: &str = "corbi_signin_state";
/// The path it is scoped to, so it travels only to the callback.
const STATE_COOKIE_PATH: &str = "/auth/google";
/// How long a person may stay on Google's screens.
const STATE_TTL: Duration = Duration::minutes(10);
/// Google signs with either spelling of its issuer.
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Google's OpenID Connect client of this installation.
#[derive(Clone)]
pub struct OidcClient {
    http: reqwest::Client,
    client_id: String,
    client_secret: String,
    issuer: String,
    redirect_uri: String,
}

/// The parts of the issuer's discovery document that sign-in uses.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The claims of an id token that sign-in reads.
#[derive(Debug, Deserialize)]
struct Claims {
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    nonce: Option<String>,
}

impl OidcClient {
    /// The client for this configuration, answering at `{public_url}/auth/google/callback`.
    pub fn new(config: &GoogleConfig, public_url: &str) -> Result<OidcClient, reqwest::Error> {
        Ok(OidcClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_millis(config.timeout_ms))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.expose().to_string(),
            issuer: config.issuer.trim_end_matches('/').to_string(),
            redirect_uri: format!("{}/auth/google/callback", public_url.trim_end_matches('/')),
        })
    }

    async fn discover(&self) -> Result<Discovery, SigninError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let discovery: Discovery = self.get_json(&url).await?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(SigninError::Google("discovery names another issuer".into()));
        }
        Ok(discovery)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SigninError> {
        let response = self.http.get(url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(SigninError::Google(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        response.json().await.map_err(unreachable)
    }

    /// Exchanges the code for the id token (the access token is not kept: sign-in needs none).
    async fn id_token(
        &self,
        discovery: &Discovery,
        code: &str,
        verifier: &str,
    ) -> Result<String, SigninError> {
        #[derive(Deserialize)]
        struct TokenAnswer {
            id_token: Option<String>,
        }
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(SigninError::Google(format!(
                "the token endpoint answered {}",
                response.status()
            )));
        }
        let answer: TokenAnswer = response.json().await.map_err(unreachable)?;
        answer
            .id_token
            .ok_or_else(|| SigninError::Google("no id token in the answer".into()))
    }

    /// The verified email of a checked id token.
    async fn verified_email(
        &self,
        discovery: &Discovery,
        id_token: &str,
        nonce: &str,
    ) -> Result<String, SigninError> {
        let header = jsonwebtoken::decode_header(id_token).map_err(refused)?;
        let kid = header
            .kid
            .ok_or_else(|| SigninError::Google("the id token names no key".into()))?;
        let keys: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let jwk = keys
            .find(&kid)
            .ok_or_else(|| SigninError::Google("the id token's key is not published".into()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(refused)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        if GOOGLE_ISSUERS.contains(&self.issuer.as_str()) {
            validation.set_issuer(&GOOGLE_ISSUERS);
        } else {
            validation.set_issuer(&[&self.issuer]);
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(id_token, &key, &validation)
            .map_err(refused)?
            .claims;
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(SigninError::Google(
                "the id token's nonce does not match".into(),
            ));
        }
        match claims.email {
            Some(email) if claims.email_verified => Ok(email),
            _ => Err(SigninError::Google(
                "the account's email is not verified".into(),
            )),
        }
    }
}

fn unreachable(err: reqwest::Error) -> SigninError {
    SigninError::Google(format!(
        "Google could not be reached: {}",
        err.without_url()
    ))
}

fn refused(err: jsonwebtoken::errors::Error) -> SigninError {
    SigninError::Google(format!("the id token was refused: {err}"))
}

/// Parameters of `/auth/google/start`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StartParams {
    /// Where to go once signed in (a path of this hub).
    pub next: Option<String>,
    /// The Google account to preselect (passed to Google as `login_hint`).
    pub login_hint: Option<String>,
}

/// Sends the browser to Google's sign-in screen (303).
#[utoipa::path(get, path = "/auth/google/start", params(StartParams),
    responses((status = 303, description = "to Google; on failure to `/signin?error=…`")),
    tag = "console")]
pub(super) async fn start(
    State(state): State<SigninState>,
    Query(params): Query<StartParams>,
) -> Response {
    let next = same_origin_path(params.next.as_deref());
    match begin(&state, &next, params.login_hint.as_deref()).await {
        Ok((location, cookie)) => see_other(&location, &[cookie]),
        Err(err) => failed(err),
    }
}

async fn begin(
    state: &SigninState,
    next: &str,
    login_hint: Option<&str>,
) -> Result<(String, String), SigninError> {
    let client = &state.signin.inner.google;
    let discovery = client.discover().await?;
    let sign_in_state = tokens::generate(TokenKind::OAuthState);
    let nonce = tokens::generate(TokenKind::OAuthState);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    save_state(&state.db, &sign_in_state, &nonce, verifier.secret(), next).await?;
    let mut url = url::Url::parse(&discovery.authorization_endpoint)
        .map_err(|_| SigninError::Google("the authorization endpoint is not a URL".into()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", &sign_in_state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("prompt", "select_account");
    if let Some(hint) = login_hint {
        url.query_pairs_mut().append_pair("login_hint", hint);
    }
    Ok((url.to_string(), state_cookie(state, Some(&sign_in_state))))
}

fn state_cookie(state: &SigninState, value: Option<&str>) -> String {
    sessions::flow_cookie(
        STATE_COOKIE,
        value,
        STATE_COOKIE_PATH,
        state.signin.inner.secure,
        STATE_TTL,
    )
}

async fn save_state(
    db: &Db,
    value: &str,
    nonce: &str,
    verifier: &str,
    next: &str,
) -> Result<(), SigninError> {
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO signin_states (state_hash, nonce, verifier, next_path, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tokens::hash(value))
    .bind(nonce)
    .bind(verifier)
    .bind(next)
    .bind(timestamp(now))
    .bind(timestamp(now + STATE_TTL))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A sign-in in progress, taken (once) by its state.
struct Pending {
    nonce: String,
    verifier: String,
    next: String,
}

async fn take_state(db: &Db, value: &str) -> Result<Pending, SigninError> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "DELETE FROM signin_states WHERE state_hash = $1 \
         RETURNING nonce, verifier, next_path, expires_at",
    )
    .bind(tokens::hash(value))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SigninError::Google("the sign-in was not started here".into()))?;
    tx.commit().await?;
    if parse_timestamp(&row.try_get::<String, _>("expires_at")?)? <= Utc::now() {
        return Err(SigninError::Google("the sign-in took too long".into()));
    }
    Ok(Pending {
        nonce: row.try_get("nonce")?,
        verifier: row.try_get("verifier")?,
        next: row.try_get("next_path")?,
    })
}

/// Google's answer to the sign-in screen.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent with the request.
    pub state: Option<String>,
    /// Set when the person declined or Google refused.
    pub error: Option<String>,
}

/// Where Google sends the browser back: checks everything, opens the session, goes on (303).
#[utoipa::path(get, path = "/auth/google/callback", params(CallbackParams),
    responses((status = 303, description = "signed in, to `next`; or to `/signin?error=…`")),
    tag = "console")]
pub(super) async fn callback(
    State(state): State<SigninState>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let clear = state_cookie(&state, None);
    match finish(&state, &headers, &params).await {
        Ok((secret, next)) => signed_in(&state.signin, &secret, &next, &[clear]),
        Err(err) => {
            let mut response = failed(err);
            if let Ok(value) = clear.parse() {
                response
                    .headers_mut()
                    .append(axum::http::header::SET_COOKIE, value);
            }
            response
        }
    }
}

async fn finish(
    state: &SigninState,
    headers: &HeaderMap,
    params: &CallbackParams,
) -> Result<(String, String), SigninError> {
    if let Some(error) = &params.error {
        return Err(SigninError::Google(format!("Google answered {error:?}")));
    }
    let (Some(code), Some(returned)) = (params.code.as_deref(), params.state.as_deref()) else {
        return Err(SigninError::Google("code or state missing".into()));
    };
    if sessions::cookie_value(headers, STATE_COOKIE).as_deref() != Some(returned) {
        return Err(SigninError::Google(
            "the sign-in was started in another browser".into(),
        ));
    }
    let pending = take_state(&state.db, returned).await?;
    let client = &state.signin.inner.google;
    let discovery = client.discover().await?;
    let id_token = client.id_token(&discovery, code, &pending.verifier).await?;
    let email = client
        .verified_email(&discovery, &id_token, &pending.nonce)
        .await?;
    let user = user_for(&state.db, &email).await?;
    let secret = open_session(&state.db, &state.signin, &user).await?;
    tracing::info!(tenant_id = %user.tenant_id, user_id = %user.id, "signed in with Google");
    Ok((secret, pending.next))
}

/// The user a Google account is: the oldest active user with its email (a person in several
/// tenants signs in to the first; the others by a sign-in link). An email known only as a
/// deactivated user is told so.
async fn user_for(db: &Db, email: &str) -> Result<store::User, SigninError> {
    let users = store::active_users_by_email(db, email).await?;
    match users.into_iter().next() {
        Some(user) => Ok(user),
        None if store::any_user_with_email(db, email).await? => Err(SigninError::Deactivated),
        None => Err(SigninError::UnknownUser),
    }
}
