//! freebusy.query.

use emulators::google::Role;
use serde_json::json;

use super::common::{ALICE, BOB, env, timed};

#[tokio::test]
async fn busy_blocks_are_merged_and_hidden_calendars_report_not_found() {
    let env = env().await;
    env.insert(
        "primary",
        timed("a", "2026-07-01T09:00:00Z", "2026-07-01T10:00:00Z"),
    )
    .await;
    env.insert(
        "primary",
        timed("b", "2026-07-01T09:30:00Z", "2026-07-01T11:00:00Z"),
    )
    .await;
    let mut free = timed("free", "2026-07-01T12:00:00Z", "2026-07-01T13:00:00Z");
    free["transparency"] = json!("transparent");
    env.insert("primary", free).await;
    let mut series = timed("daily", "2026-07-01T14:00:00Z", "2026-07-01T15:00:00Z");
    series["start"]["timeZone"] = json!("UTC");
    series["recurrence"] = json!(["RRULE:FREQ=DAILY;COUNT=2"]);
    env.insert("primary", series).await;
    let cancelled = env
        .insert(
            "primary",
            timed("gone", "2026-07-01T16:00:00Z", "2026-07-01T17:00:00Z"),
        )
        .await;
    env.call(
        "DELETE",
        &format!(
            "/calendar/v3/calendars/primary/events/{}",
            cancelled["id"].as_str().expect("id")
        ),
        &env.alice,
        None,
    )
    .await;
    let secret = env.emu.create_calendar(BOB, "Bob private");
    let shared = env.emu.create_calendar(BOB, "Bob busy only");
    env.emu.share_calendar(&shared, ALICE, Role::FreeBusyReader);
    let request = json!({
        "timeMin": "2026-07-01T00:00:00Z", "timeMax": "2026-07-03T00:00:00Z",
        "items": [{ "id": ALICE }, { "id": secret }, { "id": shared }],
    });
    let answer = env
        .call("POST", "/calendar/v3/freeBusy", &env.alice, Some(request))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["kind"], "calendar#freeBusy");
    assert_eq!(
        answer.body["calendars"][ALICE]["busy"],
        json!([
            { "start": "2026-07-01T09:00:00Z", "end": "2026-07-01T11:00:00Z" },
            { "start": "2026-07-01T14:00:00Z", "end": "2026-07-01T15:00:00Z" },
            { "start": "2026-07-02T14:00:00Z", "end": "2026-07-02T15:00:00Z" },
        ])
    );
    assert_eq!(
        answer.body["calendars"][secret.as_str()]["errors"][0]["reason"],
        "notFound"
    );
    assert_eq!(answer.body["calendars"][shared.as_str()]["busy"], json!([]));
}
