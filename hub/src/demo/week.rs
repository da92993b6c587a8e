//! The demo's sample week on the seeded room and device (docs/API.md, "The demo"): what a
//! tenant a few days into using CORBI looks like — meetings attended, one nobody came to, one
//! cancelled, a weekly stand-up, one made in Google by an outside user, one in progress and one
//! later today.
//!
//! Meetings from now on are booked, cancelled and checked in through the hub's API as its
//! people would. The API cannot book the past, so meetings that already started are written
//! into the resource calendars in Google by the rooms account (as bookings made before CORBI
//! watched them would be) and imported by two-way sync like any Google-side event; their
//! attendance is then set by the functions the tablets and the no-show sweep use:
//! [`attendance::check_in`] with the time the person checked in, and [`attendance::sweep`] for
//! the meeting nobody came to. The outside user's meeting is written with that user's own
//! token, as in Google's UI.

use std::{collections::HashMap, time::Duration as StdDuration};

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use emulators::google::GoogleEmulator;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use shared::ActorType;

use super::{
    DemoError, DemoResource, EXTERNAL_USER, FULL_CALENDAR_SCOPE, ROOMS_ACCOUNT, setup::call,
};
use crate::{
    Hub, attendance,
    auth::{Actor, Role, store::User},
};

/// The people the sample meetings belong to, with their API tokens.
pub(super) struct People<'a> {
    /// The demo admin.
    pub admin: &'a User,
    /// The admin's personal token.
    pub admin_token: &'a str,
    /// The demo member.
    pub member: &'a User,
    /// The member's personal token.
    pub member_token: &'a str,
}

/// How long two-way sync may take to import the Google-side events before the demo gives up.
const IMPORT_DEADLINE: StdDuration = StdDuration::from_secs(30);

/// Who checked in to a sample meeting written in Google.
#[derive(Clone, Copy)]
enum CheckIn {
    /// Nobody (yet).
    Nobody,
    /// The member, this many minutes after the start (a meeting in the past).
    After(i64),
    /// The member, now, through the API (the meeting in progress).
    Now,
}

/// A sample event written in Google, then imported by sync.
struct FromGoogle {
    title: &'static str,
    resource: DemoResource,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The Google account that writes it.
    author: &'static str,
    check_in: CheckIn,
}

/// Books the sample week; see the module's documentation for what goes through which path.
pub(super) async fn seed(
    hub: &Hub,
    google: &GoogleEmulator,
    client: &Client,
    people: &People<'_>,
    resources: &[DemoResource],
) -> Result<(), DemoError> {
    let room = seeded(resources, "ROOM")?;
    let device = seeded(resources, "DEVICE")?;
    let now = Utc::now();
    let midnight = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let at = |days: i64, hour: i64, minute: i64| {
        midnight + Duration::days(days) + Duration::minutes(hour * 60 + minute)
    };
    let started = now.duration_trunc(Duration::minutes(5)).unwrap_or(now) - Duration::minutes(15);
    let later = now.duration_trunc(Duration::minutes(30)).unwrap_or(now) + Duration::minutes(90);

    let from_google = [
        google_sample(
            "Quarterly planning",
            room,
            at(-3, 9, 0),
            at(-3, 10, 30),
            CheckIn::After(3),
        ),
        google_sample(
            "Product shoot",
            device,
            at(-2, 13, 0),
            at(-2, 16, 0),
            CheckIn::After(10),
        ),
        google_sample(
            "Design review",
            room,
            at(-2, 14, 0),
            at(-2, 15, 0),
            CheckIn::After(5),
        ),
        google_sample(
            "Vendor pitch",
            room,
            at(-1, 11, 0),
            at(-1, 11, 45),
            CheckIn::Nobody,
        ),
        google_sample(
            "Team sync",
            room,
            started,
            started + Duration::hours(1),
            CheckIn::Now,
        ),
        FromGoogle {
            author: EXTERNAL_USER,
            ..google_sample(
                "Partner workshop",
                room,
                at(2, 13, 0),
                at(2, 14, 30),
                CheckIn::Nobody,
            )
        },
    ];
    for sample in &from_google {
        write_in_google(client, google, sample, people).await?;
    }
    let window = (at(-7, 0, 0), at(8, 0, 0));
    let ids = imported(
        client,
        hub.base_url(),
        people.admin_token,
        &from_google,
        window,
    )
    .await?;
    check_in(hub, client, people, &from_google, &ids).await?;
    attendance::sweep(
        &hub.state.db,
        &hub.state.jobs,
        &hub.state.google,
        &hub.state.metrics,
        Utc::now(),
    )
    .await
    .map_err(|e| DemoError::Step(format!("demo no-show sweep: {e}")))?;

    let base = hub.base_url();
    let both = json!([
        {"email": people.admin.email, "name": people.admin.name},
        {"email": people.member.email, "name": people.member.name},
    ]);
    let booked = [
        (
            people.member_token,
            json!({"title": "1:1 Dana / Sam", "start": rfc3339(later),
                   "end": rfc3339(later + Duration::minutes(30)), "resource_id": room.id,
                   "participants": both}),
        ),
        (
            people.admin_token,
            json!({"title": "Weekly stand-up", "start": rfc3339(at(1, 9, 30)),
                   "end": rfc3339(at(1, 9, 45)), "resource_id": room.id, "participants": both,
                   "recurrence": ["RRULE:FREQ=WEEKLY"]}),
        ),
        (
            people.member_token,
            json!({"title": "Product photos", "start": rfc3339(at(1, 13, 0)),
                   "end": rfc3339(at(1, 15, 0)), "resource_id": device.id,
                   "participants": both}),
        ),
        (
            people.member_token,
            json!({"title": "Customer call", "start": rfc3339(at(3, 10, 0)),
                   "end": rfc3339(at(3, 11, 0)), "resource_id": room.id, "participants": both,
                   "meeting_link": "https://meet.example/demo-customer"}),
        ),
        (
            people.admin_token,
            json!({"title": "Budget review", "start": rfc3339(at(1, 15, 0)),
                   "end": rfc3339(at(1, 16, 0)), "resource_id": room.id, "participants": both}),
        ),
    ];
    let events = format!("{base}/api/v1/calendar/events");
    let mut last = Value::Null;
    for (token, body) in &booked {
        last = call(client, Method::POST, &events, token, body).await?;
    }
    // The last one, the budget review, is called off.
    let id = last["id"].as_str().unwrap_or_default();
    call(
        client,
        Method::POST,
        &format!("{events}/{id}/cancel"),
        people.admin_token,
        &json!({"reason": "The numbers are not ready yet; we meet next week instead."}),
    )
    .await?;
    tracing::info!(
        room = %room.name,
        device = %device.name,
        meetings = from_google.len() + booked.len(),
        "demo week booked"
    );
    Ok(())
}

fn google_sample(
    title: &'static str,
    resource: &DemoResource,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    check_in: CheckIn,
) -> FromGoogle {
    FromGoogle {
        title,
        resource: resource.clone(),
        start,
        end,
        author: ROOMS_ACCOUNT,
        check_in,
    }
}

fn seeded<'a>(resources: &'a [DemoResource], kind: &str) -> Result<&'a DemoResource, DemoError> {
    resources
        .iter()
        .find(|r| r.seeded && r.kind == kind)
        .ok_or_else(|| DemoError::Step(format!("the demo has no seeded {kind}")))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Writes one sample into its resource calendar through the emulated Calendar API, with the
/// author's own access token.
async fn write_in_google(
    client: &Client,
    google: &GoogleEmulator,
    sample: &FromGoogle,
    people: &People<'_>,
) -> Result<(), DemoError> {
    let token = google.issue_access_token(sample.author, &[FULL_CALENDAR_SCOPE]);
    let url = format!(
        "{}/calendar/v3/calendars/{}/events",
        google.base_url(),
        sample.resource.calendar_id
    );
    let event = json!({
        "summary": sample.title,
        "start": {"dateTime": rfc3339(sample.start)},
        "end": {"dateTime": rfc3339(sample.end)},
        "attendees": [{"email": people.admin.email}, {"email": people.member.email}],
    });
    let status = client
        .post(&url)
        .bearer_auth(token)
        .json(&event)
        .send()
        .await
        .map_err(|e| DemoError::Step(format!("writing {} in Google: {e}", sample.title)))?
        .status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DemoError::Step(format!(
            "Google answered {status} to {}",
            sample.title
        )))
    }
}

/// Waits until sync imported every sample written in Google; answers their meeting ids by
/// title.
async fn imported(
    client: &Client,
    base_url: &str,
    token: &str,
    samples: &[FromGoogle],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<&'static str, String>, DemoError> {
    let deadline = tokio::time::Instant::now() + IMPORT_DEADLINE;
    loop {
        let mut ids = HashMap::new();
        for sample in samples {
            let list = client
                .get(format!("{base_url}/api/v1/calendar/events"))
                .query(&[
                    ("resource_id", sample.resource.id.as_str()),
                    ("from", &rfc3339(from)),
                    ("to", &rfc3339(to)),
                    ("limit", "200"),
                ])
                .bearer_auth(token)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| DemoError::Step(format!("listing the demo week: {e}")))?
                .json::<Value>()
                .await
                .map_err(|e| DemoError::Step(format!("listing the demo week: {e}")))?;
            let found = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["title"] == sample.title)
                .and_then(|m| m["id"].as_str());
            if let Some(id) = found {
                ids.insert(sample.title, id.to_string());
            }
        }
        if ids.len() == samples.len() {
            return Ok(ids);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Step(
                "sync did not import the demo's Google events in time".into(),
            ));
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

/// The member checks in: to past meetings at the time they came (what a tablet's queued
/// check-in records), to the meeting in progress now through the API.
async fn check_in(
    hub: &Hub,
    client: &Client,
    people: &People<'_>,
    samples: &[FromGoogle],
    ids: &HashMap<&'static str, String>,
) -> Result<(), DemoError> {
    let member = Actor {
        tenant_id: people.member.tenant_id.clone(),
        actor_type: ActorType::User,
        id: people.member.id.clone(),
        role: Some(Role::Member),
        resource_id: None,
    };
    for sample in samples {
        let Some(id) = ids.get(sample.title) else {
            continue;
        };
        match sample.check_in {
            CheckIn::Nobody => {}
            CheckIn::After(minutes) => {
                let came = sample.start + Duration::minutes(minutes);
                attendance::check_in(
                    &hub.state.db,
                    &hub.state.jobs,
                    &member,
                    id,
                    came,
                    Utc::now(),
                )
                .await
                .map_err(|e| DemoError::Step(format!("checking in to {}: {e}", sample.title)))?;
            }
            CheckIn::Now => {
                let url = format!("{}/api/v1/calendar/events/{id}/show", hub.base_url());
                call(client, Method::POST, &url, people.member_token, &json!({})).await?;
            }
        }
    }
    Ok(())
}
