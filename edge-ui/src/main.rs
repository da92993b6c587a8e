//! The `edge-ui` binary: the room tablet / device screen.
//!
//! - `edge-ui --hub URL --data-dir DIR [--enrollment-code CODE] [--mqtt-url URL]` runs the edge
//!   agent in-process and shows the screen (needs the `window` feature for an on-screen window);
//! - `edge-ui --render-png OUT.png --state state.json [--size 1280x800]` renders a state to PNG
//!   without any display (support, tests).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use edge_agent::{Agent, AgentConfig, SystemClock, load_or_enroll};
use edge_ui::controller::Controller;
use edge_ui::render::{Headless, Size};
use edge_ui::screen::Screen;
use edge_ui::state::RenderState;
use slint::ComponentHandle;
use tokio::sync::broadcast::error::RecvError;
use tracing_subscriber::EnvFilter;

/// Command line of the screen.
#[derive(Debug, Parser)]
#[command(version, about = "CORBI room tablet / device screen")]
struct Args {
    /// Render `--state` to this PNG file and exit (no display needed).
    #[arg(long, requires = "state")]
    render_png: Option<PathBuf>,
    /// The state to render (JSON, see the README).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Size of the rendered PNG: 1280x800 (tablet) or 800x480 (device screen).
    #[arg(long, default_value = "1280x800")]
    size: Size,
    /// Language of the screen's texts (a bundled translation; English when absent).
    #[arg(long, env = "CORBI_UI_LANG")]
    lang: Option<String>,
    /// Base URL of the hub, used for enrollment.
    #[arg(long, env = "CORBI_HUB_URL", required_unless_present = "render_png")]
    hub: Option<String>,
    /// The agent's directory (credentials and SQLite cache).
    #[arg(long, env = "CORBI_DATA_DIR", required_unless_present = "render_png")]
    data_dir: Option<PathBuf>,
    /// One-time enrollment code; needed on first start only.
    #[arg(long, env = "CORBI_ENROLLMENT_CODE")]
    enrollment_code: Option<String>,
    /// Broker URL overriding the one given at enrollment.
    #[arg(long, env = "CORBI_MQTT_URL")]
    mqtt_url: Option<String>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    match (&args.render_png, &args.state) {
        (Some(out), Some(state)) => render_png(out, state, args.size, args.lang.as_deref()),
        _ => run_live(args),
    }
}

/// Switches to a bundled translation; Slint needs a component to exist first.
fn select_language(lang: Option<&str>) {
    if let Some(lang) = lang
        && let Err(e) = slint::select_bundled_translation(lang)
    {
        tracing::warn!(lang, error = %e, "no such translation; showing English");
    }
}

fn render_png(
    out: &PathBuf,
    state: &PathBuf,
    size: Size,
    lang: Option<&str>,
) -> anyhow::Result<()> {
    let json =
        std::fs::read_to_string(state).with_context(|| format!("reading {}", state.display()))?;
    let state = RenderState::from_json(&json)
        .with_context(|| format!("{} is not a screen state", state.display()))?;
    let headless = Headless::install()?;
    let _screen = headless.show_state(&state, size)?;
    select_language(lang);
    let png = headless.draw()?.to_png()?;
    std::fs::write(out, png).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn run_live(args: Args) -> anyhow::Result<()> {
    let (Some(hub), Some(data_dir)) = (args.hub, args.data_dir) else {
        anyhow::bail!("--hub and --data-dir are needed to run the screen");
    };
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let identity = runtime
        .block_on(load_or_enroll(
            &data_dir,
            &hub,
            args.enrollment_code.as_deref(),
        ))
        .context("device identity")?;
    let mut config = AgentConfig::new(data_dir);
    config.mqtt_url = args.mqtt_url;
    let agent = {
        let _runtime = runtime.enter();
        Agent::start(config, identity, Arc::new(SystemClock)).context("starting the agent")?
    };
    let screen = Screen::new(Controller::new(agent.clone()), Arc::new(SystemClock)).context(
        "could not open a window (no display, or edge-ui built without `--features window`)",
    )?;
    select_language(args.lang.as_deref());
    let listener = screen.clone();
    let mut events = agent.subscribe();
    slint::spawn_local(async move {
        loop {
            match events.recv().await {
                Ok(event) => listener.on_event(&event),
                Err(RecvError::Lagged(_)) => listener.refresh(),
                Err(RecvError::Closed) => break,
            }
        }
    })
    .context("the window backend has no event loop")?;
    let ticking = screen.clone();
    let ticker = slint::Timer::default();
    ticker.start(
        slint::TimerMode::Repeated,
        Duration::from_secs(1),
        move || {
            ticking.refresh();
        },
    );
    screen.window().run().context("running the window")?;
    runtime.block_on(agent.shutdown());
    Ok(())
}
