//! Protection of the HTTP surface: rate limits per address, credential and tenant (429
//! `RATE_LIMITED` with `Retry-After`), the free-slots participant cap, `X-Forwarded-For` only
//! from trusted proxies, security headers, and HTTPS served by the hub (HTTP/2 and HTTP/1.1,
//! certificate reload, redirect listener).

use futures::{StreamExt, stream};
use hub::{config::LimitsConfig, jobs::Registry};
use reqwest::{Method, StatusCode, Version};
use serde_json::json;
use std::time::Duration;

use crate::{
    on_both_engines,
    support::{Engine, TestHub, World, booking, eventually, expect_error, no_redirects},
};

/// Sends `count` requests built by `make` (given the request's number), `parallel` at a time,
/// and returns their statuses.
async fn flood<F>(count: usize, parallel: usize, make: F) -> Vec<reqwest::Response>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    stream::iter((0..count).map(|n| make(n).send()))
        .buffer_unordered(parallel)
        .map(|sent| sent.expect("request sent"))
        .collect()
        .await
}

fn limited(responses: &[reqwest::Response]) -> usize {
    responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count()
}

async fn enrollment_flood(engine: Engine) {
    let world = World::with_rooms(engine, &["Aurora"]).await;
    let hub = &world.hub;
    let responses = flood(500, 16, |_| {
        hub.client
            .post(hub.url("/api/v1/devices/enroll"))
            .json(&json!({"enrollment_code": "WRONG-CODE"}))
    })
    .await;
    let refused = limited(&responses);
    assert!(
        refused > 0,
        "none of 500 enrollments from one address refused"
    );
    let refusal = responses
        .into_iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("a refusal");
    let wait: u64 = refusal
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(wait >= 1);
    expect_error(refusal, 429, "RATE_LIMITED").await;
    let booked = world
        .book(
            &world.acme.member_token,
            booking(&world.rooms[0], "Standup", "2031-03-04", "09:00", "09:30"),
        )
        .await;
    assert_eq!(booked.status(), 201, "a signed-in user still books");
    world.hub.stop().await;
}
on_both_engines!(enrollment_flood);

async fn a_script_with_one_key_stays_under_the_default_limit(engine: Engine) {
    let hub = TestHub::start_with(engine, Registry::new(), |config| {
        config.limits = LimitsConfig::default();
    })
    .await;
    let acme = hub.seed("acme").await;
    let get = |hub: &TestHub, key: &str| {
        hub.client
            .get(hub.url("/api/v1/resources"))
            .bearer_auth(key)
    };
    let responses = flood(300, 8, |_| get(&hub, &acme.ai_key)).await;
    assert_eq!(limited(&responses), 0, "300 quick GETs meet no limit");
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    let hub = hub
        .restart(|config| {
            config.limits.credential_per_second = 1;
            config.limits.credential_burst = 50;
        })
        .await;
    let responses = flood(300, 8, |_| get(&hub, &acme.ai_key)).await;
    assert!(limited(&responses) > 0, "a tight credential limit refuses");
    hub.stop().await;
}
on_both_engines!(a_script_with_one_key_stays_under_the_default_limit);

async fn a_tenant_shares_one_budget(engine: Engine) {
    let hub = TestHub::start_with(engine, Registry::new(), |config| {
        config.limits = LimitsConfig::default();
        config.limits.tenant_per_second = 1;
        config.limits.tenant_burst = 20;
    })
    .await;
    let acme = hub.seed("acme").await;
    let other = hub.seed("other").await;
    let keys = [
        acme.admin_token.clone(),
        acme.member_token.clone(),
        acme.ai_key.clone(),
    ];
    let responses = flood(90, 4, |n| {
        hub.client
            .get(hub.url("/api/v1/resources"))
            .bearer_auth(&keys[n % 3])
    })
    .await;
    assert!(
        limited(&responses) > 0,
        "acme's callers together are limited"
    );
    let elsewhere = hub
        .call(Method::GET, "/api/v1/resources", Some(&other.ai_key), None)
        .await;
    assert_eq!(elsewhere.status(), 200, "another tenant is not");
    hub.stop().await;
}
on_both_engines!(a_tenant_shares_one_budget);

async fn free_slots_take_at_most_twenty_participants(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let people: Vec<String> = (0..21).map(|n| format!("p{n}@example.com")).collect();
    let path = format!(
        "/api/v1/calendar/free-slots?duration_minutes=30&participants={}",
        people.join(",")
    );
    let answer = hub.call(Method::GET, &path, Some(&acme.ai_key), None).await;
    let body = expect_error(answer, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        body["error"]["details"]["fields"][0]["field"],
        "participants"
    );
    hub.stop().await;
}
on_both_engines!(free_slots_take_at_most_twenty_participants);

async fn forwarded_for_counts_only_from_trusted_proxies(engine: Engine) {
    let tight = |config: &mut hub::config::Config| {
        config.limits.address_per_second = 1;
        config.limits.address_burst = 5;
    };
    let hub = TestHub::start_with(engine, Registry::new(), tight).await;
    let spoofed = |hub: &TestHub, n: usize| {
        hub.client
            .post(hub.url("/api/v1/devices/enroll"))
            .header("x-forwarded-for", format!("198.51.100.{}", n % 250))
            .json(&json!({"enrollment_code": "WRONG-CODE"}))
    };
    let responses = flood(30, 1, |n| spoofed(&hub, n)).await;
    assert!(
        limited(&responses) > 0,
        "an untrusted peer cannot pick its address"
    );
    let hub = hub
        .restart(|config| {
            tight(config);
            config.limits.trusted_proxies = "127.0.0.1/32".into();
        })
        .await;
    let responses = flood(30, 1, |n| spoofed(&hub, n)).await;
    assert_eq!(
        limited(&responses),
        0,
        "behind a trusted proxy each client counts"
    );
    let responses = flood(30, 1, |_| spoofed(&hub, 7)).await;
    assert!(
        limited(&responses) > 0,
        "one client behind the proxy is limited"
    );
    hub.stop().await;
}
on_both_engines!(forwarded_for_counts_only_from_trusted_proxies);

fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

async fn every_answer_carries_security_headers(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let api = hub
        .call(Method::GET, "/api/v1/resources", Some(&acme.ai_key), None)
        .await;
    assert_eq!(api.status(), 200);
    assert_security_headers(&api);
    assert!(
        api.headers().get("strict-transport-security").is_none(),
        "no HSTS for an http public URL"
    );
    let refused = hub.call(Method::GET, "/api/v1/resources", None, None).await;
    assert_eq!(refused.status(), 401);
    assert_security_headers(&refused);
    let console = hub.call(Method::GET, "/", None, None).await;
    assert_eq!(console.status(), 200);
    assert_security_headers(&console);
    hub.stop().await;
}
on_both_engines!(every_answer_carries_security_headers);

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn certificate() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

fn trusting(pem: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem"))
        .redirect(reqwest::redirect::Policy::none())
}

async fn https_end_to_end(engine: Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert, key) = certificate();
    std::fs::write(&cert_path, &cert).expect("write cert");
    std::fs::write(&key_path, &key).expect("write key");
    let hub = TestHub::start_with(engine, Registry::new(), |config| {
        config.tls.cert = cert_path.display().to_string();
        config.tls.key = key_path.display().to_string();
        config.tls.redirect_bind = "127.0.0.1:0".into();
    })
    .await;
    let url = hub.url("/healthz");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let stranger = reqwest::Client::new();
    assert!(
        stranger.get(&url).send().await.is_err(),
        "an untrusted certificate is refused"
    );

    let h2 = trusting(&cert).build().expect("client");
    let answer = h2.get(&url).send().await.expect("https");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), Version::HTTP_2);
    assert_security_headers(&answer);
    assert_eq!(
        answer.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    let h1 = trusting(&cert).http1_only().build().expect("client");
    let answer = h1.get(&url).send().await.expect("https");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), Version::HTTP_11);

    let redirect = hub.hub.redirect_addr.expect("redirect listener");
    let moved = no_redirects()
        .get(format!("http://{redirect}/api/v1/resources?limit=2"))
        .send()
        .await
        .expect("plain http");
    assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        moved.headers()["location"],
        hub.url("/api/v1/resources?limit=2").as_str()
    );

    let (renewed, renewed_key) = certificate();
    std::fs::write(&key_path, &renewed_key).expect("write key");
    std::fs::write(&cert_path, &renewed).expect("write cert");
    eventually(
        Duration::from_secs(30),
        "the renewed certificate in use",
        || async {
            let client = trusting(&renewed).build().expect("client");
            client.get(&url).send().await.map(|r| r.status())
        },
    )
    .await;
    hub.stop().await;
}
on_both_engines!(https_end_to_end);
