//! Random material of the edge: AEAD keys (standard base64 of 32 bytes, the enrollment
//! answer's format), MQTT passwords and enrollment codes, and a constant-time comparison.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use rand::{Rng, RngCore};
use shared::protocol::seal::SealKey;
use subtle::ConstantTimeEq;

/// Letters of enrollment codes: no 0/O, 1/I/L, so a code read aloud or typed on a tablet is
/// unambiguous.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A fresh random AEAD key.
pub fn random_key() -> SealKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SealKey::new(bytes)
}

/// The key as handed to devices and sealed at rest: standard base64.
pub fn encode_key(key: &SealKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Reads a key written by [`encode_key`].
pub fn decode_key(text: &str) -> Option<SealKey> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| SealKey::from_slice(&bytes))
}

/// A random secret of 256 bits (MQTT passwords, the hub's own broker login).
pub fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time enrollment code: 20 letters from a 31-letter alphabet (~99 bits) in groups of
/// four, short enough to type on a tablet, far too many to guess before it expires.
pub fn enrollment_code() -> String {
    let mut rng = rand::rng();
    let letters: Vec<char> = (0..20)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect();
    letters
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The form a code is hashed in: upper case, without dashes or spaces, so typing it in lower
/// case or without the dashes still works.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Compares two secrets (or their hashes) in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_grouped_and_normalize() {
        let a = enrollment_code();
        assert_ne!(a, enrollment_code());
        assert_eq!(a.len(), 24);
        assert_eq!(a.split('-').count(), 5);
        assert_eq!(normalize_code(&a.to_lowercase()), normalize_code(&a));
        assert_eq!(normalize_code(&a).len(), 20);
    }

    #[test]
    fn keys_round_trip_and_secrets_compare() {
        let key = random_key();
        assert_eq!(decode_key(&encode_key(&key)), Some(key));
        assert_eq!(decode_key("c2hvcnQ="), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert_ne!(secret(), secret());
    }
}
