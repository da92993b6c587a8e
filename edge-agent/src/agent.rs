//! The running agent: an MQTT connection that keeps the cache fresh and drains the outbox, and the
//! API the UI crate calls.
//!
//! Three tokio tasks share one `Inner`:
//! - `drive` polls rumqttc's event loop (it reconnects on the next poll, after a [`Backoff`] delay),
//!   tracks the connection state and handles incoming schedules and answers;
//! - `link` subscribes after every (re)connection and publishes the outbox in queue order;
//! - `housekeeping` sends heartbeats and snapshot requests (stale cache or version gap).
//!
//! Only `link` and `housekeeping` publish, so the event loop never waits on its own request channel.
//!
//! Ack policy: an outbox row is published at most once per connection and deleted only when the
//! hub's answer (`CheckInResult` / `WalkUpResult` with its idempotency key) arrives on the down
//! topic; every reconnection republishes what is still unanswered. The hub deduplicates by key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::NaiveDate;
use embassy_time::{Duration, Instant, Timer};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, Transport};
use shared::protocol::seal::{open, seal};
use shared::protocol::{
    self, CheckIn, CheckInOutcome, Heartbeat, Message, ProtocolError, ScheduleKey,
    ScheduleSnapshot, SnapshotMeeting, SnapshotRequest, WalkUpOutcome, WalkUpRequest,
};
use tokio::sync::{Notify, broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::config::{AgentConfig, to_std};
use crate::enroll::DeviceIdentity;
use crate::logic::{self, Backoff, CheckInWindow, VersionVerdict};
use crate::store::{Cache, CachedSnapshot, StoreError};

/// Largest MQTT packet accepted or sent.
const MAX_PACKET_BYTES: usize = protocol::MAX_MESSAGE_BYTES + 1024;

/// Why an agent call failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The SQLite cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker URL cannot be used.
    #[error("bad MQTT URL {0:?}: expected mqtt://host[:port] or mqtts://host[:port]")]
    MqttUrl(String),
    /// The configured CA file cannot be read.
    #[error("cannot read the MQTT CA file {path}: {source}")]
    MqttCa {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No schedule has been received yet.
    #[error("no schedule received yet")]
    NoSchedule,
    /// The meeting is not in the cached schedule.
    #[error("meeting {0} is not in this resource's schedule")]
    UnknownMeeting(String),
    /// Check-in is not open for the meeting.
    #[error("check-in is not open for this meeting ({0:?})")]
    CheckInNotOpen(CheckInWindow),
    /// A walk-up booking must last at least one minute.
    #[error("a walk-up booking must last at least one minute")]
    EmptyBooking,
    /// The agent stopped before the hub answered (the answer is still kept once it arrives).
    #[error("the agent stopped before the hub answered")]
    Stopped,
}

/// Whether the agent can reach the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Started, not connected yet.
    Connecting,
    /// Connected and subscribed: changes arrive within a second.
    Online,
    /// The broker is unreachable; the schedule comes from the cache and messages are queued.
    Offline,
}

/// The hub's answer to something the device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// Answer to [`Agent::check_in`].
    CheckIn(CheckInOutcome),
    /// Answer to [`Agent::book_walk_up`].
    WalkUp(WalkUpOutcome),
}

/// Why an incoming payload was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The seal did not open (wrong key, wrong topic, altered bytes).
    Seal,
    /// Not a message of this protocol version.
    Malformed(ProtocolError),
    /// A schedule of another resource.
    WrongResource(String),
    /// A message kind that does not belong on this topic.
    UnexpectedMessage(&'static str),
    /// A topic the agent did not subscribe to.
    UnknownTopic,
}

/// What changed, for the UI to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The connection went up or down.
    Connection(ConnectionState),
    /// A new schedule was cached.
    ScheduleUpdated {
        /// Its version.
        version: u64,
    },
    /// The hub answered a queued message.
    Answered {
        /// The message's key.
        idempotency_key: String,
        /// The answer.
        outcome: DeviceOutcome,
    },
    /// An incoming payload was dropped (also logged).
    Rejected {
        /// Where it came from.
        topic: String,
        /// Why.
        reason: RejectReason,
    },
}

/// A message queued for the hub; await [`Pending::outcome`] for the answer.
#[derive(Debug)]
pub struct Pending {
    /// The message's idempotency key, to find the answer later with [`Agent::answer`].
    pub idempotency_key: String,
    answer: oneshot::Receiver<DeviceOutcome>,
}

impl Pending {
    /// Waits for the hub's answer, however long the device stays offline.
    pub async fn outcome(self) -> Result<DeviceOutcome, AgentError> {
        self.answer.await.map_err(|_| AgentError::Stopped)
    }
}

/// A running agent; cheap to clone, every clone talks to the same connection and cache.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

struct Inner {
    identity: DeviceIdentity,
    config: AgentConfig,
    clock: Arc<dyn Clock>,
    client: AsyncClient,
    cache: Mutex<Cache>,
    snapshot: Mutex<Option<CachedSnapshot>>,
    /// The schedule key in use and its generation (0: the one from enrollment). The hub hands
    /// out a new one on the down topic when another device of the resource is revoked.
    resource_key: Mutex<(u64, protocol::seal::SealKey)>,
    state: watch::Sender<ConnectionState>,
    events: broadcast::Sender<AgentEvent>,
    waiters: Mutex<HashMap<String, oneshot::Sender<DeviceOutcome>>>,
    link_wake: Notify,
    housekeeping_wake: Notify,
    generation: AtomicU64,
    gap_seen: AtomicBool,
    last_request: Mutex<Option<Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Agent {
    /// Opens the cache and starts the connection tasks on the current tokio runtime.
    pub fn start(
        config: AgentConfig,
        identity: DeviceIdentity,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AgentError> {
        let cache = Cache::open(&config.cache_path())?;
        let snapshot = cache.snapshot(&identity.enrollment.resource_id)?;
        let options = mqtt_options(&config, &identity)?;
        let (client, eventloop) = AsyncClient::new(options, 64);
        let resource_key = Mutex::new((0, identity.resource_key.clone()));
        let inner = Arc::new(Inner {
            resource_key,
            identity,
            config,
            clock,
            client,
            cache: Mutex::new(cache),
            snapshot: Mutex::new(snapshot),
            state: watch::Sender::new(ConnectionState::Connecting),
            events: broadcast::Sender::new(256),
            waiters: Mutex::new(HashMap::new()),
            link_wake: Notify::new(),
            housekeeping_wake: Notify::new(),
            generation: AtomicU64::new(0),
            gap_seen: AtomicBool::new(false),
            last_request: Mutex::new(None),
        });
        let tasks = vec![
            tokio::spawn(drive(inner.clone(), eventloop)),
            tokio::spawn(link(inner.clone())),
            tokio::spawn(housekeeping(inner.clone())),
        ];
        Ok(Self {
            inner,
            tasks: Arc::new(Mutex::new(tasks)),
        })
    }

    /// Stops the connection tasks; the cache closes when the last clone is dropped.
    pub async fn shutdown(&self) {
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    /// The cached schedule and when it arrived.
    pub fn snapshot(&self) -> Option<CachedSnapshot> {
        lock(&self.inner.snapshot).clone()
    }

    /// The meeting holding the resource now.
    pub fn current_meeting(&self) -> Option<SnapshotMeeting> {
        self.with_schedule(|s, now| logic::current_meeting(s, now).cloned())
    }

    /// The next meeting that will hold the resource.
    pub fn next_meeting(&self) -> Option<SnapshotMeeting> {
        self.with_schedule(|s, now| logic::next_meeting(s, now).cloned())
    }

    /// The meetings of `day` in the resource's time zone, in start order.
    pub fn timeline(&self, day: NaiveDate) -> Vec<SnapshotMeeting> {
        self.with_schedule(|s, _| {
            let (from, to) = day_bounds(&s.time_zone, day);
            Some(logic::timeline(s, from, to).into_iter().cloned().collect())
        })
        .unwrap_or_default()
    }

    /// Where check-in stands for a meeting of the cached schedule.
    pub fn check_in_window(&self, meeting_id: &str) -> Option<CheckInWindow> {
        self.with_schedule(|s, now| {
            let meeting = s.meetings.iter().find(|m| m.id == meeting_id)?;
            Some(logic::check_in_window(s, meeting, now))
        })
    }

    /// Whether the broker is reachable.
    pub fn connection_state(&self) -> ConnectionState {
        *self.inner.state.borrow()
    }

    /// How old the cached schedule is; `None` before the first one.
    pub fn cache_age(&self) -> Option<Duration> {
        self.inner.cache_age()
    }

    /// How many messages wait for the hub's answer.
    pub fn outbox_len(&self) -> Result<u32, AgentError> {
        Ok(lock(&self.inner.cache).outbox_len()?)
    }

    /// The hub's stored answer to a message (also one sent before a restart).
    pub fn answer(&self, idempotency_key: &str) -> Result<Option<Message>, AgentError> {
        Ok(lock(&self.inner.cache).result(idempotency_key)?)
    }

    /// A stream of changes for the UI; a slow reader skips (lags) rather than blocking the agent.
    pub fn subscribe(&self) -> broadcast::Receiver<AgentEvent> {
        self.inner.events.subscribe()
    }

    /// The connection state as a watch, for a UI binding that shows only the latest value.
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.subscribe()
    }

    /// Checks in to a meeting of the cached schedule whose window is open; queued if offline.
    pub fn check_in(&self, meeting_id: &str) -> Result<Pending, AgentError> {
        let window = self
            .with_schedule(|s, now| {
                let meeting = s.meetings.iter().find(|m| m.id == meeting_id)?;
                Some(logic::check_in_window(s, meeting, now))
            })
            .ok_or_else(|| AgentError::UnknownMeeting(meeting_id.to_owned()))?;
        if !matches!(window, CheckInWindow::Open { .. }) {
            return Err(AgentError::CheckInNotOpen(window));
        }
        let key = uuid::Uuid::new_v4().to_string();
        self.inner.queue(
            key.clone(),
            Message::CheckIn(CheckIn {
                meeting_id: meeting_id.to_owned(),
                device_id: self.inner.device_id().to_owned(),
                at_ms: self.inner.clock.unix_ms(),
                idempotency_key: key,
            }),
        )
    }

    /// Books the resource from now for `minutes`; the hub confirms or refuses. Queued if offline.
    pub fn book_walk_up(&self, minutes: u16, title: &str) -> Result<Pending, AgentError> {
        if minutes == 0 {
            return Err(AgentError::EmptyBooking);
        }
        let key = uuid::Uuid::new_v4().to_string();
        self.inner.queue(
            key.clone(),
            Message::WalkUpRequest(WalkUpRequest {
                device_id: self.inner.device_id().to_owned(),
                idempotency_key: key,
                start_ms: self.inner.clock.unix_ms(),
                minutes,
                title: title.to_owned(),
            }),
        )
    }

    fn with_schedule<T>(&self, f: impl FnOnce(&ScheduleSnapshot, i64) -> Option<T>) -> Option<T> {
        let cached = lock(&self.inner.snapshot);
        f(&cached.as_ref()?.snapshot, self.inner.clock.unix_ms())
    }
}

/// Unix-ms bounds of `day` in the IANA zone `time_zone` (UTC when the zone is unknown).
fn day_bounds(time_zone: &str, day: NaiveDate) -> (i64, i64) {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let start_of = |date: NaiveDate| {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        tz.from_local_datetime(&midnight).earliest().map_or_else(
            || midnight.and_utc().timestamp_millis(),
            |t| t.timestamp_millis(),
        )
    };
    let next = day.succ_opt().unwrap_or(day);
    (start_of(day), start_of(next))
}

/// TLS trusting the configured CA file, or the system's roots. Several rustls crypto
/// providers can end up in one binary (ring through the MQTT crates, aws-lc-rs through reqwest
/// and rustls here), so the process-wide default is set to aws-lc-rs first unless something
/// already chose one.
fn tls(config: &AgentConfig) -> Result<Transport, AgentError> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _already_chosen = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let Some(path) = &config.mqtt_ca else {
        return Ok(Transport::tls_with_default_config());
    };
    let ca = std::fs::read(path).map_err(|source| AgentError::MqttCa {
        path: path.clone(),
        source,
    })?;
    Ok(Transport::tls(ca, None, None))
}

fn mqtt_options(
    config: &AgentConfig,
    identity: &DeviceIdentity,
) -> Result<MqttOptions, AgentError> {
    let raw = config
        .mqtt_url
        .clone()
        .unwrap_or_else(|| identity.enrollment.mqtt.url.clone());
    let bad = || AgentError::MqttUrl(raw.clone());
    let url = url::Url::parse(&raw).map_err(|_| bad())?;
    let (transport, default_port) = match url.scheme() {
        "mqtt" | "tcp" => (Transport::tcp(), 1883),
        "mqtts" | "ssl" => (tls(config)?, 8883),
        _ => return Err(bad()),
    };
    let host = url.host_str().ok_or_else(bad)?;
    let port = url.port().unwrap_or(default_port);
    let mut options = MqttOptions::new(&identity.enrollment.device_id, host, port);
    options
        .set_transport(transport)
        .set_keep_alive(to_std(config.keep_alive))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_credentials(
            &identity.enrollment.mqtt.username,
            identity.enrollment.mqtt.password.expose(),
        );
    Ok(options)
}

impl Inner {
    fn device_id(&self) -> &str {
        &self.identity.enrollment.device_id
    }

    fn emit(&self, event: AgentEvent) {
        let _ = self.events.send(event);
    }

    fn set_state(&self, state: ConnectionState) {
        if self.state.send_replace(state) != state {
            info!(?state, "connection state changed");
            self.emit(AgentEvent::Connection(state));
        }
    }

    fn is_online(&self) -> bool {
        *self.state.borrow() == ConnectionState::Online
    }

    fn cache_age(&self) -> Option<Duration> {
        let received_at = lock(&self.snapshot).as_ref()?.received_at_ms;
        Some(logic::cache_age(received_at, self.clock.unix_ms()))
    }

    fn queue(&self, key: String, message: Message) -> Result<Pending, AgentError> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(key.clone(), tx);
        let queued =
            lock(&self.cache).enqueue(&key, &protocol::encode(&message), self.clock.unix_ms());
        if let Err(e) = queued {
            lock(&self.waiters).remove(&key);
            return Err(e.into());
        }
        debug!(kind = message.kind(), key = %key, "queued");
        self.link_wake.notify_one();
        Ok(Pending {
            idempotency_key: key,
            answer: rx,
        })
    }

    async fn publish_up(&self, message: &Message) -> Result<(), rumqttc::ClientError> {
        let topic = &self.identity.topics().up;
        let sealed = seal(&self.identity.device_key, topic, &protocol::encode(message));
        self.client
            .publish(topic, QoS::AtLeastOnce, false, sealed)
            .await
    }

    fn reject(&self, topic: &str, reason: RejectReason) {
        warn!(topic, ?reason, "dropped an incoming payload");
        self.emit(AgentEvent::Rejected {
            topic: topic.to_owned(),
            reason,
        });
    }

    fn on_publish(&self, topic: &str, payload: &[u8]) {
        let topics = self.identity.topics();
        let handled = if topic == topics.schedule {
            self.on_schedule(topic, payload)
        } else if topic == topics.down {
            self.on_answer(topic, payload)
        } else {
            Err(RejectReason::UnknownTopic)
        };
        if let Err(reason) = handled {
            self.reject(topic, reason);
        }
    }

    fn open_message(
        &self,
        key: &protocol::seal::SealKey,
        topic: &str,
        payload: &[u8],
    ) -> Result<(Message, Vec<u8>), RejectReason> {
        let bytes = open(key, topic, payload).map_err(|e| match e {
            ProtocolError::SealBroken => RejectReason::Seal,
            other => RejectReason::Malformed(other),
        })?;
        let message = protocol::decode(&bytes).map_err(RejectReason::Malformed)?;
        Ok((message, bytes))
    }

    fn on_schedule(&self, topic: &str, payload: &[u8]) -> Result<(), RejectReason> {
        let key = lock(&self.resource_key).1.clone();
        let (message, _) = self
            .open_message(&key, topic, payload)
            .inspect_err(|reason| {
                if matches!(reason, RejectReason::Seal) {
                    // Sealed with a key this device has not received yet (it was offline when
                    // the key changed): asking for a snapshot makes the hub send the key again.
                    self.gap_seen.store(true, Ordering::SeqCst);
                    self.housekeeping_wake.notify_one();
                }
            })?;
        let Message::ScheduleSnapshot(snapshot) = message else {
            return Err(RejectReason::UnexpectedMessage(message.kind()));
        };
        if snapshot.resource_id != self.identity.enrollment.resource_id {
            return Err(RejectReason::WrongResource(snapshot.resource_id));
        }
        let cached = lock(&self.snapshot).as_ref().map(|c| c.snapshot.version);
        let verdict = logic::judge_version(cached, snapshot.version);
        match verdict {
            VersionVerdict::Ignore => {
                debug!(version = snapshot.version, "schedule already cached");
                return Ok(());
            }
            VersionVerdict::ApplyAndRequest => {
                info!(?cached, received = snapshot.version, "schedule version gap");
                self.gap_seen.store(true, Ordering::SeqCst);
                self.housekeeping_wake.notify_one();
            }
            VersionVerdict::Apply => {}
        }
        self.store_snapshot(snapshot);
        Ok(())
    }

    fn store_snapshot(&self, snapshot: ScheduleSnapshot) {
        let received_at_ms = self.clock.unix_ms();
        if let Err(e) = lock(&self.cache).save_snapshot(&snapshot, received_at_ms) {
            warn!(error = %e, "could not cache the schedule; keeping it in memory");
        }
        let version = snapshot.version;
        *lock(&self.snapshot) = Some(CachedSnapshot {
            snapshot,
            received_at_ms,
        });
        info!(version, "schedule updated");
        self.emit(AgentEvent::ScheduleUpdated { version });
    }

    fn on_answer(&self, topic: &str, payload: &[u8]) -> Result<(), RejectReason> {
        let (message, bytes) = self.open_message(&self.identity.device_key, topic, payload)?;
        let (key, outcome) = match message {
            Message::CheckInResult(r) => (r.idempotency_key, DeviceOutcome::CheckIn(r.outcome)),
            Message::WalkUpResult(r) => (r.idempotency_key, DeviceOutcome::WalkUp(r.outcome)),
            Message::ScheduleKey(new) => return self.on_schedule_key(new),
            other => return Err(RejectReason::UnexpectedMessage(other.kind())),
        };
        match lock(&self.cache).complete(&key, &bytes, self.clock.unix_ms()) {
            Ok(true) => debug!(key = %key, "answer received"),
            Ok(false) => debug!(key = %key, "repeated answer"),
            Err(e) => warn!(error = %e, key = %key, "could not store an answer"),
        }
        if let Some(waiter) = lock(&self.waiters).remove(&key) {
            let _ = waiter.send(outcome.clone());
        }
        self.emit(AgentEvent::Answered {
            idempotency_key: key,
            outcome,
        });
        Ok(())
    }

    /// Takes a rotated schedule key (not an older one) and asks for the schedule again, in case
    /// one sealed with it arrived first and was dropped.
    fn on_schedule_key(&self, new: ScheduleKey) -> Result<(), RejectReason> {
        if new.resource_id != self.identity.enrollment.resource_id {
            return Err(RejectReason::WrongResource(new.resource_id));
        }
        let key = protocol::seal::SealKey::from_slice(&new.key)
            .ok_or(RejectReason::UnexpectedMessage("schedule_key"))?;
        {
            let mut current = lock(&self.resource_key);
            if new.generation < current.0 || (new.generation == current.0 && current.1 == key) {
                debug!(
                    generation = new.generation,
                    "older or known schedule key ignored"
                );
                return Ok(());
            }
            *current = (new.generation, key);
        }
        info!(generation = new.generation, "schedule key rotated");
        self.gap_seen.store(true, Ordering::SeqCst);
        self.housekeeping_wake.notify_one();
        Ok(())
    }

    async fn subscribe_topics(&self) -> Result<(), rumqttc::ClientError> {
        let topics = self.identity.topics();
        self.client
            .subscribe(&topics.schedule, QoS::AtLeastOnce)
            .await?;
        self.client.subscribe(&topics.down, QoS::AtLeastOnce).await
    }

    /// Publishes every outbox row not yet sent on connection `generation`, oldest first.
    async fn flush_outbox(&self, generation: u64, sent: &mut HashMap<i64, u64>) {
        let rows = match lock(&self.cache).pending() {
            Ok(rows) => rows,
            Err(e) => return warn!(error = %e, "could not read the outbox"),
        };
        sent.retain(|seq, _| rows.iter().any(|r| r.seq == *seq));
        for row in rows {
            if sent.get(&row.seq) == Some(&generation) {
                continue;
            }
            let Ok(message) = protocol::decode(&row.message) else {
                warn!(seq = row.seq, "unreadable outbox row left in place");
                continue;
            };
            if !self.is_online() || self.publish_up(&message).await.is_err() {
                return;
            }
            sent.insert(row.seq, generation);
            if let Err(e) = lock(&self.cache).mark_sent(row.seq, self.clock.unix_ms()) {
                warn!(error = %e, "could not mark an outbox row sent");
            }
        }
    }

    async fn heartbeat(&self) {
        let outbox_len = lock(&self.cache).outbox_len().unwrap_or(0);
        let cache_version = lock(&self.snapshot).as_ref().map(|c| c.snapshot.version);
        let beat = Message::Heartbeat(Heartbeat {
            device_id: self.device_id().to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            cache_version,
            outbox_len,
        });
        if let Err(e) = self.publish_up(&beat).await {
            debug!(error = %e, "heartbeat not sent");
        }
    }

    async fn maybe_request_snapshot(&self) {
        let now = self.clock.now();
        let last = *lock(&self.last_request);
        let stale =
            logic::should_request_snapshot(self.cache_age(), self.config.max_cache_age, last, now);
        if !(self.gap_seen.swap(false, Ordering::SeqCst) || stale) {
            return;
        }
        let have_version = lock(&self.snapshot).as_ref().map(|c| c.snapshot.version);
        let request = Message::SnapshotRequest(SnapshotRequest {
            device_id: self.device_id().to_owned(),
            have_version,
        });
        match self.publish_up(&request).await {
            Ok(()) => *lock(&self.last_request) = Some(now),
            Err(e) => debug!(error = %e, "snapshot request not sent"),
        }
    }
}

/// Polls the MQTT event loop for ever; rumqttc reconnects on the poll after an error.
async fn drive(inner: Arc<Inner>, mut eventloop: EventLoop) {
    let backoff: Backoff = inner.config.reconnect;
    let mut attempt = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                attempt = 0;
                inner.generation.fetch_add(1, Ordering::SeqCst);
                inner.set_state(ConnectionState::Online);
                inner.link_wake.notify_one();
                inner.housekeeping_wake.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                inner.on_publish(&publish.topic, &publish.payload);
            }
            Ok(_) => {}
            Err(e) => {
                inner.set_state(ConnectionState::Offline);
                let delay = backoff.delay(attempt);
                debug!(error = %e, attempt, delay_ms = delay.as_millis(), "broker unreachable");
                attempt = attempt.saturating_add(1);
                Timer::after(delay).await;
            }
        }
    }
}

/// Subscribes after each (re)connection, then drains the outbox whenever woken.
async fn link(inner: Arc<Inner>) {
    let mut subscribed = 0u64;
    let mut sent = HashMap::new();
    loop {
        inner.link_wake.notified().await;
        let generation = inner.generation.load(Ordering::SeqCst);
        if !inner.is_online() {
            continue;
        }
        if subscribed != generation {
            if let Err(e) = inner.subscribe_topics().await {
                warn!(error = %e, "subscribe failed");
                continue;
            }
            subscribed = generation;
        }
        inner.flush_outbox(generation, &mut sent).await;
    }
}

/// Heartbeats on a timer; snapshot requests on a timer or when a gap or a connection wakes it.
async fn housekeeping(inner: Arc<Inner>) {
    let mut ticker = tokio::time::interval(to_std(inner.config.housekeeping_every));
    loop {
        let beat = tokio::select! {
            _ = ticker.tick() => true,
            () = inner.housekeeping_wake.notified() => false,
        };
        if !inner.is_online() {
            continue;
        }
        if beat {
            inner.heartbeat().await;
        }
        inner.maybe_request_snapshot().await;
    }
}
