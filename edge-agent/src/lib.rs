//! CORBI edge agent: keeps one room tablet's or device's schedule over MQTT, sealed, cached in
//! SQLite and served offline, and queues what the device sends until the hub answers.
//!
//! Layout:
//! - [`agent`]: the running agent (MQTT tasks) and the API the UI crate calls ([`Agent`]);
//! - [`logic`]: the plain, clock-free decisions (current/next meeting, check-in window, version
//!   gaps, staleness, retry timing), portable to a `no_std` door sign;
//! - [`clock`]: the injected clock ([`SystemClock`], [`ManualClock`]);
//! - [`store`]: the SQLite cache (schedule, outbox, answers);
//! - [`enroll`]: enrollment over HTTP and the saved credentials;
//! - [`config`]: the agent's settings;
//! - `main.rs`: the `edge-agent` binary.
//!
//! The wire format (messages, topics, seal) lives in `shared::protocol`, re-exported seal as [`sealing`].
//! Schedules arrive sealed with the resource key on the schedule topic; the device seals its
//! messages with its device key on its up topic and opens answers with the same key on its down
//! topic. The seal's AAD is the topic.

pub mod agent;
pub mod clock;
pub mod config;
pub mod enroll;
pub mod logic;
pub mod store;

pub use agent::{
    Agent, AgentError, AgentEvent, ConnectionState, DeviceOutcome, Pending, RejectReason,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::AgentConfig;
pub use enroll::{DeviceIdentity, EnrollmentResponse, load_or_enroll};
/// Sealing of payloads, re-exported so callers use the same format as the hub.
pub use shared::protocol::seal as sealing;
