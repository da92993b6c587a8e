//! Messages from devices: the hub's MQTT connection subscribes to every up topic, and each
//! message is checked, stored once and answered.
//!
//! `drive` polls the connection (rumqttc reconnects on the next poll) and hands each publish
//! to [`lanes`](super::lanes), which give every device its own queue and task: a device's
//! messages are handled in the order they arrived, different devices' at the same time, so a
//! walk-up waiting on Google holds up only its own device. The lanes also drop what is too
//! large or too frequent before anything is decoded, and coalesce heartbeats.
//!
//! A message is dropped (logged at warn, counted in `corbi_edge_messages_dropped{what}`) when its
//! topic is not an up topic, the device is unknown or revoked, the topic's tenant or resource is
//! not the device's, the seal does not open with the device's key, the bytes are not a message,
//! the message names another device, or a check-in / walk-up was made outside the accepted time
//! window. A repeated idempotency key is not decided again: the first answer is sent again
//! (the device deletes its queued copy only when an answer arrives), counted as `replayed`.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use shared::protocol::{self, CheckInResult, Message, ProtocolError, WalkUpResult, seal, topics};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{
    DeviceRef, DeviceRequests, Edge, EdgeError,
    lanes::{Lane, Lanes},
    loggable, publish, rekey,
    store::{self, DeviceReport, InboundDevice, NewInboxEntry},
};
use crate::{
    db::Db,
    jobs::Queue,
    observability::{EdgeLabels, Metrics},
};

/// The parts of the hub the inbound runtime uses: it runs beside the HTTP server, not inside
/// it, so it holds these handles rather than the HTTP state.
#[derive(Clone)]
pub struct Handles {
    /// Devices, the inbox and its answers.
    pub db: Db,
    /// Where schedule requests queue a publish.
    pub jobs: Queue,
    /// Where received and dropped messages are counted.
    pub metrics: Arc<Metrics>,
    /// The hub's MQTT side: sealer, time window settings, answers.
    pub edge: Edge,
}

/// Starts the connection task (the lanes' tasks start as devices speak).
pub fn spawn(
    state: Handles,
    requests: Arc<dyn DeviceRequests>,
    client: AsyncClient,
    eventloop: EventLoop,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let handler = Arc::new(Handler {
        state: state.clone(),
        requests,
    });
    let lanes = Lanes::new(handler, shutdown.clone());
    vec![tokio::spawn(drive(
        state, client, eventloop, lanes, shutdown,
    ))]
}

async fn drive(
    state: Handles,
    client: AsyncClient,
    mut eventloop: EventLoop,
    mut lanes: Lanes,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                tracing::info!("hub connected to the MQTT broker");
                state.edge.on_connected();
                if let Err(err) = client.try_subscribe(topics::ALL_UP_FILTER, QoS::AtLeastOnce) {
                    tracing::error!(error = %err, "cannot subscribe to device messages");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if state.edge.control_answer(&publish.topic, &publish.payload) {
                    continue;
                }
                if let Err(reason) = lanes.route(publish.topic.clone(), publish.payload.to_vec()) {
                    // Counted, logged only at debug: a flooding device must not flood the log.
                    tracing::debug!(reason, topic = %loggable(&publish.topic), "device message not queued");
                    count_drop(&state, reason);
                }
            }
            Ok(_) => {}
            Err(err) => {
                failures = failures.saturating_add(1);
                let delay = Duration::from_millis(100 * u64::from(failures.min(50)));
                tracing::warn!(error = %err, delay_ms = delay.as_millis(), "MQTT broker unreachable");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    let _ = client.try_disconnect();
}

/// Logs and counts a dropped message; the topic is the device's choice, so it is escaped.
pub(super) fn dropped(state: &Handles, reason: &'static str, topic: &str) {
    tracing::warn!(reason, topic = %loggable(topic), "dropped a device message");
    count_drop(state, reason);
}

fn count_drop(state: &Handles, reason: &'static str) {
    state
        .metrics
        .edge_dropped
        .get_or_create(&EdgeLabels {
            what: reason.to_string(),
        })
        .inc();
}

/// Why a message was not handled.
enum Refuse {
    /// Refused on purpose, with the metric's reason.
    Reason(&'static str),
    /// The hub failed (database, broker).
    Failed(EdgeError),
}

impl From<EdgeError> for Refuse {
    fn from(err: EdgeError) -> Self {
        Refuse::Failed(err)
    }
}

impl From<crate::db::DbError> for Refuse {
    fn from(err: crate::db::DbError) -> Self {
        Refuse::Failed(err.into())
    }
}

/// Decides device messages; shared by every lane.
pub(super) struct Handler {
    pub(super) state: Handles,
    requests: Arc<dyn DeviceRequests>,
}

impl Handler {
    /// Handles one message of a lane's device, logging and counting a drop.
    pub(super) async fn handle_one(&self, topic: &str, payload: &[u8], lane: &mut Lane) {
        match self.handle(topic, payload, lane).await {
            Ok(()) => {}
            Err(Refuse::Reason(reason)) => dropped(&self.state, reason, topic),
            Err(Refuse::Failed(err)) => {
                tracing::error!(error = %err, topic = %loggable(topic), "device message could not be handled");
                dropped(&self.state, "error", topic);
            }
        }
    }

    /// Writes a lane's coalesced heartbeat.
    pub(super) async fn flush_report(&self, device: &InboundDevice, report: &DeviceReport) {
        if let Err(err) = store::touch(&self.state.db, device, report).await {
            tracing::warn!(error = %err, "heartbeat not recorded");
        }
    }

    async fn handle(&self, topic: &str, payload: &[u8], lane: &mut Lane) -> Result<(), Refuse> {
        let parsed = topics::parse(topic).ok_or(Refuse::Reason("topic"))?;
        let topics::Channel::Up { device } = parsed.channel else {
            return Err(Refuse::Reason("topic"));
        };
        let sealer = self.state.edge.sealer()?;
        let device = store::inbound_device(&self.state.db, sealer, device)
            .await?
            .ok_or(Refuse::Reason("unknown_device"))?;
        if device.revoked {
            return Err(Refuse::Reason("revoked"));
        }
        if parsed.tenant != device.tenant_id || parsed.resource != device.resource_id {
            return Err(Refuse::Reason("wrong_resource"));
        }
        let message = open(&device, topic, payload)?;
        self.state
            .metrics
            .edge_received
            .get_or_create(&EdgeLabels {
                what: message.kind().to_string(),
            })
            .inc();
        self.dispatch(&device, message, lane).await
    }

    async fn dispatch(
        &self,
        device: &InboundDevice,
        message: Message,
        lane: &mut Lane,
    ) -> Result<(), Refuse> {
        let db = &self.state.db;
        match message {
            Message::Heartbeat(beat) => {
                let report = DeviceReport {
                    agent_version: Some(beat.agent_version),
                    cache_version: beat.cache_version,
                    outbox_len: Some(beat.outbox_len),
                };
                if lane.heartbeat_due() {
                    store::touch(db, device, &report).await?;
                } else {
                    lane.hold_report(device.clone(), report);
                }
            }
            Message::SnapshotRequest(request) => {
                store::touch(db, device, &DeviceReport::default()).await?;
                tracing::debug!(device_id = %device.id, have = ?request.have_version, "snapshot requested");
                rekey::send_to(&self.state.edge, db, device).await?;
                publish::request_publish(&self.state.jobs, &device.tenant_id, &device.resource_id)
                    .await?;
            }
            Message::CheckIn(_) | Message::WalkUpRequest(_) => {
                store::touch(db, device, &DeviceReport::default()).await?;
                self.request(device, message).await?;
            }
            other => {
                tracing::debug!(kind = other.kind(), "device sent a hub-only message");
                return Err(Refuse::Reason("unexpected"));
            }
        }
        Ok(())
    }

    /// Stores a check-in or walk-up once, decides it (or replays the first answer) and answers.
    async fn request(&self, device: &InboundDevice, message: Message) -> Result<(), Refuse> {
        let (key, made_at) = match &message {
            Message::CheckIn(c) => (c.idempotency_key.clone(), c.at_ms),
            Message::WalkUpRequest(w) => (w.idempotency_key.clone(), w.start_ms),
            _ => return Err(Refuse::Reason("unexpected")),
        };
        let sent_at = self.within_window(made_at)?;
        if key.is_empty() || key.len() > 200 {
            return Err(Refuse::Reason("malformed"));
        }
        let entry = NewInboxEntry {
            idempotency_key: &key,
            kind: message.kind(),
            message: serde_json::to_value(&message).unwrap_or_default(),
            sent_at,
        };
        let db = &self.state.db;
        let answer = match store::record(db, device, &entry).await? {
            Some(Some(first)) => {
                tracing::info!(device_id = %device.id, key = %loggable(&key), "repeated request: first answer sent again");
                count_drop(&self.state, "replayed");
                serde_json::from_str(&first).map_err(|_| Refuse::Reason("error"))?
            }
            Some(None) | None => {
                let answer = self.decide(device, &message).await;
                let json = serde_json::to_value(&answer).unwrap_or_default();
                store::save_answer(db, device, &key, &json).await?;
                answer
            }
        };
        self.answer(device, &answer).await
    }

    fn within_window(&self, made_at_ms: i64) -> Result<DateTime<Utc>, Refuse> {
        let config = self.state.edge.config();
        let made_at = DateTime::from_timestamp_millis(made_at_ms).ok_or(Refuse::Reason("stale"))?;
        let now = Utc::now();
        let oldest = now - chrono::Duration::seconds(config.max_message_age_secs as i64);
        let newest = now + chrono::Duration::seconds(config.max_clock_skew_secs as i64);
        if made_at < oldest {
            return Err(Refuse::Reason("stale"));
        }
        if made_at > newest {
            return Err(Refuse::Reason("future"));
        }
        Ok(made_at)
    }

    async fn decide(&self, device: &InboundDevice, message: &Message) -> Message {
        let who = DeviceRef {
            tenant_id: device.tenant_id.clone(),
            resource_id: device.resource_id.clone(),
            device_id: device.id.clone(),
        };
        match message {
            Message::WalkUpRequest(request) => Message::WalkUpResult(WalkUpResult {
                idempotency_key: request.idempotency_key.clone(),
                outcome: self.requests.walk_up(&who, request).await,
            }),
            Message::CheckIn(check_in) => Message::CheckInResult(CheckInResult {
                idempotency_key: check_in.idempotency_key.clone(),
                outcome: self.requests.check_in(&who, check_in).await,
            }),
            other => other.clone(),
        }
    }

    async fn answer(&self, device: &InboundDevice, answer: &Message) -> Result<(), Refuse> {
        let topic = topics::down(&device.tenant_id, &device.resource_id, &device.id)
            .map_err(|_| Refuse::Reason("topic"))?;
        let sealed = seal::seal(&device.key, &topic, &protocol::encode(answer));
        self.state.edge.publish(&topic, sealed, false)?;
        Ok(())
    }
}

/// Opens and decodes a device's message and checks it names the device it is sealed for.
fn open(device: &InboundDevice, topic: &str, payload: &[u8]) -> Result<Message, Refuse> {
    let bytes = seal::open(&device.key, topic, payload).map_err(|err| match err {
        ProtocolError::SealBroken => Refuse::Reason("seal"),
        _ => Refuse::Reason("malformed"),
    })?;
    let message = protocol::decode(&bytes).map_err(|_| Refuse::Reason("malformed"))?;
    let claimed = match &message {
        Message::CheckIn(m) => Some(&m.device_id),
        Message::WalkUpRequest(m) => Some(&m.device_id),
        Message::Heartbeat(m) => Some(&m.device_id),
        Message::SnapshotRequest(m) => Some(&m.device_id),
        _ => None,
    };
    if claimed.is_some_and(|id| *id != device.id) {
        return Err(Refuse::Reason("wrong_device"));
    }
    Ok(message)
}
