//! CORBI room tablet / device screen: a Slint touch UI over the edge agent's cached schedule.
//!
//! Layout:
//! - `ui/api.slint`: the `global Api`, the one contract between Rust and the `.slint` files
//!   (view-model properties in, taps out as callbacks); `ui/app.slint` lays it out for a
//!   1280×800 tablet and, below 1000 px wide, an 800×480 device screen;
//! - [`controller`]: plain Rust, no Slint: agent state + now + time zone → [`controller::ViewModel`],
//!   taps → agent calls, against the small [`controller::AgentPort`] trait (tests need no MQTT);
//! - [`screen`]: copies a view model into `Api` and wires `Api`'s callbacks to a controller;
//! - [`render`]: the headless software-rendered window and PNG encoding (the `--render-png` mode,
//!   screenshot tests, the benchmark);
//! - [`state`]: the JSON state the PNG mode renders;
//! - `main.rs`: the `edge-ui` binary.
//!
//! Strings are translated with `@tr()` in the `.slint` files; catalogues in `translations/` are
//! bundled at build time (English is the source language).

pub mod controller;
pub mod render;
pub mod screen;
pub mod state;

/// The Slint-generated window and `Api` global.
#[allow(missing_docs, clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod ui {
    slint::include_modules!();
}
