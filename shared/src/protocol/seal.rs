//! Sealing: every payload travels encrypted and authenticated with XChaCha20-Poly1305, bound to the
//! topic it is published on.
//!
//! Sealed bytes: `0x01 ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)`, AAD = the topic's UTF-8
//! bytes. The leading byte names the format so keys or ciphers can change later. Schedules are sealed
//! with the resource key, everything on a device's `up` and `down` topics with that device's key.
//! Random 192-bit nonces make reuse across devices and restarts negligible without any counter state.

use alloc::vec::Vec;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::ProtocolError;

/// The format byte that starts every sealed payload.
pub const SEAL_FORMAT: u8 = 1;
/// Length of the random nonce.
pub const NONCE_LEN: usize = 24;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Bytes a seal adds to a payload.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// A 256-bit AEAD key of a resource or a device; its `Debug` never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// Wraps raw key bytes (as handed out at enrollment).
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a key from a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw bytes, for storing or handing out the key.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl core::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

/// Seals `plaintext` for `topic` with a caller-chosen nonce; for targets without an OS random source.
/// The nonce must never repeat under one key.
pub fn seal_with_nonce(
    key: &SealKey,
    topic: &str,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let payload = Payload {
        msg: plaintext,
        aad: topic.as_bytes(),
    };
    let nonce = XNonce::from(nonce);
    // Encryption only fails for messages beyond 256 GiB, far past MAX_MESSAGE_BYTES.
    let ciphertext = key.cipher().encrypt(&nonce, payload).unwrap_or_default();
    let mut sealed = Vec::with_capacity(OVERHEAD + plaintext.len());
    sealed.push(SEAL_FORMAT);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

/// Seals `plaintext` for `topic` with a fresh random nonce from the operating system.
#[cfg(feature = "getrandom")]
pub fn seal(key: &SealKey, topic: &str, plaintext: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{AeadCore, OsRng};
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    seal_with_nonce(key, topic, plaintext, nonce.into())
}

/// Opens a sealed payload received on `topic`; a wrong key, another topic or any altered byte fails.
pub fn open(key: &SealKey, topic: &str, sealed: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let [format, rest @ ..] = sealed else {
        return Err(ProtocolError::Malformed);
    };
    if *format != SEAL_FORMAT || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(ProtocolError::Malformed);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| ProtocolError::Malformed)?;
    let payload = Payload {
        msg: ciphertext,
        aad: topic.as_bytes(),
    };
    key.cipher()
        .decrypt(&XNonce::from(nonce), payload)
        .map_err(|_| ProtocolError::SealBroken)
}
