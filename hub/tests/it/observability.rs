//! Health, readiness, metrics, the OpenAPI document, and that no secret reaches a log.

use reqwest::Method;
use serde_json::Value;

use crate::{
    on_both_engines,
    support::{Engine, TestHub, captured_logs, expect_error},
};

async fn health_readiness_and_metrics_answer(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    assert_eq!(
        hub.call(Method::GET, "/healthz", None, None).await.status(),
        200
    );
    assert_eq!(
        hub.call(Method::GET, "/readyz", None, None).await.status(),
        200
    );
    hub.call(
        Method::GET,
        "/api/v1/tenant/settings",
        Some(&acme.member_token),
        None,
    )
    .await;
    hub.call(Method::GET, "/api/v1/tenant/settings", None, None)
        .await;
    let text = hub
        .call(
            Method::GET,
            "/metrics",
            Some(crate::support::METRICS_TOKEN),
            None,
        )
        .await
        .text()
        .await
        .expect("text");
    let served = concat!(
        r#"corbi_http_requests_total{method="GET",route="/api/v1/tenant/settings","#,
        r#"status="200"} 1"#
    );
    let refused = concat!(
        r#"corbi_http_requests_total{method="GET",route="/api/v1/tenant/settings","#,
        r#"status="401"} 1"#
    );
    assert!(text.contains(served), "{text}");
    assert!(text.contains(refused), "{text}");
    assert!(
        text.contains("corbi_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"corbi_jobs_queue_depth{state="dead"} 0"#),
        "{text}"
    );
    assert!(
        text.contains("corbi_jobs_queue_depth{state=\"queued\"}"),
        "{text}"
    );
    hub.stop().await;
}
on_both_engines!(health_readiness_and_metrics_answer);

async fn the_openapi_document_lists_the_routes(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let doc: Value = hub
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/v1/tenant/settings",
        "/api/v1/admin/jobs",
        "/api/v1/admin/jobs/{id}/retry",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["TenantSettings"].is_object());
    hub.stop().await;
}
on_both_engines!(the_openapi_document_lists_the_routes);

async fn tokens_never_reach_the_logs(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let forged = "corbi_pat_this-one-is-made-up-but-still-secret-0123456789";
    for token in [&acme.admin_token, &acme.member_token, &acme.ai_key] {
        hub.call(Method::GET, "/api/v1/tenant/settings", Some(token), None)
            .await;
        hub.call(
            Method::PUT,
            "/api/v1/tenant/settings",
            Some(token),
            Some(serde_json::json!({"time_zone": "Nowhere/Land"})),
        )
        .await;
        hub.call(Method::GET, "/api/v1/missing", Some(token), None)
            .await;
    }
    expect_error(
        hub.call(Method::GET, "/api/v1/tenant/settings", Some(forged), None)
            .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let logs = captured_logs();
    assert!(
        logs.contains("request answered"),
        "logs were captured at debug level"
    );
    for secret in [
        &acme.admin_token,
        &acme.member_token,
        &acme.ai_key,
        &forged.to_string(),
    ] {
        assert!(!logs.contains(secret.as_str()), "a token reached the logs");
        let hash = hub::auth::tokens::hash(secret);
        assert!(!logs.contains(&hash), "a token hash reached the logs");
    }
    hub.stop().await;
}
on_both_engines!(tokens_never_reach_the_logs);
