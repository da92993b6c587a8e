//! Meetings end to end against the emulated Google: booking, conflicts, races, policies,
//! recurrence across DST, free slots, idempotency, preconditions, recovery and bad input.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    on_both_engines,
    support::{Engine, ROOMS_ACCOUNT, World, booking, eventually, expect_error},
};

const EVENTS: &str = "/api/v1/calendar/events";

/// Calls two-way sync makes in the background (watching and listing), not part of a booking.
fn is_sync_call(record: &emulators::google::RequestRecord) -> bool {
    record.path.ends_with("/events/watch")
        || record.path.ends_with("/channels/stop")
        || (record.method == "GET" && record.path.ends_with("/events"))
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = json_of(response).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn google_events(world: &World, calendar: &str) -> Vec<Value> {
    world
        .google
        .emulator
        .events(calendar)
        .into_iter()
        .filter(|e| e["status"] != "cancelled")
        .collect()
}

async fn an_ai_books_a_room_and_it_lands_in_google_once(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let calendar = world.calendar_of(room).await;
    let before = world.google.emulator.requests().len();
    let mut body = booking(room, "Quarterly review", "2030-12-02", "09:00", "10:00");
    body["start"] = json!("2030-12-02T10:00:00+01:00");
    body["end"] = json!("2030-12-02T11:00:00+01:00");
    body["time_zone"] = json!("Europe/Berlin");
    body["metadata"] = json!({"tags": ["sales"], "correlation_id": "call-7"});
    let meeting = created(world.book(&world.acme.ai_key, body).await).await;
    assert_eq!(meeting["start"], "2030-12-02T09:00:00Z");
    assert_eq!(meeting["end"], "2030-12-02T10:00:00Z");
    assert_eq!(meeting["time_zone"], "Europe/Berlin");
    assert_eq!(meeting["status"], "SCHEDULED");
    assert_eq!(meeting["created_by_type"], "AI");
    assert_eq!(meeting["source"], "CORBI");
    assert_eq!(meeting["metadata"]["tags"], json!(["sales"]));
    assert_eq!(meeting["participants"][0]["response_status"], "needsAction");
    assert_eq!(meeting["google"]["calendar_id"], calendar.as_str());
    assert!(
        meeting["google"]["etag"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert!(meeting["google"]["ical_uid"].is_string());

    let calls: Vec<String> = world.google.emulator.requests()[before..]
        .iter()
        .filter(|r| !is_sync_call(r))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        calls.iter().filter(|c| c.ends_with("/freeBusy")).count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("POST") && c.ends_with("/events"))
            .count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.len(),
        2,
        "one freebusy and one insert per booking: {calls:?}"
    );

    let events = google_events(&world, &calendar);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["summary"], "Quarterly review");
    assert_eq!(
        events[0]["extendedProperties"]["private"]["corbi_meeting_id"],
        meeting["id"]
    );
    assert_eq!(
        events[0]["extendedProperties"]["private"]["corbi_created_by_type"],
        "AI"
    );
    assert_eq!(events[0]["attendees"][0]["email"], "ana@example.com");

    let id = meeting["id"].as_str().expect("id");
    let changes = json_of(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}/{id}/changes"),
                Some(&world.acme.member_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(changes["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(changes["items"][0]["change_type"], "CREATED");
    assert_eq!(changes["items"][0]["actor_type"], "AI");
    let fetched = json_of(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}/{id}"),
                Some(&world.acme.member_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(fetched, meeting, "every actor of the tenant reads it");
    world.hub.stop().await;
}
on_both_engines!(an_ai_books_a_room_and_it_lands_in_google_once);

async fn a_clash_is_refused_with_a_sentence_and_the_next_free_slot(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    created(
        world
            .book(
                &world.acme.member_token,
                booking(room, "Weekly sync", "2030-12-02", "10:00", "11:00"),
            )
            .await,
    )
    .await;
    let refused = expect_error(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Interview", "2030-12-02", "10:30", "11:30"),
            )
            .await,
        409,
        "CONFLICT",
    )
    .await;
    let message = refused["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("Atlas is already booked") && message.contains("Weekly sync"),
        "{message}"
    );
    assert!(
        message.contains("next free slot of 60 minutes") && message.contains("from 11:00 to 12:00"),
        "{message}"
    );
    assert_eq!(
        refused["error"]["details"]["proposed_slot"],
        json!({"start": "2030-12-02T11:00:00Z", "end": "2030-12-02T12:00:00Z"})
    );
    assert_eq!(
        refused["error"]["details"]["conflicts"][0]["title"],
        "Weekly sync"
    );
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Back to back", "2030-12-02", "11:00", "12:00"),
            )
            .await,
    )
    .await;
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Before", "2030-12-02", "09:00", "10:00"),
            )
            .await,
    )
    .await;
    assert_eq!(
        google_events(&world, &world.calendar_of(room).await).len(),
        3
    );
    world.hub.stop().await;
}
on_both_engines!(a_clash_is_refused_with_a_sentence_and_the_next_free_slot);

async fn eight_simultaneous_bookings_of_one_slot_yield_one_meeting(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let attempts = (0..8).map(|i| {
        world.book(
            &world.acme.ai_key,
            booking(room, &format!("Race {i}"), "2030-12-03", "14:00", "15:00"),
        )
    });
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        google_events(&world, &world.calendar_of(room).await).len(),
        1,
        "exactly one Google event"
    );
    let listed = json_of(
        world
            .hub
            .call(Method::GET, EVENTS, Some(&world.acme.admin_token), None)
            .await,
    )
    .await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    world.hub.stop().await;
}
on_both_engines!(eight_simultaneous_bookings_of_one_slot_yield_one_meeting);

async fn an_ai_cannot_touch_a_persons_meeting_but_its_owner_can(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas", "Borealis"]).await;
    let (atlas, borealis) = (&world.rooms[0], &world.rooms[1]);
    let mine = created(
        world
            .book(
                &world.acme.member_token,
                booking(atlas, "Planning", "2030-12-04", "09:00", "10:00"),
            )
            .await,
    )
    .await;
    let id = mine["id"].as_str().expect("id");
    let path = format!("{EVENTS}/{id}");
    assert_eq!(mine["created_by_type"], "HUMAN");

    let refused = expect_error(
        world
            .hub
            .call(
                Method::PATCH,
                &path,
                Some(&world.acme.ai_key),
                Some(json!({"title": "Mine now"})),
            )
            .await,
        403,
        "FORBIDDEN",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("AI assistant"))
    );
    let refused = expect_error(
        world
            .hub
            .call(
                Method::POST,
                &format!("{path}/cancel"),
                Some(&world.acme.ai_key),
                None,
            )
            .await,
        403,
        "CANCEL_NOT_ALLOWED",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("booked by a person"))
    );

    let renamed = json_of(
        world
            .hub
            .call(
                Method::PATCH,
                &path,
                Some(&world.acme.member_token),
                Some(json!({"title": "Planning (v2)"})),
            )
            .await,
    )
    .await;
    assert_eq!(renamed["title"], "Planning (v2)");
    let move_to_borealis = json!({
        "start": "2030-12-04T13:00:00Z",
        "end": "2030-12-04T14:30:00Z",
        "resource_id": borealis,
    });
    let moved = world
        .hub
        .call(
            Method::PATCH,
            &path,
            Some(&world.acme.member_token),
            Some(move_to_borealis),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let moved = json_of(moved).await;
    assert_eq!(moved["resource_id"], borealis.as_str());
    let atlas_calendar = world.calendar_of(atlas).await;
    let borealis_calendar = world.calendar_of(borealis).await;
    assert!(
        google_events(&world, &atlas_calendar).is_empty(),
        "moved away with events.move"
    );
    let there = google_events(&world, &borealis_calendar);
    assert_eq!(there.len(), 1);
    assert_eq!(there[0]["summary"], "Planning (v2)");
    assert_eq!(
        there[0]["start"]["dateTime"]
            .as_str()
            .map(|t| t.starts_with("2030-12-04T13:00:00")),
        Some(true),
        "{}",
        there[0]
    );

    let cancelled = json_of(
        world
            .hub
            .call(
                Method::POST,
                &format!("{path}/cancel"),
                Some(&world.acme.member_token),
                Some(json!({"reason": "Client postponed"})),
            )
            .await,
    )
    .await;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(
        google_events(&world, &borealis_calendar).is_empty(),
        "deleted in Google"
    );
    let again = json_of(
        world
            .hub
            .call(
                Method::POST,
                &format!("{path}/cancel"),
                Some(&world.acme.member_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        again["status"], "CANCELLED",
        "cancelling twice answers the same"
    );

    let changes = json_of(
        world
            .hub
            .call(
                Method::GET,
                &format!("{path}/changes"),
                Some(&world.acme.ai_key),
                None,
            )
            .await,
    )
    .await;
    let kinds: Vec<&str> = changes["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["change_type"].as_str())
        .collect();
    assert_eq!(kinds, ["CREATED", "UPDATED", "RESCHEDULED", "CANCELLED"]);
    assert!(
        changes["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|c| c["actor_type"] == "USER")
    );
    assert_eq!(
        changes["items"][2]["diff"]["resource_id"]["to"],
        borealis.as_str()
    );

    let ai_own = created(
        world
            .book(
                &world.acme.ai_key,
                booking(atlas, "AI booked", "2030-12-04", "15:00", "16:00"),
            )
            .await,
    )
    .await;
    let cancelled = world
        .hub
        .call(
            Method::POST,
            &format!("{EVENTS}/{}/cancel", ai_own["id"].as_str().expect("id")),
            Some(&world.acme.ai_key),
            None,
        )
        .await;
    assert_eq!(cancelled.status(), 200, "an AI cancels what an AI booked");
    world.hub.stop().await;
}
on_both_engines!(an_ai_cannot_touch_a_persons_meeting_but_its_owner_can);

async fn a_booking_made_in_google_and_not_yet_synced_still_conflicts(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let calendar = world.calendar_of(room).await;
    let token = world
        .google
        .emulator
        .issue_access_token(ROOMS_ACCOUNT, &["https://www.googleapis.com/auth/calendar"]);
    let inserted = reqwest::Client::new()
        .post(format!(
            "{}/calendar/v3/calendars/{calendar}/events",
            world.google.emulator.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({
            "summary": "Board visit",
            "start": {"dateTime": "2030-12-05T10:00:00Z"},
            "end": {"dateTime": "2030-12-05T12:00:00Z"},
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(inserted.status(), 200);
    let refused = expect_error(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Sneaky", "2030-12-05", "11:00", "11:30"),
            )
            .await,
        409,
        "CONFLICT",
    )
    .await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another booking") || m.contains("Board visit")),
        "{refused}"
    );
    assert_eq!(
        refused["error"]["details"]["proposed_slot"]["start"],
        "2030-12-05T12:00:00Z"
    );
    let listed = json_of(
        world
            .hub
            .call(Method::GET, EVENTS, Some(&world.acme.admin_token), None)
            .await,
    )
    .await;
    let titles: Vec<&Value> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| &m["title"])
        .collect();
    assert!(
        !titles.contains(&&json!("Sneaky")),
        "the refused reservation left nothing behind: {titles:?}"
    );
    world.hub.stop().await;
}
on_both_engines!(a_booking_made_in_google_and_not_yet_synced_still_conflicts);

async fn bad_bookings_change_nothing_locally_or_in_google(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas", "Disabled room"]).await;
    let other = world.hub.seed("globex").await;
    let room = &world.rooms[0];
    world
        .hub
        .call(
            Method::POST,
            &format!("/api/v1/resources/{}/disable", world.rooms[1]),
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    let globex_room_body = json!({
        "name": "Theirs",
        "kind": "ROOM",
        "calendar": {"mode": "EXISTING", "calendar_id": "nobody"},
    });
    let _ = world
        .hub
        .call(
            Method::POST,
            "/api/v1/resources",
            Some(&other.admin_token),
            Some(globex_room_body),
        )
        .await;
    let before = world
        .google
        .emulator
        .requests()
        .iter()
        .filter(|r| !is_sync_call(r))
        .count();
    let base = booking(room, "Fine", "2030-12-06", "10:00", "11:00");
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"email": format!("p{i}@example.com")}))
        .collect();
    let cases = [
        (with("title", json!("")), 422, "VALIDATION_FAILED"),
        (
            with("start", json!("tomorrow at ten")),
            422,
            "VALIDATION_FAILED",
        ),
        (
            with("end", json!("2030-12-06T09:00:00Z")),
            422,
            "INVALID_SLOT",
        ),
        (
            with("time_zone", json!("Mars/Olympus")),
            422,
            "INVALID_SLOT",
        ),
        (
            json!({
                "title": "Past",
                "start": "2001-01-01T10:00:00Z",
                "end": "2001-01-01T11:00:00Z",
                "resource_id": room,
            }),
            422,
            "INVALID_SLOT",
        ),
        (
            with("end", json!("2030-12-08T10:00:00Z")),
            422,
            "INVALID_SLOT",
        ),
        (
            with("participants", json!([{"email": "not-an-address"}])),
            422,
            "VALIDATION_FAILED",
        ),
        (
            with(
                "participants",
                json!([{"email": "a@example.com", "phone": "0151 123"}]),
            ),
            422,
            "VALIDATION_FAILED",
        ),
        (
            with("participants", Value::Array(many)),
            422,
            "VALIDATION_FAILED",
        ),
        (
            with("recurrence", json!(["RRULE:FREQ=SOMETIMES"])),
            422,
            "VALIDATION_FAILED",
        ),
        (
            with("meeting_link", json!("javascript:alert(1)")),
            422,
            "VALIDATION_FAILED",
        ),
        (
            with("resource_id", json!("00000000-0000-0000-0000-000000000000")),
            404,
            "NOT_FOUND",
        ),
        (
            with("resource_id", json!(world.rooms[1])),
            422,
            "RESOURCE_DISABLED",
        ),
        (with("surprise", json!(true)), 422, "VALIDATION_FAILED"),
    ];
    for (body, status, code) in cases {
        let answer = world.book(&world.acme.ai_key, body.clone()).await;
        assert_eq!(answer.status().as_u16(), status, "{body}");
        expect_error(answer, status, code).await;
    }
    let theirs = world.book(&other.ai_key, base.clone()).await;
    expect_error(theirs, 404, "NOT_FOUND").await;
    expect_error(
        world.book("corbi_key_forged", base.clone()).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    let broken = world
        .hub
        .client
        .post(world.hub.url(EVENTS))
        .bearer_auth(&world.acme.ai_key)
        .header("content-type", "application/json")
        .body("{\"title\":")
        .send()
        .await
        .expect("sent");
    expect_error(broken, 422, "VALIDATION_FAILED").await;

    assert_eq!(
        world
            .google
            .emulator
            .requests()
            .iter()
            .filter(|r| !is_sync_call(r))
            .count(),
        before,
        "no Google call for refused input"
    );
    let listed = json_of(
        world
            .hub
            .call(Method::GET, EVENTS, Some(&world.acme.admin_token), None)
            .await,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
    expect_error(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}/00000000-0000-0000-0000-000000000000"),
                Some(&world.acme.admin_token),
                None,
            )
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(bad_bookings_change_nothing_locally_or_in_google);

async fn google_failures_leave_no_half_written_meeting(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    world.google.emulator.inject(
        Some("calendar.events.insert"),
        emulators::google::Fault::ServiceUnavailable,
        1000,
    );
    let refused = world
        .book(
            &world.acme.ai_key,
            booking(room, "Doomed", "2030-12-07", "10:00", "11:00"),
        )
        .await;
    expect_error(refused, 503, "CALENDAR_UNAVAILABLE").await;
    world
        .google
        .emulator
        .apply(emulators::google::AdminCommand::Clear);
    let listed = json_of(
        world
            .hub
            .call(Method::GET, EVENTS, Some(&world.acme.admin_token), None)
            .await,
    )
    .await;
    assert_eq!(listed["items"], json!([]));
    let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM meetings")
        .fetch_one(world.hub.db().pool())
        .await
        .expect("count");
    assert_eq!(pending, 0, "the reservation was dropped");
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Retry works", "2030-12-07", "10:00", "11:00"),
            )
            .await,
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(google_failures_leave_no_half_written_meeting);

async fn idempotency_keys_and_stale_etags(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let send = || {
        world
            .hub
            .client
            .post(world.hub.url(EVENTS))
            .bearer_auth(&world.acme.ai_key)
            .header("Idempotency-Key", "call-123")
            .json(&booking(room, "Once", "2030-12-09", "10:00", "11:00"))
            .send()
    };
    let first = created(send().await.expect("sent")).await;
    let second = created(send().await.expect("sent")).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(
        google_events(&world, &world.calendar_of(room).await).len(),
        1
    );

    let path = format!("{EVENTS}/{}", first["id"].as_str().expect("id"));
    let etag = first["google"]["etag"].as_str().expect("etag").to_string();
    let fresh = world
        .hub
        .client
        .patch(world.hub.url(&path))
        .bearer_auth(&world.acme.ai_key)
        .header("If-Match", &etag)
        .json(&json!({"title": "Twice"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(fresh.status(), 200);
    let stale = world
        .hub
        .client
        .patch(world.hub.url(&path))
        .bearer_auth(&world.acme.ai_key)
        .header("If-Match", &etag)
        .json(&json!({"title": "Thrice"}))
        .send()
        .await
        .expect("sent");
    expect_error(stale, 412, "PRECONDITION_FAILED").await;
    world.hub.stop().await;
}
on_both_engines!(idempotency_keys_and_stale_etags);

async fn weekly_series_keep_local_time_across_dst_for_conflicts(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    // Mondays 10:00 Berlin from 21 Oct 2030; summer time ends on 27 Oct.
    let series = json!({
        "title": "Standup",
        "start": "2030-10-21T10:00:00+02:00",
        "end": "2030-10-21T11:00:00+02:00",
        "time_zone": "Europe/Berlin",
        "resource_id": room,
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
    });
    let made = created(world.book(&world.acme.member_token, series).await).await;
    assert_eq!(made["recurrence"], json!(["RRULE:FREQ=WEEKLY;COUNT=3"]));
    expect_error(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Clash after DST", "2030-10-28", "09:30", "10:00"),
            )
            .await,
        409,
        "CONFLICT",
    )
    .await;
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Free after DST", "2030-10-28", "08:00", "09:00"),
            )
            .await,
    )
    .await;
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "After the series", "2030-11-11", "09:00", "10:00"),
            )
            .await,
    )
    .await;

    // Daily 09:00 New York from 8 March 2030; daylight time starts on 10 March.
    let ny = json!({
        "title": "NY daily",
        "start": "2030-03-08T09:00:00-05:00",
        "end": "2030-03-08T09:30:00-05:00",
        "time_zone": "America/New_York",
        "resource_id": room,
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=4"],
    });
    created(world.book(&world.acme.member_token, ny).await).await;
    expect_error(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Clash in EDT", "2030-03-11", "13:00", "13:15"),
            )
            .await,
        409,
        "CONFLICT",
    )
    .await;
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Free in EDT", "2030-03-11", "14:00", "14:30"),
            )
            .await,
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(weekly_series_keep_local_time_across_dst_for_conflicts);

async fn free_slots_combine_the_room_and_participants_calendars(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    world
        .hub
        .call(
            Method::PUT,
            "/api/v1/tenant/settings",
            Some(&world.acme.admin_token),
            Some(json!({"time_zone": "Europe/Berlin"})),
        )
        .await;
    // The member connects their own calendar, which has a meeting 11:00-12:00 Berlin.
    let member_email = "member@acme.example.com";
    world.google.emulator.add_account(member_email);
    assert_eq!(
        world
            .hub
            .consent(&world.acme.member_token, "user", member_email)
            .await,
        200
    );
    let token = world
        .google
        .emulator
        .issue_access_token(member_email, &["https://www.googleapis.com/auth/calendar"]);
    reqwest::Client::new()
        .post(format!(
            "{}/calendar/v3/calendars/{member_email}/events",
            world.google.emulator.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({
            "summary": "Dentist",
            "start": {"dateTime": "2030-12-10T11:00:00+01:00"},
            "end": {"dateTime": "2030-12-10T12:00:00+01:00"},
        }))
        .send()
        .await
        .expect("sent");
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Room taken", "2030-12-10", "07:00", "09:00"),
            )
            .await,
    )
    .await;

    let path = format!(
        "/api/v1/calendar/free-slots?duration_minutes=60\
         &from=2030-12-10T06:00:00Z&to=2030-12-11T00:00:00Z\
         &resource_id={room}&participants={member_email}&limit=4"
    );
    let answer = json_of(
        world
            .hub
            .call(Method::GET, &path, Some(&world.acme.ai_key), None)
            .await,
    )
    .await;
    let starts: Vec<&str> = answer["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["start"].as_str())
        .collect();
    // Working hours 08:00-18:00 Berlin = 07:00-17:00Z; room busy until 09:00Z; member busy
    // 10:00-11:00Z.
    assert_eq!(
        starts,
        [
            "2030-12-10T09:00:00Z",
            "2030-12-10T11:00:00Z",
            "2030-12-10T12:00:00Z",
            "2030-12-10T13:00:00Z"
        ]
    );

    let availability_path = format!(
        "/api/v1/resources/{room}/availability?from=2030-12-10T00:00:00Z&to=2030-12-11T00:00:00Z"
    );
    let availability = json_of(
        world
            .hub
            .call(
                Method::GET,
                &availability_path,
                Some(&world.acme.member_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        availability["busy"],
        json!([{"start": "2030-12-10T07:00:00Z", "end": "2030-12-10T09:00:00Z"}])
    );
    assert_eq!(availability["free"].as_array().map(Vec::len), Some(2));
    expect_error(
        world
            .hub
            .call(
                Method::GET,
                "/api/v1/calendar/free-slots?duration_minutes=2",
                Some(&world.acme.ai_key),
                None,
            )
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(free_slots_combine_the_room_and_participants_calendars);

async fn recovery_settles_reservations_whose_writer_died(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let model = created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Model", "2030-12-11", "08:00", "09:00"),
            )
            .await,
    )
    .await;
    let model = hub::meetings::store::get(
        world.hub.db(),
        &world.acme.tenant_id,
        model["id"].as_str().expect("id"),
    )
    .await
    .expect("row");
    let calendar = world.calendar_of(room).await;
    let queue = world.hub.hub.state.jobs.clone();
    let pending = |title: &str, hour: u32| {
        let id = uuid::Uuid::new_v4().to_string();
        let mut meeting = model.clone();
        meeting.google_event_id = hub::meetings::model::event_id_for(&id);
        meeting.id = id;
        meeting.title = title.into();
        meeting.start = model.start + chrono::Duration::hours(i64::from(hour));
        meeting.end = meeting.start + chrono::Duration::hours(1);
        meeting
    };
    let reached = pending("Reached Google", 2);
    let lost = pending("Never reached Google", 4);
    for meeting in [&reached, &lost] {
        let mut tx = world.hub.db().begin_write().await.expect("tx");
        hub::meetings::store::insert_pending(&mut tx, &queue, meeting, None)
            .await
            .expect("reserved");
        tx.commit().await.expect("commit");
    }
    let token = world
        .google
        .emulator
        .issue_access_token(ROOMS_ACCOUNT, &["https://www.googleapis.com/auth/calendar"]);
    let inserted = reqwest::Client::new()
        .post(format!(
            "{}/calendar/v3/calendars/{calendar}/events",
            world.google.emulator.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({
            "id": reached.google_event_id,
            "summary": reached.title,
            "start": {"dateTime": hub::text::zulu(reached.start)},
            "end": {"dateTime": hub::text::zulu(reached.end)},
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(inserted.status(), 200);
    expect_error(
        world
            .book(
                &world.acme.ai_key,
                booking(
                    room,
                    "Blocked by a pending one",
                    "2030-12-11",
                    "12:00",
                    "12:30",
                ),
            )
            .await,
        409,
        "CONFLICT",
    )
    .await;

    for meeting in [&reached, &lost] {
        let job = hub::jobs::NewJob::now(
            hub::meetings::recover::RECOVER_KIND,
            Some(&world.acme.tenant_id),
            json!({"meeting_id": meeting.id}),
        );
        queue.enqueue(job).await.expect("enqueued");
    }
    let db = world.hub.db().clone();
    let tenant = world.acme.tenant_id.clone();
    eventually(
        std::time::Duration::from_secs(20),
        "both reservations are settled",
        || {
            let (db, tenant) = (db.clone(), tenant.clone());
            let (a, b) = (reached.id.clone(), lost.id.clone());
            async move {
                let confirmed = hub::meetings::store::get(&db, &tenant, &a).await.is_ok();
                let gone = hub::meetings::store::get_any(&db, &tenant, &b)
                    .await
                    .expect("query")
                    .is_none();
                confirmed && gone
            }
        },
    )
    .await;
    let changes = json_of(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}/{}/changes", reached.id),
                Some(&world.acme.admin_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(changes["items"][0]["change_type"], "CREATED");
    created(
        world
            .book(
                &world.acme.ai_key,
                booking(room, "Slot freed", "2030-12-11", "12:00", "12:30"),
            )
            .await,
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(recovery_settles_reservations_whose_writer_died);

async fn lists_filter_and_page_with_a_cursor(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas", "Borealis"]).await;
    for hour in 8..13 {
        let (room, who) = if hour % 2 == 0 {
            (&world.rooms[0], &world.acme.ai_key)
        } else {
            (&world.rooms[1], &world.acme.member_token)
        };
        created(
            world
                .book(
                    who,
                    booking(
                        room,
                        &format!("At {hour}"),
                        "2030-12-12",
                        &format!("{hour:02}:00"),
                        &format!("{hour:02}:45"),
                    ),
                )
                .await,
        )
        .await;
    }
    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{EVENTS}?limit=2&cursor={c}"),
            None => format!("{EVENTS}?limit=2"),
        };
        let page = json_of(
            world
                .hub
                .call(Method::GET, &path, Some(&world.acme.member_token), None)
                .await,
        )
        .await;
        titles.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|m| m["title"].as_str().map(str::to_string)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(titles, ["At 8", "At 9", "At 10", "At 11", "At 12"]);
    let ai_only = json_of(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}?created_by_type=AI&resource_id={}", world.rooms[0]),
                Some(&world.acme.admin_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(ai_only["items"].as_array().map(Vec::len), Some(3));
    let window = json_of(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}?from=2030-12-12T09:30:00Z&to=2030-12-12T11:00:00Z"),
                Some(&world.acme.admin_token),
                None,
            )
            .await,
    )
    .await;
    assert_eq!(
        window["items"].as_array().map(Vec::len),
        Some(2),
        "09:00-09:45 and 10:00-10:45 overlap"
    );
    expect_error(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}?status=DONE"),
                Some(&world.acme.admin_token),
                None,
            )
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        world
            .hub
            .call(
                Method::GET,
                &format!("{EVENTS}?cursor=%%%"),
                Some(&world.acme.admin_token),
                None,
            )
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(lists_filter_and_page_with_a_cursor);
