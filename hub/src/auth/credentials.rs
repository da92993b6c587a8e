//! The credential lifecycle: list, create and revoke personal tokens and AI keys. A person
//! manages their own personal tokens; an admin manages every personal token and AI key of the
//! tenant. Personal tokens expire after 90 days unless another lifetime is asked for; AI keys
//! do not expire unless asked to. A revoked or expired credential answers 401 on its next
//! request, on every replica, because every request reads the credential row. Device tokens
//! are revoked with their device (`POST /api/v1/devices/{id}/revoke`) and are not listed here.

use axum::{
    Json,
    extract::{FromRef, Path, State},
    http::StatusCode,
};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::ActorType;
use sqlx::Row;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Actor, AuthError, policy, store};
use crate::{
    db::{Db, DbError, parse_timestamp},
    error::{ApiError, ApiJson},
    text::zulu_millis,
};

/// How long a personal token lives when no lifetime is given.
pub const PERSONAL_TOKEN_DAYS: i64 = 90;
/// The longest lifetime that can be asked for.
const MAX_DAYS: i64 = 3650;

/// The credential routes, under any router state holding the database.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(revoke))
}

/// A credential as listed: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    /// Id (the actor id of an AI key).
    pub id: String,
    /// `personal_token` or `api_key`.
    pub kind: String,
    /// What it is for.
    pub name: String,
    /// The person a personal token acts as.
    pub user_id: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// When it stops working (null: never).
    pub expires_at: Option<String>,
    /// When it was last used, to the minute (null: never).
    pub last_used_at: Option<String>,
    /// When it was revoked (null: not revoked).
    pub revoked_at: Option<String>,
}

/// The credentials the caller may manage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialList {
    /// Newest first.
    pub items: Vec<CredentialView>,
}

/// A credential to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// `personal_token` (for yourself) or `api_key` (an AI agent's key; admins).
    pub kind: String,
    /// What it is for, e.g. "laptop script" or "voice agent".
    pub name: String,
    /// Days until it stops working (1–3650); personal tokens default to 90, AI keys never
    /// expire unless given.
    pub expires_in_days: Option<i64>,
}

/// A credential just made: the only answer that holds its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedCredential {
    /// The credential.
    #[serde(flatten)]
    pub credential: CredentialView,
    /// The secret; shown once, never again.
    pub token: String,
}

const COLUMNS: &str = "id, kind, name, user_id, created_at, expires_at, last_used_at, revoked_at";

/// Lists the caller's personal tokens, or (admins) every personal token and AI key.
#[utoipa::path(get, path = "/api/v1/credentials",
    responses((status = 200, body = CredentialList)), tag = "credentials")]
async fn list_credentials(
    State(db): State<Db>,
    actor: Actor,
) -> Result<Json<CredentialList>, ApiError> {
    policy::require_person(&actor)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials \
         WHERE tenant_id = $1 AND kind IN ('personal_token', 'api_key') \
           AND ($2 = 1 OR user_id = $3) \
         ORDER BY created_at DESC"
    )))
    .bind(&actor.tenant_id)
    .bind(i64::from(actor.is_admin()))
    .bind(&actor.id)
    .fetch_all(db.pool())
    .await
    .map_err(AuthError::from)?;
    let items = rows.iter().map(view).collect::<Result<_, _>>()?;
    Ok(Json(CredentialList { items }))
}

/// Makes a personal token for the caller or (admins) an AI key.
#[utoipa::path(post, path = "/api/v1/credentials", request_body = NewCredential,
    responses((status = 201, body = IssuedCredential)), tag = "credentials")]
async fn create_credential(
    State(db): State<Db>,
    actor: Actor,
    ApiJson(new): ApiJson<NewCredential>,
) -> Result<(StatusCode, Json<IssuedCredential>), ApiError> {
    policy::require_person(&actor)?;
    let name = checked_name(&new.name)?;
    let days = checked_days(new.expires_in_days)?;
    let issued = match new.kind.as_str() {
        "personal_token" => {
            let user = store::user_by_id(&db, &actor.tenant_id, &actor.id).await?;
            let expires = Utc::now() + Duration::days(days.unwrap_or(PERSONAL_TOKEN_DAYS));
            store::issue_expiring(&db, &actor.tenant_id, Some(&user), &name, Some(expires)).await?
        }
        "api_key" => {
            policy::require_admin(&actor)?;
            let expires = days.map(|d| Utc::now() + Duration::days(d));
            store::issue_expiring(&db, &actor.tenant_id, None, &name, expires).await?
        }
        _ => {
            return Err(AuthError::Invalid {
                field: "kind",
                problem: "use personal_token or api_key",
            }
            .into());
        }
    };
    let credential = one(&db, &actor.tenant_id, &issued.credential_id).await?;
    tracing::info!(credential_id = %credential.id, kind = %credential.kind, "credential created");
    Ok((
        StatusCode::CREATED,
        Json(IssuedCredential {
            credential,
            token: issued.token,
        }),
    ))
}

/// Revokes a credential at once: your own personal token, or (admins) any of the tenant's.
#[utoipa::path(delete, path = "/api/v1/credentials/{id}",
    responses((status = 204, description = "revoked")), tag = "credentials")]
async fn revoke(
    State(db): State<Db>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    policy::require_person(&actor)?;
    let credential = one(&db, &actor.tenant_id, &id).await?;
    let own = credential.user_id.as_deref() == Some(actor.id.as_str());
    if !own && !actor.is_admin() {
        return Err(AuthError::Db(DbError::NotFound).into());
    }
    if credential.revoked_at.is_none() {
        store::revoke_credential(&db, &actor.tenant_id, &id).await?;
        tracing::info!(credential_id = %id, "credential revoked");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One listable credential of the tenant.
async fn one(db: &Db, tenant_id: &str, id: &str) -> Result<CredentialView, AuthError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM credentials \
         WHERE tenant_id = $1 AND id = $2 AND kind IN ('personal_token', 'api_key')"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(AuthError::Db(DbError::NotFound))?;
    view(&row)
}

fn view(row: &sqlx::any::AnyRow) -> Result<CredentialView, AuthError> {
    let stamp = |column: &str| -> Result<Option<String>, AuthError> {
        let text: Option<String> = row.try_get(column)?;
        Ok(text
            .map(|t| parse_timestamp(&t).map(zulu_millis))
            .transpose()?)
    };
    Ok(CredentialView {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        user_id: row.try_get("user_id")?,
        created_at: stamp("created_at")?.unwrap_or_default(),
        expires_at: stamp("expires_at")?,
        last_used_at: stamp("last_used_at")?,
        revoked_at: stamp("revoked_at")?,
    })
}

fn checked_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AuthError::Invalid {
            field: "name",
            problem: "give 1 to 100 characters, no control characters",
        });
    }
    Ok(name.to_string())
}

fn checked_days(days: Option<i64>) -> Result<Option<i64>, AuthError> {
    match days {
        Some(d) if !(1..=MAX_DAYS).contains(&d) => Err(AuthError::Invalid {
            field: "expires_in_days",
            problem: "give a number of days from 1 to 3650",
        }),
        other => Ok(other),
    }
}

/// The CLI's revocation (`hub apikey revoke`, `hub token revoke`): the credential of the
/// tenant with this id and kind.
pub async fn revoke_by_cli(
    db: &Db,
    tenant_id: &str,
    id: &str,
    actor_type: ActorType,
) -> Result<(), AuthError> {
    let kind = if actor_type == ActorType::Ai {
        "api_key"
    } else {
        "personal_token"
    };
    let found = one(db, tenant_id, id).await?;
    if found.kind != kind {
        return Err(AuthError::Db(DbError::NotFound));
    }
    store::revoke_credential(db, tenant_id, id).await
}
