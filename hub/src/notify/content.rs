//! What a notice says: the meeting's facts in its own time zone, the links into CORBI, the
//! SendGrid template data and the WhatsApp text. Pure functions over a loaded meeting.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::meetings::model::Meeting;

/// Longest title a WhatsApp body quotes (Twilio refuses bodies over 1600 characters).
const MAX_TITLE_CHARS: usize = 200;
/// Longest cancellation reason a WhatsApp body quotes.
const MAX_REASON_CHARS: usize = 500;

/// A change of a meeting, ready to be told to its participants.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The meeting as it is now.
    pub meeting: Meeting,
    /// `CREATED`, `UPDATED`, `RESCHEDULED` or `CANCELLED`.
    pub change_type: String,
    /// The room or device booked, by name.
    pub resource_name: Option<String>,
    /// The hub's public URL, for links.
    pub public_url: String,
}

impl Notice {
    fn zone(&self) -> Tz {
        self.meeting.time_zone.parse().unwrap_or(Tz::UTC)
    }

    /// A time as people read it in the meeting's zone, e.g. `Mon 6 May 2030, 10:00`.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone())
            .format("%a %-d %b %Y, %H:%M")
            .to_string()
    }

    fn local_iso(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone()).to_rfc3339()
    }

    /// The meeting's page in CORBI.
    pub fn meeting_url(&self) -> String {
        format!("{}/meetings/{}", self.public_url, self.meeting.id)
    }

    /// Where a participant goes to book the meeting again.
    pub fn reschedule_url(&self) -> String {
        format!("{}/reschedule", self.meeting_url())
    }

    /// The `dynamic_template_data` of one recipient's SendGrid personalization.
    pub fn template_data(&self, recipient_name: Option<&str>) -> Value {
        let meeting = &self.meeting;
        json!({
            "change_type": self.change_type,
            "title": meeting.title,
            "start": self.local(meeting.start),
            "end": self.local(meeting.end),
            "start_iso": self.local_iso(meeting.start),
            "end_iso": self.local_iso(meeting.end),
            "time_zone": meeting.time_zone,
            "resource": self.resource_name,
            "location": meeting.location,
            "organizer": meeting.organizer_email,
            "meeting_link": meeting.meeting_link,
            "corbi_url": self.meeting_url(),
            "reschedule_url": self.reschedule_url(),
            "cancel_reason": meeting.cancel_reason,
            "recipient_name": recipient_name,
        })
    }

    /// The WhatsApp text: the title, the start in the meeting's zone, what happened (and why,
    /// for a cancellation with a reason) and a link.
    pub fn whatsapp_body(&self) -> String {
        let meeting = &self.meeting;
        let title = clip(&meeting.title, MAX_TITLE_CHARS);
        let when = format!("{} ({})", self.local(meeting.start), meeting.time_zone);
        match self.change_type.as_str() {
            "CANCELLED" => {
                let reason = meeting
                    .cancel_reason
                    .as_deref()
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(|r| format!(" Reason: {}.", clip(r, MAX_REASON_CHARS)))
                    .unwrap_or_default();
                format!(
                    "CORBI: \"{title}\" on {when} was cancelled.{reason} To book it again: {}",
                    self.reschedule_url()
                )
            }
            "RESCHEDULED" => format!(
                "CORBI: \"{title}\" moved to {when}. Details: {}",
                self.meeting_url()
            ),
            "CREATED" => format!(
                "CORBI: you are invited to \"{title}\" on {when}. Details: {}",
                self.meeting_url()
            ),
            _ => format!(
                "CORBI: \"{title}\" on {when} was updated. Details: {}",
                self.meeting_url()
            ),
        }
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        assert_eq!(clip("short", 10), "short");
        let clipped = clip(&"é".repeat(300), 200);
        assert_eq!(clipped.chars().count(), 200);
        assert!(clipped.ends_with('…'));
    }
}
