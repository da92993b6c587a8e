//! Test fixtures: brokers, a cuttable TCP proxy, a fake hub, identities and polling helpers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use edge_agent::enroll::{KeyGrant, MqttGrant, Secret, TopicGrant};
use edge_agent::sealing::{SealKey, open, seal};
use edge_agent::{Agent, AgentConfig, DeviceIdentity, EnrollmentResponse, SystemClock};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use shared::protocol::{
    self, CheckInOutcome, CheckInResult, Message, ScheduleSnapshot, SnapshotStatus, WalkUpOutcome,
    WalkUpResult, topics,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `condition` until it holds or [`DEADLINE`] passes.
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Awaits `future` with [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(DEADLINE, future)
        .await
        .with_context(|| format!("timed out waiting for {what}"))
}

/// A broker for one test: the hub side connects directly, the agent through a cuttable proxy.
pub struct TestBroker {
    upstream: SocketAddr,
    proxy: Proxy,
}

impl TestBroker {
    /// A fresh embedded rumqttd on its own thread.
    pub async fn embedded() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut broker = rumqttd::Broker::new(rumqttd_config(listen));
        std::thread::spawn(move || {
            if let Err(e) = broker.start() {
                eprintln!("embedded broker stopped: {e}");
            }
        });
        wait_until_listening(listen).await?;
        Self::with_upstream(listen).await
    }

    /// The external broker named by `CORBI_TEST_MQTT_URL` (the machine's Mosquitto).
    pub async fn external() -> anyhow::Result<Self> {
        let raw = std::env::var("CORBI_TEST_MQTT_URL").context("CORBI_TEST_MQTT_URL")?;
        let url = url::Url::parse(&raw)?;
        let host = url.host_str().context("broker host")?;
        let upstream = tokio::net::lookup_host((host, url.port().unwrap_or(1883)))
            .await?
            .next()
            .context("broker address")?;
        Self::with_upstream(upstream).await
    }

    async fn with_upstream(upstream: SocketAddr) -> anyhow::Result<Self> {
        let proxy = Proxy::start(upstream).await?;
        Ok(Self { upstream, proxy })
    }

    /// The URL the fake hub uses.
    pub fn hub_url(&self) -> String {
        format!("mqtt://{}", self.upstream)
    }

    /// The URL the agent uses: through the proxy.
    pub fn agent_url(&self) -> String {
        format!("mqtt://{}", self.proxy.addr)
    }

    /// Cuts every agent connection and refuses new ones, as if the network were gone.
    pub fn cut(&self) {
        self.proxy.up.send_replace(false);
    }

    /// Lets agents connect again.
    pub fn restore(&self) {
        self.proxy.up.send_replace(true);
    }
}

fn rumqttd_config(listen: SocketAddr) -> rumqttd::Config {
    let server = rumqttd::ServerSettings {
        name: "v4".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 5_000,
            max_payload_size: 1024 * 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    rumqttd::Config {
        router: rumqttd::RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 200,
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some([("v4".to_owned(), server)].into_iter().collect()),
        ..Default::default()
    }
}

async fn wait_until_listening(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while TcpStream::connect(addr).await.is_err() {
        if tokio::time::Instant::now() > deadline {
            bail!("broker never listened on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A TCP proxy on port 0 that can drop all its connections at once.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = watch::Sender::new(true);
        let task = tokio::spawn(accept_loop(listener, upstream, up.clone()));
        Ok(Self { addr, up, task })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, up: watch::Sender<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        if !*up.borrow() {
            continue;
        }
        let mut down = up.subscribe();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let mut client = client;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = down.wait_for(|up| !*up) => {}
            }
        });
    }
}

/// The ids and keys of one device, unique per test so tests can share Mosquitto.
#[derive(Clone)]
pub struct Device {
    pub tenant: String,
    pub resource: String,
    pub device: String,
    pub resource_key: SealKey,
    pub device_key: SealKey,
}

impl Device {
    /// A device of a fresh tenant and resource, with random keys.
    pub fn new() -> Self {
        let id = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            tenant: id(),
            resource: id(),
            device: id(),
            resource_key: random_key(),
            device_key: random_key(),
        }
    }

    /// What the hub's enrollment endpoint would answer for this device.
    pub fn enrollment(&self, mqtt_url: &str) -> EnrollmentResponse {
        let (t, r, d) = (&self.tenant, &self.resource, &self.device);
        EnrollmentResponse {
            device_id: d.clone(),
            device_token: Secret::new("device-token"),
            resource_id: r.clone(),
            tenant_id: t.clone(),
            mqtt: MqttGrant {
                url: mqtt_url.to_owned(),
                username: d.clone(),
                password: Secret::new("mqtt-password"),
                topics: TopicGrant {
                    schedule: topics::schedule(t, r).unwrap_or_default(),
                    up: topics::up(t, r, d).unwrap_or_default(),
                    down: topics::down(t, r, d).unwrap_or_default(),
                },
            },
            keys: KeyGrant {
                resource_key: Secret::new(STANDARD.encode(self.resource_key.as_bytes())),
                device_key: Secret::new(STANDARD.encode(self.device_key.as_bytes())),
            },
        }
    }

    pub fn schedule_topic(&self) -> String {
        topics::schedule(&self.tenant, &self.resource).unwrap_or_default()
    }

    pub fn up_topic(&self) -> String {
        topics::up(&self.tenant, &self.resource, &self.device).unwrap_or_default()
    }

    pub fn down_topic(&self) -> String {
        topics::down(&self.tenant, &self.resource, &self.device).unwrap_or_default()
    }

    /// Starts an agent for this device on `data_dir`, talking to `mqtt_url`.
    pub fn start_agent(&self, data_dir: &std::path::Path, mqtt_url: &str) -> anyhow::Result<Agent> {
        let identity = DeviceIdentity::from_enrollment(self.enrollment(mqtt_url))?;
        let mut config = AgentConfig::new(data_dir);
        config.reconnect = edge_agent::logic::Backoff {
            initial: embassy_time::Duration::from_millis(50),
            max: embassy_time::Duration::from_millis(500),
        };
        config.keep_alive = embassy_time::Duration::from_secs(5);
        config.housekeeping_every = embassy_time::Duration::from_millis(300);
        Ok(Agent::start(config, identity, Arc::new(SystemClock))?)
    }
}

/// A random 32-byte key (two v4 UUIDs: 244 random bits, plenty for a test).
pub fn random_key() -> SealKey {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    SealKey::new(bytes)
}

/// Plays the hub for one device: publishes schedules, records what the device sends, and
/// answers check-ins.
pub struct FakeHub {
    client: AsyncClient,
    device: Device,
    received: Arc<Mutex<Vec<Message>>>,
    task: JoinHandle<()>,
}

impl FakeHub {
    /// Connects to the broker and subscribes to the device's up topic.
    pub async fn connect(broker: &TestBroker, device: &Device) -> anyhow::Result<Self> {
        let url = url::Url::parse(&broker.hub_url())?;
        let mut options = MqttOptions::new(
            format!("hub-{}", device.device),
            url.host_str().context("host")?,
            url.port().context("port")?,
        );
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        let (client, eventloop) = AsyncClient::new(options, 1000);
        client
            .subscribe(device.up_topic(), QoS::AtLeastOnce)
            .await?;
        let (subscribed, mut on_subscribed) = watch::channel(false);
        let received = Arc::new(Mutex::new(Vec::new()));
        let hub = HubLoop {
            client: client.clone(),
            device: device.clone(),
            received: received.clone(),
            subscribed,
        };
        let task = tokio::spawn(hub.run(eventloop));
        within(
            "the fake hub's subscription",
            on_subscribed.wait_for(|s| *s),
        )
        .await??;
        Ok(Self {
            client,
            device: device.clone(),
            received,
            task,
        })
    }

    /// Publishes `snapshot` retained on the device's schedule topic, sealed with `key`.
    pub async fn publish_snapshot(
        &self,
        snapshot: ScheduleSnapshot,
        key: &SealKey,
    ) -> anyhow::Result<()> {
        let topic = self.device.schedule_topic();
        let sealed = seal(
            key,
            &topic,
            &protocol::encode(&Message::ScheduleSnapshot(snapshot)),
        );
        self.publish_raw(&topic, sealed).await
    }

    /// Publishes raw bytes (retained on the schedule topic, so a late subscriber sees them too).
    pub async fn publish_raw(&self, topic: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let retain = topic == self.device.schedule_topic();
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, bytes)
            .await?;
        Ok(())
    }

    /// Everything the device sent so far, in arrival order.
    pub fn received(&self) -> Vec<Message> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Removes the retained schedule (so a shared Mosquitto keeps nothing) and disconnects.
    pub async fn close(self) -> anyhow::Result<()> {
        let topic = self.device.schedule_topic();
        self.client
            .publish(topic, QoS::AtLeastOnce, true, Vec::new())
            .await?;
        self.client.disconnect().await?;
        let _ = within("the fake hub to stop", self.task).await;
        Ok(())
    }
}

struct HubLoop {
    client: AsyncClient,
    device: Device,
    received: Arc<Mutex<Vec<Message>>>,
    subscribed: watch::Sender<bool>,
}

impl HubLoop {
    async fn run(self, mut eventloop: rumqttc::EventLoop) {
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    self.subscribed.send_replace(true);
                }
                Event::Incoming(Packet::Publish(p)) => self.on_up(&p.topic, &p.payload),
                _ => {}
            }
        }
    }

    fn on_up(&self, topic: &str, payload: &[u8]) {
        let Ok(bytes) = open(&self.device.device_key, topic, payload) else {
            return;
        };
        let Ok(message) = protocol::decode(&bytes) else {
            return;
        };
        if let Some(answer) = answer(&message) {
            let down = self.device.down_topic();
            let sealed = seal(&self.device.device_key, &down, &protocol::encode(&answer));
            let _ = self
                .client
                .try_publish(down, QoS::AtLeastOnce, false, sealed);
        }
        if let Ok(mut received) = self.received.lock() {
            received.push(message);
        }
    }
}

/// The fake hub's answer: check-ins are accepted, walk-ups confirmed as asked.
fn answer(message: &Message) -> Option<Message> {
    match message {
        Message::CheckIn(check_in) => Some(Message::CheckInResult(CheckInResult {
            idempotency_key: check_in.idempotency_key.clone(),
            outcome: CheckInOutcome::Accepted {
                status: SnapshotStatus::Attended,
            },
        })),
        Message::WalkUpRequest(request) => Some(Message::WalkUpResult(WalkUpResult {
            idempotency_key: request.idempotency_key.clone(),
            outcome: WalkUpOutcome::Confirmed {
                meeting_id: format!("walk-up-{}", request.idempotency_key),
                start_ms: request.start_ms,
                end_ms: request.start_ms + i64::from(request.minutes) * 60_000,
            },
        })),
        _ => None,
    }
}
