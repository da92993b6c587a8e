//! Event insert/get/patch/update/delete/move and the fields Google fills.

use serde_json::json;

use super::common::{ALICE, env, reason, timed};

const EVENTS: &str = "/calendar/v3/calendars/primary/events";

#[tokio::test]
async fn insert_fills_server_fields() {
    let env = env().await;
    let mut body = timed(
        "Standup",
        "2026-03-02T09:00:00+01:00",
        "2026-03-02T09:15:00+01:00",
    );
    body["attendees"] =
        json!([{ "email": "carol@example.com" }, { "email": ALICE, "responseStatus": "accepted" }]);
    body["extendedProperties"] =
        json!({ "private": { "corbiMeetingId": "m-1" }, "shared": { "tenant": "t1" } });
    let event = env.insert("primary", body).await;
    let id = event["id"].as_str().expect("id");
    assert!(
        id.len() >= 5 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='v')),
        "{id}"
    );
    assert_eq!(event["kind"], "calendar#event");
    assert_eq!(event["status"], "confirmed");
    assert_eq!(event["sequence"], 0);
    assert_eq!(event["iCalUID"], format!("{id}@google.com"));
    let etag = event["etag"].as_str().expect("etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(event["updated"].as_str().expect("updated").ends_with('Z'));
    assert_eq!(event["organizer"]["email"], ALICE);
    assert_eq!(event["creator"]["email"], ALICE);
    assert_eq!(event["attendees"][0]["responseStatus"], "needsAction");
    assert_eq!(event["attendees"][1]["responseStatus"], "accepted");
    assert_eq!(event["attendees"][1]["organizer"], true);
    assert_eq!(
        event["extendedProperties"]["private"]["corbiMeetingId"],
        "m-1"
    );
    let got = env
        .call("GET", &format!("{EVENTS}/{id}"), &env.alice, None)
        .await;
    assert_eq!(got.body, event);
}

#[tokio::test]
async fn client_ids_are_validated_and_unique() {
    let env = env().await;
    let mut body = timed("x", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z");
    body["id"] = json!("corbi0001abc");
    assert_eq!(
        env.insert("primary", body.clone()).await["id"],
        "corbi0001abc"
    );
    let dup = env
        .call("POST", EVENTS, &env.alice, Some(body.clone()))
        .await;
    assert_eq!((dup.status, reason(&dup.body)), (409, "duplicate"));
    body["id"] = json!("Not_Valid!");
    assert_eq!(
        env.call("POST", EVENTS, &env.alice, Some(body))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn bad_times_are_refused() {
    let env = env().await;
    let backwards = env
        .call(
            "POST",
            EVENTS,
            &env.alice,
            Some(timed("x", "2026-03-02T10:00:00Z", "2026-03-02T09:00:00Z")),
        )
        .await;
    assert_eq!(
        (backwards.status, reason(&backwards.body)),
        (400, "timeRangeEmpty")
    );
    let no_end = env
        .call(
            "POST",
            EVENTS,
            &env.alice,
            Some(json!({ "start": { "dateTime": "2026-03-02T10:00:00Z" } })),
        )
        .await;
    assert_eq!((no_end.status, reason(&no_end.body)), (400, "required"));
    let garbage = env
        .http
        .post(env.url(EVENTS))
        .bearer_auth(&env.alice)
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(garbage.status().as_u16(), 400);
}

#[tokio::test]
async fn patch_merges_bumps_sequence_and_etag_and_honours_if_match() {
    let env = env().await;
    let mut body = timed("Review", "2026-03-03T10:00:00Z", "2026-03-03T11:00:00Z");
    body["extendedProperties"] = json!({ "private": { "a": "1" } });
    let event = env.insert("primary", body).await;
    let path = format!("{EVENTS}/{}", event["id"].as_str().expect("id"));
    let old_etag = event["etag"].as_str().expect("etag").to_owned();
    let renamed = env
        .call_with(
            "PATCH",
            &path,
            &env.alice,
            Some(
                json!({ "summary": "Review 2", "extendedProperties": { "private": { "b": "2" } } }),
            ),
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["summary"], "Review 2");
    assert_eq!(
        renamed.body["sequence"], 0,
        "a title change is not significant"
    );
    assert_eq!(
        renamed.body["extendedProperties"]["private"],
        json!({ "a": "1", "b": "2" })
    );
    assert_ne!(renamed.body["etag"], event["etag"]);
    let stale = env
        .call_with(
            "PATCH",
            &path,
            &env.alice,
            Some(json!({ "summary": "lost" })),
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(
        stale.body,
        json!({"error":{"errors":[{"domain":"global","reason":"conditionNotMet","message":"Precondition Failed","locationType":"header","location":"If-Match"}],"code":412,"message":"Precondition Failed"}})
    );
    let moved = env.call("PATCH", &path, &env.alice, Some(json!({ "start": { "dateTime": "2026-03-03T12:00:00Z" }, "end": { "dateTime": "2026-03-03T13:00:00Z" } }))).await;
    assert_eq!(moved.body["sequence"], 1);
    let stale_delete = env
        .call_with(
            "DELETE",
            &path,
            &env.alice,
            None,
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(stale_delete.status, 412);
}

#[tokio::test]
async fn update_replaces_but_keeps_server_fields() {
    let env = env().await;
    let mut body = timed("Full", "2026-03-04T10:00:00Z", "2026-03-04T11:00:00Z");
    body["location"] = json!("Room 1");
    let event = env.insert("primary", body).await;
    let path = format!("{EVENTS}/{}", event["id"].as_str().expect("id"));
    let replaced = env
        .call(
            "PUT",
            &path,
            &env.alice,
            Some(timed(
                "Replaced",
                "2026-03-04T10:00:00Z",
                "2026-03-04T11:00:00Z",
            )),
        )
        .await;
    assert_eq!(replaced.status, 200);
    assert!(replaced.body.get("location").is_none());
    assert_eq!(replaced.body["created"], event["created"]);
    assert_eq!(replaced.body["iCalUID"], event["iCalUID"]);
    assert_eq!(
        replaced.body["sequence"], 1,
        "location removed is significant"
    );
}

#[tokio::test]
async fn delete_marks_cancelled_and_second_delete_is_gone() {
    let env = env().await;
    let event = env
        .insert(
            "primary",
            timed("Bye", "2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z"),
        )
        .await;
    let path = format!(
        "{EVENTS}/{}?sendUpdates=all",
        event["id"].as_str().expect("id")
    );
    assert_eq!(
        env.call("DELETE", &path, &env.alice, None).await.status,
        204
    );
    let got = env.call("GET", &path, &env.alice, None).await;
    assert_eq!(got.body["status"], "cancelled");
    let again = env.call("DELETE", &path, &env.alice, None).await;
    assert_eq!((again.status, reason(&again.body)), (410, "deleted"));
    let list = env.call("GET", EVENTS, &env.alice, None).await;
    assert!(list.body["items"].as_array().expect("items").is_empty());
    let with_deleted = env
        .call(
            "GET",
            &format!("{EVENTS}?showDeleted=true"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(with_deleted.body["items"][0]["status"], "cancelled");
}

#[tokio::test]
async fn move_changes_calendar_and_organizer() {
    let env = env().await;
    let room = env.emu.create_calendar(ALICE, "Room 3");
    let event = env
        .insert(
            "primary",
            timed("Moving", "2026-03-06T10:00:00Z", "2026-03-06T11:00:00Z"),
        )
        .await;
    let id = event["id"].as_str().expect("id");
    let moved = env
        .call(
            "POST",
            &format!("{EVENTS}/{id}/move?destination={room}"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["organizer"]["email"], room.as_str());
    assert_eq!(
        env.call(
            "GET",
            &format!("/calendar/v3/calendars/{room}/events/{id}"),
            &env.alice,
            None
        )
        .await
        .status,
        200
    );
    let source = env.emu.events(ALICE);
    assert_eq!(source[0]["status"], "cancelled");
}

#[tokio::test]
async fn conference_data_is_created_only_with_version_1() {
    let env = env().await;
    let mut body = timed("Call", "2026-03-07T10:00:00Z", "2026-03-07T11:00:00Z");
    body["conferenceData"] = json!({ "createRequest": { "requestId": "r1", "conferenceSolutionKey": { "type": "hangoutsMeet" } } });
    let without = env.insert("primary", body.clone()).await;
    assert!(without.get("conferenceData").is_none() && without.get("hangoutLink").is_none());
    let with = env
        .call(
            "POST",
            &format!("{EVENTS}?conferenceDataVersion=1"),
            &env.alice,
            Some(body),
        )
        .await;
    let link = with.body["hangoutLink"].as_str().expect("hangoutLink");
    assert!(link.starts_with("https://meet.google.com/"));
    assert_eq!(
        with.body["conferenceData"]["createRequest"]["status"]["statusCode"],
        "success"
    );
    assert_eq!(with.body["conferenceData"]["entryPoints"][0]["uri"], link);
}
