use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::domain::ResourceKind;

fn snapshot() -> Message {
    Message::ScheduleSnapshot(ScheduleSnapshot {
        resource_id: "room-1".to_string(),
        name: "Blue room".to_string(),
        kind: ResourceKind::Room,
        capacity: Some(8),
        time_zone: "Europe/Paris".to_string(),
        version: 42,
        generated_at: 1_767_225_600_000,
        check_in_opens_minutes_before: 5,
        check_in_closes_minutes_after: 10,
        meetings: vec![SnapshotMeeting {
            id: "m-1".to_string(),
            title: "Standup".to_string(),
            organizer_name: "Ada".to_string(),
            start_ms: 1_767_229_200_000,
            end_ms: 1_767_231_000_000,
            status: SnapshotStatus::Released,
            checked_in: false,
        }],
    })
}

fn every_message() -> Vec<Message> {
    let refused = |reason| WalkUpOutcome::Refused {
        reason,
        sentence: "Booked already".to_string(),
    };
    vec![
        snapshot(),
        Message::CheckIn(CheckIn {
            meeting_id: "m-1".to_string(),
            device_id: "d-1".to_string(),
            at_ms: -5,
            idempotency_key: "k".to_string(),
        }),
        Message::CheckInResult(CheckInResult {
            idempotency_key: "k".to_string(),
            outcome: CheckInOutcome::Accepted {
                status: SnapshotStatus::Attended,
            },
        }),
        Message::WalkUpRequest(WalkUpRequest {
            device_id: "d-1".to_string(),
            idempotency_key: "w".to_string(),
            start_ms: 10,
            minutes: 30,
            title: "Walk-up".to_string(),
        }),
        Message::WalkUpResult(WalkUpResult {
            idempotency_key: "w".to_string(),
            outcome: refused(RefusalCode::Conflict),
        }),
        Message::Heartbeat(Heartbeat {
            device_id: "d-1".to_string(),
            agent_version: "0.1.0".to_string(),
            cache_version: None,
            outbox_len: 3,
        }),
        Message::SnapshotRequest(SnapshotRequest {
            device_id: "d-1".to_string(),
            have_version: Some(41),
        }),
    ]
}

#[test]
fn every_message_round_trips() {
    for message in every_message() {
        assert_eq!(decode(&encode(&message)), Ok(message));
    }
}

#[test]
fn envelope_starts_with_the_version() {
    let bytes = encode(&snapshot());
    assert_eq!(bytes[0], PROTOCOL_VERSION as u8);
    let envelope: Envelope = postcard::from_bytes(&bytes).expect("envelope");
    assert_eq!(envelope.version, PROTOCOL_VERSION);
}

#[test]
fn unknown_version_is_refused() {
    let mut bytes = encode(&snapshot());
    bytes[0] = 2;
    assert_eq!(decode(&bytes), Err(ProtocolError::UnsupportedVersion(2)));
}

#[test]
fn every_truncation_and_trailing_byte_is_malformed() {
    for message in every_message() {
        let bytes = encode(&message);
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len]).is_err(),
                "{} cut at {len}",
                message.kind()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(ProtocolError::Malformed));
    }
}

#[test]
fn oversized_input_is_malformed() {
    let bytes = vec![1u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(decode(&bytes), Err(ProtocolError::Malformed));
}

#[test]
fn topics_follow_the_tree_and_parse_back() {
    let schedule = topics::schedule("t1", "r1").expect("topic");
    assert_eq!(schedule, "corbi/v1/t1/res/r1/schedule");
    let up = topics::up("t1", "r1", "d1").expect("topic");
    assert_eq!(up, "corbi/v1/t1/res/r1/up/d1");
    let down = topics::down("t1", "r1", "d1").expect("topic");
    assert_eq!(down, "corbi/v1/t1/res/r1/down/d1");
    assert_eq!(
        topics::resource_filter("t1", "r1").as_deref(),
        Ok("corbi/v1/t1/res/r1/#")
    );
    let parsed = topics::parse(&up).expect("parse");
    assert_eq!(
        (parsed.tenant, parsed.resource, parsed.channel),
        ("t1", "r1", topics::Channel::Up { device: "d1" })
    );
    assert_eq!(
        topics::parse(&schedule).map(|p| p.channel),
        Some(topics::Channel::Schedule)
    );
    assert_eq!(
        topics::parse(&down).map(|p| p.channel),
        Some(topics::Channel::Down { device: "d1" })
    );
}

#[test]
fn topics_refuse_wildcards_and_foreign_shapes() {
    for bad in ["", "a/b", "+", "#", "a\0"] {
        assert_eq!(
            topics::schedule(bad, "r"),
            Err(ProtocolError::InvalidTopicSegment)
        );
        assert_eq!(
            topics::up("t", "r", bad),
            Err(ProtocolError::InvalidTopicSegment)
        );
    }
    for bad in [
        "corbi/v1/t/res/r",
        "corbi/v1/t/res/r/up",
        "corbi/v1/t/res/r/schedule/x",
        "corbi/v2/t/res/r/schedule",
        "corbi/v1/t/rooms/r/schedule",
        "corbi/v1/t/res/r/up/d/x",
    ] {
        assert_eq!(topics::parse(bad), None, "{bad}");
    }
}

#[cfg(feature = "seal")]
mod sealing {
    use super::*;
    use crate::protocol::seal::{OVERHEAD, SealKey, open, seal_with_nonce};

    const TOPIC: &str = "corbi/v1/t/res/r/schedule";

    fn key(byte: u8) -> SealKey {
        SealKey::new([byte; 32])
    }

    #[test]
    fn sealed_bytes_open_with_the_same_key_and_topic_only() {
        let plain = encode(&snapshot());
        let sealed = seal_with_nonce(&key(1), TOPIC, &plain, [7; 24]);
        assert_eq!(sealed.len(), plain.len() + OVERHEAD);
        assert_eq!(open(&key(1), TOPIC, &sealed), Ok(plain));
        assert_eq!(
            open(&key(2), TOPIC, &sealed),
            Err(ProtocolError::SealBroken)
        );
        assert_eq!(
            open(&key(1), "corbi/v1/t/res/other/schedule", &sealed),
            Err(ProtocolError::SealBroken)
        );
    }

    #[test]
    fn any_flipped_bit_breaks_the_seal() {
        let sealed = seal_with_nonce(&key(1), TOPIC, b"hello", [7; 24]);
        for i in 1..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(open(&key(1), TOPIC, &bad), Err(ProtocolError::SealBroken));
        }
    }

    #[test]
    fn short_or_unknown_format_is_malformed() {
        assert_eq!(open(&key(1), TOPIC, &[]), Err(ProtocolError::Malformed));
        assert_eq!(
            open(&key(1), TOPIC, &[1; 40]),
            Err(ProtocolError::Malformed)
        );
        assert_eq!(
            open(&key(1), TOPIC, &[2; 80]),
            Err(ProtocolError::Malformed)
        );
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(alloc::format!("{:?}", key(9)), "SealKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn random_sealed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(open(&key(1), TOPIC, &bytes).is_err());
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(index in 0usize..7, position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode(&every_message()[index]);
        let at = position.index(bytes.len());
        bytes[at] = byte;
        let _ = decode(&bytes);
    }
}
