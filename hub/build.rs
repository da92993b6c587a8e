//! Turns on the PostgreSQL variants of the integration tests when `CORBI_TEST_POSTGRES_URL` names
//! a server, and the external-broker variants of the edge tests when `CORBI_TEST_MQTT_URL` names
//! one (the machine's Mosquitto); without them those tests are reported as ignored, with the
//! reason, instead of passing silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(corbi_postgres)");
    println!("cargo::rustc-check-cfg=cfg(corbi_mqtt)");
    println!("cargo::rerun-if-env-changed=CORBI_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CORBI_TEST_MQTT_URL");
    if std::env::var("CORBI_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=corbi_postgres");
    }
    if std::env::var("CORBI_TEST_MQTT_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=corbi_mqtt");
    }
}
