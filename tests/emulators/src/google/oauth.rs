//! Google OAuth 2.0: the authorization endpoint (approves at once, no password prompt), the token
//! endpoint (`authorization_code` with PKCE, `refresh_token`; an ID token from `oidc` when the
//! grant holds `openid`) and token revocation.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::api::{CallerSlot, Params, apply_fault};
use super::error::OAuthError;
use super::oidc::{self, IdTokenGrant};
use super::store::{AuthCode, RefreshToken, Store, random_token};
use super::{GoogleConfig, Shared};

/// Access-token lifetime from the config, as a chrono duration.
pub fn ttl(config: &GoogleConfig) -> chrono::Duration {
    chrono::Duration::from_std(config.access_token_ttl).unwrap_or(chrono::Duration::hours(1))
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("Error 400: {message}")).into_response()
}

/// `GET /o/oauth2/auth` (and `/o/oauth2/v2/auth`): approves for the account named by `login_hint`
/// (or the first account) and redirects to `redirect_uri` with `code`, `scope` and `state`.
/// `email` and `profile` are granted under Google's long scope names; `nonce` is kept for the ID
/// token.
pub async fn authorize(
    State(shared): State<Arc<Shared>>,
    axum::Extension(slot): axum::Extension<CallerSlot>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fault = shared.lock().faults.take_api("oauth.auth");
    if let Err(error) = apply_fault(fault).await {
        return error.into_response();
    }
    let (Some(client_id), Some(redirect_uri)) = (q.get("client_id"), q.get("redirect_uri")) else {
        return bad_request("invalid_request (client_id and redirect_uri are required)");
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return bad_request("unsupported_response_type");
    }
    let Some(scope) = q.get("scope").filter(|s| !s.trim().is_empty()) else {
        return bad_request("invalid_request (Missing required parameter: scope)");
    };
    let mut store = shared.lock();
    if !store.clients.contains_key(client_id) {
        return (StatusCode::UNAUTHORIZED, "Error 401: invalid_client").into_response();
    }
    let Some(email) = pick_account(&store, q.get("login_hint")) else {
        return bad_request("no such account");
    };
    slot.set(&email);
    let challenge = q.get("code_challenge").map(|c| {
        (
            c.clone(),
            q.get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into()),
        )
    });
    let scopes: Vec<String> = scope
        .split_whitespace()
        .map(oidc::normalize_scope)
        .collect();
    let code = format!("4/0A{}", random_token(60));
    store.codes.insert(
        code.clone(),
        AuthCode {
            email,
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            scopes: scopes.clone(),
            challenge,
            nonce: q.get("nonce").cloned(),
            offline: q.get("access_type").map(String::as_str) == Some("offline"),
            expires_at: Utc::now() + chrono::Duration::minutes(10),
        },
    );
    drop(store);
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return bad_request("invalid redirect_uri");
    };
    {
        let mut pairs = target.query_pairs_mut();
        if let Some(state) = q.get("state") {
            pairs.append_pair("state", state);
        }
        pairs
            .append_pair("code", &code)
            .append_pair("scope", &scopes.join(" "));
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

fn pick_account(store: &Store, hint: Option<&String>) -> Option<String> {
    match hint {
        Some(email) => store.accounts.iter().find(|a| *a == email).cloned(),
        None => store.accounts.first().cloned(),
    }
}

/// `POST /token`.
pub async fn token(
    State(shared): State<Arc<Shared>>,
    axum::Extension(slot): axum::Extension<CallerSlot>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let fault = shared.lock().faults.take_api("oauth.token");
    if let Err(error) = apply_fault(fault).await {
        return error.into_response();
    }
    match grant(&shared, &slot, &headers, &form) {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

fn grant(
    shared: &Shared,
    slot: &CallerSlot,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let client_id = client_credentials(shared, headers, form)?;
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(shared, slot, &client_id, form),
        Some("refresh_token") => refresh_grant(shared, slot, &client_id, form),
        other => Err(OAuthError::new(
            400,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {}", other.unwrap_or_default()),
        )),
    }
}

fn client_credentials(
    shared: &Shared,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<String, OAuthError> {
    let (id, secret) = basic_auth(headers)
        .or_else(|| {
            Some((
                form.get("client_id")?.clone(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ))
        })
        .ok_or_else(OAuthError::invalid_client)?;
    match shared.lock().clients.get(&id) {
        Some(expected) if *expected == secret => Ok(id),
        _ => Err(OAuthError::invalid_client()),
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn code_grant(
    shared: &Shared,
    slot: &CallerSlot,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let code = form.get("code").ok_or_else(|| {
        OAuthError::new(400, "invalid_request", "Missing required parameter: code")
    })?;
    let mut store = shared.lock();
    let grant = store
        .codes
        .remove(code)
        .filter(|c| c.expires_at > Utc::now())
        .ok_or_else(|| OAuthError::new(400, "invalid_grant", "Malformed auth code."))?;
    slot.set(&grant.email);
    if grant.client_id != client_id {
        return Err(OAuthError::new(400, "invalid_grant", "Bad Request"));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(OAuthError::new(400, "redirect_uri_mismatch", "Bad Request"));
    }
    check_pkce(grant.challenge.as_ref(), form.get("code_verifier"))?;
    let refresh = grant.offline.then(|| {
        let token = format!("1//0{}", random_token(100));
        let record = RefreshToken {
            email: grant.email.clone(),
            client_id: client_id.to_owned(),
            scopes: grant.scopes.clone(),
            revoked: false,
        };
        store.refresh_tokens.insert(token.clone(), record);
        token
    });
    let ttl = ttl(&shared.config);
    let access = store.issue_access_token(&grant.email, grant.scopes.clone(), ttl, refresh.clone());
    let mut body = token_body(&access, ttl, &grant.scopes);
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
        body["refresh_token_expires_in"] = json!(604_799);
    }
    if oidc::wants_id_token(&grant.scopes) {
        let fault = store.faults.take_id_token();
        drop(store);
        let request = IdTokenGrant {
            email: &grant.email,
            client_id,
            scopes: &grant.scopes,
            nonce: grant.nonce.as_deref(),
            access_token: &access,
        };
        body["id_token"] = json!(oidc::id_token(shared, &request, fault)?);
    }
    Ok(body)
}

fn check_pkce(
    challenge: Option<&(String, String)>,
    verifier: Option<&String>,
) -> Result<(), OAuthError> {
    let Some((challenge, method)) = challenge else {
        return Ok(());
    };
    let verifier =
        verifier.ok_or_else(|| OAuthError::new(400, "invalid_grant", "Missing code verifier."))?;
    let computed = if method == "S256" {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    } else {
        verifier.clone()
    };
    if computed == *challenge {
        Ok(())
    } else {
        Err(OAuthError::new(
            400,
            "invalid_grant",
            "Invalid code verifier.",
        ))
    }
}

fn refresh_grant(
    shared: &Shared,
    slot: &CallerSlot,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let token = form.get("refresh_token").ok_or_else(|| {
        OAuthError::new(
            400,
            "invalid_request",
            "Missing required parameter: refresh_token",
        )
    })?;
    let mut store = shared.lock();
    let grant = store
        .refresh_tokens
        .get(token)
        .filter(|g| !g.revoked)
        .cloned()
        .ok_or_else(OAuthError::revoked)?;
    slot.set(&grant.email);
    if grant.client_id != client_id {
        return Err(OAuthError::new(401, "unauthorized_client", "Unauthorized"));
    }
    let ttl = ttl(&shared.config);
    let access =
        store.issue_access_token(&grant.email, grant.scopes.clone(), ttl, Some(token.clone()));
    Ok(token_body(&access, ttl, &grant.scopes))
}

fn token_body(access: &str, ttl: chrono::Duration, scopes: &[String]) -> Value {
    json!({
        "access_token": access,
        "expires_in": ttl.num_seconds(),
        "scope": scopes.join(" "),
        "token_type": "Bearer",
    })
}

/// `POST /revoke?token=…` (or `token` in a form body): revokes a refresh token with every access
/// token minted from it, or a single access token together with its grant.
pub async fn revoke(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let from_query = Params::parse(raw.as_deref())
        .get("token")
        .map(str::to_owned);
    let from_body = Params::parse(std::str::from_utf8(&body).ok())
        .get("token")
        .map(str::to_owned);
    let Some(token) = from_query.or(from_body) else {
        return OAuthError::new(400, "invalid_request", "Missing required parameter: token")
            .into_response();
    };
    let mut store = shared.lock();
    let grant = match store.access_tokens.get(&token) {
        Some(access) => access.refresh_token.clone(),
        None if store.refresh_tokens.get(&token).is_some_and(|g| !g.revoked) => Some(token.clone()),
        None => {
            return OAuthError::new(400, "invalid_token", "Token expired or revoked")
                .into_response();
        }
    };
    store.access_tokens.remove(&token);
    if let Some(grant) = grant {
        revoke_grant(&mut store, &grant);
    }
    Json(json!({})).into_response()
}

/// Revokes a refresh token and drops the access tokens minted from it.
pub fn revoke_grant(store: &mut Store, refresh_token: &str) {
    if let Some(grant) = store.refresh_tokens.get_mut(refresh_token) {
        grant.revoked = true;
    }
    store
        .access_tokens
        .retain(|_, t| t.refresh_token.as_deref() != Some(refresh_token));
}
