//! Runs the emulators standalone, e.g. for `hub demo` by hand:
//! `emulator google --bind 127.0.0.1:8085 --account alice@example.com --allow-http-loopback`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use emulators::google::{GoogleConfig, GoogleEmulator, SCOPE_PREFIX};

#[derive(Parser)]
#[command(about = "Offline emulators of the services CORBI talks to")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Google Calendar v3 + Google OAuth.
    Google {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8085")]
        bind: String,
        /// Account to create (repeatable); each gets a primary calendar.
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// OAuth client to register, as `CLIENT_ID:CLIENT_SECRET` (repeatable).
        #[arg(long = "oauth-client")]
        clients: Vec<String>,
        /// Accept `http://` push addresses on loopback (Google accepts only HTTPS).
        #[arg(long)]
        allow_http_loopback: bool,
        /// Access-token lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        token_ttl_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match Cli::parse().command {
        Command::Google {
            bind,
            accounts,
            clients,
            allow_http_loopback,
            token_ttl_secs,
        } => {
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .with_context(|| format!("binding {bind}"))?;
            let config = GoogleConfig {
                allow_http_loopback,
                access_token_ttl: std::time::Duration::from_secs(token_ttl_secs),
                ..GoogleConfig::default()
            };
            let emulator = GoogleEmulator::start_on(listener, config).await?;
            for client in &clients {
                let (id, secret) = client
                    .split_once(':')
                    .context("--oauth-client must be ID:SECRET")?;
                emulator.register_oauth_client(id, secret);
            }
            println!("{}", emulator.base_url());
            let scope = format!("{SCOPE_PREFIX}calendar");
            for account in &accounts {
                emulator.add_account(account);
                println!(
                    "account {account} token {}",
                    emulator.issue_access_token(account, &[&scope])
                );
            }
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
