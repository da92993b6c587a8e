//! Push channels: opened with `events.watch` (a fresh UUID and a per-channel random token,
//! stored only as a hash), renewed before expiry (new channel first, then `channels.stop` on the
//! old one, so no change goes unnoticed in between), and stopped when a resource is disabled.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{SyncError, store};
use crate::{
    config::SyncConfig,
    connections::Owner,
    db::{Db, new_id},
    google::{Google, GoogleError, scopes, types::Channel},
};

/// The webhook path Google posts to.
pub const WEBHOOK_PATH: &str = "/webhooks/google/calendar";

/// Hex SHA-256 of a channel token: what is stored and compared.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What opening channels needs.
#[derive(Clone)]
pub struct Channels {
    /// The Calendar client.
    pub google: Google,
    /// Where Google reaches this hub.
    pub public_url: String,
    /// Sync settings (channel lifetime).
    pub config: SyncConfig,
}

impl Channels {
    /// Opens a channel on a calendar and records it; answers the channel id.
    pub async fn open(
        &self,
        db: &Db,
        tenant_id: &str,
        calendar_id: &str,
        owner: &str,
    ) -> Result<String, SyncError> {
        let connection = self
            .google
            .connection(tenant_id, &Owner::from_key(owner), &[scopes::EVENTS])
            .await?;
        let id = new_id();
        let token = random_token();
        store::insert_channel(db, &id, tenant_id, calendar_id, owner, &token_hash(&token)).await?;
        let ttl = Duration::seconds(i64::try_from(self.config.channel_ttl_secs).unwrap_or(604_800));
        let request = Channel {
            id: Some(id.clone()),
            token: Some(token),
            kind_of_delivery: Some("web_hook".into()),
            address: Some(format!("{}{WEBHOOK_PATH}", self.public_url)),
            expiration: Some((Utc::now() + ttl).timestamp_millis().to_string()),
            ..Channel::default()
        };
        match self
            .google
            .events_watch(&connection, calendar_id, &request)
            .await
        {
            Ok(answer) => {
                let expires = answer
                    .expiration
                    .as_deref()
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or_else(|| Utc::now() + ttl);
                let resource_id = answer.resource_id.unwrap_or_default();
                store::activate_channel(db, &id, &resource_id, expires).await?;
                tracing::info!(channel_id = %id, %tenant_id, "push channel opened");
                Ok(id)
            }
            Err(err) => {
                store::set_channel_status(db, &id, "stopped").await?;
                Err(err.into())
            }
        }
    }

    /// Stops a channel at Google (an unknown one counts as stopped) and marks it stopped.
    pub async fn stop(&self, db: &Db, channel: &store::ChannelRow) -> Result<(), SyncError> {
        if let Some(resource_id) = &channel.google_resource_id {
            let connection = self
                .google
                .connection(
                    &channel.tenant_id,
                    &Owner::from_key(&channel.connection_owner),
                    &[scopes::EVENTS],
                )
                .await?;
            let body = Channel {
                id: Some(channel.id.clone()),
                resource_id: Some(resource_id.clone()),
                ..Channel::default()
            };
            match self.google.channels_stop(&connection, &body).await {
                Ok(()) | Err(GoogleError::NotFound) => {}
                Err(other) => return Err(other.into()),
            }
        }
        store::set_channel_status(db, &channel.id, "stopped").await?;
        tracing::info!(channel_id = %channel.id, "push channel stopped");
        Ok(())
    }

    /// Replaces a channel nearing expiry: the new one first, then the old one stopped.
    pub async fn renew(&self, db: &Db, old: &store::ChannelRow) -> Result<(), SyncError> {
        self.open(db, &old.tenant_id, &old.calendar_id, &old.connection_owner)
            .await?;
        store::set_channel_status(db, &old.id, "replaced").await?;
        self.stop(db, old).await
    }

    /// Stops every live channel of a calendar.
    pub async fn stop_all(
        &self,
        db: &Db,
        tenant_id: &str,
        calendar_id: &str,
    ) -> Result<(), SyncError> {
        for channel in store::live_channels(db, tenant_id, calendar_id).await? {
            self.stop(db, &channel).await?;
        }
        Ok(())
    }
}
