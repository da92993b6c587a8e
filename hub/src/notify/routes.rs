//! The HTTP side of notifications: the tenant's vendor credentials (write-only secrets), the
//! admins' view of the notification log, and Twilio's signed delivery-status callback.

use axum::{
    Json,
    body::Bytes,
    extract::{FromRef, RawQuery, State},
    http::{HeaderMap, StatusCode},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Notifier, NotifyError,
    credentials::{self, CredentialsChange, CredentialsView},
    log::{self, Entry, ListFilter},
    twilio,
};
use crate::{
    auth::{Actor, policy},
    db::Db,
    error::{ApiError, ApiJson, ApiQuery, FieldError},
    handles::capability_handles,
};

capability_handles! {
    /// What the notification routes use of the hub, taken from any router state holding these
    /// handles (so this module does not depend on the hub's whole state).
    pub struct NotifyState {
        /// Sealed credentials and the notification log.
        pub db: Db,
        /// The sealing keys and the hub's public URL (which Twilio signs callbacks for).
        pub notify: Notifier,
    }
}

/// The routes of this module.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    NotifyState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(get_credentials, put_credentials))
        .routes(routes!(list_notifications))
        .routes(routes!(twilio_status))
}

/// Which vendor secrets the tenant has stored (never the secrets themselves).
#[utoipa::path(get, path = "/api/v1/tenant/notification-credentials",
    responses((status = 200, body = CredentialsView)), tag = "tenant")]
async fn get_credentials(
    State(state): State<NotifyState>,
    actor: Actor,
) -> Result<Json<CredentialsView>, ApiError> {
    policy::require_admin(&actor)?;
    let stored = credentials::load(&state.db, state.notify.sealer(), &actor.tenant_id).await?;
    Ok(Json(stored.view()))
}

/// Sets or removes the tenant's SendGrid and Twilio credentials (admins); a field set to a
/// string replaces it, `null` removes it, a missing field keeps it. Sealed at rest.
#[utoipa::path(put, path = "/api/v1/tenant/notification-credentials", request_body = CredentialsChange,
    responses((status = 200, body = CredentialsView)), tag = "tenant")]
async fn put_credentials(
    State(state): State<NotifyState>,
    actor: Actor,
    ApiJson(change): ApiJson<Value>,
) -> Result<Json<CredentialsView>, ApiError> {
    policy::require_admin(&actor)?;
    let Value::Object(change) = change else {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "send a JSON object",
        )]));
    };
    let sealer = state.notify.sealer();
    let mut stored = credentials::load(&state.db, sealer, &actor.tenant_id).await?;
    stored.apply(&change)?;
    credentials::store(&state.db, sealer, &actor.tenant_id, &stored).await?;
    tracing::info!(tenant_id = %actor.tenant_id, "notification credentials changed");
    Ok(Json(stored.view()))
}

/// Filters of the notification log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NotificationFilter {
    /// pending, sending, sent, failed, unknown or skipped.
    pub state: Option<String>,
    /// Only this meeting's notices.
    pub meeting_id: Option<String>,
    /// At most this many (default 100, max 500).
    pub limit: Option<u32>,
}

/// A page of the notification log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    /// Newest first.
    pub items: Vec<Entry>,
}

/// The tenant's notification log (admins): what was sent, refused (with the vendor's error),
/// skipped or of unknown outcome.
#[utoipa::path(get, path = "/api/v1/admin/notifications", params(NotificationFilter),
    responses((status = 200, body = NotificationList)), tag = "admin")]
async fn list_notifications(
    State(state): State<NotifyState>,
    actor: Actor,
    ApiQuery(filter): ApiQuery<NotificationFilter>,
) -> Result<Json<NotificationList>, ApiError> {
    policy::require_admin(&actor)?;
    if filter
        .state
        .as_deref()
        .is_some_and(|s| !log::STATES.contains(&s))
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "state",
            format!("use one of {}", log::STATES.join(", ")),
        )]));
    }
    let filter = ListFilter {
        state: filter.state,
        meeting_id: filter.meeting_id,
        limit: filter.limit.unwrap_or(100).clamp(1, 500),
    };
    let items = log::list(&state.db, &actor.tenant_id, &filter).await?;
    Ok(Json(NotificationList { items }))
}

/// Twilio's delivery report of a WhatsApp notice. Verified with `X-Twilio-Signature` against
/// the auth token of the tenant whose notice it names; anything else answers 403.
#[utoipa::path(post, path = "/webhooks/twilio/status",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status parameters"),
    params(("n" = String, Query, description = "the notification log row")),
    responses((status = 204), (status = 403, description = "not signed by Twilio")), tag = "webhooks")]
async fn twilio_status(
    State(state): State<NotifyState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let query = query.unwrap_or_default();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let verified = verify_callback(&state, &query, &headers, &params).await;
    let entry = match verified {
        Ok(entry) => entry,
        Err(NotifyError::Forged) => {
            tracing::warn!("refused a Twilio status callback without a valid signature");
            return Err(NotifyError::Forged.into());
        }
        Err(other) => return Err(other.into()),
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let status = param("MessageStatus").unwrap_or_default();
    let sid = param("MessageSid").unwrap_or_default();
    if !log::known_status(status) || sid.is_empty() {
        tracing::info!(
            status,
            "ignored a Twilio status callback without a known status"
        );
        return Ok(StatusCode::NO_CONTENT);
    }
    log::record_delivery(&state.db, &entry, sid, status, param("ErrorCode")).await?;
    tracing::info!(notification_id = %entry.id, status, "WhatsApp delivery status recorded");
    Ok(StatusCode::NO_CONTENT)
}

/// The log row a callback names, once its signature checks out with that tenant's token.
async fn verify_callback(
    state: &NotifyState,
    query: &str,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<Entry, NotifyError> {
    let id = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "n")
        .map(|(_, v)| v.into_owned())
        .ok_or(NotifyError::Forged)?;
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(NotifyError::Forged)?;
    let entry = log::find(&state.db, &id)
        .await?
        .filter(|e| e.channel == "whatsapp")
        .ok_or(NotifyError::Forged)?;
    let stored = credentials::load(&state.db, state.notify.sealer(), &entry.tenant_id).await?;
    let (Some(account_sid), Some(token)) = (
        stored.twilio_account_sid.as_deref(),
        stored.twilio_auth_token.as_deref(),
    ) else {
        return Err(NotifyError::Forged);
    };
    let url = format!(
        "{}{}?{query}",
        state.notify.public_url(),
        twilio::STATUS_PATH
    );
    let same_account = params
        .iter()
        .any(|(k, v)| k == "AccountSid" && v == account_sid);
    if twilio::verify(token, &url, params, signature) && same_account {
        Ok(entry)
    } else {
        Err(NotifyError::Forged)
    }
}
