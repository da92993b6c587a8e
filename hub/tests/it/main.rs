//! Integration tests of the hub: real servers on port 0, real databases (SQLite always,
//! PostgreSQL when `CORBI_TEST_POSTGRES_URL` is set), driven over HTTP.

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
mod google;
mod jobs;
mod meetings;
mod notify;
mod observability;
mod protection;
mod schema;
mod support;
mod sync;
