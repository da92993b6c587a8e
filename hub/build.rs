//! Turns on the PostgreSQL variants of the integration tests when `CORBI_TEST_POSTGRES_URL` names
//! a server; without it they are reported as ignored, with the reason, instead of passing
//! silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(corbi_postgres)");
    println!("cargo::rerun-if-env-changed=CORBI_TEST_POSTGRES_URL");
    if std::env::var("CORBI_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=corbi_postgres");
    }
}
