//! Benchmark (not a test): time to first frame and resident memory of the screen on the software
//! renderer at 1280×800, and the re-render time after a schedule update, next to a baseline
//! (an empty window of the same size) measured in the same run. Prints a table.
//!
//! `cargo bench -p edge-ui`

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_agent::store::CachedSnapshot;
use edge_agent::{AgentError, AgentEvent, ConnectionState, ManualClock};
use edge_ui::controller::{AgentPort, Controller};
use edge_ui::render::{Headless, Size};
use edge_ui::screen::Screen;
use edge_ui::ui::BlankWindow;
use shared::domain::ResourceKind;
use shared::protocol::{ScheduleSnapshot, SnapshotMeeting, SnapshotStatus};
use slint::ComponentHandle;

const NOW: i64 = 1_773_133_500_000; // 2026-03-10 09:05 UTC
const HOUR: i64 = 3_600_000;
const RERENDERS: usize = 50;

#[derive(Clone)]
struct Live(Rc<RefCell<CachedSnapshot>>);

impl AgentPort for Live {
    fn cached(&self) -> Option<CachedSnapshot> {
        Some(self.0.borrow().clone())
    }
    fn connection(&self) -> ConnectionState {
        ConnectionState::Online
    }
    fn check_in(&self, _: &str) -> Result<String, AgentError> {
        Err(AgentError::Stopped)
    }
    fn book_walk_up(&self, _: u16, _: &str) -> Result<String, AgentError> {
        Err(AgentError::Stopped)
    }
}

fn schedule(version: u64) -> ScheduleSnapshot {
    let day = NOW - 9 * HOUR;
    let meetings = (0..8)
        .map(|i| SnapshotMeeting {
            id: format!("m{i}-{version}"),
            title: format!("Meeting {i} (v{version})"),
            organizer_name: "Grace Hopper".into(),
            start_ms: day + (8 + i) * HOUR + (version as i64 % 4) * 15 * 60_000,
            end_ms: day + (8 + i) * HOUR + 45 * 60_000,
            status: SnapshotStatus::Scheduled,
            checked_in: false,
        })
        .collect();
    ScheduleSnapshot {
        resource_id: "r".into(),
        name: "Atlas".into(),
        kind: ResourceKind::Room,
        capacity: Some(8),
        time_zone: "Europe/Berlin".into(),
        version,
        generated_at: NOW,
        check_in_opens_minutes_before: 10,
        check_in_closes_minutes_after: 15,
        meetings,
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Row(&'static str, String, String);

fn baseline() -> (Duration, u64) {
    std::thread::spawn(|| {
        let before = rss_kib();
        let start = Instant::now();
        let headless = Headless::install().expect("platform");
        let window = BlankWindow::new().expect("window");
        headless.resize(Size::TABLET);
        window.show().expect("show");
        headless.draw().expect("draw");
        (start.elapsed(), rss_kib().saturating_sub(before))
    })
    .join()
    .expect("baseline thread")
}

fn screen() -> (Duration, u64, Vec<Duration>) {
    std::thread::spawn(|| {
        let before = rss_kib();
        let start = Instant::now();
        let headless = Headless::install().expect("platform");
        let agent = Live(Rc::new(RefCell::new(CachedSnapshot {
            snapshot: schedule(1),
            received_at_ms: NOW,
        })));
        let screen = Screen::new(
            Controller::new(agent.clone()),
            Arc::new(ManualClock::new(NOW)),
        )
        .expect("screen");
        headless.resize(Size::TABLET);
        screen.window().show().expect("show");
        headless.draw().expect("draw");
        let first = start.elapsed();
        let rss = rss_kib().saturating_sub(before);
        let mut rerenders = Vec::with_capacity(RERENDERS);
        for version in 2..(2 + RERENDERS as u64) {
            *agent.0.borrow_mut() = CachedSnapshot {
                snapshot: schedule(version),
                received_at_ms: NOW,
            };
            let start = Instant::now();
            screen.on_event(&AgentEvent::ScheduleUpdated { version });
            headless.draw().expect("draw");
            rerenders.push(start.elapsed());
        }
        rerenders.sort();
        (first, rss, rerenders)
    })
    .join()
    .expect("screen thread")
}

fn main() {
    let start_rss = rss_kib();
    let (blank_first, blank_rss) = baseline();
    let (first, rss, rerenders) = screen();
    let (warm_first, _, _) = screen();
    let median = rerenders[rerenders.len() / 2];
    let p95 = rerenders[rerenders.len() * 95 / 100];
    let rows = [
        Row("first frame, 1280x800", ms(blank_first), ms(first)),
        Row("first frame, fonts warm", "-".into(), ms(warm_first)),
        Row(
            "RSS added by first frame",
            format!("{blank_rss} KiB"),
            format!("{rss} KiB"),
        ),
        Row(
            "re-render after schedule update, median",
            "-".into(),
            ms(median),
        ),
        Row("re-render after schedule update, p95", "-".into(), ms(p95)),
    ];
    println!(
        "software renderer, {} re-renders; process RSS at start {start_rss} KiB, at end {} KiB",
        RERENDERS,
        rss_kib()
    );
    println!(
        "| {:<42} | {:>14} | {:>14} |",
        "measure", "empty window", "edge-ui"
    );
    println!("|{:-<44}|{:->16}|{:->16}|", "", "", "");
    for Row(name, base, ui) in rows {
        println!("| {name:<42} | {base:>14} | {ui:>14} |");
    }
}
