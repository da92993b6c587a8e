//! The daily operations figures: per tenant and UTC day, how many events sync applied, how
//! webhook notifications were answered, no-shows, notifications sent and failed, Google calls
//! and errors. They live in the `daily_stats` table, so they survive restarts, and every write
//! is one atomic upsert `count = count + n`, so hub processes writing the same day add up.
//!
//! A leaf over [`crate::db`]: sync, notify, google and attendance call [`record`] without
//! importing each other or `insights`, which serves the figures
//! (`GET /api/v1/admin/daily-stats`). A figure that cannot be written is logged and dropped:
//! counting never fails the work it counts.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use crate::db::{Db, DbError};

/// One daily figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Google events sync applied (created, changed, cancelled or already up to date).
    EventsSynced,
    /// Push notifications recorded (a sync job was queued).
    WebhooksAccepted,
    /// Push notifications already received (same channel and message number).
    WebhooksDuplicate,
    /// The `sync` message Google sends when a channel opens.
    WebhooksSync,
    /// Push notifications refused: wrong channel token or resource id, or a stopped channel.
    WebhooksRefused,
    /// Push notifications that could not be recorded (the database failed; Google retries).
    WebhookErrors,
    /// Meetings marked NO_SHOW by the sweep (auto-released ones included).
    NoShows,
    /// Notices a vendor accepted.
    NotificationsSent,
    /// Notices refused by a vendor or impossible to send.
    NotificationsFailed,
    /// Calls to the Google Calendar API (after retries, one per call).
    GoogleCalls,
    /// Those calls that ended in an error.
    GoogleErrors,
}

impl Counter {
    /// Every counter, in the order the API lists them.
    pub const ALL: [Counter; 11] = [
        Counter::EventsSynced,
        Counter::WebhooksAccepted,
        Counter::WebhooksDuplicate,
        Counter::WebhooksSync,
        Counter::WebhooksRefused,
        Counter::WebhookErrors,
        Counter::NoShows,
        Counter::NotificationsSent,
        Counter::NotificationsFailed,
        Counter::GoogleCalls,
        Counter::GoogleErrors,
    ];

    /// The stored name, also the JSON field and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::EventsSynced => "events_synced",
            Counter::WebhooksAccepted => "webhooks_accepted",
            Counter::WebhooksDuplicate => "webhooks_duplicate",
            Counter::WebhooksSync => "webhooks_sync",
            Counter::WebhooksRefused => "webhooks_refused",
            Counter::WebhookErrors => "webhook_errors",
            Counter::NoShows => "no_shows",
            Counter::NotificationsSent => "notifications_sent",
            Counter::NotificationsFailed => "notifications_failed",
            Counter::GoogleCalls => "google_calls",
            Counter::GoogleErrors => "google_errors",
        }
    }

    /// The counter stored under `name`.
    pub fn parse(name: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// The UTC day of `at`, the key figures are stored under.
pub fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// Adds `n` to the tenant's counter of `day`, in one statement that every process may run at
/// once (the row is created by the first).
pub async fn add(
    db: &Db,
    tenant_id: &str,
    day: NaiveDate,
    counter: Counter,
    n: u64,
) -> Result<(), DbError> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO daily_stats (tenant_id, day, counter, count) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, day, counter) DO UPDATE SET count = daily_stats.count + excluded.count",
    )
    .bind(tenant_id)
    .bind(day.to_string())
    .bind(counter.as_str())
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .execute(db.pool())
    .await?;
    Ok(())
}

/// [`add`] for today, logging instead of failing: what the counting places call.
pub async fn record(db: &Db, tenant_id: &str, counter: Counter, n: u64) {
    if let Err(err) = add(db, tenant_id, day_of(Utc::now()), counter, n).await {
        tracing::warn!(error = %err, counter = counter.as_str(), "daily figure not recorded");
    }
}

/// [`record`] on a task of its own, for callers that must not wait on the database (a Google
/// call may be made while its caller holds the write lock of SQLite).
pub fn record_later(db: &Db, tenant_id: &str, counter: Counter, n: u64) {
    let db = db.clone();
    let tenant_id = tenant_id.to_string();
    tokio::spawn(async move { record(&db, &tenant_id, counter, n).await });
}

/// One stored figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigure {
    /// The UTC day.
    pub day: NaiveDate,
    /// Which figure.
    pub counter: Counter,
    /// Its value.
    pub count: i64,
}

/// The tenant's figures of the days `from..=to`, by day.
pub async fn between(
    db: &Db,
    tenant_id: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayFigure>, DbError> {
    let rows = sqlx::query(
        "SELECT day, counter, count FROM daily_stats \
         WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, counter",
    )
    .bind(tenant_id)
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut figures = Vec::with_capacity(rows.len());
    for row in &rows {
        let day: String = row.try_get("day")?;
        let counter: String = row.try_get("counter")?;
        let (Ok(day), Some(counter)) = (day.parse(), Counter::parse(&counter)) else {
            continue;
        };
        figures.push(DayFigure {
            day,
            counter,
            count: row.try_get("count")?,
        });
    }
    Ok(figures)
}

/// Each counter of `day` summed over every tenant: an index lookup of one day's rows (at most
/// tenants × counters), never a scan of the history; what `/metrics` shows as gauges.
pub async fn day_totals(db: &Db, day: NaiveDate) -> Result<Vec<(Counter, i64)>, DbError> {
    let rows = sqlx::query(
        "SELECT counter, CAST(SUM(count) AS BIGINT) AS total FROM daily_stats WHERE day = $1 GROUP BY counter",
    )
    .bind(day.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut totals = Vec::with_capacity(rows.len());
    for row in &rows {
        let counter: String = row.try_get("counter")?;
        if let Some(counter) = Counter::parse(&counter) {
            totals.push((counter, row.try_get("total")?));
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_round_trip_and_are_unique() {
        let names: std::collections::BTreeSet<&str> =
            Counter::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Counter::ALL.len());
        for counter in Counter::ALL {
            assert_eq!(Counter::parse(counter.as_str()), Some(counter));
        }
        assert_eq!(Counter::parse("nothing"), None);
    }
}
