//! Connections to external accounts: OAuth grants sealed at rest, refreshed before they expire,
//! and marked for re-consent when the provider revokes them.
//!
//! The table is generic (provider, owner, scopes, sealed tokens); Google is its first user. A
//! tenant has one tenant-wide connection (the account owning resource calendars) and any number
//! of per-user connections. Access tokens are refreshed shortly before expiry and when Google
//! rejects one; concurrent refreshes of one connection in this process collapse into one.
//!
//! Files: `seal.rs` (AEAD), `oauth.rs` (the authorization-code flow with PKCE). The routes a
//! person connects an account through belong to its provider (`google/connect.rs`).

pub mod oauth;
pub mod seal;

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use crate::db::{Db, DbError, new_id, parse_timestamp, timestamp};
use oauth::{OAuthClient, RefreshError};
use seal::{SealError, Sealer};

/// A connection query with the given `WHERE` clause; static text, as sqlx requires.
macro_rules! select_connection {
    ($filter:literal) => {
        concat!(
            "SELECT id, tenant_id, owner, account_email, scopes, status, status_reason, key_id FROM connections ",
            $filter
        )
    };
}

/// Refresh an access token this long before Google would expire it.
const REFRESH_MARGIN_SECS: i64 = 60;

/// Whose account a connection is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// The tenant-wide account that owns resource calendars.
    Tenant,
    /// A person's own account.
    User(String),
}

impl Owner {
    /// The stored form: `tenant` or `user:<id>`.
    pub fn key(&self) -> String {
        match self {
            Owner::Tenant => "tenant".into(),
            Owner::User(id) => format!("user:{id}"),
        }
    }

    fn user_id(&self) -> Option<&str> {
        match self {
            Owner::Tenant => None,
            Owner::User(id) => Some(id),
        }
    }

    /// Reads the stored form back.
    pub fn from_key(key: &str) -> Owner {
        match key.strip_prefix("user:") {
            Some(id) => Owner::User(id.to_string()),
            None => Owner::Tenant,
        }
    }
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Usable.
    Active,
    /// The grant was revoked or expired; a person must consent again.
    NeedsReconsent,
}

/// A connection without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Row id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Whose account.
    pub owner: Owner,
    /// The account's address (its primary calendar id).
    pub account_email: String,
    /// Scopes Google granted.
    pub scopes: Vec<String>,
    /// Usable or not.
    pub status: ConnectionStatus,
    /// Why it needs re-consent, in plain words.
    pub status_reason: Option<String>,
    /// The key the tokens are sealed with.
    pub key_id: String,
}

/// Tokens from a code exchange or a refresh.
#[derive(Clone)]
pub struct Grant {
    /// The access token.
    pub access_token: String,
    /// The refresh token, when Google sent one.
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// Scopes granted, when Google listed them.
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a usable access token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No connection exists for that owner.
    #[error("no Google account is connected")]
    Missing,
    /// The grant was revoked; a person must consent again.
    #[error("the Google connection needs consent again: {0}")]
    NeedsReconsent(String),
    /// The token endpoint failed in a way worth retrying later.
    #[error("Google's token endpoint is unavailable: {0}")]
    Unavailable(String),
    /// Secrets could not be sealed or opened (configuration).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

crate::db::classified_sqlx_errors!(ConnectionError);

/// Connections of every tenant: storage, sealing and refresh. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    db: Db,
    sealer: Option<Sealer>,
    oauth: OAuthClient,
    refresh_locks: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

const PROVIDER: &str = "google";

impl Connections {
    /// Connections over the database, sealing with `sealer` (None: tokens cannot be stored).
    pub fn new(db: Db, sealer: Option<Sealer>, oauth: OAuthClient) -> Self {
        Connections {
            db,
            sealer,
            oauth,
            refresh_locks: Arc::default(),
        }
    }

    /// The database the connections are stored in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The OAuth client (authorization URLs, code exchange).
    pub fn oauth(&self) -> &OAuthClient {
        &self.oauth
    }

    fn sealer(&self) -> Result<&Sealer, SealError> {
        self.sealer.as_ref().ok_or(SealError::NoKey)
    }

    /// The connection of an owner, if any.
    pub async fn find(
        &self,
        tenant_id: &str,
        owner: &Owner,
    ) -> Result<Option<Connection>, ConnectionError> {
        let row = sqlx::query(select_connection!(
            "WHERE tenant_id = $1 AND provider = $2 AND owner = $3"
        ))
        .bind(tenant_id)
        .bind(PROVIDER)
        .bind(owner.key())
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    /// Every usable per-user connection of every tenant, as (tenant id, owner key, the
    /// account's primary calendar id): sync follows these calendars.
    pub async fn active_user_calendars(
        &self,
    ) -> Result<Vec<(String, String, String)>, ConnectionError> {
        let rows = sqlx::query(
            "SELECT tenant_id, owner, account_email FROM connections \
             WHERE provider = $1 AND status = 'active' AND user_id IS NOT NULL AND account_email <> ''",
        )
        .bind(PROVIDER)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("tenant_id")?,
                    row.try_get("owner")?,
                    row.try_get("account_email")?,
                ))
            })
            .collect()
    }

    /// The connection of an owner, or [`ConnectionError::Missing`].
    pub async fn get(&self, tenant_id: &str, owner: &Owner) -> Result<Connection, ConnectionError> {
        self.find(tenant_id, owner)
            .await?
            .ok_or(ConnectionError::Missing)
    }

    /// Stores a fresh grant for an owner (a new consent), replacing any earlier one.
    pub async fn store_grant(
        &self,
        tenant_id: &str,
        owner: &Owner,
        account_email: &str,
        grant: &Grant,
    ) -> Result<Connection, ConnectionError> {
        let existing = self.find(tenant_id, owner).await?;
        let id = existing.as_ref().map_or_else(new_id, |c| c.id.clone());
        let sealer = self.sealer()?;
        let access = sealer.seal(&grant.access_token, &format!("{id}/access"))?;
        let refresh = grant
            .refresh_token
            .as_deref()
            .map(|token| sealer.seal(token, &format!("{id}/refresh")))
            .transpose()?;
        let scopes = grant.scopes.clone().unwrap_or_default().join(" ");
        let now = timestamp(Utc::now());
        sqlx::query(
            "INSERT INTO connections (id, tenant_id, provider, owner, user_id, account_email, scopes, key_id, \
                 access_token_sealed, refresh_token_sealed, access_expires_at, status, status_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', NULL, $12, $12) \
             ON CONFLICT (tenant_id, provider, owner) DO UPDATE SET account_email = excluded.account_email, \
                 scopes = excluded.scopes, key_id = excluded.key_id, access_token_sealed = excluded.access_token_sealed, \
                 refresh_token_sealed = COALESCE(excluded.refresh_token_sealed, connections.refresh_token_sealed), \
                 access_expires_at = excluded.access_expires_at, status = 'active', status_reason = NULL, \
                 updated_at = excluded.updated_at",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(PROVIDER)
        .bind(owner.key())
        .bind(owner.user_id())
        .bind(account_email)
        .bind(&scopes)
        .bind(&access.key_id)
        .bind(&access.blob)
        .bind(refresh.as_ref().map(|r| r.blob.as_str()))
        .bind(timestamp(grant.expires_at))
        .bind(&now)
        .execute(self.db.pool())
        .await?;
        self.get(tenant_id, owner).await
    }

    /// A usable access token: the stored one, or a refreshed one when it is about to expire.
    pub async fn access_token(&self, connection: &Connection) -> Result<String, ConnectionError> {
        let secrets = self.load_secrets(connection).await?;
        if secrets.expires_at > Utc::now() + Duration::seconds(REFRESH_MARGIN_SECS) {
            return Ok(secrets.access_token);
        }
        self.refresh(connection, Some(&secrets.access_token)).await
    }

    /// Called when Google refused `rejected` (401): refreshes unless another caller already did.
    pub async fn refresh_after_rejection(
        &self,
        connection: &Connection,
        rejected: &str,
    ) -> Result<String, ConnectionError> {
        self.refresh(connection, Some(rejected)).await
    }

    /// Refreshes the access token once per connection at a time: a caller that waited for
    /// another's refresh uses its result instead of refreshing again.
    async fn refresh(
        &self,
        connection: &Connection,
        stale: Option<&str>,
    ) -> Result<String, ConnectionError> {
        let lock = self.refresh_lock(&connection.id);
        let _guard = lock.lock().await;
        let secrets = self.load_secrets(connection).await?;
        let renewed_meanwhile = stale.is_some_and(|s| s != secrets.access_token)
            && secrets.expires_at > Utc::now() + Duration::seconds(REFRESH_MARGIN_SECS);
        if renewed_meanwhile {
            return Ok(secrets.access_token);
        }
        let refresh_token = secrets.refresh_token.ok_or_else(|| {
            ConnectionError::NeedsReconsent(
                "Google gave no refresh token; connect again with offline access".into(),
            )
        })?;
        match self.oauth.refresh(&refresh_token).await {
            Ok(grant) => {
                self.store_refreshed(connection, &grant).await?;
                Ok(grant.access_token)
            }
            Err(RefreshError::InvalidGrant) => {
                let reason = "Google revoked CORBI's access (invalid_grant); an administrator must connect the account again";
                self.mark_needs_reconsent(connection, reason).await?;
                Err(ConnectionError::NeedsReconsent(reason.into()))
            }
            Err(RefreshError::Transient(cause)) => Err(ConnectionError::Unavailable(cause)),
        }
    }

    fn refresh_lock(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .refresh_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(connection_id.to_string()).or_default().clone()
    }

    async fn store_refreshed(
        &self,
        connection: &Connection,
        grant: &Grant,
    ) -> Result<(), ConnectionError> {
        let sealer = self.sealer()?;
        let access = sealer.seal(&grant.access_token, &format!("{}/access", connection.id))?;
        let mut secrets = self.load_secrets(connection).await?;
        if let Some(rotated) = &grant.refresh_token {
            secrets.refresh_token = Some(rotated.clone());
        }
        let refresh = secrets
            .refresh_token
            .as_deref()
            .map(|t| sealer.seal(t, &format!("{}/refresh", connection.id)))
            .transpose()?;
        sqlx::query(
            "UPDATE connections SET access_token_sealed = $1, refresh_token_sealed = $2, key_id = $3, \
                 access_expires_at = $4, updated_at = $5 WHERE id = $6 AND tenant_id = $7",
        )
        .bind(&access.blob)
        .bind(refresh.as_ref().map(|r| r.blob.as_str()))
        .bind(&access.key_id)
        .bind(timestamp(grant.expires_at))
        .bind(timestamp(Utc::now()))
        .bind(&connection.id)
        .bind(&connection.tenant_id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Marks a connection unusable until a person consents again; admins see the reason.
    pub async fn mark_needs_reconsent(
        &self,
        connection: &Connection,
        reason: &str,
    ) -> Result<(), ConnectionError> {
        tracing::warn!(connection_id = %connection.id, tenant_id = %connection.tenant_id, reason, "connection needs re-consent");
        sqlx::query(
            "UPDATE connections SET status = 'needs_reconsent', status_reason = $1, updated_at = $2 \
             WHERE id = $3 AND tenant_id = $4",
        )
        .bind(reason)
        .bind(timestamp(Utc::now()))
        .bind(&connection.id)
        .bind(&connection.tenant_id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn load_secrets(&self, connection: &Connection) -> Result<Secrets, ConnectionError> {
        let row = sqlx::query(
            "SELECT key_id, access_token_sealed, refresh_token_sealed, access_expires_at, status, status_reason \
             FROM connections WHERE id = $1 AND tenant_id = $2",
        )
        .bind(&connection.id)
        .bind(&connection.tenant_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(ConnectionError::Missing)?;
        let status: String = row.try_get("status")?;
        if status != "active" {
            let reason: Option<String> = row.try_get("status_reason")?;
            return Err(ConnectionError::NeedsReconsent(reason.unwrap_or_default()));
        }
        let sealer = self.sealer()?;
        let key_id: String = row.try_get("key_id")?;
        let access: String = row.try_get("access_token_sealed")?;
        let refresh: Option<String> = row.try_get("refresh_token_sealed")?;
        let expires: String = row.try_get("access_expires_at")?;
        Ok(Secrets {
            access_token: sealer.open(&key_id, &access, &format!("{}/access", connection.id))?,
            refresh_token: refresh
                .map(|blob| sealer.open(&key_id, &blob, &format!("{}/refresh", connection.id)))
                .transpose()?,
            expires_at: parse_timestamp(&expires)?,
        })
    }

    /// Re-seals every usable connection not sealed under the active key (after a key
    /// rotation); returns how many were moved. Connections that need re-consent get new tokens,
    /// sealed under the active key, when they are connected again.
    pub async fn reseal_all(&self) -> Result<usize, ConnectionError> {
        let sealer = self.sealer()?;
        let rows = sqlx::query(select_connection!(
            "WHERE key_id <> $1 AND status = 'active'"
        ))
        .bind(sealer.active_key_id())
        .fetch_all(self.db.pool())
        .await?;
        let mut moved = 0;
        for row in &rows {
            let connection = connection_from_row(row)?;
            let secrets = self.load_secrets(&connection).await?;
            let grant = Grant {
                access_token: secrets.access_token,
                refresh_token: secrets.refresh_token,
                expires_at: secrets.expires_at,
                scopes: None,
            };
            self.store_refreshed(&connection, &grant).await?;
            moved += 1;
        }
        Ok(moved)
    }
}

struct Secrets {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: DateTime<Utc>,
}

fn connection_from_row(row: &AnyRow) -> Result<Connection, ConnectionError> {
    let owner: String = row.try_get("owner")?;
    let scopes: String = row.try_get("scopes")?;
    let status: String = row.try_get("status")?;
    Ok(Connection {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        owner: Owner::from_key(&owner),
        account_email: row.try_get("account_email")?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        status: if status == "active" {
            ConnectionStatus::Active
        } else {
            ConnectionStatus::NeedsReconsent
        },
        status_reason: row.try_get("status_reason")?,
        key_id: row.try_get("key_id")?,
    })
}
