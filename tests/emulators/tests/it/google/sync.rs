//! Paging, sync tokens, incremental lists, 410 on invalidated tokens, filters.

use serde_json::{Value, json};

use super::common::{ALICE, Env, env, reason, timed};

const EVENTS: &str = "/calendar/v3/calendars/primary/events";

async fn full_sync(env: &Env, query: &str) -> (Vec<Value>, String, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let page_param = token
            .as_ref()
            .map(|t| format!("&pageToken={t}"))
            .unwrap_or_default();
        let page = env
            .call(
                "GET",
                &format!("{EVENTS}?{query}{page_param}"),
                &env.alice,
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        pages += 1;
        items.extend(
            page.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .cloned(),
        );
        if let Some(next) = page.body["nextPageToken"].as_str() {
            assert!(
                page.body.get("nextSyncToken").is_none(),
                "sync token only on the last page"
            );
            token = Some(next.to_owned());
            continue;
        }
        return (
            items,
            page.body["nextSyncToken"]
                .as_str()
                .expect("nextSyncToken")
                .to_owned(),
            pages,
        );
    }
}

#[tokio::test]
async fn paging_then_incremental_sync_with_deletions() {
    let env = env().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let event = env
            .insert(
                "primary",
                timed(
                    &format!("e{i}"),
                    "2026-04-01T10:00:00Z",
                    "2026-04-01T11:00:00Z",
                ),
            )
            .await;
        ids.push(event["id"].as_str().expect("id").to_owned());
    }
    let (items, sync, pages) = full_sync(&env, "maxResults=2").await;
    assert_eq!((items.len(), pages), (5, 3));
    let empty = env
        .call(
            "GET",
            &format!("{EVENTS}?syncToken={sync}"),
            &env.alice,
            None,
        )
        .await;
    assert!(empty.body["items"].as_array().expect("items").is_empty());
    let same = empty.body["nextSyncToken"]
        .as_str()
        .expect("token")
        .to_owned();
    env.call(
        "PATCH",
        &format!("{EVENTS}/{}", ids[1]),
        &env.alice,
        Some(json!({ "summary": "changed" })),
    )
    .await;
    env.call("DELETE", &format!("{EVENTS}/{}", ids[2]), &env.alice, None)
        .await;
    let new = env
        .insert(
            "primary",
            timed("new", "2026-04-02T10:00:00Z", "2026-04-02T11:00:00Z"),
        )
        .await;
    let delta = env
        .call(
            "GET",
            &format!("{EVENTS}?syncToken={same}"),
            &env.alice,
            None,
        )
        .await;
    let items = delta.body["items"].as_array().expect("items");
    let summary: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id"),
                i["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (ids[1].as_str(), "confirmed"),
            (ids[2].as_str(), "cancelled"),
            (new["id"].as_str().expect("id"), "confirmed")
        ]
    );
    assert!(
        items[1].get("summary").is_none(),
        "deleted events come back as tombstones"
    );
}

#[tokio::test]
async fn invalidated_sync_token_answers_410() {
    let env = env().await;
    env.insert(
        "primary",
        timed("a", "2026-04-01T10:00:00Z", "2026-04-01T11:00:00Z"),
    )
    .await;
    let (_, sync, _) = full_sync(&env, "").await;
    env.emu.invalidate_sync_tokens(ALICE);
    let gone = env
        .call(
            "GET",
            &format!("{EVENTS}?syncToken={sync}"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(gone.status, 410);
    assert_eq!(
        gone.body,
        json!({"error":{"errors":[{"domain":"calendar","reason":"fullSyncRequired","message":"Sync token is no longer valid, a full sync is required.","locationType":"parameter","location":"syncToken"}],"code":410,"message":"Sync token is no longer valid, a full sync is required."}})
    );
    let (items, fresh, _) = full_sync(&env, "").await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        env.call(
            "GET",
            &format!("{EVENTS}?syncToken={fresh}"),
            &env.alice,
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn parameters_forbidden_with_sync_token_are_refused() {
    let env = env().await;
    let (_, sync, _) = full_sync(&env, "").await;
    for extra in [
        "timeMin=2026-01-01T00:00:00Z",
        "orderBy=updated",
        "privateExtendedProperty=a%3Db",
        "q=x",
        "updatedMin=2026-01-01T00:00:00Z",
        "showDeleted=false",
    ] {
        let refused = env
            .call(
                "GET",
                &format!("{EVENTS}?syncToken={sync}&{extra}"),
                &env.alice,
                None,
            )
            .await;
        assert_eq!(
            (refused.status, reason(&refused.body)),
            (400, "invalid"),
            "{extra}"
        );
    }
    let garbage = env
        .call(
            "GET",
            &format!("{EVENTS}?syncToken=garbage"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn filters_time_window_updated_min_and_extended_properties() {
    let env = env().await;
    let mut tagged = timed("tagged", "2026-05-01T10:00:00Z", "2026-05-01T11:00:00Z");
    tagged["extendedProperties"] = json!({ "private": { "corbi": "yes" } });
    env.insert("primary", tagged).await;
    env.insert(
        "primary",
        timed("later", "2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z"),
    )
    .await;
    let window = env
        .call(
            "GET",
            &format!("{EVENTS}?timeMin=2026-05-01T10:30:00Z&timeMax=2026-05-02T00:00:00Z"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(window.body["items"].as_array().expect("items").len(), 1);
    let prop = env
        .call(
            "GET",
            &format!("{EVENTS}?privateExtendedProperty=corbi%3Dyes"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(prop.body["items"][0]["summary"], "tagged");
    assert_eq!(prop.body["items"].as_array().expect("items").len(), 1);
    let text = env
        .call("GET", &format!("{EVENTS}?q=LATER"), &env.alice, None)
        .await;
    assert_eq!(text.body["items"][0]["summary"], "later");
    let future = env
        .call(
            "GET",
            &format!("{EVENTS}?updatedMin=2999-01-01T00:00:00Z"),
            &env.alice,
            None,
        )
        .await;
    assert!(future.body["items"].as_array().expect("items").is_empty());
    let bad_order = env
        .call(
            "GET",
            &format!("{EVENTS}?orderBy=startTime"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(bad_order.status, 400);
}

#[tokio::test]
async fn moved_event_shows_cancelled_in_the_source_sync() {
    let env = env().await;
    let room = env.emu.create_calendar(ALICE, "Room");
    let event = env
        .insert(
            "primary",
            timed("m", "2026-04-01T10:00:00Z", "2026-04-01T11:00:00Z"),
        )
        .await;
    let (_, sync, _) = full_sync(&env, "").await;
    let id = event["id"].as_str().expect("id");
    env.call(
        "POST",
        &format!("{EVENTS}/{id}/move?destination={room}"),
        &env.alice,
        None,
    )
    .await;
    let delta = env
        .call(
            "GET",
            &format!("{EVENTS}?syncToken={sync}"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(delta.body["items"][0]["id"], id);
    assert_eq!(delta.body["items"][0]["status"], "cancelled");
}
