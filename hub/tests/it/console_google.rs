//! "Sign in with Google" against the emulator's OpenID Connect: a person of the tenant gets a
//! session; a forged, misaddressed or expired id token, an unknown or deactivated person, and an
//! answer arriving in another browser get the sign-in page with the reason.

use emulators::google::IdTokenFault;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::{Engine, FakeGoogle, TestHub, expect_error};

/// How a Google sign-in ended: where the browser was sent and the session cookie, if any.
struct Outcome {
    location: String,
    session: Option<String>,
}

/// Walks the browser through start → Google → callback. `same_browser` false drops the
/// state cookie on the way back, as a second browser would.
async fn google_sign_in(hub: &TestHub, email: &str, same_browser: bool) -> Outcome {
    let start = hub
        .client
        .get(hub.url("/auth/google/start"))
        .query(&[("next", "/calendar"), ("login_hint", email)])
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let to_google = location(&start);
    let state_cookie = cookie_named(&start, "corbi_signin_state").expect("a state cookie");
    let back = hub.client.get(&to_google).send().await.expect("Google");
    assert!(
        back.status().is_redirection(),
        "Google answered {}",
        back.status()
    );
    let mut callback = hub.client.get(location(&back));
    if same_browser {
        callback = callback.header(header::COOKIE, state_cookie);
    }
    let done = callback.send().await.expect("callback");
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    Outcome {
        location: location(&done),
        session: cookie_named(&done, "corbi_session").filter(|c| c.contains("corbi_ses_")),
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_string()
}

fn cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

async fn started(engine: Engine) -> (TestHub, FakeGoogle) {
    let (hub, google) = TestHub::start_google(engine).await;
    hub.seed("acme").await;
    for email in [
        "admin@acme.example.com",
        "member@acme.example.com",
        "stranger@else.example",
    ] {
        google.emulator.add_account(email);
    }
    (hub, google)
}

async fn a_person_of_the_tenant_signs_in_with_google(engine: Engine) {
    let (hub, google) = started(engine).await;
    let outcome = google_sign_in(&hub, "member@acme.example.com", true).await;
    assert_eq!(outcome.location, "/calendar");
    let session = outcome.session.expect("a session cookie");
    let me: Value = hub
        .client
        .get(hub.url("/api/v1/me"))
        .header(header::COOKIE, &session)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["email"], "member@acme.example.com");
    assert_eq!(me["user"]["role"], "member");
    let authorize = google
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/o/oauth2/v2/auth"))
        .expect("the browser went to Google's authorization endpoint");
    let query = authorize.query.unwrap_or_default();
    for wanted in [
        "nonce=",
        "code_challenge_method=S256",
        "state=",
        "scope=openid",
    ] {
        assert!(query.contains(wanted), "{wanted} in {query}");
    }
    hub.stop().await;
}
on_both_engines!(a_person_of_the_tenant_signs_in_with_google);

async fn an_id_token_that_cannot_be_trusted_signs_nobody_in(engine: Engine) {
    let (hub, google) = started(engine).await;
    for fault in [
        IdTokenFault::BadSignature,
        IdTokenFault::WrongAudience,
        IdTokenFault::WrongIssuer,
        IdTokenFault::Expired,
        IdTokenFault::WrongNonce,
    ] {
        google.emulator.inject_id_token(fault, 1);
        let outcome = google_sign_in(&hub, "admin@acme.example.com", true).await;
        assert_eq!(outcome.location, "/signin?error=google_failed", "{fault:?}");
        assert!(outcome.session.is_none(), "{fault:?}");
    }
    let healthy = google_sign_in(&hub, "admin@acme.example.com", true).await;
    assert_eq!(healthy.location, "/calendar", "faults used up");
    hub.stop().await;
}
on_both_engines!(an_id_token_that_cannot_be_trusted_signs_nobody_in);

async fn strangers_deactivated_people_and_other_browsers_are_refused(engine: Engine) {
    let (hub, _google) = started(engine).await;
    let stranger = google_sign_in(&hub, "stranger@else.example", true).await;
    assert_eq!(stranger.location, "/signin?error=unknown_user");
    let elsewhere = google_sign_in(&hub, "member@acme.example.com", false).await;
    assert_eq!(elsewhere.location, "/signin?error=google_failed");
    assert!(elsewhere.session.is_none());

    let admin = hub::auth::store::tenant_by_slug(hub.db(), "acme")
        .await
        .expect("tenant");
    let member = hub::auth::store::user_by_email(hub.db(), &admin.id, "member@acme.example.com")
        .await
        .expect("member");
    let token = hub::auth::store::user_by_email(hub.db(), &admin.id, "admin@acme.example.com")
        .await
        .expect("admin");
    let admin_token = hub::auth::store::issue_personal_token(hub.db(), &token, "t")
        .await
        .expect("token")
        .token;
    let off = hub
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{}", member.id),
            Some(&admin_token),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    let deactivated = google_sign_in(&hub, "member@acme.example.com", true).await;
    assert_eq!(deactivated.location, "/signin?error=deactivated");

    let replay = hub
        .client
        .get(hub.url("/auth/google/callback?code=x&state=corbi_oas_unknown"))
        .header(header::COOKIE, "corbi_signin_state=corbi_oas_unknown")
        .send()
        .await
        .expect("callback");
    assert_eq!(location(&replay), "/signin?error=google_failed");
    let not_json = hub
        .client
        .get(hub.url("/auth/nowhere"))
        .send()
        .await
        .expect("404");
    expect_error(not_json, 404, "NOT_FOUND").await;
    hub.stop().await;
}
on_both_engines!(strangers_deactivated_people_and_other_browsers_are_refused);
