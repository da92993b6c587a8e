//! The administrative commands of the `hub` binary, run while a hub serves the same database.

use std::process::Command;

use reqwest::Method;

use crate::{
    on_both_engines,
    support::{Engine, TestHub},
};

fn hub_command(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hub"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .env_remove("CORBI_CONFIG")
        .output()
        .expect("hub binary runs")
}

fn last_line(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().last().unwrap_or_default().to_string()
}

async fn cli_secrets_work_against_a_running_hub(engine: Engine) {
    let hub = TestHub::start(engine).await;
    let url = hub.db.url.clone();
    let created = hub_command(&url, &["tenant", "create", "initech"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let user = hub_command(
        &url,
        &[
            "user",
            "create",
            "--tenant",
            "initech",
            "--email",
            "Peter@Initech.example.com",
            "--role",
            "admin",
        ],
    );
    assert!(
        user.status.success(),
        "{}",
        String::from_utf8_lossy(&user.stderr)
    );
    let token = last_line(&user);
    assert!(token.starts_with("corbi_pat_"), "{token}");
    assert_eq!(
        hub.call(
            Method::PUT,
            "/api/v1/tenant/settings",
            Some(&token),
            Some(serde_json::json!({"time_zone": "America/Chicago"}))
        )
        .await
        .status(),
        200
    );

    let key = hub_command(
        &url,
        &[
            "apikey", "create", "--tenant", "initech", "--name", "voice", "--actor", "ai",
        ],
    );
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = last_line(&key);
    assert!(key.starts_with("corbi_key_"), "{key}");
    let seen: serde_json::Value = hub
        .call(Method::GET, "/api/v1/tenant/settings", Some(&key), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        seen["time_zone"], "America/Chicago",
        "the key belongs to the same tenant"
    );

    let duplicate = hub_command(&url, &["tenant", "create", "initech"]);
    assert!(!duplicate.status.success());
    let unknown = hub_command(
        &url,
        &[
            "user",
            "create",
            "--tenant",
            "nobody",
            "--email",
            "a@b.example.com",
            "--role",
            "member",
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("tenant not found"));
    let bad_email = hub_command(
        &url,
        &[
            "user",
            "create",
            "--tenant",
            "initech",
            "--email",
            "not-an-email",
            "--role",
            "member",
        ],
    );
    assert!(!bad_email.status.success());
    hub.stop().await;
}
on_both_engines!(cli_secrets_work_against_a_running_hub);

#[test]
fn an_unknown_database_scheme_is_refused_clearly() {
    let output = hub_command("mysql://localhost/corbi", &["migrate"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unsupported DATABASE_URL scheme `mysql:`"),
        "{stderr}"
    );
}

#[test]
fn default_config_prints_a_commented_example() {
    let output = Command::new(env!("CARGO_BIN_EXE_hub"))
        .arg("default-config")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        text.contains("[DATABASE_URL]") && text.contains("[jobs]"),
        "{text}"
    );
}
