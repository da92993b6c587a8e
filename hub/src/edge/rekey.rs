//! The edge's keys after they change: a resource's new schedule key handed to each of its
//! remaining devices (after a revocation, and to any device that asks for a snapshot), and
//! every device and schedule key re-sealed under the active `ENCRYPTION_KEYS` entry
//! (`hub rotate-keys`), so the old entry can be removed without cutting any device off.

use shared::protocol::{self, Message, ScheduleKey, seal, topics};
use sqlx::Row;

use super::{
    Edge, EdgeError, keys,
    store::{self, InboundDevice},
};
use crate::{
    connections::seal::Sealer,
    db::{Db, timestamp},
};

/// The resource's schedule key and its generation; `None` before its first enrollment.
async fn current_key(
    db: &Db,
    sealer: &Sealer,
    tenant_id: &str,
    resource_id: &str,
) -> Result<Option<ScheduleKey>, EdgeError> {
    let row = sqlx::query(
        "SELECT key_id, resource_key_sealed, key_generation FROM edge_resources \
         WHERE tenant_id = $1 AND resource_id = $2",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let key = store::open_resource_key(sealer, resource_id, &row)?;
    let generation: i64 = row.try_get("key_generation")?;
    Ok(Some(ScheduleKey {
        resource_id: resource_id.to_string(),
        generation: u64::try_from(generation).unwrap_or(0),
        key: key.as_bytes().to_vec(),
    }))
}

/// Sends the resource's current schedule key to one device, sealed with its own key on its
/// down topic.
pub async fn send_to(edge: &Edge, db: &Db, device: &InboundDevice) -> Result<(), EdgeError> {
    let sealer = edge.sealer()?;
    let Some(key) = current_key(db, sealer, &device.tenant_id, &device.resource_id).await? else {
        return Ok(());
    };
    let topic = topics::down(&device.tenant_id, &device.resource_id, &device.id)
        .map_err(|e| EdgeError::Broker(format!("topic: {e}")))?;
    let sealed = seal::seal(
        &device.key,
        &topic,
        &protocol::encode(&Message::ScheduleKey(key)),
    );
    edge.publish(&topic, sealed, false)
}

/// Sends the resource's current schedule key to every active device of it; answers how many.
pub async fn hand_out(
    edge: &Edge,
    db: &Db,
    tenant_id: &str,
    resource_id: &str,
) -> Result<usize, EdgeError> {
    let sealer = edge.sealer()?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM devices WHERE tenant_id = $1 AND resource_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(resource_id)
    .fetch_all(db.pool())
    .await?;
    let mut sent = 0;
    for id in ids {
        if let Some(device) = store::inbound_device(db, sealer, &id).await? {
            send_to(edge, db, &device).await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// How many keys `hub rotate-keys` moved to the active encryption key, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Devices' own keys.
    pub device_keys: usize,
    /// Resources' schedule keys.
    pub schedule_keys: usize,
}

/// Re-seals every device key and schedule key not sealed under the active key.
pub async fn reseal_all(db: &Db, sealer: &Sealer) -> Result<Resealed, EdgeError> {
    let active = sealer.active_key_id();
    let mut moved = Resealed::default();
    let devices =
        sqlx::query("SELECT id, key_id, device_key_sealed FROM devices WHERE key_id <> $1")
            .bind(active)
            .fetch_all(db.pool())
            .await?;
    for row in &devices {
        let id: String = row.try_get("id")?;
        let context = store::device_context(&id);
        let plain = sealer.open(
            &row.try_get::<String, _>("key_id")?,
            &row.try_get::<String, _>("device_key_sealed")?,
            &context,
        )?;
        keys::decode_key(&plain).ok_or(EdgeError::CorruptKey)?;
        let sealed = sealer.seal(&plain, &context)?;
        sqlx::query("UPDATE devices SET key_id = $1, device_key_sealed = $2 WHERE id = $3")
            .bind(&sealed.key_id)
            .bind(&sealed.blob)
            .bind(&id)
            .execute(db.pool())
            .await?;
        moved.device_keys += 1;
    }
    let resources = sqlx::query(
        "SELECT tenant_id, resource_id, key_id, resource_key_sealed, key_generation \
         FROM edge_resources WHERE key_id <> $1",
    )
    .bind(active)
    .fetch_all(db.pool())
    .await?;
    for row in &resources {
        let tenant_id: String = row.try_get("tenant_id")?;
        let resource_id: String = row.try_get("resource_id")?;
        let generation: i64 = row.try_get("key_generation")?;
        let key = store::open_resource_key(sealer, &resource_id, row)?;
        let sealed = sealer.seal(
            &keys::encode_key(&key),
            &store::resource_context(&resource_id, generation),
        )?;
        // Only this generation is re-sealed: a revocation rotating the key meanwhile wins.
        sqlx::query(
            "UPDATE edge_resources SET key_id = $1, resource_key_sealed = $2, updated_at = $3 \
             WHERE tenant_id = $4 AND resource_id = $5 AND key_generation = $6",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.blob)
        .bind(timestamp(chrono::Utc::now()))
        .bind(&tenant_id)
        .bind(&resource_id)
        .bind(generation)
        .execute(db.pool())
        .await?;
        moved.schedule_keys += 1;
    }
    Ok(moved)
}
