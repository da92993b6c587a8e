//! Rooms and devices, each bound to its own Google calendar.
//!
//! Admins onboard a resource with an existing calendar (validated with `calendars.get` through
//! the tenant's connection; pickable from `GET /api/v1/google/calendars`) or a calendar created
//! for it (`calendars.insert`). A disabled resource keeps its history and refuses new bookings
//! ([`ensure_bookable`]). Members, AI agents and devices read. Onboarding, enabling and
//! disabling emit a typed [`events::ResourceChanged`] in the same transaction; sync follows it
//! to watch (or stop watching) the calendar.

pub mod calendars;
pub mod events;

use axum::{
    Json,
    extract::{FromRef, Path, State},
    http::StatusCode,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::{ErrorCode, ResourceKind};
use sqlx::{Row, any::AnyRow};
use utoipa_axum::{router::OpenApiRouter, routes};

use self::events::ResourceChange;
use crate::{
    auth::{Actor, policy},
    db::{Db, DbError, new_id, timestamp},
    error::{ApiError, ApiJson, ApiQuery, FieldError},
    google::{Google, GoogleError},
    handles::capability_handles,
    jobs::Queue,
};

/// A query of resources with the given clause; static text, as sqlx requires.
macro_rules! select_resource {
    ($filter:literal) => {
        concat!(
            "SELECT id, name, kind, capacity, description, calendar_id, calendar_created, enabled, created_at, updated_at \
             FROM resources ",
            $filter
        )
    };
}

capability_handles! {
    /// The handles resource administration works with: its storage, the outbox its changes are
    /// announced on, and the Google client that checks or creates a resource's calendar.
    pub struct ResourcesState {
        /// The database.
        pub db: Db,
        /// The job queue and outbox.
        pub jobs: Queue,
        /// The Calendar client.
        pub google: Google,
    }
}

/// The routes of this module.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    ResourcesState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_resource, list_resources))
        .routes(routes!(get_resource, patch_resource))
        .routes(routes!(disable_resource))
        .routes(routes!(enable_resource))
        .routes(routes!(calendars::list_google_calendars))
}

/// A room or device.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Resource {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `ROOM` or `DEVICE`.
    #[schema(value_type = String)]
    pub kind: ResourceKind,
    /// Seats (rooms).
    pub capacity: Option<i64>,
    /// Free text.
    pub description: Option<String>,
    /// Its Google calendar.
    pub calendar_id: String,
    /// Whether CORBI created the calendar.
    pub calendar_created: bool,
    /// Disabled resources refuse new bookings.
    pub enabled: bool,
    /// When it was onboarded.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// What can go wrong with resources.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// Unknown id (or another tenant's).
    #[error("resource not found")]
    NotFound,
    /// The resource is disabled.
    #[error("resource {0} is disabled")]
    Disabled(String),
    /// Bad fields.
    #[error("invalid resource")]
    Invalid(Vec<FieldError>),
    /// The calendar cannot be read with the tenant's credentials.
    #[error("calendar not accessible")]
    CalendarNotAccessible(String),
    /// Another resource already uses that calendar.
    #[error("calendar already used by resource {0}")]
    CalendarTaken(String),
    /// Google failed.
    #[error(transparent)]
    Google(#[from] GoogleError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(ResourceError);

impl From<ResourceError> for ApiError {
    fn from(err: ResourceError) -> Self {
        match err {
            ResourceError::NotFound => ApiError::not_found("room or device"),
            ResourceError::Disabled(name) => ApiError::new(
                ErrorCode::ResourceDisabled,
                format!("{name} is disabled and cannot be booked right now. Please choose another room or device."),
            ),
            ResourceError::Invalid(fields) => ApiError::validation(fields),
            ResourceError::CalendarNotAccessible(id) => ApiError::new(
                ErrorCode::CalendarNotAccessible,
                "CORBI cannot open that Google calendar with the connected account. Share it with that account or pick another one.",
            )
            .with_details(serde_json::json!({"calendar_id": id})),
            ResourceError::CalendarTaken(resource_id) => ApiError::new(
                ErrorCode::Conflict,
                "That Google calendar already belongs to another room or device. Pick another calendar.",
            )
            .with_details(serde_json::json!({"resource_id": resource_id})),
            ResourceError::Google(google) => google.into(),
            ResourceError::Db(db) => db.into(),
        }
    }
}

/// How the resource gets its calendar.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "UPPERCASE", deny_unknown_fields)]
pub enum CalendarChoice {
    /// Use a calendar the tenant's account can already read.
    Existing {
        /// Its id.
        calendar_id: String,
    },
    /// Create a dedicated calendar in the tenant's account.
    Create,
}

/// Body of `POST /api/v1/resources`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    /// Display name.
    pub name: String,
    /// `ROOM` or `DEVICE`.
    #[schema(value_type = String)]
    pub kind: ResourceKind,
    /// Seats (rooms).
    pub capacity: Option<i64>,
    /// Free text.
    pub description: Option<String>,
    /// Its calendar.
    pub calendar: CalendarChoice,
}

/// Body of `PATCH /api/v1/resources/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcePatch {
    /// New name.
    pub name: Option<String>,
    /// New capacity.
    pub capacity: Option<i64>,
    /// New description.
    pub description: Option<String>,
}

fn check_fields(
    name: Option<&str>,
    capacity: Option<i64>,
    description: Option<&str>,
) -> Result<(), ResourceError> {
    let mut problems = Vec::new();
    if let Some(name) = name
        && (name.trim().is_empty() || name.chars().count() > 200)
    {
        problems.push(FieldError::new(
            "name",
            "give a name of 1 to 200 characters",
        ));
    }
    if capacity.is_some_and(|c| !(1..=10_000).contains(&c)) {
        problems.push(FieldError::new(
            "capacity",
            "use a number of seats from 1 to 10000",
        ));
    }
    if description.is_some_and(|d| d.chars().count() > 2000) {
        problems.push(FieldError::new(
            "description",
            "keep it under 2000 characters",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ResourceError::Invalid(problems))
    }
}

/// Onboards a room or device (admins).
#[utoipa::path(post, path = "/api/v1/resources", request_body = NewResource,
    responses((status = 201, body = Resource)), tag = "resources")]
async fn create_resource(
    State(state): State<ResourcesState>,
    actor: Actor,
    ApiJson(new): ApiJson<NewResource>,
) -> Result<(StatusCode, Json<Resource>), ApiError> {
    policy::require_admin(&actor)?;
    check_fields(Some(&new.name), new.capacity, new.description.as_deref())?;
    let (calendar_id, created) = match &new.calendar {
        CalendarChoice::Existing { calendar_id } => (
            calendars::verify_calendar(&state, &actor.tenant_id, calendar_id).await?,
            false,
        ),
        CalendarChoice::Create => (
            calendars::create_calendar(&state, &actor.tenant_id, &new.name).await?,
            true,
        ),
    };
    let resource = insert(&state, &actor.tenant_id, &new, &calendar_id, created).await?;
    tracing::info!(resource_id = %resource.id, kind = %resource.kind, "resource onboarded");
    Ok((StatusCode::CREATED, Json(resource)))
}

/// Stores a new resource and announces it, in one transaction; `created` says whether CORBI
/// created its calendar.
async fn insert(
    state: &ResourcesState,
    tenant_id: &str,
    new: &NewResource,
    calendar_id: &str,
    created: bool,
) -> Result<Resource, ResourceError> {
    let (db, queue) = (&state.db, &state.jobs);
    let id = new_id();
    let now = timestamp(Utc::now());
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO resources (id, tenant_id, name, kind, capacity, description, calendar_id, calendar_created, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(new.name.trim())
    .bind(new.kind.as_str())
    .bind(new.capacity)
    .bind(new.description.as_deref())
    .bind(calendar_id)
    .bind(i64::from(created))
    .bind(&now)
    .execute(&mut *tx)
    .await
    .map_err(DbError::classify);
    match inserted {
        Ok(_) => {
            events::emit(queue, &mut tx, tenant_id, &id, ResourceChange::Onboarded).await?;
            tx.commit().await?;
            queue.notify_workers();
            get(db, tenant_id, &id).await
        }
        Err(DbError::Conflict(_)) => {
            tx.rollback().await?;
            let owner: String = sqlx::query_scalar(
                "SELECT id FROM resources WHERE tenant_id = $1 AND calendar_id = $2",
            )
            .bind(tenant_id)
            .bind(calendar_id)
            .fetch_one(db.pool())
            .await?;
            Err(ResourceError::CalendarTaken(owner))
        }
        Err(other) => Err(other.into()),
    }
}

/// A resource of the tenant.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> Result<Resource, ResourceError> {
    let row = sqlx::query(select_resource!("WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(ResourceError::NotFound)?;
    resource_from_row(&row)
}

/// A resource that can take a new booking: it exists in the tenant and is enabled.
pub async fn ensure_bookable(
    db: &Db,
    tenant_id: &str,
    id: &str,
) -> Result<Resource, ResourceError> {
    let resource = get(db, tenant_id, id).await?;
    if resource.enabled {
        Ok(resource)
    } else {
        Err(ResourceError::Disabled(resource.name))
    }
}

/// Every resource of the tenant, rooms first, then by name.
pub async fn list(db: &Db, tenant_id: &str) -> Result<Vec<Resource>, ResourceError> {
    let rows = sqlx::query(select_resource!(
        "WHERE tenant_id = $1 ORDER BY kind DESC, name, id"
    ))
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(resource_from_row).collect()
}

fn resource_from_row(row: &AnyRow) -> Result<Resource, ResourceError> {
    let kind: String = row.try_get("kind")?;
    let created: i64 = row.try_get("calendar_created")?;
    let enabled: i64 = row.try_get("enabled")?;
    Ok(Resource {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: ResourceKind::parse(&kind).unwrap_or(ResourceKind::Room),
        capacity: row.try_get("capacity")?,
        description: row.try_get("description")?,
        calendar_id: row.try_get("calendar_id")?,
        calendar_created: created != 0,
        enabled: enabled != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A list of resources.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceList {
    /// Rooms first, then devices, by name.
    pub items: Vec<Resource>,
}

/// Filters of the resource list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceFilter {
    /// `ROOM` or `DEVICE`.
    pub kind: Option<String>,
    /// Only enabled (true) or disabled (false) ones.
    pub enabled: Option<bool>,
}

/// Lists the tenant's rooms and devices.
#[utoipa::path(get, path = "/api/v1/resources", params(ResourceFilter),
    responses((status = 200, body = ResourceList)), tag = "resources")]
async fn list_resources(
    State(state): State<ResourcesState>,
    actor: Actor,
    ApiQuery(filter): ApiQuery<ResourceFilter>,
) -> Result<Json<ResourceList>, ApiError> {
    let kind = match filter.kind.as_deref() {
        None => None,
        Some(text) => Some(ResourceKind::parse(text).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new("kind", "use ROOM or DEVICE")])
        })?),
    };
    let items = list(&state.db, &actor.tenant_id)
        .await?
        .into_iter()
        .filter(|r| kind.is_none_or(|k| r.kind == k))
        .filter(|r| filter.enabled.is_none_or(|e| r.enabled == e))
        .collect();
    Ok(Json(ResourceList { items }))
}

/// One room or device.
#[utoipa::path(get, path = "/api/v1/resources/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Resource)), tag = "resources")]
async fn get_resource(
    State(state): State<ResourcesState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Resource>, ApiError> {
    Ok(Json(get(&state.db, &actor.tenant_id, &id).await?))
}

/// Renames a resource or changes its capacity or description (admins).
#[utoipa::path(patch, path = "/api/v1/resources/{id}", params(("id" = String, Path)), request_body = ResourcePatch,
    responses((status = 200, body = Resource)), tag = "resources")]
async fn patch_resource(
    State(state): State<ResourcesState>,
    actor: Actor,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ResourcePatch>,
) -> Result<Json<Resource>, ApiError> {
    policy::require_admin(&actor)?;
    check_fields(
        patch.name.as_deref(),
        patch.capacity,
        patch.description.as_deref(),
    )?;
    let current = get(&state.db, &actor.tenant_id, &id).await?;
    sqlx::query(
        "UPDATE resources SET name = $1, capacity = $2, description = $3, updated_at = $4 WHERE tenant_id = $5 AND id = $6",
    )
    .bind(patch.name.as_deref().map_or(current.name.as_str(), str::trim))
    .bind(patch.capacity.or(current.capacity))
    .bind(patch.description.as_deref().or(current.description.as_deref()))
    .bind(timestamp(Utc::now()))
    .bind(&actor.tenant_id)
    .bind(&id)
    .execute(state.db.pool())
    .await
    .map_err(DbError::classify)?;
    Ok(Json(get(&state.db, &actor.tenant_id, &id).await?))
}

async fn set_enabled(
    state: &ResourcesState,
    actor: &Actor,
    id: &str,
    enabled: bool,
) -> Result<Json<Resource>, ApiError> {
    policy::require_admin(actor)?;
    let mut tx = state.db.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE resources SET enabled = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
    )
    .bind(i64::from(enabled))
    .bind(timestamp(Utc::now()))
    .bind(&actor.tenant_id)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(DbError::classify)?;
    if changed.rows_affected() == 0 {
        return Err(ResourceError::NotFound.into());
    }
    let change = if enabled {
        ResourceChange::Enabled
    } else {
        ResourceChange::Disabled
    };
    events::emit(&state.jobs, &mut tx, &actor.tenant_id, id, change).await?;
    tx.commit().await.map_err(DbError::classify)?;
    state.jobs.notify_workers();
    tracing::info!(resource_id = %id, enabled, "resource availability changed");
    Ok(Json(get(&state.db, &actor.tenant_id, id).await?))
}

/// Disables a resource: it keeps its history and refuses new bookings (admins).
#[utoipa::path(post, path = "/api/v1/resources/{id}/disable", params(("id" = String, Path)),
    responses((status = 200, body = Resource)), tag = "resources")]
async fn disable_resource(
    State(state): State<ResourcesState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Resource>, ApiError> {
    set_enabled(&state, &actor, &id, false).await
}

/// Enables a resource again (admins).
#[utoipa::path(post, path = "/api/v1/resources/{id}/enable", params(("id" = String, Path)),
    responses((status = 200, body = Resource)), tag = "resources")]
async fn enable_resource(
    State(state): State<ResourcesState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<Resource>, ApiError> {
    set_enabled(&state, &actor, &id, true).await
}
