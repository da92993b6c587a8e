//! Notifications: SendGrid email and Twilio WhatsApp through the emulators, per-tenant
//! preferences, at most once per (meeting, change, channel, recipient), vendor outages and
//! refusals, signed status callbacks, and secrets kept out of logs.

use std::time::Duration;

use emulators::{
    sendgrid::{Fault, SendGridConfig, SendGridEmulator},
    twilio::{CallbackFault, TwilioConfig, TwilioEmulator},
};
use hub::{config::Config, jobs::NewJob};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

use crate::on_both_engines;
use crate::support::*;

const SG_KEY: &str = "SG.notify-test-key-7Hq2xVb";
const TW_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TW_TOKEN: &str = "twilio-notify-test-token-Zp4Lm";
const TEMPLATE: &str = "d-11111111111111111111111111111111";
const EMAIL_FROM: &str = "notices@acme.example.com";
const WHATSAPP_FROM: &str = "+14155238886";
const ANA_PHONE: &str = "+4915112345678";
const WAIT: Duration = Duration::from_secs(20);

struct Setup {
    world: World,
    sendgrid: SendGridEmulator,
    twilio: TwilioEmulator,
}

impl Setup {
    async fn start(engine: Engine) -> Setup {
        Setup::start_with(engine, |_| {}).await
    }

    /// Emulated vendors, a hub pointed at them, the tenant's credentials stored and
    /// notifications on: email on create, reschedule and cancel; WhatsApp on cancel.
    async fn start_with(engine: Engine, adjust: impl FnOnce(&mut Config)) -> Setup {
        let sendgrid = SendGridEmulator::start(SendGridConfig {
            api_keys: vec![SG_KEY.into()],
            ..SendGridConfig::default()
        })
        .await
        .expect("sendgrid emulator");
        let twilio = TwilioEmulator::start(
            TwilioConfig {
                allow_http_callbacks_on_loopback: true,
                ..TwilioConfig::default()
            }
            .with_account(TW_SID, TW_TOKEN),
        )
        .await
        .expect("twilio emulator");
        let world = World::with_rooms_and(engine, &["Atlas"], |config| {
            config.notify.sendgrid_base_url = sendgrid.base_url();
            config.notify.twilio_base_url = twilio.base_url();
            config.jobs.max_attempts = 10;
            adjust(config);
        })
        .await;
        let setup = Setup {
            world,
            sendgrid,
            twilio,
        };
        let stored = setup
            .admin(
                Method::PUT,
                "/api/v1/tenant/notification-credentials",
                json!({"sendgrid_api_key": SG_KEY, "twilio_account_sid": TW_SID,
                       "twilio_auth_token": TW_TOKEN, "twilio_whatsapp_from": WHATSAPP_FROM}),
            )
            .await;
        assert_eq!(stored.status(), 200);
        setup.preferences(true).await;
        setup
    }

    async fn preferences(&self, enabled: bool) {
        let settings = json!({"notifications": {
            "email": {"enabled": enabled, "on": ["CREATED", "RESCHEDULED", "CANCELLED"],
                      "template_id": TEMPLATE, "sender": EMAIL_FROM},
            "whatsapp": {"enabled": enabled, "on": ["CANCELLED"]},
        }});
        let saved = self
            .admin(Method::PUT, "/api/v1/tenant/settings", settings)
            .await;
        assert_eq!(saved.status(), 200);
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> reqwest::Response {
        self.world
            .hub
            .call(method, path, Some(&self.world.acme.admin_token), Some(body))
            .await
    }

    async fn book(&self, title: &str) -> String {
        let created = self
            .world
            .book(
                &self.world.acme.member_token,
                meeting(&self.world.rooms[0], title),
            )
            .await;
        assert_eq!(created.status(), 201);
        let body: Value = created.json().await.expect("json");
        body["id"].as_str().expect("id").to_string()
    }

    async fn cancel(&self, id: &str, reason: &str) {
        let path = format!("/api/v1/calendar/events/{id}/cancel");
        let cancelled = self
            .world
            .hub
            .call(
                Method::POST,
                &path,
                Some(&self.world.acme.member_token),
                Some(json!({"reason": reason})),
            )
            .await;
        assert_eq!(cancelled.status(), 200);
    }

    async fn notices(&self, query: &str) -> Vec<Value> {
        let listed = self
            .world
            .hub
            .call(
                Method::GET,
                &format!("/api/v1/admin/notifications?{query}"),
                Some(&self.world.acme.admin_token),
                None,
            )
            .await;
        assert_eq!(listed.status(), 200);
        let body: Value = listed.json().await.expect("json");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `count` notify jobs exist and none is queued or running.
    async fn jobs_settled(&self, count: i64) {
        let db = self.world.hub.db().clone();
        eventually(WAIT, "notification jobs finish", || {
            let db = db.clone();
            async move {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS total, \
                         COALESCE(SUM(CASE WHEN state IN ('queued', 'running') \
                                      THEN 1 ELSE 0 END), 0) AS open \
                     FROM jobs WHERE kind = 'notify.meeting'",
                )
                .fetch_one(db.pool())
                .await
                .expect("jobs");
                let total: i64 = row.try_get("total").expect("total");
                let open: i64 = row.try_get("open").expect("open");
                total >= count && open == 0
            }
        })
        .await;
    }

    /// Enqueues another delivery of an outbox event the notify job already received.
    async fn redeliver(&self, event_type: &str) {
        let rows = sqlx::query("SELECT tenant_id, payload FROM jobs WHERE kind = 'notify.meeting'")
            .fetch_all(self.world.hub.db().pool())
            .await
            .expect("jobs");
        let (tenant, payload) = rows
            .iter()
            .map(|row| {
                let tenant: String = row.try_get("tenant_id").expect("tenant");
                let payload: String = row.try_get("payload").expect("payload");
                (
                    tenant,
                    serde_json::from_str::<Value>(&payload).expect("json"),
                )
            })
            .find(|(_, p)| p["event"]["event_type"] == event_type)
            .expect("the event was delivered");
        self.world
            .hub
            .hub
            .state
            .jobs
            .enqueue(NewJob::now("notify.meeting", Some(&tenant), payload))
            .await
            .expect("enqueued");
    }
}

/// A booking in Berlin time with two participants, one with a phone.
fn meeting(room: &str, title: &str) -> Value {
    json!({
        "title": title,
        "start": "2031-06-02T09:00:00Z",
        "end": "2031-06-02T10:00:00Z",
        "time_zone": "Europe/Berlin",
        "resource_id": room,
        "participants": [
            {"email": "ana@example.com", "name": "Ana", "phone": ANA_PHONE},
            {"email": "ben@example.com", "name": "Ben"},
        ],
    })
}

fn assert_no_secrets_logged() {
    let logs = captured_logs();
    for secret in [SG_KEY, TW_TOKEN] {
        assert!(!logs.contains(secret), "a vendor secret reached the logs");
    }
}

async fn a_booking_sends_one_mail_with_a_personalization_per_participant(engine: Engine) {
    let setup = Setup::start(engine).await;
    let id = setup.book("Quarterly planning").await;
    eventually(WAIT, "the booking mail", || async {
        !setup.sendgrid.accepted().is_empty()
    })
    .await;
    setup.jobs_settled(1).await;
    let mails = setup.sendgrid.accepted();
    assert_eq!(mails.len(), 1, "one request for the change");
    let mail = &mails[0].request;
    assert_eq!(mail["template_id"], TEMPLATE);
    assert_eq!(mail["from"]["email"], EMAIL_FROM);
    let personalizations = mail["personalizations"]
        .as_array()
        .expect("personalizations");
    assert_eq!(personalizations.len(), 2);
    let ana = personalizations
        .iter()
        .find(|p| p["to"][0]["email"] == "ana@example.com")
        .expect("Ana");
    let data = &ana["dynamic_template_data"];
    assert_eq!(data["title"], "Quarterly planning");
    assert_eq!(data["change_type"], "CREATED");
    assert_eq!(
        data["start"], "Mon 2 Jun 2031, 11:00",
        "start in the meeting's zone: {data}"
    );
    assert_eq!(data["end"], "Mon 2 Jun 2031, 12:00");
    assert_eq!(data["time_zone"], "Europe/Berlin");
    assert_eq!(data["resource"], "Atlas");
    assert_eq!(data["recipient_name"], "Ana");
    assert_eq!(
        data["corbi_url"],
        format!("{}/meetings/{id}", setup.world.hub.hub.base_url())
    );
    assert!(
        personalizations
            .iter()
            .any(|p| p["to"][0]["email"] == "ben@example.com")
    );
    assert!(
        setup.twilio.messages().is_empty(),
        "WhatsApp announces only cancellations here"
    );
    let sent = setup.notices("state=sent").await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|n| n["channel"] == "email"
        && n["vendor_id"].is_string()
        && n["meeting_id"] == id.as_str()));
    let metrics = setup
        .world
        .hub
        .client
        .get(setup.world.hub.url("/metrics"))
        .bearer_auth(crate::support::METRICS_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"corbi_notifications_total{channel="email",outcome="sent"} 2"#),
        "{metrics}"
    );
    assert_no_secrets_logged();
}
on_both_engines!(a_booking_sends_one_mail_with_a_personalization_per_participant);

async fn reschedule_and_cancel_send_their_notices_and_whatsapp_reaches_phones(engine: Engine) {
    let setup = Setup::start(engine).await;
    let id = setup.book("Design review").await;
    setup.jobs_settled(1).await;
    let path = format!("/api/v1/calendar/events/{id}");
    let moved = setup
        .world
        .hub
        .call(
            Method::PATCH,
            &path,
            Some(&setup.world.acme.member_token),
            Some(json!({"start": "2031-06-03T12:00:00Z", "end": "2031-06-03T13:00:00Z"})),
        )
        .await;
    assert_eq!(moved.status(), 200);
    setup.jobs_settled(2).await;
    let mails = setup.sendgrid.accepted();
    assert_eq!(mails.len(), 2);
    let data = &mails[1].request["personalizations"][0]["dynamic_template_data"];
    assert_eq!(data["change_type"], "RESCHEDULED");
    assert_eq!(data["start"], "Tue 3 Jun 2031, 14:00");

    setup.cancel(&id, "The client postponed").await;
    setup.jobs_settled(3).await;
    let mails = setup.sendgrid.accepted();
    assert_eq!(mails.len(), 3);
    let data = &mails[2].request["personalizations"][0]["dynamic_template_data"];
    assert_eq!(data["change_type"], "CANCELLED");
    assert_eq!(data["cancel_reason"], "The client postponed");
    let whatsapp = setup.twilio.created();
    assert_eq!(whatsapp.len(), 1, "only Ana has a phone");
    let params = &whatsapp[0].params;
    assert_eq!(params["To"], format!("whatsapp:{ANA_PHONE}"));
    assert_eq!(params["From"], format!("whatsapp:{WHATSAPP_FROM}"));
    let body = params["Body"].as_str().expect("body");
    assert!(
        body.contains("\"Design review\"")
            && body.contains("Tue 3 Jun 2031, 14:00 (Europe/Berlin)"),
        "{body}"
    );
    assert!(
        body.contains("cancelled") && body.contains("The client postponed"),
        "{body}"
    );
    assert!(
        body.contains(&format!("/meetings/{id}/reschedule")),
        "{body}"
    );
    assert!(
        params["StatusCallback"]
            .as_str()
            .expect("callback")
            .starts_with(&format!(
                "{}/webhooks/twilio/status?n=",
                setup.world.hub.hub.base_url()
            ))
    );
    let skipped = setup.notices("state=skipped").await;
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["recipient"], "ben@example.com");
    assert_eq!(skipped[0]["channel"], "whatsapp");
    eventually(
        WAIT,
        "Twilio's signed callbacks record delivery",
        || async {
            setup
                .notices("state=sent")
                .await
                .iter()
                .any(|n| n["channel"] == "whatsapp" && n["delivery_status"] == "delivered")
        },
    )
    .await;
    assert_no_secrets_logged();
}
on_both_engines!(reschedule_and_cancel_send_their_notices_and_whatsapp_reaches_phones);

async fn preferences_off_send_nothing(engine: Engine) {
    let setup = Setup::start(engine).await;
    setup.preferences(false).await;
    let id = setup.book("Quiet meeting").await;
    setup.cancel(&id, "no longer needed").await;
    setup.jobs_settled(2).await;
    assert!(setup.sendgrid.messages().is_empty());
    assert!(setup.twilio.messages().is_empty());
    assert!(setup.notices("").await.is_empty());
}
on_both_engines!(preferences_off_send_nothing);

async fn the_same_change_seen_twice_sends_once(engine: Engine) {
    let setup = Setup::start(engine).await;
    let id = setup.book("Once only").await;
    setup.jobs_settled(1).await;
    setup.redeliver("meeting.created").await;
    setup.redeliver("meeting.created").await;
    setup.jobs_settled(3).await;
    assert_eq!(setup.sendgrid.messages().len(), 1);

    setup.cancel(&id, "double check").await;
    setup.redeliver("meeting.cancelled").await;
    setup.redeliver("meeting.cancelled").await;
    setup.jobs_settled(6).await;
    assert_eq!(setup.sendgrid.messages().len(), 2, "one cancel mail");
    assert_eq!(setup.twilio.messages().len(), 1, "one WhatsApp");
    let rows = setup.notices(&format!("meeting_id={id}")).await;
    assert_eq!(
        rows.len(),
        6,
        "2 created + 2 cancelled mails + 2 WhatsApp rows (one skipped)"
    );
}
on_both_engines!(the_same_change_seen_twice_sends_once);

async fn a_lost_answer_after_the_vendor_accepted_still_sends_once(engine: Engine) {
    let setup = Setup::start_with(engine, |config| config.notify.timeout_ms = 300).await;
    setup
        .sendgrid
        .inject(Fault::StallAfterAccept { millis: 1500 }, 1);
    let id = setup.book("Stalled").await;
    setup.jobs_settled(1).await;
    let unknown = setup.notices("state=unknown").await;
    assert_eq!(unknown.len(), 2, "both recipients of the lost answer");
    assert!(
        unknown[0]["error"]
            .as_str()
            .expect("error")
            .contains("not resent")
    );
    setup.redeliver("meeting.created").await;
    setup.jobs_settled(2).await;
    assert_eq!(setup.sendgrid.messages().len(), 1, "never sent again");

    setup
        .twilio
        .inject(Fault::StallAfterAccept { millis: 1500 }, 1);
    setup.cancel(&id, "stalled").await;
    setup.jobs_settled(3).await;
    assert_eq!(setup.twilio.messages().len(), 1);
    eventually(
        WAIT,
        "the signed callback proves the WhatsApp was accepted",
        || async {
            setup
                .notices("state=sent")
                .await
                .iter()
                .any(|n| n["channel"] == "whatsapp")
        },
    )
    .await;
    setup.redeliver("meeting.cancelled").await;
    setup.jobs_settled(4).await;
    assert_eq!(setup.twilio.messages().len(), 1);
    assert_eq!(setup.sendgrid.accepted().len(), 2);
}
on_both_engines!(a_lost_answer_after_the_vendor_accepted_still_sends_once);

async fn an_interrupted_attempt_is_never_resent(engine: Engine) {
    let setup = Setup::start_with(engine, |config| config.notify.timeout_ms = 200).await;
    setup.preferences(false).await;
    setup.book("Crash between send and commit").await;
    setup.jobs_settled(1).await;
    setup.preferences(true).await;
    let tenant = setup.world.acme.tenant_id.clone();
    let meeting_row =
        sqlx::query("SELECT meeting_id, id FROM meeting_changes WHERE tenant_id = $1")
            .bind(&tenant)
            .fetch_one(setup.world.hub.db().pool())
            .await
            .expect("change");
    let meeting_id: String = meeting_row.try_get("meeting_id").expect("meeting");
    let change_id: String = meeting_row.try_get("id").expect("change id");
    const CRASHED_ATTEMPT: &str = "INSERT INTO notification_log \
         (id, tenant_id, meeting_id, change_id, change_type, channel, recipient, state, claim, \
          attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'CREATED', 'email', $5, 'sending', 'crashed', 1, $6, $6)";
    for (row, recipient) in [("n1", "ana@example.com"), ("n2", "ben@example.com")] {
        sqlx::query(CRASHED_ATTEMPT)
            .bind(row)
            .bind(&tenant)
            .bind(&meeting_id)
            .bind(&change_id)
            .bind(recipient)
            .bind(hub::db::timestamp(
                chrono::Utc::now() - chrono::Duration::seconds(30),
            ))
            .execute(setup.world.hub.db().pool())
            .await
            .expect("crashed attempt");
    }
    setup.redeliver("meeting.created").await;
    setup.jobs_settled(2).await;
    assert!(
        setup.sendgrid.messages().is_empty(),
        "the crashed attempt may have been sent"
    );
    let unknown = setup.notices("state=unknown").await;
    assert_eq!(unknown.len(), 2);
}
on_both_engines!(an_interrupted_attempt_is_never_resent);

async fn a_vendor_outage_delays_then_delivers_exactly_once(engine: Engine) {
    let setup = Setup::start(engine).await;
    setup.sendgrid.inject(Fault::ServiceUnavailable, 3);
    let id = setup.book("Outage").await;
    setup.jobs_settled(1).await;
    let tries = setup.sendgrid.messages();
    assert_eq!(tries.len(), 4, "three refusals, then the mail");
    assert_eq!(tries.iter().filter(|m| m.status == 202).count(), 1);
    let sent = setup.notices("state=sent").await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["attempts"], 4);

    setup.twilio.inject(
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        2,
    );
    setup.cancel(&id, "outage").await;
    setup.jobs_settled(2).await;
    assert_eq!(setup.twilio.messages().len(), 3);
    assert_eq!(setup.twilio.created().len(), 1);
    assert_eq!(setup.sendgrid.accepted().len(), 2);
}
on_both_engines!(a_vendor_outage_delays_then_delivers_exactly_once);

async fn permanent_refusals_are_failed_visible_and_not_retried(engine: Engine) {
    let setup = Setup::start(engine).await;
    let changed = setup
        .admin(
            Method::PUT,
            "/api/v1/tenant/notification-credentials",
            json!({"sendgrid_api_key": "SG.revoked-key"}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let id = setup.book("Unauthorized").await;
    setup.jobs_settled(1).await;
    assert_eq!(setup.sendgrid.messages().len(), 1, "a 401 is not retried");
    let failed = setup.notices("state=failed").await;
    assert_eq!(failed.len(), 2);
    assert!(
        failed[0]["error"]
            .as_str()
            .expect("error")
            .starts_with("SendGrid answered 401"),
        "{failed:?}"
    );

    let restored = setup
        .admin(
            Method::PUT,
            "/api/v1/tenant/notification-credentials",
            json!({"sendgrid_api_key": SG_KEY}),
        )
        .await;
    assert_eq!(restored.status(), 200);
    let settings = setup
        .admin(
            Method::PUT,
            "/api/v1/tenant/settings",
            json!({"notifications": {"email": {"template_id": "d-not-a-template"}}}),
        )
        .await;
    assert_eq!(settings.status(), 200);
    setup.cancel(&id, "bad template").await;
    setup.jobs_settled(2).await;
    assert_eq!(setup.sendgrid.messages().len(), 2, "a 400 is not retried");
    let failed = setup.notices("state=failed").await;
    assert_eq!(failed.len(), 4);
    assert!(
        failed.iter().any(|n| n["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("SendGrid answered 400: template_id")),
        "{failed:?}"
    );
    let bad = setup
        .world
        .hub
        .call(
            Method::GET,
            "/api/v1/admin/notifications?state=lost",
            Some(&setup.world.acme.admin_token),
            None,
        )
        .await;
    expect_error(bad, 422, "VALIDATION_FAILED").await;
    let member = setup
        .world
        .hub
        .call(
            Method::GET,
            "/api/v1/admin/notifications",
            Some(&setup.world.acme.member_token),
            None,
        )
        .await;
    expect_error(member, 403, "FORBIDDEN").await;
    assert_no_secrets_logged();
}
on_both_engines!(permanent_refusals_are_failed_visible_and_not_retried);

async fn bad_phone_numbers_and_emails_are_refused_at_booking(engine: Engine) {
    let setup = Setup::start(engine).await;
    let room = setup.world.rooms[0].clone();
    let mut body = meeting(&room, "Bad phone");
    body["participants"][0]["phone"] = json!("0151 1234567");
    let refused = expect_error(
        setup.world.book(&setup.world.acme.member_token, body).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        refused["error"]["details"]["fields"][0]["field"],
        "participants[0].phone"
    );
    let mut body = meeting(&room, "Bad email");
    body["participants"][1]["email"] = json!("ben at example");
    let refused = expect_error(
        setup.world.book(&setup.world.acme.member_token, body).await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        refused["error"]["details"]["fields"][0]["field"],
        "participants[1].email"
    );
    assert!(setup.notices("").await.is_empty());
    assert!(setup.sendgrid.messages().is_empty());
}
on_both_engines!(bad_phone_numbers_and_emails_are_refused_at_booking);

async fn credentials_are_write_only_validated_and_admin_only(engine: Engine) {
    let setup = Setup::start(engine).await;
    let shown = setup
        .world
        .hub
        .call(
            Method::GET,
            "/api/v1/tenant/notification-credentials",
            Some(&setup.world.acme.admin_token),
            None,
        )
        .await;
    assert_eq!(shown.status(), 200);
    let text = shown.text().await.expect("text");
    assert!(
        !text.contains(SG_KEY) && !text.contains(TW_TOKEN) && !text.contains(TW_SID),
        "{text}"
    );
    let view: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        view,
        json!({"sendgrid_api_key_set": true, "twilio_account_sid_set": true,
        "twilio_auth_token_set": true, "twilio_whatsapp_from_set": true})
    );
    let bad = setup
        .admin(
            Method::PUT,
            "/api/v1/tenant/notification-credentials",
            json!({"twilio_account_sid": "AC12", "twilio_whatsapp_from": "12345"}),
        )
        .await;
    let body = expect_error(bad, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        body["error"]["details"]["fields"]
            .as_array()
            .expect("fields")
            .len(),
        2
    );
    let member = setup
        .world
        .hub
        .call(
            Method::PUT,
            "/api/v1/tenant/notification-credentials",
            Some(&setup.world.acme.member_token),
            Some(json!({"sendgrid_api_key": "SG.mine"})),
        )
        .await;
    expect_error(member, 403, "FORBIDDEN").await;
    let bad_senders = json!({"notifications": {
        "email": {"sender": "notices at acme"},
        "whatsapp": {"sender": "0151 1234567"},
    }});
    let bad_sender = setup
        .admin(Method::PUT, "/api/v1/tenant/settings", bad_senders)
        .await;
    let body = expect_error(bad_sender, 422, "VALIDATION_FAILED").await;
    assert_eq!(
        body["error"]["details"]["fields"]
            .as_array()
            .expect("fields")
            .len(),
        2
    );
    let settings: Value = setup
        .world
        .hub
        .call(
            Method::GET,
            "/api/v1/tenant/settings",
            Some(&setup.world.acme.admin_token),
            None,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        settings["notifications"]["email"]["sender"], EMAIL_FROM,
        "the refused change changed nothing"
    );
    let cleared = setup
        .admin(
            Method::PUT,
            "/api/v1/tenant/notification-credentials",
            json!({"sendgrid_api_key": null}),
        )
        .await;
    let view: Value = cleared.json().await.expect("json");
    assert_eq!(view["sendgrid_api_key_set"], false);
    assert_eq!(
        view["twilio_auth_token_set"], true,
        "the refused change changed nothing"
    );
    let stored = sqlx::query("SELECT secrets_sealed FROM notification_credentials")
        .fetch_one(setup.world.hub.db().pool())
        .await
        .expect("row");
    let sealed: String = stored.try_get("secrets_sealed").expect("sealed");
    assert!(!sealed.contains(TW_TOKEN), "sealed at rest");
}
on_both_engines!(credentials_are_write_only_validated_and_admin_only);

async fn forged_status_callbacks_are_refused_and_signed_ones_recorded(engine: Engine) {
    let setup = Setup::start(engine).await;
    setup.twilio.inject_callback(CallbackFault::Drop, 1);
    let id = setup.book("Callbacks").await;
    setup.cancel(&id, "testing callbacks").await;
    setup.jobs_settled(2).await;
    let row = setup
        .notices("state=sent")
        .await
        .into_iter()
        .find(|n| n["channel"] == "whatsapp")
        .expect("WhatsApp row");
    let sid = row["vendor_id"].as_str().expect("sid").to_string();
    assert_eq!(
        row["delivery_status"],
        Value::Null,
        "Twilio's own callbacks were dropped"
    );
    let url = setup.world.hub.url(&format!(
        "/webhooks/twilio/status?n={}",
        row["id"].as_str().expect("id")
    ));
    let params = vec![
        ("AccountSid".to_string(), TW_SID.to_string()),
        ("MessageSid".to_string(), sid.clone()),
        ("MessageStatus".to_string(), "read".to_string()),
    ];
    let post = |signature: Option<String>| {
        let mut request = setup.world.hub.client.post(&url).form(&params);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send()
    };
    let unsigned = post(None).await.expect("sent");
    expect_error(unsigned, 403, "FORBIDDEN").await;
    let forged = post(Some(emulators::twilio::signature(
        "guessed-token",
        &url,
        &params,
    )))
    .await
    .expect("sent");
    expect_error(forged, 403, "FORBIDDEN").await;
    let other_url = format!("{url}x");
    let replayed = post(Some(emulators::twilio::signature(
        TW_TOKEN, &other_url, &params,
    )))
    .await
    .expect("sent");
    expect_error(replayed, 403, "FORBIDDEN").await;
    let after = setup
        .notices("state=sent")
        .await
        .into_iter()
        .find(|n| n["channel"] == "whatsapp")
        .expect("row");
    assert_eq!(
        after["delivery_status"],
        Value::Null,
        "forged callbacks change nothing"
    );
    assert!(captured_logs().contains("refused a Twilio status callback"));

    let signed = post(Some(emulators::twilio::signature(TW_TOKEN, &url, &params)))
        .await
        .expect("sent");
    assert_eq!(signed.status(), 204);
    let after = setup
        .notices("state=sent")
        .await
        .into_iter()
        .find(|n| n["channel"] == "whatsapp")
        .expect("row");
    assert_eq!(after["delivery_status"], "read");
    assert_eq!(after["vendor_id"], sid.as_str());
    assert_no_secrets_logged();
}
on_both_engines!(forged_status_callbacks_are_refused_and_signed_ones_recorded);

async fn updates_are_announced_only_when_the_tenant_lists_them(engine: Engine) {
    let setup = Setup::start(engine).await;
    let id = setup.book("Retitled").await;
    setup.jobs_settled(1).await;
    let path = format!("/api/v1/calendar/events/{id}");
    let token = setup.world.acme.member_token.clone();
    let renamed = setup
        .world
        .hub
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"title": "Retitled (v2)"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    setup.jobs_settled(2).await;
    assert_eq!(setup.sendgrid.messages().len(), 1, "UPDATED is not listed");
    let listed = setup
        .admin(
            Method::PUT,
            "/api/v1/tenant/settings",
            json!({"notifications": {"email": {"on": ["CREATED", "UPDATED"]}}}),
        )
        .await;
    assert_eq!(listed.status(), 200);
    let renamed = setup
        .world
        .hub
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"title": "Retitled (v3)"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    setup.jobs_settled(3).await;
    let mails = setup.sendgrid.accepted();
    assert_eq!(mails.len(), 2);
    let data = &mails[1].request["personalizations"][0]["dynamic_template_data"];
    assert_eq!(data["change_type"], "UPDATED");
    assert_eq!(data["title"], "Retitled (v3)");
}
on_both_engines!(updates_are_announced_only_when_the_tenant_lists_them);
