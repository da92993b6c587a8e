//! Benchmark (not a test): time to first frame and resident memory of the screen on the software
//! renderer at 1280×800, and the re-render time after a schedule update, next to a baseline
//! (an empty window of the same size) measured in the same run. Prints a table.
//!
//! Each measurement runs in a fresh process (the bench re-runs itself with `--child blank|screen`),
//! so first-frame times include loading fonts and the resident memory is the whole process's.
//!
//! `cargo bench -p edge-ui`

use std::cell::RefCell;
use std::process::Command;
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
const RUNS: usize = 5;

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
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(micros: f64) -> String {
    format!("{:.2} ms", micros / 1000.0)
}

/// One child measurement: first frame, resident memory after it, and (screen only) re-renders.
struct Sample {
    first_us: f64,
    rss_kib: f64,
    rerender_median_us: f64,
    rerender_p95_us: f64,
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn first_frame_blank() -> Sample {
    let start = Instant::now();
    let headless = Headless::install().expect("platform");
    let window = BlankWindow::new().expect("window");
    headless.resize(Size::TABLET);
    window.show().expect("show");
    headless.draw().expect("draw");
    Sample {
        first_us: micros(start.elapsed()),
        rss_kib: rss_kib() as f64,
        rerender_median_us: 0.0,
        rerender_p95_us: 0.0,
    }
}

fn first_frame_screen() -> Sample {
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
    let first_us = micros(start.elapsed());
    let rss = rss_kib() as f64;
    let mut rerenders = Vec::with_capacity(RERENDERS);
    for version in 2..(2 + RERENDERS as u64) {
        *agent.0.borrow_mut() = CachedSnapshot {
            snapshot: schedule(version),
            received_at_ms: NOW,
        };
        let start = Instant::now();
        screen.on_event(&AgentEvent::ScheduleUpdated { version });
        headless.draw().expect("draw");
        rerenders.push(micros(start.elapsed()));
    }
    rerenders.sort_by(f64::total_cmp);
    Sample {
        first_us,
        rss_kib: rss,
        rerender_median_us: rerenders[rerenders.len() / 2],
        rerender_p95_us: rerenders[rerenders.len() * 95 / 100],
    }
}

fn run_child(kind: &str) -> Sample {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args(["--child", kind])
        .output()
        .expect("child run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().expect("child number"))
        .collect();
    Sample {
        first_us: v[0],
        rss_kib: v[1],
        rerender_median_us: v[2],
        rerender_p95_us: v[3],
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn summary(kind: &str) -> Sample {
    let samples: Vec<Sample> = (0..RUNS).map(|_| run_child(kind)).collect();
    Sample {
        first_us: median(samples.iter().map(|s| s.first_us).collect()),
        rss_kib: median(samples.iter().map(|s| s.rss_kib).collect()),
        rerender_median_us: median(samples.iter().map(|s| s.rerender_median_us).collect()),
        rerender_p95_us: median(samples.iter().map(|s| s.rerender_p95_us).collect()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let s = match args.get(i + 1).map(String::as_str) {
            Some("blank") => first_frame_blank(),
            _ => first_frame_screen(),
        };
        println!(
            "{} {} {} {}",
            s.first_us, s.rss_kib, s.rerender_median_us, s.rerender_p95_us
        );
        return;
    }
    let blank = summary("blank");
    let ui = summary("screen");
    println!(
        "software renderer at 1280x800; medians of {RUNS} fresh processes each, {RERENDERS} re-renders per process"
    );
    println!(
        "| {:<40} | {:>14} | {:>14} |",
        "measure", "empty window", "edge-ui"
    );
    println!("|{:-<42}|{:->16}|{:->16}|", "", "", "");
    let rows = [
        (
            "time to first frame (process cold)",
            ms(blank.first_us),
            ms(ui.first_us),
        ),
        (
            "resident memory after first frame",
            format!("{:.0} KiB", blank.rss_kib),
            format!("{:.0} KiB", ui.rss_kib),
        ),
        (
            "re-render after schedule update, median",
            "-".into(),
            ms(ui.rerender_median_us),
        ),
        (
            "re-render after schedule update, p95",
            "-".into(),
            ms(ui.rerender_p95_us),
        ),
    ];
    for (name, base, edge) in rows {
        println!("| {name:<40} | {base:>14} | {edge:>14} |");
    }
}
