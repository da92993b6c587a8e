//! Turns on the `corbi_mqtt` cfg when `CORBI_TEST_MQTT_URL` names an external broker, so the
//! Mosquitto variants of the integration tests run instead of being reported as ignored.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(corbi_mqtt)");
    println!("cargo::rerun-if-env-changed=CORBI_TEST_MQTT_URL");
    if std::env::var_os("CORBI_TEST_MQTT_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=corbi_mqtt");
    }
}
