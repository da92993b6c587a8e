//! Attendance: check-in windows at their edges (injected clock), idempotent check-ins over
//! HTTP, the no-show sweep racing a late check-in, and auto-release giving the room back.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    on_both_engines,
    support::{Engine, World, expect_error},
};

fn at(minutes_from_now: i64) -> DateTime<Utc> {
    let now = Utc::now() + Duration::minutes(minutes_from_now);
    DateTime::parse_from_rfc3339(&now.to_rfc3339_opts(SecondsFormat::Secs, true))
        .expect("time")
        .with_timezone(&Utc)
}

async fn book_at(
    world: &World,
    room: &str,
    title: &str,
    start: DateTime<Utc>,
    minutes: i64,
) -> String {
    let body = json!({
        "title": title,
        "start": start.to_rfc3339(),
        "end": (start + Duration::minutes(minutes)).to_rfc3339(),
        "time_zone": "UTC",
        "resource_id": room,
    });
    let response = world.book(&world.acme.member_token, body).await;
    assert_eq!(response.status(), 201);
    let meeting: Value = response.json().await.expect("json");
    meeting["id"].as_str().expect("id").to_string()
}

async fn member(world: &World) -> hub::auth::Actor {
    hub::auth::store::authenticate(world.hub.db(), &world.acme.member_token)
        .await
        .expect("member")
}

async fn status(world: &World, id: &str) -> String {
    let meeting = hub::meetings::store::get(world.hub.db(), &world.acme.tenant_id, id)
        .await
        .expect("meeting");
    meeting.status.as_str().to_string()
}

async fn change_types(world: &World, id: &str) -> Vec<String> {
    let changes: Value = world
        .hub
        .call(
            Method::GET,
            &format!("/api/v1/calendar/events/{id}/changes"),
            Some(&world.acme.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    changes["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["change_type"].as_str().map(str::to_string))
        .collect()
}

async fn check_in_windows_hold_at_their_edges(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let (db, queue) = (world.hub.db(), &world.hub.hub.state.jobs);
    let person = member(&world).await;
    let start = at(30);
    let early = book_at(&world, room, "Early edge", start, 60).await;
    let opens = start - Duration::minutes(15);
    let refused = hub::attendance::check_in(
        db,
        queue,
        &person,
        &early,
        opens - Duration::seconds(1),
        opens - Duration::seconds(1),
    )
    .await;
    assert!(
        matches!(refused, Err(hub::attendance::AttendanceError::TooEarly(t)) if t == opens),
        "{refused:?}"
    );
    let attended = hub::attendance::check_in(db, queue, &person, &early, opens, opens)
        .await
        .expect("opens inclusive");
    assert_eq!(attended.status.as_str(), "ATTENDED");
    assert_eq!(attended.checked_in_at, Some(opens));

    let late_start = at(200);
    let late = book_at(&world, room, "Late edge", late_start, 30).await;
    let closes = late_start + Duration::minutes(120);
    let refused = hub::attendance::check_in(
        db,
        queue,
        &person,
        &late,
        closes + Duration::seconds(1),
        closes + Duration::seconds(1),
    )
    .await;
    assert!(
        matches!(refused, Err(hub::attendance::AttendanceError::TooLate)),
        "{refused:?}"
    );
    hub::attendance::check_in(db, queue, &person, &late, closes, closes)
        .await
        .expect("closes inclusive");

    // A check-in made inside the window and judged later (queued offline) counts by when it was
    // made.
    let queued_start = at(400);
    let queued = book_at(&world, room, "Queued", queued_start, 30).await;
    let made = queued_start + Duration::minutes(5);
    hub::attendance::check_in(db, queue, &person, &queued, made, made + Duration::hours(3))
        .await
        .expect("judged by when it was made");
    world.hub.stop().await;
}
on_both_engines!(check_in_windows_hold_at_their_edges);

async fn people_check_in_over_http_once(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let soon = book_at(&world, room, "Soon", at(5), 30).await;
    let path = format!("/api/v1/calendar/events/{soon}/show");
    expect_error(
        world
            .hub
            .call(Method::POST, &path, Some(&world.acme.ai_key), None)
            .await,
        403,
        "FORBIDDEN",
    )
    .await;
    let first: Value = world
        .hub
        .call(Method::POST, &path, Some(&world.acme.member_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["status"], "ATTENDED");
    let again: Value = world
        .hub
        .call(Method::POST, &path, Some(&world.acme.admin_token), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        again["checked_in_at"], first["checked_in_at"],
        "a repeated check-in answers the same"
    );
    assert_eq!(change_types(&world, &soon).await, ["CREATED", "ATTENDED"]);

    let later = book_at(&world, room, "Tomorrow", at(24 * 60), 30).await;
    let early = expect_error(
        world
            .hub
            .call(
                Method::POST,
                &format!("/api/v1/calendar/events/{later}/show"),
                Some(&world.acme.member_token),
                None,
            )
            .await,
        422,
        "INVALID_SLOT",
    )
    .await;
    assert!(
        early["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("opens at")),
        "{early}"
    );
    world
        .hub
        .call(
            Method::POST,
            &format!("/api/v1/calendar/events/{later}/cancel"),
            Some(&world.acme.member_token),
            None,
        )
        .await;
    let cancelled = expect_error(
        world
            .hub
            .call(
                Method::POST,
                &format!("/api/v1/calendar/events/{later}/show"),
                Some(&world.acme.member_token),
                None,
            )
            .await,
        422,
        "INVALID_SLOT",
    )
    .await;
    assert!(
        cancelled["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cancelled"))
    );
    expect_error(
        world
            .hub
            .call(
                Method::POST,
                "/api/v1/calendar/events/nope/show",
                Some(&world.acme.member_token),
                None,
            )
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    world.hub.stop().await;
}
on_both_engines!(people_check_in_over_http_once);

async fn the_sweep_marks_no_shows_once_and_races_late_check_ins_with_one_outcome(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let state = &world.hub.hub.state;
    let person = member(&world).await;
    let start = at(20);
    let lonely = book_at(&world, room, "Nobody came", start, 30).await;
    let closes = start + Duration::minutes(120);
    let before = hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        closes - Duration::seconds(1),
    )
    .await
    .expect("sweep");
    assert_eq!(before.no_shows, 0);
    let swept = hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        closes,
    )
    .await
    .expect("sweep");
    assert_eq!(swept.no_shows, 1);
    assert_eq!(status(&world, &lonely).await, "NO_SHOW");
    let again = hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        closes + Duration::hours(1),
    )
    .await
    .expect("sweep");
    assert_eq!(again.no_shows, 0, "idempotent");
    assert_eq!(change_types(&world, &lonely).await, ["CREATED", "NO_SHOW"]);
    let late = hub::attendance::check_in(
        &state.db,
        &state.jobs,
        &person,
        &lonely,
        closes + Duration::minutes(1),
        closes + Duration::minutes(1),
    )
    .await;
    assert!(matches!(
        late,
        Err(hub::attendance::AttendanceError::TooLate)
    ));

    for round in 0..4 {
        let start = at(60 * (round + 1));
        let raced = book_at(&world, room, &format!("Race {round}"), start, 30).await;
        let edge = start + Duration::minutes(120);
        let (sweep, check_in) = tokio::join!(
            hub::attendance::sweep(&state.db, &state.jobs, &state.google, &state.metrics, edge),
            hub::attendance::check_in(&state.db, &state.jobs, &person, &raced, edge, edge),
        );
        sweep.expect("sweep runs");
        let final_status = status(&world, &raced).await;
        let changes = change_types(&world, &raced).await;
        assert_eq!(changes.len(), 2, "exactly one outcome: {changes:?}");
        assert_eq!(changes[1], final_status, "{changes:?}");
        assert_eq!(check_in.is_ok(), final_status == "ATTENDED");
    }
    let metrics = world
        .hub
        .call(
            Method::GET,
            "/metrics",
            Some(crate::support::METRICS_TOKEN),
            None,
        )
        .await
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("corbi_no_shows_total"), "{metrics}");
    world.hub.stop().await;
}
on_both_engines!(the_sweep_marks_no_shows_once_and_races_late_check_ins_with_one_outcome);

async fn auto_release_gives_the_room_back_in_google(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let room = &world.rooms[0];
    let state = &world.hub.hub.state;
    world
        .hub
        .call(
            Method::PUT,
            "/api/v1/tenant/settings",
            Some(&world.acme.admin_token),
            Some(json!({"auto_release": {"enabled": true, "after_minutes": 10}})),
        )
        .await;
    let start = at(30);
    let unused = book_at(&world, room, "Unused", start, 60).await;
    let nine = hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        start + Duration::minutes(9),
    )
    .await
    .expect("sweep");
    assert_eq!(nine.released, 0);
    let release_time = start + Duration::minutes(10);
    let ten = hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        release_time,
    )
    .await
    .expect("sweep");
    assert_eq!(ten.released, 1);
    assert_eq!(status(&world, &unused).await, "NO_SHOW");
    let released =
        hub::meetings::transitions::released_at(&state.db, &world.acme.tenant_id, &unused)
            .await
            .expect("query");
    assert_eq!(released, Some(release_time));

    let calendar = world.calendar_of(room).await;
    let events = world.google.emulator.events(&calendar);
    let end = events[0]["end"]["dateTime"].as_str().expect("end");
    let end = DateTime::parse_from_rfc3339(end)
        .expect("time")
        .with_timezone(&Utc);
    assert_eq!(
        end, release_time,
        "the Google event now ends when the room was released"
    );

    let walk_in = json!({
        "title": "Walk-in",
        "start": release_time.to_rfc3339(),
        "end": (release_time + Duration::minutes(30)).to_rfc3339(),
        "time_zone": "UTC",
        "resource_id": room,
    });
    assert_eq!(
        world.book(&world.acme.ai_key, walk_in).await.status(),
        201,
        "the released slot can be booked again"
    );
    let person = member(&world).await;
    let refused = hub::attendance::check_in(
        &state.db,
        &state.jobs,
        &person,
        &unused,
        release_time + Duration::minutes(1),
        release_time + Duration::minutes(1),
    )
    .await;
    assert!(
        matches!(refused, Err(hub::attendance::AttendanceError::TooLate)),
        "a released room is gone: {refused:?}"
    );
    world.hub.stop().await;
}
on_both_engines!(auto_release_gives_the_room_back_in_google);

async fn walk_ups_book_now_up_to_the_next_meeting(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas", "Borealis"]).await;
    let state =
        &<hub::meetings::Meetings as axum::extract::FromRef<_>>::from_ref(&world.hub.hub.state);
    let person = member(&world).await;
    let next = at(21);
    book_at(&world, &world.rooms[0], "Next up", next, 30).await;
    let now = Utc::now();
    let walk_in = hub::attendance::walk_up(
        state,
        &person,
        &world.rooms[0],
        "Quick chat",
        30,
        "door-1",
        now,
    )
    .await
    .expect("booked");
    assert_eq!(
        walk_in.end, next,
        "shortened to end when the next meeting starts"
    );
    assert_eq!(walk_in.created_by_type.as_str(), "HUMAN");
    let again = hub::attendance::walk_up(
        state,
        &person,
        &world.rooms[0],
        "Quick chat",
        30,
        "door-1",
        now,
    )
    .await
    .expect("replayed");
    assert_eq!(
        again.id, walk_in.id,
        "the same request key answers the same booking"
    );
    let taken = hub::attendance::walk_up(
        state,
        &person,
        &world.rooms[0],
        "Another",
        15,
        "door-2",
        Utc::now(),
    )
    .await;
    assert!(
        matches!(taken, Err(hub::attendance::AttendanceError::RoomTaken(_))),
        "{taken:?}"
    );
    let odd = hub::attendance::walk_up(
        state,
        &person,
        &world.rooms[1],
        "Odd",
        45,
        "door-3",
        Utc::now(),
    )
    .await;
    assert!(odd.is_err(), "only 15, 30 or 60 minutes");
    let fine = hub::attendance::walk_up(
        state,
        &person,
        &world.rooms[1],
        "",
        60,
        "door-4",
        Utc::now(),
    )
    .await
    .expect("free room");
    assert_eq!(fine.title, "Walk-up booking");
    assert_eq!((fine.end - fine.start).num_minutes(), 60);
    world.hub.stop().await;
}
on_both_engines!(walk_ups_book_now_up_to_the_next_meeting);
