//! SQL of tenants, users and credentials. Every function that reads tenant data takes the
//! tenant id, so a caller cannot forget it.

use chrono::Utc;
use serde::Serialize;
use shared::ActorType;
use sqlx::Row;

use super::{
    Actor, AuthError, Role,
    tokens::{self, TokenKind},
};
use crate::db::{Db, Tx, new_id, timestamp};

/// A tenant: one organisation, fully isolated from the others.
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    /// Stable id.
    pub id: String,
    /// Short name used on the command line.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A person in a tenant.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Stable id; the actor id of their requests.
    pub id: String,
    /// The tenant they belong to.
    pub tenant_id: String,
    /// Their email, unique in the tenant.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// How they are called (may be empty).
    pub name: String,
    /// False once deactivated: no sign-in, no session, no token works.
    pub active: bool,
}

/// A freshly issued secret: the only moment the token exists in clear.
#[derive(Debug)]
pub struct IssuedToken {
    /// The credential's id (the actor id of an API key).
    pub credential_id: String,
    /// The token itself; show it once, never store or log it.
    pub token: String,
}

/// Creates a tenant; the slug is lower-case letters, digits and dashes.
pub async fn create_tenant(db: &Db, slug: &str, name: &str) -> Result<Tenant, AuthError> {
    validate_slug(slug)?;
    let tenant = Tenant {
        id: new_id(),
        slug: slug.to_string(),
        name: name.to_string(),
    };
    sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&tenant.id)
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(timestamp(Utc::now()))
        .execute(db.pool())
        .await?;
    Ok(tenant)
}

/// Gives a tenant a new slug (the demo archives its previous tenant this way).
pub async fn rename_tenant(db: &Db, tenant_id: &str, slug: &str) -> Result<(), AuthError> {
    validate_slug(slug)?;
    sqlx::query("UPDATE tenants SET slug = $1 WHERE id = $2")
        .bind(slug)
        .bind(tenant_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Every tenant's id: system-wide jobs (sweeps) work tenant by tenant.
pub async fn tenant_ids(db: &Db) -> Result<Vec<String>, AuthError> {
    Ok(sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(db.pool())
        .await?)
}

/// Finds a tenant by its slug.
pub async fn tenant_by_slug(db: &Db, slug: &str) -> Result<Tenant, AuthError> {
    let row = sqlx::query("SELECT id, slug, name FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AuthError::TenantNotFound)?;
    tenant_from_row(&row)
}

/// Finds a tenant by its id.
pub async fn tenant_by_id(db: &Db, id: &str) -> Result<Tenant, AuthError> {
    let row = sqlx::query("SELECT id, slug, name FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AuthError::TenantNotFound)?;
    tenant_from_row(&row)
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant, AuthError> {
    Ok(Tenant {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
    })
}

/// Adds a user to a tenant.
pub async fn create_user(
    db: &Db,
    tenant_id: &str,
    email: &str,
    role: Role,
) -> Result<User, AuthError> {
    create_named_user(db, tenant_id, email, "", role).await
}

/// Adds a user with a display name to a tenant.
pub async fn create_named_user(
    db: &Db,
    tenant_id: &str,
    email: &str,
    name: &str,
    role: Role,
) -> Result<User, AuthError> {
    let email = normalize_email(email)?;
    let user = User {
        id: new_id(),
        tenant_id: tenant_id.to_string(),
        email,
        role,
        name: validate_name(name)?,
        active: true,
    };
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, role, created_at, name, active) \
         VALUES ($1, $2, $3, $4, $5, $6, 1)",
    )
    .bind(&user.id)
    .bind(&user.tenant_id)
    .bind(&user.email)
    .bind(role.as_str())
    .bind(timestamp(Utc::now()))
    .bind(&user.name)
    .execute(db.pool())
    .await?;
    Ok(user)
}

/// Checks a display name: at most 200 characters, no control characters.
pub fn validate_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AuthError::Invalid {
            field: "name",
            problem: "use at most 200 characters and no control characters",
        });
    }
    Ok(name.to_string())
}

/// The columns [`user_from_row`] reads.
pub(super) const USER_COLUMNS: &str = "id, tenant_id, email, role, name, active";

/// A user from a row holding [`USER_COLUMNS`].
pub(super) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, AuthError> {
    let role: String = row.try_get("role")?;
    let active: i64 = row.try_get("active")?;
    Ok(User {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        email: row.try_get("email")?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        name: row.try_get("name")?,
        active: active != 0,
    })
}

/// Finds a user of the tenant by id.
pub async fn user_by_id(db: &Db, tenant_id: &str, user_id: &str) -> Result<User, AuthError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::Db(crate::db::DbError::NotFound))?;
    user_from_row(&row)
}

/// Every active user of any tenant with this email: whom a Google sign-in may be.
pub async fn active_users_by_email(db: &Db, email: &str) -> Result<Vec<User>, AuthError> {
    let email = normalize_email(email)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND active = 1 ORDER BY created_at"
    )))
    .bind(&email)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(user_from_row).collect()
}

/// Finds a user of the tenant by email.
pub async fn user_by_email(db: &Db, tenant_id: &str, email: &str) -> Result<User, AuthError> {
    let email = normalize_email(email)?;
    let id: String = sqlx::query_scalar("SELECT id FROM users WHERE tenant_id = $1 AND email = $2")
        .bind(tenant_id)
        .bind(&email)
        .fetch_optional(db.pool())
        .await?
        .ok_or(AuthError::Db(crate::db::DbError::NotFound))?;
    user_by_id(db, tenant_id, &id).await
}

/// True when any tenant has a user with this email, active or not.
pub async fn any_user_with_email(db: &Db, email: &str) -> Result<bool, AuthError> {
    let email = normalize_email(email)?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(db.pool())
        .await?;
    Ok(count > 0)
}

/// Issues a personal access token for a user.
pub async fn issue_personal_token(
    db: &Db,
    user: &User,
    name: &str,
) -> Result<IssuedToken, AuthError> {
    insert_credential(
        db,
        &user.tenant_id,
        TokenKind::Personal,
        ActorType::User,
        Some(&user.id),
        name,
    )
    .await
}

/// Issues an API key acting as the given actor type (today only AI).
pub async fn issue_api_key(
    db: &Db,
    tenant_id: &str,
    name: &str,
    actor_type: ActorType,
) -> Result<IssuedToken, AuthError> {
    if actor_type != ActorType::Ai {
        return Err(AuthError::Invalid {
            field: "actor",
            problem: "API keys act as ai",
        });
    }
    insert_credential(db, tenant_id, TokenKind::ApiKey, actor_type, None, name).await
}

/// Issues a device token (actor DEVICE) bound to one resource, in the caller's transaction so
/// the device row and its token are written together.
pub async fn issue_device_token(
    tx: &mut Tx,
    tenant_id: &str,
    resource_id: &str,
    name: &str,
) -> Result<IssuedToken, AuthError> {
    let issued = IssuedToken {
        credential_id: new_id(),
        token: tokens::generate(TokenKind::Device),
    };
    let new = NewCredential {
        tenant_id,
        kind: TokenKind::Device,
        actor_type: ActorType::Device,
        user_id: None,
        resource_id: Some(resource_id),
        name,
    };
    new.insert(&issued, &mut **tx).await?;
    Ok(issued)
}

/// A credential row about to be written.
struct NewCredential<'a> {
    tenant_id: &'a str,
    kind: TokenKind,
    actor_type: ActorType,
    user_id: Option<&'a str>,
    resource_id: Option<&'a str>,
    name: &'a str,
}

impl NewCredential<'_> {
    async fn insert<'e, E>(&self, issued: &IssuedToken, executor: E) -> Result<(), AuthError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(
            "INSERT INTO credentials (id, tenant_id, kind, actor_type, user_id, resource_id, name, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&issued.credential_id)
        .bind(self.tenant_id)
        .bind(self.kind.stored_kind())
        .bind(self.actor_type.as_str())
        .bind(self.user_id)
        .bind(self.resource_id)
        .bind(self.name)
        .bind(tokens::hash(&issued.token))
        .bind(timestamp(Utc::now()))
        .execute(executor)
        .await?;
        Ok(())
    }
}

async fn insert_credential(
    db: &Db,
    tenant_id: &str,
    kind: TokenKind,
    actor_type: ActorType,
    user_id: Option<&str>,
    name: &str,
) -> Result<IssuedToken, AuthError> {
    let issued = IssuedToken {
        credential_id: new_id(),
        token: tokens::generate(kind),
    };
    let new = NewCredential {
        tenant_id,
        kind,
        actor_type,
        user_id,
        resource_id: None,
        name,
    };
    new.insert(&issued, db.pool()).await?;
    Ok(issued)
}

/// Revokes a credential of the tenant at once.
pub async fn revoke_credential(
    db: &Db,
    tenant_id: &str,
    credential_id: &str,
) -> Result<(), AuthError> {
    let done = sqlx::query(
        "UPDATE credentials SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(timestamp(Utc::now()))
    .bind(tenant_id)
    .bind(credential_id)
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(AuthError::Db(crate::db::DbError::NotFound));
    }
    Ok(())
}

/// Revokes a credential of the tenant in the caller's transaction (device revocation revokes
/// the device row and its token together).
pub async fn revoke_credential_in(
    tx: &mut Tx,
    tenant_id: &str,
    credential_id: &str,
) -> Result<(), AuthError> {
    sqlx::query(
        "UPDATE credentials SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(timestamp(Utc::now()))
    .bind(tenant_id)
    .bind(credential_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Resolves a bearer token to its actor; unknown, revoked and expired tokens are refused alike.
pub async fn authenticate(db: &Db, token: &str) -> Result<Actor, AuthError> {
    let row = sqlx::query(
        "SELECT c.id, c.tenant_id, c.actor_type, c.user_id, c.resource_id, u.role \
         FROM credentials c LEFT JOIN users u ON u.id = c.user_id AND u.tenant_id = c.tenant_id \
         WHERE c.token_hash = $1 AND c.revoked_at IS NULL \
           AND (c.expires_at IS NULL OR c.expires_at > $2) \
           AND (c.user_id IS NULL OR u.active = 1)",
    )
    .bind(tokens::hash(token))
    .bind(timestamp(Utc::now()))
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::Unauthenticated)?;
    let actor_type: String = row.try_get("actor_type")?;
    let actor_type = ActorType::parse(&actor_type).ok_or(AuthError::Unauthenticated)?;
    let credential_id: String = row.try_get("id")?;
    let user_id: Option<String> = row.try_get("user_id")?;
    let role: Option<String> = row.try_get("role")?;
    Ok(Actor {
        tenant_id: row.try_get("tenant_id")?,
        actor_type,
        id: user_id.unwrap_or(credential_id),
        role: role.as_deref().and_then(Role::parse),
        resource_id: row.try_get("resource_id")?,
    })
}

fn validate_slug(slug: &str) -> Result<(), AuthError> {
    let well_formed = (2..=63).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(AuthError::Invalid {
            field: "slug",
            problem: "use 2 to 63 lower-case letters, digits and dashes",
        })
    }
}

/// Lower-cases and checks an email address enough to catch typos; delivery is the real test.
pub fn normalize_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AuthError::Invalid {
            field: "email",
            problem: "not an email address",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_emails_are_checked() {
        assert!(validate_slug("demo").is_ok());
        assert!(validate_slug("acme-2").is_ok());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-x").is_err());
        assert_eq!(
            normalize_email(" Ana@Example.com ").ok().as_deref(),
            Some("ana@example.com")
        );
        assert!(normalize_email("ana@localhost").is_err());
        assert!(normalize_email("a b@example.com").is_err());
        assert!(normalize_email("@example.com").is_err());
    }
}
