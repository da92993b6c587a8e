//! Request bodies of the meeting endpoints and their validation. Malformed fields answer
//! VALIDATION_FAILED naming each field; times that cannot be booked answer INVALID_SLOT with a
//! sentence that says what to do instead.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{MeetingError, model::Participant, recurrence::Series};
use crate::{auth::store::normalize_email, error::FieldError, text::is_e164};

/// The most participants one meeting may have.
pub const MAX_PARTICIPANTS: usize = 100;
/// The longest a single meeting may last.
const MAX_DURATION_HOURS: i64 = 24;

/// A participant as sent by a client.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantInput {
    /// Address.
    pub email: String,
    /// Name.
    pub name: Option<String>,
    /// E.164 phone number, for WhatsApp notices.
    pub phone: Option<String>,
}

/// Body of `POST /api/v1/calendar/events`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMeeting {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Start, RFC 3339 with any offset.
    pub start: String,
    /// End, RFC 3339 with any offset; after start.
    pub end: String,
    /// IANA zone (defaults to the tenant's).
    pub time_zone: Option<String>,
    /// Participants.
    #[serde(default)]
    pub participants: Vec<ParticipantInput>,
    /// The room or device to book.
    pub resource_id: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Link to an online meeting.
    pub meeting_link: Option<String>,
    /// RRULE / EXDATE / RDATE lines.
    pub recurrence: Option<Vec<String>>,
    /// Caller's data, kept as given.
    pub metadata: Option<Value>,
}

/// Body of `PATCH /api/v1/calendar/events/{id}`: fields left out keep their value; `null`
/// clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingPatch {
    /// Title.
    pub title: Option<String>,
    /// Description (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Start.
    pub start: Option<String>,
    /// End.
    pub end: Option<String>,
    /// IANA zone.
    pub time_zone: Option<String>,
    /// Participants (replaces the list).
    pub participants: Option<Vec<ParticipantInput>>,
    /// Room or device (`null` removes it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub resource_id: Option<Option<String>>,
    /// Location (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// Meeting link (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub meeting_link: Option<Option<String>>,
}

/// Tells "absent" (None) from "null" (Some(None)).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Validated fields of a meeting to write.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Zone.
    pub zone: Tz,
    /// Participants.
    pub participants: Vec<Participant>,
    /// Resource.
    pub resource_id: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Meeting link.
    pub meeting_link: Option<String>,
    /// Recurrence lines.
    pub recurrence: Option<Vec<String>>,
    /// Metadata.
    pub metadata: Value,
}

impl Draft {
    /// The series this draft describes (a single occurrence when not recurring).
    pub fn series(&self) -> Series<'_> {
        Series {
            start: self.start,
            duration: self.end - self.start,
            zone: self.zone,
            lines: self.recurrence.as_deref().unwrap_or_default(),
        }
    }
}

/// Collects field problems, then the slot problems.
#[derive(Default)]
pub struct Checker {
    problems: Vec<FieldError>,
}

impl Checker {
    fn push(&mut self, field: &str, problem: &str) {
        self.problems.push(FieldError::new(field, problem));
    }

    fn text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
        required: bool,
    ) -> Option<String> {
        let trimmed = value.map(str::trim).filter(|v| !v.is_empty());
        match trimmed {
            None if required => {
                self.push(field, "must not be empty");
                None
            }
            Some(v) if v.chars().count() > max => {
                self.push(field, &format!("keep it under {max} characters"));
                None
            }
            other => other.map(str::to_string),
        }
    }

    fn time(&mut self, field: &str, value: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(value.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.push(
                    field,
                    "use RFC 3339 with an offset, like 2026-12-01T10:00:00+01:00",
                );
                None
            }
        }
    }

    fn participants(&mut self, list: &[ParticipantInput]) -> Vec<Participant> {
        if list.len() > MAX_PARTICIPANTS {
            self.push(
                "participants",
                &format!("at most {MAX_PARTICIPANTS} participants"),
            );
            return Vec::new();
        }
        let mut out: Vec<Participant> = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let Ok(email) = normalize_email(&p.email) else {
                self.push(&format!("participants[{i}].email"), "not an email address");
                continue;
            };
            if p.phone.as_deref().is_some_and(|phone| !is_e164(phone)) {
                self.push(
                    &format!("participants[{i}].phone"),
                    "use E.164, like +4915112345678",
                );
            }
            if p.name.as_deref().is_some_and(|n| n.chars().count() > 200) {
                self.push(
                    &format!("participants[{i}].name"),
                    "keep it under 200 characters",
                );
            }
            if out.iter().all(|known| known.email != email) {
                out.push(Participant {
                    email,
                    name: p.name.clone().filter(|n| !n.trim().is_empty()),
                    phone: p.phone.clone(),
                    response_status: "needsAction".into(),
                });
            }
        }
        out
    }

    fn link(&mut self, value: Option<&str>) -> Option<String> {
        let link = self.text("meeting_link", value, 2048, false)?;
        let ok = url::Url::parse(&link).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if ok {
            Some(link)
        } else {
            self.push("meeting_link", "use an http or https URL");
            None
        }
    }

    fn metadata(&mut self, value: Option<Value>) -> Value {
        match value {
            None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
            Some(Value::Object(map)) if Value::Object(map.clone()).to_string().len() <= 8192 => {
                Value::Object(map)
            }
            Some(Value::Object(_)) => {
                self.push("metadata", "keep it under 8 KB");
                Value::Null
            }
            Some(_) => {
                self.push("metadata", "must be a JSON object");
                Value::Null
            }
        }
    }

    fn finish(self) -> Result<(), MeetingError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(MeetingError::Invalid(self.problems))
        }
    }
}

/// Reads an IANA zone, or refuses with a speakable sentence.
pub fn zone(name: &str) -> Result<Tz, MeetingError> {
    name.parse::<Tz>().map_err(|_| {
        MeetingError::InvalidSlot(format!(
            "I don't know the time zone {name}. Please use a name like Europe/Berlin or America/New_York."
        ))
    })
}

/// Validates a new meeting; `default_zone` is the tenant's.
pub fn new_meeting(
    input: NewMeeting,
    default_zone: &str,
    now: DateTime<Utc>,
) -> Result<Draft, MeetingError> {
    let mut check = Checker::default();
    let title = check.text("title", Some(&input.title), 300, true);
    let description = check.text("description", input.description.as_deref(), 8000, false);
    let location = check.text("location", input.location.as_deref(), 500, false);
    let start = check.time("start", &input.start);
    let end = check.time("end", &input.end);
    let participants = check.participants(&input.participants);
    let meeting_link = check.link(input.meeting_link.as_deref());
    let metadata = check.metadata(input.metadata);
    if input.recurrence.as_ref().is_some_and(|r| r.len() > 10) {
        check.push("recurrence", "at most 10 lines");
    }
    let resource_id = input.resource_id.filter(|r| !r.trim().is_empty());
    check.finish()?;
    let (Some(title), Some(start), Some(end)) = (title, start, end) else {
        return Err(MeetingError::Invalid(vec![FieldError::new(
            "body",
            "incomplete",
        )]));
    };
    let zone = zone(input.time_zone.as_deref().unwrap_or(default_zone))?;
    let draft = Draft {
        title,
        description,
        start,
        end,
        zone,
        participants,
        resource_id,
        location,
        meeting_link,
        recurrence: input.recurrence.filter(|r| !r.is_empty()),
        metadata,
    };
    check_slot(&draft, now)?;
    Ok(draft)
}

/// Applies a patch onto the current fields and validates the result. `times_changed` tells
/// whether the slot moved (only then is "in the past" checked).
pub fn patched(
    current: Draft,
    patch: MeetingPatch,
    now: DateTime<Utc>,
) -> Result<(Draft, bool), MeetingError> {
    let mut check = Checker::default();
    let title = match patch.title.as_deref() {
        Some(t) => check.text("title", Some(t), 300, true),
        None => Some(current.title.clone()),
    };
    let description = match patch.description {
        Some(d) => check.text("description", d.as_deref(), 8000, false),
        None => current.description.clone(),
    };
    let location = match patch.location {
        Some(l) => check.text("location", l.as_deref(), 500, false),
        None => current.location.clone(),
    };
    let meeting_link = match patch.meeting_link {
        Some(l) => check.link(l.as_deref()),
        None => current.meeting_link.clone(),
    };
    let start = patch
        .start
        .as_deref()
        .map_or(Some(current.start), |s| check.time("start", s));
    let end = patch
        .end
        .as_deref()
        .map_or(Some(current.end), |e| check.time("end", e));
    let participants = match &patch.participants {
        Some(list) => check.participants(list),
        None => current.participants.clone(),
    };
    check.finish()?;
    let (Some(title), Some(start), Some(end)) = (title, start, end) else {
        return Err(MeetingError::Invalid(vec![FieldError::new(
            "body",
            "incomplete",
        )]));
    };
    let zone = match patch.time_zone.as_deref() {
        Some(name) => zone(name)?,
        None => current.zone,
    };
    let times_changed = start != current.start || end != current.end;
    let resource_id = match patch.resource_id {
        Some(r) => r.filter(|r| !r.trim().is_empty()),
        None => current.resource_id.clone(),
    };
    let draft = Draft {
        title,
        description,
        start,
        end,
        zone,
        participants,
        resource_id,
        location,
        meeting_link,
        ..current
    };
    if times_changed {
        check_slot(&draft, now)?;
    } else if draft.end <= draft.start {
        return Err(MeetingError::InvalidSlot(
            "The meeting must end after it starts.".into(),
        ));
    }
    Ok((draft, times_changed))
}

fn check_slot(draft: &Draft, now: DateTime<Utc>) -> Result<(), MeetingError> {
    if draft.end <= draft.start {
        return Err(MeetingError::InvalidSlot(
            "The meeting must end after it starts. Please check the end time.".into(),
        ));
    }
    if draft.end - draft.start > Duration::hours(MAX_DURATION_HOURS) {
        return Err(MeetingError::InvalidSlot(
            "A meeting can last at most 24 hours. Please book a shorter slot.".into(),
        ));
    }
    if draft.start < now - Duration::minutes(1) {
        return Err(MeetingError::InvalidSlot(
            "That time is already in the past. Please choose a time from now on.".into(),
        ));
    }
    if draft.recurrence.is_some() {
        draft.series().validate()?;
    }
    Ok(())
}
