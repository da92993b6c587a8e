//! Integration tests of the edge agent, the one test binary of the crate.
//!
//! Layout: `support` runs the brokers (embedded rumqttd, or the machine's Mosquitto when
//! `CORBI_TEST_MQTT_URL` is set) behind a proxy the tests can cut, and a fake hub speaking the
//! protocol; `flows` holds the scenarios, each run once per broker; `enrollment` drives the HTTP
//! enrollment against a canned hub.

mod enrollment;
mod flows;
mod support;
