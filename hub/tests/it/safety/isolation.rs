//! Forged markers and a failing tenant in the sweep.

use super::*;

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
