//! Google's OpenID Connect on top of the OAuth emulator: the discovery document, the JWKS the ID
//! tokens verify against, RS256 ID tokens for grants holding `openid`, and the userinfo endpoint.
//! Claims follow Google: `email`/`email_verified` only with the email scope, `name`,
//! `given_name`, `family_name` only with the profile scope (derived from the email's local part).

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Shared;
use super::api::CallerSlot;
use super::error::OAuthError;
use super::faults::IdTokenFault;
use super::store::random_token;

/// The emulator's own RSA test key: it signs the emulator's ID tokens and nothing real.
const SIGNING_KEY_PEM: &str = include_str!("oidc_key.pem");
/// A second test key, never published, for ID tokens whose signature must not verify.
const OTHER_KEY_PEM: &str = include_str!("oidc_other_key.pem");

/// Google's long form of the `email` scope, the one it reports as granted.
pub const EMAIL_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.email";
/// Google's long form of the `profile` scope.
pub const PROFILE_SCOPE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// The signing keys and the published JWKS, built once per process: reading the RSA key for the
/// JWKS takes milliseconds in debug builds, and test suites start many emulators.
pub struct Keys {
    signing: EncodingKey,
    other: EncodingKey,
    kid: String,
    jwks: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish()
    }
}

static KEYS: OnceLock<Keys> = OnceLock::new();

impl Keys {
    /// The process-wide keys, built on first use.
    pub fn get() -> Result<&'static Keys, jsonwebtoken::errors::Error> {
        if let Some(keys) = KEYS.get() {
            return Ok(keys);
        }
        let keys = Keys::load()?;
        Ok(KEYS.get_or_init(|| keys))
    }

    /// Parses the two committed test keys and builds the published JWKS.
    fn load() -> Result<Keys, jsonwebtoken::errors::Error> {
        let signing = EncodingKey::from_rsa_pem(SIGNING_KEY_PEM.as_bytes())?;
        let other = EncodingKey::from_rsa_pem(OTHER_KEY_PEM.as_bytes())?;
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256)?;
        let kid = key_id(&jwk);
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwks = json!({ "keys": [jwk] });
        Ok(Keys {
            signing,
            other,
            kid,
            jwks,
        })
    }
}

/// Google's key ids are 40 hex digits; this one is taken from the SHA-256 of the public key's JWK
/// JSON, so it stays the same for the committed key.
fn key_id(jwk: &Jwk) -> String {
    let digest = Sha256::digest(serde_json::to_vec(jwk).unwrap_or_default());
    digest[..20].iter().map(|b| format!("{b:02x}")).collect()
}

/// Google's expansion of the short scope names in a granted scope list.
pub fn normalize_scope(scope: &str) -> String {
    match scope {
        "email" => EMAIL_SCOPE.to_owned(),
        "profile" => PROFILE_SCOPE.to_owned(),
        other => other.to_owned(),
    }
}

fn has(scopes: &[String], scope: &str) -> bool {
    scopes.iter().any(|s| s == scope)
}

/// Whether a grant with these scopes gets an ID token.
pub fn wants_id_token(scopes: &[String]) -> bool {
    has(scopes, "openid")
}

/// A stable numeric `sub` per account, 21 digits like Google's, the same on every run.
pub fn subject(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    format!("1{:020}", u64::from_be_bytes(head))
}

/// Display name parts from the email's local part: `ana.lopez@…` → ("Ana Lopez", "Ana", "Lopez").
fn names(email: &str) -> (String, String, Option<String>) {
    let local = email.split('@').next().unwrap_or_default();
    let words: Vec<String> = local
        .split(['.', '_', '-', '+'])
        .filter(|w| !w.is_empty())
        .map(capitalize)
        .collect();
    let given = words.first().cloned().unwrap_or_else(|| local.to_owned());
    let family = (words.len() > 1).then(|| words[1..].join(" "));
    let name = match &family {
        Some(family) => format!("{given} {family}"),
        None => given.clone(),
    };
    (name, given, family)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The claims about the account the scopes allow, shared by ID tokens and userinfo.
#[derive(Debug, Serialize)]
struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family_name: Option<String>,
}

impl Profile {
    fn of(email: &str, scopes: &[String]) -> Profile {
        let with_email = has(scopes, EMAIL_SCOPE);
        let with_profile = has(scopes, PROFILE_SCOPE);
        let (name, given, family) = names(email);
        Profile {
            email: with_email.then(|| email.to_owned()),
            email_verified: with_email.then_some(true),
            name: with_profile.then_some(name),
            given_name: with_profile.then_some(given),
            family_name: family.filter(|_| with_profile),
        }
    }
}

/// ID token claims, in the order Google writes them.
#[derive(Debug, Serialize)]
struct Claims {
    iss: String,
    azp: String,
    aud: String,
    sub: String,
    #[serde(flatten)]
    profile: Profile,
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    iat: i64,
    exp: i64,
}

/// What an ID token is minted from.
#[derive(Debug)]
pub struct IdTokenGrant<'a> {
    /// The signed-in account.
    pub email: &'a str,
    /// The client the code was issued to (`aud`, `azp`).
    pub client_id: &'a str,
    /// Granted scopes (long forms).
    pub scopes: &'a [String],
    /// `nonce` sent to the authorization endpoint.
    pub nonce: Option<&'a str>,
    /// The access token issued alongside (hashed into `at_hash`).
    pub access_token: &'a str,
}

/// Signs an RS256 ID token for `grant`, spoiled as `fault` says.
pub fn id_token(
    shared: &Shared,
    grant: &IdTokenGrant<'_>,
    fault: Option<IdTokenFault>,
) -> Result<String, OAuthError> {
    let now = Utc::now().timestamp();
    let (iat, exp) = match fault {
        Some(IdTokenFault::Expired) => (now - 7200, now - 3600),
        _ => (now, now + 3600),
    };
    let digest = Sha256::digest(grant.access_token.as_bytes());
    let mut claims = Claims {
        iss: shared.base_url.clone(),
        azp: grant.client_id.to_owned(),
        aud: grant.client_id.to_owned(),
        sub: subject(grant.email),
        profile: Profile::of(grant.email, grant.scopes),
        at_hash: URL_SAFE_NO_PAD.encode(&digest[..16]),
        nonce: grant.nonce.map(str::to_owned),
        iat,
        exp,
    };
    match fault {
        Some(IdTokenFault::WrongAudience) => {
            claims.aud = "another-client.apps.googleusercontent.com".to_owned();
        }
        Some(IdTokenFault::WrongIssuer) => {
            claims.iss = "https://accounts.example.invalid".to_owned();
        }
        Some(IdTokenFault::WrongNonce) => claims.nonce = Some(random_token(32)),
        _ => {}
    }
    let keys = &shared.keys;
    let key = match fault {
        Some(IdTokenFault::BadSignature) => &keys.other,
        _ => &keys.signing,
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(keys.kid.clone());
    jsonwebtoken::encode(&header, &claims, key)
        .map_err(|_| OAuthError::new(500, "internal_failure", "Internal error."))
}

/// `GET /.well-known/openid-configuration`: Google's discovery document, pointing at this server.
/// Response and grant types list what the emulator serves.
pub async fn discovery(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let base = &shared.base_url;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/o/oauth2/v2/auth"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/v1/userinfo"),
        "revocation_endpoint": format!("{base}/revoke"),
        "jwks_uri": format!("{base}/oauth2/v3/certs"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss",
            "name", "sub"
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }))
}

/// `GET /oauth2/v3/certs`: the JWKS holding the signing key's public half.
pub async fn certs(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.keys.jwks.clone())
}

/// `GET|POST /v1/userinfo` with a bearer access token: the claims its scopes allow.
pub async fn userinfo(
    State(shared): State<Arc<Shared>>,
    axum::Extension(slot): axum::Extension<CallerSlot>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let store = shared.lock();
    let record = token
        .and_then(|t| store.access_tokens.get(t))
        .filter(|r| r.expires_at > Utc::now());
    let Some(record) = record else {
        return unauthorized();
    };
    slot.set(&record.email);
    let identity = [
        "openid".to_owned(),
        EMAIL_SCOPE.to_owned(),
        PROFILE_SCOPE.to_owned(),
    ];
    if !record.scopes.iter().any(|s| identity.contains(s)) {
        return unauthorized();
    }
    let mut body = json!({ "sub": subject(&record.email) });
    if let (Value::Object(body), Ok(Value::Object(profile))) = (
        &mut body,
        serde_json::to_value(Profile::of(&record.email, &record.scopes)),
    ) {
        body.extend(profile);
    }
    Json(body).into_response()
}

/// Google's answer to a missing, unknown or expired token at the userinfo endpoint.
fn unauthorized() -> Response {
    let mut response =
        OAuthError::new(401, "invalid_request", "Invalid Credentials").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_local_part() {
        assert_eq!(
            names("ana.lopez@example.com"),
            ("Ana Lopez".into(), "Ana".into(), Some("Lopez".into()))
        );
        assert_eq!(
            names("alice@example.com"),
            ("Alice".into(), "Alice".into(), None)
        );
    }

    #[test]
    fn subjects_are_stable_21_digit_numbers() {
        let sub = subject("alice@example.com");
        assert_eq!(sub.len(), 21);
        assert!(sub.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(sub, subject("alice@example.com"));
        assert_ne!(sub, subject("bob@example.com"));
    }
}
