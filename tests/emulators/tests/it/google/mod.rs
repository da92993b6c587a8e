//! Google Calendar + OAuth + OpenID Connect emulator tests.

mod calendars;
mod client_crate;
mod common;
mod conformance;
mod events;
mod faults;
mod freebusy;
mod oauth;
mod oidc;
mod push;
mod recurrence;
mod sync;
