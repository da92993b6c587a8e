//! Recurring events: singleEvents expansion, exceptions (moved and cancelled instances), instances.

use serde_json::{Value, json};

use super::common::{Env, env};

const EVENTS: &str = "/calendar/v3/calendars/primary/events";

async fn weekly(env: &Env) -> String {
    let body = json!({
        "summary": "Weekly",
        "start": { "dateTime": "2026-01-05T10:00:00+01:00", "timeZone": "Europe/Berlin" },
        "end": { "dateTime": "2026-01-05T11:00:00+01:00", "timeZone": "Europe/Berlin" },
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5", "EXDATE;TZID=Europe/Berlin:20260112T100000"],
    });
    env.insert("primary", body).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn single_events_expand_with_exceptions() {
    let env = env().await;
    let id = weekly(&env).await;
    let moved = env
        .call(
            "PATCH",
            &format!("{EVENTS}/{id}_20260119T090000Z"),
            &env.alice,
            Some(json!({ "start": { "dateTime": "2026-01-19T15:00:00+01:00" }, "end": { "dateTime": "2026-01-19T16:00:00+01:00" } })),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["recurringEventId"], id.as_str());
    assert_eq!(
        moved.body["originalStartTime"]["dateTime"],
        "2026-01-19T10:00:00+01:00"
    );
    let cancelled = env
        .call(
            "DELETE",
            &format!("{EVENTS}/{id}_20260126T090000Z"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(cancelled.status, 204);
    let list = env
        .call(
            "GET",
            &format!("{EVENTS}?singleEvents=true&orderBy=startTime"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(
        ids(&list.body),
        [
            format!("{id}_20260105T090000Z"),
            format!("{id}_20260119T090000Z"),
            format!("{id}_20260202T090000Z")
        ]
    );
    assert_eq!(
        list.body["items"][1]["start"]["dateTime"],
        "2026-01-19T15:00:00+01:00"
    );
    let master_list = env.call("GET", EVENTS, &env.alice, None).await;
    assert_eq!(
        master_list.body["items"].as_array().expect("items").len(),
        2,
        "master and the moved exception"
    );
    let with_deleted = env
        .call(
            "GET",
            &format!("{EVENTS}?singleEvents=true&showDeleted=true"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(
        with_deleted.body["items"].as_array().expect("items").len(),
        4
    );
}

#[tokio::test]
async fn instances_lists_the_series() {
    let env = env().await;
    let id = weekly(&env).await;
    let all = env
        .call("GET", &format!("{EVENTS}/{id}/instances"), &env.alice, None)
        .await;
    assert_eq!(all.status, 200);
    assert_eq!(ids(&all.body).len(), 4);
    let page = env
        .call(
            "GET",
            &format!("{EVENTS}/{id}/instances?maxResults=3"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(ids(&page.body).len(), 3);
    let token = page.body["nextPageToken"].as_str().expect("page token");
    let rest = env
        .call(
            "GET",
            &format!("{EVENTS}/{id}/instances?maxResults=3&pageToken={token}"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(ids(&rest.body), [format!("{id}_20260202T090000Z")]);
    let instance = env
        .call(
            "GET",
            &format!("{EVENTS}/{id}_20260105T090000Z"),
            &env.alice,
            None,
        )
        .await;
    assert_eq!(instance.body["recurringEventId"], id.as_str());
}

#[tokio::test]
async fn deleting_the_series_cancels_everything() {
    let env = env().await;
    let id = weekly(&env).await;
    assert_eq!(
        env.call("DELETE", &format!("{EVENTS}/{id}"), &env.alice, None)
            .await
            .status,
        204
    );
    let list = env
        .call(
            "GET",
            &format!("{EVENTS}?singleEvents=true"),
            &env.alice,
            None,
        )
        .await;
    assert!(ids(&list.body).is_empty());
}
