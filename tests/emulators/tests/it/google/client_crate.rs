//! Oracle check 1: google-calendar3 (generated from Google's discovery document) drives the
//! emulator and decodes every answer into its own types. The generated client cannot send
//! `If-Match`, so the conditional patch uses the etag it decoded with a plain HTTP call.

use google_calendar3::api::{Channel, Event, EventDateTime, FreeBusyRequest, FreeBusyRequestItem};
use google_calendar3::{CalendarHub, hyper_util};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use super::common::{ALICE, Hook, env};

type Hub = CalendarHub<HttpConnector>;

fn hub(base_url: &str, token: &str) -> Hub {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let mut hub = CalendarHub::new(client, token.to_owned());
    hub.base_url(format!("{base_url}/calendar/v3/"));
    hub.root_url(format!("{base_url}/"));
    hub
}

fn at(s: &str) -> EventDateTime {
    EventDateTime {
        date_time: Some(s.parse().expect("time")),
        ..Default::default()
    }
}

fn event(summary: &str, start: &str, end: &str) -> Event {
    Event {
        summary: Some(summary.into()),
        start: Some(at(start)),
        end: Some(at(end)),
        ..Default::default()
    }
}

#[tokio::test]
async fn generated_client_round_trip() {
    let env = env().await;
    let hub = hub(&env.emu.base_url(), &env.alice);
    let room = env.emu.create_calendar(ALICE, "Room");
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, created) = hub
            .events()
            .insert(
                event(
                    &format!("e{i}"),
                    "2026-09-01T10:00:00Z",
                    "2026-09-01T11:00:00Z",
                ),
                "primary",
            )
            .send_updates("none")
            .doit()
            .await
            .expect("insert");
        ids.push(created.id.expect("id"));
    }
    let (_, got) = hub
        .events()
        .get("primary", &ids[0])
        .doit()
        .await
        .expect("get");
    assert_eq!(got.summary.as_deref(), Some("e0"));
    assert_eq!(got.sequence, Some(0));

    let (_, first) = hub
        .events()
        .list("primary")
        .max_results(2)
        .doit()
        .await
        .expect("list");
    assert_eq!(first.items.as_ref().map(Vec::len), Some(2));
    assert!(first.next_sync_token.is_none());
    let (_, second) = hub
        .events()
        .list("primary")
        .max_results(2)
        .page_token(&first.next_page_token.expect("page"))
        .doit()
        .await
        .expect("page 2");
    let sync = second.next_sync_token.expect("sync token");

    let etag = got.etag.expect("etag");
    let url = format!(
        "{}/calendar/v3/calendars/primary/events/{}",
        env.emu.base_url(),
        ids[0]
    );
    let patch = |tag: &str| {
        env.http
            .patch(&url)
            .bearer_auth(&env.alice)
            .header("If-Match", tag)
            .json(&json!({ "summary": "patched" }))
            .send()
    };
    assert_eq!(patch(&etag).await.expect("patch").status().as_u16(), 200);
    assert_eq!(patch(&etag).await.expect("patch").status().as_u16(), 412);
    let (_, patched) = hub
        .events()
        .patch(
            Event {
                location: Some("Room 1".into()),
                ..Default::default()
            },
            "primary",
            &ids[0],
        )
        .doit()
        .await
        .expect("patch");
    assert_eq!(patched.summary.as_deref(), Some("patched"));

    let (_, moved) = hub
        .events()
        .move_("primary", &ids[1], &room)
        .doit()
        .await
        .expect("move");
    assert_eq!(
        moved.organizer.and_then(|o| o.email).as_deref(),
        Some(room.as_str())
    );
    hub.events()
        .delete("primary", &ids[2])
        .doit()
        .await
        .expect("delete");

    let (_, delta) = hub
        .events()
        .list("primary")
        .sync_token(&sync)
        .doit()
        .await
        .expect("incremental");
    let statuses: Vec<_> = delta
        .items
        .expect("items")
        .into_iter()
        .map(|e| (e.id.expect("id"), e.status.expect("status")))
        .collect();
    assert_eq!(
        statuses,
        [
            (ids[0].clone(), "confirmed".into()),
            (ids[1].clone(), "cancelled".into()),
            (ids[2].clone(), "cancelled".into())
        ]
    );

    let request = FreeBusyRequest {
        time_min: Some("2026-09-01T00:00:00Z".parse().expect("t")),
        time_max: Some("2026-09-02T00:00:00Z".parse().expect("t")),
        items: Some(vec![
            FreeBusyRequestItem {
                id: Some(ALICE.into()),
            },
            FreeBusyRequestItem {
                id: Some(room.clone()),
            },
        ]),
        ..Default::default()
    };
    let (_, busy) = hub
        .freebusy()
        .query(request)
        .doit()
        .await
        .expect("freebusy");
    let calendars = busy.calendars.expect("calendars");
    assert_eq!(calendars[ALICE].busy.as_ref().map(Vec::len), Some(1));
    assert_eq!(calendars[&room].busy.as_ref().map(Vec::len), Some(1));

    let hook = Hook::start().await;
    let channel = Channel {
        id: Some("gc-chan".into()),
        type_: Some("web_hook".into()),
        address: Some(hook.url.clone()),
        token: Some("t".into()),
        ..Default::default()
    };
    let (_, watched) = hub
        .events()
        .watch(channel, "primary")
        .doit()
        .await
        .expect("watch");
    assert!(watched.expiration.expect("expiration") > chrono::Utc::now().timestamp_millis());
    hook.wait_for(1).await;
    let stop = Channel {
        id: watched.id,
        resource_id: watched.resource_id,
        ..Default::default()
    };
    hub.channels().stop(stop).doit().await.expect("stop");
    let (_, list) = hub
        .calendar_list()
        .list()
        .doit()
        .await
        .expect("calendarList");
    assert_eq!(list.items.map(|i| i.len()), Some(2));
    let (_, primary) = hub
        .calendars()
        .get("primary")
        .doit()
        .await
        .expect("calendars.get");
    assert_eq!(primary.id.as_deref(), Some(ALICE));
}
