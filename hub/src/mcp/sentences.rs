//! The spoken summary of each tool result: short, no ids and no JSON, times in the meeting's
//! (or the asked) zone with weekday and date, and where it helps, the next step. The agent
//! reads the structured result for ids; it can say these sentences as they are.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::{MeetingStatus, ResourceKind};

use crate::{
    meetings::{model::Meeting, recurrence::Occurrence},
    resources::Resource,
};

/// "Tuesday, 1 December 2026 from 10:00 to 11:00 (Europe/Berlin time)".
pub fn when(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> String {
    let (s, e) = (start.with_timezone(&zone), end.with_timezone(&zone));
    let end_text = if s.date_naive() == e.date_naive() {
        e.format("%H:%M").to_string()
    } else {
        e.format("%A, %-d %B at %H:%M").to_string()
    };
    format!(
        "{} from {} to {end_text} ({zone} time)",
        s.format("%A, %-d %B %Y"),
        s.format("%H:%M"),
    )
}

fn zone_of(meeting: &Meeting) -> Tz {
    meeting.time_zone.parse().unwrap_or(chrono_tz::UTC)
}

fn place(room: Option<&Resource>) -> String {
    room.map(|r| format!(" in {}", r.name)).unwrap_or_default()
}

/// After a booking.
pub fn booked(meeting: &Meeting, room: Option<&Resource>, first_time: bool) -> String {
    let verb = if first_time {
        "Booked"
    } else {
        "This was already booked:"
    };
    format!(
        "{verb} \"{}\"{} on {}.",
        meeting.title,
        place(room),
        when(meeting.start, meeting.end, zone_of(meeting))
    )
}

/// After a reschedule.
pub fn rescheduled(meeting: &Meeting, room: Option<&Resource>) -> String {
    format!(
        "Moved \"{}\"{} to {}.",
        meeting.title,
        place(room),
        when(meeting.start, meeting.end, zone_of(meeting))
    )
}

/// After a cancellation.
pub fn cancelled(meeting: &Meeting) -> String {
    format!(
        "Cancelled \"{}\" on {}. The participants are told.",
        meeting.title,
        when(meeting.start, meeting.end, zone_of(meeting))
    )
}

fn status_words(status: MeetingStatus) -> &'static str {
    match status {
        MeetingStatus::Scheduled => "is scheduled",
        MeetingStatus::Attended => "took place",
        MeetingStatus::NoShow => "was missed",
        MeetingStatus::Cancelled => "was cancelled",
    }
}

/// One meeting read back.
pub fn meeting(meeting: &Meeting, room: Option<&Resource>) -> String {
    format!(
        "\"{}\"{} {} for {}.",
        meeting.title,
        place(room),
        status_words(meeting.status),
        when(meeting.start, meeting.end, zone_of(meeting))
    )
}

/// A list of meetings (the first five named).
pub fn meetings(list: &[Meeting], more: bool) -> String {
    if list.is_empty() {
        return "There are no meetings that match.".into();
    }
    let named: Vec<String> = list
        .iter()
        .take(5)
        .map(|m| format!("\"{}\" on {}", m.title, when(m.start, m.end, zone_of(m))))
        .collect();
    let count = if more || list.len() > 5 {
        format!("{} or more meetings", list.len())
    } else if list.len() == 1 {
        "one meeting".into()
    } else {
        format!("{} meetings", list.len())
    };
    format!("I found {count}: {}.", named.join("; "))
}

fn same_day(a: DateTime<Utc>, b: DateTime<Utc>, zone: Tz) -> bool {
    a.with_timezone(&zone).date_naive() == b.with_timezone(&zone).date_naive()
}

/// Free slots found, in the asked zone.
pub fn slots(found: &[Occurrence], zone: Tz) -> String {
    match found {
        [] => "There is no free slot of that length in the range. Try a longer range, a shorter meeting or another room.".into(),
        [one] => format!("The one free slot is {}.", when(one.start, one.end, zone)),
        [first, ..] if found.iter().all(|s| same_day(first.start, s.end, zone)) => {
            let times: Vec<String> = found
                .iter()
                .map(|s| {
                    format!(
                        "{} to {}",
                        s.start.with_timezone(&zone).format("%H:%M"),
                        s.end.with_timezone(&zone).format("%H:%M")
                    )
                })
                .collect();
            format!(
                "On {}, the earliest free slots are {} ({zone} time).",
                first.start.with_timezone(&zone).format("%A, %-d %B %Y"),
                times.join(", ")
            )
        }
        many => {
            let named: Vec<String> = many.iter().map(|s| when(s.start, s.end, zone)).collect();
            format!("The earliest free slots are {}.", named.join("; "))
        }
    }
}

fn seats(resource: &Resource) -> String {
    match resource.capacity {
        Some(n) => format!("{} ({n} seats)", resource.name),
        None => resource.name.clone(),
    }
}

/// Rooms free for a whole range.
pub fn free_rooms(rooms: &[Resource], from: DateTime<Utc>, to: DateTime<Utc>, zone: Tz) -> String {
    let range = when(from, to, zone);
    if rooms.is_empty() {
        return format!("No room is free on {range}. Try another time or fewer seats.");
    }
    let names: Vec<String> = rooms.iter().map(seats).collect();
    format!("Free on {range}: {}.", names.join(", "))
}

/// The rooms and devices of the tenant.
pub fn resources(list: &[Resource]) -> String {
    let rooms: Vec<String> = list
        .iter()
        .filter(|r| r.kind == ResourceKind::Room && r.enabled)
        .map(seats)
        .collect();
    let devices: Vec<String> = list
        .iter()
        .filter(|r| r.kind == ResourceKind::Device && r.enabled)
        .map(|r| r.name.clone())
        .collect();
    match (rooms.is_empty(), devices.is_empty()) {
        (true, true) => "There are no bookable rooms or devices yet.".into(),
        (false, true) => format!("The rooms are {}.", rooms.join(", ")),
        (true, false) => format!("The bookable devices are {}.", devices.join(", ")),
        (false, false) => format!(
            "The rooms are {}. The bookable devices are {}.",
            rooms.join(", "),
            devices.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_are_said_in_the_zone_with_weekday_and_date() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap();
        assert_eq!(
            when(start, end, chrono_tz::Europe::Berlin),
            "Tuesday, 1 December 2026 from 10:00 to 11:30 (Europe/Berlin time)"
        );
        let late = Utc.with_ymd_and_hms(2026, 12, 1, 23, 30, 0).unwrap();
        assert_eq!(
            when(start, late, chrono_tz::Europe::Berlin),
            "Tuesday, 1 December 2026 from 10:00 to Wednesday, 2 December at 00:30 (Europe/Berlin time)"
        );
    }
}
