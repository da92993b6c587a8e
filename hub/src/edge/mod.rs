//! Edge devices: enrollment, the MQTT broker (embedded rumqttd or an external one), schedule
//! publishing and the messages devices send.
//!
//! Security model. On either broker a device may read only its resource's schedule and its
//! own down topic and write only its own up topic: the embedded rumqttd sits behind the
//! gate (`gate.rs`), an authorizing layer that checks every CONNECT, SUBSCRIBE and PUBLISH; an external
//! Mosquitto is driven through its dynamic security plugin ([`dynsec`]) or given the static ACL
//! of [`acl`]. The payloads protect themselves as well: each resource's schedule is sealed
//! with that resource's key (handed to its devices at enrollment, rotated when one of them is
//! revoked and handed again to the others by [`rekey`]), and each device message is sealed
//! with the sending device's key, with the topic as associated data. The hub opens a message on
//! `…/up/{device}` only with that device's key and drops anything that does not open, names
//! another device or resource, repeats an idempotency key, or was made outside the accepted
//! time window. docs/EDGE-BROKER.md has the design and the broker configuration.
//!
//! Files: `routes.rs` (enrollment and device API), `store.rs` (SQL), `keys.rs` (random
//! material), `broker.rs` (embedded rumqttd and its login check), `gate.rs` (the devices' side
//! of the embedded broker), `dynsec.rs` (Mosquitto's dynamic security commands), `link.rs` (the
//! hub's own MQTT client), `publish.rs` (snapshots and their jobs), `budget.rs` (snapshot size),
//! `rekey.rs` (schedule keys handed out, keys re-sealed), `inbound.rs` (device messages and
//! the inbox), `lanes.rs` (per-device queues and limits), `acl.rs` (Mosquitto ACL).
//! Check-ins and walk-ups are answered through [`DeviceRequests`], which the attendance capability implements; the hub's wiring hands that
//! implementation to [`Edge::spawn`], so this module never names the capability deciding them.

pub mod acl;
mod broker;
mod budget;
pub mod dynsec;
mod gate;
pub mod inbound;
pub mod keys;
mod lanes;
mod link;
pub mod publish;
pub mod rekey;
pub mod routes;
pub mod store;

use std::net::SocketAddr;

use async_trait::async_trait;
use shared::{
    ErrorCode,
    protocol::{CheckIn, CheckInOutcome, WalkUpOutcome, WalkUpRequest},
};

pub use link::Edge;
pub use routes::routes;

use crate::{
    auth::AuthError,
    connections::seal::SealError,
    db::DbError,
    error::{ApiError, FieldError},
};

/// What can go wrong in the edge capability.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The enrollment code is unknown, used or expired (deliberately not told apart).
    #[error("enrollment code unknown, used or expired")]
    BadEnrollmentCode,
    /// Unknown device id (or another tenant's).
    #[error("device not found")]
    DeviceNotFound,
    /// Bad fields.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// `ENCRYPTION_KEYS` is not set, so device keys cannot be stored.
    #[error("no encryption key configured")]
    NoSealer,
    /// A stored key did not decode.
    #[error("a stored edge key is corrupt")]
    CorruptKey,
    /// The broker could not start or be reached.
    #[error("MQTT broker: {0}")]
    Broker(String),
    /// Sealing at rest failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Issuing or revoking the device token failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(EdgeError);

impl From<EdgeError> for ApiError {
    fn from(err: EdgeError) -> Self {
        match err {
            EdgeError::BadEnrollmentCode => ApiError::new(
                ErrorCode::Unauthenticated,
                "This enrollment code is unknown, already used or expired. Ask an administrator for a new one.",
            ),
            EdgeError::DeviceNotFound => ApiError::not_found("device"),
            EdgeError::Invalid(fields) => ApiError::validation(fields),
            EdgeError::NoSealer => {
                ApiError::internal("ENCRYPTION_KEYS is not set: device keys cannot be stored")
            }
            EdgeError::Auth(auth) => auth.into(),
            EdgeError::Db(db) => db.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A device a request came from, as the request handlers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRef {
    /// The tenant.
    pub tenant_id: String,
    /// The resource the device serves (the only one it may act on).
    pub resource_id: String,
    /// The device id (the change log's actor id).
    pub device_id: String,
}

/// Decides check-ins and walk-up bookings arriving over MQTT. The inbox has already stored the
/// request once per idempotency key; an implementation must still be idempotent per key,
/// because a request whose answer was lost before it was stored is decided again. The
/// implementation holds the handles it decides with, so the edge runtime hands it nothing but
/// the device and the request.
#[async_trait]
pub trait DeviceRequests: Send + Sync + 'static {
    /// A check-in made at the device (judged by `check_in.at_ms`, the time it was made).
    async fn check_in(&self, device: &DeviceRef, check_in: &CheckIn) -> CheckInOutcome;

    /// A walk-up booking asked for at the device.
    async fn walk_up(&self, device: &DeviceRef, request: &WalkUpRequest) -> WalkUpOutcome;
}

/// A device-chosen string (client id, topic, idempotency key) as it may appear in a text log:
/// control characters, quotes and backslashes escaped and at most 96 characters kept, so a
/// device can neither forge log lines nor flood the log.
pub fn loggable(text: &str) -> String {
    const KEEP: usize = 96;
    let mut out: String = text
        .chars()
        .take(KEEP)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(KEEP).is_some() {
        out.push('…');
    }
    out
}

/// Where the broker is, for `hub demo` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerKind {
    /// The embedded rumqttd, listening here.
    Embedded(SocketAddr),
    /// An external broker named by `MQTT_URL`.
    External(String),
}
