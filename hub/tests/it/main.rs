//! Integration tests of the hub: real servers on port 0, real databases (SQLite always,
//! PostgreSQL when `CORBI_TEST_POSTGRES_URL` is set), driven over HTTP.

mod api;
mod cli;
mod demo;
mod google;
mod jobs;
mod meetings;
mod observability;
mod support;
mod sync;
