use shared::ResourceKind;
use shared::protocol::{
    CheckInOutcome, CheckInResult, Message, ScheduleSnapshot, SnapshotStatus, encode,
};

use super::*;

fn snapshot(version: u64) -> ScheduleSnapshot {
    ScheduleSnapshot {
        resource_id: "r".to_owned(),
        name: "Blue".to_owned(),
        kind: ResourceKind::Room,
        capacity: None,
        time_zone: "UTC".to_owned(),
        version,
        generated_at: 0,
        check_in_opens_minutes_before: 5,
        check_in_closes_minutes_after: 10,
        meetings: vec![],
    }
}

fn temp_cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Cache::open(&dir.path().join("agent.db")).expect("open");
    (dir, cache)
}

#[test]
fn latest_snapshot_survives_reopening_in_wal_mode() {
    let (dir, cache) = temp_cache();
    assert_eq!(cache.snapshot("r").expect("read"), None);
    cache.save_snapshot(&snapshot(1), 10).expect("save");
    cache.save_snapshot(&snapshot(2), 20).expect("save");
    drop(cache);
    let reopened = Cache::open(&dir.path().join("agent.db")).expect("reopen");
    let mode: String = reopened
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
    let cached = reopened.snapshot("r").expect("read").expect("cached");
    assert_eq!((cached.snapshot.version, cached.received_at_ms), (2, 20));
}

#[test]
fn outbox_keeps_order_until_each_answer_arrives() {
    let (_dir, mut cache) = temp_cache();
    for key in ["a", "b", "c"] {
        cache.enqueue(key, key.as_bytes(), 1).expect("enqueue");
    }
    assert!(cache.enqueue("a", b"again", 2).is_err(), "keys are unique");
    let keys: Vec<_> = cache
        .pending()
        .expect("pending")
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys, ["a", "b", "c"]);
    let answer = encode(&Message::CheckInResult(CheckInResult {
        idempotency_key: "b".to_owned(),
        outcome: CheckInOutcome::Accepted {
            status: SnapshotStatus::Attended,
        },
    }));
    assert!(cache.complete("b", &answer, 5).expect("complete"));
    assert!(
        !cache.complete("b", &answer, 6).expect("repeat"),
        "second answer is a no-op"
    );
    assert_eq!(cache.outbox_len().expect("len"), 2);
    assert!(matches!(
        cache.result("b").expect("result"),
        Some(Message::CheckInResult(_))
    ));
    assert_eq!(cache.result("a").expect("result"), None);
}
