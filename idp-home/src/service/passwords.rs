//! Passwords: the [`Password`] wrapper, argon2id hashing and verification, and the dummy hash
//! that makes a sign-in with an unknown uid cost as much as one with a known uid. No state, no
//! HTTP: [`crate::service::accounts`] calls these.
//!
//! argon2id with m = 19456 KiB, t = 2, p = 1 (the OWASP recommendation) takes tens of
//! milliseconds of CPU; async callers run it on `tokio::task::spawn_blocking`.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use service_kit::secret::Secret;

/// Shortest password, characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password, characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A password: zeroed on drop, redacted in `Debug`; unlike the [`Secret`] it wraps, neither
/// cloned nor serialized.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Password(Secret);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(Secret::new(s))
    }

    /// The password (never log it).
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Whether the length is within [`MIN_PASSWORD_CHARS`]..=[`MAX_PASSWORD_CHARS`].
    pub fn length_ok(&self) -> bool {
        let n = self.expose().chars().count();
        (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

fn argon2() -> Result<Argon2<'static>, String> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password (argon2id PHC string).
pub fn hash_password(password: &Password) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string; `Err` only if the hash itself is unusable.
pub fn verify_password(hash: &str, password: &Password) -> Result<bool, String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    match argon2()?.verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

static DUMMY_HASH: OnceLock<Option<String>> = OnceLock::new();

/// A hash of a random password, verified against for unknown uids so that their sign-in takes
/// as long as a known uid's.
pub(crate) fn dummy_hash() -> Option<&'static str> {
    DUMMY_HASH
        .get_or_init(|| {
            let mut random = [0u8; 24];
            OsRng.fill_bytes(&mut random);
            hash_password(&Password::new(URL_SAFE_NO_PAD.encode(random))).ok()
        })
        .as_deref()
}

/// Computes the dummy hash now (called by `AppState::new`), so the first sign-in with an
/// unknown uid is not slower than the others.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_roundtrip_and_params() {
        let p = Password::new("correct horse battery");
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(&h, &p).unwrap());
        assert!(!verify_password(&h, &Password::new("wrong horse battery")).unwrap());
        assert!(verify_password("garbage", &p).is_err());
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }

    #[test]
    fn password_lengths() {
        assert!(!Password::new("a".repeat(MIN_PASSWORD_CHARS - 1)).length_ok());
        assert!(Password::new("a".repeat(MIN_PASSWORD_CHARS)).length_ok());
        assert!(Password::new("é".repeat(MAX_PASSWORD_CHARS)).length_ok());
        assert!(!Password::new("a".repeat(MAX_PASSWORD_CHARS + 1)).length_ok());
    }
}
