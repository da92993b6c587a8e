//! events.watch, push notifications with Google's headers, channels.stop, push faults.

use emulators::google::PushFault;
use serde_json::{Value, json};

use super::common::{ALICE, Env, Hook, env, header, reason, timed, wait_until};

async fn watch(env: &Env, hook: &Hook, id: &str) -> Value {
    let body = json!({ "id": id, "type": "web_hook", "address": hook.url, "token": "tok-1", "params": { "ttl": "3600" } });
    let answer = env
        .call(
            "POST",
            "/calendar/v3/calendars/primary/events/watch",
            &env.alice,
            Some(body),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

async fn change(env: &Env, n: usize) {
    for i in 0..n {
        env.insert(
            "primary",
            timed(
                &format!("c{i}"),
                "2026-08-01T10:00:00Z",
                "2026-08-01T11:00:00Z",
            ),
        )
        .await;
    }
}

fn numbers(received: &[axum::http::HeaderMap]) -> Vec<u64> {
    received
        .iter()
        .map(|h| header(h, "x-goog-message-number").parse().expect("number"))
        .collect()
}

#[tokio::test]
async fn watch_sends_sync_then_exists_with_google_headers() {
    let env = env().await;
    let hook = Hook::start().await;
    let channel = watch(&env, &hook, "chan-1").await;
    assert_eq!(channel["kind"], "api#channel");
    assert_eq!(channel["token"], "tok-1");
    let expiration: i64 = channel["expiration"]
        .as_str()
        .expect("ms string")
        .parse()
        .expect("ms");
    let expected = chrono::Utc::now().timestamp_millis() + 3_600_000;
    assert!((expiration - expected).abs() < 10_000);
    let sync = hook.wait_for(1).await;
    assert_eq!(header(&sync[0], "x-goog-resource-state"), "sync");
    assert_eq!(header(&sync[0], "x-goog-message-number"), "1");
    change(&env, 2).await;
    let all = hook.wait_for(3).await;
    let first = &all[1];
    assert_eq!(header(first, "x-goog-resource-state"), "exists");
    assert_eq!(header(first, "x-goog-channel-id"), "chan-1");
    assert_eq!(header(first, "x-goog-channel-token"), "tok-1");
    assert_eq!(
        header(first, "x-goog-resource-id"),
        channel["resourceId"].as_str().expect("resourceId")
    );
    assert_eq!(
        header(first, "x-goog-resource-uri"),
        channel["resourceUri"].as_str().expect("resourceUri")
    );
    assert_eq!(header(first, "user-agent"), "APIs-Google");
    assert!(header(first, "x-goog-channel-expiration").ends_with("GMT"));
    let n = numbers(&all);
    assert!(
        n[1] > n[0] + 1 && n[2] > n[1] + 1,
        "increasing, not consecutive: {n:?}"
    );
}

#[tokio::test]
async fn stop_ends_delivery_unless_a_fault_says_otherwise() {
    let env = env().await;
    let hook = Hook::start().await;
    let channel = watch(&env, &hook, "chan-2").await;
    hook.wait_for(1).await;
    let stop = json!({ "id": "chan-2", "resourceId": channel["resourceId"] });
    let wrong = json!({ "id": "chan-2", "resourceId": "nope" });
    assert_eq!(
        env.call(
            "POST",
            "/calendar/v3/channels/stop",
            &env.alice,
            Some(wrong)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        env.call("POST", "/calendar/v3/channels/stop", &env.alice, Some(stop))
            .await
            .status,
        204
    );
    env.emu.inject_push(PushFault::DeliverAfterStop, 1);
    change(&env, 2).await;
    hook.wait_for(2).await;
    let marker = Hook::start().await;
    watch(&env, &marker, "chan-3").await;
    change(&env, 1).await;
    marker.wait_for(2).await;
    assert_eq!(
        hook.received().len(),
        2,
        "only the faulted notification after stop"
    );
}

#[tokio::test]
async fn http_address_is_refused_unless_allowed_on_loopback() {
    let env = super::common::env_with(emulators::google::GoogleConfig::default()).await;
    let body = json!({ "id": "c", "type": "web_hook", "address": "http://127.0.0.1:1/hook" });
    let refused = env
        .call(
            "POST",
            "/calendar/v3/calendars/primary/events/watch",
            &env.alice,
            Some(body),
        )
        .await;
    assert_eq!(
        (refused.status, reason(&refused.body)),
        (400, "push.webhookUrlNotHttps")
    );
    let open = super::common::env().await;
    let remote = json!({ "id": "c", "type": "web_hook", "address": "http://example.com/hook" });
    let refused = open
        .call(
            "POST",
            "/calendar/v3/calendars/primary/events/watch",
            &open.alice,
            Some(remote),
        )
        .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn failed_deliveries_are_retried_on_5xx_only() {
    let env = env().await;
    let hook = Hook::start().await;
    hook.answer_with(&[503, 500, 404]);
    watch(&env, &hook, "chan-r").await;
    hook.wait_for(3).await;
    change(&env, 1).await;
    hook.wait_for(4).await;
    wait_until(|| env.emu.pushes().len() >= 4).await;
    let statuses: Vec<Option<u16>> = env.emu.pushes().iter().map(|p| p.status).collect();
    assert_eq!(statuses, [Some(503), Some(500), Some(404), Some(200)]);
}

#[tokio::test]
async fn push_faults_duplicate_drop_reorder_delay() {
    let env = env().await;
    let hook = Hook::start().await;
    watch(&env, &hook, "chan-f").await;
    hook.wait_for(1).await;
    env.emu.inject_push(PushFault::Duplicate, 1);
    change(&env, 1).await;
    let got = hook.wait_for(3).await;
    assert_eq!(numbers(&got)[1], numbers(&got)[2]);
    env.emu.inject_push(PushFault::Drop, 1);
    env.emu.inject_push(PushFault::Reorder, 1);
    change(&env, 3).await;
    let got = hook.wait_for(5).await;
    let n = numbers(&got);
    assert!(n[3] > n[4], "reordered: {n:?}");
    wait_until(|| {
        env.emu
            .pushes()
            .iter()
            .any(|p| p.error.as_deref() == Some("dropped"))
    })
    .await;
    env.emu.inject_push(PushFault::Delay { millis: 300 }, 1);
    change(&env, 2).await;
    let got = hook.wait_for(7).await;
    let n = numbers(&got);
    assert!(n[5] > n[6], "delayed one arrives last: {n:?}");
    assert_eq!(env.emu.events(ALICE).len(), 6);
}

#[tokio::test]
async fn expired_channel_stops_delivering() {
    let env = env().await;
    let hook = Hook::start().await;
    let soon = chrono::Utc::now().timestamp_millis() + 300;
    let body = json!({ "id": "chan-e", "type": "web_hook", "address": hook.url, "expiration": soon.to_string() });
    env.call(
        "POST",
        "/calendar/v3/calendars/primary/events/watch",
        &env.alice,
        Some(body),
    )
    .await;
    hook.wait_for(1).await;
    wait_until(|| chrono::Utc::now().timestamp_millis() > soon).await;
    change(&env, 1).await;
    let marker = Hook::start().await;
    watch(&env, &marker, "chan-m").await;
    change(&env, 1).await;
    marker.wait_for(2).await;
    assert_eq!(hook.received().len(), 1);
}
