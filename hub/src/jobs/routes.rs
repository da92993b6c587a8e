//! Admin API of the job queue: dead letters and their retry.

use axum::{
    Json,
    extract::{FromRef, Path, State},
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{JobRecord, JobState, Queue};
use crate::{
    auth::{Actor, policy},
    db::{Db, DbError},
    error::{ApiError, ApiQuery},
};

/// The routes of this module, under any router state that holds the queue (and the database
/// the caller's token is checked against).
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Queue: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
}

/// Filters of the job list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JobFilter {
    /// Which state to list (default `dead`).
    pub state: Option<JobState>,
    /// At most this many (default 100, max 500).
    pub limit: Option<u32>,
}

/// A page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    /// The jobs, most recently changed first.
    pub items: Vec<JobRecord>,
}

/// Lists the tenant's jobs in a state; admins use it to see dead letters.
#[utoipa::path(get, path = "/api/v1/admin/jobs", params(JobFilter),
    responses((status = 200, body = JobList)), tag = "admin")]
async fn list_jobs(
    State(jobs): State<Queue>,
    actor: Actor,
    ApiQuery(filter): ApiQuery<JobFilter>,
) -> Result<Json<JobList>, ApiError> {
    policy::require_admin(&actor)?;
    let limit = filter.limit.unwrap_or(100).clamp(1, 500);
    let items = jobs
        .list(
            &actor.tenant_id,
            filter.state.unwrap_or(JobState::Dead),
            limit,
        )
        .await?;
    Ok(Json(JobList { items }))
}

/// Puts a dead job back in the queue.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry",
    params(("id" = String, Path, description = "job id")),
    responses((status = 200, body = JobRecord)), tag = "admin")]
async fn retry_job(
    State(jobs): State<Queue>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<JobRecord>, ApiError> {
    policy::require_admin(&actor)?;
    let job = jobs
        .retry_dead(&actor.tenant_id, &id)
        .await
        .map_err(|err| match err {
            DbError::NotFound => ApiError::not_found("dead job"),
            other => other.into(),
        })?;
    Ok(Json(job))
}
