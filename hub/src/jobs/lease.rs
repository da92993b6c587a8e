//! Database leases: singleton work (the periodic scheduler, nightly sweeps, channel renewal)
//! runs only in the replica that holds the lease, and moves to another when the holder stops
//! renewing it.

use std::time::Duration;

use chrono::Utc;

use crate::db::{Db, DbError, timestamp};

/// Takes or renews the lease `name` for `holder` until `ttl` from now. True when `holder` holds
/// it afterwards: it was free, expired, or already ours.
pub async fn try_acquire(
    db: &Db,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, DbError> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    let taken = sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
    )
    .bind(name)
    .bind(holder)
    .bind(timestamp(until))
    .bind(timestamp(now))
    .execute(db.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Gives the lease up so another replica can take it at once.
pub async fn release(db: &Db, name: &str, holder: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}
