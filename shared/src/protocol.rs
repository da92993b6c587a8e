//! The wire protocol between the hub and the edge agents: postcard messages in a versioned envelope,
//! the MQTT topic tree, and (feature `seal`) the AEAD that every payload travels in.
//!
//! Layout: [`messages`] holds the message structs, [`topics`] builds and parses topic names,
//! [`seal`] (feature `seal`) seals and opens payloads. This file holds the envelope: [`encode`] and
//! [`decode`] and the one [`ProtocolError`].
//!
//! Envelope bytes: `varint(version) ‖ postcard(Message)`. The version comes first and is read alone,
//! so a later protocol can change every message and an old agent still says "unsupported version"
//! instead of misreading the bytes.

pub mod messages;
#[cfg(feature = "seal")]
pub mod seal;
pub mod topics;

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

pub use messages::{
    CheckIn, CheckInOutcome, CheckInResult, Heartbeat, Message, RefusalCode, ScheduleKey,
    ScheduleSnapshot, SnapshotMeeting, SnapshotRequest, SnapshotStatus, WalkUpOutcome,
    WalkUpRequest, WalkUpResult,
};

/// The protocol version this build speaks; bumped whenever a message changes shape.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest encoded message accepted, so a hostile peer cannot make a device allocate without bound.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message with the protocol version it was written in: what [`encode`] writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The writer's [`PROTOCOL_VERSION`]; a reader refuses any other.
    pub version: u16,
    /// The message itself; its variant index is the message kind on the wire.
    pub message: Message,
}

/// Why bytes or a topic could not be turned into a message; never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The envelope names a protocol version this build does not speak.
    UnsupportedVersion(u16),
    /// The bytes are not a valid message (truncated, corrupt, trailing garbage, too large).
    Malformed,
    /// An id cannot be a topic level (empty, or holds `/`, `+`, `#` or NUL).
    InvalidTopicSegment,
    /// A sealed payload failed authentication: wrong key, wrong topic, or tampered bytes.
    SealBroken,
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            ProtocolError::Malformed => f.write_str("malformed message"),
            ProtocolError::InvalidTopicSegment => f.write_str("id cannot be used as a topic level"),
            ProtocolError::SealBroken => f.write_str("sealed payload failed authentication"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Encodes `message` in the current protocol version, ready to be sealed and published.
pub fn encode(message: &Message) -> Vec<u8> {
    let envelope = EnvelopeRef {
        version: PROTOCOL_VERSION,
        message,
    };
    // Serializing into a Vec cannot fail for these types: every field is a plain value.
    postcard::to_allocvec(&envelope).unwrap_or_default()
}

/// Decodes bytes written by [`encode`]; any other version, truncation or trailing byte is an error.
pub fn decode(bytes: &[u8]) -> Result<Message, ProtocolError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::Malformed);
    }
    let (version, rest) =
        postcard::take_from_bytes::<u16>(bytes).map_err(|_| ProtocolError::Malformed)?;
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::UnsupportedVersion(version));
    }
    match postcard::take_from_bytes::<Message>(rest) {
        Ok((message, [])) => Ok(message),
        _ => Err(ProtocolError::Malformed),
    }
}

/// Borrowing twin of [`Envelope`] so encoding does not clone the message.
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    version: u16,
    message: &'a Message,
}

#[cfg(test)]
mod tests;
