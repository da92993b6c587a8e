//! The device API (docs/API.md, "Devices"): admins create one-time enrollment codes, list and
//! revoke devices; a device trades its code for its identity (`POST /api/v1/devices/enroll`,
//! no bearer token: the code is the credential).

use axum::{
    Json,
    extract::{FromRef, Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use shared::protocol::topics;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Edge, EdgeError, keys, publish, rekey,
    store::{self, DeviceView},
};
use crate::{
    auth::{Actor, policy},
    db::Db,
    error::{ApiError, ApiJson, FieldError},
    handles::capability_handles,
    jobs::Queue,
    resources,
};

capability_handles! {
    /// What the device API uses of the hub, taken from any router state that holds these handles
    /// (so this module does not depend on the hub's whole state).
    pub struct EdgeState {
        /// Devices, enrollment codes and resources.
        pub db: Db,
        /// Where schedule publishes are queued.
        pub jobs: Queue,
        /// The broker side: sealer, enrollment settings, device URL, disconnects.
        pub edge: Edge,
    }
}

/// The routes of this module.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    EdgeState: FromRef<S>,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(create_enrollment, list_devices))
        .routes(routes!(enroll))
        .routes(routes!(revoke_device))
}

/// A one-time enrollment code, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrollmentCode {
    /// Type it into the device (case and dashes do not matter).
    pub enrollment_code: String,
    /// When it stops working (RFC 3339, UTC).
    pub expires_at: String,
}

/// Body of `POST /api/v1/devices/enroll`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The code an admin created for the resource.
    pub enrollment_code: String,
}

/// Everything a device needs, once (the edge agent's `EnrollmentResponse`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrollment {
    /// The device id: its MQTT client id, username and topic level.
    pub device_id: String,
    /// Bearer token of the device (actor DEVICE, bound to the resource).
    pub device_token: String,
    /// The resource the device serves.
    pub resource_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The broker.
    pub mqtt: MqttGrant,
    /// AEAD keys, standard base64 of 32 bytes.
    pub keys: KeyGrant,
}

/// The broker part of an enrollment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MqttGrant {
    /// `mqtt://host:port`.
    pub url: String,
    /// The device's login (its id).
    pub username: String,
    /// Its password.
    pub password: String,
    /// Its topics.
    pub topics: TopicGrant,
}

/// A device's topics.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopicGrant {
    /// Retained schedule of the resource.
    pub schedule: String,
    /// What the device publishes on.
    pub up: String,
    /// Where the hub answers it.
    pub down: String,
}

/// The keys of an enrollment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyGrant {
    /// Opens the resource's schedule.
    pub resource_key: String,
    /// Seals the device's messages and opens the hub's answers.
    pub device_key: String,
}

/// Devices of a resource.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceList {
    /// Newest first, revoked ones included.
    pub items: Vec<DeviceView>,
}

/// Creates a one-time enrollment code for a room or device (admins).
#[utoipa::path(post, path = "/api/v1/resources/{id}/devices", params(("id" = String, Path)),
    responses((status = 201, body = EnrollmentCode)), tag = "devices")]
async fn create_enrollment(
    State(state): State<EdgeState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EnrollmentCode>), ApiError> {
    policy::require_admin(&actor)?;
    let resource = resources::get(&state.db, &actor.tenant_id, &id).await?;
    let ttl = chrono::Duration::minutes(i64::from(state.edge.config().enrollment_ttl_minutes));
    let created =
        store::create_enrollment(&state.db, &actor.tenant_id, &resource.id, &actor.id, ttl).await?;
    tracing::info!(resource_id = %resource.id, "device enrollment code created");
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentCode {
            enrollment_code: created.code,
            expires_at: crate::text::zulu(created.expires_at),
        }),
    ))
}

/// Lists the devices enrolled for a room or device (admins).
#[utoipa::path(get, path = "/api/v1/resources/{id}/devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceList)), tag = "devices")]
async fn list_devices(
    State(state): State<EdgeState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<DeviceList>, ApiError> {
    policy::require_admin(&actor)?;
    let resource = resources::get(&state.db, &actor.tenant_id, &id).await?;
    let items = store::list_devices(&state.db, &actor.tenant_id, &resource.id).await?;
    Ok(Json(DeviceList { items }))
}

/// Trades a one-time enrollment code for the device's identity, token, broker login and keys.
#[utoipa::path(post, path = "/api/v1/devices/enroll", request_body = EnrollRequest,
    responses((status = 200, body = Enrollment)), security(()), tag = "devices")]
async fn enroll(
    State(state): State<EdgeState>,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> Result<Json<Enrollment>, ApiError> {
    let code = keys::normalize_code(&request.enrollment_code);
    if code.is_empty() || code.len() > 64 {
        return Err(EdgeError::Invalid(vec![FieldError::new(
            "enrollment_code",
            "give the enrollment code an administrator created",
        )])
        .into());
    }
    let enrolled = store::enroll(&state.db, state.edge.sealer()?, &code).await?;
    state.edge.grant_device(
        &enrolled.tenant_id,
        &enrolled.resource_id,
        &enrolled.device_id,
        &enrolled.mqtt_password,
    )?;
    let topic =
        |built: Result<String, _>| built.map_err(|e| ApiError::internal(format!("topic: {e}")));
    let (t, r, d) = (
        &enrolled.tenant_id,
        &enrolled.resource_id,
        &enrolled.device_id,
    );
    let topics = TopicGrant {
        schedule: topic(topics::schedule(t, r))?,
        up: topic(topics::up(t, r, d))?,
        down: topic(topics::down(t, r, d))?,
    };
    if let Err(err) = publish::request_publish(&state.jobs, t, r).await {
        tracing::warn!(error = %err, "first schedule publish not queued");
    }
    tracing::info!(device_id = %d, resource_id = %r, tenant_id = %t, "device enrolled");
    Ok(Json(Enrollment {
        device_id: enrolled.device_id.clone(),
        device_token: enrolled.device_token,
        resource_id: enrolled.resource_id.clone(),
        tenant_id: enrolled.tenant_id.clone(),
        mqtt: MqttGrant {
            url: state.edge.device_url().to_string(),
            username: enrolled.device_id.clone(),
            password: enrolled.mqtt_password,
            topics,
        },
        keys: KeyGrant {
            resource_key: keys::encode_key(&enrolled.resource_key),
            device_key: keys::encode_key(&enrolled.device_key),
        },
    }))
}

/// Revokes a device at once: its token answers 401, its broker login is refused and its live
/// session dropped, and the resource's schedule key is rotated and the schedule republished.
#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView)), tag = "devices")]
async fn revoke_device(
    State(state): State<EdgeState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    policy::require_admin(&actor)?;
    let changed = store::revoke(&state.db, state.edge.sealer()?, &actor.tenant_id, &id).await?;
    let device = store::get_device(&state.db, &actor.tenant_id, &id).await?;
    if changed {
        state.edge.disconnect_device(&device.id).await;
        match rekey::hand_out(
            &state.edge,
            &state.db,
            &actor.tenant_id,
            &device.resource_id,
        )
        .await
        {
            Ok(sent) => tracing::info!(
                devices = sent,
                "new schedule key handed to the remaining devices"
            ),
            Err(err) => tracing::warn!(error = %err, "new schedule key not handed out"),
        }
        if let Err(err) =
            publish::request_publish(&state.jobs, &actor.tenant_id, &device.resource_id).await
        {
            tracing::warn!(error = %err, "republish after revocation not queued");
        }
        tracing::info!(device_id = %device.id, resource_id = %device.resource_id, "device revoked; resource key rotated");
    }
    Ok(Json(device))
}
