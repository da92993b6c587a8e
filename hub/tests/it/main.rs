//! Integration tests of the hub: real servers on port 0, real databases (SQLite always,
//! PostgreSQL when `CORBI_TEST_POSTGRES_URL` is set), driven over HTTP.

mod ai_tools;
mod api;
mod architecture;
mod attendance;
mod cli;
mod console;
mod console_google;
mod crash;
#[cfg(feature = "demo")]
mod demo;
mod edge;
mod edge_security;
mod google;
mod insights;
mod jobs;
mod least_data;
mod mcp;
mod meetings;
mod notify;
mod observability;
mod protection;
mod safety;
mod schema;
mod support;
mod sync;
