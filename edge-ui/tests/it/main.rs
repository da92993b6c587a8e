//! edge-ui integration tests: the controller against a fake agent, the UI driven through Slint's
//! testing backend, screenshots compared with reviewed reference PNGs, and the PNG mode's CLI.

mod cli;
mod controller;
mod screenshots;
mod support;
mod ui;
