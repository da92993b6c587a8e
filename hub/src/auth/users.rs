//! The people of a tenant as the console manages them: list, add, change role, deactivate.
//! A deactivated user cannot sign in, and their sessions and personal tokens stop at once; a
//! tenant always keeps at least one active admin, so nobody can lock the tenant out of itself.

use axum::{
    Json,
    extract::{FromRef, Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Actor, AuthError, Role, policy, sessions,
    store::{self, USER_COLUMNS, User, user_from_row},
};
use crate::{
    db::{Db, Tx},
    error::{ApiError, ApiJson},
};

/// The people routes, under any router state holding the database.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_users, add_user))
        .routes(routes!(change_user))
}

/// A person as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// Stable id.
    pub id: String,
    /// Their email, unique in the tenant.
    pub email: String,
    /// How they are called (may be empty).
    pub name: String,
    /// `admin` or `member`.
    pub role: Role,
    /// False once deactivated.
    pub active: bool,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            active: user.active,
        }
    }
}

/// The tenant's people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// Ordered by email.
    pub users: Vec<UserView>,
}

/// A person to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Their email (their Google account's, to sign in with Google).
    pub email: String,
    /// How they are called.
    #[serde(default)]
    pub name: String,
    /// `admin` or `member`.
    pub role: Role,
}

/// Changes to a person; fields left out stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// A new role.
    pub role: Option<Role>,
    /// False deactivates, true reactivates.
    pub active: Option<bool>,
    /// A new display name.
    pub name: Option<String>,
}

/// Lists the tenant's people (any signed-in person of the tenant; they book with each other).
#[utoipa::path(get, path = "/api/v1/users",
    responses((status = 200, body = UserList)), tag = "people")]
async fn list_users(State(db): State<Db>, actor: Actor) -> Result<Json<UserList>, ApiError> {
    policy::require_person(&actor)?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY email"
    )))
    .bind(&actor.tenant_id)
    .fetch_all(db.pool())
    .await
    .map_err(AuthError::from)?;
    let users = rows
        .iter()
        .map(|row| user_from_row(row).map(UserView::from))
        .collect::<Result<_, _>>()?;
    Ok(Json(UserList { users }))
}

/// Adds a person to the tenant (admins).
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser,
    responses((status = 201, body = UserView)), tag = "people")]
async fn add_user(
    State(db): State<Db>,
    actor: Actor,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    policy::require_admin(&actor)?;
    let user = store::create_named_user(&db, &actor.tenant_id, &new.email, &new.name, new.role)
        .await
        .map_err(already_there)?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user added");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Changes a person's role, name or whether they are active (admins).
#[utoipa::path(patch, path = "/api/v1/users/{id}", request_body = UserChange,
    responses((status = 200, body = UserView)), tag = "people")]
async fn change_user(
    State(db): State<Db>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<UserView>, ApiError> {
    policy::require_admin(&actor)?;
    let name = change
        .name
        .as_deref()
        .map(store::validate_name)
        .transpose()?;
    let mut tx = db.begin_write().await.map_err(AuthError::from)?;
    let before = user_in(&mut tx, &actor.tenant_id, &id).await?;
    let after = User {
        role: change.role.unwrap_or(before.role),
        active: change.active.unwrap_or(before.active),
        name: name.unwrap_or_else(|| before.name.clone()),
        ..before.clone()
    };
    let loses_admin =
        before.active && before.role == Role::Admin && !(after.active && after.role == Role::Admin);
    if loses_admin && other_active_admins(&mut tx, &actor.tenant_id, &id).await? == 0 {
        return Err(AuthError::LastAdmin.into());
    }
    save_user(&mut tx, &after).await?;
    if before.active && !after.active {
        sessions::close_all_in(&mut tx, &actor.tenant_id, &id).await?;
    }
    tx.commit().await.map_err(AuthError::from)?;
    tracing::info!(user_id = %id, role = after.role.as_str(), active = after.active, "user changed");
    Ok(Json(after.into()))
}

async fn user_in(tx: &mut Tx, tenant_id: &str, id: &str) -> Result<User, AuthError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AuthError::Db(crate::db::DbError::NotFound))?;
    user_from_row(&row)
}

async fn other_active_admins(tx: &mut Tx, tenant_id: &str, id: &str) -> Result<i64, AuthError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users \
         WHERE tenant_id = $1 AND id <> $2 AND role = 'admin' AND active = 1",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_one(&mut **tx)
    .await?)
}

async fn save_user(tx: &mut Tx, user: &User) -> Result<(), AuthError> {
    sqlx::query(
        "UPDATE users SET role = $1, active = $2, name = $3 WHERE tenant_id = $4 AND id = $5",
    )
    .bind(user.role.as_str())
    .bind(i64::from(user.active))
    .bind(&user.name)
    .bind(&user.tenant_id)
    .bind(&user.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A second user with the same email is a conflict the admin can act on.
fn already_there(err: AuthError) -> AuthError {
    match err {
        AuthError::Db(crate::db::DbError::Conflict(_)) => AuthError::Duplicate(
            "Someone with that email is already in this tenant. Change their role instead.",
        ),
        other => other,
    }
}
