//! The Google connection (OAuth, sealed tokens, refresh, re-consent), the Calendar client's
//! retries and error mapping, and resources bound to calendars — against the emulator.

use emulators::google::{Fault, Role};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    on_both_engines,
    support::{Engine, FakeGoogle, ROOMS_ACCOUNT, TestHub, expect_error},
};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

async fn an_admin_connects_the_tenant_and_tokens_are_sealed(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    let before = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/connection",
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(before["connected"], false);
    assert_eq!(before["missing_scopes"].as_array().map(Vec::len), Some(5));

    expect_error(
        hub.call(
            Method::GET,
            "/oauth/google/start?for=tenant",
            Some(&acme.member_token),
            None,
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert_eq!(
        hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
            .await,
        200
    );

    let status = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/connection",
            Some(&acme.member_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(status["status"], "active");
    assert_eq!(status["account_email"], ROOMS_ACCOUNT);
    assert_eq!(status["missing_scopes"], json!([]));

    // The access token Google issued is nowhere in the database in clear.
    let token_requests = google.count("POST", "/token");
    assert_eq!(token_requests, 1, "one code exchange");
    let sealed: (String, Option<String>, String) = {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT access_token_sealed, refresh_token_sealed, key_id FROM connections",
        )
        .fetch_one(hub.db().pool())
        .await
        .expect("row");
        (row.get(0), row.get(1), row.get(2))
    };
    assert!(
        !sealed.0.contains("ya29") && sealed.1.as_deref().is_some_and(|r| !r.contains("1//")),
        "tokens are sealed"
    );
    assert_eq!(sealed.2, "k1");

    // A used or unknown state is refused.
    let replay = hub
        .client
        .get(hub.url("/oauth/google/callback?code=x&state=corbi_oas_nope"))
        .send()
        .await
        .expect("sent");
    assert_eq!(replay.status(), 400);
    hub.stop().await;
}
on_both_engines!(an_admin_connects_the_tenant_and_tokens_are_sealed);

async fn expired_access_tokens_are_refreshed_once_and_retried(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
        .await;
    google.emulator.expire_access_tokens(ROOMS_ACCOUNT);
    let calls = (0..6).map(|_| {
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        google.count("POST", "/token"),
        2,
        "one code exchange and one refresh for six concurrent callers"
    );
    let listed = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], ROOMS_ACCOUNT);
    assert_eq!(listed["items"][0]["primary"], true);
    hub.stop().await;
}
on_both_engines!(expired_access_tokens_are_refreshed_once_and_retried);

async fn a_revoked_grant_asks_for_consent_again(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
        .await;
    google.emulator.revoke_refresh_tokens(ROOMS_ACCOUNT);
    google.emulator.expire_access_tokens(ROOMS_ACCOUNT);
    let refused = expect_error(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await,
        409,
        "CALENDAR_NOT_CONNECTED",
    )
    .await;
    let url = refused["error"]["details"]["reconsent_url"]
        .as_str()
        .expect("reconsent url");
    assert!(url.ends_with("/oauth/google/start?for=tenant"), "{url}");
    let status = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/connection",
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status["status"], "needs_reconsent");
    assert!(
        status["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid_grant")),
        "{status}"
    );

    let token_calls = google.count("POST", "/token");
    expect_error(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await,
        409,
        "CALENDAR_NOT_CONNECTED",
    )
    .await;
    assert_eq!(
        google.count("POST", "/token"),
        token_calls,
        "a connection needing consent is not hammered"
    );

    assert_eq!(
        hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
            .await,
        200
    );
    assert_eq!(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None
        )
        .await
        .status(),
        200
    );
    hub.stop().await;
}
on_both_engines!(a_revoked_grant_asks_for_consent_again);

async fn a_missing_scope_answers_not_connected_without_calling_google(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
        .await;
    sqlx::query("UPDATE connections SET scopes = $1")
        .bind(hub::google::scopes::EVENTS)
        .execute(hub.db().pool())
        .await
        .expect("narrowed");
    let before = google.emulator.requests().len();
    let refused = expect_error(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await,
        409,
        "CALENDAR_NOT_CONNECTED",
    )
    .await;
    assert_eq!(
        refused["error"]["details"]["missing_scopes"],
        json!([hub::google::scopes::CALENDAR_LIST])
    );
    assert_eq!(
        google.emulator.requests().len(),
        before,
        "Google was not called"
    );
    let status = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/connection",
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status["missing_scopes"].as_array().map(Vec::len), Some(4));
    hub.stop().await;
}
on_both_engines!(a_missing_scope_answers_not_connected_without_calling_google);

async fn rate_limits_and_outages_are_retried_then_reported(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
        .await;
    let list_op = Some("calendar.calendarList.list");
    google.emulator.inject(
        list_op,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    google
        .emulator
        .inject(list_op, Fault::UserRateLimitExceeded, 1);
    google.emulator.inject(list_op, Fault::BackendError, 1);
    let before = google.count("GET", "/users/me/calendarList");
    assert_eq!(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        google.count("GET", "/users/me/calendarList") - before,
        4,
        "three failures retried, then success"
    );

    google
        .emulator
        .inject(list_op, Fault::ServiceUnavailable, 1000);
    let response = hub
        .call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    expect_error(response, 503, "CALENDAR_UNAVAILABLE").await;
    assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After is set");
    let metrics = hub
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
    assert!(
        metrics.contains(
            r#"corbi_google_calls_total{operation="calendarList.list",outcome="unavailable"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"corbi_google_calls_total{operation="calendarList.list",outcome="ok"} 1"#),
        "{metrics}"
    );
    hub.stop().await;
}
on_both_engines!(rate_limits_and_outages_are_retried_then_reported);

async fn rotated_keys_keep_tokens_readable_and_reseal(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
        .await;
    let k1 = hub.hub.state.config.encryption.keys.expose().to_string();
    let k2 = hub::connections::seal::generate_key("k2");

    // Without the key, the sealed tokens cannot be used.
    let hub = hub
        .restart(|c| {
            c.encryption.keys = hub::config::Secret::new(hub::connections::seal::generate_key("k1"))
        })
        .await;
    expect_error(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await,
        409,
        "CALENDAR_NOT_CONNECTED",
    )
    .await;

    let both = format!("{k1},{k2}");
    let hub = hub
        .restart(|c| {
            c.encryption.keys = hub::config::Secret::new(both);
            c.encryption.active_key_id = "k2".into();
        })
        .await;
    assert_eq!(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        hub.hub
            .state
            .connections
            .reseal_all()
            .await
            .expect("resealed"),
        1
    );

    let hub = hub
        .restart(|c| {
            c.encryption.keys = hub::config::Secret::new(k2);
            c.encryption.active_key_id = String::new();
        })
        .await;
    assert_eq!(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        google.count("POST", "/token"),
        1,
        "no refresh was needed: the same tokens were read through all keys"
    );
    hub.stop().await;
}
on_both_engines!(rotated_keys_keep_tokens_readable_and_reseal);

async fn admins_onboard_rooms_and_devices_with_their_calendars(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    let globex = hub.seed("globex").await;
    let room_body = |calendar: Value| {
        json!({
            "name": "Atlas",
            "kind": "ROOM",
            "capacity": 8,
            "calendar": calendar,
        })
    };

    // Not connected yet.
    expect_error(
        hub.call(
            Method::POST,
            "/api/v1/resources",
            Some(&acme.admin_token),
            Some(room_body(json!({"mode": "CREATE"}))),
        )
        .await,
        409,
        "CALENDAR_NOT_CONNECTED",
    )
    .await;
    hub.consent(&acme.admin_token, "tenant", ROOMS_ACCOUNT)
        .await;

    let shared_room = google
        .emulator
        .create_calendar("facilities@acme.example.com", "Atlas room");
    google.emulator.add_account("facilities@acme.example.com");
    let private = google
        .emulator
        .create_calendar("facilities@acme.example.com", "Private");
    google
        .emulator
        .share_calendar(&shared_room, ROOMS_ACCOUNT, Role::Writer);

    expect_error(
        hub.call(
            Method::POST,
            "/api/v1/resources",
            Some(&acme.member_token),
            Some(room_body(json!({"mode": "CREATE"}))),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let inaccessible = expect_error(
        hub.call(
            Method::POST,
            "/api/v1/resources",
            Some(&acme.admin_token),
            Some(room_body(
                json!({"mode": "EXISTING", "calendar_id": private}),
            )),
        )
        .await,
        422,
        "CALENDAR_NOT_ACCESSIBLE",
    )
    .await;
    assert_eq!(
        inaccessible["error"]["details"]["calendar_id"],
        private.as_str()
    );

    let created = hub
        .call(
            Method::POST,
            "/api/v1/resources",
            Some(&acme.admin_token),
            Some(room_body(
                json!({"mode": "EXISTING", "calendar_id": shared_room}),
            )),
        )
        .await;
    assert_eq!(created.status(), 201);
    let room = json_of(created).await;
    assert_eq!(room["calendar_id"], shared_room.as_str());
    assert_eq!(room["enabled"], true);
    assert_eq!(room["calendar_created"], false);
    let taken = expect_error(
        hub.call(
            Method::POST,
            "/api/v1/resources",
            Some(&acme.admin_token),
            Some(room_body(
                json!({"mode": "EXISTING", "calendar_id": shared_room}),
            )),
        )
        .await,
        409,
        "CONFLICT",
    )
    .await;
    assert_eq!(taken["error"]["details"]["resource_id"], room["id"]);

    let device = json_of(
        hub.call(
            Method::POST,
            "/api/v1/resources",
            Some(&acme.admin_token),
            Some(json!({"name": "Projector 1", "kind": "DEVICE", "calendar": {"mode": "CREATE"}})),
        )
        .await,
    )
    .await;
    assert_eq!(device["calendar_created"], true);
    let device_calendar = device["calendar_id"].as_str().expect("calendar id");
    assert!(
        google
            .emulator
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/calendar/v3/calendars" && r.status == 200)
    );
    let listed = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    let entry = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["id"] == device_calendar)
        .cloned()
        .expect("created calendar listed");
    assert_eq!(entry["resource_id"], device["id"]);

    for (bad, field) in [
        (
            json!({"name": "", "kind": "ROOM", "calendar": {"mode": "CREATE"}}),
            "name",
        ),
        (
            json!({"name": "X", "kind": "ROOM", "capacity": 0, "calendar": {"mode": "CREATE"}}),
            "capacity",
        ),
        (
            json!({"name": "X", "kind": "CASTLE", "calendar": {"mode": "CREATE"}}),
            "kind",
        ),
        (json!({"name": "X", "kind": "ROOM"}), "calendar"),
        (
            json!({"name": "X", "kind": "ROOM", "calendar": {"mode": "BORROW"}}),
            "calendar",
        ),
    ] {
        let body = expect_error(
            hub.call(
                Method::POST,
                "/api/v1/resources",
                Some(&acme.admin_token),
                Some(bad.clone()),
            )
            .await,
            422,
            "VALIDATION_FAILED",
        )
        .await;
        assert!(
            body["error"]["details"]["fields"][0]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{bad}: {body}"
        );
    }

    let room_path = format!("/api/v1/resources/{}", room["id"].as_str().expect("id"));
    let renamed = json_of(
        hub.call(
            Method::PATCH,
            &room_path,
            Some(&acme.admin_token),
            Some(json!({"name": "Atlas (2nd floor)", "capacity": 10})),
        )
        .await,
    )
    .await;
    assert_eq!(renamed["name"], "Atlas (2nd floor)");
    assert_eq!(renamed["capacity"], 10);
    expect_error(
        hub.call(
            Method::PATCH,
            &room_path,
            Some(&acme.member_token),
            Some(json!({"name": "Mine"})),
        )
        .await,
        403,
        "FORBIDDEN",
    )
    .await;
    expect_error(
        hub.call(Method::GET, &room_path, Some(&globex.admin_token), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    expect_error(
        hub.call(
            Method::POST,
            &format!("{room_path}/disable"),
            Some(&globex.admin_token),
            None,
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;

    let disabled = json_of(
        hub.call(
            Method::POST,
            &format!("{room_path}/disable"),
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(disabled["enabled"], false);
    let room_id = room["id"].as_str().expect("id");
    let refused = hub::resources::ensure_bookable(hub.db(), &acme.tenant_id, room_id)
        .await
        .expect_err("disabled");
    let refused: hub::error::ApiError = refused.into();
    assert_eq!(refused.code(), shared::ErrorCode::ResourceDisabled);
    let still_listed = json_of(
        hub.call(
            Method::GET,
            "/api/v1/resources?kind=ROOM",
            Some(&acme.member_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        still_listed["items"][0]["enabled"], false,
        "a disabled room keeps its record"
    );
    hub.call(
        Method::POST,
        &format!("{room_path}/enable"),
        Some(&acme.admin_token),
        None,
    )
    .await;
    assert!(
        hub::resources::ensure_bookable(hub.db(), &acme.tenant_id, room_id)
            .await
            .is_ok()
    );

    let all = json_of(
        hub.call(Method::GET, "/api/v1/resources", Some(&acme.ai_key), None)
            .await,
    )
    .await;
    let kinds: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ROOM", "DEVICE"], "rooms first");
    let theirs = json_of(
        hub.call(
            Method::GET,
            "/api/v1/resources",
            Some(&globex.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
    hub.stop().await;
}
on_both_engines!(admins_onboard_rooms_and_devices_with_their_calendars);

#[tokio::test]
async fn the_fake_google_refuses_unknown_oauth_clients() {
    let google = FakeGoogle::start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/token", google.emulator.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "who"),
            ("client_secret", "no"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status(),
        401,
        "the hub's tests rely on the emulator checking clients"
    );
}

/// A consent link forwarded to a colleague (Google answered in a browser that did not start
/// the flow) connects nothing, and the sender's pending consent still works from their browser.
async fn a_forwarded_consent_link_is_refused(engine: Engine) {
    let (hub, google) = TestHub::start_google(engine).await;
    let acme = hub.seed("acme").await;
    google.emulator.add_account("colleague@acme.example.com");
    let start = hub
        .call(
            Method::GET,
            "/oauth/google/start?for=tenant&login_hint=colleague@acme.example.com",
            Some(&acme.admin_token),
            None,
        )
        .await;
    assert!(start.status().is_redirection());
    let to_google = start.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    let approved = hub.client.get(to_google).send().await.expect("Google");
    let back = approved.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    let forwarded = hub.client.get(back).send().await.expect("callback");
    assert_eq!(forwarded.status(), 400);
    assert!(
        forwarded
            .text()
            .await
            .expect("page")
            .contains("another browser")
    );
    let status = json_of(
        hub.call(
            Method::GET,
            "/api/v1/google/connection",
            Some(&acme.admin_token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status["connected"], false, "{status}");
    assert_eq!(google.count("POST", "/token"), 0, "no code was exchanged");
    assert!(crate::support::captured_logs().contains("did not start it"));
    hub.stop().await;
}
on_both_engines!(a_forwarded_consent_link_is_refused);
