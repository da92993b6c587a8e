//! A resource's Google calendar: checking an existing one, creating one, and the list an admin
//! picks from.

use axum::{Json, extract::State};

use super::{ResourceError, ResourcesState, list};
use crate::{
    auth::{Actor, policy},
    error::{ApiError, FieldError},
    google::{GoogleError, scopes, types::Calendar},
};
use serde::Serialize;

/// The id of an existing calendar the tenant's connection can read, or why it cannot be used.
pub(super) async fn verify_calendar(
    state: &ResourcesState,
    tenant_id: &str,
    calendar_id: &str,
) -> Result<String, ResourceError> {
    let calendar_id = calendar_id.trim();
    if calendar_id.is_empty() || calendar_id.len() > 1024 {
        return Err(ResourceError::Invalid(vec![FieldError::new(
            "calendar.calendar_id",
            "give a Google calendar id",
        )]));
    }
    let connection = state
        .google
        .tenant_connection(tenant_id, &[scopes::CALENDARS_READ])
        .await?;
    match state.google.calendar_get(&connection, calendar_id).await {
        Ok(calendar) => Ok(calendar.id.unwrap_or_else(|| calendar_id.to_string())),
        Err(GoogleError::NotFound | GoogleError::PermissionDenied(_)) => Err(
            ResourceError::CalendarNotAccessible(calendar_id.to_string()),
        ),
        Err(other) => Err(other.into()),
    }
}

/// Creates a calendar for a new resource in the tenant's account, in the tenant's zone.
pub(super) async fn create_calendar(
    state: &ResourcesState,
    tenant_id: &str,
    name: &str,
) -> Result<String, ResourceError> {
    let connection = state
        .google
        .tenant_connection(tenant_id, &[scopes::APP_CREATED])
        .await?;
    let settings = crate::settings::load(&state.db, tenant_id).await?;
    let calendar = Calendar {
        summary: Some(name.trim().to_string()),
        description: Some("Bookings of this room or device, managed by CORBI.".into()),
        time_zone: Some(settings.time_zone),
        id: None,
    };
    let created = state.google.calendar_insert(&connection, &calendar).await?;
    created.id.ok_or_else(|| {
        ResourceError::Google(GoogleError::Rejected {
            status: 200,
            reason: "missingId".into(),
            message: "calendars.insert answered without an id".into(),
        })
    })
}

/// Stores a new resource and announces it, in one transaction. `calendar` is its calendar id
/// and whether CORBI created that calendar.
/// A calendar the tenant's connection can see.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PickableCalendar {
    /// Calendar id.
    pub id: String,
    /// Title.
    pub summary: Option<String>,
    /// The connected account's role on it.
    pub access_role: Option<String>,
    /// IANA zone.
    pub time_zone: Option<String>,
    /// Whether it is the account's primary calendar.
    pub primary: bool,
    /// The resource already bound to it, if any.
    pub resource_id: Option<String>,
}

/// The calendars to pick from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarChoices {
    /// Calendars the tenant's connection can see.
    pub items: Vec<PickableCalendar>,
}

/// Calendars the tenant's Google connection can see, to pick a resource's calendar from.
#[utoipa::path(get, path = "/api/v1/google/calendars",
    responses((status = 200, body = CalendarChoices)), tag = "google")]
pub(super) async fn list_google_calendars(
    State(state): State<ResourcesState>,
    actor: Actor,
) -> Result<Json<CalendarChoices>, ApiError> {
    // Listing spends the tenant's Google quota and shows every calendar the connection sees.
    policy::require_admin(&actor)?;
    let connection = state
        .google
        .tenant_connection(&actor.tenant_id, &[scopes::CALENDAR_LIST])
        .await?;
    let entries = state.google.calendar_list(&connection).await?;
    let resources = list(&state.db, &actor.tenant_id).await?;
    let items = entries
        .into_iter()
        .map(|entry| PickableCalendar {
            resource_id: resources
                .iter()
                .find(|r| r.calendar_id == entry.id)
                .map(|r| r.id.clone()),
            primary: entry.primary.unwrap_or(false),
            id: entry.id,
            summary: entry.summary,
            access_role: entry.access_role,
            time_zone: entry.time_zone,
        })
        .collect();
    Ok(Json(CalendarChoices { items }))
}
