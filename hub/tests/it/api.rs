//! The error contract, authentication, tenant isolation and tenant settings over HTTP.

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::{
    on_both_engines,
    support::{Engine, TestHub, expect_error},
};

const SETTINGS: &str = "/api/v1/tenant/settings";

async fn missing_bad_and_revoked_tokens_answer_401(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    expect_error(
        hub.call(Method::GET, SETTINGS, None, None).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(
        hub.call(Method::GET, SETTINGS, Some("corbi_pat_nope"), None)
            .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let basic = hub
        .client
        .get(hub.url(SETTINGS))
        .header(header::AUTHORIZATION, "Basic abc")
        .send()
        .await
        .expect("sent");
    expect_error(basic, 401, "UNAUTHENTICATED").await;

    let issued =
        hub::auth::store::issue_api_key(hub.db(), &acme.tenant_id, "temp", shared::ActorType::Ai)
            .await
            .expect("key");
    assert_eq!(
        hub.call(Method::GET, SETTINGS, Some(&issued.token), None)
            .await
            .status(),
        200
    );
    hub::auth::store::revoke_credential(hub.db(), &acme.tenant_id, &issued.credential_id)
        .await
        .expect("revoked");
    expect_error(
        hub.call(Method::GET, SETTINGS, Some(&issued.token), None)
            .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;

    let expiring = hub::auth::store::issue_api_key(
        hub.db(),
        &acme.tenant_id,
        "expiring",
        shared::ActorType::Ai,
    )
    .await
    .expect("key");
    sqlx::query("UPDATE credentials SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(&expiring.credential_id)
        .execute(hub.db().pool())
        .await
        .expect("expired");
    expect_error(
        hub.call(Method::GET, SETTINGS, Some(&expiring.token), None)
            .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    hub.stop().await;
}
on_both_engines!(missing_bad_and_revoked_tokens_answer_401);

async fn settings_are_validated_admin_only_and_per_tenant(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let globex = hub.seed("globex").await;

    let defaults: Value = hub
        .call(Method::GET, SETTINGS, Some(&acme.member_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(defaults["check_in"]["opens_minutes_before"], 15);
    assert_eq!(defaults["check_in"]["closes_minutes_after"], 120);
    assert_eq!(defaults["working_hours"]["start"], "08:00");

    let change = json!({
        "time_zone": "Europe/Berlin",
        "auto_release": {"enabled": true, "after_minutes": 10},
    });
    expect_error(
        hub.call(
            Method::PUT,
            SETTINGS,
            Some(&acme.member_token),
            Some(change.clone()),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    expect_error(
        hub.call(
            Method::PUT,
            SETTINGS,
            Some(&acme.ai_key),
            Some(change.clone()),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;

    let saved = hub
        .call(Method::PUT, SETTINGS, Some(&acme.admin_token), Some(change))
        .await;
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.expect("json");
    assert_eq!(saved["time_zone"], "Europe/Berlin");
    assert_eq!(saved["auto_release"]["enabled"], true);
    assert_eq!(
        saved["check_in"]["closes_minutes_after"], 120,
        "untouched fields keep their value"
    );

    let theirs: Value = hub
        .call(Method::GET, SETTINGS, Some(&globex.admin_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        theirs["time_zone"], "UTC",
        "another tenant's settings are untouched"
    );

    for (bad, field) in [
        (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
        (
            json!({"working_hours": {"start": "18:00", "end": "08:00"}}),
            "working_hours.end",
        ),
        (
            json!({"working_hours": {"days": ["monday"]}}),
            "working_hours.days",
        ),
        (
            json!({"check_in": {"closes_minutes_after": 0}}),
            "check_in.closes_minutes_after",
        ),
        (
            json!({"check_in": {"opens_minutes_before": "soon"}}),
            "check_in.opens_minutes_before",
        ),
        (json!({"timezone": "UTC"}), "timezone"),
        (
            json!({"notifications": {"email": {"on": ["EXPLODED"]}}}),
            "notifications.email.on",
        ),
    ] {
        let body = expect_error(
            hub.call(
                Method::PUT,
                SETTINGS,
                Some(&acme.admin_token),
                Some(bad.clone()),
            )
            .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        let fields: Vec<&str> = body["error"]["details"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{bad} should name {field}: {body}"
        );
    }
    let unchanged: Value = hub
        .call(Method::GET, SETTINGS, Some(&acme.admin_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(unchanged, saved, "refused changes change nothing");
    hub.stop().await;
}
on_both_engines!(settings_are_validated_admin_only_and_per_tenant);

async fn malformed_oversized_and_misrouted_requests_use_the_error_shape(engine: Engine) {
    let hub = TestHub::start_with(engine, hub::jobs::Registry::new(), |c| {
        c.max_body_bytes = 4096
    })
    .await;
    let acme = hub.seed("acme").await;
    let put = |body: &'static str, content_type: &'static str| {
        hub.client
            .put(hub.url(SETTINGS))
            .bearer_auth(&acme.admin_token)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let broken = expect_error(
        put("{\"time_zone\": ", "application/json")
            .await
            .expect("sent"),
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(broken["error"]["details"]["fields"][0]["field"], "body");
    expect_error(
        put("time_zone=UTC", "application/x-www-form-urlencoded")
            .await
            .expect("sent"),
        422,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        put("[1, 2]", "application/json").await.expect("sent"),
        422,
        "VALIDATION_FAILED",
    )
    .await;

    let huge = json!({"default_calendar_id": "x".repeat(10_000)});
    expect_error(
        hub.call(Method::PUT, SETTINGS, Some(&acme.admin_token), Some(huge))
            .await,
        413,
        "PAYLOAD_TOO_LARGE",
    )
    .await;

    expect_error(
        hub.call(
            Method::GET,
            "/api/v1/nothing-here",
            Some(&acme.admin_token),
            None,
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    expect_error(
        hub.call(Method::DELETE, SETTINGS, Some(&acme.admin_token), None)
            .await,
        405,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    let bad_filter = hub
        .call(
            Method::GET,
            "/api/v1/admin/jobs?state=sleepy",
            Some(&acme.admin_token),
            None,
        )
        .await;
    let body = expect_error(bad_filter, 422, "VALIDATION_FAILED").await;
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "state");

    let current: Value = hub
        .call(Method::GET, SETTINGS, Some(&acme.admin_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        current["time_zone"], "UTC",
        "nothing was changed by bad requests"
    );
    hub.stop().await;
}
on_both_engines!(malformed_oversized_and_misrouted_requests_use_the_error_shape);

async fn correlation_ids_are_echoed_and_put_in_errors(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let given = hub
        .client
        .get(hub.url(SETTINGS))
        .header("X-Correlation-Id", "call-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(given.headers()["x-correlation-id"], "call-42");
    let body = expect_error(given, 401, "UNAUTHENTICATED").await;
    assert_eq!(body["error"]["correlation_id"], "call-42");

    let generated = hub
        .client
        .get(hub.url("/healthz"))
        .send()
        .await
        .expect("sent");
    let id = generated.headers()["x-correlation-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(id.len(), 36, "a UUID is generated: {id}");
    let hostile = hub
        .client
        .get(hub.url("/healthz"))
        .header("X-Correlation-Id", "a b\tc")
        .send()
        .await
        .expect("sent");
    assert_ne!(hostile.headers()["x-correlation-id"], "a b\tc");
    hub.stop().await;
}
on_both_engines!(correlation_ids_are_echoed_and_put_in_errors);
