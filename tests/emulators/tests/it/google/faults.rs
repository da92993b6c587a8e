//! Injected faults, per-user quota, the admin endpoint and the request log.

use emulators::google::{Fault, GoogleConfig, QuotaConfig};
use serde_json::{Value, json};

use super::common::{ALICE, env, env_with, reason};

const LIST: &str = "/calendar/v3/calendars/primary/events";

#[tokio::test]
async fn queued_faults_answer_as_google_then_run_out() {
    let env = env().await;
    env.emu
        .inject(Some("calendar.events.list"), Fault::RateLimitExceeded, 1);
    env.emu.inject(
        Some("calendar.events.list"),
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    );
    env.emu.inject(None, Fault::ServiceUnavailable, 1);
    env.emu.inject(
        Some("calendar.events.list"),
        Fault::UserRateLimitExceeded,
        1,
    );
    env.emu
        .inject(Some("calendar.events.list"), Fault::BackendError, 1);
    let first = env.call("GET", LIST, &env.alice, None).await;
    assert_eq!(
        (first.status, reason(&first.body)),
        (403, "rateLimitExceeded")
    );
    assert_eq!(first.body["error"]["errors"][0]["domain"], "usageLimits");
    let second = env.call("GET", LIST, &env.alice, None).await;
    assert_eq!(
        (second.status, reason(&second.body)),
        (429, "rateLimitExceeded")
    );
    assert_eq!(second.headers["retry-after"], "7");
    let third = env
        .call(
            "GET",
            "/calendar/v3/users/me/calendarList",
            &env.alice,
            None,
        )
        .await;
    assert_eq!((third.status, reason(&third.body)), (503, "backendError"));
    assert_eq!(
        reason(&env.call("GET", LIST, &env.alice, None).await.body),
        "userRateLimitExceeded"
    );
    assert_eq!(env.call("GET", LIST, &env.alice, None).await.status, 500);
    assert_eq!(env.call("GET", LIST, &env.alice, None).await.status, 200);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let env = env().await;
    env.emu.inject(None, Fault::Latency { millis: 200 }, 1);
    let started = std::time::Instant::now();
    assert_eq!(env.call("GET", LIST, &env.alice, None).await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}

#[tokio::test]
async fn per_user_quota_is_enforced_when_configured() {
    let quota = QuotaConfig {
        per_user_per_minute: 3,
        answer_429: false,
    };
    let env = env_with(GoogleConfig {
        quota: Some(quota),
        ..GoogleConfig::default()
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..7 {
        answers.push(env.call("GET", LIST, &env.alice, None).await);
    }
    // Seven calls span at most one minute boundary, so at most six fit in the quota of 3.
    assert!(answers[..3].iter().all(|a| a.status == 200));
    let refused: Vec<_> = answers.iter().filter(|a| a.status == 403).collect();
    assert!(!refused.is_empty());
    assert_eq!(reason(&refused[0].body), "userRateLimitExceeded");
    assert_eq!(
        env.call("GET", LIST, &env.bob, None).await.status,
        200,
        "quota is per user"
    );
}

#[tokio::test]
async fn admin_endpoint_and_request_log() {
    let env = env().await;
    let admin = |body: Value| {
        env.http
            .post(env.url("/_emulator/faults"))
            .json(&body)
            .send()
    };
    let answer = admin(json!({ "action": "inject", "op": "calendar.events.list", "fault": { "kind": "backendError" } })).await.expect("admin");
    assert_eq!(answer.status().as_u16(), 204);
    assert_eq!(
        env.call("GET", &format!("{LIST}?maxResults=5"), &env.alice, None)
            .await
            .status,
        500
    );
    admin(json!({ "action": "expireAccessTokens", "email": ALICE }))
        .await
        .expect("admin");
    assert_eq!(env.call("GET", LIST, &env.alice, None).await.status, 401);
    let log: Value = env
        .http
        .get(env.url("/_emulator/requests"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0],
        json!({ "method": "GET", "path": LIST, "query": "maxResults=5", "caller": ALICE, "status": 500, "at": items[0]["at"] })
    );
    assert_eq!(items[1]["caller"], Value::Null);
    assert_eq!(items[1]["query"], Value::Null);
    env.http
        .delete(env.url("/_emulator/requests"))
        .send()
        .await
        .expect("clear");
    assert!(env.emu.requests().is_empty());
}
