//! The SQL of sync: followed calendars (sync token, health, safety-net schedule), push
//! channels and notification receipts. Every function that serves a tenant takes its id; the
//! webhook looks a channel up by its own random id, which names the tenant.

use chrono::{DateTime, Utc};
use sqlx::{Row, any::AnyRow};

use crate::db::{Db, DbError, Tx, parse_timestamp, timestamp};

/// A calendar CORBI follows.
#[derive(Debug, Clone)]
pub struct SyncCalendar {
    /// Tenant.
    pub tenant_id: String,
    /// Google calendar id.
    pub calendar_id: String,
    /// The resource whose calendar it is.
    pub resource_id: Option<String>,
    /// The connection that reads it (`tenant` or `user:<id>`).
    pub connection_owner: String,
    /// Token of the next incremental sync (None: a full sync is due).
    pub sync_token: Option<String>,
    /// Followed at all (false once its resource is disabled).
    pub enabled: bool,
    /// Paused because its connection needs re-consent.
    pub paused: bool,
    /// Why it is paused.
    pub status_reason: Option<String>,
    /// Failed runs in a row.
    pub failures: i64,
    /// Last successful sync.
    pub last_synced_at: Option<String>,
}

fn calendar_from_row(row: &AnyRow) -> Result<SyncCalendar, DbError> {
    let enabled: i64 = row.try_get("enabled")?;
    let status: String = row.try_get("status")?;
    Ok(SyncCalendar {
        tenant_id: row.try_get("tenant_id")?,
        calendar_id: row.try_get("calendar_id")?,
        resource_id: row.try_get("resource_id")?,
        connection_owner: row.try_get("connection_owner")?,
        sync_token: row.try_get("sync_token")?,
        enabled: enabled != 0,
        paused: status == "paused",
        status_reason: row.try_get("status_reason")?,
        failures: row.try_get("failures")?,
        last_synced_at: row.try_get("last_synced_at")?,
    })
}

/// A query of followed calendars with the given clause; static text, as sqlx requires.
macro_rules! select_calendars {
    ($rest:literal) => {
        concat!(
            "SELECT tenant_id, calendar_id, resource_id, connection_owner, sync_token, enabled, status, status_reason, failures, last_synced_at ",
            $rest
        )
    };
}

/// Follows a calendar (again): enabled, due for a sync now.
pub async fn follow(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
    resource_id: Option<&str>,
    owner: &str,
) -> Result<(), DbError> {
    let now = timestamp(Utc::now());
    sqlx::query(
        "INSERT INTO sync_calendars (tenant_id, calendar_id, resource_id, connection_owner, enabled, status, failures, \
             next_safety_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, 'active', 0, $5, $5, $5) \
         ON CONFLICT (tenant_id, calendar_id) DO UPDATE SET enabled = 1, resource_id = excluded.resource_id, \
             connection_owner = excluded.connection_owner, updated_at = excluded.updated_at",
    )
    .bind(tenant_id)
    .bind(calendar_id)
    .bind(resource_id)
    .bind(owner)
    .bind(&now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stops following a calendar (its resource was disabled); its token is kept for later.
pub async fn unfollow(db: &Db, tenant_id: &str, calendar_id: &str) -> Result<(), DbError> {
    set_now(
        db,
        "UPDATE sync_calendars SET enabled = 0, updated_at = $1 WHERE tenant_id = $2 AND calendar_id = $3",
        tenant_id,
        calendar_id,
    )
    .await
}

/// Forgets the sync token (Google said 410), so the next run is a full sync.
pub async fn clear_token(db: &Db, tenant_id: &str, calendar_id: &str) -> Result<(), DbError> {
    set_now(
        db,
        "UPDATE sync_calendars SET sync_token = NULL, updated_at = $1 WHERE tenant_id = $2 AND calendar_id = $3",
        tenant_id,
        calendar_id,
    )
    .await
}

/// A followed calendar of the tenant.
pub async fn calendar(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
) -> Result<Option<SyncCalendar>, DbError> {
    let row = sqlx::query(select_calendars!(
        "FROM sync_calendars WHERE tenant_id = $1 AND calendar_id = $2"
    ))
    .bind(tenant_id)
    .bind(calendar_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(calendar_from_row).transpose()
}

/// Every followed calendar of the tenant (admins see their sync health).
pub async fn calendars(db: &Db, tenant_id: &str) -> Result<Vec<SyncCalendar>, DbError> {
    let rows = sqlx::query(select_calendars!(
        "FROM sync_calendars WHERE tenant_id = $1 ORDER BY calendar_id"
    ))
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(calendar_from_row).collect()
}

/// Enabled calendars whose safety-net sync is due (paused ones included, to look whether their
/// connection works again).
pub async fn due_for_safety(db: &Db, now: DateTime<Utc>) -> Result<Vec<SyncCalendar>, DbError> {
    let rows = sqlx::query(select_calendars!("FROM sync_calendars WHERE enabled = 1 AND next_safety_at <= $1 ORDER BY next_safety_at LIMIT 500"))
    .bind(timestamp(now))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(calendar_from_row).collect()
}

/// Sets when the next safety-net sync of a calendar is due.
pub async fn schedule_safety(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sync_calendars SET next_safety_at = $1 WHERE tenant_id = $2 AND calendar_id = $3",
    )
    .bind(timestamp(at))
    .bind(tenant_id)
    .bind(calendar_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stores the next sync token with the last page, in the page's transaction, and records a
/// healthy run.
pub async fn store_token(
    tx: &mut Tx,
    tenant_id: &str,
    calendar_id: &str,
    token: Option<&str>,
    full: bool,
    next_safety: DateTime<Utc>,
) -> Result<(), DbError> {
    let now = timestamp(Utc::now());
    sqlx::query(
        "UPDATE sync_calendars SET sync_token = $1, last_synced_at = $2, \
             last_full_sync_at = CASE WHEN $3 = 1 THEN $2 ELSE last_full_sync_at END, failures = 0, \
             status = 'active', status_reason = NULL, next_safety_at = $4, updated_at = $2 \
         WHERE tenant_id = $5 AND calendar_id = $6",
    )
    .bind(token)
    .bind(&now)
    .bind(i64::from(full))
    .bind(timestamp(next_safety))
    .bind(tenant_id)
    .bind(calendar_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a failed run; the safety net backs off until `retry_at`.
pub async fn record_failure(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
    retry_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sync_calendars SET failures = failures + 1, next_safety_at = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND calendar_id = $4",
    )
    .bind(timestamp(retry_at))
    .bind(timestamp(Utc::now()))
    .bind(tenant_id)
    .bind(calendar_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Pauses (needs re-consent) or resumes a calendar.
pub async fn set_paused(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
    reason: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sync_calendars SET status = $1, status_reason = $2, updated_at = $3 \
         WHERE tenant_id = $4 AND calendar_id = $5",
    )
    .bind(if reason.is_some() { "paused" } else { "active" })
    .bind(reason)
    .bind(timestamp(Utc::now()))
    .bind(tenant_id)
    .bind(calendar_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A push channel as stored (its token only as a hash).
#[derive(Debug, Clone)]
pub struct ChannelRow {
    /// Our channel id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Watched calendar.
    pub calendar_id: String,
    /// The connection that opened it.
    pub connection_owner: String,
    /// Google's id of the watched collection (None until the watch answer is stored).
    pub google_resource_id: Option<String>,
    /// SHA-256 of the channel token, hex.
    pub token_hash: String,
    /// Expiry Google granted.
    pub expires_at: Option<DateTime<Utc>>,
    /// `pending`, `active`, `replaced`, `stopped`.
    pub status: String,
}

fn channel_from_row(row: &AnyRow) -> Result<ChannelRow, DbError> {
    let expires: Option<String> = row.try_get("expires_at")?;
    Ok(ChannelRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        calendar_id: row.try_get("calendar_id")?,
        connection_owner: row.try_get("connection_owner")?,
        google_resource_id: row.try_get("google_resource_id")?,
        token_hash: row.try_get("token_hash")?,
        expires_at: expires.as_deref().map(parse_timestamp).transpose()?,
        status: row.try_get("status")?,
    })
}

/// A query of channels with the given clause; static text, as sqlx requires.
macro_rules! select_channels {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, calendar_id, connection_owner, google_resource_id, token_hash, expires_at, status ",
            $rest
        )
    };
}

/// Records a channel about to be opened (before the watch call, since Google's `sync` message
/// may arrive before its answer).
pub async fn insert_channel(
    db: &Db,
    id: &str,
    tenant_id: &str,
    calendar_id: &str,
    owner: &str,
    token_hash: &str,
) -> Result<(), DbError> {
    let now = timestamp(Utc::now());
    sqlx::query(
        "INSERT INTO sync_channels (id, tenant_id, calendar_id, connection_owner, token_hash, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(calendar_id)
    .bind(owner)
    .bind(token_hash)
    .bind(&now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stores what the watch call answered; the channel is live.
pub async fn activate_channel(
    db: &Db,
    id: &str,
    google_resource_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sync_channels SET google_resource_id = $1, expires_at = $2, status = 'active', updated_at = $3 WHERE id = $4",
    )
    .bind(google_resource_id)
    .bind(timestamp(expires_at))
    .bind(timestamp(Utc::now()))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Sets a channel's status (`replaced`, `stopped`).
pub async fn set_channel_status(db: &Db, id: &str, status: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE sync_channels SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(timestamp(Utc::now()))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A channel by its id (the webhook's look-up).
pub async fn channel(db: &Db, id: &str) -> Result<Option<ChannelRow>, DbError> {
    let row = sqlx::query(select_channels!("FROM sync_channels WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(channel_from_row).transpose()
}

/// The live (pending or active) channels of a calendar of the tenant.
pub async fn live_channels(
    db: &Db,
    tenant_id: &str,
    calendar_id: &str,
) -> Result<Vec<ChannelRow>, DbError> {
    let rows = sqlx::query(select_channels!("FROM sync_channels WHERE tenant_id = $1 AND calendar_id = $2 AND status IN ('pending', 'active') \
         ORDER BY created_at"))
    .bind(tenant_id)
    .bind(calendar_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(channel_from_row).collect()
}

/// Active channels expiring before `before` (to renew).
pub async fn expiring_channels(db: &Db, before: DateTime<Utc>) -> Result<Vec<ChannelRow>, DbError> {
    let rows = sqlx::query(select_channels!(
        "FROM sync_channels WHERE status = 'active' AND expires_at < $1 LIMIT 500"
    ))
    .bind(timestamp(before))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(channel_from_row).collect()
}

/// Stores a notification receipt in the caller's transaction; false when the same channel and
/// message number were already received (a duplicate delivery).
pub async fn insert_receipt(
    tx: &mut Tx,
    channel_id: &str,
    message_number: i64,
    state: &str,
) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO sync_receipts (channel_id, message_number, resource_state, received_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (channel_id, message_number) DO NOTHING",
    )
    .bind(channel_id)
    .bind(message_number)
    .bind(state)
    .bind(timestamp(Utc::now()))
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Forgets receipts older than `before` (duplicates arrive within minutes, not days).
pub async fn prune_receipts(db: &Db, before: DateTime<Utc>) -> Result<(), DbError> {
    sqlx::query("DELETE FROM sync_receipts WHERE received_at < $1")
        .bind(timestamp(before))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Resources whose following is out of step: enabled ones without a followed calendar or live
/// channel, disabled ones still followed. Returns (tenant, resource id).
pub async fn resources_to_reconcile(db: &Db) -> Result<Vec<(String, String)>, DbError> {
    let rows = sqlx::query(
        "SELECT r.tenant_id, r.id FROM resources r \
         LEFT JOIN sync_calendars c ON c.tenant_id = r.tenant_id AND c.calendar_id = r.calendar_id \
         WHERE (r.enabled = 1 AND (c.calendar_id IS NULL OR c.enabled = 0 OR (c.status = 'active' AND NOT EXISTS ( \
                  SELECT 1 FROM sync_channels ch WHERE ch.tenant_id = r.tenant_id AND ch.calendar_id = r.calendar_id \
                    AND ch.status IN ('pending', 'active'))))) \
            OR (r.enabled = 0 AND c.enabled = 1) \
         LIMIT 500",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("tenant_id")?, row.try_get("id")?)))
        .collect()
}

/// Runs one of this module's updates of a calendar that take the current time as `$1`.
async fn set_now(
    db: &Db,
    update: &'static str,
    tenant_id: &str,
    calendar_id: &str,
) -> Result<(), DbError> {
    sqlx::query(update)
        .bind(timestamp(Utc::now()))
        .bind(tenant_id)
        .bind(calendar_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
