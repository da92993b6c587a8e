//! Edge devices end to end: enrollment over HTTP, a real hub with its embedded rumqttd (or the
//! machine's Mosquitto when `CORBI_TEST_MQTT_URL` is set), and real `edge-agent`s.
//!
//! Every test makes its own tenant and device ids (UUIDs), so tests sharing one Mosquitto never
//! see each other's topics.

use chrono::Utc;
use edge_agent::{ConnectionState, DeviceIdentity, DeviceOutcome, EnrollmentResponse};
use reqwest::Method;
use rumqttc::QoS;
use serde_json::{Value, json};
use shared::protocol::{
    self, CheckIn, CheckInOutcome, Heartbeat, Message,
    seal::{open, seal},
    topics,
};

use crate::{
    on_both_engines,
    support::{
        Engine, World, booking, captured_logs, eventually, expect_error,
        mqtt::{
            Broker, Mosquitto, Proxy, RawClient, WAIT, broker_url, device_login, dropped, enroll,
            enroll_code, enrollment_code, inbox_keys, key, metrics, schedules_on, self_signed,
            soon, start_agent, start_agent_with, titles, world,
        },
    },
};

async fn enrollment_hands_out_a_working_identity_once(engine: Engine) {
    let world = world(engine, Broker::Embedded, &["Atlas"]).await;
    let room = &world.rooms[0];
    let hub = &world.hub;

    let member = hub
        .call(
            Method::POST,
            &format!("/api/v1/resources/{room}/devices"),
            Some(&world.acme.member_token),
            None,
        )
        .await;
    expect_error(member, 403, "FORBIDDEN").await;
    let globex = hub.seed("globex").await;
    let foreign = hub
        .call(
            Method::POST,
            &format!("/api/v1/resources/{room}/devices"),
            Some(&globex.admin_token),
            None,
        )
        .await;
    expect_error(foreign, 404, "NOT_FOUND").await;
    let unknown = hub
        .call(
            Method::POST,
            "/api/v1/resources/nope/devices",
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    expect_error(unknown, 404, "NOT_FOUND").await;
    let anonymous = hub
        .call(
            Method::POST,
            &format!("/api/v1/resources/{room}/devices"),
            None,
            None,
        )
        .await;
    expect_error(anonymous, 401, "UNAUTHENTICATED").await;

    expect_error(
        enroll_code(&world, "ABCD-EFGH-JKMN-PQRS-TUVW").await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(enroll_code(&world, "").await, 422, "VALIDATION_FAILED").await;
    let extra = hub
        .call(
            Method::POST,
            "/api/v1/devices/enroll",
            None,
            Some(json!({"code": "x"})),
        )
        .await;
    expect_error(extra, 422, "VALIDATION_FAILED").await;
    let expired = hub::edge::store::create_enrollment(
        hub.db(),
        &world.acme.tenant_id,
        room,
        "admin",
        chrono::Duration::minutes(-1),
    )
    .await
    .expect("expired code stored");
    expect_error(
        enroll_code(&world, &expired.code).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;

    let code = enrollment_code(&world, room).await;
    let answer = enroll_code(&world, &code.to_lowercase().replace('-', "")).await;
    assert_eq!(answer.status(), 200, "case and dashes do not matter");
    let enrollment: EnrollmentResponse =
        answer.json().await.expect("the agent's own type parses it");
    DeviceIdentity::from_enrollment(enrollment.clone()).expect("topics and keys check out");
    assert_eq!(&enrollment.resource_id, room);
    assert_eq!(enrollment.tenant_id, world.acme.tenant_id);
    assert_eq!(enrollment.mqtt.username, enrollment.device_id);
    expect_error(enroll_code(&world, &code).await, 401, "UNAUTHENTICATED").await;

    let actor = hub::auth::store::authenticate(hub.db(), enrollment.device_token.expose())
        .await
        .expect("device token works");
    assert_eq!(actor.actor_type, shared::ActorType::Device);
    assert_eq!(actor.resource_id.as_deref(), Some(room.as_str()));
    let reads = hub
        .call(
            Method::GET,
            "/api/v1/calendar/events",
            Some(enrollment.device_token.expose()),
            None,
        )
        .await;
    assert_eq!(reads.status(), 200);

    let stored: Vec<String> = sqlx::query_scalar("SELECT mqtt_password_hash FROM devices")
        .fetch_all(hub.db().pool())
        .await
        .expect("devices");
    assert_eq!(stored.len(), 1);
    assert_ne!(
        stored[0],
        enrollment.mqtt.password.expose(),
        "stored hashed"
    );
    let sealed: String = sqlx::query_scalar("SELECT device_key_sealed FROM devices")
        .fetch_one(hub.db().pool())
        .await
        .expect("device");
    assert!(
        !sealed.contains(enrollment.keys.device_key.expose()),
        "key sealed at rest"
    );

    let list = hub
        .call(
            Method::GET,
            &format!("/api/v1/resources/{room}/devices"),
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    let list: Value = list.json().await.expect("json");
    assert_eq!(list["items"][0]["id"], enrollment.device_id.as_str());
    let member_list = hub
        .call(
            Method::GET,
            &format!("/api/v1/resources/{room}/devices"),
            Some(&world.acme.member_token),
            None,
        )
        .await;
    expect_error(member_list, 403, "FORBIDDEN").await;
    let logs = captured_logs();
    assert!(
        !logs.contains(&code),
        "enrollment codes never reach the logs"
    );
    assert!(!logs.contains(enrollment.mqtt.password.expose()));
}
on_both_engines!(enrollment_hands_out_a_working_identity_once);

async fn a_revoked_device_is_cut_off(engine: Engine) {
    let world = world(engine, Broker::Embedded, &["Atlas"]).await;
    let room = &world.rooms[0];
    let enrollment = enroll(&world, room).await;
    let url = broker_url(&world, &enrollment);
    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&enrollment, dir.path(), None);
    eventually(WAIT, "the agent's first schedule", || async {
        agent.snapshot().is_some()
    })
    .await;

    let revoke_path = format!("/api/v1/devices/{}/revoke", enrollment.device_id);
    let member = world
        .hub
        .call(
            Method::POST,
            &revoke_path,
            Some(&world.acme.member_token),
            None,
        )
        .await;
    expect_error(member, 403, "FORBIDDEN").await;
    let globex = world.hub.seed("globex").await;
    let foreign = world
        .hub
        .call(Method::POST, &revoke_path, Some(&globex.admin_token), None)
        .await;
    expect_error(foreign, 404, "NOT_FOUND").await;
    let revoked = world
        .hub
        .call(
            Method::POST,
            &revoke_path,
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let body: Value = revoked.json().await.expect("json");
    assert!(body["revoked_at"].is_string());

    let token = world
        .hub
        .call(
            Method::GET,
            "/api/v1/calendar/events",
            Some(enrollment.device_token.expose()),
            None,
        )
        .await;
    expect_error(token, 401, "UNAUTHENTICATED").await;
    eventually(WAIT, "the agent to lose its session", || async {
        agent.connection_state() == ConnectionState::Offline
    })
    .await;
    let mut login = RawClient::connect(
        &url,
        &enrollment.device_id,
        Some((&enrollment.mqtt.username, enrollment.mqtt.password.expose())),
    );
    assert!(
        !login.outcome().await,
        "the broker refuses the revoked login"
    );

    let version = agent.snapshot().map(|c| c.snapshot.version);
    let generation: i64 = sqlx::query_scalar("SELECT key_generation FROM edge_resources")
        .fetch_one(world.hub.db().pool())
        .await
        .expect("resource key");
    assert_eq!(generation, 2, "the resource key was rotated");
    let booked = world
        .book(
            &world.acme.member_token,
            soon(room, "After revocation", 60, 30),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let published = version.unwrap_or(0) + 1;
    eventually(WAIT, "the booking published under the new key", || async {
        sqlx::query_scalar::<_, i64>("SELECT snapshot_version FROM edge_resources")
            .fetch_one(world.hub.db().pool())
            .await
            .is_ok_and(|v| u64::try_from(v).unwrap_or(0) > published)
    })
    .await;
    assert_eq!(
        agent.snapshot().map(|c| c.snapshot.version),
        version,
        "nothing new reaches it"
    );
    assert!(agent.connection_state() != ConnectionState::Online);
    agent.shutdown().await;
}
on_both_engines!(a_revoked_device_is_cut_off);

async fn each_agent_gets_only_its_own_schedule(engine: Engine, broker: Broker) {
    let world = world(engine, broker, &["Atlas", "Borealis"]).await;
    let (atlas, borealis) = (&world.rooms[0], &world.rooms[1]);
    let a = enroll(&world, atlas).await;
    let b = enroll(&world, borealis).await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let agent_a = start_agent(&a, dir_a.path(), None);
    let agent_b = start_agent(&b, dir_b.path(), None);

    let booked = world
        .book(
            &world.acme.member_token,
            soon(atlas, "Atlas planning", 90, 30),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let booked = world
        .book(
            &world.acme.member_token,
            soon(borealis, "Borealis review", 120, 30),
        )
        .await;
    assert_eq!(booked.status(), 201);
    eventually(WAIT, "each agent's booking", || async {
        titles(&agent_a) == ["Atlas planning"] && titles(&agent_b) == ["Borealis review"]
    })
    .await;
    let snapshot = agent_a.snapshot().expect("cached").snapshot;
    assert_eq!(&snapshot.resource_id, atlas);
    assert_eq!(snapshot.name, "Atlas");
    assert_eq!(snapshot.check_in_opens_minutes_before, 15);
    assert_eq!(snapshot.meetings[0].organizer_name, "Ana");

    let before = agent_a.snapshot().expect("cached").snapshot.version;
    let cancel_id: Value = world
        .book(&world.acme.member_token, soon(atlas, "Short sync", 200, 15))
        .await
        .json()
        .await
        .expect("json");
    let id = cancel_id["id"].as_str().expect("id");
    eventually(WAIT, "the second booking", || async {
        titles(&agent_a).len() == 2
    })
    .await;
    let cancelled = world
        .hub
        .call(
            Method::POST,
            &format!("/api/v1/calendar/events/{id}/cancel"),
            Some(&world.acme.member_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    eventually(WAIT, "the cancellation", || async {
        agent_a.snapshot().is_some_and(|c| {
            c.snapshot
                .meetings
                .iter()
                .any(|m| m.id == id && m.status == shared::protocol::SnapshotStatus::Cancelled)
        })
    })
    .await;
    assert!(
        agent_a.snapshot().expect("cached").snapshot.version > before,
        "versions only grow"
    );
    assert_eq!(titles(&agent_b), ["Borealis review"]);

    let listed: Value = world
        .hub
        .call(
            Method::GET,
            &format!("/api/v1/calendar/events?resource_id={atlas}"),
            Some(&world.acme.member_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let planning = listed["items"]
        .as_array()
        .and_then(|items| items.iter().find(|m| m["title"] == "Atlas planning"))
        .and_then(|m| m["id"].as_str())
        .expect("the Atlas booking")
        .to_string();
    let moved = world
        .hub
        .call(
            Method::PATCH,
            &format!("/api/v1/calendar/events/{planning}"),
            Some(&world.acme.member_token),
            Some(json!({"resource_id": borealis})),
        )
        .await;
    assert_eq!(moved.status(), 200);
    eventually(WAIT, "the move to reach both rooms", || async {
        !titles(&agent_a).contains(&"Atlas planning".to_string())
            && titles(&agent_b).contains(&"Atlas planning".to_string())
    })
    .await;
    agent_a.shutdown().await;
    agent_b.shutdown().await;
}

async fn two_agents_get_their_own_schedules(engine: Engine) {
    each_agent_gets_only_its_own_schedule(engine, Broker::Embedded).await;
}
on_both_engines!(two_agents_get_their_own_schedules);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(corbi_mqtt),
    ignore = "needs an external broker: set CORBI_TEST_MQTT_URL"
)]
async fn two_agents_get_their_own_schedules_on_mosquitto() {
    each_agent_gets_only_its_own_schedule(Engine::Sqlite, Broker::Mosquitto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nosy_device_reads_nothing_and_forges_nothing() {
    let world = world(Engine::Sqlite, Broker::Embedded, &["Atlas", "Borealis"]).await;
    let (atlas, borealis) = (&world.rooms[0], &world.rooms[1]);
    let nosy = enroll(&world, atlas).await;
    let victim = enroll(&world, borealis).await;
    let url = broker_url(&world, &nosy);
    let dir = tempfile::tempdir().expect("dir");
    let victim_agent = start_agent(&victim, dir.path(), None);

    let mut spy = RawClient::connect(
        &url,
        &nosy.device_id,
        Some((&nosy.mqtt.username, nosy.mqtt.password.expose())),
    );
    assert!(spy.outcome().await, "an enrolled device logs in");
    spy.client
        .subscribe("#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let booked = world
        .book(
            &world.acme.member_token,
            soon(borealis, "Secret board meeting", 60, 30),
        )
        .await;
    assert_eq!(booked.status(), 201);
    eventually(WAIT, "the victim's schedule", || async {
        titles(&victim_agent) == ["Secret board meeting"]
    })
    .await;
    spy.subscribed(1).await;
    let own_schedule = topics::schedule(&nosy.tenant_id, atlas).expect("topic");
    spy.client
        .subscribe(&own_schedule, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    eventually(WAIT, "the spy's own (empty) schedule", || async {
        spy.received().iter().any(|(t, _)| *t == own_schedule)
    })
    .await;
    let my_keys = [
        key(nosy.keys.resource_key.expose()),
        key(nosy.keys.device_key.expose()),
    ];
    for (topic, payload) in spy.received() {
        if topic.starts_with(&format!("corbi/v1/{}/res/{atlas}/", nosy.tenant_id)) {
            continue;
        }
        for k in &my_keys {
            assert!(
                open(k, &topic, &payload).is_err(),
                "{topic} opened with the spy's key"
            );
        }
        assert!(!String::from_utf8_lossy(&payload).contains("Secret board meeting"));
    }

    let check_in = |device: &str| {
        protocol::encode(&Message::CheckIn(CheckIn {
            meeting_id: "m".into(),
            device_id: device.into(),
            at_ms: Utc::now().timestamp_millis(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        }))
    };
    let device_key = key(nosy.keys.device_key.expose());
    let victim_up =
        topics::up(&victim.tenant_id, &victim.resource_id, &victim.device_id).expect("topic");
    let other_room_as_me = topics::up(&nosy.tenant_id, borealis, &nosy.device_id).expect("topic");
    let my_up = topics::up(&nosy.tenant_id, &nosy.resource_id, &nosy.device_id).expect("topic");
    let forgeries = [
        (
            victim_up.clone(),
            seal(&device_key, &victim_up, &check_in(&victim.device_id)),
        ),
        (
            other_room_as_me.clone(),
            seal(&device_key, &other_room_as_me, &check_in(&nosy.device_id)),
        ),
        (
            my_up.clone(),
            seal(&device_key, &my_up, &check_in(&victim.device_id)),
        ),
    ];
    for (topic, payload) in forgeries {
        spy.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish");
    }
    let wrong_key = seal(
        &key(victim.keys.device_key.expose()),
        &my_up,
        &check_in(&nosy.device_id),
    );
    spy.client
        .publish(my_up.clone(), QoS::AtLeastOnce, false, wrong_key)
        .await
        .expect("publish");
    eventually(
        WAIT,
        "the forgeries refused by the gate or dropped",
        || async {
            let m = metrics(&world).await;
            let gate = m
                .lines()
                .find_map(|l| l.strip_prefix("corbi_edge_gate_refused_total{what=\"publish\"} "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            gate >= 2 && dropped(&m, "seal") >= 1 && dropped(&m, "wrong_device") >= 1
        },
    )
    .await;
    assert!(inbox_keys(&world, &victim.device_id).await.is_empty());
    assert!(inbox_keys(&world, &nosy.device_id).await.is_empty());
    victim_agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_dropped_and_the_hub_keeps_serving() {
    let world = world(Engine::Sqlite, Broker::Embedded, &["Atlas"]).await;
    let device = enroll(&world, &world.rooms[0]).await;
    let url = broker_url(&world, &device);
    let mut raw = RawClient::connect(
        &url,
        &device.device_id,
        Some((&device.mqtt.username, device.mqtt.password.expose())),
    );
    assert!(raw.outcome().await);
    let up = topics::up(&device.tenant_id, &device.resource_id, &device.device_id).expect("topic");
    let k = key(device.keys.device_key.expose());
    let bad: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not a seal".to_vec(),
        seal(&k, &up, b"\x01\xff\xff garbage"),
        seal(&k, &up, &[9, 0]),
        seal(
            &k,
            &up,
            &protocol::encode(&Message::CheckIn(CheckIn {
                meeting_id: "m".into(),
                device_id: device.device_id.clone(),
                at_ms: (Utc::now() - chrono::Duration::days(3)).timestamp_millis(),
                idempotency_key: "old".into(),
            })),
        ),
    ];
    for payload in bad {
        raw.client
            .publish(&up, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish");
    }
    raw.client
        .publish(
            &up,
            QoS::AtLeastOnce,
            false,
            seal(
                &k,
                &up,
                &protocol::encode(&Message::Heartbeat(Heartbeat {
                    device_id: device.device_id.clone(),
                    agent_version: "9.9.9".into(),
                    cache_version: Some(3),
                    outbox_len: 0,
                })),
            ),
        )
        .await
        .expect("publish");
    let devices_path = format!("/api/v1/resources/{}/devices", world.rooms[0]);
    eventually(WAIT, "the heartbeat after the garbage", || async {
        let list: Value = world
            .hub
            .call(
                Method::GET,
                &devices_path,
                Some(&world.acme.admin_token),
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        list["items"][0]["agent_version"] == "9.9.9" && list["items"][0]["last_seen_at"].is_string()
    })
    .await;
    let version = || async {
        sqlx::query_scalar::<_, i64>("SELECT snapshot_version FROM edge_resources")
            .fetch_one(world.hub.db().pool())
            .await
            .expect("resource state")
    };
    let before = version().await;
    let request = Message::SnapshotRequest(shared::protocol::SnapshotRequest {
        device_id: device.device_id.clone(),
        have_version: None,
    });
    raw.client
        .publish(
            &up,
            QoS::AtLeastOnce,
            false,
            seal(&k, &up, &protocol::encode(&request)),
        )
        .await
        .expect("publish");
    eventually(WAIT, "a republish on request", || async {
        version().await > before
    })
    .await;
    let m = metrics(&world).await;
    assert!(dropped(&m, "malformed") >= 3, "{m}");
    assert!(dropped(&m, "stale") >= 1, "{m}");
    assert!(captured_logs().contains("dropped a device message"));
    assert!(
        inbox_keys(&world, &device.device_id).await.is_empty(),
        "the stale check-in was not stored"
    );
}

async fn offline_check_ins_arrive_once_in_order(engine: Engine, broker: Broker) {
    let world = world(engine, broker, &["Atlas"]).await;
    let room = &world.rooms[0];
    let device = enroll(&world, room).await;
    let proxy = Proxy::start(&device.mqtt.url).await;
    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&device, dir.path(), Some(proxy.url()));
    let booked = world
        .book(&world.acme.member_token, soon(room, "Stand-up", 5, 30))
        .await;
    assert_eq!(booked.status(), 201);
    let meeting: Value = booked.json().await.expect("json");
    let meeting_id = meeting["id"].as_str().expect("id").to_string();
    eventually(WAIT, "the meeting on the agent", || async {
        titles(&agent) == ["Stand-up"]
    })
    .await;

    proxy.cut();
    eventually(WAIT, "the agent offline", || async {
        agent.connection_state() == ConnectionState::Offline
    })
    .await;
    let pending: Vec<_> = (0..20)
        .map(|_| agent.check_in(&meeting_id).expect("queued"))
        .collect();
    let keys: Vec<String> = pending.iter().map(|p| p.idempotency_key.clone()).collect();
    assert_eq!(agent.outbox_len().expect("outbox"), 20);
    assert!(inbox_keys(&world, &device.device_id).await.is_empty());
    proxy.restore();

    eventually(WAIT, "all 20 in the hub's inbox", || async {
        inbox_keys(&world, &device.device_id).await.len() >= 20
    })
    .await;
    assert_eq!(
        inbox_keys(&world, &device.device_id).await,
        keys,
        "exactly once, in order"
    );
    for p in pending {
        let outcome = tokio::time::timeout(WAIT, p.outcome())
            .await
            .expect("answered")
            .expect("agent alive");
        assert!(
            matches!(
                outcome,
                DeviceOutcome::CheckIn(CheckInOutcome::Accepted {
                    status: shared::protocol::SnapshotStatus::Attended,
                })
            ),
            "{outcome:?}"
        );
    }
    let changes: Value = world
        .hub
        .call(
            Method::GET,
            &format!("/api/v1/calendar/events/{meeting_id}/changes"),
            Some(&world.acme.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let attended: Vec<&Value> = changes["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|c| c["change_type"] == "ATTENDED")
        .collect();
    assert_eq!(attended.len(), 1, "twenty check-ins, one attendance");
    assert_eq!(attended[0]["actor_type"], "DEVICE");
    eventually(WAIT, "the agent's outbox drained", || async {
        agent.outbox_len().is_ok_and(|n| n == 0)
    })
    .await;
    assert_eq!(
        inbox_keys(&world, &device.device_id).await.len(),
        20,
        "replays are not stored twice"
    );
    agent.shutdown().await;
}

async fn twenty_offline_check_ins_arrive_once_in_order(engine: Engine) {
    offline_check_ins_arrive_once_in_order(engine, Broker::Embedded).await;
}
on_both_engines!(twenty_offline_check_ins_arrive_once_in_order);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(corbi_mqtt),
    ignore = "needs an external broker: set CORBI_TEST_MQTT_URL"
)]
async fn twenty_offline_check_ins_arrive_once_in_order_on_mosquitto() {
    offline_check_ins_arrive_once_in_order(Engine::Sqlite, Broker::Mosquitto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_booking_is_not_published_but_today_is() {
    let world = world(Engine::Sqlite, Broker::Embedded, &["Atlas"]).await;
    let room = &world.rooms[0];
    let device = enroll(&world, room).await;
    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&device, dir.path(), None);
    let far = world
        .book(
            &world.acme.member_token,
            booking(room, "Next year", "2099-03-02", "10:00", "11:00"),
        )
        .await;
    assert_eq!(far.status(), 201);
    let near = world
        .book(&world.acme.member_token, soon(room, "Today", 30, 30))
        .await;
    assert_eq!(near.status(), 201);
    eventually(WAIT, "today's booking", || async {
        titles(&agent).contains(&"Today".to_string())
    })
    .await;
    assert_eq!(
        titles(&agent),
        ["Today"],
        "only today plus the configured days"
    );
    agent.shutdown().await;
}

async fn devices_check_in_and_book_at_the_door_only_for_their_room(engine: Engine) {
    let world = world(engine, Broker::Embedded, &["Atlas", "Borealis"]).await;
    let (atlas, borealis) = (world.rooms[0].clone(), world.rooms[1].clone());
    let tablet = enroll(&world, &atlas).await;
    let door = enroll(&world, &borealis).await;
    let here: Value = world
        .book(&world.acme.member_token, soon(&atlas, "Here", 5, 30))
        .await
        .json()
        .await
        .expect("json");
    let there: Value = world
        .book(&world.acme.member_token, soon(&borealis, "There", 90, 30))
        .await
        .json()
        .await
        .expect("json");
    let show = |id: &Value| {
        format!(
            "/api/v1/calendar/events/{}/show",
            id["id"].as_str().expect("id")
        )
    };

    expect_error(
        world
            .hub
            .call(
                Method::POST,
                &show(&there),
                Some(tablet.device_token.expose()),
                None,
            )
            .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let checked: Value = world
        .hub
        .call(
            Method::POST,
            &show(&here),
            Some(tablet.device_token.expose()),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(checked["status"], "ATTENDED");
    expect_error(
        world
            .book(
                tablet.device_token.expose(),
                soon(&borealis, "Not mine", 200, 30),
            )
            .await,
        403,
        "FORBIDDEN",
    )
    .await;

    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&door, dir.path(), None);
    eventually(WAIT, "the door device is online", || async {
        agent.connection_state() == ConnectionState::Online
    })
    .await;
    let pending = agent.book_walk_up(30, "Quick sync").expect("queued");
    let outcome = tokio::time::timeout(WAIT, pending.outcome())
        .await
        .expect("answered")
        .expect("agent alive");
    let DeviceOutcome::WalkUp(shared::protocol::WalkUpOutcome::Confirmed {
        meeting_id,
        start_ms,
        end_ms,
    }) = outcome
    else {
        panic!("walk-up refused: {outcome:?}");
    };
    assert_eq!((end_ms - start_ms) / 60_000, 30);
    let booked: Value = world
        .hub
        .call(
            Method::GET,
            &format!("/api/v1/calendar/events/{meeting_id}"),
            Some(&world.acme.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(booked["resource_id"], borealis.as_str());
    assert_eq!(booked["created_by_type"], "HUMAN");
    let calendar = world.calendar_of(&borealis).await;
    assert!(
        world
            .google
            .emulator
            .events(&calendar)
            .iter()
            .any(|e| e["summary"] == "Quick sync"),
        "written to Google"
    );
    let second = agent.book_walk_up(60, "Too long").expect("queued");
    let refused = tokio::time::timeout(WAIT, second.outcome())
        .await
        .expect("answered")
        .expect("agent alive");
    assert!(
        matches!(
            refused,
            DeviceOutcome::WalkUp(shared::protocol::WalkUpOutcome::Refused {
                reason: shared::protocol::RefusalCode::Conflict,
                ..
            })
        ),
        "the room is taken now: {refused:?}"
    );
    agent.shutdown().await;
}
on_both_engines!(devices_check_in_and_book_at_the_door_only_for_their_room);

async fn a_released_room_shows_released_on_the_tablet(engine: Engine) {
    let world = world(engine, Broker::Embedded, &["Atlas"]).await;
    let room = world.rooms[0].clone();
    world
        .hub
        .call(
            Method::PUT,
            "/api/v1/tenant/settings",
            Some(&world.acme.admin_token),
            Some(json!({"auto_release": {"enabled": true, "after_minutes": 10}})),
        )
        .await;
    let tablet = enroll(&world, &room).await;
    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&tablet, dir.path(), None);
    let booked: Value = world
        .book(&world.acme.member_token, soon(&room, "Unused", 2, 60))
        .await
        .json()
        .await
        .expect("json");
    eventually(WAIT, "the tablet has the meeting", || async {
        titles(&agent) == ["Unused"]
    })
    .await;
    let start = chrono::DateTime::parse_from_rfc3339(booked["start"].as_str().expect("start"))
        .expect("time")
        .with_timezone(&Utc);
    let state = &world.hub.hub.state;
    let swept = hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        start + chrono::Duration::minutes(10),
    )
    .await
    .expect("sweep");
    assert_eq!(swept.released, 1);
    eventually(WAIT, "the tablet shows the room released", || async {
        agent.snapshot().is_some_and(|c| {
            c.snapshot
                .meetings
                .first()
                .is_some_and(|m| m.status == shared::protocol::SnapshotStatus::Released)
        })
    })
    .await;
    agent.shutdown().await;
}
on_both_engines!(a_released_room_shows_released_on_the_tablet);

/// The machine's Mosquitto with the ACL `hub edge-acl` generates confines a device to its own
/// topics, beside the payload seals: a device subscribed to every schedule (and to `#`) gets only
/// its own room's, and its publish into another device's up topic never reaches the hub, even
/// sealed with that device's key (as if the key had been stolen).
///
/// It runs in every run, not only with `CORBI_TEST_MQTT_URL`: it starts a private Mosquitto from
/// the machine's binary (`/usr/sbin/mosquitto`, always installed where the hub is developed) and
/// fails with an install hint when the binary is missing, rather than skipping the proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_with_the_generated_acl_confines_each_device() {
    let (hub_user, hub_password) = ("corbi-hub", uuid::Uuid::new_v4().simple().to_string());
    let mosquitto = Mosquitto::start(hub_user, &hub_password).await;
    let world = World::with_rooms_and(Engine::Sqlite, &["Atlas", "Borealis"], |config| {
        config.mqtt_url = mosquitto.url();
        config.mqtt_username = hub_user.to_string();
        config.mqtt_password = hub::config::Secret::new(hub_password.clone());
    })
    .await;
    let (atlas, borealis) = (&world.rooms[0], &world.rooms[1]);
    let a = enroll(&world, atlas).await;
    let b = enroll(&world, borealis).await;
    assert_eq!(a.mqtt.url, mosquitto.url());
    mosquitto.admit(hub_user, world.hub.db(), &[&a, &b]).await;
    let mut spy = device_login(&mosquitto.url(), &a).await;
    let dir = tempfile::tempdir().expect("dir");
    let agent_b = start_agent(&b, dir.path(), None);

    let secret = world
        .book(
            &world.acme.member_token,
            soon(borealis, "Secret board meeting", 60, 30),
        )
        .await;
    assert_eq!(secret.status(), 201);
    eventually(
        WAIT,
        "room B's schedule retained and on B's agent",
        || async { titles(&agent_b) == ["Secret board meeting"] },
    )
    .await;
    spy.client
        .subscribe("corbi/v1/+/res/+/schedule", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    spy.client
        .subscribe("#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    spy.subscribed(2).await;
    let follow_up = world
        .book(
            &world.acme.member_token,
            soon(borealis, "Board follow-up", 120, 30),
        )
        .await;
    assert_eq!(follow_up.status(), 201);
    eventually(WAIT, "B's second schedule on B's agent", || async {
        titles(&agent_b).len() == 2
    })
    .await;
    let own = world
        .book(
            &world.acme.member_token,
            soon(atlas, "Atlas planning", 90, 30),
        )
        .await;
    assert_eq!(own.status(), 201);
    let own_topic = topics::schedule(&a.tenant_id, atlas).expect("topic");
    let own_key = key(a.keys.resource_key.expose());
    eventually(
        WAIT,
        "A's own schedule, published after both of B's",
        || async {
            schedules_on(&spy, &own_topic, &own_key)
                .iter()
                .any(|titles| titles.contains(&"Atlas planning".to_string()))
        },
    )
    .await;
    let room_b = format!("/res/{borealis}/");
    let leaked: Vec<String> = spy
        .received()
        .into_iter()
        .map(|(topic, _)| topic)
        .filter(|topic| topic.contains(&room_b))
        .collect();
    assert!(
        leaked.is_empty(),
        "room B's topics reached device A: {leaked:?}"
    );

    let check_in = |device: &EnrollmentResponse, idempotency_key: &str| {
        protocol::encode(&Message::CheckIn(CheckIn {
            meeting_id: "m".into(),
            device_id: device.device_id.clone(),
            at_ms: Utc::now().timestamp_millis(),
            idempotency_key: idempotency_key.into(),
        }))
    };
    let b_up = topics::up(&b.tenant_id, borealis, &b.device_id).expect("topic");
    let stolen = key(b.keys.device_key.expose());
    let forged = seal(&stolen, &b_up, &check_in(&b, "forged"));
    spy.client
        .publish(&b_up, QoS::AtLeastOnce, false, forged)
        .await
        .expect("publish");
    let a_up = topics::up(&a.tenant_id, atlas, &a.device_id).expect("topic");
    let genuine = seal(
        &key(a.keys.device_key.expose()),
        &a_up,
        &check_in(&a, "genuine"),
    );
    spy.client
        .publish(&a_up, QoS::AtLeastOnce, false, genuine)
        .await
        .expect("publish");
    eventually(WAIT, "A's own check-in in the hub's inbox", || async {
        inbox_keys(&world, &a.device_id).await == ["genuine"]
    })
    .await;
    assert!(
        inbox_keys(&world, &b.device_id).await.is_empty(),
        "A's publish into B's up topic reached the hub"
    );
    agent_b.shutdown().await;
    drop(mosquitto);
}

/// With `MQTT_TLS_CERT`/`MQTT_TLS_KEY` the embedded broker's device listener speaks TLS only:
/// enrollment hands out `mqtts://`, an agent trusting the certificate gets its schedule, and a
/// plain-MQTT login with the right password is not even read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_reach_the_embedded_broker_over_tls_only() {
    let certs = tempfile::tempdir().expect("dir");
    let (cert, key) = self_signed(certs.path());
    let world = World::with_rooms_and(Engine::Sqlite, &["Atlas"], |config| {
        config.mqtt_tls_cert = cert.clone();
        config.mqtt_tls_key = key.clone();
    })
    .await;
    let room = &world.rooms[0];
    let device = enroll(&world, room).await;
    let url = broker_url(&world, &device);
    assert!(url.starts_with("mqtts://127.0.0.1:"), "{url}");

    let plain = url.replacen("mqtts://", "mqtt://", 1);
    let login = (device.mqtt.username.as_str(), device.mqtt.password.expose());
    let mut cleartext = RawClient::connect(&plain, &device.device_id, Some(login));
    assert!(!cleartext.outcome().await, "plain MQTT is refused");

    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent_with(&device, dir.path(), |config| {
        config.mqtt_ca = Some(cert.clone().into());
    });
    let booked = world
        .book(&world.acme.member_token, soon(room, "Over TLS", 30, 30))
        .await;
    assert_eq!(booked.status(), 201);
    eventually(WAIT, "the schedule over TLS", || async {
        titles(&agent) == ["Over TLS"]
    })
    .await;
    agent.shutdown().await;
}
