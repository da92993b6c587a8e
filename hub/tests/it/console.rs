//! The console's server side: one-time sign-in links, browser sessions with CSRF and Origin
//! checks, the people API, `/api/v1/me`, and the console's files with deep-link fallback.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::{Engine, TestHub, expect_error};

/// A browser: the session cookie it holds and the CSRF token `/me` gave it.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    /// Sends a request as this browser, from the hub's own origin unless told otherwise.
    async fn call(
        &self,
        hub: &TestHub,
        method: Method,
        path: &str,
        body: Option<Value>,
        origin: Option<&str>,
        csrf: bool,
    ) -> reqwest::Response {
        let mut request = hub
            .client
            .request(method, hub.url(path))
            .header(header::COOKIE, &self.cookie);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if csrf {
            request = request.header("x-csrf-token", &self.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    async fn change(
        &self,
        hub: &TestHub,
        method: Method,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        let origin = hub.hub.base_url().to_string();
        self.call(hub, method, path, Some(body), Some(&origin), true)
            .await
    }
}

async fn link(hub: &TestHub, slug: &str, email: &str, next: Option<&str>) -> String {
    hub::signin::links::create(hub.db(), &hub.hub.state.signin, slug, email, next)
        .await
        .expect("sign-in link")
}

/// Follows a sign-in link; answers the redirect's target and the session cookie it set.
async fn follow(hub: &TestHub, url: &str) -> (String, Option<String>) {
    let response = hub.client.get(url).send().await.expect("link followed");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("corbi_session=corbi_ses_"))
        .map(|v| v.split(';').next().unwrap_or_default().to_string());
    (location, cookie)
}

async fn sign_in(hub: &TestHub, slug: &str, email: &str) -> Browser {
    let url = link(hub, slug, email, Some("/calendar")).await;
    let (location, cookie) = follow(hub, &url).await;
    assert_eq!(location, "/calendar");
    let cookie = cookie.expect("a session cookie is set");
    let me: Value = hub
        .client
        .get(hub.url("/api/v1/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    Browser {
        cookie,
        csrf: me["csrf_token"].as_str().expect("a csrf token").to_string(),
    }
}

async fn a_sign_in_link_opens_a_session_once(engine: Engine) {
    let hub = TestHub::start(engine).await;
    hub.seed("acme").await;
    let url = link(&hub, "acme", "admin@acme.example.com", Some("/meetings/x")).await;
    let (location, cookie) = follow(&hub, &url).await;
    assert_eq!(location, "/meetings/x");
    let cookie = cookie.expect("session cookie");
    let me: Value = hub
        .client
        .get(hub.url("/api/v1/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["email"], "admin@acme.example.com");
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["tenant"]["slug"], "acme");
    assert_eq!(me["tenant"]["time_zone"], "UTC");
    assert!(me["csrf_token"].as_str().is_some_and(|t| t.len() == 64));

    let (again, reused) = follow(&hub, &url).await;
    assert_eq!(again, "/signin?error=link_used");
    assert!(reused.is_none());
    let (bad, _) = follow(&hub, &hub.url("/auth/link?token=corbi_lnk_nothing")).await;
    assert_eq!(bad, "/signin?error=link_invalid");
    hub.stop().await;
}
on_both_engines!(a_sign_in_link_opens_a_session_once);

async fn a_sign_in_link_expires_and_never_leaves_the_site(engine: Engine) {
    let hub = TestHub::start_with(engine, hub::jobs::Registry::new(), |config| {
        config.console.signin_link_minutes = 0;
    })
    .await;
    hub.seed("acme").await;
    let expired = link(&hub, "acme", "member@acme.example.com", None).await;
    assert_eq!(follow(&hub, &expired).await.0, "/signin?error=link_expired");
    hub.stop().await;

    let hub = TestHub::start(engine).await;
    hub.seed("acme").await;
    for foreign in [
        "https://evil.example/x",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let url = link(&hub, "acme", "member@acme.example.com", Some(foreign)).await;
        assert_eq!(follow(&hub, &url).await.0, "/", "stored next {foreign}");
        let url = link(&hub, "acme", "member@acme.example.com", None).await;
        let overridden = format!("{url}&next={}", urlencode(foreign));
        assert_eq!(follow(&hub, &overridden).await.0, "/", "next {foreign}");
    }
    hub.stop().await;
}
on_both_engines!(a_sign_in_link_expires_and_never_leaves_the_site);

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn a_session_change_needs_its_csrf_token_and_the_hubs_origin(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let seeded = hub.seed("acme").await;
    let browser = sign_in(&hub, "acme", "admin@acme.example.com").await;
    let own = hub.hub.base_url().to_string();
    let person = json!({"email": "new@acme.example.com", "name": "New Person", "role": "member"});

    let no_token = browser
        .call(
            &hub,
            Method::POST,
            "/api/v1/users",
            Some(person.clone()),
            Some(&own),
            false,
        )
        .await;
    expect_error(no_token, 403, "FORBIDDEN").await;
    let other_site = browser
        .call(
            &hub,
            Method::POST,
            "/api/v1/users",
            Some(person.clone()),
            Some("https://evil.example"),
            true,
        )
        .await;
    expect_error(other_site, 403, "FORBIDDEN").await;
    let no_origin = browser
        .call(
            &hub,
            Method::POST,
            "/api/v1/users",
            Some(person.clone()),
            None,
            true,
        )
        .await;
    expect_error(no_origin, 403, "FORBIDDEN").await;
    let other_session = sign_in(&hub, "acme", "member@acme.example.com").await;
    let foreign_token = Browser {
        cookie: browser.cookie.clone(),
        csrf: other_session.csrf.clone(),
    };
    let mixed = foreign_token
        .change(&hub, Method::POST, "/api/v1/users", person.clone())
        .await;
    expect_error(mixed, 403, "FORBIDDEN").await;

    let made = browser
        .change(&hub, Method::POST, "/api/v1/users", person)
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.expect("json");
    assert_eq!(made["name"], "New Person");
    assert_eq!(made["active"], true);

    let reads = browser
        .call(&hub, Method::GET, "/api/v1/users", None, None, false)
        .await;
    assert_eq!(reads.status(), StatusCode::OK, "reads need no token");
    let scripted = hub
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&seeded.admin_token),
            Some(json!({"email": "script@acme.example.com", "role": "member"})),
        )
        .await;
    assert_eq!(
        scripted.status(),
        StatusCode::CREATED,
        "bearer tokens are unchanged"
    );
    hub.stop().await;
}
on_both_engines!(a_session_change_needs_its_csrf_token_and_the_hubs_origin);

async fn signing_out_and_deactivation_end_sessions_and_tokens(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let seeded = hub.seed("acme").await;
    let admin = sign_in(&hub, "acme", "admin@acme.example.com").await;
    let member = sign_in(&hub, "acme", "member@acme.example.com").await;

    let out = admin
        .change(&hub, Method::POST, "/auth/logout", json!({}))
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = out.headers()[header::SET_COOKIE].to_str().expect("cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = admin
        .call(&hub, Method::GET, "/api/v1/me", None, None, false)
        .await;
    expect_error(after, 401, "UNAUTHENTICATED").await;

    let users: Value = hub
        .call(
            Method::GET,
            "/api/v1/users",
            Some(&seeded.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let member_id = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "member@acme.example.com")
        .expect("member listed")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let off = hub
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{member_id}"),
            Some(&seeded.admin_token),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    let session = member
        .call(&hub, Method::GET, "/api/v1/me", None, None, false)
        .await;
    expect_error(session, 401, "UNAUTHENTICATED").await;
    let token = hub
        .call(Method::GET, "/api/v1/me", Some(&seeded.member_token), None)
        .await;
    expect_error(token, 401, "UNAUTHENTICATED").await;
    let url = hub::signin::links::create(
        hub.db(),
        &hub.hub.state.signin,
        "acme",
        "member@acme.example.com",
        None,
    )
    .await;
    assert!(url.is_err(), "no link for a deactivated user");
    hub.stop().await;
}
on_both_engines!(signing_out_and_deactivation_end_sessions_and_tokens);

async fn a_tenant_keeps_its_last_admin_and_members_manage_nobody(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let seeded = hub.seed("acme").await;
    let me: Value = hub
        .call(Method::GET, "/api/v1/me", Some(&seeded.admin_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        me.get("csrf_token").is_none(),
        "bearer callers need no CSRF token"
    );
    let admin_id = me["user"]["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/users/{admin_id}");
    for change in [json!({"role": "member"}), json!({"active": false})] {
        let refused = hub
            .call(
                Method::PATCH,
                &path,
                Some(&seeded.admin_token),
                Some(change),
            )
            .await;
        let body = expect_error(refused, 409, "CONFLICT").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("last active admin")
        );
    }
    let member_add = hub
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&seeded.member_token),
            Some(json!({"email": "x@acme.example.com", "role": "admin"})),
        )
        .await;
    expect_error(member_add, 403, "FORBIDDEN").await;
    let ai_list = hub
        .call(Method::GET, "/api/v1/users", Some(&seeded.ai_key), None)
        .await;
    expect_error(ai_list, 403, "FORBIDDEN").await;
    let duplicate = hub
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&seeded.admin_token),
            Some(json!({"email": "MEMBER@acme.example.com", "role": "member"})),
        )
        .await;
    expect_error(duplicate, 409, "CONFLICT").await;
    let bad = hub
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&seeded.admin_token),
            Some(json!({"email": "not an email", "role": "boss"})),
        )
        .await;
    expect_error(bad, 422, "VALIDATION_FAILED").await;

    let second = hub
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&seeded.admin_token),
            Some(json!({"email": "second@acme.example.com", "role": "admin"})),
        )
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    let demoted = hub
        .call(
            Method::PATCH,
            &path,
            Some(&seeded.admin_token),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(demoted.status(), StatusCode::OK, "another admin remains");

    let other = hub.seed("other").await;
    let foreign = hub
        .call(
            Method::PATCH,
            &path,
            Some(&other.admin_token),
            Some(json!({"name": "x"})),
        )
        .await;
    expect_error(foreign, 404, "NOT_FOUND").await;
    hub.stop().await;
}
on_both_engines!(a_tenant_keeps_its_last_admin_and_members_manage_nobody);

async fn the_console_is_served_with_deep_links_and_cache_headers(engine: Engine) {
    let hub = TestHub::start(engine).await;
    for path in [
        "/",
        "/calendar?date=2026-12-01",
        "/meetings/some-id/reschedule",
    ] {
        let page = hub.client.get(hub.url(path)).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(
            page.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/html")
        );
        assert!(
            page.text()
                .await
                .expect("text")
                .contains("<div id=\"root\"")
        );
    }
    if let Some(asset) = first_asset() {
        let file = hub
            .client
            .get(hub.url(&format!("/assets/{asset}")))
            .send()
            .await
            .expect("asset");
        assert_eq!(file.status(), StatusCode::OK);
        assert!(
            file.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap_or_default()
                .contains("immutable")
        );
    }
    for missing in [
        "/api/v1/nothing-here",
        "/assets/missing-0000.js",
        "/oauth/nothing",
    ] {
        let response = hub.client.get(hub.url(missing)).send().await.expect("404");
        expect_error(response, 404, "NOT_FOUND").await;
    }
    let post = hub
        .client
        .post(hub.url("/calendar"))
        .send()
        .await
        .expect("post");
    expect_error(post, 404, "NOT_FOUND").await;
    hub.stop().await;
}
on_both_engines!(the_console_is_served_with_deep_links_and_cache_headers);

/// A hashed file of the committed bundle, if the bundle has any.
fn first_asset() -> Option<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist/assets");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .next()
}
