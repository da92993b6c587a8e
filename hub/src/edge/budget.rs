//! Keeps a schedule snapshot within a size budget, so it always fits the broker's packet limit
//! (a dense series with long titles could otherwise make a packet the hub's client refuses,
//! dropping its connection and every queued publish). What gives way, in order: the last days
//! (down to today only), then the length of titles and organizer names (64, 32, 16 characters,
//! then none), then the latest meetings of today.

use chrono::{DateTime, Duration, Utc};
use shared::protocol::{self, Message, ScheduleSnapshot};

/// Title lengths tried, in characters, before meetings themselves are left out.
const TITLE_STEPS: [usize; 4] = [64, 32, 16, 0];

/// The encoded size of a snapshot message.
pub fn encoded_len(snapshot: &ScheduleSnapshot) -> usize {
    protocol::encode(&Message::ScheduleSnapshot(snapshot.clone())).len()
}

/// `snapshot` (covering `days` days after the one starting at `from`) cut down to at most
/// `budget` encoded bytes.
pub fn fit(
    mut snapshot: ScheduleSnapshot,
    budget: usize,
    from: DateTime<Utc>,
    days: u32,
) -> ScheduleSnapshot {
    if encoded_len(&snapshot) <= budget {
        return snapshot;
    }
    for keep in (0..days).rev() {
        let end = (from + Duration::days(i64::from(keep) + 1)).timestamp_millis();
        snapshot.meetings.retain(|m| m.start_ms < end);
        if encoded_len(&snapshot) <= budget {
            return snapshot;
        }
    }
    for chars in TITLE_STEPS {
        for meeting in &mut snapshot.meetings {
            shorten(&mut meeting.title, chars);
            shorten(&mut meeting.organizer_name, chars);
        }
        if encoded_len(&snapshot) <= budget {
            return snapshot;
        }
    }
    while encoded_len(&snapshot) > budget && snapshot.meetings.pop().is_some() {}
    snapshot
}

/// Cuts `text` to `chars` characters, marking the cut with an ellipsis.
fn shorten(text: &mut String, chars: usize) {
    if text.chars().count() <= chars {
        return;
    }
    let mut cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    if chars > 0 {
        cut.push('…');
    }
    *text = cut;
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{
        ResourceKind,
        protocol::{SnapshotMeeting, SnapshotStatus},
    };

    fn snapshot(from: DateTime<Utc>, days: i64, per_day: i64, title: &str) -> ScheduleSnapshot {
        let meetings = (0..=days)
            .flat_map(|day| (0..per_day).map(move |n| (day, n)))
            .map(|(day, n)| {
                let start = from + Duration::days(day) + Duration::minutes(n * 15);
                SnapshotMeeting {
                    id: format!("m{day}-{n}"),
                    title: title.to_string(),
                    organizer_name: "Ana".into(),
                    start_ms: start.timestamp_millis(),
                    end_ms: (start + Duration::minutes(15)).timestamp_millis(),
                    status: SnapshotStatus::Scheduled,
                    checked_in: false,
                }
            })
            .collect();
        ScheduleSnapshot {
            resource_id: "r".into(),
            name: "Atlas".into(),
            kind: ResourceKind::Room,
            capacity: None,
            time_zone: "UTC".into(),
            version: 1,
            generated_at: 0,
            check_in_opens_minutes_before: 15,
            check_in_closes_minutes_after: 10,
            meetings,
        }
    }

    #[test]
    fn days_go_first_then_title_length_then_meetings() {
        let from = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let long = "Quarterly planning with the whole regional team ".repeat(5);
        let full = snapshot(from, 7, 20, &long);
        assert!(encoded_len(&full) > 20_000);

        let fewer_days = fit(full.clone(), encoded_len(&full) / 3, from, 7);
        assert!(encoded_len(&fewer_days) <= encoded_len(&full) / 3);
        assert!(fewer_days.meetings.iter().all(|m| m.title == long));
        assert!(fewer_days.meetings.len() >= 20, "today is kept whole");

        let today_only = snapshot(from, 0, 20, &long);
        let shorter = fit(full.clone(), encoded_len(&today_only) / 2, from, 7);
        assert_eq!(shorter.meetings.len(), 20);
        assert!(
            shorter
                .meetings
                .iter()
                .all(|m| m.title.chars().count() <= 64)
        );
        assert!(shorter.meetings[0].title.ends_with('…'));

        let tiny = fit(full, 300, from, 7);
        assert!(encoded_len(&tiny) <= 300);
        assert!(!tiny.meetings.is_empty() && tiny.meetings.len() < 20);
        assert_eq!(tiny.meetings[0].id, "m0-0", "the earliest meetings stay");
    }
}
