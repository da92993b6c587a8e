//! CORBI's shared vocabulary: the domain enums that the hub, the edge agents and API clients must
//! spell the same way.
//!
//! `no_std` + `alloc` so that the same definitions can later run on a door sign without an OS.
//! Layout: [`domain`] holds the enums of the API contract (statuses, actors, kinds, error codes);
//! [`protocol`] holds the hub ↔ edge wire protocol (messages, envelope, MQTT topics and, with the
//! `seal` feature, the AEAD seal).
#![no_std]

extern crate alloc;

pub mod domain;
pub mod protocol;

pub use domain::{
    ActorType, ChangeType, CreatedByType, ErrorCode, MeetingStatus, ResourceKind, Source,
};
