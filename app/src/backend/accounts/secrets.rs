//! Random secrets, their SHA-256 digests, and argon2id password hashes (computed off the async
//! runtime: each takes tens of milliseconds of CPU).

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::backend::AppError;

/// A hash of a random password, verified against when a username does not exist, so a failed
/// sign-in takes as long whether or not the account exists.
static DECOY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| Argon2::default().hash_password(new_secret().as_bytes()).ok().map(|h| h.to_string()));

/// 256 random bits, URL-safe base64 (43 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a secret, in hex: what the database stores instead of the secret.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// An argon2id hash of `password` in PHC string format.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::Internal(format!("password hashing stopped: {e}")))?
    .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

/// Whether `password` matches `hash`; with no hash (unknown user, guest) it checks against a
/// decoy and answers false.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let real = hash.is_some();
        let Some(hash) = hash.or_else(|| DECOY_HASH.clone()) else { return false };
        let matches = Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok();
        real && matches
    })
    .await
    .map_err(|e| AppError::Internal(format!("password check stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_url_safe() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(sha256_hex("abc").len(), 64);
    }

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!verify_password("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!verify_password("correct horse".into(), None).await.unwrap());
    }
}
