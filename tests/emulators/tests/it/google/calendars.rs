//! calendarList.list, calendars.get/insert/delete, ACL visibility.

use emulators::google::Role;
use serde_json::json;

use super::common::{ALICE, BOB, env, reason, timed};

#[tokio::test]
async fn primary_alias_resolves_to_the_callers_calendar() {
    let env = env().await;
    let got = env
        .call("GET", "/calendar/v3/calendars/primary", &env.alice, None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["id"], ALICE);
    assert_eq!(got.body["kind"], "calendar#calendar");
    let by_id = env
        .call(
            "GET",
            "/calendar/v3/calendars/alice%40example.com",
            &env.alice,
            None,
        )
        .await;
    assert_eq!(by_id.body["id"], ALICE);
}

#[tokio::test]
async fn calendar_list_shows_own_and_shared_calendars_with_roles() {
    let env = env().await;
    let room = env.emu.create_calendar(ALICE, "Room 1");
    assert!(room.starts_with("c_") && room.ends_with("@group.calendar.google.com"));
    env.emu.share_calendar(&room, BOB, Role::Reader);
    let list = env
        .call("GET", "/calendar/v3/users/me/calendarList", &env.bob, None)
        .await;
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], BOB);
    assert_eq!(items[0]["primary"], true);
    assert_eq!(items[0]["accessRole"], "owner");
    assert_eq!(items[1]["id"], room.as_str());
    assert_eq!(items[1]["accessRole"], "reader");
    let writers = env
        .call(
            "GET",
            "/calendar/v3/users/me/calendarList?minAccessRole=writer",
            &env.bob,
            None,
        )
        .await;
    assert_eq!(writers.body["items"].as_array().expect("items").len(), 1);
}

#[tokio::test]
async fn unshared_calendar_is_not_found_and_readers_cannot_write() {
    let env = env().await;
    let room = env.emu.create_calendar(ALICE, "Room 2");
    let path = format!("/calendar/v3/calendars/{room}/events");
    let hidden = env.call("GET", &path, &env.bob, None).await;
    assert_eq!((hidden.status, reason(&hidden.body)), (404, "notFound"));
    env.emu.share_calendar(&room, BOB, Role::Reader);
    assert_eq!(env.call("GET", &path, &env.bob, None).await.status, 200);
    let write = env
        .call(
            "POST",
            &path,
            &env.bob,
            Some(timed("x", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z")),
        )
        .await;
    assert_eq!(
        (write.status, reason(&write.body)),
        (403, "requiredAccessLevel")
    );
    env.emu.share_calendar(&room, BOB, Role::Writer);
    let write = env
        .call(
            "POST",
            &path,
            &env.bob,
            Some(timed("x", "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z")),
        )
        .await;
    assert_eq!(write.status, 200);
    assert_eq!(write.body["creator"]["email"], BOB);
    assert_eq!(write.body["organizer"]["email"], room.as_str());
}

#[tokio::test]
async fn insert_and_delete_secondary_calendar() {
    let env = env().await;
    let created = env
        .call(
            "POST",
            "/calendar/v3/calendars",
            &env.alice,
            Some(json!({ "summary": "Board room", "timeZone": "Europe/Berlin" })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["timeZone"], "Europe/Berlin");
    let path = format!("/calendar/v3/calendars/{id}");
    assert_eq!(env.call("DELETE", &path, &env.bob, None).await.status, 404);
    assert_eq!(
        env.call("DELETE", &path, &env.alice, None).await.status,
        204
    );
    assert_eq!(env.call("GET", &path, &env.alice, None).await.status, 404);
    let primary = env
        .call("DELETE", "/calendar/v3/calendars/primary", &env.alice, None)
        .await;
    assert_eq!(
        (primary.status, reason(&primary.body)),
        (400, "cannotDeletePrimaryCalendar")
    );
}
