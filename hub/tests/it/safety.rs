//! Issue 17, whatever Google sends cannot break a room: recurrence rules in every form Google
//! writes (and ones nobody can read), import windows and notice policy, old series, forged
//! markers and per-tenant isolation of periodic work.

use std::time::Duration;

use chrono::{Duration as Days, Utc};
use emulators::{
    google::Role,
    sendgrid::{SendGridConfig, SendGridEmulator},
};
use hub::{
    google::types::Event,
    meetings::external::{self, Applied, CalendarScope},
    sync::store as sync_store,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::{
    on_both_engines,
    support::{
        Engine, ROOMS_ACCOUNT, Seeded, World, booking, captured_logs, eventually, init_log_capture,
    },
};

const EVENTS: &str = "/api/v1/calendar/events";
const EXTERNAL_USER: &str = "pat@outside.example.com";
const FULL_SCOPE: &str = "https://www.googleapis.com/auth/calendar";
const WAIT: Duration = Duration::from_secs(30);
const SG_KEY: &str = "SG.safety-test-key-Qw3rTy";
const TEMPLATE: &str = "d-22222222222222222222222222222222";

/// Rooms whose calendars an outside person edits in "Google's UI" (the emulator's API with
/// their own token), synced by the hub.
struct Safety {
    world: World,
    calendars: Vec<String>,
    outsider: String,
}

impl Safety {
    async fn start(engine: Engine, names: &[&str]) -> Safety {
        Safety::start_with(engine, names, |_| {}).await
    }

    async fn start_with(
        engine: Engine,
        names: &[&str],
        adjust: impl FnOnce(&mut hub::config::Config),
    ) -> Safety {
        let world = World::with_rooms_and(engine, names, |c| {
            c.sync.debounce_ms = 50;
            c.sync.check_secs = 1;
            adjust(c);
        })
        .await;
        world.google.emulator.add_account(EXTERNAL_USER);
        let outsider = world
            .google
            .emulator
            .issue_access_token(EXTERNAL_USER, &[FULL_SCOPE]);
        let mut calendars = Vec::new();
        for room in &world.rooms {
            let calendar = world.calendar_of(room).await;
            world
                .google
                .emulator
                .share_calendar(&calendar, EXTERNAL_USER, Role::Writer);
            calendars.push(calendar);
        }
        let safety = Safety {
            world,
            calendars,
            outsider,
        };
        for calendar in &safety.calendars {
            safety.wait_followed(calendar).await;
        }
        safety
    }

    fn acme(&self) -> &Seeded {
        &self.world.acme
    }

    async fn wait_followed(&self, calendar: &str) {
        let db = self.world.hub.db().clone();
        let tenant = self.acme().tenant_id.clone();
        eventually(WAIT, "calendar watched and synced", || {
            let (db, tenant) = (db.clone(), tenant.clone());
            async move {
                let live = sync_store::live_channels(&db, &tenant, calendar)
                    .await
                    .expect("channels");
                let followed = sync_store::calendar(&db, &tenant, calendar)
                    .await
                    .expect("calendar");
                live.iter().any(|c| c.status == "active")
                    && followed.is_some_and(|c| c.sync_token.is_some())
            }
        })
        .await;
    }

    /// The outsider inserts an event into a room's calendar in Google.
    async fn outside_insert(&self, room: usize, event: Value) -> Response {
        let encoded: String =
            url::form_urlencoded::byte_serialize(self.calendars[room].as_bytes()).collect();
        let url = format!(
            "{}/calendar/v3/calendars/{encoded}/events",
            self.world.google.emulator.base_url()
        );
        self.world
            .hub
            .client
            .post(url)
            .bearer_auth(&self.outsider)
            .json(&event)
            .send()
            .await
            .expect("emulator answers")
    }

    /// The outsider inserts an event into any calendar shared with them.
    async fn insert_into(&self, calendar: &str, event: &Value) -> Response {
        let encoded: String = url::form_urlencoded::byte_serialize(calendar.as_bytes()).collect();
        let url = format!(
            "{}/calendar/v3/calendars/{encoded}/events",
            self.world.google.emulator.base_url()
        );
        self.world
            .hub
            .client
            .post(url)
            .bearer_auth(&self.outsider)
            .json(event)
            .send()
            .await
            .expect("emulator answers")
    }

    /// Email notices on for every change, through an emulated SendGrid.
    async fn email_notices(&self, sendgrid: &SendGridEmulator, external_changes: bool) {
        let stored = self
            .call(
                Method::PUT,
                "/api/v1/tenant/notification-credentials",
                Some(json!({"sendgrid_api_key": SG_KEY})),
            )
            .await;
        assert_eq!(stored.status(), 200);
        let _ = sendgrid;
        let saved = self
            .call(
                Method::PUT,
                "/api/v1/tenant/settings",
                Some(json!({"notifications": {
                    "email": {"enabled": true, "on": ["CREATED", "UPDATED", "RESCHEDULED", "CANCELLED"],
                              "template_id": TEMPLATE, "sender": "notices@acme.example.com"},
                    "external_changes": external_changes,
                }})),
            )
            .await;
        assert_eq!(saved.status(), 200);
    }

    /// Waits until `count` notify jobs exist and none is queued or running.
    async fn notify_jobs_settled(&self, count: i64) {
        let db = self.world.hub.db().clone();
        eventually(WAIT, "notification jobs finish", || {
            let db = db.clone();
            async move {
                let (total, open): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state IN ('queued', 'running') THEN 1 ELSE 0 END), 0) \
                     FROM jobs WHERE kind = 'notify.meeting'",
                )
                .fetch_one(db.pool())
                .await
                .expect("jobs");
                if total >= count && open == 0 { Ok(()) } else { Err(format!("{total} jobs, {open} open")) }
            }
        })
        .await;
    }

    async fn notification_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM notification_log WHERE tenant_id = $1")
            .bind(&self.acme().tenant_id)
            .fetch_one(self.world.hub.db().pool())
            .await
            .expect("count")
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.world
            .hub
            .call(method, path, Some(&self.acme().admin_token), body)
            .await
    }

    async fn book(&self, room: usize, title: &str, day: &str, from: &str, to: &str) -> u16 {
        let answer = self
            .call(
                Method::POST,
                EVENTS,
                Some(booking(&self.world.rooms[room], title, day, from, to)),
            )
            .await;
        let status = answer.status().as_u16();
        if status != 201 {
            let body = answer.text().await.unwrap_or_default();
            eprintln!("booking {day} {from}-{to}: {status} {body}");
        }
        status
    }

    /// Meetings of the tenant with source EXTERNAL, as the API lists them.
    async fn external_meetings(&self) -> Vec<Value> {
        let listed: Value = self
            .call(
                Method::GET,
                &format!("{EVENTS}?limit=200&from=2000-01-01T00:00:00Z"),
                None,
            )
            .await
            .json()
            .await
            .expect("json");
        listed["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m["source"] == "EXTERNAL")
            .collect()
    }

    async fn wait_imported(&self, count: usize) -> Vec<Value> {
        eventually(WAIT, "events imported from Google", || async {
            let found = self.external_meetings().await;
            if found.len() >= count {
                Ok(found)
            } else {
                Err(format!("{} of {count}", found.len()))
            }
        })
        .await
    }

    fn scope(&self, room: usize) -> CalendarScope {
        CalendarScope {
            tenant_id: self.acme().tenant_id.clone(),
            calendar_id: self.calendars[room].clone(),
            resource_id: Some(self.world.rooms[room].clone()),
            connection_owner: "tenant".into(),
        }
    }

    /// Applies an event as sync would have listed it (for what Google itself cannot hold).
    async fn apply(&self, room: usize, event: Value) -> Applied {
        let event: Event = serde_json::from_value(event).expect("event");
        let mut tx = self.world.hub.db().begin_write().await.expect("tx");
        let applied = external::apply_event(
            &mut tx,
            &self.world.hub.hub.state.jobs,
            &self.scope(room),
            &event,
        )
        .await
        .expect("applied");
        tx.commit().await.expect("commit");
        applied
    }
}

fn timed(summary: &str, start: &str, end: &str, recurrence: &[&str]) -> Value {
    json!({
        "summary": summary,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        "recurrence": recurrence,
    })
}

/// Every recurrence form Google writes is understood: the room stays bookable where the series
/// is free, and busy exactly where it is not (2031-03-03 is a Monday).
async fn google_rule_forms_are_understood_and_never_block_the_room(engine: Engine) {
    let safety = Safety::start(engine, &["Atlas"]).await;
    let fixtures = [
        json!({
            "summary": "Inventory",
            "start": {"date": "2031-03-03"}, "end": {"date": "2031-03-04"},
            "recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20310331"],
        }),
        timed(
            "Standup",
            "2031-03-04T09:00:00Z",
            "2031-03-04T09:30:00Z",
            &["RRULE:FREQ=DAILY;UNTIL=20310314T093000Z"],
        ),
        timed(
            "Board",
            "2031-03-05T14:00:00Z",
            "2031-03-05T15:00:00Z",
            &["RRULE:FREQ=WEEKLY;COUNT=2", "RDATE:20310320T140000Z"],
        ),
        timed(
            "Lab",
            "2031-03-04T11:00:00Z",
            "2031-03-04T12:00:00Z",
            &[
                "RRULE:FREQ=DAILY;COUNT=14",
                "EXRULE:FREQ=DAILY;INTERVAL=2;COUNT=7",
            ],
        ),
        timed(
            "Review",
            "2031-03-06T16:00:00Z",
            "2031-03-06T17:00:00Z",
            &["RRULE:FREQ=MONTHLY;COUNT=3;BYSETPOS=1"],
        ),
    ];
    for fixture in fixtures {
        let inserted = safety.outside_insert(0, fixture.clone()).await;
        assert_eq!(inserted.status(), 200, "Google takes {fixture}");
    }
    let imported = safety.wait_imported(5).await;
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT recurrence_error FROM meetings WHERE tenant_id = $1")
            .bind(&safety.acme().tenant_id)
            .fetch_all(safety.world.hub.db().pool())
            .await
            .expect("rows");
    assert!(
        errors.iter().all(Option::is_none),
        "{errors:?} {imported:?}"
    );
    // Busy where a correct expansion says so: 409, never 422.
    for (day, from, to, what) in [
        (
            "2031-03-24",
            "10:00",
            "11:00",
            "an all-day Monday before a DATE UNTIL",
        ),
        (
            "2031-03-12",
            "09:00",
            "09:30",
            "a daily slot before a UTC UNTIL",
        ),
        ("2031-03-20", "14:00", "15:00", "an RDATE"),
        ("2031-03-05", "11:00", "12:00", "a day the EXRULE leaves"),
        ("2031-04-06", "16:00", "17:00", "a month of a lone BYSETPOS"),
    ] {
        assert_eq!(safety.book(0, "Clash", day, from, to).await, 409, "{what}");
    }
    // Free where the rules end or exclude.
    for (day, from, to, what) in [
        (
            "2031-04-07",
            "10:00",
            "11:00",
            "a Monday after the DATE UNTIL",
        ),
        ("2031-03-16", "09:00", "09:30", "a day after the UTC UNTIL"),
        ("2031-03-06", "11:00", "12:00", "a day the EXRULE removes"),
        ("2031-03-12", "13:00", "14:00", "a free afternoon"),
    ] {
        assert_eq!(safety.book(0, "Fits", day, from, to).await, 201, "{what}");
    }
    let room = &safety.world.rooms[0];
    let availability = safety
        .call(
            Method::GET,
            &format!("/api/v1/resources/{room}/availability?from=2031-03-10T00:00:00Z&to=2031-03-11T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(availability.status(), 200);
    let slots = safety
        .call(
            Method::GET,
            &format!("/api/v1/calendar/free-slots?duration_minutes=30&resource_id={room}&from=2031-03-10T00:00:00Z&to=2031-03-17T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(slots.status(), 200);
}
on_both_engines!(google_rule_forms_are_understood_and_never_block_the_room);

/// A rule nobody can read is still imported, counts as its first occurrence only, shows as a
/// warning of its calendar with title and link, and never makes another request fail.
async fn an_unreadable_rule_counts_once_and_is_shown_as_a_warning(engine: Engine) {
    let safety = Safety::start(engine, &["Atlas"]).await;
    let mut event = timed(
        "Odd series",
        "2031-05-05T10:00:00Z",
        "2031-05-05T11:00:00Z",
        &["RRULE:FREQ=FORTNIGHTLY;BYMOONPHASE=FULL"],
    );
    event["id"] = json!("oddseries1");
    event["etag"] = json!("\"1\"");
    event["updated"] = json!("2031-01-01T00:00:00.000Z");
    assert_eq!(safety.apply(0, event).await, Applied::Created);
    assert_eq!(
        safety
            .book(0, "Clash", "2031-05-05", "10:30", "11:30")
            .await,
        409
    );
    assert_eq!(
        safety
            .book(0, "Later", "2031-05-19", "10:00", "11:00")
            .await,
        201
    );
    let health: Value = safety
        .call(Method::GET, "/api/v1/sync/calendars", None)
        .await
        .json()
        .await
        .expect("json");
    let warnings = &health["items"][0]["warnings"];
    assert_eq!(warnings.as_array().map(Vec::len), Some(1), "{health}");
    assert_eq!(warnings[0]["title"], "Odd series");
    let link = warnings[0]["link"].as_str().expect("link");
    assert_eq!(safety.call(Method::GET, link, None).await.status(), 200);
    assert!(
        warnings[0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("first occurrence"))
    );
}
on_both_engines!(an_unreadable_rule_counts_once_and_is_shown_as_a_warning);

/// Random RFC 5545-ish rules (valid, odd and broken) imported on a room: booking on it still
/// answers 201 or 409, never 422 or 500.
async fn random_rules_never_make_booking_fail(engine: Engine) {
    let safety = Safety::start(engine, &["Atlas"]).await;
    let mut rng = StdRng::seed_from_u64(17);
    for case in 0..24 {
        let lines = random_rule(&mut rng);
        let day = 1 + case % 28;
        let mut event = timed(
            &format!("Random {case}"),
            &format!("2032-02-{day:02}T10:00:00Z"),
            &format!("2032-02-{day:02}T11:00:00Z"),
            &lines.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        event["id"] = json!(format!("random{case}"));
        event["etag"] = json!("\"1\"");
        assert_eq!(safety.apply(0, event).await, Applied::Created, "{lines:?}");
        let hour = rng.random_range(6..20);
        let status = safety
            .book(
                0,
                "Probe",
                &format!("2032-02-{:02}", 1 + rng.random_range(0..28)),
                &format!("{hour:02}:00"),
                &format!("{hour:02}:30"),
            )
            .await;
        assert!(matches!(status, 201 | 409), "{status} after {lines:?}");
    }
}
on_both_engines!(random_rules_never_make_booking_fail);

fn random_rule(rng: &mut StdRng) -> Vec<String> {
    let pick = |rng: &mut StdRng, options: &[&str]| {
        options[rng.random_range(0..options.len())].to_string()
    };
    let mut parts = vec![format!(
        "FREQ={}",
        pick(
            rng,
            &[
                "DAILY",
                "WEEKLY",
                "MONTHLY",
                "YEARLY",
                "HOURLY",
                "MINUTELY",
                "SOMETIMES"
            ]
        )
    )];
    if rng.random_bool(0.5) {
        parts.push(format!("INTERVAL={}", rng.random_range(0..6)));
    }
    match rng.random_range(0..5) {
        0 => parts.push(format!("COUNT={}", rng.random_range(0..400))),
        1 => parts.push("UNTIL=20320601".into()),
        2 => parts.push("UNTIL=20320601T120000".into()),
        3 => parts.push(pick(
            rng,
            &[
                "UNTIL=20320601T120000Z",
                "UNTIL=20200101T000000Z",
                "UNTIL=never",
            ],
        )),
        _ => {}
    }
    if rng.random_bool(0.4) {
        parts.push(format!(
            "BYDAY={}",
            pick(rng, &["MO,WE", "1MO", "-1FR", "XX", "SU"])
        ));
    }
    if rng.random_bool(0.3) {
        parts.push(format!("BYSETPOS={}", rng.random_range(-400..400)));
    }
    if rng.random_bool(0.2) {
        parts.push(format!("BYMONTHDAY={}", rng.random_range(-40..40)));
    }
    let mut lines = vec![format!("RRULE:{}", parts.join(";"))];
    if rng.random_bool(0.3) {
        lines.push(pick(
            rng,
            &[
                "EXDATE;VALUE=DATE:20320210",
                "EXDATE:20320211T100000Z",
                "RDATE;TZID=Europe/Berlin:20320301T110000",
                "RDATE:garbage",
                "EXRULE:FREQ=WEEKLY;COUNT=2",
            ],
        ));
    }
    lines
}

fn sendgrid_config() -> SendGridConfig {
    SendGridConfig {
        api_keys: vec![SG_KEY.into()],
        ..SendGridConfig::default()
    }
}

fn at_days(days: i64, hour: u32) -> String {
    let day = (Utc::now() + Days::days(days)).date_naive();
    format!("{}T{hour:02}:00:00Z", day.format("%Y-%m-%d"))
}

fn with_attendees(mut event: Value, count: usize) -> Value {
    event["attendees"] = (0..count)
        .map(|i| json!({"email": format!("guest{i}@example.org")}))
        .collect();
    event
}

/// Onboarding a room calendar with three years of history imports only the last 30 days (and
/// everything ahead) and sends nobody a notice: past events are stored silently, events made
/// in Google are not announced unless the tenant asks.
async fn onboarding_a_calendar_with_years_of_history_imports_30_days_and_mails_nobody(
    engine: Engine,
) {
    let sendgrid = SendGridEmulator::start(sendgrid_config())
        .await
        .expect("sendgrid");
    let url = sendgrid.base_url();
    let safety = Safety::start_with(engine, &[], |c| c.notify.sendgrid_base_url = url).await;
    safety.email_notices(&sendgrid, false).await;
    let emulator = &safety.world.google.emulator;
    let calendar = emulator.create_calendar(ROOMS_ACCOUNT, "Old room");
    emulator.share_calendar(&calendar, EXTERNAL_USER, Role::Writer);
    let mut history = Vec::new();
    for i in 0..40 {
        let days = -(40 + 27 * i);
        history.push(timed(
            &format!("Old {i}"),
            &at_days(days, 9),
            &at_days(days, 10),
            &[],
        ));
    }
    history.push(json!({
        "summary": "Old weekly",
        "start": {"dateTime": at_days(-1000, 12), "timeZone": "UTC"},
        "end": {"dateTime": at_days(-1000, 13), "timeZone": "UTC"},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=20"],
    }));
    history.push(timed("Recent", &at_days(-10, 9), &at_days(-10, 10), &[]));
    history.push(timed("Upcoming", &at_days(10, 9), &at_days(10, 10), &[]));
    for event in history {
        let event = with_attendees(event, 3);
        assert_eq!(safety.insert_into(&calendar, &event).await.status(), 200);
    }
    let onboarded = safety
        .call(
            Method::POST,
            "/api/v1/resources",
            Some(json!({"name": "Old room", "kind": "ROOM", "capacity": 6,
                        "calendar": {"mode": "EXISTING", "calendar_id": calendar}})),
        )
        .await;
    assert_eq!(onboarded.status(), 201);
    safety.wait_followed(&calendar).await;
    let imported = safety.wait_imported(2).await;
    let mut titles: Vec<&str> = imported
        .iter()
        .filter_map(|m| m["title"].as_str())
        .collect();
    titles.sort_unstable();
    assert_eq!(titles, ["Recent", "Upcoming"]);
    safety.notify_jobs_settled(2).await;
    assert_eq!(safety.notification_rows().await, 0);
    assert!(sendgrid.messages().is_empty());
}
on_both_engines!(onboarding_a_calendar_with_years_of_history_imports_30_days_and_mails_nobody);

/// An event made in Google with 1,000 attendees is kept whole for display; when the tenant
/// announces Google's changes, notices go to the first 100 only.
async fn a_thousand_attendee_event_is_kept_whole_and_announced_to_a_hundred(engine: Engine) {
    let sendgrid = SendGridEmulator::start(sendgrid_config())
        .await
        .expect("sendgrid");
    let url = sendgrid.base_url();
    let safety = Safety::start_with(engine, &["Atlas"], |c| c.notify.sendgrid_base_url = url).await;
    safety.email_notices(&sendgrid, true).await;
    let event = with_attendees(
        timed(
            "All hands",
            "2031-09-01T09:00:00Z",
            "2031-09-01T10:00:00Z",
            &[],
        ),
        1_000,
    );
    assert_eq!(safety.outside_insert(0, event).await.status(), 200);
    let imported = safety.wait_imported(1).await;
    assert_eq!(
        imported[0]["participants"].as_array().map(Vec::len),
        Some(1_000)
    );
    safety.notify_jobs_settled(1).await;
    assert_eq!(safety.notification_rows().await, 100);
    let mailed: usize = sendgrid
        .messages()
        .iter()
        .flat_map(|m| {
            m.request["personalizations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|p| p["to"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(mailed, 100);
}
on_both_engines!(a_thousand_attendee_event_is_kept_whole_and_announced_to_a_hundred);

/// A tenant whose sweep fails (its settings cannot be read) between two healthy ones: both
/// healthy tenants are swept, the failure is counted, and the sweep itself succeeds.
async fn a_failing_tenant_between_two_healthy_ones_does_not_stop_the_sweep(engine: Engine) {
    let world = World::with_rooms(engine, &["Atlas"]).await;
    let hub = &world.hub;
    let mut tenants = vec![(
        world.acme.tenant_id.clone(),
        world.acme.admin_token.clone(),
        world.rooms[0].clone(),
    )];
    for slug in ["bravo", "charlie"] {
        let account = format!("rooms@{slug}.example.com");
        world.google.emulator.add_account(&account);
        let seeded = hub.seed(slug).await;
        assert_eq!(
            hub.consent(&seeded.admin_token, "tenant", &account).await,
            200
        );
        let room: Value = hub
            .call(
                Method::POST,
                "/api/v1/resources",
                Some(&seeded.admin_token),
                Some(json!({"name": "Room", "kind": "ROOM", "capacity": 4, "calendar": {"mode": "CREATE"}})),
            )
            .await
            .json()
            .await
            .expect("room");
        let room = room["id"].as_str().expect("id").to_string();
        tenants.push((seeded.tenant_id, seeded.admin_token, room));
    }
    tenants.sort();
    let mut ids = Vec::new();
    for (_, token, room) in &tenants {
        let booked = world
            .book(
                token,
                booking(room, "Nobody came", "2031-03-03", "09:00", "09:30"),
            )
            .await;
        assert_eq!(booked.status(), 201);
        let body: Value = booked.json().await.expect("json");
        ids.push(body["id"].as_str().expect("id").to_string());
    }
    sqlx::query(
        "INSERT INTO tenant_settings (tenant_id, settings, updated_at) VALUES ($1, '{not json', $2) \
         ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings",
    )
    .bind(&tenants[1].0)
    .bind(hub::db::timestamp(Utc::now()))
    .execute(hub.db().pool())
    .await
    .expect("broken settings");
    let state = &hub.hub.state;
    let now = chrono::DateTime::parse_from_rfc3339("2031-03-03T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let report = hub::attendance::sweep(&state.db, &state.jobs, &state.google, &state.metrics, now)
        .await
        .expect("the sweep goes on past a failing tenant");
    assert_eq!((report.no_shows, report.failed_tenants), (2, 1));
    let statuses: Vec<String> = {
        let mut found = Vec::new();
        for id in &ids {
            let status: String = sqlx::query_scalar("SELECT status FROM meetings WHERE id = $1")
                .bind(id)
                .fetch_one(hub.db().pool())
                .await
                .expect("status");
            found.push(status);
        }
        found
    };
    assert_eq!(statuses, ["NO_SHOW", "SCHEDULED", "NO_SHOW"]);
}
on_both_engines!(a_failing_tenant_between_two_healthy_ones_does_not_stop_the_sweep);

/// An event on a second room's calendar carrying another meeting's private marker and event
/// id is imported as an ordinary external event; the meeting stays where it is, untouched,
/// and the mismatch is logged as a security event.
async fn a_forged_marker_on_a_second_calendar_takes_nothing_over(engine: Engine) {
    init_log_capture();
    let safety = Safety::start(engine, &["Atlas", "Borealis"]).await;
    let booked = safety
        .call(
            Method::POST,
            EVENTS,
            Some(booking(
                &safety.world.rooms[0],
                "Budget",
                "2031-06-02",
                "09:00",
                "10:00",
            )),
        )
        .await;
    assert_eq!(booked.status(), 201);
    let meeting: Value = booked.json().await.expect("json");
    let id = meeting["id"].as_str().expect("id");
    let mut forged = timed(
        "Takeover",
        "2031-06-02T13:00:00Z",
        "2031-06-02T14:00:00Z",
        &[],
    );
    forged["id"] = meeting["google"]["event_id"].clone();
    forged["extendedProperties"] = json!({"private": {
        "corbi_meeting_id": id, "corbi_tenant_id": safety.acme().tenant_id,
    }});
    assert_eq!(safety.outside_insert(1, forged).await.status(), 200);
    let imported = safety.wait_imported(1).await;
    assert_eq!(imported[0]["title"], "Takeover");
    assert_eq!(imported[0]["resource_id"], safety.world.rooms[1].as_str());
    let after: Value = safety
        .call(Method::GET, &format!("{EVENTS}/{id}"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["title"], "Budget");
    assert_eq!(after["resource_id"], safety.world.rooms[0].as_str());
    assert_eq!(after["start"], "2031-06-02T09:00:00Z");
    let changes: Value = safety
        .call(Method::GET, &format!("{EVENTS}/{id}/changes"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        changes["items"].as_array().map(Vec::len),
        Some(1),
        "{changes}"
    );
    assert!(captured_logs().contains("untrusted_marker"));
}
on_both_engines!(a_forged_marker_on_a_second_calendar_takes_nothing_over);

/// Series counted from their start used to stop counting after a few thousand occurrences: a
/// daily series begun years ago and an hourly one begun a year ago still block the room today.
async fn old_daily_and_hourly_series_still_count(engine: Engine) {
    let safety = Safety::start(engine, &["Atlas"]).await;
    let daily = timed(
        "Old daily",
        "2010-01-04T09:00:00Z",
        "2010-01-04T09:30:00Z",
        &["RRULE:FREQ=DAILY"],
    );
    let start = at_days(-400, 0);
    let end = start.replace("T00:00:00Z", "T00:10:00Z");
    let hourly = timed(
        "Old hourly",
        &start,
        &end,
        &["RRULE:FREQ=HOURLY;BYMINUTE=0"],
    );
    for (n, mut event) in [daily, hourly].into_iter().enumerate() {
        event["id"] = json!(format!("oldseries{n}"));
        event["etag"] = json!("\"1\"");
        assert_eq!(safety.apply(0, event).await, Applied::Created);
    }
    let day = at_days(30, 0)[..10].to_string();
    assert_eq!(safety.book(0, "Clash", &day, "09:00", "09:20").await, 409);
    assert_eq!(safety.book(0, "Clash", &day, "14:00", "14:05").await, 409);
    assert_eq!(safety.book(0, "Fits", &day, "14:15", "14:45").await, 201);
}
on_both_engines!(old_daily_and_hourly_series_still_count);
