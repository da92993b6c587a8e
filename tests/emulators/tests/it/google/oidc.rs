//! OpenID Connect: discovery document, JWKS, ID tokens from the code flow (verified with
//! `jsonwebtoken` as a relying party would), ID token faults, userinfo.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use emulators::google::{AdminCommand, IdTokenFault};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::common::{ALICE, Env, env, scope};

const CLIENT: &str = "corbi-login.apps.googleusercontent.com";
const SECRET: &str = "s3cret";
const REDIRECT: &str = "http://127.0.0.1:9/auth/google/callback";
const VERIFIER: &str = "another-long-code-verifier-with-enough-entropy-9876543210";
const NONCE: &str = "n-0S6_WzA2Mj";
const ANA: &str = "ana.lopez@example.com";

/// Runs the code flow (v2 authorization endpoint, PKCE S256, nonce) for `email` with `scopes`;
/// answers the token endpoint's body.
async fn sign_in(env: &Env, email: &str, scopes: &str) -> Value {
    env.emu.register_oauth_client(CLIENT, SECRET);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut url = url::Url::parse(&env.url("/o/oauth2/v2/auth")).expect("url");
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scopes)
        .append_pair("state", "st")
        .append_pair("nonce", NONCE)
        .append_pair("login_hint", email)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let response = env.http.get(url).send().await.expect("auth");
    assert_eq!(response.status().as_u16(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().expect("location"))
        .expect("redirect");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let response = env
        .http
        .post(env.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("json")
}

async fn get_json(env: &Env, path: &str) -> Value {
    let response = env.http.get(env.url(path)).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.json().await.expect("json")
}

/// Verifies an ID token as a relying party does: key by `kid` from the JWKS named in the
/// discovery document, RS256, issuer, audience, expiry, then the nonce.
async fn verify(env: &Env, id_token: &str) -> Result<Value, String> {
    let discovery = get_json(env, "/.well-known/openid-configuration").await;
    let jwks_path = discovery["jwks_uri"]
        .as_str()
        .expect("jwks_uri")
        .trim_start_matches(&env.emu.base_url())
        .to_owned();
    let jwks: JwkSet = serde_json::from_value(get_json(env, &jwks_path).await).expect("jwks");
    let header = jsonwebtoken::decode_header(id_token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[discovery["issuer"].as_str().expect("issuer")]);
    validation.set_audience(&[CLIENT]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .map_err(|e| format!("{:?}", e.kind()))?;
    if data.claims["nonce"] != NONCE {
        return Err("nonce".into());
    }
    Ok(data.claims)
}

#[tokio::test]
async fn discovery_document_points_at_the_emulator() {
    let env = env().await;
    let doc = get_json(&env, "/.well-known/openid-configuration").await;
    let base = env.emu.base_url();
    assert!(!base.ends_with('/'));
    assert_eq!(doc["issuer"], base);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/o/oauth2/v2/auth")
    );
    assert_eq!(doc["token_endpoint"], format!("{base}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{base}/v1/userinfo"));
    assert_eq!(doc["revocation_endpoint"], format!("{base}/revoke"));
    assert_eq!(doc["jwks_uri"], format!("{base}/oauth2/v3/certs"));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "email", "profile"])
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        json!(["plain", "S256"])
    );
    assert!(
        doc["response_types_supported"]
            .as_array()
            .expect("response types")
            .contains(&json!("code"))
    );
    for field in [
        "token_endpoint_auth_methods_supported",
        "claims_supported",
        "grant_types_supported",
    ] {
        assert!(doc[field].is_array(), "{field}");
    }
    let jwks = get_json(&env, "/oauth2/v3/certs").await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (&key["kty"], &key["alg"], &key["use"], &key["e"]),
        (
            &json!("RSA"),
            &json!("RS256"),
            &json!("sig"),
            &json!("AQAB")
        )
    );
    assert_eq!(key["kid"].as_str().expect("kid").len(), 40);
    assert!(key["n"].as_str().expect("n").len() > 300);
}

#[tokio::test]
async fn code_flow_with_pkce_and_nonce_returns_a_verifiable_id_token() {
    let env = env().await;
    env.emu.add_account(ANA);
    let body = sign_in(
        &env,
        ANA,
        &format!("openid email profile {}", scope("calendar.events")),
    )
    .await;
    let id_token = body["id_token"].as_str().expect("id_token");
    let claims = verify(&env, id_token).await.expect("verifies");
    assert_eq!(claims["iss"], env.emu.base_url());
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["azp"], CLIENT);
    assert_eq!(claims["sub"], env.emu.subject(ANA));
    assert_eq!(claims["email"], ANA);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Ana Lopez");
    assert_eq!(claims["given_name"], "Ana");
    assert_eq!(claims["family_name"], "Lopez");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp"), iat + 3600);
    let access = body["access_token"].as_str().expect("access");
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    let granted = body["scope"].as_str().expect("scope");
    assert!(
        granted.contains("https://www.googleapis.com/auth/userinfo.email"),
        "{granted}"
    );
    let list = env
        .call("GET", "/calendar/v3/calendars/primary/events", access, None)
        .await;
    assert_eq!(
        list.status, 200,
        "identity scopes leave the calendar scope working"
    );
    assert_eq!(list.body["summary"], ANA);
}

#[tokio::test]
async fn no_id_token_without_openid_and_email_only_without_profile() {
    let env = env().await;
    let plain = sign_in(&env, ALICE, &scope("calendar.events")).await;
    assert!(plain.get("id_token").is_none());
    let email_only = sign_in(&env, ALICE, "openid email").await;
    let claims = verify(&env, email_only["id_token"].as_str().expect("id_token"))
        .await
        .expect("verifies");
    assert_eq!(claims["email"], ALICE);
    assert!(claims.get("name").is_none());
}

#[tokio::test]
async fn each_id_token_fault_fails_its_check_then_runs_out() {
    let env = env().await;
    let cases = [
        (IdTokenFault::BadSignature, "InvalidSignature"),
        (IdTokenFault::WrongAudience, "InvalidAudience"),
        (IdTokenFault::WrongIssuer, "InvalidIssuer"),
        (IdTokenFault::Expired, "ExpiredSignature"),
        (IdTokenFault::WrongNonce, "nonce"),
    ];
    for (fault, expected) in cases {
        env.emu.inject_id_token(fault, 1);
        let body = sign_in(&env, ALICE, "openid email profile").await;
        let error = verify(&env, body["id_token"].as_str().expect("id_token"))
            .await
            .expect_err("spoiled token must not verify");
        assert_eq!(error, expected, "{fault:?}");
    }
    let body = sign_in(&env, ALICE, "openid email profile").await;
    assert!(
        verify(&env, body["id_token"].as_str().expect("id_token"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn id_token_faults_through_the_admin_endpoint_and_apply() {
    let env = env().await;
    let response = env
        .http
        .post(env.url("/_emulator/faults"))
        .json(&json!({"action": "idToken", "count": 2, "fault": {"kind": "wrongAudience"}}))
        .send()
        .await
        .expect("faults");
    assert_eq!(response.status().as_u16(), 204);
    for _ in 0..2 {
        let body = sign_in(&env, ALICE, "openid email").await;
        let error = verify(&env, body["id_token"].as_str().expect("id_token")).await;
        assert_eq!(error.expect_err("wrong audience"), "InvalidAudience");
    }
    env.emu.apply(AdminCommand::IdToken {
        count: 1,
        fault: IdTokenFault::Expired,
    });
    env.emu.apply(AdminCommand::Clear);
    let body = sign_in(&env, ALICE, "openid email").await;
    assert!(
        verify(&env, body["id_token"].as_str().expect("id_token"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn userinfo_answers_for_a_valid_token_only() {
    let env = env().await;
    env.emu.add_account(ANA);
    let body = sign_in(&env, ANA, "openid email profile").await;
    let access = body["access_token"].as_str().expect("access");
    let info = env.call("GET", "/v1/userinfo", access, None).await;
    assert_eq!(info.status, 200);
    assert_eq!(
        info.body,
        json!({
            "sub": env.emu.subject(ANA),
            "email": ANA,
            "email_verified": true,
            "name": "Ana Lopez",
            "given_name": "Ana",
            "family_name": "Lopez",
        })
    );
    let anonymous = env
        .http
        .get(env.url("/v1/userinfo"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let unknown = env.call("GET", "/v1/userinfo", "ya29.nope", None).await;
    assert_eq!(
        (unknown.status, &unknown.body["error"]),
        (401, &json!("invalid_request"))
    );
    let calendar_only = env.call("GET", "/v1/userinfo", &env.alice, None).await;
    assert_eq!(calendar_only.status, 401);
    env.emu.expire_access_tokens(ANA);
    assert_eq!(
        env.call("GET", "/v1/userinfo", access, None).await.status,
        401
    );
}
