//! Enrollment: trading a one-time code for the device's identity, and keeping that identity in the
//! data directory so the device never needs the code again.
//!
//! `POST {hub}/api/v1/devices/enroll` with `{"enrollment_code": "…"}` answers an
//! [`EnrollmentResponse`] (the hub builds exactly this JSON). It is saved as
//! `credentials.json` (mode 0600) and checked into a [`DeviceIdentity`] before use.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use shared::protocol::seal::SealKey;
use shared::protocol::topics;

/// Name of the credentials file inside the data directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// Why enrollment or loading the saved identity failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The hub could not be reached or answered with an error status.
    #[error("enrollment request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The credentials file could not be read or written.
    #[error("credentials file {path}: {source}")]
    File {
        /// The file concerned.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The credentials file is not valid JSON of the expected shape.
    #[error("credentials file is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    /// A key is not 32 bytes of standard base64.
    #[error("the {0} is not a base64 32-byte key")]
    BadKey(&'static str),
    /// A topic handed out does not match the protocol's tree for this device.
    #[error("the {0} topic does not match this device's topic tree")]
    TopicMismatch(&'static str),
    /// No saved credentials and no enrollment code to get them.
    #[error("the device is not enrolled: pass an enrollment code")]
    NotEnrolled,
    /// An id cannot be used in a topic.
    #[error("an id in the credentials cannot be used as a topic level")]
    BadId,
}

/// A secret string: serialized as is, but never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The body of `POST /api/v1/devices/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentRequest {
    /// The one-time code an admin created for the resource.
    pub enrollment_code: Secret,
}

/// The hub's answer to an enrollment: everything the device needs, once. Also the saved
/// credentials file's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentResponse {
    /// The device's id; also its MQTT client id and a level of its topics.
    pub device_id: String,
    /// Bearer token for the device's HTTPS calls (`Authorization: Bearer …`).
    pub device_token: Secret,
    /// The one resource the device serves.
    pub resource_id: String,
    /// The tenant owning the resource.
    pub tenant_id: String,
    /// How to reach the broker.
    pub mqtt: MqttGrant,
    /// The AEAD keys, standard base64 of 32 bytes each.
    pub keys: KeyGrant,
}

/// The broker part of an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttGrant {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// The device's broker login.
    pub username: String,
    /// The device's broker password.
    pub password: Secret,
    /// The device's topics, as built by `shared::protocol::topics`.
    pub topics: TopicGrant,
}

/// The topics a device uses; the agent checks them against the protocol's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicGrant {
    /// Retained schedule of the resource (subscribe).
    pub schedule: String,
    /// The device's outgoing topic (publish).
    pub up: String,
    /// The hub's answers to the device (subscribe).
    pub down: String,
}

/// The keys of an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGrant {
    /// Opens the resource's schedule (base64).
    pub resource_key: Secret,
    /// Seals the device's messages and opens the hub's answers (base64).
    pub device_key: Secret,
}

/// A checked enrollment: decoded keys and topics known to match the protocol.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    /// The saved enrollment it was built from.
    pub enrollment: EnrollmentResponse,
    /// Opens the schedule.
    pub resource_key: SealKey,
    /// Seals up-messages and opens down-messages.
    pub device_key: SealKey,
}

impl DeviceIdentity {
    /// Checks an enrollment: keys decode to 32 bytes, topics are this device's.
    pub fn from_enrollment(enrollment: EnrollmentResponse) -> Result<Self, EnrollError> {
        let tenant = enrollment.tenant_id.as_str();
        let resource = enrollment.resource_id.as_str();
        let device = enrollment.device_id.as_str();
        let granted = &enrollment.mqtt.topics;
        let expected = [
            (
                "schedule",
                topics::schedule(tenant, resource),
                &granted.schedule,
            ),
            ("up", topics::up(tenant, resource, device), &granted.up),
            (
                "down",
                topics::down(tenant, resource, device),
                &granted.down,
            ),
        ];
        for (name, built, given) in expected {
            if &built.map_err(|_| EnrollError::BadId)? != given {
                return Err(EnrollError::TopicMismatch(name));
            }
        }
        Ok(Self {
            resource_key: decode_key(&enrollment.keys.resource_key, "resource key")?,
            device_key: decode_key(&enrollment.keys.device_key, "device key")?,
            enrollment,
        })
    }

    /// The topics the device uses.
    pub fn topics(&self) -> &TopicGrant {
        &self.enrollment.mqtt.topics
    }
}

fn decode_key(secret: &Secret, name: &'static str) -> Result<SealKey, EnrollError> {
    STANDARD
        .decode(secret.expose())
        .ok()
        .and_then(|bytes| SealKey::from_slice(&bytes))
        .ok_or(EnrollError::BadKey(name))
}

/// Trades an enrollment code for the device's credentials at `hub_url`.
pub async fn enroll(
    client: &reqwest::Client,
    hub_url: &str,
    code: &str,
) -> Result<EnrollmentResponse, EnrollError> {
    let url = format!("{}/api/v1/devices/enroll", hub_url.trim_end_matches('/'));
    let body = EnrollmentRequest {
        enrollment_code: Secret::new(code),
    };
    let response = client.post(url).json(&body).send().await?;
    Ok(response.error_for_status()?.json().await?)
}

/// Saves the credentials in `data_dir`, readable by the owner only.
pub fn save_credentials(data_dir: &Path, creds: &EnrollmentResponse) -> Result<(), EnrollError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let json = serde_json::to_vec_pretty(creds)?;
    let file_error = |source| EnrollError::File {
        path: path.clone(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(file_error)?;
    file.write_all(&json).map_err(file_error)?;
    file.sync_all().map_err(file_error)
}

/// Loads saved credentials from `data_dir`; `None` when the device was never enrolled.
pub fn load_credentials(data_dir: &Path) -> Result<Option<EnrollmentResponse>, EnrollError> {
    let path = data_dir.join(CREDENTIALS_FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EnrollError::File { path, source }),
    }
}

/// The device's identity: the saved credentials if any, otherwise a fresh enrollment with `code`
/// (then saved). Without either, the device cannot start.
pub async fn load_or_enroll(
    data_dir: &Path,
    hub_url: &str,
    code: Option<&str>,
) -> Result<DeviceIdentity, EnrollError> {
    let enrollment = match (load_credentials(data_dir)?, code) {
        (Some(saved), _) => saved,
        (None, Some(code)) => {
            let fresh = enroll(&reqwest::Client::new(), hub_url, code).await?;
            save_credentials(data_dir, &fresh)?;
            fresh
        }
        (None, None) => return Err(EnrollError::NotEnrolled),
    };
    DeviceIdentity::from_enrollment(enrollment)
}
