//! Runs the emulators standalone, e.g. for `hub demo` by hand:
//! `emulator google --bind 127.0.0.1:8085 --account alice@example.com --allow-http-loopback`,
//! `emulator sendgrid --bind 127.0.0.1:8086 --api-key SG.demo`,
//! `emulator twilio --bind 127.0.0.1:8087 --account AC…:TOKEN --allow-http-loopback`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use emulators::google::{GoogleConfig, GoogleEmulator, SCOPE_PREFIX};
use emulators::sendgrid::{SendGridConfig, SendGridEmulator};
use emulators::twilio::{TwilioConfig, TwilioEmulator};
use tokio::net::TcpListener;

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
    /// SendGrid v3 Mail Send.
    Sendgrid {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8086")]
        bind: String,
        /// API key to accept (repeatable).
        #[arg(long = "api-key")]
        api_keys: Vec<String>,
    },
    /// Twilio Messaging (2010-04-01) with signed status callbacks.
    Twilio {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8087")]
        bind: String,
        /// Account to accept, as `ACCOUNT_SID:AUTH_TOKEN` (repeatable).
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// Accept `http://` status callbacks on loopback (otherwise HTTPS only).
        #[arg(long)]
        allow_http_loopback: bool,
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
            let config = GoogleConfig {
                allow_http_loopback,
                access_token_ttl: std::time::Duration::from_secs(token_ttl_secs),
                ..GoogleConfig::default()
            };
            let emulator = GoogleEmulator::start_on(bind_to(&bind).await?, config).await?;
            google_setup(&emulator, &accounts, &clients)?;
            tokio::signal::ctrl_c().await?;
        }
        Command::Sendgrid { bind, api_keys } => {
            let config = SendGridConfig {
                api_keys,
                ..SendGridConfig::default()
            };
            let emulator = SendGridEmulator::start_on(bind_to(&bind).await?, config).await?;
            println!("{}", emulator.base_url());
            tokio::signal::ctrl_c().await?;
        }
        Command::Twilio {
            bind,
            accounts,
            allow_http_loopback,
        } => {
            let mut config = TwilioConfig {
                allow_http_callbacks_on_loopback: allow_http_loopback,
                ..TwilioConfig::default()
            };
            for account in &accounts {
                let (sid, token) = account
                    .split_once(':')
                    .context("--account must be ACCOUNT_SID:AUTH_TOKEN")?;
                config = config.with_account(sid, token);
            }
            let emulator = TwilioEmulator::start_on(bind_to(&bind).await?, config).await?;
            println!("{}", emulator.base_url());
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}

async fn bind_to(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))
}

fn google_setup(
    emulator: &GoogleEmulator,
    accounts: &[String],
    clients: &[String],
) -> anyhow::Result<()> {
    for client in clients {
        let (id, secret) = client
            .split_once(':')
            .context("--oauth-client must be ID:SECRET")?;
        emulator.register_oauth_client(id, secret);
    }
    println!("{}", emulator.base_url());
    let scope = format!("{SCOPE_PREFIX}calendar");
    for account in accounts {
        emulator.add_account(account);
        println!(
            "account {account} token {}",
            emulator.issue_access_token(account, &[&scope])
        );
    }
    Ok(())
}
