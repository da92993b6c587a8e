//! The import window and the notice policy of imported events.

use super::*;

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
    safety.email_notices(false).await;
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
    safety.email_notices(true).await;
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
