//! Insights: how rooms and devices are really used — bookings, booked and used hours against
//! the working hours, no-shows, released and rebooked hours, the busiest hours and right-sizing
//! (`GET /api/v1/insights/occupancy`, JSON or CSV) — and the daily operations figures that
//! [`crate::ops_stats`] keeps (`GET /api/v1/admin/daily-stats`). Admins only.
//!
//! It owns no table of meetings or resources: it reads them through the typed functions of
//! their modules ([`meetings::usage::overlapping`], [`resources::get`]/[`resources::list`],
//! [`settings::load`]) and computes the figures in `figures.rs`. Why computed in the hub and
//! not in SQL or a rollup: every figure cuts time by the tenant's local days and working
//! windows (DST included) and expands recurring series, which neither engine can do the same
//! way (SQLite has no time zones); so one narrow, index-ranged read of the range's meetings
//! feeds arithmetic in memory, exact the moment a meeting changes, which a rollup would not be.
//! hub/benches/insights.rs times it (90 days, 200 rooms, a year of 300,000 meetings) beside a
//! `count(*)` of the same rows: most of the time is the read, the arithmetic a fraction of it;
//! a per-day rollup is the next step should the read miss the targets in a release build.
//! The definitions are written in README ("Insights") and docs/API.md.
//!
//! Files: `range.rs` (the query parameters and their checks), `figures.rs` (the arithmetic),
//! `view.rs` (the answers' shapes and the CSV).

pub mod figures;
pub mod range;
pub mod view;

use axum::{
    Json,
    extract::{FromRef, RawQuery, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use chrono::{NaiveTime, Utc};
use serde_json::{Map, Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Actor, policy},
    db::{Db, DbError},
    error::{ApiError, FieldError},
    meetings::{self, MeetingError},
    ops_stats::{self, Counter},
    resources::{self, ResourceError},
    settings::{self, TenantSettings},
};
use figures::{Question, Subject, WorkingTime};
use range::{DailyParams, OccupancyParams};
use view::{DailyStats, Occupancy};

/// Why an insights question was not answered.
#[derive(Debug, thiserror::Error)]
pub enum InsightsError {
    /// Bad query parameters.
    #[error("invalid insights question")]
    Invalid(Vec<FieldError>),
    /// A resource asked for is unknown (or another tenant's).
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// The meetings could not be read.
    #[error(transparent)]
    Meeting(#[from] MeetingError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<InsightsError> for ApiError {
    fn from(err: InsightsError) -> Self {
        match err {
            InsightsError::Invalid(fields) => ApiError::validation(fields),
            InsightsError::Resource(err) => err.into(),
            InsightsError::Meeting(err) => err.into(),
            InsightsError::Db(err) => err.into(),
        }
    }
}

/// The routes of this module, under any router state that holds the database.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(occupancy))
        .routes(routes!(daily_stats))
}

/// Occupancy of rooms and devices per day (admins): JSON, or CSV (one row per resource and
/// day) with `Accept: text/csv`.
#[utoipa::path(get, path = "/api/v1/insights/occupancy", params(OccupancyParams),
    responses((status = 200, body = Occupancy, description = "JSON; text/csv when asked for")),
    tag = "admin")]
async fn occupancy(
    State(db): State<Db>,
    actor: Actor,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    policy::require_admin(&actor)?;
    let params = OccupancyParams::parse(query.as_deref().unwrap_or_default());
    let answer = answer_occupancy(&db, &actor.tenant_id, params).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let name = format!(
            "attachment; filename=\"occupancy-{}-{}.csv\"",
            answer.from, answer.to
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
            ],
            view::csv(&answer),
        )
            .into_response());
    }
    Ok(Json(answer).into_response())
}

/// The occupancy answer for a tenant's question.
pub async fn answer_occupancy(
    db: &Db,
    tenant_id: &str,
    params: OccupancyParams,
) -> Result<Occupancy, InsightsError> {
    let asked = params.check().map_err(InsightsError::Invalid)?;
    let subjects: Vec<resources::Resource> = if asked.resource_ids.is_empty() {
        resources::list(db, tenant_id).await?
    } else {
        let mut found = Vec::with_capacity(asked.resource_ids.len());
        for id in &asked.resource_ids {
            found.push(resources::get(db, tenant_id, id).await?);
        }
        found
    };
    let subjects: Vec<Subject> = subjects
        .into_iter()
        .filter(|r| asked.kind.is_none_or(|k| r.kind == k))
        .map(|r| Subject {
            id: r.id,
            name: r.name,
            kind: r.kind.as_str().to_string(),
            capacity: r.capacity,
        })
        .collect();
    let settings = settings::load(db, tenant_id).await?;
    let work = working_time(&settings);
    let range_start = figures::day_start(work.zone, asked.from);
    let range_end = figures::day_start(work.zone, asked.to + chrono::Duration::days(1));
    let meetings = if subjects.is_empty() {
        Vec::new()
    } else {
        meetings::usage::overlapping(db, tenant_id, range_start, range_end).await?
    };
    let question = Question {
        from: asked.from,
        to: asked.to,
        subjects,
        now: Utc::now(),
    };
    Ok(figures::occupancy(&work, &question, &meetings)?)
}

/// The tenant's zone and working time as the figures read them (settings are validated when
/// saved; an unreadable value falls back to the default's).
fn working_time(settings: &TenantSettings) -> WorkingTime {
    let time = |text: &str, fallback: u32| {
        NaiveTime::parse_from_str(text, "%H:%M")
            .ok()
            .or_else(|| NaiveTime::from_hms_opt(fallback, 0, 0))
            .unwrap_or(NaiveTime::MIN)
    };
    WorkingTime {
        zone: settings.time_zone.parse().unwrap_or(chrono_tz::UTC),
        days: settings.working_days(),
        start: time(&settings.working_hours.start, 8),
        end: time(&settings.working_hours.end, 18),
        check_in_closes_after: i64::from(settings.check_in.closes_minutes_after),
    }
}

/// The tenant's daily operations figures per UTC day (admins): events synced, webhook
/// notifications by outcome and errors, no-shows, notifications sent and failed, Google calls
/// and errors. Stored in the database: they survive restarts and add up across hub processes.
#[utoipa::path(get, path = "/api/v1/admin/daily-stats", params(DailyParams),
    responses((status = 200, body = DailyStats)), tag = "admin")]
async fn daily_stats(
    State(db): State<Db>,
    actor: Actor,
    RawQuery(query): RawQuery,
) -> Result<Json<DailyStats>, ApiError> {
    policy::require_admin(&actor)?;
    let params = DailyParams::parse(query.as_deref().unwrap_or_default());
    let (from, to) = params
        .check()
        .map_err(InsightsError::Invalid)
        .map_err(ApiError::from)?;
    let figures = ops_stats::between(&db, &actor.tenant_id, from, to).await?;
    let zeros = || -> Map<String, Value> {
        Counter::ALL
            .iter()
            .map(|c| (c.as_str().to_string(), json!(0)))
            .collect()
    };
    let mut totals = zeros();
    let days = view::days(from, to)
        .map(|day| {
            let mut entry = Map::new();
            entry.insert("date".into(), json!(day.to_string()));
            entry.extend(zeros());
            for figure in figures.iter().filter(|f| f.day == day) {
                entry.insert(figure.counter.as_str().into(), json!(figure.count));
                let total = totals
                    .get(figure.counter.as_str())
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                totals.insert(figure.counter.as_str().into(), json!(total + figure.count));
            }
            entry
        })
        .collect();
    Ok(Json(DailyStats { days, totals }))
}
