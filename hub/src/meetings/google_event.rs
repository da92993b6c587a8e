//! A meeting as Google's event and back: the event CORBI writes (with the private markers
//! that let sync recognise it), the facts CORBI keeps of Google's answer, and the fields of an
//! event as a meeting holds them.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{
    model::{Meeting, Participant},
    store::GoogleFacts,
};
use crate::{
    google::types::{Attendee, Event, EventDateTime, ExtendedProperties},
    text::parse_rfc3339,
};

pub(super) fn send_updates(meeting: &Meeting) -> &'static str {
    if meeting.participants.is_empty() {
        "none"
    } else {
        "all"
    }
}

fn event_time(at: DateTime<Utc>, zone: Tz) -> EventDateTime {
    EventDateTime {
        date_time: Some(at.with_timezone(&zone).to_rfc3339()),
        date: None,
        time_zone: Some(zone.name().to_string()),
    }
}

/// The Google event of a meeting; `with_id` for inserts (the id is derived from the meeting's).
pub(super) fn event_body(meeting: &Meeting, with_id: bool) -> Event {
    let zone = meeting.zone();
    let mut private = std::collections::BTreeMap::new();
    private.insert("corbi_meeting_id".to_string(), meeting.id.clone());
    private.insert("corbi_tenant_id".to_string(), meeting.tenant_id.clone());
    private.insert(
        "corbi_created_by_type".to_string(),
        meeting.created_by_type.as_str().to_string(),
    );
    if let Some(link) = &meeting.meeting_link {
        private.insert("corbi_meeting_link".to_string(), link.clone());
    }
    Event {
        id: with_id.then(|| meeting.google_event_id.clone()),
        summary: Some(meeting.title.clone()),
        description: meeting.description.clone(),
        location: meeting.location.clone(),
        start: Some(event_time(meeting.start, zone)),
        end: Some(event_time(meeting.end, zone)),
        recurrence: meeting.recurrence.clone(),
        attendees: Some(
            meeting
                .participants
                .iter()
                .map(|p| Attendee {
                    email: p.email.clone(),
                    display_name: p.name.clone(),
                    response_status: None,
                    resource: None,
                })
                .collect(),
        ),
        extended_properties: Some(ExtendedProperties {
            private,
            shared: Default::default(),
        }),
        ..Event::default()
    }
}

/// What CORBI keeps of Google's answer.
pub fn facts(event: &Event) -> GoogleFacts {
    GoogleFacts {
        etag: event.etag.clone(),
        ical_uid: event.ical_uid.clone(),
        sequence: event.sequence.unwrap_or(0),
        updated: event.updated.clone(),
        organizer_email: event.organizer.as_ref().and_then(|o| o.email.clone()),
        hangout_link: event.hangout_link.clone(),
        responses: event
            .attendees
            .iter()
            .flatten()
            .map(|a| {
                (
                    a.email.to_ascii_lowercase(),
                    a.response_status
                        .clone()
                        .unwrap_or_else(|| "needsAction".into()),
                )
            })
            .collect(),
    }
}

pub(super) fn apply_facts(meeting: &mut Meeting, facts: &GoogleFacts) {
    meeting.etag = facts.etag.clone();
    meeting.sequence = facts.sequence;
    meeting.google_updated = facts.updated.clone();
    for participant in &mut meeting.participants {
        if let Some((_, status)) = facts
            .responses
            .iter()
            .find(|(email, _)| *email == participant.email)
        {
            participant.response_status = status.clone();
        }
    }
}

/// Takes Google's facts (etag, sequence, updated) of a listed event.
pub fn set_facts(meeting: &mut Meeting, event: &Event) {
    meeting.etag = event.etag.clone();
    meeting.sequence = event.sequence.unwrap_or(meeting.sequence);
    if event.updated.is_some() {
        meeting.google_updated = event.updated.clone();
    }
}

/// An event's own fields, as a meeting holds them.
pub struct Fields {
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) location: Option<String>,
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    pub(super) time_zone: String,
    pub(super) attendees: Vec<Participant>,
    pub(super) recurrence: Option<Vec<String>>,
}

impl Fields {
    /// Reads an event's fields; None when it has no readable start or end.
    pub fn of(event: &Event, fallback_zone: &str) -> Option<Fields> {
        let zone_name = event
            .start
            .as_ref()
            .and_then(|s| s.time_zone.clone())
            .unwrap_or_else(|| fallback_zone.to_string());
        let zone: Tz = zone_name.parse().unwrap_or(chrono_tz::UTC);
        let start = instant(event.start.as_ref()?, zone)?;
        let end = instant(event.end.as_ref()?, zone)?;
        let attendees = event
            .attendees
            .iter()
            .flatten()
            .filter(|a| a.resource != Some(true))
            .map(|a| Participant {
                email: a.email.to_ascii_lowercase(),
                name: a.display_name.clone(),
                phone: None,
                response_status: a
                    .response_status
                    .clone()
                    .unwrap_or_else(|| "needsAction".into()),
            })
            .collect();
        Some(Fields {
            title: event.summary.clone().unwrap_or_default(),
            description: event.description.clone(),
            location: event.location.clone(),
            start,
            end,
            time_zone: zone.name().to_string(),
            attendees,
            recurrence: event.recurrence.clone().filter(|r| !r.is_empty()),
        })
    }

    /// Sets the meeting's fields to the event's (keeping phones and names Google does not
    /// carry, and the EXDATE lines sync added).
    pub fn apply_to(self, meeting: &mut Meeting) {
        let previous = std::mem::take(&mut meeting.participants);
        meeting.participants = self
            .attendees
            .into_iter()
            .map(|mut p| {
                if let Some(old) = previous.iter().find(|o| o.email == p.email) {
                    p.phone.clone_from(&old.phone);
                    if p.name.is_none() {
                        p.name.clone_from(&old.name);
                    }
                }
                p
            })
            .collect();
        meeting.title = self.title;
        meeting.description = self.description;
        meeting.location = self.location;
        meeting.start = self.start;
        meeting.end = self.end;
        meeting.time_zone = self.time_zone;
        meeting.recurrence = merge_recurrence(self.recurrence, meeting.recurrence.as_deref());
        meeting.series_end = meeting.computed_series_end();
    }
}

/// Google's lines plus the EXDATE lines sync added for exceptions (Google keeps those apart).
fn merge_recurrence(google: Option<Vec<String>>, local: Option<&[String]>) -> Option<Vec<String>> {
    let mut lines = google?;
    for line in local.unwrap_or_default() {
        if line.starts_with("EXDATE") && !lines.contains(line) {
            lines.push(line.clone());
        }
    }
    Some(lines)
}

/// The instant of an event time: its date-time, or the start of its all-day date in `zone`.
pub fn instant(at: &EventDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    if let Some(text) = &at.date_time {
        return parse_rfc3339(text);
    }
    let day = NaiveDate::parse_from_str(at.date.as_deref()?, "%Y-%m-%d").ok()?;
    zone.from_local_datetime(&day.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}
