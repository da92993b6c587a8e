//! The edge made safe to expose (issue 16): per-device broker permissions on the embedded
//! broker (its gate) and on Mosquitto driven through its dynamic security plugin, the new
//! schedule key handed to a room's remaining tablets after a revocation, key rotation that
//! keeps every tablet working, snapshots that always fit, escaped device strings in logs, and
//! the two small HTTP fixes (Google calendar list for admins, metrics behind a token).
//!
//! The Mosquitto variants start a private Mosquitto from the machine's binary with the dynamic
//! security plugin; without the binary they skip with a message, unless `CORBI_TEST_MQTT_URL`
//! says a broker is expected (CI), where they fail instead.

use std::path::Path;

use chrono::Utc;
use reqwest::Method;
use rumqttc::QoS;
use serde_json::Value;
use shared::protocol::{self, CheckIn, Message, seal::seal, topics};
use tokio::net::TcpStream;

use crate::{
    on_both_engines,
    support::{
        Engine, METRICS_TOKEN, World, captured_logs, eventually, expect_error,
        mqtt::{
            RawClient, WAIT, device_login, enroll, inbox_keys, key, schedules_on, soon,
            start_agent, titles,
        },
    },
};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const MOSQUITTO_CTRL: &str = "/usr/bin/mosquitto_ctrl";
const DYNSEC_PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

/// A private Mosquitto with the dynamic security plugin, whose only client is the plugin's
/// admin (the hub's login); killed when dropped.
struct Dynsec {
    _dir: tempfile::TempDir,
    port: u16,
    _process: tokio::process::Child,
    password: String,
}

impl Dynsec {
    /// Starts one, or `None` (the test skips) when Mosquitto is not installed here.
    async fn start() -> Option<Dynsec> {
        let installed = [MOSQUITTO, MOSQUITTO_CTRL, DYNSEC_PLUGIN]
            .iter()
            .all(|p| Path::new(p).exists());
        if !installed {
            assert!(
                std::env::var("CORBI_TEST_MQTT_URL").is_err(),
                "Mosquitto with its dynamic security plugin is expected here: apt-get install -y mosquitto mosquitto-clients"
            );
            eprintln!(
                "skipped: Mosquitto and its dynamic security plugin are not installed (apt-get install -y mosquitto mosquitto-clients)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .expect("a free port")
            .port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let password = uuid::Uuid::new_v4().simple().to_string();
        let init = std::process::Command::new(MOSQUITTO_CTRL)
            .args([
                "dynsec",
                "init",
                &path("dynsec.json"),
                "corbi-hub",
                &password,
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("mosquitto_ctrl runs");
        assert!(init.success(), "mosquitto_ctrl dynsec init failed");
        // `user root` only matters when the tests run as root (see support::mqtt::Mosquitto).
        let config = format!(
            "per_listener_settings false\nlistener {port} 127.0.0.1\nallow_anonymous false\n\
             plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {}\npersistence false\nuser root\n\
             log_dest file {}\n",
            path("dynsec.json"),
            path("mosquitto.log"),
        );
        std::fs::write(path("mosquitto.conf"), config).expect("config");
        let process = tokio::process::Command::new(MOSQUITTO)
            .arg("-c")
            .arg(path("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto starts");
        eventually(WAIT, "Mosquitto listening", || async {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        Some(Dynsec {
            _dir: dir,
            port,
            _process: process,
            password,
        })
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// Which broker confines the devices.
#[derive(Debug, Clone, Copy)]
enum Confinement {
    /// The embedded rumqttd behind the hub's gate.
    Gate,
    /// Mosquitto with the dynamic security plugin the hub drives.
    Dynsec,
}

/// A world on the chosen broker; `None` when the broker is not installed (the test skips).
async fn setup(
    engine: Engine,
    confinement: Confinement,
    rooms: &[&str],
) -> Option<(World, Option<Dynsec>)> {
    let mosquitto = match confinement {
        Confinement::Gate => None,
        Confinement::Dynsec => Some(Dynsec::start().await?),
    };
    let world = World::with_rooms_and(engine, rooms, |config| {
        if let Some(broker) = &mosquitto {
            config.mqtt_url = broker.url();
            config.mqtt_username = "corbi-hub".into();
            config.mqtt_password = hub::config::Secret::new(broker.password.clone());
            config.mqtt_dynsec = true;
        }
    })
    .await;
    Some((world, mosquitto))
}

fn check_in(device: &str, idempotency_key: &str) -> Vec<u8> {
    protocol::encode(&Message::CheckIn(CheckIn {
        meeting_id: "m".into(),
        device_id: device.into(),
        at_ms: Utc::now().timestamp_millis(),
        idempotency_key: idempotency_key.into(),
    }))
}

/// A device subscribed to `#` (and to every schedule) receives only its own room's schedule,
/// and what it publishes into another room's topics (a retained empty payload included)
/// changes nothing there.
async fn a_device_reads_and_writes_only_its_own_topics(engine: Engine, confinement: Confinement) {
    let Some((world, _mosquitto)) = setup(engine, confinement, &["Atlas", "Borealis"]).await else {
        return;
    };
    let (atlas, borealis) = (&world.rooms[0], &world.rooms[1]);
    let a = enroll(&world, atlas).await;
    let b = enroll(&world, borealis).await;
    let mut spy = device_login(&a.mqtt.url, &a).await;
    let dir = tempfile::tempdir().expect("dir");
    let agent_b = start_agent(&b, dir.path(), None);

    let secret = world
        .book(
            &world.acme.member_token,
            soon(borealis, "Secret board meeting", 60, 30),
        )
        .await;
    assert_eq!(secret.status(), 201);
    eventually(WAIT, "room B's schedule on B's agent", || async {
        titles(&agent_b) == ["Secret board meeting"]
    })
    .await;
    let own_topic = topics::schedule(&a.tenant_id, atlas).expect("topic");
    for filter in ["#", "corbi/v1/+/res/+/schedule", own_topic.as_str()] {
        spy.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }
    spy.subscribed(3).await;
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
    let own_key = key(a.keys.resource_key.expose());
    eventually(WAIT, "A's own schedule, published after B's", || async {
        schedules_on(&spy, &own_topic, &own_key)
            .iter()
            .any(|titles| titles.contains(&"Atlas planning".to_string()))
    })
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

    let b_schedule = topics::schedule(&b.tenant_id, borealis).expect("topic");
    let b_up = topics::up(&b.tenant_id, borealis, &b.device_id).expect("topic");
    let b_down = topics::down(&b.tenant_id, borealis, &b.device_id).expect("topic");
    let stolen = key(b.keys.device_key.expose());
    let attacks = [
        (b_schedule.clone(), Vec::new(), true),
        (b_schedule.clone(), b"overwritten".to_vec(), true),
        (b_down, b"noise".to_vec(), false),
        (
            b_up.clone(),
            seal(&stolen, &b_up, &check_in(&b.device_id, "forged")),
            false,
        ),
    ];
    for (topic, payload, retain) in attacks {
        spy.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .expect("publish");
    }
    let a_up = topics::up(&a.tenant_id, atlas, &a.device_id).expect("topic");
    let genuine = seal(
        &key(a.keys.device_key.expose()),
        &a_up,
        &check_in(&a.device_id, "genuine"),
    );
    spy.client
        .publish(&a_up, QoS::AtLeastOnce, false, genuine)
        .await
        .expect("publish");
    eventually(WAIT, "A's own check-in, sent after the attacks", || async {
        inbox_keys(&world, &a.device_id).await == ["genuine"]
    })
    .await;
    assert!(
        inbox_keys(&world, &b.device_id).await.is_empty(),
        "A's publish into B's up topic reached the hub"
    );

    agent_b.shutdown().await;
    let reader = device_login(&b.mqtt.url, &b).await;
    reader
        .client
        .subscribe(&b_schedule, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let b_key = key(b.keys.resource_key.expose());
    eventually(WAIT, "B's retained schedule, intact", || async {
        schedules_on(&reader, &b_schedule, &b_key)
            .iter()
            .any(|titles| titles.len() == 2)
    })
    .await;
    assert!(
        reader
            .received()
            .iter()
            .all(|(_, payload)| !payload.is_empty() && payload != b"overwritten"),
        "A's retained publishes replaced B's schedule"
    );
}

async fn a_device_on_the_embedded_broker_is_confined_to_its_topics(engine: Engine) {
    a_device_reads_and_writes_only_its_own_topics(engine, Confinement::Gate).await;
}
on_both_engines!(a_device_on_the_embedded_broker_is_confined_to_its_topics);

async fn a_device_on_mosquitto_dynsec_is_confined_to_its_topics(engine: Engine) {
    a_device_reads_and_writes_only_its_own_topics(engine, Confinement::Dynsec).await;
}
on_both_engines!(a_device_on_mosquitto_dynsec_is_confined_to_its_topics);

/// Two tablets in a room, one revoked: the other receives the room's new schedule key and shows
/// a meeting booked after the revocation; the revoked one does not.
async fn revoking_one_tablet_keeps_the_other_showing_schedules(
    engine: Engine,
    confinement: Confinement,
) {
    let Some((world, _mosquitto)) = setup(engine, confinement, &["Atlas"]).await else {
        return;
    };
    let room = &world.rooms[0];
    let gone = enroll(&world, room).await;
    let kept = enroll(&world, room).await;
    let (dir_gone, dir_kept) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let agent_gone = start_agent(&gone, dir_gone.path(), None);
    let agent_kept = start_agent(&kept, dir_kept.path(), None);
    let before = world
        .book(&world.acme.member_token, soon(room, "Before", 60, 30))
        .await;
    assert_eq!(before.status(), 201);
    eventually(WAIT, "both tablets show the first booking", || async {
        titles(&agent_gone) == ["Before"] && titles(&agent_kept) == ["Before"]
    })
    .await;

    let revoked = world
        .hub
        .call(
            Method::POST,
            &format!("/api/v1/devices/{}/revoke", gone.device_id),
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    assert_eq!(revoked.status(), 200);
    let after = world
        .book(
            &world.acme.member_token,
            soon(room, "After revocation", 120, 30),
        )
        .await;
    assert_eq!(after.status(), 201);
    eventually(
        WAIT,
        "the remaining tablet shows the new booking",
        || async { titles(&agent_kept) == ["Before", "After revocation"] },
    )
    .await;
    assert_eq!(
        titles(&agent_gone),
        ["Before"],
        "the revoked tablet learns nothing new"
    );
    agent_gone.shutdown().await;
    agent_kept.shutdown().await;
}

async fn revoking_one_tablet_keeps_the_other_working(engine: Engine) {
    revoking_one_tablet_keeps_the_other_showing_schedules(engine, Confinement::Gate).await;
}
on_both_engines!(revoking_one_tablet_keeps_the_other_working);

async fn revoking_one_tablet_keeps_the_other_working_on_mosquitto(engine: Engine) {
    revoking_one_tablet_keeps_the_other_showing_schedules(engine, Confinement::Dynsec).await;
}
on_both_engines!(revoking_one_tablet_keeps_the_other_working_on_mosquitto);

/// `hub rotate-keys` re-seals device and schedule keys too: after it, the old key can be
/// removed and a tablet still gets (and opens) new schedules and answers.
async fn rotating_keys_then_removing_the_old_one_keeps_tablets_working(engine: Engine) {
    let world = World::with_rooms_and(engine, &["Atlas"], |_| {}).await;
    let room = world.rooms[0].clone();
    let device = enroll(&world, &room).await;
    let World {
        hub, google, acme, ..
    } = world;
    let k1 = hub.hub.state.config.encryption.keys.expose().to_string();
    let k2 = hub::connections::seal::generate_key("k2");
    let both = format!("{k1},{k2}");
    let devices = hub.hub.state.edge.device_url().to_string();
    let bind = devices.trim_start_matches("mqtt://").parse().expect("addr");
    let hub = hub
        .restart(|c| {
            c.encryption.keys = hub::config::Secret::new(both);
            c.encryption.active_key_id = "k2".into();
            c.mqtt_bind = bind;
        })
        .await;
    let sealer = hub::connections::seal::Sealer::from_config(&hub.hub.state.config.encryption)
        .expect("sealer");
    let moved = hub::edge::rekey::reseal_all(hub.db(), &sealer)
        .await
        .expect("resealed");
    assert_eq!(
        moved,
        hub::edge::rekey::Resealed {
            device_keys: 1,
            schedule_keys: 1
        }
    );
    hub.hub
        .state
        .connections
        .reseal_all()
        .await
        .expect("connections");
    hub::notify::credentials::reseal_all(hub.db(), &sealer)
        .await
        .expect("credentials");
    let hub = hub
        .restart(|c| {
            c.encryption.keys = hub::config::Secret::new(k2);
            c.encryption.active_key_id = String::new();
            c.mqtt_bind = bind;
        })
        .await;
    let world = World {
        hub,
        google,
        acme,
        rooms: vec![room.clone()],
    };
    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&device, dir.path(), None);
    let booked = world
        .book(
            &world.acme.member_token,
            soon(&room, "After rotation", 5, 30),
        )
        .await;
    assert_eq!(booked.status(), 201);
    eventually(WAIT, "the schedule sealed after the rotation", || async {
        titles(&agent) == ["After rotation"]
    })
    .await;
    let meeting: Value = booked.json().await.expect("json");
    let pending = agent
        .check_in(meeting["id"].as_str().expect("id"))
        .expect("queued");
    let outcome = tokio::time::timeout(WAIT, pending.outcome())
        .await
        .expect("answered with the re-sealed device key")
        .expect("agent alive");
    assert!(matches!(outcome, edge_agent::DeviceOutcome::CheckIn(_)));
    agent.shutdown().await;
}
on_both_engines!(rotating_keys_then_removing_the_old_one_keeps_tablets_working);

/// A schedule too large for the budget is cut to fit (today kept, titles shortened); a version
/// whose publish failed is published again under the same number.
async fn schedules_fit_the_budget_and_failed_versions_are_reused(engine: Engine) {
    const BUDGET: usize = 2048;
    let world = World::with_rooms_and(engine, &["Atlas", "Borealis"], |c| {
        c.edge.snapshot_max_bytes = BUDGET;
    })
    .await;
    let room = world.rooms[0].clone();
    let device = enroll(&world, &room).await;
    let dir = tempfile::tempdir().expect("dir");
    let agent = start_agent(&device, dir.path(), None);
    let long = "Quarterly planning with the whole regional team and guests ".repeat(4);
    for n in 0..8 {
        let booked = world
            .book(
                &world.acme.member_token,
                soon(&room, &format!("{n} {long}"), 30 + n * 40, 30),
            )
            .await;
        assert_eq!(booked.status(), 201);
    }
    let reader = device_login(&device.mqtt.url, &device).await;
    let schedule = topics::schedule(&device.tenant_id, &room).expect("topic");
    reader
        .client
        .subscribe(&schedule, QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    eventually(WAIT, "a schedule cut to the budget", || async {
        // Cut by days or by title length, depending on the hour the test runs at.
        agent.snapshot().is_some_and(|c| {
            let m = &c.snapshot.meetings;
            !m.is_empty() && (m.len() < 8 || m.iter().all(|m| m.title.chars().count() <= 64))
        }) && reader.received().iter().any(|(t, _)| *t == schedule)
    })
    .await;
    for (_, payload) in reader.received() {
        assert!(
            payload.len() <= BUDGET + 64,
            "a sealed schedule of {} bytes went out over a {BUDGET}-byte budget",
            payload.len()
        );
    }
    let shown = agent.snapshot().expect("cached").snapshot;
    assert!(
        shown.meetings[0].title.starts_with("0 "),
        "the earliest booking stays"
    );

    // Versions, on a room no booking touches (its only publish is the enrollment's).
    let quiet = world.rooms[1].clone();
    enroll(&world, &quiet).await;
    let published = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT snapshot_version FROM edge_resources WHERE resource_id = $1",
        )
        .bind(&quiet)
        .fetch_one(world.hub.db().pool())
        .await
        .is_ok_and(|v| v >= 1)
    };
    eventually(WAIT, "the quiet room's first publish", published).await;
    let sealer =
        hub::connections::seal::Sealer::from_config(&world.hub.hub.state.config.encryption)
            .expect("sealer");
    let db = world.hub.db();
    let take = || async {
        let mut tx = db.begin_write().await.expect("tx");
        let (version, _) =
            hub::edge::publish::next_snapshot(&mut tx, &sealer, &world.acme.tenant_id, &quiet)
                .await
                .expect("version")
                .expect("enrolled resource");
        tx.commit().await.expect("commit");
        version
    };
    let failed = take().await;
    hub::edge::publish::publish_failed(db, &world.acme.tenant_id, &quiet, failed)
        .await
        .expect("noted");
    assert_eq!(take().await, failed, "the retry reuses the failed version");
    assert_eq!(
        take().await,
        failed + 1,
        "a published version is never reused"
    );
    agent.shutdown().await;
}
on_both_engines!(schedules_fit_the_budget_and_failed_versions_are_reused);

/// A client id a device chose is escaped in text logs, so it cannot forge a log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_chosen_client_ids_are_escaped_in_logs() {
    let world = World::with_rooms_and(Engine::Sqlite, &["Atlas"], |_| {}).await;
    let device = enroll(&world, &world.rooms[0]).await;
    let forged = "evil\nINFO hub: forged-line-7f3a";
    let mut intruder = RawClient::connect(&device.mqtt.url, forged, Some((forged, "wrong")));
    assert!(!intruder.outcome().await, "the made-up login is refused");
    eventually(WAIT, "the refusal logged", || async {
        captured_logs().contains("forged-line-7f3a")
    })
    .await;
    let logs = captured_logs();
    assert!(
        !logs.contains("\nINFO hub: forged-line-7f3a"),
        "a raw newline reached the log"
    );
    assert!(logs.contains("evil\\nINFO hub: forged-line-7f3a"));
}

/// Listing the tenant's Google calendars spends its quota: admins only.
async fn only_admins_list_google_calendars(engine: Engine) {
    let world = World::with_rooms(engine, &[]).await;
    let member = world
        .hub
        .call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&world.acme.member_token),
            None,
        )
        .await;
    expect_error(member, 403, "FORBIDDEN").await;
    let admin = world
        .hub
        .call(
            Method::GET,
            "/api/v1/google/calendars",
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    assert_eq!(admin.status(), 200);
}
on_both_engines!(only_admins_list_google_calendars);

/// `/metrics` answers only the bearer of `METRICS_TOKEN`, is off without one, and a scrape
/// reads no table (it still answers with the database gone).
async fn metrics_need_the_token_and_read_no_table(engine: Engine) {
    let world = World::with_rooms(engine, &[]).await;
    let hub = &world.hub;
    expect_error(
        hub.call(Method::GET, "/metrics", None, None).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    expect_error(
        hub.call(Method::GET, "/metrics", Some("not-the-token"), None)
            .await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    eventually(WAIT, "the runner's queue-depth gauge", || async {
        hub.call(Method::GET, "/metrics", Some(METRICS_TOKEN), None)
            .await
            .text()
            .await
            .is_ok_and(|t| t.contains("corbi_jobs_queue_depth{state=\"queued\"}"))
    })
    .await;
    hub.db().pool().close().await;
    let scraped = hub
        .call(Method::GET, "/metrics", Some(METRICS_TOKEN), None)
        .await;
    assert_eq!(scraped.status(), 200);
    assert!(
        !captured_logs().contains("queue depth unavailable"),
        "a scrape queried the jobs table"
    );
    let off = crate::support::TestHub::start_with(engine, hub::jobs::Registry::new(), |c| {
        c.metrics_token = hub::config::Secret::default();
    })
    .await;
    expect_error(
        off.call(Method::GET, "/metrics", Some(METRICS_TOKEN), None)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
}
on_both_engines!(metrics_need_the_token_and_read_no_table);
