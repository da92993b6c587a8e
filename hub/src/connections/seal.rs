//! Sealing secrets at rest with XChaCha20-Poly1305. The key comes from configuration, never from
//! the database; its id is stored beside each ciphertext so keys can rotate: data sealed under
//! an older key stays readable while that key is still configured, and re-sealing moves it to
//! the active key. The associated data binds each ciphertext to its row and field, so a
//! ciphertext copied into another row does not open.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use rand::RngCore;

use crate::config::EncryptionConfig;

/// Why sealing or opening failed. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// `ENCRYPTION_KEYS` is malformed.
    #[error("ENCRYPTION_KEYS is malformed: {0}")]
    BadKeys(&'static str),
    /// No key is configured, so secrets cannot be stored.
    #[error("no encryption key is configured (ENCRYPTION_KEYS)")]
    NoKey,
    /// The ciphertext names a key that is not configured.
    #[error("the data was sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// The ciphertext was tampered with, or belongs to another row.
    #[error("sealed data could not be opened")]
    Corrupt,
}

/// A secret sealed under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The key's id, stored beside the ciphertext.
    pub key_id: String,
    /// base64(nonce ‖ ciphertext ‖ tag).
    pub blob: String,
}

/// The configured keys; seals under the active one, opens under any.
#[derive(Clone)]
pub struct Sealer {
    keys: HashMap<String, XChaCha20Poly1305>,
    active: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Reads the keys from configuration.
    pub fn from_config(config: &EncryptionConfig) -> Result<Sealer, SealError> {
        let mut keys = HashMap::new();
        let mut first = None;
        for pair in config
            .keys
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (id, encoded) = pair
                .split_once(':')
                .ok_or(SealError::BadKeys("each key is id:base64"))?;
            let bytes = STANDARD
                .decode(encoded.trim())
                .map_err(|_| SealError::BadKeys("a key is not valid base64"))?;
            if bytes.len() != 32 {
                return Err(SealError::BadKeys("each key must be 32 bytes"));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| SealError::BadKeys("each key must be 32 bytes"))?;
            first.get_or_insert_with(|| id.to_string());
            keys.insert(id.to_string(), cipher);
        }
        let active = if config.active_key_id.is_empty() {
            first.ok_or(SealError::NoKey)?
        } else {
            config.active_key_id.clone()
        };
        if !keys.contains_key(&active) {
            return Err(SealError::BadKeys(
                "ENCRYPTION_KEY_ID names a key that is not listed",
            ));
        }
        Ok(Sealer { keys, active })
    }

    /// The id of the key new data is sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Seals `plaintext`, bound to `context` (row id and field name).
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<Sealed, SealError> {
        let cipher = self.keys.get(&self.active).ok_or(SealError::NoKey)?;
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.active.clone(),
            blob: STANDARD.encode(blob),
        })
    }

    /// Opens a sealed secret; fails for unknown keys, tampering or another context.
    pub fn open(&self, key_id: &str, blob: &str, context: &str) -> Result<String, SealError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let bytes = STANDARD.decode(blob).map_err(|_| SealError::Corrupt)?;
        if bytes.len() < 24 {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError::Corrupt)?;
        let plaintext = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plaintext).map_err(|_| SealError::Corrupt)
    }
}

/// A fresh random key in the `ENCRYPTION_KEYS` format (`id:base64`), for the demo and tests.
pub fn generate_key(id: &str) -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{id}:{}", STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn sealer(keys: &str, active: &str) -> Sealer {
        Sealer::from_config(&EncryptionConfig {
            keys: Secret::new(keys),
            active_key_id: active.into(),
        })
        .expect("valid keys")
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let k1 = generate_key("k1");
        let one = sealer(&k1, "");
        let sealed = one.seal("ya29.secret", "conn-1/access").expect("sealed");
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.blob.contains("ya29"));
        assert_eq!(
            one.open("k1", &sealed.blob, "conn-1/access")
                .expect("opens"),
            "ya29.secret"
        );
        assert!(matches!(
            one.open("k1", &sealed.blob, "conn-2/access"),
            Err(SealError::Corrupt)
        ));
        let other = sealer(&generate_key("k1"), "");
        assert!(matches!(
            other.open("k1", &sealed.blob, "conn-1/access"),
            Err(SealError::Corrupt)
        ));
    }

    #[test]
    fn rotation_keeps_old_data_readable_and_seals_under_the_new_key() {
        let k1 = generate_key("k1");
        let k2 = generate_key("k2");
        let old = sealer(&k1, "")
            .seal("refresh", "c/refresh")
            .expect("sealed");
        let both = sealer(&format!("{k1},{k2}"), "k2");
        assert_eq!(
            both.open(&old.key_id, &old.blob, "c/refresh")
                .expect("old opens"),
            "refresh"
        );
        assert_eq!(both.seal("x", "c").expect("sealed").key_id, "k2");
        let only_new = sealer(&k2, "");
        assert!(matches!(
            only_new.open("k1", &old.blob, "c/refresh"),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        for keys in ["nocolon", "k1:not-base64!", "k1:c2hvcnQ="] {
            let err = Sealer::from_config(&EncryptionConfig {
                keys: Secret::new(keys),
                active_key_id: String::new(),
            })
            .expect_err("refused");
            assert!(!err.to_string().contains(keys), "{err}");
        }
        let missing = Sealer::from_config(&EncryptionConfig::default());
        assert!(matches!(missing, Err(SealError::NoKey)));
    }
}
