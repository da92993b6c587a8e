//! Secret tokens: 256 random bits, a readable prefix that says what kind of token it is (so a
//! leaked one is recognisable in a secret scanner), stored only as a SHA-256 hash. A fast hash
//! is right here because the tokens are random, not chosen by people.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a token is for; decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A person's personal access token.
    Personal,
    /// An API key (AI voice agents).
    ApiKey,
    /// A device token from enrollment.
    Device,
    /// The `state` of an OAuth authorization in progress.
    OAuthState,
    /// A browser session's cookie.
    Session,
    /// A one-time sign-in link.
    SigninLink,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Personal => "corbi_pat_",
            TokenKind::ApiKey => "corbi_key_",
            TokenKind::Device => "corbi_dev_",
            TokenKind::OAuthState => "corbi_oas_",
            TokenKind::Session => "corbi_ses_",
            TokenKind::SigninLink => "corbi_lnk_",
        }
    }

    /// The `credentials.kind` value of this kind of token.
    pub fn stored_kind(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal_token",
            TokenKind::ApiKey => "api_key",
            TokenKind::Device => "device_token",
            TokenKind::OAuthState => "oauth_state",
            TokenKind::Session => "session",
            TokenKind::SigninLink => "signin_link",
        }
    }
}

/// Makes a new random token of the given kind.
pub fn generate(kind: TokenKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let a = generate(TokenKind::ApiKey);
        let b = generate(TokenKind::ApiKey);
        assert_ne!(a, b);
        assert!(a.starts_with("corbi_key_"));
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a));
    }
}
