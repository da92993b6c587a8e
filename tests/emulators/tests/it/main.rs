//! Integration tests of the emulators over real HTTP on loopback.

mod google;
mod sendgrid;
mod twilio;
mod vendors;
