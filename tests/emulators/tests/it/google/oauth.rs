//! OAuth: authorization code + PKCE, refresh, expiry, revocation, scopes, client authentication.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::common::{ALICE, BOB, Env, env, reason, scope};

const CLIENT: &str = "corbi-client.apps.googleusercontent.com";
const SECRET: &str = "s3cret";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";
const VERIFIER: &str = "a-very-long-code-verifier-with-enough-entropy-0123456789";

async fn authorize(env: &Env, hint: Option<&str>) -> (String, String) {
    env.emu.register_oauth_client(CLIENT, SECRET);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut url = url::Url::parse(&env.url("/o/oauth2/auth")).expect("url");
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", &format!("{} openid", scope("calendar.events")))
        .append_pair("state", "xyz")
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(hint) = hint {
        url.query_pairs_mut().append_pair("login_hint", hint);
    }
    let response = env.http.get(url).send().await.expect("auth");
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let target = url::Url::parse(&location).expect("redirect");
    let get = |k: &str| {
        target
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .expect(k)
    };
    (get("code"), get("state"))
}

async fn token(env: &Env, form: &[(&str, &str)]) -> (u16, Value) {
    let response = env
        .http
        .post(env.url("/token"))
        .form(form)
        .send()
        .await
        .expect("token");
    (
        response.status().as_u16(),
        response.json().await.expect("json"),
    )
}

async fn exchange(env: &Env, code: &str) -> (u16, Value) {
    token(
        env,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(env: &Env, refresh_token: &str) -> (u16, Value) {
    token(
        env,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ],
    )
    .await
}

#[tokio::test]
async fn code_flow_with_pkce_issues_tokens_for_the_hinted_account() {
    let env = env().await;
    let (code, state) = authorize(&env, Some(BOB)).await;
    assert_eq!(state, "xyz");
    let (status, body) = exchange(&env, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["refresh_token"].is_string());
    assert!(
        body["scope"]
            .as_str()
            .expect("scope")
            .contains("calendar.events")
    );
    let access = body["access_token"].as_str().expect("access");
    let primary = env
        .call("GET", "/calendar/v3/calendars/primary", access, None)
        .await;
    assert_eq!(
        primary.status, 403,
        "calendar.events does not cover calendars.get"
    );
    let list = env
        .call("GET", "/calendar/v3/calendars/primary/events", access, None)
        .await;
    assert_eq!(list.status, 200);
    let log = env.emu.requests();
    let last = log.last().expect("logged");
    assert_eq!(last.caller.as_deref(), Some(BOB));
    assert_eq!(last.path, "/calendar/v3/calendars/primary/events");
    assert!(log.iter().any(|r| r.path == "/token" && r.status == 200));
}

#[tokio::test]
async fn codes_are_single_use_and_checked_against_the_verifier() {
    let env = env().await;
    let (code, _) = authorize(&env, None).await;
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("code_verifier", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (code, _) = authorize(&env, None).await;
    assert_eq!(exchange(&env, &code).await.0, 200);
    let (status, body) = exchange(&env, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn first_account_is_used_without_login_hint() {
    let env = env().await;
    let (code, _) = authorize(&env, None).await;
    let (_, body) = exchange(&env, &code).await;
    let access = body["access_token"].as_str().expect("access");
    let list = env
        .call("GET", "/calendar/v3/calendars/primary/events", access, None)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["summary"], ALICE);
}

#[tokio::test]
async fn client_must_authenticate_by_form_or_basic() {
    let env = env().await;
    let (code, _) = authorize(&env, None).await;
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("client_secret", "bad"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let basic = STANDARD.encode(format!("{CLIENT}:{SECRET}"));
    let response = env
        .http
        .post(env.url("/token"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn expired_access_token_is_refreshed_until_the_grant_is_revoked() {
    let env = env().await;
    let (code, _) = authorize(&env, Some(ALICE)).await;
    let (_, body) = exchange(&env, &code).await;
    let access = body["access_token"].as_str().expect("access").to_owned();
    let refresh_token = body["refresh_token"].as_str().expect("refresh").to_owned();
    env.emu.expire_access_tokens(ALICE);
    let expired = env
        .call(
            "GET",
            "/calendar/v3/calendars/primary/events",
            &access,
            None,
        )
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(reason(&expired.body), "authError");
    assert!(
        expired.headers["www-authenticate"]
            .to_str()
            .expect("header")
            .starts_with("Bearer")
    );
    let (status, renewed) = refresh(&env, &refresh_token).await;
    assert_eq!(status, 200, "{renewed}");
    assert!(renewed.get("refresh_token").is_none());
    let fresh = renewed["access_token"].as_str().expect("access");
    assert_eq!(
        env.call("GET", "/calendar/v3/calendars/primary/events", fresh, None)
            .await
            .status,
        200
    );
    env.emu.revoke_refresh_tokens(ALICE);
    let (status, body) = refresh(&env, &refresh_token).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "Token has been expired or revoked."
    );
    assert_eq!(
        env.call("GET", "/calendar/v3/calendars/primary/events", fresh, None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn short_token_lifetime_is_configurable() {
    let config = emulators::google::GoogleConfig {
        access_token_ttl: std::time::Duration::from_secs(5),
        ..Default::default()
    };
    let env = super::common::env_with(config).await;
    let (code, _) = authorize(&env, None).await;
    assert_eq!(exchange(&env, &code).await.1["expires_in"], 5);
}

#[tokio::test]
async fn revoke_endpoint_kills_the_grant() {
    let env = env().await;
    let (code, _) = authorize(&env, None).await;
    let (_, body) = exchange(&env, &code).await;
    let refresh_token = body["refresh_token"].as_str().expect("refresh");
    let response = env
        .http
        .post(env.url(&format!("/revoke?token={refresh_token}")))
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        refresh(&env, refresh_token).await.1["error"],
        "invalid_grant"
    );
    let again = env
        .http
        .post(env.url(&format!("/revoke?token={refresh_token}")))
        .send()
        .await
        .expect("revoke");
    assert_eq!(again.status().as_u16(), 400);
}

#[tokio::test]
async fn missing_or_unknown_token_and_missing_scope() {
    let env = env().await;
    let response = env
        .http
        .get(env.url("/calendar/v3/users/me/calendarList"))
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(reason(&body), "required");
    let unknown = env
        .call(
            "GET",
            "/calendar/v3/users/me/calendarList",
            "ya29.nope",
            None,
        )
        .await;
    assert_eq!((unknown.status, reason(&unknown.body)), (401, "authError"));
    let readonly = env
        .emu
        .issue_access_token(ALICE, &[&scope("calendar.readonly")]);
    let write = env
        .call(
            "POST",
            "/calendar/v3/calendars/primary/events",
            &readonly,
            Some(super::common::timed(
                "x",
                "2026-03-01T10:00:00Z",
                "2026-03-01T11:00:00Z",
            )),
        )
        .await;
    assert_eq!(write.status, 403);
    assert_eq!(reason(&write.body), "insufficientPermissions");
    assert_eq!(
        write.body["error"]["message"],
        "Request had insufficient authentication scopes."
    );
    assert_eq!(
        env.call("GET", "/calendar/v3/users/me/calendarList", &readonly, None)
            .await
            .status,
        200
    );
    let events_only = env
        .emu
        .issue_access_token(ALICE, &[&scope("calendar.events")]);
    assert_eq!(
        env.call(
            "GET",
            "/calendar/v3/users/me/calendarList",
            &events_only,
            None
        )
        .await
        .status,
        403
    );
}
