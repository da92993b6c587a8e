//! Issue 17, whatever Google sends cannot break a room: recurrence rules in every form Google
//! writes (and ones nobody can read), import windows and notice policy, old series, forged
//! markers and per-tenant isolation of periodic work. The harness is here; `rules.rs` (defects
//! 1 and 3), `imports.rs` (defect 2) and `isolation.rs` (defects 5 and 6) hold the tests.

mod imports;
mod isolation;
mod rules;

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
    async fn email_notices(&self, external_changes: bool) {
        let stored = self
            .call(
                Method::PUT,
                "/api/v1/tenant/notification-credentials",
                Some(json!({"sendgrid_api_key": SG_KEY})),
            )
            .await;
        assert_eq!(stored.status(), 200);
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
