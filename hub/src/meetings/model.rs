//! The meeting as stored and as the API shows it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use shared::{CreatedByType, MeetingStatus, Source};
use sqlx::{Row, any::AnyRow};

use super::recurrence::{Occurrence, Series};
use crate::{
    auth::Actor,
    db::{DbError, parse_timestamp},
};

/// A participant of a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    /// Address (lower-cased).
    pub email: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E.164 phone for WhatsApp notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// needsAction, accepted, declined, tentative (from Google).
    #[serde(default = "needs_action")]
    pub response_status: String,
}

fn needs_action() -> String {
    "needsAction".into()
}

/// Whether the Google write of a meeting is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteState {
    /// Reserved locally; the Google write is in flight (or its writer died).
    Pending,
    /// In Google and confirmed here.
    Confirmed,
}

impl WriteState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteState::Pending => "pending",
            WriteState::Confirmed => "confirmed",
        }
    }
}

/// Every field of a meeting a person can see change, in the order the change log lists them.
/// CORBI's writes and sync log their changes over this one list, so the log reads the same
/// whoever made the change.
/// Applies `change` to every participant's `phone` in a meeting's JSON.
fn for_each_phone(view: &mut Value, mut change: impl FnMut(&mut Value)) {
    let Some(participants) = view["participants"].as_array_mut() else {
        return;
    };
    for phone in participants.iter_mut().filter_map(|p| p.get_mut("phone")) {
        change(phone);
    }
}

fn phone_hash(number: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(number.as_bytes()));
    format!("sha256:{}", &digest[..12])
}

const VISIBLE_FIELDS: [&str; 12] = [
    "title",
    "description",
    "start",
    "end",
    "time_zone",
    "participants",
    "resource_id",
    "location",
    "meeting_link",
    "recurrence",
    "status",
    "cancel_reason",
];

/// A meeting row.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    /// Id (also the Google event id, without dashes).
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The room or device booked.
    pub resource_id: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Start (first occurrence of a series).
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// The meeting's IANA zone.
    pub time_zone: String,
    /// Life-cycle status.
    pub status: MeetingStatus,
    /// Google write state.
    pub write_state: WriteState,
    /// AI or HUMAN.
    pub created_by_type: CreatedByType,
    /// User id or API key id.
    pub created_by: String,
    /// CORBI or EXTERNAL.
    pub source: Source,
    /// Organizer address.
    pub organizer_email: Option<String>,
    /// Participants.
    pub participants: Vec<Participant>,
    /// Location.
    pub location: Option<String>,
    /// Meeting link.
    pub meeting_link: Option<String>,
    /// RRULE lines, for a series.
    pub recurrence: Option<Vec<String>>,
    /// End of the series' last occurrence (None: open-ended or not recurring).
    pub series_end: Option<DateTime<Utc>>,
    /// Caller's metadata.
    pub metadata: Value,
    /// The Google calendar it lives in.
    pub calendar_id: String,
    /// Which connection writes that calendar (`tenant` or `user:<id>`).
    pub connection_owner: String,
    /// Google event id.
    pub google_event_id: String,
    /// Google etag.
    pub etag: Option<String>,
    /// iCalendar UID.
    pub ical_uid: Option<String>,
    /// Google sequence.
    pub sequence: i64,
    /// Google's `updated`.
    pub google_updated: Option<String>,
    /// When someone checked in.
    pub checked_in_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Last time sync confirmed it against Google.
    pub last_sync_time: Option<DateTime<Utc>>,
}

fn time(row: &AnyRow, column: &str) -> Result<DateTime<Utc>, DbError> {
    let text: String = row.try_get(column)?;
    parse_timestamp(&text)
}

fn optional_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, DbError> {
    let text: Option<String> = row.try_get(column)?;
    text.as_deref().map(parse_timestamp).transpose()
}

fn decode_error(what: &str) -> DbError {
    DbError::Other(sqlx::Error::Decode(
        format!("unreadable meeting {what}").into(),
    ))
}

impl Meeting {
    /// Reads a row selected with [`COLUMNS`].
    pub fn from_row(row: &AnyRow) -> Result<Meeting, DbError> {
        let status: String = row.try_get("status")?;
        let write_state: String = row.try_get("write_state")?;
        let created_by_type: String = row.try_get("created_by_type")?;
        let source: String = row.try_get("source")?;
        let participants: String = row.try_get("participants")?;
        let recurrence: Option<String> = row.try_get("recurrence")?;
        let metadata: String = row.try_get("metadata")?;
        Ok(Meeting {
            id: row.try_get("id")?,
            tenant_id: row.try_get("tenant_id")?,
            resource_id: row.try_get("resource_id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            start: time(row, "start_at")?,
            end: time(row, "end_at")?,
            time_zone: row.try_get("time_zone")?,
            status: MeetingStatus::parse(&status).ok_or_else(|| decode_error("status"))?,
            write_state: if write_state == "pending" {
                WriteState::Pending
            } else {
                WriteState::Confirmed
            },
            created_by_type: CreatedByType::parse(&created_by_type)
                .ok_or_else(|| decode_error("creator type"))?,
            created_by: row.try_get("created_by")?,
            source: Source::parse(&source).ok_or_else(|| decode_error("source"))?,
            organizer_email: row.try_get("organizer_email")?,
            participants: serde_json::from_str(&participants)
                .map_err(|_| decode_error("participants"))?,
            location: row.try_get("location")?,
            meeting_link: row.try_get("meeting_link")?,
            recurrence: recurrence
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(|_| decode_error("recurrence"))?,
            series_end: optional_time(row, "series_end_at")?,
            metadata: serde_json::from_str(&metadata).map_err(|_| decode_error("metadata"))?,
            calendar_id: row.try_get("calendar_id")?,
            connection_owner: row.try_get("connection_owner")?,
            google_event_id: row.try_get("google_event_id")?,
            etag: row.try_get("etag")?,
            ical_uid: row.try_get("ical_uid")?,
            sequence: row.try_get("sequence")?,
            google_updated: row.try_get("google_updated")?,
            checked_in_at: optional_time(row, "checked_in_at")?,
            cancel_reason: row.try_get("cancel_reason")?,
            created_at: time(row, "created_at")?,
            updated_at: time(row, "updated_at")?,
            last_sync_time: optional_time(row, "last_sync_time")?,
        })
    }

    /// The meeting's zone (UTC when the stored name is unknown, which validation prevents).
    pub fn zone(&self) -> Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// Its series (a single occurrence when it does not recur).
    pub fn series(&self) -> Series<'_> {
        Series {
            start: self.start,
            duration: self.end - self.start,
            zone: self.zone(),
            lines: self.recurrence.as_deref().unwrap_or_default(),
        }
    }

    /// Its occurrences overlapping `[from, to)` (its first only, when its lines cannot be
    /// expanded).
    pub fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Occurrence> {
        self.series().between(from, to, 10_000)
    }

    /// The end of a series' last occurrence, kept beside the row for range queries (None for
    /// a single meeting, and for a series that runs past the horizon).
    pub fn computed_series_end(&self) -> Option<DateTime<Utc>> {
        self.recurrence.as_ref()?;
        self.series().last_end()
    }

    /// The visible fields that differ from `after`, as `{field: {"from": old, "to": new}}`:
    /// the change log's diff of an update, whoever made it.
    pub fn diff(&self, after: &Meeting) -> Map<String, Value> {
        let (a, b) = (self.logged_view(), after.logged_view());
        VISIBLE_FIELDS
            .iter()
            .filter(|field| a[**field] != b[**field])
            .map(|field| {
                (
                    field.to_string(),
                    json!({"from": a[*field], "to": b[*field]}),
                )
            })
            .collect()
    }

    /// Whether it still holds its resource's time (conflicts, availability).
    pub fn holds_slot(&self) -> bool {
        matches!(
            self.status,
            MeetingStatus::Scheduled | MeetingStatus::Attended
        )
    }

    /// The meeting as `actor` may see it: participants' phone numbers go only to admins and to
    /// the person who booked it, never to AI keys or devices (they need no number to act).
    pub fn view_for(&self, actor: &Actor) -> Value {
        json!(super::view::MeetingView::for_actor(self, actor))
    }

    /// The meeting as the change log keeps it: a phone number becomes a short hash, so the log
    /// still shows that it changed without keeping the number.
    fn logged_view(&self) -> Value {
        let mut view = self.view();
        for_each_phone(&mut view, |phone| {
            if let Some(number) = phone.as_str() {
                *phone = Value::String(phone_hash(number));
            }
        });
        view
    }

    /// The API's JSON of the meeting (docs/API.md, "Meetings"), whole; callers answering a
    /// request use [`Meeting::view_for`].
    pub fn view(&self) -> Value {
        json!(super::view::MeetingView::from(self))
    }
}

/// The Google event id of a meeting: its UUID without dashes (Google accepts base32hex ids,
/// and hex digits are a subset), so a retried insert or a recovery finds it by id.
pub fn event_id_for(meeting_id: &str) -> String {
    meeting_id.replace('-', "")
}
