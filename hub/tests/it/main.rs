//! Integration tests of the hub: real servers on port 0, real databases (SQLite always,
//! PostgreSQL when `CORBI_TEST_POSTGRES_URL` is set), driven over HTTP.

mod ai_tools;
mod api;
mod architecture;
mod attendance;
mod cli;
mod crash;
#[cfg(feature = "demo")]
mod demo;
mod edge;
mod google;
mod jobs;
mod mcp;
mod meetings;
mod notify;
mod observability;
mod schema;
mod support;
mod sync;
