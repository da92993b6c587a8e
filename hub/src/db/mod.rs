//! Storage: one sqlx `Any` pool over SQLite (the embedded default) or PostgreSQL, chosen from the
//! URL prefix, with the migrations of both engines embedded in the binary.
//!
//! Conventions that keep one SQL text valid on both engines (sqlx `Any` carries only booleans,
//! integers, floats, text and bytes, and SQLite columns declared BOOLEAN or DATETIME do not
//! decode through it):
//! `$1…$N` placeholders; times as RFC 3339 UTC TEXT of fixed width (so text order is time order,
//! see [`timestamp`]); ids as TEXT UUIDs; flags as INTEGER 0/1; JSON as TEXT. The few statements
//! that must differ by dialect live in [`dialect`].

pub mod dialect;

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{
    AnyPool, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

/// The SQLite migrations, embedded.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
/// The PostgreSQL migrations, embedded.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// The database engine behind a pool; decides the migrations and the dialect-specific SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one process.
    Sqlite,
    /// Production, several hub replicas.
    Postgres,
}

impl Backend {
    /// Picks the engine from the URL prefix.
    pub fn from_url(url: &str) -> Result<Backend, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(DbError::UnsupportedUrl(scheme.to_string()))
        }
    }

    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What storage can go wrong with, reduced to what callers act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names an engine CORBI does not support.
    #[error("unsupported DATABASE_URL scheme `{0}:`; use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    /// The row does not exist (or belongs to another tenant).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else; logged, never shown to clients.
    #[error(transparent)]
    Other(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Lets `?` turn a sqlx error into a capability's error (which converts from [`DbError`])
/// through [`DbError::classify`], so a unique violation stays a conflict everywhere.
macro_rules! classified_sqlx_errors {
    ($error:ty) => {
        impl From<sqlx::Error> for $error {
            fn from(err: sqlx::Error) -> Self {
                <$error>::from($crate::db::DbError::classify(err))
            }
        }
    };
}

pub(crate) use classified_sqlx_errors;

impl DbError {
    /// Classifies a sqlx error: unique violations become [`DbError::Conflict`], missing rows
    /// [`DbError::NotFound`].
    pub fn classify(err: sqlx::Error) -> DbError {
        match &err {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                DbError::Conflict(db.message().to_string())
            }
            _ => DbError::Other(err),
        }
    }
}

/// A connected database: the pool plus the engine it talks to.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// A transaction on the hub's database.
pub type Tx = Transaction<'static, sqlx::Any>;

impl Db {
    /// Connects (creating an SQLite file if missing) without migrating.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => with_query(url, "mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(pool_size(backend))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .execute(conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Db { pool, backend })
    }

    /// Connects and applies every pending migration of the engine.
    pub async fn connect_and_migrate(url: &str) -> Result<Db, DbError> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies pending migrations; safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// True when every embedded migration has been applied (what `/readyz` reports).
    pub async fn migrations_applied(&self) -> Result<bool, DbError> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(usize::try_from(applied).unwrap_or(0) >= self.migrator().iter().count())
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// The pool, for reads and single-statement writes.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one failing
    /// when it upgrades a read lock.
    pub async fn begin_write(&self) -> Result<Tx, DbError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Closes every connection (tests and shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn pool_size(backend: Backend) -> u32 {
    match backend {
        Backend::Sqlite => 8,
        Backend::Postgres => 16,
    }
}

fn with_query(url: &str, param: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{param}")
}

/// Formats a time the way every table stores it: UTC, microseconds, `Z`; fixed width, so
/// comparing the text compares the times.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a stored time back.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))
}

/// A fresh random id, as stored (TEXT UUID).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_prefix() {
        assert_eq!(
            Backend::from_url("sqlite://corbi.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://x@y/z").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://x").expect_err("refused");
        assert!(err.to_string().contains("mysql"), "{err}");
    }

    #[test]
    fn stored_timestamps_sort_as_times() {
        let a = timestamp(DateTime::from_timestamp(1_000, 5_000).expect("valid"));
        let b = timestamp(DateTime::from_timestamp(1_000, 60_000).expect("valid"));
        assert!(a < b);
        assert_eq!(a.len(), b.len());
        assert_eq!(parse_timestamp(&a).ok().map(timestamp), Some(a));
    }
}
