//! Recurrence rules in every form Google writes, unreadable ones, random ones and old series.

use super::*;

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
