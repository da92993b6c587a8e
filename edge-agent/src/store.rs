//! The agent's SQLite file (WAL): the latest schedule, the outbox of messages waiting for the hub's
//! answer, and the answers received. One connection, used under the agent's lock; every call is a
//! short statement, so it is fine on the async runtime's threads.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use shared::protocol::{self, Message, ScheduleSnapshot};

/// A storage failure; the agent logs it and carries on with what it has in memory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed.
    #[error("agent cache: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row no longer decodes (written by an incompatible agent version).
    #[error("agent cache holds an unreadable message: {0}")]
    Corrupt(#[from] protocol::ProtocolError),
}

/// The cached schedule and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSnapshot {
    /// The snapshot as received.
    pub snapshot: ScheduleSnapshot,
    /// When it was stored (Unix ms), for the cache's age.
    pub received_at_ms: i64,
}

/// One message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Queue order.
    pub seq: i64,
    /// The message's idempotency key; the hub's answer names it.
    pub idempotency_key: String,
    /// The encoded (unsealed) message.
    pub message: Vec<u8>,
}

/// The agent's cache file.
#[derive(Debug)]
pub struct Cache {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schedule (
    resource_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    snapshot BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    message BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE TABLE IF NOT EXISTS results (
    idempotency_key TEXT PRIMARY KEY,
    message BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
";

impl Cache {
    /// Opens (or creates) the cache file in WAL mode.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Replaces the resource's cached schedule.
    pub fn save_snapshot(
        &self,
        snapshot: &ScheduleSnapshot,
        received_at_ms: i64,
    ) -> Result<(), StoreError> {
        let bytes = protocol::encode(&Message::ScheduleSnapshot(snapshot.clone()));
        let version = i64::try_from(snapshot.version).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT INTO schedule (resource_id, version, snapshot, received_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (resource_id) DO UPDATE SET
                 version = excluded.version, snapshot = excluded.snapshot, received_at = excluded.received_at",
            params![snapshot.resource_id, version, bytes, received_at_ms],
        )?;
        Ok(())
    }

    /// The resource's cached schedule, if one was ever received.
    pub fn snapshot(&self, resource_id: &str) -> Result<Option<CachedSnapshot>, StoreError> {
        let row: Option<(Vec<u8>, i64)> = self
            .conn
            .query_row(
                "SELECT snapshot, received_at FROM schedule WHERE resource_id = ?1",
                [resource_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((bytes, received_at_ms)) = row else {
            return Ok(None);
        };
        match protocol::decode(&bytes)? {
            Message::ScheduleSnapshot(snapshot) => Ok(Some(CachedSnapshot {
                snapshot,
                received_at_ms,
            })),
            _ => Err(StoreError::Corrupt(protocol::ProtocolError::Malformed)),
        }
    }

    /// Queues an encoded message; returns its place in the queue.
    pub fn enqueue(
        &self,
        idempotency_key: &str,
        message: &[u8],
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO outbox (idempotency_key, message, created_at) VALUES (?1, ?2, ?3)",
            params![idempotency_key, message, now_ms],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every queued message, oldest first.
    pub fn pending(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, idempotency_key, message FROM outbox ORDER BY seq")?;
        let rows = stmt.query_map([], |row| {
            Ok(OutboxRow {
                seq: row.get(0)?,
                idempotency_key: row.get(1)?,
                message: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that a queued message was handed to the broker.
    pub fn mark_sent(&self, seq: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET sent_at = ?2 WHERE seq = ?1",
            params![seq, now_ms],
        )?;
        Ok(())
    }

    /// Stores the hub's answer and drops the answered message from the outbox, in one transaction.
    /// Returns whether a queued message was waiting for it (false for a repeated answer).
    pub fn complete(
        &mut self,
        idempotency_key: &str,
        result: &[u8],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let removed = tx.execute(
            "DELETE FROM outbox WHERE idempotency_key = ?1",
            [idempotency_key],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO results (idempotency_key, message, received_at) VALUES (?1, ?2, ?3)",
            params![idempotency_key, result, now_ms],
        )?;
        tx.commit()?;
        Ok(removed > 0)
    }

    /// The hub's answer to a message, if it arrived (also after a restart).
    pub fn result(&self, idempotency_key: &str) -> Result<Option<Message>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT message FROM results WHERE idempotency_key = ?1",
                [idempotency_key],
                |row| row.get(0),
            )
            .optional()?;
        Ok(bytes.map(|b| protocol::decode(&b)).transpose()?)
    }

    /// How many messages wait for an answer.
    pub fn outbox_len(&self) -> Result<u32, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |row| row.get(0))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests;
