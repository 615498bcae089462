//! Passwords: the [`Password`] wrapper, argon2id hashing and verification, and the dummy hash
//! that makes a sign-in with an unknown uid cost as much as one with a known uid. No state, no
//! HTTP: [`crate::service::accounts`] calls these.
//!
//! argon2id with m = 19456 KiB, t = 2, p = 1 (the OWASP recommendation) takes tens of
//! milliseconds of CPU; requests run it through the bounded [`crate::service::hashing::HashPool`]
//! with the `*_in` functions, which reuse the pool's block buffers.

use std::sync::OnceLock;

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// A password received in a wire type ([`federation::api::TokenRequest`], …).
impl From<Secret> for Password {
    fn from(s: Secret) -> Self {
        Password(s)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// argon2id memory, KiB (= 1 KiB blocks).
const M_COST: u32 = 19_456;

/// The argon2 blocks one hash with our parameters needs: the size of a
/// [`crate::service::hashing::HashPool`] buffer.
pub const BLOCK_COUNT: usize = M_COST as usize;

fn argon2() -> Result<Argon2<'static>, String> {
    let params = Params::new(M_COST, 2, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// [`hash_password`] in a caller's block buffer (the hash pool's), so no 19 MiB allocation per
/// hash.
pub fn hash_password_in(blocks: &mut [Block], password: &Password) -> Result<String, String> {
    let argon = argon2()?;
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = blocks.get_mut(..argon.params().block_count()).ok_or("the hash buffer is too small")?;
    argon
        .hash_password_into_with_memory(password.expose().as_bytes(), salt_raw, &mut out, blocks)
        .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

/// [`verify_password`] in a caller's block buffer. A stored hash whose parameters need more
/// memory than the buffer is an error (every hash this IdP writes fits).
pub fn verify_password_in(blocks: &mut [Block], hash: &str, password: &Password) -> Result<bool, String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| e.to_string())?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let expected = parsed.hash.ok_or("the stored hash has no output")?;
    let salt = parsed.salt.ok_or("the stored hash has no salt")?;
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
    let blocks =
        blocks.get_mut(..params.block_count()).ok_or("the stored hash needs more memory than a hash slot")?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.expose().as_bytes(), salt_raw, &mut out, blocks)
        .map_err(|e| e.to_string())?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(|e| e.to_string())? == expected)
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
    fn pooled_hashes_match_the_library() {
        let mut blocks = vec![Block::default(); BLOCK_COUNT];
        let p = Password::new("correct horse battery");
        let wrong = Password::new("wrong horse battery");
        let pooled = hash_password_in(&mut blocks, &p).unwrap();
        assert!(pooled.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        // Each reads the other's hashes: stored hashes stay valid whichever wrote them.
        assert!(verify_password(&pooled, &p).unwrap());
        assert!(!verify_password(&pooled, &wrong).unwrap());
        let library = hash_password(&p).unwrap();
        assert!(verify_password_in(&mut blocks, &library, &p).unwrap());
        assert!(!verify_password_in(&mut blocks, &library, &wrong).unwrap());
        assert!(verify_password_in(&mut blocks, "garbage", &p).is_err());
        // A buffer too small for the parameters is an error, not a panic.
        assert!(verify_password_in(&mut blocks[..16], &library, &p).is_err());
        assert!(hash_password_in(&mut blocks[..16], &p).is_err());
    }

    #[test]
    fn password_lengths() {
        assert!(!Password::new("a".repeat(MIN_PASSWORD_CHARS - 1)).length_ok());
        assert!(Password::new("a".repeat(MIN_PASSWORD_CHARS)).length_ok());
        assert!(Password::new("é".repeat(MAX_PASSWORD_CHARS)).length_ok());
        assert!(!Password::new("a".repeat(MAX_PASSWORD_CHARS + 1)).length_ok());
    }
}
