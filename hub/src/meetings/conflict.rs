//! Conflict detection and its answer: the bookings that clash with any occurrence of a
//! meeting — local ones under the resource's lock, and busy time Google knows that CORBI has
//! not synced yet — and the CONFLICT sentence that names the first clash and proposes the next
//! free slot of the same length.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::{
    MeetingError, Meetings,
    availability::{FREEBUSY_DAYS, SlotQuery, find_free_slots, google_busy},
    model::{Meeting, WriteState},
    recurrence::{Occurrence, Series},
    slots,
    store::{self, Busy},
};
use crate::{
    connections::Connection, db::Tx, resources::Resource, settings::TenantSettings, text::zulu,
};

/// How far ahead the CONFLICT proposal looks for a free slot.
const PROPOSAL_DAYS: i64 = 14;

/// The busy blocks that clash with any occurrence of `series`.
pub fn clashes(series: &Series<'_>, busy: &[Busy]) -> Vec<Busy> {
    let (from, to) = series.span();
    let mine = series.between(from, to, 10_000);
    busy.iter()
        .filter(|b| {
            mine.iter()
                .any(|m| m.start < b.slot.end && b.slot.start < m.end)
        })
        .cloned()
        .collect()
}

/// Takes the resource's lock for the rest of `tx` and finds the local bookings and holds that
/// clash with any occurrence of `meeting` (other than its own); returns the span checked. The
/// caller rolls back before building a CONFLICT answer, so the lock is not held meanwhile.
pub(super) async fn clashes_under_lock(
    state: &Meetings,
    tx: &mut Tx,
    meeting: &Meeting,
    resource: &Resource,
) -> Result<((DateTime<Utc>, DateTime<Utc>), Vec<Busy>), MeetingError> {
    store::lock_resource(tx, state.db.backend(), &meeting.tenant_id, &resource.id).await?;
    let series = meeting.series();
    let (from, to) = series.span();
    let busy = store::busy(
        tx,
        &meeting.tenant_id,
        &resource.id,
        from,
        to,
        Some(&meeting.id),
    )
    .await?;
    Ok(((from, to), clashes(&series, &busy)))
}

/// Busy time Google knows for the resource calendar must not overlap the meeting: it catches
/// bookings made in Google and not yet synced (CORBI's own bookings that overlap were refused
/// by the local check already). `also_mine` are intervals of this meeting Google still shows
/// (its old slot while it is being moved), which do not count.
pub(super) async fn check_google_busy(
    state: &Meetings,
    connection: &Connection,
    meeting: &Meeting,
    resource: &Resource,
    also_mine: &[Occurrence],
    settings: &TenantSettings,
) -> Result<(), MeetingError> {
    let series = meeting.series();
    let (from, to) = series.span();
    let to = to.min(from + Duration::days(FREEBUSY_DAYS));
    let google_busy =
        google_busy(&state.google, connection, &resource.calendar_id, from, to).await?;
    if google_busy.is_empty() {
        return Ok(());
    }
    let external: Vec<Busy> = slots::subtract(&google_busy, also_mine)
        .into_iter()
        .map(|slot| Busy {
            meeting_id: None,
            title: None,
            slot,
        })
        .collect();
    let clashes = clashes(&series, &external);
    if clashes.is_empty() {
        return Ok(());
    }
    Err(conflict(state, meeting, resource, &clashes, settings).await)
}

/// Builds the CONFLICT answer: names the first clash and proposes the next free slot of the
/// same length (found with the same search as `free-slots`).
pub(super) async fn conflict(
    state: &Meetings,
    meeting: &Meeting,
    resource: &Resource,
    clashes: &[Busy],
    settings: &TenantSettings,
) -> MeetingError {
    let zone = meeting.zone();
    let duration = meeting.end - meeting.start;
    let query = SlotQuery {
        resource: Some(resource.clone()),
        participants: Vec::new(),
        from: meeting.start,
        to: meeting.start + Duration::days(PROPOSAL_DAYS),
        duration,
        zone,
        limit: 1,
        except_meeting: Some(meeting.id.clone()),
        moving: meeting.write_state == WriteState::Confirmed,
    };
    let proposal = match find_free_slots(state, &meeting.tenant_id, settings, &query).await {
        Ok(slots) => slots.into_iter().next(),
        Err(err) => {
            tracing::warn!(error = %err, "no slot proposal for the conflict");
            None
        }
    };
    let sentence = conflict_sentence(&resource.name, &clashes[0], zone, duration, proposal);
    MeetingError::Conflict {
        sentence,
        conflicts: clashes
            .iter()
            .map(|c| json!({"meeting_id": c.meeting_id, "title": c.title, "start": zulu(c.slot.start), "end": zulu(c.slot.end)}))
            .collect(),
        proposal: proposal.map(|p| json!({"start": zulu(p.start), "end": zulu(p.end)})),
    }
}

fn conflict_sentence(
    resource: &str,
    clash: &Busy,
    zone: Tz,
    duration: Duration,
    proposal: Option<Occurrence>,
) -> String {
    let start = clash.slot.start.with_timezone(&zone);
    let end = clash.slot.end.with_timezone(&zone);
    let by = clash
        .title
        .as_ref()
        .map_or_else(|| "another booking".to_string(), |t| format!("\"{t}\""));
    let mut sentence = format!(
        "{resource} is already booked on {} from {} to {} ({} time) by {by}.",
        start.format("%A %-d %B"),
        start.format("%H:%M"),
        end.format("%H:%M"),
        zone.name()
    );
    match proposal {
        Some(slot) => {
            let s = slot.start.with_timezone(&zone);
            let e = slot.end.with_timezone(&zone);
            sentence.push_str(&format!(
                " The next free slot of {} minutes is on {} from {} to {}.",
                duration.num_minutes(),
                s.format("%A %-d %B"),
                s.format("%H:%M"),
                e.format("%H:%M")
            ));
        }
        None => {
            sentence.push_str(" I could not find a free slot of that length in the next two weeks.")
        }
    }
    sentence
}
