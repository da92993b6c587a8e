//! Offline emulators of the external services CORBI depends on.
//!
//! Layout: `google` — Google Calendar v3 and Google OAuth 2.0; `sendgrid` — SendGrid v3 Mail Send;
//! `twilio` — Twilio Programmable Messaging (2010-04-01) with signed status callbacks; `support` —
//! plumbing the SendGrid and Twilio emulators share (see each module's docs).
pub mod google;
pub mod sendgrid;
mod support;
pub mod twilio;
