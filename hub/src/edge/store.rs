//! The SQL of the edge: enrollment codes, devices, each resource's sealed schedule key and
//! the inbox of device messages. Every function that reads tenant data
//! takes the tenant id, except the two lookups by device id that authenticate a device (its
//! MQTT login and its up topic), which then yield the device's tenant.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::protocol::seal::SealKey;
use sqlx::{Row, any::AnyRow};

use super::{EdgeError, keys};
use crate::{
    auth::{store as auth_store, tokens},
    connections::seal::Sealer,
    db::{Db, DbError, Tx, new_id, parse_timestamp, timestamp},
};

/// An enrollment code as an admin receives it.
#[derive(Debug, Clone)]
pub struct NewEnrollment {
    /// The one-time code, shown once.
    pub code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A device as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    /// The device id (also its MQTT client id and username).
    pub id: String,
    /// The resource it serves.
    pub resource_id: String,
    /// When it enrolled.
    pub created_at: String,
    /// Last message received from it.
    pub last_seen_at: Option<String>,
    /// The agent version it reported.
    pub agent_version: Option<String>,
    /// The schedule version it reported holding.
    pub cache_version: Option<i64>,
    /// Messages it reported waiting in its outbox.
    pub outbox_len: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// A device as the inbound path needs it: where it belongs and its opened key.
#[derive(Debug, Clone)]
pub struct InboundDevice {
    /// Device id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Its resource.
    pub resource_id: String,
    /// Seals its down messages and opens its up messages.
    pub key: SealKey,
    /// Revoked devices are ignored.
    pub revoked: bool,
}

/// What enrollment hands out, before it is shaped into the response.
#[derive(Debug)]
pub struct Enrolled {
    /// New device id.
    pub device_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The resource.
    pub resource_id: String,
    /// Bearer token of the device.
    pub device_token: String,
    /// MQTT password of the device.
    pub mqtt_password: String,
    /// The resource's current schedule key.
    pub resource_key: SealKey,
    /// The device's own key.
    pub device_key: SealKey,
}

fn opt_time(row: &AnyRow, column: &str) -> Result<Option<String>, DbError> {
    let text: Option<String> = row.try_get(column)?;
    Ok(text
        .as_deref()
        .map(parse_timestamp)
        .transpose()?
        .map(crate::text::zulu))
}

fn time(row: &AnyRow, column: &str) -> Result<String, DbError> {
    let text: String = row.try_get(column)?;
    Ok(crate::text::zulu(parse_timestamp(&text)?))
}

fn device_view(row: &AnyRow) -> Result<DeviceView, DbError> {
    Ok(DeviceView {
        id: row.try_get("id")?,
        resource_id: row.try_get("resource_id")?,
        created_at: time(row, "created_at")?,
        last_seen_at: opt_time(row, "last_seen_at")?,
        agent_version: row.try_get("agent_version")?,
        cache_version: row.try_get("cache_version")?,
        outbox_len: row.try_get("outbox_len")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

/// Stores a new one-time enrollment code (hashed) for a resource of the tenant.
pub async fn create_enrollment(
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
    created_by: &str,
    ttl: chrono::Duration,
) -> Result<NewEnrollment, EdgeError> {
    let code = keys::enrollment_code();
    let now = Utc::now();
    let expires_at = now + ttl;
    sqlx::query(
        "INSERT INTO device_enrollments (id, tenant_id, resource_id, code_hash, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(tenant_id)
    .bind(resource_id)
    .bind(tokens::hash(&keys::normalize_code(&code)))
    .bind(created_by)
    .bind(timestamp(now))
    .bind(timestamp(expires_at))
    .execute(db.pool())
    .await?;
    Ok(NewEnrollment { code, expires_at })
}

/// Trades a code for a device: marks the code used, makes sure the resource has a schedule key,
/// and writes the device and its token — all in one transaction, so a code works exactly once.
pub async fn enroll(db: &Db, sealer: &Sealer, code: &str) -> Result<Enrolled, EdgeError> {
    let now = Utc::now();
    let code_hash = tokens::hash(&keys::normalize_code(code));
    // A read first: a flood of wrong codes is refused without queueing for the write lock.
    let usable = sqlx::query(
        "SELECT 1 FROM device_enrollments WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(&code_hash)
    .bind(timestamp(now))
    .fetch_optional(db.pool())
    .await?;
    if usable.is_none() {
        return Err(EdgeError::BadEnrollmentCode);
    }
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT id, tenant_id, resource_id FROM device_enrollments \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(&code_hash)
    .bind(timestamp(now))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(EdgeError::BadEnrollmentCode)?;
    let enrollment_id: String = row.try_get("id")?;
    let tenant_id: String = row.try_get("tenant_id")?;
    let resource_id: String = row.try_get("resource_id")?;
    let device_id = new_id();
    let used = sqlx::query(
        "UPDATE device_enrollments SET used_at = $1, device_id = $2 WHERE id = $3 AND used_at IS NULL",
    )
    .bind(timestamp(now))
    .bind(&device_id)
    .bind(&enrollment_id)
    .execute(&mut *tx)
    .await?;
    if used.rows_affected() != 1 {
        return Err(EdgeError::BadEnrollmentCode);
    }
    let resource_key = ensure_resource_key(&mut tx, sealer, &tenant_id, &resource_id).await?;
    let token =
        auth_store::issue_device_token(&mut tx, &tenant_id, &resource_id, "edge device").await?;
    let device_key = keys::random_key();
    let mqtt_password = keys::secret();
    let sealed = sealer.seal(&keys::encode_key(&device_key), &device_context(&device_id))?;
    sqlx::query(
        "INSERT INTO devices (id, tenant_id, resource_id, credential_id, mqtt_password_hash, key_id, device_key_sealed, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&device_id)
    .bind(&tenant_id)
    .bind(&resource_id)
    .bind(&token.credential_id)
    .bind(tokens::hash(&mqtt_password))
    .bind(&sealed.key_id)
    .bind(&sealed.blob)
    .bind(timestamp(now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Enrolled {
        device_id,
        tenant_id,
        resource_id,
        device_token: token.token,
        mqtt_password,
        resource_key,
        device_key,
    })
}

pub(super) fn device_context(device_id: &str) -> String {
    format!("edge/device/{device_id}")
}

pub(super) fn resource_context(resource_id: &str, generation: i64) -> String {
    format!("edge/resource/{resource_id}/{generation}")
}

/// The resource's schedule key, created (generation 1) on its first enrollment.
async fn ensure_resource_key(
    tx: &mut Tx,
    sealer: &Sealer,
    tenant_id: &str,
    resource_id: &str,
) -> Result<SealKey, EdgeError> {
    if let Some(key) = resource_key_in(tx, sealer, tenant_id, resource_id).await? {
        return Ok(key);
    }
    let key = keys::random_key();
    let sealed = sealer.seal(&keys::encode_key(&key), &resource_context(resource_id, 1))?;
    sqlx::query(
        "INSERT INTO edge_resources (resource_id, tenant_id, key_id, resource_key_sealed, key_generation, snapshot_version, updated_at) \
         VALUES ($1, $2, $3, $4, 1, 0, $5)",
    )
    .bind(resource_id)
    .bind(tenant_id)
    .bind(&sealed.key_id)
    .bind(&sealed.blob)
    .bind(timestamp(Utc::now()))
    .execute(&mut **tx)
    .await?;
    Ok(key)
}

async fn resource_key_in(
    tx: &mut Tx,
    sealer: &Sealer,
    tenant_id: &str,
    resource_id: &str,
) -> Result<Option<SealKey>, EdgeError> {
    let row = sqlx::query(
        "SELECT key_id, resource_key_sealed, key_generation FROM edge_resources \
         WHERE tenant_id = $1 AND resource_id = $2",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| open_resource_key(sealer, resource_id, &row))
        .transpose()
}

pub(super) fn open_resource_key(
    sealer: &Sealer,
    resource_id: &str,
    row: &AnyRow,
) -> Result<SealKey, EdgeError> {
    let key_id: String = row.try_get("key_id")?;
    let blob: String = row.try_get("resource_key_sealed")?;
    let generation: i64 = row.try_get("key_generation")?;
    let encoded = sealer.open(&key_id, &blob, &resource_context(resource_id, generation))?;
    keys::decode_key(&encoded).ok_or(EdgeError::CorruptKey)
}

/// Gives the resource a new schedule key (after a revocation), so a revoked device cannot read
/// any schedule published from now on.
async fn rotate_resource_key(
    tx: &mut Tx,
    sealer: &Sealer,
    tenant_id: &str,
    resource_id: &str,
) -> Result<(), EdgeError> {
    let generation: Option<i64> = sqlx::query_scalar(
        "SELECT key_generation FROM edge_resources WHERE tenant_id = $1 AND resource_id = $2",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(generation) = generation else {
        return Ok(());
    };
    let next = generation + 1;
    let sealed = sealer.seal(
        &keys::encode_key(&keys::random_key()),
        &resource_context(resource_id, next),
    )?;
    sqlx::query(
        "UPDATE edge_resources SET key_id = $1, resource_key_sealed = $2, key_generation = $3, updated_at = $4 \
         WHERE tenant_id = $5 AND resource_id = $6",
    )
    .bind(&sealed.key_id)
    .bind(&sealed.blob)
    .bind(next)
    .bind(timestamp(Utc::now()))
    .bind(tenant_id)
    .bind(resource_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The devices of a resource of the tenant, newest first.
pub async fn list_devices(
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
) -> Result<Vec<DeviceView>, EdgeError> {
    let rows = sqlx::query(
        "SELECT id, resource_id, created_at, last_seen_at, agent_version, cache_version, outbox_len, revoked_at \
         FROM devices WHERE tenant_id = $1 AND resource_id = $2 ORDER BY created_at DESC, id",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(device_view).collect::<Result<_, _>>()?)
}

/// One device of the tenant.
pub async fn get_device(
    db: &Db,
    tenant_id: &str,
    device_id: &str,
) -> Result<DeviceView, EdgeError> {
    let row = sqlx::query(
        "SELECT id, resource_id, created_at, last_seen_at, agent_version, cache_version, outbox_len, revoked_at \
         FROM devices WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(device_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(EdgeError::DeviceNotFound)?;
    Ok(device_view(&row)?)
}

/// Revokes a device of the tenant: the device row, its token, and the resource's schedule key
/// in one transaction. True when it was active until now (false: it was already revoked).
pub async fn revoke(
    db: &Db,
    sealer: &Sealer,
    tenant_id: &str,
    device_id: &str,
) -> Result<bool, EdgeError> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT resource_id, credential_id, revoked_at FROM devices WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(device_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(EdgeError::DeviceNotFound)?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    if revoked_at.is_some() {
        return Ok(false);
    }
    let resource_id: String = row.try_get("resource_id")?;
    let credential_id: String = row.try_get("credential_id")?;
    sqlx::query("UPDATE devices SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(timestamp(Utc::now()))
        .bind(tenant_id)
        .bind(device_id)
        .execute(&mut *tx)
        .await?;
    auth_store::revoke_credential_in(&mut tx, tenant_id, &credential_id).await?;
    rotate_resource_key(&mut tx, sealer, tenant_id, &resource_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Checks a device's MQTT login (its id, its password, not revoked) and answers where it
/// belongs: its tenant and resource.
pub async fn mqtt_login(
    db: &Db,
    device_id: &str,
    password: &str,
) -> Result<Option<(String, String)>, DbError> {
    let row = sqlx::query(
        "SELECT tenant_id, resource_id, mqtt_password_hash FROM devices WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(device_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let hash: String = row.try_get("mqtt_password_hash")?;
    if !keys::same_secret(&hash, &tokens::hash(password)) {
        return Ok(None);
    }
    Ok(Some((
        row.try_get("tenant_id")?,
        row.try_get("resource_id")?,
    )))
}

/// Looks up the device a message on an up topic claims to come from, with its opened key.
pub async fn inbound_device(
    db: &Db,
    sealer: &Sealer,
    device_id: &str,
) -> Result<Option<InboundDevice>, EdgeError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, resource_id, key_id, device_key_sealed, revoked_at FROM devices WHERE id = $1",
    )
    .bind(device_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let key_id: String = row.try_get("key_id")?;
    let blob: String = row.try_get("device_key_sealed")?;
    let encoded = sealer.open(&key_id, &blob, &device_context(device_id))?;
    let revoked_at: Option<String> = row.try_get("revoked_at")?;
    Ok(Some(InboundDevice {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        resource_id: row.try_get("resource_id")?,
        key: keys::decode_key(&encoded).ok_or(EdgeError::CorruptKey)?,
        revoked: revoked_at.is_some(),
    }))
}

/// What a device last reported about itself.
#[derive(Debug, Clone, Default)]
pub struct DeviceReport {
    /// Agent version, from a heartbeat.
    pub agent_version: Option<String>,
    /// Cached schedule version.
    pub cache_version: Option<u64>,
    /// Outbox length, from a heartbeat.
    pub outbox_len: Option<u32>,
}

/// Records that a device was heard from (and what its heartbeat said).
pub async fn touch(db: &Db, device: &InboundDevice, report: &DeviceReport) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE devices SET last_seen_at = $1, agent_version = COALESCE($2, agent_version), \
             cache_version = COALESCE($3, cache_version), outbox_len = COALESCE($4, outbox_len) \
         WHERE tenant_id = $5 AND id = $6",
    )
    .bind(timestamp(Utc::now()))
    .bind(report.agent_version.as_deref())
    .bind(report.cache_version.and_then(|v| i64::try_from(v).ok()))
    .bind(report.outbox_len.map(i64::from))
    .bind(&device.tenant_id)
    .bind(&device.id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A device request as the inbox keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct InboxEntry {
    /// The sending device.
    pub device_id: String,
    /// The request's idempotency key.
    pub idempotency_key: String,
    /// `check_in` or `walk_up_request`.
    pub kind: String,
    /// The request as JSON (the protocol message).
    pub message: serde_json::Value,
    /// When the device says it was made.
    pub sent_at: String,
    /// When the hub stored it.
    pub received_at: String,
    /// The answer sent, as JSON, once there is one.
    pub answer: Option<serde_json::Value>,
}

/// A request about to be stored in the inbox.
#[derive(Debug, Clone)]
pub struct NewInboxEntry<'a> {
    /// The idempotency key.
    pub idempotency_key: &'a str,
    /// Message kind.
    pub kind: &'static str,
    /// The message as JSON.
    pub message: serde_json::Value,
    /// When the device made it.
    pub sent_at: DateTime<Utc>,
}

/// Stores a request once per (device, idempotency key). `Ok(None)` when it is new; otherwise
/// the stored answer (if any) of the first copy.
pub async fn record(
    db: &Db,
    device: &InboundDevice,
    entry: &NewInboxEntry<'_>,
) -> Result<Option<Option<String>>, DbError> {
    let mut tx = db.begin_write().await?;
    let existing: Option<Option<String>> = sqlx::query_scalar(
        "SELECT answer FROM edge_inbox WHERE tenant_id = $1 AND device_id = $2 AND idempotency_key = $3",
    )
    .bind(&device.tenant_id)
    .bind(&device.id)
    .bind(entry.idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    if existing.is_some() {
        return Ok(existing);
    }
    sqlx::query(
        "INSERT INTO edge_inbox (id, tenant_id, device_id, idempotency_key, kind, message, sent_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(&device.tenant_id)
    .bind(&device.id)
    .bind(entry.idempotency_key)
    .bind(entry.kind)
    .bind(entry.message.to_string())
    .bind(timestamp(entry.sent_at))
    .bind(timestamp(Utc::now()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(None)
}

/// Stores the answer given to a request.
pub async fn save_answer(
    db: &Db,
    device: &InboundDevice,
    idempotency_key: &str,
    answer: &serde_json::Value,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE edge_inbox SET answer = $1 WHERE tenant_id = $2 AND device_id = $3 AND idempotency_key = $4",
    )
    .bind(answer.to_string())
    .bind(&device.tenant_id)
    .bind(&device.id)
    .bind(idempotency_key)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The inbox of a device of the tenant, in arrival order (issue 8 and tests read it).
pub async fn inbox(db: &Db, tenant_id: &str, device_id: &str) -> Result<Vec<InboxEntry>, DbError> {
    let rows = sqlx::query(
        "SELECT device_id, idempotency_key, kind, message, sent_at, received_at, answer FROM edge_inbox \
         WHERE tenant_id = $1 AND device_id = $2 ORDER BY received_at, id",
    )
    .bind(tenant_id)
    .bind(device_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let message: String = row.try_get("message")?;
            let answer: Option<String> = row.try_get("answer")?;
            Ok(InboxEntry {
                device_id: row.try_get("device_id")?,
                idempotency_key: row.try_get("idempotency_key")?,
                kind: row.try_get("kind")?,
                message: serde_json::from_str(&message).unwrap_or_default(),
                sent_at: time(row, "sent_at")?,
                received_at: time(row, "received_at")?,
                answer: answer.and_then(|a| serde_json::from_str(&a).ok()),
            })
        })
        .collect()
}

/// Every active device with its topics' owner, for the external broker's ACL file.
pub async fn active_devices(db: &Db) -> Result<Vec<super::acl::AclDevice>, DbError> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, resource_id FROM devices WHERE revoked_at IS NULL ORDER BY tenant_id, resource_id, id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(super::acl::AclDevice {
                device_id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                resource_id: row.try_get("resource_id")?,
            })
        })
        .collect()
}
