//! The edge tests' harness: hubs on the embedded broker or an external one, enrollment,
//! in-process `edge-agent`s, raw MQTT clients logged in as devices, a TCP proxy that can cut the
//! network, a private Mosquitto with the generated ACL, and self-signed certificates for TLS.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{DurationRound, Utc};
use edge_agent::{Agent, AgentConfig, DeviceIdentity, EnrollmentResponse, SystemClock};
use reqwest::Method;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use serde_json::{Value, json};
use shared::protocol::{
    self, Message,
    seal::{SealKey, open},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

use super::{Engine, World, eventually};

/// How long the edge tests wait for anything to happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// Which broker a scenario runs on.
#[derive(Debug, Clone, Copy)]
pub enum Broker {
    Embedded,
    Mosquitto,
}

/// A tenant with rooms whose hub publishes to `broker`.
pub async fn world(engine: Engine, broker: Broker, rooms: &[&str]) -> World {
    World::with_rooms_and(engine, rooms, |config| {
        if let Broker::Mosquitto = broker {
            config.mqtt_url = std::env::var("CORBI_TEST_MQTT_URL").unwrap_or_default();
        }
    })
    .await
}

/// An admin asks for a room device's enrollment code.
pub async fn enrollment_code(world: &World, room: &str) -> String {
    let created = world
        .hub
        .call(
            Method::POST,
            &format!("/api/v1/resources/{room}/devices"),
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.expect("json");
    assert!(
        body["expires_at"]
            .as_str()
            .expect("expires_at")
            .ends_with('Z')
    );
    body["enrollment_code"].as_str().expect("code").to_string()
}

/// A device enrolls with `code`: the hub's answer.
pub async fn enroll_code(world: &World, code: &str) -> reqwest::Response {
    world
        .hub
        .call(
            Method::POST,
            "/api/v1/devices/enroll",
            None,
            Some(json!({"enrollment_code": code})),
        )
        .await
}

/// Enrolls a new device for `room`.
pub async fn enroll(world: &World, room: &str) -> EnrollmentResponse {
    let code = enrollment_code(world, room).await;
    let answer = enroll_code(world, &code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.expect("enrollment JSON")
}

/// Starts an agent for the device, on the enrolled broker or `url`, caching in `dir`.
pub fn start_agent(
    enrollment: &EnrollmentResponse,
    dir: &std::path::Path,
    url: Option<String>,
) -> Agent {
    start_agent_with(enrollment, dir, |config| config.mqtt_url = url)
}

/// Starts an agent for the device with fast reconnects and its configuration adjusted.
pub fn start_agent_with(
    enrollment: &EnrollmentResponse,
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut AgentConfig),
) -> Agent {
    let identity = DeviceIdentity::from_enrollment(enrollment.clone()).expect("identity checks");
    let mut config = AgentConfig::new(dir);
    config.reconnect = edge_agent::logic::Backoff {
        initial: embassy_time::Duration::from_millis(50),
        max: embassy_time::Duration::from_millis(300),
    };
    config.keep_alive = embassy_time::Duration::from_secs(5);
    config.housekeeping_every = embassy_time::Duration::from_millis(300);
    adjust(&mut config);
    Agent::start(config, identity, Arc::new(SystemClock)).expect("agent starts")
}

/// The meeting titles of the agent's cached schedule.
pub fn titles(agent: &Agent) -> Vec<String> {
    agent
        .snapshot()
        .map(|c| {
            c.snapshot
                .meetings
                .iter()
                .map(|m| m.title.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// A booking for today or tomorrow (inside the published window) starting `minutes` from now.
pub fn soon(room: &str, title: &str, minutes: i64, length: i64) -> Value {
    let start = (Utc::now() + chrono::Duration::minutes(minutes))
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("rounds");
    let end = start + chrono::Duration::minutes(length);
    json!({
        "title": title, "start": start.to_rfc3339(), "end": end.to_rfc3339(), "time_zone": "UTC",
        "resource_id": room, "participants": [{"email": "ana@example.com", "name": "Ana"}],
    })
}

/// A sealing key from its base64 form.
pub fn key(text: &str) -> SealKey {
    SealKey::from_slice(&STANDARD.decode(text).expect("base64")).expect("32 bytes")
}

/// The hub's Prometheus text.
pub async fn metrics(world: &World) -> String {
    world
        .hub
        .call(Method::GET, "/metrics", Some(super::METRICS_TOKEN), None)
        .await
        .text()
        .await
        .expect("metrics text")
}

/// How many edge messages the metrics count as dropped for `reason`.
pub fn dropped(metrics: &str, reason: &str) -> u64 {
    let prefix = format!("corbi_edge_messages_dropped_total{{what=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The idempotency keys in the hub's inbox for `device`, in arrival order.
pub async fn inbox_keys(world: &World, device: &str) -> Vec<String> {
    hub::edge::store::inbox(world.hub.db(), &world.acme.tenant_id, device)
        .await
        .expect("inbox")
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect()
}

/// Publishes received: topic and payload.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A raw MQTT client logged in as a device, recording every publish it receives.
pub struct RawClient {
    /// The client, to publish and subscribe with.
    pub client: AsyncClient,
    received: Received,
    connected: watch::Receiver<Option<bool>>,
    subscriptions: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl RawClient {
    /// Connects in the background; see [`RawClient::outcome`] for whether the broker let it in.
    pub fn connect(url: &str, client_id: &str, login: Option<(&str, &str)>) -> RawClient {
        let url = url::Url::parse(url).expect("mqtt url");
        let mut options = MqttOptions::new(
            client_id,
            url.host_str().expect("host"),
            url.port().unwrap_or(1883),
        );
        options.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let received: Received = Arc::default();
        let (state, connected) = watch::channel(None);
        let (subacks, subscriptions) = watch::channel(0);
        let sink = received.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        state.send_replace(Some(true));
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks.send_modify(|n| *n += 1);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        sink.lock()
                            .expect("lock")
                            .push((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        state.send_replace(Some(false));
                        return;
                    }
                }
            }
        });
        RawClient {
            client,
            received,
            connected,
            subscriptions,
            task,
        }
    }

    /// Waits until the broker has acknowledged `count` subscriptions.
    pub async fn subscribed(&mut self, count: usize) {
        tokio::time::timeout(WAIT, self.subscriptions.wait_for(|n| *n >= count))
            .await
            .expect("subscriptions acknowledged in time")
            .expect("watch open");
    }

    /// Whether the broker accepted the login (waits for its answer).
    pub async fn outcome(&mut self) -> bool {
        let outcome = tokio::time::timeout(WAIT, self.connected.wait_for(Option::is_some))
            .await
            .expect("connection outcome in time")
            .expect("watch open");
        outcome.unwrap_or(false)
    }

    /// Everything received so far: topic and payload.
    pub fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The broker URL the enrollment handed out, checked against the hub's own.
pub fn broker_url(world: &World, enrollment: &EnrollmentResponse) -> String {
    assert_eq!(enrollment.mqtt.url, world.hub.hub.state.edge.device_url());
    enrollment.mqtt.url.clone()
}

/// A TCP proxy in front of the broker that can drop all its connections, as if the network
/// went away.
pub struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding to the broker at `broker_url`.
    pub async fn start(broker_url: &str) -> Proxy {
        let url = url::Url::parse(broker_url).expect("url");
        let upstream =
            tokio::net::lookup_host((url.host_str().expect("host"), url.port().unwrap_or(1883)))
                .await
                .expect("resolves")
                .next()
                .expect("address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let up = watch::Sender::new(true);
        let task = tokio::spawn(accept(listener, upstream, up.clone()));
        Proxy { addr, up, task }
    }

    /// Where devices connect instead of the broker.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, up: watch::Sender<bool>) {
    while let Ok((mut client, _)) = listener.accept().await {
        if !*up.borrow() {
            continue;
        }
        let mut down = up.subscribe();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = down.wait_for(|up| !*up) => {}
            }
        });
    }
}

/// A private Mosquitto for one test, run from the machine's binary with its own port, password
/// file and ACL (the one `hub edge-acl` prints); killed when dropped.
pub struct Mosquitto {
    dir: tempfile::TempDir,
    port: u16,
    process: tokio::process::Child,
}

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const MOSQUITTO_PASSWD: &str = "/usr/bin/mosquitto_passwd";

impl Mosquitto {
    /// Starts it with only the hub's login and the hub's ACL entry.
    pub async fn start(hub_user: &str, hub_password: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .expect("a free port")
            .port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        passwd(&["-b", "-c", &path("passwords"), hub_user, hub_password]);
        std::fs::write(path("acl"), hub::edge::acl::mosquitto_acl(hub_user, &[])).expect("acl");
        // `user root` only matters when the tests run as root: Mosquitto would otherwise
        // switch to the `mosquitto` user, who cannot read this private directory.
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
             persistence false\nuser root\nlog_dest file {}\n",
            path("passwords"),
            path("acl"),
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
            .unwrap_or_else(|e| {
                panic!("{MOSQUITTO} must be installed (apt install mosquitto): {e}")
            });
        let broker = Mosquitto { dir, port, process };
        eventually(WAIT, "Mosquitto listening", || async {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        broker
    }

    /// Where clients connect.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Adds the devices' logins, writes the ACL of the hub's active devices and reloads, as an
    /// operator does after an enrollment.
    pub async fn admit(&self, hub_user: &str, db: &hub::db::Db, devices: &[&EnrollmentResponse]) {
        let passwords = self.dir.path().join("passwords").display().to_string();
        for device in devices {
            passwd(&[
                "-b",
                &passwords,
                &device.mqtt.username,
                device.mqtt.password.expose(),
            ]);
        }
        let active = hub::edge::store::active_devices(db).await.expect("devices");
        assert_eq!(active.len(), devices.len());
        let acl = hub::edge::acl::mosquitto_acl(hub_user, &active);
        std::fs::write(self.dir.path().join("acl"), acl).expect("acl");
        let pid = self.process.id().expect("running").to_string();
        let hup = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill");
        assert!(hup.success());
    }
}

fn passwd(args: &[&str]) {
    let status = std::process::Command::new(MOSQUITTO_PASSWD)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{MOSQUITTO_PASSWD} must be installed: {e}"));
    assert!(status.success(), "mosquitto_passwd failed");
}

/// Logs in as a device, retrying until the reloaded password file lets it in.
pub async fn device_login(url: &str, device: &EnrollmentResponse) -> RawClient {
    eventually(WAIT, "Mosquitto to admit the device", || async {
        let login = (device.mqtt.username.as_str(), device.mqtt.password.expose());
        let mut client = RawClient::connect(url, &device.device_id, Some(login));
        client.outcome().await.then_some(client)
    })
    .await
}

/// The schedule snapshots a raw client received on `topic` that open with `key`: their titles.
pub fn schedules_on(client: &RawClient, topic: &str, key: &SealKey) -> Vec<Vec<String>> {
    client
        .received()
        .into_iter()
        .filter(|(t, _)| t == topic)
        .filter_map(|(t, payload)| open(key, &t, &payload).ok())
        .filter_map(|bytes| match protocol::decode(&bytes) {
            Ok(Message::ScheduleSnapshot(s)) => {
                Some(s.meetings.into_iter().map(|m| m.title).collect())
            }
            _ => None,
        })
        .collect()
}

/// A self-signed certificate for 127.0.0.1 made with the machine's `openssl`: (cert, key) paths.
/// Not a CA (webpki refuses a CA certificate as the server's own), trusted as itself.
pub fn self_signed(dir: &std::path::Path) -> (String, String) {
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-keyout", &key, "-out", &cert])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl must be installed");
    assert!(status.success(), "openssl made no certificate");
    (cert, key)
}
