//! Offline emulators of the external services CORBI depends on.
//!
//! Layout: `google` — Google Calendar v3 and Google OAuth 2.0 (see the module docs).
pub mod google;
