//! Meetings: booked, edited and cancelled through CORBI, written to Google Calendar, with the
//! rules of who may do what, conflict checks, recurrence and a change log.
//!
//! The order of a write ([`service`]): reserve the slot locally (a pending row that conflict
//! checks see, taken under a per-resource lock so a race never produces two Google events);
//! check Google's free/busy for what was booked there and not yet synced; write to Google
//! (the event id is derived from the meeting id, so a retried or recovered write finds it);
//! then confirm the row, the change-log row and the outbox event in one transaction. If Google
//! refuses, the reservation is dropped; if the hub dies in between, the recovery job settles
//! the reservation from what Google has.
//!
//! Every change is logged once, by [`store::log_change`], which also emits the typed
//! [`events::MeetingChanged`] in the same transaction: tablets, notifications and whatever
//! comes next react to that event, never to the tables of this module.
//!
//! Files, one job each: `service.rs` (orchestration of book, change, cancel), `availability.rs`
//! (busy time and free slots), `conflict.rs` (clash detection and its sentence),
//! `google_event.rs` (a meeting as Google's event and back), `recover.rs` (the reservation
//! job), `external.rs` (Google events applied by sync), `events.rs` (the outbox event),
//! `model.rs` (the row, its JSON and its diff), `queries.rs` (the list, free slots,
//! availability and free rooms, asked over REST and MCP alike), `validate.rs` (request bodies),
//! `recurrence/` (RRULE expansion; the forms Google writes made readable), `slots.rs`
//! (busy/free arithmetic), `store.rs` (SQL),
//! `transitions.rs` (check-in, NO_SHOW and release as conditional updates), `usage.rs` (the
//! narrow read behind the insights figures), `view.rs` (the meeting as the API and the tools
//! answer it), `routes.rs` (HTTP).

pub mod availability;
pub mod conflict;
pub mod events;
pub mod external;
pub mod google_event;
pub mod model;
pub mod queries;
pub mod recover;
pub mod recurrence;
pub mod routes;
pub mod service;
pub mod slots;
pub mod store;
pub mod transitions;
pub mod usage;
pub mod validate;
pub mod view;

use serde_json::{Value, json};
use shared::ErrorCode;

use crate::{
    auth::policy::Refusal,
    db::{Db, DbError},
    error::{ApiError, FieldError},
    google::{Google, GoogleError},
    handles::capability_handles,
    jobs::{Queue, Registry},
    resources::ResourceError,
};

pub use routes::routes;

capability_handles! {
    /// The handles the meetings capability works with: its storage, the queue its changes are
    /// announced on, and the Google client its events are written through.
    pub struct Meetings {
        /// The database.
        pub db: Db,
        /// The job queue and outbox.
        pub jobs: Queue,
        /// The Calendar client.
        pub google: Google,
    }
}

/// Registers the meetings capability's jobs (the recovery of reservations).
pub fn register(registry: &mut Registry, google: &Google) {
    registry.handle(
        recover::RECOVER_KIND,
        recover::RecoverReservation {
            google: google.clone(),
        },
    );
}

/// What can go wrong with a meeting.
#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    /// Malformed fields.
    #[error("invalid meeting fields")]
    Invalid(Vec<FieldError>),
    /// Times that cannot be booked; the sentence says why.
    #[error("invalid slot: {0}")]
    InvalidSlot(String),
    /// Unknown id (or another tenant's).
    #[error("meeting not found")]
    NotFound,
    /// The slot clashes with other bookings.
    #[error("conflict: {sentence}")]
    Conflict {
        /// A sentence naming the clash and proposing another slot.
        sentence: String,
        /// The clashing bookings.
        conflicts: Vec<Value>,
        /// The proposed slot, if one was found.
        proposal: Option<Value>,
    },
    /// The rules refuse the actor.
    #[error("refused: {}", .0.sentence)]
    Refused(Refusal),
    /// The `If-Match` etag is stale.
    #[error("stale etag")]
    Stale,
    /// The resource cannot be used.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// Google failed.
    #[error(transparent)]
    Google(#[from] GoogleError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(MeetingError);

impl From<recurrence::RecurrenceError> for MeetingError {
    fn from(err: recurrence::RecurrenceError) -> Self {
        MeetingError::Invalid(vec![FieldError::new("recurrence", err.0)])
    }
}

impl From<Refusal> for MeetingError {
    fn from(refusal: Refusal) -> Self {
        MeetingError::Refused(refusal)
    }
}

impl From<MeetingError> for ApiError {
    fn from(err: MeetingError) -> Self {
        match err {
            MeetingError::Invalid(fields) => ApiError::validation(fields),
            MeetingError::InvalidSlot(sentence) => ApiError::new(ErrorCode::InvalidSlot, sentence),
            MeetingError::NotFound => ApiError::not_found("meeting"),
            MeetingError::Conflict {
                sentence,
                conflicts,
                proposal,
            } => ApiError::new(ErrorCode::Conflict, sentence)
                .with_details(json!({"conflicts": conflicts, "proposed_slot": proposal})),
            MeetingError::Refused(refusal) => refusal.into(),
            MeetingError::Stale => ApiError::new(
                ErrorCode::PreconditionFailed,
                "This meeting was changed by someone else in the meantime. Please load it again and retry.",
            ),
            MeetingError::Resource(resource) => resource.into(),
            MeetingError::Google(GoogleError::PreconditionFailed) => MeetingError::Stale.into(),
            MeetingError::Google(google) => google.into(),
            MeetingError::Db(db) => db.into(),
        }
    }
}
