//! `hub demo`: a seeded tenant `demo` with admin, member and AI credentials, on a running hub.
//! The credentials go to a file (mode 0600) when asked, else they are printed once.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use shared::ActorType;

use crate::{
    auth::{AuthError, Role, store},
    db::Db,
};

/// The demo tenant's slug.
pub const DEMO_TENANT: &str = "demo";

/// The credentials file of API.md (`hub demo --credentials-out`).
#[derive(Debug, Serialize)]
pub struct DemoCredentials {
    /// The hub's URL.
    pub base_url: String,
    /// The tenant slug.
    pub tenant: String,
    /// Personal token of the demo admin.
    pub admin_token: String,
    /// Personal token of the demo member.
    pub member_token: String,
    /// API key of the demo AI agent.
    pub ai_key: String,
    /// Rooms first, then devices (joined by the resources capability).
    pub resources: Vec<Value>,
    /// A device enrollment code (joined by the edge capability).
    pub device_enrollment: Option<Value>,
    /// The emulated Google account (joined by the Google capability).
    pub google: Option<Value>,
    /// The SendGrid emulator (joined by the notifications capability).
    pub sendgrid: Option<Value>,
    /// The Twilio emulator (joined by the notifications capability).
    pub twilio: Option<Value>,
}

/// Seeds the demo tenant (reusing it if it exists) and issues fresh credentials.
pub async fn seed(db: &Db, base_url: &str) -> Result<DemoCredentials, AuthError> {
    let tenant = match store::tenant_by_slug(db, DEMO_TENANT).await {
        Ok(tenant) => tenant,
        Err(AuthError::TenantNotFound) => {
            store::create_tenant(db, DEMO_TENANT, "CORBI Demo").await?
        }
        Err(other) => return Err(other),
    };
    let admin = demo_user(db, &tenant.id, "admin@demo.corbi.example", Role::Admin).await?;
    let member = demo_user(db, &tenant.id, "member@demo.corbi.example", Role::Member).await?;
    let admin_token = store::issue_personal_token(db, &admin, "demo").await?.token;
    let member_token = store::issue_personal_token(db, &member, "demo")
        .await?
        .token;
    let ai_key = store::issue_api_key(db, &tenant.id, "demo voice agent", ActorType::Ai)
        .await?
        .token;
    Ok(DemoCredentials {
        base_url: base_url.to_string(),
        tenant: tenant.slug,
        admin_token,
        member_token,
        ai_key,
        resources: Vec::new(),
        device_enrollment: None,
        google: None,
        sendgrid: None,
        twilio: None,
    })
}

async fn demo_user(
    db: &Db,
    tenant_id: &str,
    email: &str,
    role: Role,
) -> Result<store::User, AuthError> {
    match store::create_user(db, tenant_id, email, role).await {
        Ok(user) => Ok(user),
        Err(AuthError::Db(crate::db::DbError::Conflict(_))) => {
            store::user_by_email(db, tenant_id, email).await
        }
        Err(other) => Err(other),
    }
}

/// Writes the credentials as JSON readable only by the owner.
pub fn write_credentials(path: &Path, credentials: &DemoCredentials) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let json = serde_json::to_vec_pretty(credentials).map_err(std::io::Error::other)?;
    file.write_all(&json)?;
    file.write_all(b"\n")
}
