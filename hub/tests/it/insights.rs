//! Insights: the occupancy figures of a hand-counted week (two rooms, Europe/Berlin across the
//! October DST change, attended, no-show, cancelled, released and rebooked meetings, a daily
//! series with one occurrence taken out), CSV equal to JSON, tenancy, roles and bad ranges;
//! and the daily operations figures surviving a restart and adding up across two hub
//! processes on one database.
//!
//! The week, Thu 22 – Wed 28 Oct 2026 (Berlin is UTC+2 until Sun 25 Oct 03:00, then UTC+1),
//! working hours Mon–Fri 08:00–18:00 (10 h), local times:
//! - Alpha (6 seats): A1 Thu 09–10 ATTENDED (3 people); A2 Thu 17–19 NO_SHOW (1; only 17–18 is
//!   working time); A3 Fri 10–11 cancelled the day before (not a booking, `cancelled` 1);
//!   A4 Fri 14–15 cancelled at 14:30 (a booking of 1 h, 2 people); A7 Sun 10–12 left SCHEDULED,
//!   so the sweep marks it NO_SHOW (weekend: no working hours; 4 people); A5 Mon 09–11 released
//!   at 09:10 (booked 10 min, released 1 h 50, 1 person); A6 Mon 09:30–10:30 ATTENDED (books
//!   1 h of the released time again, 2 people).
//! - Beta (6 seats): B1 Thu 13–14 ATTENDED (6 people); a daily 08:00–08:30 series Fri–Tue
//!   (3 people) whose Monday occurrence is taken out (EXDATE); B2 Tue 08:15–09:00 NO_SHOW
//!   (no participants: counts as one person), overlapping the series (union 08:00–09:00);
//!   B3 Wed 16–17 left SCHEDULED, marked NO_SHOW by the sweep (2 people).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use shared::{ChangeType, CreatedByType, MeetingStatus, Source};

use hub::meetings::{
    model::{Meeting, Participant, WriteState},
    store::ChangeActor,
    transitions::{self, Transition},
};

use crate::{
    on_both_engines,
    support::{Engine, TestHub, World, expect_error},
};

const FROM: &str = "2026-10-22";
const TO: &str = "2026-10-28";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

struct Row<'a> {
    tag: &'a str,
    room: &'a str,
    start: &'a str,
    end: &'a str,
    status: MeetingStatus,
    people: usize,
    cancelled_at: Option<&'a str>,
}

fn meeting(tenant_id: &str, row: &Row<'_>) -> Meeting {
    let created = at("2026-10-01T08:00:00Z");
    Meeting {
        id: format!("insights{}", row.tag),
        tenant_id: tenant_id.to_string(),
        resource_id: Some(row.room.to_string()),
        title: row.tag.to_string(),
        description: None,
        start: at(row.start),
        end: at(row.end),
        time_zone: "Europe/Berlin".into(),
        status: row.status,
        write_state: WriteState::Confirmed,
        created_by_type: CreatedByType::Human,
        created_by: "fixture".into(),
        source: Source::Corbi,
        organizer_email: None,
        participants: (0..row.people)
            .map(|i| Participant {
                email: format!("p{i}@example.com"),
                name: None,
                phone: None,
                response_status: "accepted".into(),
            })
            .collect(),
        location: None,
        meeting_link: None,
        recurrence: None,
        series_end: None,
        metadata: json!({}),
        calendar_id: "insights-fixture".into(),
        connection_owner: "tenant".into(),
        google_event_id: format!("insights{}", row.tag),
        etag: None,
        ical_uid: None,
        sequence: 0,
        google_updated: None,
        checked_in_at: None,
        cancel_reason: None,
        created_at: created,
        updated_at: row.cancelled_at.map_or(created, at),
        last_sync_time: None,
    }
}

async fn insert(world: &World, meeting: &Meeting) {
    let mut tx = world.hub.db().begin_write().await.expect("tx");
    assert!(
        hub::meetings::store::insert(&mut tx, meeting, None)
            .await
            .expect("insert")
    );
    tx.commit().await.expect("commit");
}

/// The week of the module docs, in the hub's database, after a no-show sweep.
async fn week(engine: Engine) -> World {
    let world = World::with_rooms(engine, &["Alpha", "Beta"]).await;
    let settings = world
        .hub
        .call(
            Method::PUT,
            "/api/v1/tenant/settings",
            Some(&world.acme.admin_token),
            Some(json!({"time_zone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(settings.status(), 200);
    let (alpha, beta) = (world.rooms[0].as_str(), world.rooms[1].as_str());
    let tenant = world.acme.tenant_id.clone();
    use MeetingStatus::{Attended, Cancelled, NoShow, Scheduled};
    let rows = [
        Row {
            tag: "a1",
            room: alpha,
            start: "2026-10-22T07:00:00Z",
            end: "2026-10-22T08:00:00Z",
            status: Attended,
            people: 3,
            cancelled_at: None,
        },
        Row {
            tag: "a2",
            room: alpha,
            start: "2026-10-22T15:00:00Z",
            end: "2026-10-22T17:00:00Z",
            status: NoShow,
            people: 1,
            cancelled_at: None,
        },
        Row {
            tag: "a3",
            room: alpha,
            start: "2026-10-23T08:00:00Z",
            end: "2026-10-23T09:00:00Z",
            status: Cancelled,
            people: 2,
            cancelled_at: Some("2026-10-22T12:00:00Z"),
        },
        Row {
            tag: "a4",
            room: alpha,
            start: "2026-10-23T12:00:00Z",
            end: "2026-10-23T13:00:00Z",
            status: Cancelled,
            people: 2,
            cancelled_at: Some("2026-10-23T12:30:00Z"),
        },
        Row {
            tag: "a5",
            room: alpha,
            start: "2026-10-26T08:00:00Z",
            end: "2026-10-26T10:00:00Z",
            status: NoShow,
            people: 1,
            cancelled_at: None,
        },
        Row {
            tag: "a6",
            room: alpha,
            start: "2026-10-26T08:30:00Z",
            end: "2026-10-26T09:30:00Z",
            status: Attended,
            people: 2,
            cancelled_at: None,
        },
        Row {
            tag: "a7",
            room: alpha,
            start: "2026-10-25T09:00:00Z",
            end: "2026-10-25T11:00:00Z",
            status: Scheduled,
            people: 4,
            cancelled_at: None,
        },
        Row {
            tag: "b1",
            room: beta,
            start: "2026-10-22T11:00:00Z",
            end: "2026-10-22T12:00:00Z",
            status: Attended,
            people: 6,
            cancelled_at: None,
        },
        Row {
            tag: "b2",
            room: beta,
            start: "2026-10-27T07:15:00Z",
            end: "2026-10-27T08:00:00Z",
            status: NoShow,
            people: 0,
            cancelled_at: None,
        },
        Row {
            tag: "b3",
            room: beta,
            start: "2026-10-28T15:00:00Z",
            end: "2026-10-28T16:00:00Z",
            status: Scheduled,
            people: 2,
            cancelled_at: None,
        },
    ];
    for row in &rows {
        insert(&world, &meeting(&tenant, row)).await;
    }
    let mut series = meeting(
        &tenant,
        &Row {
            tag: "bs",
            room: beta,
            start: "2026-10-23T06:00:00Z",
            end: "2026-10-23T06:30:00Z",
            status: Scheduled,
            people: 3,
            cancelled_at: None,
        },
    );
    series.recurrence = Some(vec![
        "RRULE:FREQ=DAILY;COUNT=5".into(),
        "EXDATE;TZID=UTC:20261026T070000".into(),
    ]);
    series.series_end = series.computed_series_end();
    insert(&world, &series).await;
    let state = &world.hub.hub.state;
    let a5 = hub::meetings::store::get(&state.db, &tenant, "insightsa5")
        .await
        .expect("a5");
    let released = transitions::transition(
        &state.db,
        &state.jobs,
        Transition {
            meeting: &a5,
            from: &[NoShow],
            to: NoShow,
            checked_in_at: None,
            released_at: Some(at("2026-10-26T08:10:00Z")),
            facts: None,
            change: ChangeType::NoShow,
            actor: &ChangeActor {
                actor_type: shared::ActorType::System,
                actor_id: None,
            },
        },
    )
    .await
    .expect("release");
    assert!(released);
    hub::attendance::sweep(
        &state.db,
        &state.jobs,
        &state.google,
        &state.metrics,
        Utc::now(),
    )
    .await
    .expect("sweep");
    world
}

async fn occupancy(world: &World, query: &str) -> Value {
    let response = world
        .hub
        .call(
            Method::GET,
            &format!("/api/v1/insights/occupancy?{query}"),
            Some(&world.acme.admin_token),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

const DAY_FIELDS: [&str; 9] = [
    "bookings",
    "available_hours",
    "booked_hours",
    "used_hours",
    "no_shows",
    "attended",
    "cancelled",
    "released_hours",
    "rebooked_hours",
];

fn figures(value: &Value, fields: &[&str]) -> Vec<f64> {
    fields
        .iter()
        .map(|f| {
            value[*f]
                .as_f64()
                .unwrap_or_else(|| panic!("{f} in {value}"))
        })
        .collect()
}

fn assert_close(actual: &[f64], expected: &[f64], what: &str) {
    let close = actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| (a - e).abs() < 1e-9);
    assert!(close, "{what}: got {actual:?}, hand count {expected:?}");
}

const TOTAL_FIELDS: [&str; 14] = [
    "bookings",
    "available_hours",
    "booked_hours",
    "used_hours",
    "no_shows",
    "attended",
    "cancelled",
    "released_hours",
    "rebooked_hours",
    "utilization",
    "used_utilization",
    "no_show_rate",
    "mean_participants_per_capacity",
    "single_person_share",
];

async fn every_figure_equals_the_hand_count(engine: Engine) {
    let world = week(engine).await;
    let answer = occupancy(&world, &format!("from={FROM}&to={TO}")).await;
    assert_eq!(answer["time_zone"], "Europe/Berlin");
    let resources = answer["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 2);
    let by_name = |name: &str| {
        resources
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {answer}"))
    };
    let alpha = by_name("Alpha");
    let beta = by_name("Beta");
    assert_eq!(alpha["resource_id"], world.rooms[0].as_str());
    // date, then DAY_FIELDS.
    let alpha_days: [(&str, [f64; 9]); 7] = [
        ("2026-10-22", [2.0, 10.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]),
        ("2026-10-23", [1.0, 10.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
        ("2026-10-24", [0.0; 9]),
        ("2026-10-25", [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        (
            "2026-10-26",
            [2.0, 10.0, 1.1667, 1.0, 1.0, 1.0, 0.0, 1.8333, 1.0],
        ),
        ("2026-10-27", [0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("2026-10-28", [0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ];
    let beta_days: [(&str, [f64; 9]); 7] = [
        ("2026-10-22", [1.0, 10.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
        ("2026-10-23", [1.0, 10.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("2026-10-24", [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("2026-10-25", [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("2026-10-26", [0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("2026-10-27", [2.0, 10.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
        ("2026-10-28", [1.0, 10.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
    ];
    for (resource, expected) in [(alpha, alpha_days), (beta, beta_days)] {
        let days = resource["days"].as_array().expect("days");
        assert_eq!(days.len(), 7);
        for (day, (date, figures_expected)) in days.iter().zip(expected) {
            assert_eq!(day["date"], date);
            let what = format!("{} on {date}", resource["name"]);
            assert_close(&figures(day, &DAY_FIELDS), &figures_expected, &what);
        }
    }
    assert_close(
        &figures(&alpha["totals"], &TOTAL_FIELDS),
        &[
            6.0, 50.0, 4.1667, 2.0, 3.0, 2.0, 1.0, 1.8333, 1.0, 0.0833, 0.04, 0.6, 0.3611, 0.3333,
        ],
        "Alpha totals",
    );
    assert_close(
        &figures(&beta["totals"], &TOTAL_FIELDS),
        &[
            7.0, 50.0, 3.5, 1.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.07, 0.02, 0.6667, 0.5, 0.1429,
        ],
        "Beta totals",
    );
    assert_close(
        &figures(&answer["totals"], &TOTAL_FIELDS),
        &[
            13.0, 100.0, 7.6667, 3.0, 5.0, 3.0, 1.0, 1.8333, 1.0, 0.0767, 0.03, 0.625, 0.4359,
            0.2308,
        ],
        "all totals",
    );
    let heat = &answer["heatmap"];
    assert_eq!(heat.as_array().map(Vec::len), Some(7));
    assert!(
        heat.as_array()
            .expect("rows")
            .iter()
            .all(|r| r.as_array().map(Vec::len) == Some(24))
    );
    let cell = |weekday: usize, hour: usize| heat[weekday][hour].as_f64().expect("cell");
    assert_close(
        &[
            cell(0, 9),
            cell(3, 9),
            cell(3, 17),
            cell(3, 18),
            cell(6, 2),
            cell(6, 8),
            cell(6, 10),
            cell(2, 9),
        ],
        &[0.3333, 0.5, 0.5, 0.5, 0.0, 0.25, 0.5, 0.0],
        "heatmap (Mon 9h, Thu 9h, Thu 17h, Thu 18h, Sun 2h twice over, Sun 8h, Sun 10h, Wed 9h)",
    );
    let bands = answer["right_sizing"].as_array().expect("bands");
    let six = bands
        .iter()
        .find(|b| b["capacity_from"] == 5)
        .expect("the 5–8 band");
    assert_eq!(six["capacity_to"], 8);
    assert_eq!(six["meetings"], 13);
    assert_close(
        &[six["mean_participants"].as_f64().expect("mean")],
        &[2.6154],
        "5–8 band",
    );
    assert!(
        bands
            .iter()
            .filter(|b| b["capacity_from"] != 5)
            .all(|b| b["meetings"] == 0)
    );

    let only_beta = occupancy(
        &world,
        &format!(
            "from={FROM}&to={TO}&resource_id={}&kind=ROOM",
            world.rooms[1]
        ),
    )
    .await;
    assert_eq!(only_beta["resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(only_beta["totals"], beta["totals"]);
    let later = occupancy(
        &world,
        &format!("from=2026-10-24&to={TO}&resource_id={}", world.rooms[1]),
    )
    .await;
    let bookings: Vec<&Value> = later["resources"][0]["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| &d["bookings"])
        .collect();
    assert_eq!(
        bookings,
        [1, 1, 0, 2, 1],
        "the series begun before the range still counts: {later}"
    );
    let devices = occupancy(&world, &format!("from={FROM}&to={TO}&kind=DEVICE")).await;
    assert_eq!(devices["resources"], json!([]));

    let stats = daily_stats(&world.hub, &world.acme.admin_token).await;
    let today = &stats["days"][0];
    assert_eq!(today["no_shows"], 2, "the sweep's two no-shows: {stats}");
    assert!(
        today["google_calls"].as_i64() > Some(0),
        "Google calls counted: {stats}"
    );
    world.hub.stop().await;
}
on_both_engines!(every_figure_equals_the_hand_count);

async fn csv_equals_json(engine: Engine) {
    let world = week(engine).await;
    let query = format!("from={FROM}&to={TO}");
    let answer = occupancy(&world, &query).await;
    let response = world
        .hub
        .client
        .get(
            world
                .hub
                .url(&format!("/api/v1/insights/occupancy?{query}")),
        )
        .bearer_auth(&world.acme.admin_token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/csv")),
    );
    let text = response.text().await.expect("text");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header[..3], ["resource_id", "name", "date"]);
    assert_eq!(header[3..], DAY_FIELDS);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut expected = Vec::new();
    for resource in answer["resources"].as_array().expect("resources") {
        for day in resource["days"].as_array().expect("days") {
            expected.push((
                resource["resource_id"].clone(),
                resource["name"].clone(),
                day.clone(),
            ));
        }
    }
    assert_eq!(rows.len(), expected.len());
    assert_eq!(rows.len(), 14);
    for (row, (id, name, day)) in rows.iter().zip(&expected) {
        assert_eq!(row[0], id.as_str().expect("id"));
        assert_eq!(row[1], name.as_str().expect("name"));
        assert_eq!(row[2], day["date"].as_str().expect("date"));
        let values: Vec<f64> = row[3..]
            .iter()
            .map(|v| v.parse().expect("number"))
            .collect();
        assert_close(&values, &figures(day, &DAY_FIELDS), "CSV row");
    }
    world.hub.stop().await;
}
on_both_engines!(csv_equals_json);

async fn other_tenants_resources_are_not_found_and_members_are_refused(engine: Engine) {
    let world = World::with_rooms(engine, &["Alpha"]).await;
    let globex = world.hub.seed("globex").await;
    let path = format!(
        "/api/v1/insights/occupancy?from={FROM}&to={TO}&resource_id={}",
        world.rooms[0]
    );
    let foreign = world
        .hub
        .call(Method::GET, &path, Some(&globex.admin_token), None)
        .await;
    expect_error(foreign, 404, "NOT_FOUND").await;
    let member = world
        .hub
        .call(Method::GET, &path, Some(&world.acme.member_token), None)
        .await;
    expect_error(member, 403, "FORBIDDEN").await;
    let stats = world
        .hub
        .call(
            Method::GET,
            &format!("/api/v1/admin/daily-stats?from={FROM}&to={TO}"),
            Some(&world.acme.member_token),
            None,
        )
        .await;
    expect_error(stats, 403, "FORBIDDEN").await;
    let own = world
        .hub
        .call(Method::GET, &path, Some(&world.acme.admin_token), None)
        .await;
    assert_eq!(own.status(), 200);
    world.hub.stop().await;
}
on_both_engines!(other_tenants_resources_are_not_found_and_members_are_refused);

async fn bad_ranges_name_the_field(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let cases = [
        ("from=2030-02-01&to=2030-01-31", "to"),
        ("from=2030-01-01&to=2031-01-02", "to"),
        ("from=2030-02-30&to=2030-03-01", "from"),
        ("from=yesterday&to=2030-03-01", "from"),
        ("from=2030-01-01", "to"),
        ("from=2030-01-01&to=2030-01-02&kind=TABLE", "kind"),
    ];
    for route in ["/api/v1/insights/occupancy", "/api/v1/admin/daily-stats"] {
        for (query, field) in cases {
            if route.ends_with("daily-stats") && field == "kind" {
                continue;
            }
            let response = hub
                .call(
                    Method::GET,
                    &format!("{route}?{query}"),
                    Some(&acme.admin_token),
                    None,
                )
                .await;
            let body = expect_error(response, 422, "VALIDATION_FAILED").await;
            assert_eq!(
                body["error"]["details"]["fields"][0]["field"], field,
                "{route}?{query}: {body}"
            );
        }
    }
    hub.stop().await;
}
on_both_engines!(bad_ranges_name_the_field);

async fn daily_stats(hub: &TestHub, token: &str) -> Value {
    let today = Utc::now().date_naive();
    let response = hub
        .call(
            Method::GET,
            &format!("/api/v1/admin/daily-stats?from={today}&to={today}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn daily_stats_survive_a_restart_and_add_up_across_processes(engine: Engine) {
    use hub::ops_stats::{Counter, record};
    let hub = TestHub::start(engine).await;
    let acme = hub.seed("acme").await;
    let mut config = hub.hub.state.config.as_ref().clone();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.mqtt_bind = "127.0.0.1:0".parse().expect("addr");
    let other = hub::Hub::start(config, hub::jobs::Registry::new())
        .await
        .expect("a second hub on the same database");
    let (db_one, db_two) = (hub.db().clone(), other.state.db.clone());
    let tenant = acme.tenant_id.clone();
    let writes = (0..40).map(|i| {
        let db = if i % 2 == 0 {
            db_one.clone()
        } else {
            db_two.clone()
        };
        let tenant = tenant.clone();
        tokio::spawn(async move { record(&db, &tenant, Counter::EventsSynced, 3).await })
    });
    for write in futures::future::join_all(writes).await {
        write.expect("write task");
    }
    other.stop().await;
    let stats = daily_stats(&hub, &acme.admin_token).await;
    assert_eq!(stats["days"][0]["events_synced"], 120, "{stats}");
    assert_eq!(stats["totals"]["events_synced"], 120, "{stats}");
    assert_eq!(stats["days"][0]["webhook_errors"], 0, "{stats}");

    let hub = hub.restart(|_| {}).await;
    record(hub.db(), &tenant, Counter::EventsSynced, 5).await;
    let stats = daily_stats(&hub, &acme.admin_token).await;
    assert_eq!(
        stats["days"][0]["events_synced"], 125,
        "after a restart: {stats}"
    );
    let metrics = hub
        .call(
            Method::GET,
            "/metrics",
            Some(crate::support::METRICS_TOKEN),
            None,
        )
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("corbi_daily_today{counter=\"events_synced\"} 125"),
        "{metrics}"
    );
    hub.stop().await;
}
on_both_engines!(daily_stats_survive_a_restart_and_add_up_across_processes);
