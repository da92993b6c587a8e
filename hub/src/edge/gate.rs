//! The embedded broker's gate: the devices' listener, an MQTT-aware authorizing layer in front
//! of rumqttd, which has logins but no per-topic ACLs.
//!
//! Why a gate: rumqttd 0.20 can only confine clients by tenant prefix (with client
//! certificates), not to the three topics a device owns, and a different embeddable broker
//! with ACLs would mean leaving a well-kept broker. The gate does not route anything: it
//! parses each MQTT 3.1.1 packet with rumqttc's own codec, checks it against the one rule (a
//! device reads its resource's schedule and its own down topic, writes only its own up topic),
//! and passes it to rumqttd unchanged or not at all. rumqttd still does sessions, QoS,
//! retained messages and delivery.
//!
//! - CONNECT: the device's id, password and standing are checked here; a refused login gets a
//!   CONNACK "bad user name or password" and the connection closes. An accepted one goes on
//!   to rumqttd with a password derived from the hub's per-start secret
//!   ([`InternalLogin::gate_password`]), so rumqttd's own listener (loopback only) admits
//!   devices only through the gate. A will is dropped (it could name any topic).
//! - SUBSCRIBE: filters other than the two readable topics are refused (SUBACK 0x80), the
//!   others subscribed; wildcards are refused whole, so `#` reads nothing.
//! - PUBLISH: anything but the device's own up topic is acknowledged to the device and
//!   dropped, retained or not, so it cannot clear or overwrite another room's schedule; the
//!   retain flag is cleared on the up topic too.
//! - Packets larger than the broker's limit close the connection.
//!
//! With TLS configured the gate terminates it (rustls), so rumqttd never listens beyond
//! loopback.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use bytes::BytesMut;
use rumqttc::{
    ConnAck, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, SubAck, Subscribe,
    SubscribeReasonCode, mqttbytes,
};
use shared::protocol::topics;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

use super::{
    broker::{InternalLogin, MAX_PAYLOAD_BYTES},
    loggable, store,
};
use crate::{
    db::Db,
    observability::{EdgeLabels, Metrics},
};

/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the gate needs to judge a connection.
#[derive(Clone)]
pub struct Gate {
    /// Devices and their standing.
    pub db: Db,
    /// rumqttd's loopback listener.
    pub upstream: SocketAddr,
    /// The per-start secret the gate passwords derive from.
    pub internal: InternalLogin,
    /// Terminates TLS when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Where refusals are counted (`corbi_edge_gate_refused{what}`).
    pub metrics: Arc<Metrics>,
}

/// The topics one device may use.
struct Allowed {
    schedule: String,
    down: String,
    up: String,
}

/// What one connection's judging remembers.
#[derive(Default)]
struct Pending {
    /// Subscriptions partly refused: packet id → which filters went to the broker.
    partial: HashMap<u16, Vec<bool>>,
    /// Refused QoS 2 publishes the gate answered PUBREC to: their PUBREL is completed here,
    /// since the broker never saw their packet id.
    refused_qos2: HashSet<u16>,
}

/// Accepts devices on `listener` until shutdown.
pub async fn serve(listener: TcpListener, gate: Gate, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let gate = gate.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            tokio::select! {
                () = stop.cancelled() => {}
                () = gate.accept(stream) => {}
            }
        });
    }
}

impl Gate {
    async fn accept(&self, stream: TcpStream) {
        match &self.tls {
            Some(tls) => {
                if let Ok(Ok(stream)) =
                    tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await
                {
                    self.session(stream).await;
                }
            }
            None => self.session(stream).await,
        }
    }

    fn refused(&self, what: &str) {
        self.metrics
            .edge_gate_refused
            .get_or_create(&EdgeLabels {
                what: what.to_string(),
            })
            .inc();
    }

    async fn session<S: AsyncRead + AsyncWrite + Unpin>(&self, mut device: S) {
        let mut inbound = BytesMut::with_capacity(4096);
        let first =
            tokio::time::timeout(CONNECT_TIMEOUT, next_packet(&mut device, &mut inbound)).await;
        let Ok(Some(Packet::Connect(mut connect))) = first else {
            return;
        };
        let Some(allowed) = self.admit(&connect).await else {
            self.refused("login");
            let refusal = Packet::ConnAck(ConnAck {
                session_present: false,
                code: ConnectReturnCode::BadUserNamePassword,
            });
            let _ = write_packet(&mut device, &refusal).await;
            return;
        };
        connect.last_will = None;
        connect.set_login(
            connect.client_id.clone(),
            self.internal.gate_password(&connect.client_id),
        );
        let Ok(mut broker) = TcpStream::connect(self.upstream).await else {
            return;
        };
        let _ = broker.set_nodelay(true);
        if write_packet(&mut broker, &Packet::Connect(connect))
            .await
            .is_err()
        {
            return;
        }
        self.pump(device, broker, inbound, &allowed).await;
    }

    /// The device's topics when its id, password and standing check out.
    async fn admit(&self, connect: &rumqttc::Connect) -> Option<Allowed> {
        let login = connect.login.as_ref()?;
        if login.username != connect.client_id {
            tracing::warn!(client_id = %loggable(&connect.client_id), "MQTT login refused: client id is not the username");
            return None;
        }
        let home = match store::mqtt_login(&self.db, &login.username, &login.password).await {
            Ok(home) => home,
            Err(err) => {
                tracing::warn!(error = %err, "MQTT login could not be checked");
                None
            }
        };
        let Some((tenant, resource)) = home else {
            tracing::warn!(client_id = %loggable(&connect.client_id), "MQTT login refused");
            return None;
        };
        let device = &login.username;
        Some(Allowed {
            schedule: topics::schedule(&tenant, &resource).ok()?,
            down: topics::down(&tenant, &resource, device).ok()?,
            up: topics::up(&tenant, &resource, device).ok()?,
        })
    }

    /// Carries packets both ways until either side closes, judging the device's.
    async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut device: S,
        mut broker: TcpStream,
        mut inbound: BytesMut,
        allowed: &Allowed,
    ) {
        let mut outbound = BytesMut::with_capacity(4096);
        let mut pending = Pending::default();
        loop {
            while let Some(packet) = frame(&mut inbound) {
                let Ok(packet) = packet else {
                    self.refused("malformed");
                    return;
                };
                let written = match self.judge(packet, allowed, &mut pending) {
                    Verdict::Forward(packet) => write_packet(&mut broker, &packet).await,
                    Verdict::Answer(packet) => write_packet(&mut device, &packet).await,
                    Verdict::Nothing => Ok(()),
                    Verdict::Close => return,
                };
                if written.is_err() {
                    return;
                }
            }
            while let Some(raw) = raw_frame(&mut outbound) {
                let Ok(raw) = raw else {
                    return;
                };
                let raw = match partial_suback(&raw, &mut pending.partial) {
                    Some(rebuilt) => rebuilt,
                    None => raw,
                };
                if device.write_all(&raw).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                read = device.read_buf(&mut inbound) => if !matches!(read, Ok(n) if n > 0) { return },
                read = broker.read_buf(&mut outbound) => if !matches!(read, Ok(n) if n > 0) { return },
            }
        }
    }

    fn judge(&self, packet: Packet, allowed: &Allowed, pending: &mut Pending) -> Verdict {
        match packet {
            Packet::Publish(mut publish) => {
                if publish.topic == allowed.up {
                    publish.retain = false;
                    return Verdict::Forward(Packet::Publish(publish));
                }
                self.refused("publish");
                tracing::debug!(topic = %loggable(&publish.topic), "device publish outside its up topic dropped");
                match publish.qos {
                    rumqttc::QoS::AtMostOnce => Verdict::Nothing,
                    rumqttc::QoS::AtLeastOnce => {
                        Verdict::Answer(Packet::PubAck(PubAck::new(publish.pkid)))
                    }
                    rumqttc::QoS::ExactlyOnce => {
                        pending.refused_qos2.insert(publish.pkid);
                        Verdict::Answer(Packet::PubRec(PubRec::new(publish.pkid)))
                    }
                }
            }
            Packet::Subscribe(subscribe) => {
                let mask: Vec<bool> = subscribe
                    .filters
                    .iter()
                    .map(|f| f.path == allowed.schedule || f.path == allowed.down)
                    .collect();
                if mask.iter().all(|ok| *ok) {
                    return Verdict::Forward(Packet::Subscribe(subscribe));
                }
                self.refused("subscribe");
                for filter in subscribe
                    .filters
                    .iter()
                    .filter(|f| f.path != allowed.schedule && f.path != allowed.down)
                {
                    tracing::debug!(filter = %loggable(&filter.path), "device subscription refused");
                }
                if !mask.iter().any(|ok| *ok) {
                    let codes = vec![SubscribeReasonCode::Failure; mask.len()];
                    return Verdict::Answer(Packet::SubAck(SubAck::new(subscribe.pkid, codes)));
                }
                let kept = subscribe
                    .filters
                    .iter()
                    .zip(&mask)
                    .filter(|(_, ok)| **ok)
                    .map(|(f, _)| f.clone());
                let mut narrowed = Subscribe::new_many(kept);
                narrowed.pkid = subscribe.pkid;
                pending.partial.insert(subscribe.pkid, mask);
                Verdict::Forward(Packet::Subscribe(narrowed))
            }
            Packet::PubRel(rel) if pending.refused_qos2.remove(&rel.pkid) => {
                Verdict::Answer(Packet::PubComp(PubComp::new(rel.pkid)))
            }
            Packet::Connect(_) | Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) => {
                Verdict::Close
            }
            other => Verdict::Forward(other),
        }
    }
}

/// What becomes of a device's packet.
enum Verdict {
    /// Passed to the broker.
    Forward(Packet),
    /// Answered by the gate, not passed on.
    Answer(Packet),
    /// Dropped silently (a refused QoS 0 publish).
    Nothing,
    /// A protocol violation: the connection closes.
    Close,
}

/// The next whole packet in `buffer`, if one has arrived.
fn frame(buffer: &mut BytesMut) -> Option<Result<Packet, mqttbytes::Error>> {
    match Packet::read(buffer, MAX_PAYLOAD_BYTES) {
        Ok(packet) => Some(Ok(packet)),
        Err(mqttbytes::Error::InsufficientBytes(_)) => None,
        Err(err) => Some(Err(err)),
    }
}

/// The next whole packet's bytes from the broker, unparsed.
fn raw_frame(buffer: &mut BytesMut) -> Option<Result<BytesMut, mqttbytes::Error>> {
    match mqttbytes::check(buffer.iter(), MAX_PAYLOAD_BYTES + 1024) {
        Ok(header) => Some(Ok(buffer.split_to(header.frame_length()))),
        Err(mqttbytes::Error::InsufficientBytes(_)) => None,
        Err(err) => Some(Err(err)),
    }
}

/// A SUBACK answering a narrowed SUBSCRIBE, widened back with 0x80 for the refused filters.
fn partial_suback(raw: &BytesMut, partial: &mut HashMap<u16, Vec<bool>>) -> Option<BytesMut> {
    if raw.first().map(|b| b >> 4) != Some(9) || partial.is_empty() {
        return None;
    }
    let mut copy = raw.clone();
    let Ok(Packet::SubAck(ack)) = Packet::read(&mut copy, MAX_PAYLOAD_BYTES) else {
        return None;
    };
    let mask = partial.remove(&ack.pkid)?;
    let mut granted = ack.return_codes.into_iter();
    let codes = mask
        .iter()
        .map(|ok| {
            if *ok {
                granted.next().unwrap_or(SubscribeReasonCode::Failure)
            } else {
                SubscribeReasonCode::Failure
            }
        })
        .collect();
    let mut out = BytesMut::new();
    Packet::SubAck(SubAck::new(ack.pkid, codes))
        .write(&mut out, MAX_PAYLOAD_BYTES)
        .ok()?;
    Some(out)
}

async fn next_packet<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut BytesMut,
) -> Option<Packet> {
    loop {
        match frame(buffer) {
            Some(Ok(packet)) => return Some(packet),
            Some(Err(_)) => return None,
            None => {}
        }
        if !matches!(stream.read_buf(buffer).await, Ok(n) if n > 0) {
            return None;
        }
    }
}

async fn write_packet<S: AsyncWrite + Unpin>(
    stream: &mut S,
    packet: &Packet,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    packet
        .write(&mut out, MAX_PAYLOAD_BYTES + 1024)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    stream.write_all(&out).await
}
