//! The parts of Calendar v3 resources CORBI reads and writes, named as in the discovery
//! document. Unknown fields are ignored on read; absent options are not sent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Calendar` (calendars.get / insert).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    /// Calendar id (an address for primary calendars).
    pub id: Option<String>,
    /// Title.
    pub summary: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// IANA zone.
    pub time_zone: Option<String>,
}

/// An entry of `calendarList.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CalendarListEntry {
    /// Calendar id.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub summary: Option<String>,
    /// The caller's role: owner, writer, reader, freeBusyReader.
    #[serde(default)]
    pub access_role: Option<String>,
    /// IANA zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether it is the account's primary calendar.
    #[serde(default)]
    pub primary: Option<bool>,
}

/// A page of `calendarList.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarListPage {
    /// Entries.
    #[serde(default)]
    pub items: Vec<CalendarListEntry>,
    /// Next page, if any.
    pub next_page_token: Option<String>,
}

/// A start or end time: `dateTime` (+ `timeZone`) for timed events, `date` for all-day ones.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventDateTime {
    /// RFC 3339 time.
    pub date_time: Option<String>,
    /// `yyyy-mm-dd` for all-day events.
    pub date: Option<String>,
    /// IANA zone.
    pub time_zone: Option<String>,
}

/// An attendee.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    /// Address.
    pub email: String,
    /// Name.
    pub display_name: Option<String>,
    /// needsAction, declined, tentative, accepted.
    pub response_status: Option<String>,
    /// Whether this attendee is a resource (room).
    pub resource: Option<bool>,
}

/// `extendedProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExtendedProperties {
    /// Visible to this calendar's copy only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub private: BTreeMap<String, String>,
    /// Visible to every attendee's copy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shared: BTreeMap<String, String>,
}

/// A person on an event (organizer, creator).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventPerson {
    /// Address.
    pub email: Option<String>,
    /// Name.
    pub display_name: Option<String>,
}

/// `Event`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Event id.
    pub id: Option<String>,
    /// confirmed, tentative, cancelled.
    pub status: Option<String>,
    /// Title.
    pub summary: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Start.
    pub start: Option<EventDateTime>,
    /// End (exclusive).
    pub end: Option<EventDateTime>,
    /// RRULE, EXRULE, RDATE and EXDATE lines.
    pub recurrence: Option<Vec<String>>,
    /// The master's id, on an instance of a recurring event.
    pub recurring_event_id: Option<String>,
    /// The instance's original start, on an exception.
    pub original_start_time: Option<EventDateTime>,
    /// Attendees.
    pub attendees: Option<Vec<Attendee>>,
    /// Organizer.
    pub organizer: Option<EventPerson>,
    /// Creator.
    pub creator: Option<EventPerson>,
    /// CORBI's own markers.
    pub extended_properties: Option<ExtendedProperties>,
    /// Google Meet link.
    pub hangout_link: Option<String>,
    /// ETag.
    pub etag: Option<String>,
    /// iCalendar UID.
    #[serde(rename = "iCalUID")]
    pub ical_uid: Option<String>,
    /// Sequence number.
    pub sequence: Option<i64>,
    /// Last modification time.
    pub updated: Option<String>,
    /// Creation time.
    pub created: Option<String>,
    /// opaque (busy) or transparent (free).
    pub transparency: Option<String>,
}

/// A page of `events.list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    /// Events.
    #[serde(default)]
    pub items: Vec<Event>,
    /// Next page, if any.
    pub next_page_token: Option<String>,
    /// On the last page: the token of the next incremental sync.
    pub next_sync_token: Option<String>,
}

/// A busy interval of `freebusy.query`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BusyInterval {
    /// Start (RFC 3339).
    pub start: String,
    /// End (RFC 3339, exclusive).
    pub end: String,
}

/// One calendar's part of a `freebusy.query` answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FreeBusyCalendar {
    /// Busy intervals.
    #[serde(default)]
    pub busy: Vec<BusyInterval>,
    /// Why the calendar could not be read, if it could not.
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// The `freebusy.query` answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FreeBusy {
    /// By calendar id.
    #[serde(default)]
    pub calendars: BTreeMap<String, FreeBusyCalendar>,
}

/// A push channel (`events.watch` answer, `channels.stop` body).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Our channel id.
    pub id: Option<String>,
    /// Google's id of the watched resource.
    pub resource_id: Option<String>,
    /// The watched resource's URI.
    pub resource_uri: Option<String>,
    /// Our per-channel secret, echoed in notifications.
    pub token: Option<String>,
    /// Expiry in ms since the epoch, as a string.
    pub expiration: Option<String>,
    /// `web_hook`.
    #[serde(rename = "type")]
    pub kind_of_delivery: Option<String>,
    /// Where notifications go.
    pub address: Option<String>,
}
