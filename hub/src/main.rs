//! The `hub` binary: parses the command line and wires the library together. The `demo`
//! subcommand exists only with the `demo` feature (on by default).

#[cfg(feature = "demo")]
use std::path::PathBuf;

#[cfg(feature = "demo")]
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
#[cfg(feature = "demo")]
use hub::demo;
use hub::{
    Hub,
    auth::Role,
    cli,
    config::{Config, DEFAULT_CONFIG_TOML},
    db::Db,
    jobs::Registry,
    observability,
};
use shared::ActorType;

#[derive(Parser)]
#[command(
    name = "hub",
    version,
    about = "CORBI hub: rooms, devices and meetings in two-way sync with Google Calendar"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (config from env and corbi.toml).
    Serve,
    /// Serve with a seeded demo tenant; prints or writes its credentials.
    #[cfg(feature = "demo")]
    Demo {
        /// Write the credentials JSON to this file (mode 0600) instead of printing them.
        #[arg(long)]
        credentials_out: Option<PathBuf>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a commented example configuration.
    DefaultConfig,
    /// Re-seal stored secrets under the active encryption key (after adding a new key).
    RotateKeys,
    /// Print the Mosquitto ACL file that confines each enrolled device to its topics
    /// (external broker only; regenerate after enrollments and revocations).
    EdgeAcl {
        /// The hub's own username on the broker (MQTT_USERNAME if unset).
        #[arg(long)]
        hub_username: Option<String>,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage personal access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print configurations for AI agent platforms (ElevenLabs tools, MCP clients).
    AiTools {
        #[command(subcommand)]
        command: AiToolsCommand,
    },
}

#[derive(Subcommand)]
enum AiToolsCommand {
    /// ElevenLabs webhook tools (bodies of POST /v1/convai/tools), from the OpenAPI document.
    Elevenlabs {
        /// The URL ElevenLabs reaches the hub at (its PUBLIC_URL).
        #[arg(long)]
        base_url: String,
        /// The ElevenLabs workspace secret holding `Bearer <CORBI API key>`.
        #[arg(long, default_value = "REPLACE_WITH_SECRET_ID")]
        secret_id: String,
    },
    /// The JSON an MCP client needs (key from the CORBI_API_KEY variable).
    McpConfig {
        /// The hub's URL (default: PUBLIC_URL, else http://BIND).
        #[arg(long)]
        base_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Short name: lower-case letters, digits, dashes.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user and print a personal access token.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Print a one-time link that signs the user in to the console (valid 15 minutes).
    LoginLink {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// Where the console opens once signed in: a path such as `/meetings/ID`.
        #[arg(long)]
        next: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key and print it.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        actor: ActorArg,
    },
    /// Revoke an API key at once.
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The key's id (printed when it was created; `GET /api/v1/credentials` lists them).
        id: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Revoke a person's personal access token at once.
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The token's id (`GET /api/v1/credentials` lists them).
        id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Member,
}

#[derive(Clone, Copy, ValueEnum)]
enum ActorArg {
    Ai,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Several rustls crypto providers end up in this binary (ring through the MQTT crates,
    // aws-lc-rs through reqwest and rustls here); the binary picks one so that TLS clients built
    // without an explicit provider (MQTT over TLS) do not panic.
    let _already_chosen = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = Config::load()?;
    observability::init_tracing(&config.log_format);
    match cli.command {
        Command::Serve => serve(config).await,
        #[cfg(feature = "demo")]
        Command::Demo { credentials_out } => run_demo(config, credentials_out).await,
        Command::Migrate => {
            Db::connect_and_migrate(config.database_url.expose()).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::RotateKeys => rotate_keys(config).await,
        Command::EdgeAcl { hub_username } => edge_acl(config, hub_username).await,
        Command::DefaultConfig => {
            print!("{DEFAULT_CONFIG_TOML}");
            Ok(())
        }
        Command::Tenant { command } => admin_command(&config, command.into()).await,
        Command::User { command } => admin_command(&config, command.into()).await,
        Command::Apikey { command } => admin_command(&config, command.into()).await,
        Command::Token { command } => admin_command(&config, command.into()).await,
        Command::AiTools {
            command:
                AiToolsCommand::Elevenlabs {
                    base_url,
                    secret_id,
                },
        } => {
            println!("{}", cli::elevenlabs_tools(&base_url, &secret_id)?);
            Ok(())
        }
        Command::AiTools {
            command: AiToolsCommand::McpConfig { base_url },
        } => {
            let base_url = base_url.unwrap_or_else(|| config.public_base_url(config.bind));
            println!("{}", cli::mcp_config(&base_url));
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let hub = Hub::start(config, Registry::new()).await?;
    println!("CORBI hub listening on {}", hub.base_url());
    wait_for_signal(&hub).await;
    hub.stop().await;
    Ok(())
}

#[cfg(feature = "demo")]
async fn run_demo(mut config: Config, credentials_out: Option<PathBuf>) -> anyhow::Result<()> {
    if std::env::var_os("MQTT_BIND").is_none() {
        config.mqtt_bind.set_port(0);
    }
    let demo = demo::start(config).await?;
    let base = demo.hub.base_url();
    println!("Console: {}", demo.credentials.console.url);
    println!("CORBI demo hub listening on {base}");
    println!("  OpenAPI:         {base}/api/v1/openapi.json");
    println!("  MQTT broker:     {}", demo.hub.state.edge.device_url());
    println!("  Google emulator: {}", demo.google.base_url());
    println!(
        "  SendGrid:        {}/_emulator/messages",
        demo.sendgrid.base_url()
    );
    println!(
        "  Twilio:          {}/_emulator/messages",
        demo.twilio.base_url()
    );
    match credentials_out {
        Some(path) => {
            demo::write_credentials(&path, &demo.credentials)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("credentials written to {}", path.display());
        }
        None => println!("{}", serde_json::to_string_pretty(&demo.credentials)?),
    }
    wait_for_signal(&demo.hub).await;
    demo.hub.stop().await;
    Ok(())
}

async fn rotate_keys(config: Config) -> anyhow::Result<()> {
    let db = Db::connect_and_migrate(config.database_url.expose()).await?;
    let public_url = config.public_base_url(config.bind);
    let metrics = std::sync::Arc::new(hub::observability::Metrics::new());
    let (connections, _) = hub::google_clients(&config, &db, &public_url, metrics)?;
    let moved = connections.reseal_all().await?;
    let sealer = hub::connections::seal::Sealer::from_config(&config.encryption)?;
    let credentials = hub::notify::credentials::reseal_all(&db, &sealer).await?;
    let edge = hub::edge::rekey::reseal_all(&db, &sealer).await?;
    db.close().await;
    println!("re-sealed {moved} connection(s) under the active key");
    println!("re-sealed {credentials} tenant notification credential set(s) under the active key");
    println!(
        "re-sealed {} device key(s) under the active key",
        edge.device_keys
    );
    println!(
        "re-sealed {} schedule key(s) under the active key",
        edge.schedule_keys
    );
    Ok(())
}

async fn edge_acl(config: Config, hub_username: Option<String>) -> anyhow::Result<()> {
    let db = Db::connect_and_migrate(config.database_url.expose()).await?;
    let devices = hub::edge::store::active_devices(&db).await?;
    db.close().await;
    let username = hub_username.unwrap_or_else(|| config.mqtt_username.clone());
    anyhow::ensure!(
        !username.is_empty(),
        "give the hub's broker username with --hub-username or MQTT_USERNAME"
    );
    print!("{}", hub::edge::acl::mosquitto_acl(&username, &devices));
    Ok(())
}

async fn wait_for_signal(hub: &Hub) {
    let stop = hub.shutdown_token();
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if let Err(err) = result {
                tracing::error!(error = %err, "cannot listen for Ctrl-C");
            }
        }
        () = stop.cancelled() => {}
    }
}

enum AdminCommand {
    Tenant {
        slug: String,
        name: Option<String>,
    },
    User {
        tenant: String,
        email: String,
        role: Role,
    },
    LoginLink {
        tenant: String,
        email: String,
        next: Option<String>,
    },
    ApiKey {
        tenant: String,
        name: String,
        actor: ActorType,
    },
    Revoke {
        tenant: String,
        id: String,
        actor: ActorType,
    },
}

impl From<TokenCommand> for AdminCommand {
    fn from(command: TokenCommand) -> Self {
        let TokenCommand::Revoke { tenant, id } = command;
        AdminCommand::Revoke {
            tenant,
            id,
            actor: ActorType::User,
        }
    }
}

impl From<TenantCommand> for AdminCommand {
    fn from(command: TenantCommand) -> Self {
        let TenantCommand::Create { slug, name } = command;
        AdminCommand::Tenant { slug, name }
    }
}

impl From<UserCommand> for AdminCommand {
    fn from(command: UserCommand) -> Self {
        match command {
            UserCommand::Create {
                tenant,
                email,
                role,
            } => {
                let role = match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Member => Role::Member,
                };
                AdminCommand::User {
                    tenant,
                    email,
                    role,
                }
            }
            UserCommand::LoginLink {
                tenant,
                email,
                next,
            } => AdminCommand::LoginLink {
                tenant,
                email,
                next,
            },
        }
    }
}

impl From<ApiKeyCommand> for AdminCommand {
    fn from(command: ApiKeyCommand) -> Self {
        match command {
            ApiKeyCommand::Create {
                tenant,
                name,
                actor,
            } => {
                let actor = match actor {
                    ActorArg::Ai => ActorType::Ai,
                };
                AdminCommand::ApiKey {
                    tenant,
                    name,
                    actor,
                }
            }
            ApiKeyCommand::Revoke { tenant, id } => AdminCommand::Revoke {
                tenant,
                id,
                actor: ActorType::Ai,
            },
        }
    }
}

async fn admin_command(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let db = Db::connect_and_migrate(config.database_url.expose()).await?;
    let output = match command {
        AdminCommand::Tenant { slug, name } => {
            cli::create_tenant(&db, &slug, name.as_deref()).await?
        }
        AdminCommand::User {
            tenant,
            email,
            role,
        } => cli::create_user(&db, &tenant, &email, role).await?,
        AdminCommand::LoginLink {
            tenant,
            email,
            next,
        } => cli::login_link(&db, config, &tenant, &email, next.as_deref()).await?,
        AdminCommand::ApiKey {
            tenant,
            name,
            actor,
        } => cli::create_api_key(&db, &tenant, &name, actor).await?,
        AdminCommand::Revoke { tenant, id, actor } => {
            cli::revoke_credential(&db, &tenant, &id, actor).await?
        }
    };
    db.close().await;
    for line in output.lines {
        println!("{line}");
    }
    if let Some(secret) = output.secret {
        println!("{secret}");
    }
    Ok(())
}
