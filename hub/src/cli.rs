//! Administrative commands (`hub tenant create`, `hub user create`, `hub user login-link`,
//! `hub apikey create|revoke`, `hub token revoke`). They
//! work on the database directly, so they run while a hub serves the same database, and print
//! the secret alone on the last line of standard output. Also `hub ai-tools`, which prints
//! agent configurations and needs no database.

use shared::ActorType;

use crate::{
    auth::{AuthError, Role, store},
    config::Config,
    db::Db,
    mcp::agents::{self, MissingOperation},
    signin::{Signin, SigninError, links},
};

/// What a command printed: informational lines, then the secret (if any) last.
#[derive(Debug, Default)]
pub struct Output {
    /// Lines to print first.
    pub lines: Vec<String>,
    /// The secret, printed alone on the last line.
    pub secret: Option<String>,
}

/// `hub tenant create SLUG`.
pub async fn create_tenant(db: &Db, slug: &str, name: Option<&str>) -> Result<Output, AuthError> {
    let tenant = store::create_tenant(db, slug, name.unwrap_or(slug)).await?;
    Ok(Output {
        lines: vec![format!(
            "tenant {} created with id {}",
            tenant.slug, tenant.id
        )],
        secret: None,
    })
}

/// `hub user create --tenant SLUG --email E --role R`: prints a personal access token.
pub async fn create_user(
    db: &Db,
    tenant: &str,
    email: &str,
    role: Role,
) -> Result<Output, AuthError> {
    let tenant = store::tenant_by_slug(db, tenant).await?;
    let user = store::create_user(db, &tenant.id, email, role).await?;
    let issued = store::issue_personal_token(db, &user, "cli").await?;
    Ok(Output {
        lines: vec![
            format!(
                "user {} ({}) created with id {}",
                user.email,
                role.as_str(),
                user.id
            ),
            "personal access token (shown once):".into(),
        ],
        secret: Some(issued.token),
    })
}

/// `hub apikey create --tenant SLUG --name N --actor ai`: prints the key.
pub async fn create_api_key(
    db: &Db,
    tenant: &str,
    name: &str,
    actor: ActorType,
) -> Result<Output, AuthError> {
    let tenant = store::tenant_by_slug(db, tenant).await?;
    let issued = store::issue_api_key(db, &tenant.id, name, actor).await?;
    Ok(Output {
        lines: vec![
            format!("API key {name} created with id {}", issued.credential_id),
            "key (shown once):".into(),
        ],
        secret: Some(issued.token),
    })
}

/// `hub apikey revoke --tenant SLUG ID` and `hub token revoke --tenant SLUG ID`.
pub async fn revoke_credential(
    db: &Db,
    tenant: &str,
    id: &str,
    actor: ActorType,
) -> Result<Output, AuthError> {
    let tenant = store::tenant_by_slug(db, tenant).await?;
    crate::auth::credentials::revoke_by_cli(db, &tenant.id, id, actor).await?;
    Ok(Output {
        lines: vec![format!("credential {id} revoked")],
        secret: None,
    })
}

/// `hub user login-link --tenant SLUG --email E [--next PATH]`: prints a one-time sign-in URL
/// to the console under the hub's `PUBLIC_URL` (or `http://{BIND}`).
pub async fn login_link(
    db: &Db,
    config: &Config,
    tenant: &str,
    email: &str,
    next: Option<&str>,
) -> Result<Output, SigninError> {
    let signin = Signin::new(config, &config.public_base_url(config.bind))
        .map_err(|e| SigninError::Google(e.to_string()))?;
    let url = links::create(db, &signin, tenant, email, next).await?;
    Ok(Output {
        lines: vec![format!(
            "sign-in link for {email} (works once, for {} minutes):",
            config.console.signin_link_minutes
        )],
        secret: Some(url),
    })
}

/// `hub ai-tools elevenlabs --base-url URL`: the ElevenLabs webhook tools, generated from the
/// OpenAPI document this hub serves.
pub fn elevenlabs_tools(base_url: &str, secret_id: &str) -> Result<String, MissingOperation> {
    let openapi = serde_json::json!(crate::openapi());
    let tools = agents::elevenlabs_tools(&openapi, base_url, secret_id)?;
    Ok(serde_json::to_string_pretty(&tools).unwrap_or_default())
}

/// `hub ai-tools mcp-config`: what an MCP client needs to reach the hub at `base_url`.
pub fn mcp_config(base_url: &str) -> String {
    serde_json::to_string_pretty(&agents::mcp_client_config(base_url)).unwrap_or_default()
}
