//! The agent's scenarios, each run against the embedded rumqttd and, when `CORBI_TEST_MQTT_URL` is
//! set (build.rs turns on `corbi_mqtt`), against that external broker.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use edge_agent::sealing::seal;
use edge_agent::{Agent, AgentEvent, ConnectionState, DeviceOutcome, RejectReason};
use shared::ResourceKind;
use shared::protocol::{
    CheckInOutcome, Message, ScheduleSnapshot, SnapshotMeeting, SnapshotRequest, SnapshotStatus,
    WalkUpOutcome,
};
use tokio::sync::broadcast;

use crate::support::{Device, FakeHub, TestBroker, random_key, wait_for, within};

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

fn meeting(id: &str, start_ms: i64, minutes: i64) -> SnapshotMeeting {
    SnapshotMeeting {
        id: id.to_owned(),
        title: format!("{id} meeting"),
        organizer_name: "Ada".to_owned(),
        start_ms,
        end_ms: start_ms + minutes * MIN,
        status: SnapshotStatus::Scheduled,
        checked_in: false,
    }
}

/// A schedule with a meeting under way (check-in open) and one later.
fn snapshot(device: &Device, version: u64) -> ScheduleSnapshot {
    let now = now_ms();
    ScheduleSnapshot {
        resource_id: device.resource.clone(),
        name: "Blue room".to_owned(),
        kind: ResourceKind::Room,
        capacity: Some(6),
        time_zone: "UTC".to_owned(),
        version,
        generated_at: now,
        check_in_opens_minutes_before: 5,
        check_in_closes_minutes_after: 10,
        meetings: vec![
            meeting("now", now - MIN, 30),
            meeting("later", now + 60 * MIN, 30),
        ],
    }
}

fn version(agent: &Agent) -> Option<u64> {
    agent.snapshot().map(|c| c.snapshot.version)
}

async fn next_rejection(
    events: &mut broadcast::Receiver<AgentEvent>,
) -> anyhow::Result<RejectReason> {
    within("a rejection", async {
        loop {
            match events.recv().await {
                Ok(AgentEvent::Rejected { reason, .. }) => return Ok(reason),
                Ok(_) => {}
                Err(e) => bail!("event stream ended: {e}"),
            }
        }
    })
    .await?
}

async fn caches_sealed_snapshot_and_keeps_it_across_restart(
    broker: TestBroker,
) -> anyhow::Result<()> {
    let device = Device::new();
    let dir = tempfile::tempdir()?;
    let hub = FakeHub::connect(&broker, &device).await?;
    hub.publish_snapshot(snapshot(&device, 1), &device.resource_key)
        .await?;

    let agent = device.start_agent(dir.path(), &broker.agent_url())?;
    wait_for("the retained snapshot", || version(&agent) == Some(1)).await?;
    let current = agent.current_meeting().context("a current meeting")?;
    assert_eq!(current.id, "now");
    assert_eq!(agent.next_meeting().map(|m| m.id).as_deref(), Some("later"));
    let day = chrono::DateTime::from_timestamp_millis(current.start_ms)
        .context("day")?
        .date_naive();
    assert!(agent.timeline(day).iter().any(|m| m.id == "now"));
    agent.shutdown().await;
    drop(agent);

    broker.cut();
    let restarted = device.start_agent(dir.path(), &broker.agent_url())?;
    assert_eq!(
        version(&restarted),
        Some(1),
        "served from the cache at once"
    );
    assert!(restarted.cache_age().is_some());
    assert_eq!(
        restarted.current_meeting().map(|m| m.id).as_deref(),
        Some("now")
    );
    wait_for("the restarted agent to see the broker gone", || {
        restarted.connection_state() == ConnectionState::Offline
    })
    .await?;
    restarted.shutdown().await;
    broker.restore();
    hub.close().await
}

async fn rejects_foreign_and_malformed_payloads(broker: TestBroker) -> anyhow::Result<()> {
    let device = Device::new();
    let dir = tempfile::tempdir()?;
    let hub = FakeHub::connect(&broker, &device).await?;
    let agent = device.start_agent(dir.path(), &broker.agent_url())?;
    let mut events = agent.subscribe();
    hub.publish_snapshot(snapshot(&device, 1), &device.resource_key)
        .await?;
    wait_for("the first snapshot", || version(&agent) == Some(1)).await?;

    let mut foreign = snapshot(&device, 2);
    foreign.resource_id = "another-room".to_owned();
    hub.publish_snapshot(foreign, &device.resource_key).await?;
    assert_eq!(
        next_rejection(&mut events).await?,
        RejectReason::WrongResource("another-room".to_owned())
    );

    hub.publish_snapshot(snapshot(&device, 2), &random_key())
        .await?;
    assert_eq!(next_rejection(&mut events).await?, RejectReason::Seal);

    let schedule = device.schedule_topic();
    hub.publish_raw(&schedule, b"not a sealed payload".to_vec())
        .await?;
    assert!(matches!(
        next_rejection(&mut events).await?,
        RejectReason::Malformed(_)
    ));

    let sealed_garbage = seal(&device.resource_key, &schedule, &[0xff; 40]);
    hub.publish_raw(&schedule, sealed_garbage).await?;
    assert!(matches!(
        next_rejection(&mut events).await?,
        RejectReason::Malformed(_)
    ));

    let forged_answer = seal(&random_key(), &device.down_topic(), &[1, 2, 3]);
    hub.publish_raw(&device.down_topic(), forged_answer).await?;
    assert_eq!(next_rejection(&mut events).await?, RejectReason::Seal);

    assert_eq!(
        version(&agent),
        Some(1),
        "nothing rejected reached the cache"
    );
    hub.publish_snapshot(snapshot(&device, 2), &device.resource_key)
        .await?;
    wait_for("the agent to carry on", || version(&agent) == Some(2)).await?;
    agent.shutdown().await;
    hub.close().await
}

async fn version_gap_requests_a_snapshot(broker: TestBroker) -> anyhow::Result<()> {
    let device = Device::new();
    let dir = tempfile::tempdir()?;
    let hub = FakeHub::connect(&broker, &device).await?;
    let agent = device.start_agent(dir.path(), &broker.agent_url())?;
    hub.publish_snapshot(snapshot(&device, 1), &device.resource_key)
        .await?;
    wait_for("version 1", || version(&agent) == Some(1)).await?;

    hub.publish_snapshot(snapshot(&device, 5), &device.resource_key)
        .await?;
    wait_for("version 5", || version(&agent) == Some(5)).await?;
    let expected = Message::SnapshotRequest(SnapshotRequest {
        device_id: device.device.clone(),
        have_version: Some(5),
    });
    wait_for("a snapshot request after the gap", || {
        hub.received().contains(&expected)
    })
    .await?;
    agent.shutdown().await;
    hub.close().await
}

async fn offline_check_ins_replay_once_in_order(broker: TestBroker) -> anyhow::Result<()> {
    let device = Device::new();
    let dir = tempfile::tempdir()?;
    let hub = FakeHub::connect(&broker, &device).await?;
    hub.publish_snapshot(snapshot(&device, 1), &device.resource_key)
        .await?;
    let agent = device.start_agent(dir.path(), &broker.agent_url())?;
    wait_for("online with a schedule", || {
        version(&agent) == Some(1) && agent.connection_state() == ConnectionState::Online
    })
    .await?;

    broker.cut();
    wait_for("offline", || {
        agent.connection_state() == ConnectionState::Offline
    })
    .await?;
    let pending = (0..20)
        .map(|_| agent.check_in("now"))
        .collect::<Result<Vec<_>, _>>()?;
    let queued: Vec<String> = pending.iter().map(|p| p.idempotency_key.clone()).collect();
    assert_eq!(agent.outbox_len()?, 20);

    broker.restore();
    for p in pending {
        let outcome = within("an answer", p.outcome()).await??;
        assert_eq!(
            outcome,
            DeviceOutcome::CheckIn(CheckInOutcome::Accepted {
                status: SnapshotStatus::Attended
            })
        );
    }
    assert_eq!(agent.outbox_len()?, 0);
    let arrived: Vec<String> = hub
        .received()
        .into_iter()
        .filter_map(|m| match m {
            Message::CheckIn(c) => Some(c.idempotency_key),
            _ => None,
        })
        .collect();
    assert_eq!(arrived, queued, "all 20, exactly once, in queue order");
    agent.shutdown().await;
    hub.close().await
}

async fn walk_up_is_confirmed_and_heartbeats_flow(broker: TestBroker) -> anyhow::Result<()> {
    let device = Device::new();
    let dir = tempfile::tempdir()?;
    let hub = FakeHub::connect(&broker, &device).await?;
    hub.publish_snapshot(snapshot(&device, 1), &device.resource_key)
        .await?;
    let agent = device.start_agent(dir.path(), &broker.agent_url())?;
    wait_for("the snapshot", || version(&agent) == Some(1)).await?;

    assert!(agent.book_walk_up(0, "Nothing").is_err());
    let pending = agent.book_walk_up(30, "Quick sync")?;
    let key = pending.idempotency_key.clone();
    match within("the walk-up answer", pending.outcome()).await?? {
        DeviceOutcome::WalkUp(WalkUpOutcome::Confirmed {
            meeting_id,
            start_ms,
            end_ms,
        }) => {
            assert_eq!(meeting_id, format!("walk-up-{key}"));
            assert_eq!(end_ms - start_ms, 30 * MIN);
        }
        other => bail!("unexpected answer {other:?}"),
    }
    assert!(matches!(
        agent.answer(&key)?,
        Some(Message::WalkUpResult(_))
    ));
    wait_for("a heartbeat with the cache version", || {
        hub.received().iter().any(|m| {
            matches!(m, Message::Heartbeat(h) if h.cache_version == Some(1) && h.device_id == device.device)
        })
    })
    .await?;
    agent.shutdown().await;
    hub.close().await
}

/// Runs every scenario once per broker.
macro_rules! on_each_broker {
    ($($scenario:ident),+ $(,)?) => {
        mod rumqttd {
            $(
                #[tokio::test]
                async fn $scenario() -> anyhow::Result<()> {
                    super::$scenario(crate::support::TestBroker::embedded().await?).await
                }
            )+
        }

        mod mosquitto {
            $(
                #[tokio::test]
                #[cfg_attr(not(corbi_mqtt), ignore = "needs Mosquitto: set CORBI_TEST_MQTT_URL")]
                async fn $scenario() -> anyhow::Result<()> {
                    super::$scenario(crate::support::TestBroker::external().await?).await
                }
            )+
        }
    };
}

on_each_broker!(
    caches_sealed_snapshot_and_keeps_it_across_restart,
    rejects_foreign_and_malformed_payloads,
    version_gap_requests_a_snapshot,
    offline_check_ins_replay_once_in_order,
    walk_up_is_confirmed_and_heartbeats_flow,
);
