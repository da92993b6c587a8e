//! Tenant settings: time zone, working hours, check-in window, auto-release, default calendar and
//! notification preferences. Stored as one validated JSON document per tenant; a tenant that
//! never saved any gets the defaults. Later capabilities read them through [`load`].
//!
//! `PUT` merges the given fields onto the current settings (so a client can change one thing
//! without restating everything), then validates the whole and stores it.

use axum::{
    Json,
    extract::{FromRef, State},
};
use chrono::{NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Actor, policy},
    db::{Db, DbError, timestamp},
    error::{ApiError, ApiJson, FieldError, parse_json},
};

/// The routes of this module, under any router state that holds the database (all they use).
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(get_settings, put_settings))
}

/// A tenant's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// IANA zone of the tenant, e.g. `Europe/Berlin`; working hours are read in it.
    pub time_zone: String,
    /// When people normally meet; shapes free-slot suggestions, never refuses a booking.
    pub working_hours: WorkingHours,
    /// When a meeting can be checked in to, relative to its start.
    pub check_in: CheckInWindow,
    /// Giving back rooms nobody checked in to.
    pub auto_release: AutoRelease,
    /// Calendar for meetings that have no resource and no organizer calendar (AI bookings).
    pub default_calendar_id: Option<String>,
    /// Who hears about what, by which channel.
    pub notifications: NotificationPreferences,
    /// What a calendar's first full sync brings in from Google.
    pub google_import: ImportWindow,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            time_zone: "UTC".into(),
            working_hours: WorkingHours::default(),
            check_in: CheckInWindow::default(),
            auto_release: AutoRelease::default(),
            default_calendar_id: None,
            notifications: NotificationPreferences::default(),
            google_import: ImportWindow::default(),
        }
    }
}

/// How far back the first full sync of a calendar lists events (everything ahead is listed):
/// onboarding a calendar with years of history imports only the recent past.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ImportWindow {
    /// Days before now, 0–3650.
    pub days_back: u32,
}

impl Default for ImportWindow {
    fn default() -> Self {
        ImportWindow { days_back: 30 }
    }
}

/// Working days and hours, in the tenant's zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WorkingHours {
    /// Working days: `mon` … `sun`.
    pub days: Vec<String>,
    /// Start of the day, `HH:MM`.
    pub start: String,
    /// End of the day, `HH:MM`, after `start`.
    pub end: String,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "08:00".into(),
            end: "18:00".into(),
        }
    }
}

/// The check-in window around a meeting's start; after it closes the meeting is a no-show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CheckInWindow {
    /// Minutes before the start when check-in opens (0–240).
    pub opens_minutes_before: u32,
    /// Minutes after the start when check-in closes (1–1440).
    pub closes_minutes_after: u32,
}

impl Default for CheckInWindow {
    fn default() -> Self {
        CheckInWindow {
            opens_minutes_before: 15,
            closes_minutes_after: 120,
        }
    }
}

/// Auto-release: off by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AutoRelease {
    /// Whether unused rooms are given back.
    pub enabled: bool,
    /// Minutes after the start without a check-in before the room is released (1–240).
    pub after_minutes: u32,
    /// Meetings longer than this many minutes are never released (0 = no limit).
    pub exempt_longer_than_minutes: u32,
    /// Meetings booked less than this many minutes before their start are never released
    /// (people who book at the last minute are on their way).
    pub exempt_booked_within_minutes: u32,
}

impl Default for AutoRelease {
    fn default() -> Self {
        AutoRelease {
            enabled: false,
            after_minutes: 10,
            exempt_longer_than_minutes: 0,
            exempt_booked_within_minutes: 0,
        }
    }
}

/// Preferences per channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationPreferences {
    /// Email through SendGrid.
    pub email: ChannelPreferences,
    /// WhatsApp through Twilio.
    pub whatsapp: ChannelPreferences,
    /// Whether changes made in Google to meetings made in Google (imported ones) are announced
    /// too. Off: only meetings made in CORBI, or changed through CORBI, are announced. Either
    /// way, meetings that are entirely over are never announced, and at most the first 100
    /// participants (CORBI's own limit) of a meeting hear of it.
    pub external_changes: bool,
}

/// Which changes a channel announces, and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelPreferences {
    /// Whether the channel is used at all.
    pub enabled: bool,
    /// Change types announced: `CREATED`, `UPDATED`, `RESCHEDULED`, `CANCELLED`.
    pub on: Vec<String>,
    /// The vendor's template id, if the channel uses templates.
    pub template_id: Option<String>,
    /// Sender address or number.
    pub sender: Option<String>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ANNOUNCED_CHANGES: [&str; 4] = ["CREATED", "UPDATED", "RESCHEDULED", "CANCELLED"];

impl TenantSettings {
    /// Every problem with the settings, by field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            problems.push(FieldError::new(
                "time_zone",
                "not an IANA time zone such as Europe/Berlin",
            ));
        }
        let hours = &self.working_hours;
        if hours.days.is_empty() || hours.days.iter().any(|d| !WEEKDAYS.contains(&d.as_str())) {
            problems.push(FieldError::new(
                "working_hours.days",
                "list days as mon, tue, … sun",
            ));
        }
        match (parse_hhmm(&hours.start), parse_hhmm(&hours.end)) {
            (Some(start), Some(end)) if start < end => {}
            (Some(_), Some(_)) => {
                problems.push(FieldError::new("working_hours.end", "must be after start"))
            }
            (None, _) => problems.push(FieldError::new("working_hours.start", "use HH:MM")),
            (_, None) => problems.push(FieldError::new("working_hours.end", "use HH:MM")),
        }
        if self.check_in.opens_minutes_before > 240 {
            problems.push(FieldError::new(
                "check_in.opens_minutes_before",
                "use 0 to 240 minutes",
            ));
        }
        if !(1..=1440).contains(&self.check_in.closes_minutes_after) {
            problems.push(FieldError::new(
                "check_in.closes_minutes_after",
                "use 1 to 1440 minutes",
            ));
        }
        if !(1..=240).contains(&self.auto_release.after_minutes) {
            problems.push(FieldError::new(
                "auto_release.after_minutes",
                "use 1 to 240 minutes",
            ));
        }
        if self.google_import.days_back > 3650 {
            problems.push(FieldError::new(
                "google_import.days_back",
                "use 0 to 3650 days",
            ));
        }
        if self
            .default_calendar_id
            .as_ref()
            .is_some_and(|c| c.is_empty() || c.len() > 1024)
        {
            problems.push(FieldError::new(
                "default_calendar_id",
                "give a calendar id or null",
            ));
        }
        for (name, channel) in [
            ("email", &self.notifications.email),
            ("whatsapp", &self.notifications.whatsapp),
        ] {
            if channel
                .on
                .iter()
                .any(|c| !ANNOUNCED_CHANGES.contains(&c.as_str()))
            {
                problems.push(FieldError::new(
                    format!("notifications.{name}.on"),
                    "use CREATED, UPDATED, RESCHEDULED or CANCELLED",
                ));
            }
            if channel
                .template_id
                .as_ref()
                .is_some_and(|t| t.trim().is_empty())
            {
                problems.push(FieldError::new(
                    format!("notifications.{name}.template_id"),
                    "give a template id or null",
                ));
            }
        }
        if self
            .notifications
            .email
            .sender
            .as_deref()
            .is_some_and(|s| crate::auth::store::normalize_email(s).is_err())
        {
            problems.push(FieldError::new(
                "notifications.email.sender",
                "give the sender as an email address",
            ));
        }
        if self
            .notifications
            .whatsapp
            .sender
            .as_deref()
            .is_some_and(|s| !crate::text::is_e164(s.strip_prefix("whatsapp:").unwrap_or(s)))
        {
            problems.push(FieldError::new(
                "notifications.whatsapp.sender",
                "give the sender as an E.164 number such as +14155238886",
            ));
        }
        problems
    }

    /// The working days as chrono weekdays.
    pub fn working_days(&self) -> Vec<Weekday> {
        self.working_hours
            .days
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect()
    }
}

fn parse_hhmm(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

/// The tenant's settings, or the defaults if it never saved any.
pub async fn load(db: &Db, tenant_id: &str) -> Result<TenantSettings, DbError> {
    let row = sqlx::query("SELECT settings FROM tenant_settings WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(TenantSettings::default());
    };
    let text: String = row.try_get("settings")?;
    serde_json::from_str(&text).map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))
}

/// Stores validated settings for the tenant.
pub async fn save(db: &Db, tenant_id: &str, settings: &TenantSettings) -> Result<(), DbError> {
    let text = serde_json::to_string(settings)
        .map_err(|e| DbError::Other(sqlx::Error::Encode(Box::new(e))))?;
    sqlx::query(
        "INSERT INTO tenant_settings (tenant_id, settings, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(text)
    .bind(timestamp(Utc::now()))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The tenant's settings.
#[utoipa::path(get, path = "/api/v1/tenant/settings",
    responses((status = 200, body = TenantSettings)), tag = "tenant")]
async fn get_settings(
    State(db): State<Db>,
    actor: Actor,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(load(&db, &actor.tenant_id).await?))
}

/// Changes the tenant's settings (admins); fields left out keep their value.
#[utoipa::path(put, path = "/api/v1/tenant/settings", request_body = TenantSettings,
    responses((status = 200, body = TenantSettings)), tag = "tenant")]
async fn put_settings(
    State(db): State<Db>,
    actor: Actor,
    ApiJson(changes): ApiJson<Value>,
) -> Result<Json<TenantSettings>, ApiError> {
    policy::require_admin(&actor)?;
    let current = load(&db, &actor.tenant_id).await?;
    let merged = merge_changes(&current, changes)?;
    let problems = merged.problems();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    save(&db, &actor.tenant_id, &merged).await?;
    Ok(Json(merged))
}

/// Applies a JSON object of changes onto the current settings (RFC 7386 merge).
fn merge_changes(current: &TenantSettings, changes: Value) -> Result<TenantSettings, ApiError> {
    if !changes.is_object() {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "send a JSON object",
        )]));
    }
    let mut document = serde_json::to_value(current).map_err(ApiError::internal)?;
    merge(&mut document, changes);
    parse_json(document.to_string().as_bytes())
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.insert(key, Value::Null);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_contract() {
        let settings = TenantSettings::default();
        assert!(settings.problems().is_empty());
        assert_eq!(settings.check_in.opens_minutes_before, 15);
        assert_eq!(settings.check_in.closes_minutes_after, 120);
        assert!(!settings.auto_release.enabled);
        assert_eq!(settings.working_days().len(), 5);
    }

    #[test]
    fn bad_values_are_named() {
        let settings = TenantSettings {
            time_zone: "Mars/Olympus".into(),
            working_hours: WorkingHours {
                start: "18:00".into(),
                end: "08:00".into(),
                ..WorkingHours::default()
            },
            ..TenantSettings::default()
        };
        let fields: Vec<String> = settings.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["time_zone", "working_hours.end"]);
    }

    #[test]
    fn notification_senders_must_be_addresses() {
        let mut settings = TenantSettings::default();
        settings.notifications.email.sender = Some("notices at acme".into());
        settings.notifications.whatsapp.sender = Some("whatsapp:0151".into());
        settings.notifications.whatsapp.template_id = Some(" ".into());
        let fields: Vec<String> = settings.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "notifications.whatsapp.template_id",
                "notifications.email.sender",
                "notifications.whatsapp.sender"
            ]
        );
        settings.notifications.email.sender = Some("notices@acme.example".into());
        settings.notifications.whatsapp.sender = Some("whatsapp:+14155238886".into());
        settings.notifications.whatsapp.template_id = None;
        assert!(settings.problems().is_empty());
    }

    #[test]
    fn changes_merge_onto_current_values() {
        let current = TenantSettings::default();
        let merged = merge_changes(&current, serde_json::json!({"time_zone": "Europe/Berlin", "check_in": {"closes_minutes_after": 60}}))
            .expect("merges");
        assert_eq!(merged.time_zone, "Europe/Berlin");
        assert_eq!(merged.check_in.closes_minutes_after, 60);
        assert_eq!(merged.check_in.opens_minutes_before, 15);
        let typo = merge_changes(&current, serde_json::json!({"timezone": "UTC"}));
        assert!(typo.is_err());
    }
}
