//! Each caller sees only what it needs (issue 16, defects 7 and 8): participants' phone numbers
//! go to admins and the meeting's booker only, never to AI keys or devices, and the change log
//! keeps a hash instead of the number; a device books walk-ups over REST and nothing more.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_engines;
use crate::support::{Engine, World, booking, expect_error};

const PHONE: &str = "+4915112345678";

async fn device_token(world: &World) -> String {
    let mut tx = world.hub.db().begin_write().await.expect("tx");
    let issued = hub::auth::store::issue_device_token(
        &mut tx,
        &world.acme.tenant_id,
        &world.rooms[0],
        "tablet",
    )
    .await
    .expect("device token");
    tx.commit().await.expect("commit");
    issued.token
}

async fn phones_reach_admins_and_the_booker_only(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let made = world
        .book(
            &world.acme.member_token,
            booking(&world.rooms[0], "Plan", "2031-03-04", "09:00", "10:00"),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.expect("json");
    assert_eq!(
        made["participants"][0]["phone"], PHONE,
        "the booker sees it"
    );
    let path = format!(
        "/api/v1/calendar/events/{}",
        made["id"].as_str().expect("id")
    );
    let device = device_token(&world).await;
    for (who, token, sees) in [
        ("admin", world.acme.admin_token.as_str(), true),
        ("booker", world.acme.member_token.as_str(), true),
        ("ai", world.acme.ai_key.as_str(), false),
        ("device", device.as_str(), false),
    ] {
        let one: Value = world
            .hub
            .call(Method::GET, &path, Some(token), None)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(one["participants"][0]["email"], "ana@example.com", "{who}");
        assert_eq!(
            one["participants"][0].get("phone").is_some(),
            sees,
            "{who}: {one}"
        );
        let list: Value = world
            .hub
            .call(
                Method::GET,
                "/api/v1/calendar/events?from=2031-03-01T00:00:00Z&to=2031-03-08T00:00:00Z",
                Some(token),
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(
            list["items"][0]["participants"][0].get("phone").is_some(),
            sees,
            "{who} list"
        );
    }

    let changed = world
        .hub
        .call(
            Method::PATCH,
            &path,
            Some(&world.acme.member_token),
            Some(
                json!({"participants": [{"email": "ana@example.com", "phone": "+4915199999999"}]}),
            ),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let log: Value = world
        .hub
        .call(
            Method::GET,
            &format!("{path}/changes"),
            Some(&world.acme.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    let text = log.to_string();
    assert!(
        !text.contains("4915199999999") && !text.contains("4915112345678"),
        "{text}"
    );
    assert!(
        text.contains("sha256:"),
        "the change is still visible: {text}"
    );
    world.hub.stop().await;
}
on_both_engines!(phones_reach_admins_and_the_booker_only);

async fn a_device_books_walk_ups_and_nothing_more(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let device = device_token(&world).await;
    let room = &world.rooms[0];
    let with_guest = booking(room, "Guests", "2031-03-05", "09:00", "09:30");
    let refused = world.book(&device, with_guest).await;
    expect_error(refused, 403, "FORBIDDEN").await;
    let mut long = booking(room, "Long", "2031-03-05", "09:00", "11:00");
    long["participants"] = json!([]);
    expect_error(world.book(&device, long).await, 403, "FORBIDDEN").await;
    let mut series = booking(room, "Series", "2031-03-05", "09:00", "09:30");
    series["participants"] = json!([]);
    series["recurrence"] = json!(["RRULE:FREQ=DAILY;COUNT=3"]);
    expect_error(world.book(&device, series).await, 403, "FORBIDDEN").await;
    let mut walk_up = booking(room, "Walk-up", "2031-03-05", "09:00", "09:30");
    walk_up["participants"] = json!([]);
    let ok = world.book(&device, walk_up).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    world.hub.stop().await;
}
on_both_engines!(a_device_books_walk_ups_and_nothing_more);
