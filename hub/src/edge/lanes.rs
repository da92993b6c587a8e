//! One lane per device for the messages it sends: a bounded queue and a task that handles them
//! in arrival order, so devices are handled concurrently and a slow walk-up (a Google call)
//! holds up only the device that asked. Before a message is queued its size and its device's
//! rate are checked (a token bucket per device), so a flooding device costs a hash lookup per
//! message, not a database write. Heartbeats are coalesced: at most one write per device per
//! [`HEARTBEAT_WRITE_EVERY`], the latest report held and written when that time comes.
//!
//! A lane's task ends when its device has been quiet for [`IDLE`]; the next message starts a
//! new one.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use shared::protocol::topics;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    inbound::Handler,
    store::{DeviceReport, InboundDevice},
};

/// Largest device message accepted: check-ins, walk-ups and heartbeats are a few hundred bytes.
pub const MAX_DEVICE_MESSAGE_BYTES: usize = 16 * 1024;
/// Messages a device may send in a burst (an outbox flushed after an outage)…
pub const BURST: f64 = 120.0;
/// …and per second after that.
pub const PER_SECOND: f64 = 5.0;
/// Messages of one device waiting in its lane before more are dropped.
const LANE_DEPTH: usize = 256;
/// Lanes kept at most (devices heard from recently); beyond, new devices' messages are dropped.
const MAX_LANES: usize = 50_000;
/// A lane whose device was quiet this long is closed.
const IDLE: Duration = Duration::from_secs(300);
/// At most one heartbeat write per device this often.
pub const HEARTBEAT_WRITE_EVERY: Duration = Duration::from_secs(10);

type Item = (String, Vec<u8>);

/// The lanes, owned by the task that reads the hub's MQTT connection.
pub struct Lanes {
    handler: Arc<Handler>,
    shutdown: CancellationToken,
    lanes: HashMap<String, Entry>,
    pruned_at: Instant,
}

struct Entry {
    queue: mpsc::Sender<Item>,
    tokens: f64,
    refilled_at: Instant,
}

impl Lanes {
    /// No lanes yet.
    pub(super) fn new(handler: Arc<Handler>, shutdown: CancellationToken) -> Lanes {
        Lanes {
            handler,
            shutdown,
            lanes: HashMap::new(),
            pruned_at: Instant::now(),
        }
    }

    /// Queues a message on its device's lane, or says why it is dropped.
    pub fn route(&mut self, topic: String, payload: Vec<u8>) -> Result<(), &'static str> {
        if payload.len() > MAX_DEVICE_MESSAGE_BYTES {
            return Err("too_large");
        }
        let device = match topics::parse(&topic).map(|t| t.channel) {
            Some(topics::Channel::Up { device }) => device.to_string(),
            _ => return Err("topic"),
        };
        let now = Instant::now();
        self.prune(now);
        if !self.lanes.contains_key(&device) && self.lanes.len() >= MAX_LANES {
            return Err("overload");
        }
        let entry = self.lanes.entry(device).or_insert_with(|| Entry {
            queue: spawn_lane(self.handler.clone(), self.shutdown.clone()),
            tokens: BURST,
            refilled_at: now,
        });
        let elapsed = now.duration_since(entry.refilled_at).as_secs_f64();
        entry.tokens = (entry.tokens + elapsed * PER_SECOND).min(BURST);
        entry.refilled_at = now;
        if entry.tokens < 1.0 {
            return Err("rate_limited");
        }
        entry.tokens -= 1.0;
        if entry.queue.is_closed() {
            entry.queue = spawn_lane(self.handler.clone(), self.shutdown.clone());
        }
        entry
            .queue
            .try_send((topic, payload))
            .map_err(|_| "overload")
    }

    /// Forgets the lanes whose task ended (idle), once a minute.
    fn prune(&mut self, now: Instant) {
        if now.duration_since(self.pruned_at) < Duration::from_secs(60) {
            return;
        }
        self.pruned_at = now;
        self.lanes.retain(|_, entry| !entry.queue.is_closed());
    }
}

/// What a lane remembers between its device's messages.
#[derive(Default)]
pub struct Lane {
    report_written_at: Option<Instant>,
    held: Option<(InboundDevice, DeviceReport)>,
}

impl Lane {
    /// Whether a heartbeat may be written now (and, if so, that it is being written).
    pub fn heartbeat_due(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .report_written_at
            .is_none_or(|at| now.duration_since(at) >= HEARTBEAT_WRITE_EVERY);
        if due {
            self.report_written_at = Some(now);
            self.held = None;
        }
        due
    }

    /// Keeps the latest heartbeat to write when its time comes.
    pub fn hold_report(&mut self, device: InboundDevice, report: DeviceReport) {
        self.held = Some((device, report));
    }

    fn flush_at(&self) -> Option<Instant> {
        self.held.as_ref()?;
        self.report_written_at.map(|at| at + HEARTBEAT_WRITE_EVERY)
    }
}

fn spawn_lane(handler: Arc<Handler>, shutdown: CancellationToken) -> mpsc::Sender<Item> {
    let (tx, rx) = mpsc::channel(LANE_DEPTH);
    tokio::spawn(run_lane(handler, rx, shutdown));
    tx
}

async fn run_lane(
    handler: Arc<Handler>,
    mut rx: mpsc::Receiver<Item>,
    shutdown: CancellationToken,
) {
    let mut lane = Lane::default();
    loop {
        let flush_at = lane.flush_at();
        let wake = flush_at.unwrap_or_else(|| Instant::now() + IDLE);
        tokio::select! {
            () = shutdown.cancelled() => return,
            next = rx.recv() => match next {
                Some((topic, payload)) => handler.handle_one(&topic, &payload, &mut lane).await,
                None => return,
            },
            () = tokio::time::sleep_until(wake.into()) => {
                if flush_at.is_some() {
                    if let Some((device, report)) = lane.held.take() {
                        lane.report_written_at = Some(Instant::now());
                        handler.flush_report(&device, &report).await;
                    }
                } else {
                    rx.close();
                    while let Ok((topic, payload)) = rx.try_recv() {
                        handler.handle_one(&topic, &payload, &mut lane).await;
                    }
                    return;
                }
            }
        }
    }
}
