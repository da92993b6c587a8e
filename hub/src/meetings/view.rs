//! The meeting as every endpoint and tool answers it. One typed struct, so the JSON the API
//! sends and the schema the OpenAPI document and the MCP tools declare cannot drift apart.

use serde::Serialize;
use serde_json::Value;
use shared::{CreatedByType, MeetingStatus, Source};

use super::model::{Meeting, Participant};
use crate::{
    auth::{Actor, policy},
    text::{zulu, zulu_millis},
};

/// A meeting (docs/API.md, "The meeting").
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeetingView {
    /// Stable id (UUID): the `meeting_id` of the other calls.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Start in UTC (the first occurrence of a series).
    pub start: String,
    /// End in UTC, exclusive.
    pub end: String,
    /// The meeting's own IANA zone; read times aloud in it.
    pub time_zone: String,
    /// SCHEDULED, ATTENDED, NO_SHOW or CANCELLED.
    #[schema(value_type = String)]
    pub status: MeetingStatus,
    /// AI or HUMAN.
    #[schema(value_type = String)]
    pub created_by_type: CreatedByType,
    /// The user id or API key id that booked it.
    pub created_by: String,
    /// CORBI (booked here) or EXTERNAL (made in Google).
    #[schema(value_type = String)]
    pub source: Source,
    /// The room or device booked.
    pub resource_id: Option<String>,
    /// Who takes part.
    pub participants: Vec<Participant>,
    /// Who organizes it.
    pub organizer: Organizer,
    /// Where.
    pub location: Option<String>,
    /// Link to the online meeting.
    pub meeting_link: Option<String>,
    /// RRULE/EXDATE/RDATE lines; empty for a single meeting.
    pub recurrence: Vec<String>,
    /// The booker's own JSON object, kept as given.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// The Google event.
    pub google: GoogleRef,
    /// When someone checked in.
    pub checked_in_at: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was booked here.
    pub created_at: String,
    /// When it last changed here.
    pub updated_at: String,
    /// When sync last confirmed it against Google.
    pub last_sync_time: Option<String>,
}

/// The organizer of a meeting.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Organizer {
    /// Address.
    pub email: Option<String>,
}

/// Where a meeting lives in Google Calendar.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GoogleRef {
    /// The calendar.
    pub calendar_id: String,
    /// The event.
    pub event_id: String,
    /// The event's etag (for `If-Match`).
    pub etag: Option<String>,
    /// iCalendar UID.
    pub ical_uid: Option<String>,
    /// Google's sequence number.
    pub sequence: i64,
}

/// A page of meetings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MeetingList {
    /// The meetings, by start time.
    pub items: Vec<MeetingView>,
    /// Give it as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl MeetingView {
    /// The meeting as `actor` may see it: participants' phone numbers go only to admins and to
    /// the person who booked it, never to AI keys or devices (they need no number to act).
    pub fn for_actor(meeting: &Meeting, actor: &Actor) -> MeetingView {
        let mut view = MeetingView::from(meeting);
        if !policy::may_see_phones(actor, &meeting.created_by) {
            for participant in &mut view.participants {
                participant.phone = None;
            }
        }
        view
    }
}

impl From<&Meeting> for MeetingView {
    fn from(m: &Meeting) -> Self {
        MeetingView {
            id: m.id.clone(),
            title: m.title.clone(),
            description: m.description.clone(),
            start: zulu(m.start),
            end: zulu(m.end),
            time_zone: m.time_zone.clone(),
            status: m.status,
            created_by_type: m.created_by_type,
            created_by: m.created_by.clone(),
            source: m.source,
            resource_id: m.resource_id.clone(),
            participants: m.participants.clone(),
            organizer: Organizer {
                email: m.organizer_email.clone(),
            },
            location: m.location.clone(),
            meeting_link: m.meeting_link.clone(),
            recurrence: m.recurrence.clone().unwrap_or_default(),
            metadata: m.metadata.clone(),
            google: GoogleRef {
                calendar_id: m.calendar_id.clone(),
                event_id: m.google_event_id.clone(),
                etag: m.etag.clone(),
                ical_uid: m.ical_uid.clone(),
                sequence: m.sequence,
            },
            checked_in_at: m.checked_in_at.map(zulu),
            cancel_reason: m.cancel_reason.clone(),
            created_at: zulu_millis(m.created_at),
            updated_at: zulu_millis(m.updated_at),
            last_sync_time: m.last_sync_time.map(zulu_millis),
        }
    }
}
