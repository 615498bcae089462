//! OAuth clients: registration checks, secret hashing (argon2id) and client authentication.
//!
//! Secrets are stored only as argon2id PHC strings (OWASP parameters: m = 19 MiB, t = 2,
//! p = 1). Hashing costs tens of milliseconds by design; so that every token request does not
//! pay it, a successful verification is remembered in memory as an HMAC of the secret under a
//! per-process random key, tied to the stored PHC string (a changed secret invalidates it).
//! Client secrets are ≥ 32 random characters, so the cached HMAC is no easier to attack than
//! the secret itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Longest client ID.
pub const MAX_CLIENT_ID_LEN: usize = 128;
/// Most purposes per client.
pub const MAX_PURPOSES: usize = 32;
/// Most `may_exchange_for` entries per client.
pub const MAX_DELEGATIONS: usize = 16;

/// A registered client (as stored).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Client {
    /// The OAuth client ID.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string of the secret.
    pub secret_hash: String,
    /// Registered purpose attributes (`purpose:current`, …), sorted, without duplicates.
    pub purposes: Vec<String>,
    /// HPKE public key the PAT is sealed for (unpadded base64url, of the kind of the IdP's
    /// suite), if any.
    pub pat_public_key: Option<String>,
    /// Registration time, Unix seconds.
    pub created: i64,
    /// The SAML entity ID of the client's service: the audience the home IdP names in the
    /// assertions made for it. `None`: the client ID itself is compared with the audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Services whose assertions this client may also exchange (identity propagation): each
    /// an entity ID, or the client ID of another client (meaning that client's entity ID).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_exchange_for: Vec<String>,
}

impl Client {
    /// The audience value that names this client's service.
    pub fn audience_id(&self) -> &str {
        self.entity_id.as_deref().unwrap_or(&self.client_id)
    }
}

/// Checks the exchange-related registration fields; the error is `(field, reason)`.
pub fn validate_exchange_fields(
    entity_id: Option<&str>,
    may_exchange_for: &[String],
) -> Result<(), (String, String)> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= federation::verify::MAX_ENTITY_ID_LEN
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if entity_id.is_some_and(|e| !ok(e)) {
        return Err(("entity_id".into(), "must be 1-1024 characters without spaces".into()));
    }
    if may_exchange_for.len() > MAX_DELEGATIONS {
        return Err(("may_exchange_for".into(), format!("at most {MAX_DELEGATIONS} entries")));
    }
    for (i, d) in may_exchange_for.iter().enumerate() {
        if !ok(d) {
            return Err((
                format!("may_exchange_for[{i}]"),
                "must be 1-1024 characters without spaces".into(),
            ));
        }
    }
    Ok(())
}

/// Checks a registration; the error is `(field, reason)`.
pub fn validate_registration(
    client_id: &str,
    name: &str,
    purposes: &[String],
    pat_public_key: Option<&str>,
    suite: pbe_core::SuiteId,
) -> Result<(), (String, String)> {
    let id_ok = !client_id.is_empty()
        && client_id.len() <= MAX_CLIENT_ID_LEN
        && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~'));
    if !id_ok {
        return Err((
            "client_id".into(),
            format!("must be 1-{MAX_CLIENT_ID_LEN} characters of [A-Za-z0-9_.~-]"),
        ));
    }
    if name.len() > 256 || name.chars().any(char::is_control) {
        return Err(("name".into(), "must be at most 256 characters without control characters".into()));
    }
    if purposes.is_empty() || purposes.len() > MAX_PURPOSES {
        return Err(("purposes".into(), format!("must list 1-{MAX_PURPOSES} purposes")));
    }
    for (i, p) in purposes.iter().enumerate() {
        check_purpose(p).map_err(|r| (format!("purposes[{i}]"), r))?;
    }
    if let Some(k) = pat_public_key {
        // The PAT is sealed with the HPKE suite of this IdP's level: a key of another kind
        // would either fail at every grant or, worse, invite sealing below the suite's strength.
        let seal = federation::seal::SealSuite::for_suite(suite);
        federation::seal::check_public_key(seal, k).map_err(|e| {
            (
                "pat_public_key".to_owned(),
                format!("must be an HPKE {seal} public key for suite {suite}, unpadded base64url: {e}"),
            )
        })?;
    }
    Ok(())
}

/// Sorted, de-duplicated purposes.
pub fn normalize_purposes(purposes: &[String]) -> Vec<String> {
    let mut p = purposes.to_vec();
    p.sort();
    p.dedup();
    p
}

fn argon2() -> Argon2<'static> {
    // OWASP: argon2id, 19 MiB, 2 iterations, 1 lane.
    let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a client secret (argon2id PHC string). Blocking: tens of milliseconds.
pub fn hash_secret(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(secret.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// A fresh client secret: 32 random bytes, unpadded base64url (43 characters).
pub fn generate_secret() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Remembers successful secret verifications (see the module doc).
pub struct SecretCache {
    key: [u8; 32],
    entries: Mutex<HashMap<String, (String, [u8; 32])>>,
    /// A hash of a random secret, verified against for unknown client IDs.
    dummy: OnceLock<String>,
    /// argon2 verifications run (known and unknown clients alike); for tests and operators.
    argon2_runs: AtomicU64,
}

impl std::fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCache([redacted])")
    }
}

impl Default for SecretCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        SecretCache {
            key,
            entries: Mutex::new(HashMap::new()),
            dummy: OnceLock::new(),
            argon2_runs: AtomicU64::new(0),
        }
    }
}

impl SecretCache {
    fn mac(&self, client_id: &str, secret: &str) -> [u8; 32] {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        m.update(&(client_id.len() as u32).to_be_bytes());
        m.update(client_id.as_bytes());
        m.update(secret.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// Whether `secret` was verified for `client` before (an HMAC comparison, no argon2). A
    /// guess can never take this path: only the exact secret matches the remembered HMAC.
    pub fn remembered(&self, client: &Client, secret: &str) -> bool {
        let mac = self.mac(&client.client_id, secret);
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(&client.client_id)
            .is_some_and(|(phc, cached)| *phc == client.secret_hash && bool::from(cached.ct_eq(&mac)))
    }

    /// The one argon2 verification both known and unknown clients go through.
    fn argon2_verify(&self, phc: &str, secret: &str) -> bool {
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(secret.as_bytes(), &h).is_ok())
    }

    /// How many argon2 verifications ran since start.
    pub fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }

    /// For an unknown client ID: the same argon2 verification as for a known one, against a
    /// hash of a random secret, so that the answer takes as long (no timing oracle on which
    /// client IDs exist). Always `false`.
    pub fn verify_unknown(&self, secret: &str) -> bool {
        let dummy = self.dummy.get_or_init(|| hash_secret(&generate_secret()).unwrap_or_default());
        let _ = self.argon2_verify(dummy, secret);
        false
    }

    /// Whether `secret` is `client`'s. Blocking (argon2) unless remembered.
    pub fn verify(&self, client: &Client, secret: &str) -> bool {
        if self.remembered(client, secret) {
            return true;
        }
        let mac = self.mac(&client.client_id, secret);
        let ok = self.argon2_verify(&client.secret_hash, secret);
        if ok {
            let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(client.client_id.clone(), (client.secret_hash.clone(), mac));
        }
        ok
    }

    /// Forgets a client (its secret changed or it was deleted).
    pub fn forget(&self, client_id: &str) {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(client_id);
    }
}

/// A purpose attribute as registered: `purpose:<value>` or `ppurpose:<value>` (the names of
/// `pbe_core::disclosure`), lower-case `[a-z0-9_.-]`; the authority is this IdP's.
pub fn check_purpose(p: &str) -> Result<(), String> {
    let Some((name, value)) = p.split_once(':') else {
        return Err(format!("'{p}' is not name:value"));
    };
    if name != pbe_core::disclosure::PURPOSE && name != pbe_core::disclosure::PRIMARY_PURPOSE {
        return Err(format!(
            "'{p}': the name must be '{}' or '{}'",
            pbe_core::disclosure::PURPOSE,
            pbe_core::disclosure::PRIMARY_PURPOSE
        ));
    }
    match pbe_core::attribute::validate_identifier("value", value) {
        Ok(v) if v == value => Ok(()),
        _ => Err(format!("'{p}': the value must be lower-case [a-z0-9_.-]")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_hashed_secrets_and_remembers_only_the_right_one() {
        let secret = generate_secret();
        let client = Client {
            client_id: "shop".into(),
            name: String::new(),
            secret_hash: hash_secret(&secret).unwrap(),
            purposes: vec!["purpose:current".into()],
            pat_public_key: None,
            created: 0,
            entity_id: None,
            may_exchange_for: Vec::new(),
        };
        assert!(client.secret_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let cache = SecretCache::default();
        assert!(cache.verify(&client, &secret));
        assert!(cache.verify(&client, &secret), "from the cache");
        assert!(!cache.verify(&client, "wrong"));
        let mut changed = client.clone();
        changed.secret_hash = hash_secret("another secret of enough length 1234567").unwrap();
        assert!(!cache.verify(&changed, &secret), "a changed hash invalidates the cached secret");
    }

    #[test]
    fn registration_checks() {
        use federation::seal::{RecipientKey, SealSuite};
        use pbe_core::SuiteId;
        const D: SuiteId = SuiteId::Bls12_381;
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(validate_registration(
            "shop",
            "Shop",
            &p(&["purpose:current", "ppurpose:purchase"]),
            None,
            D
        )
        .is_ok());
        assert_eq!(
            validate_registration("", "", &p(&["purpose:current"]), None, D).unwrap_err().0,
            "client_id"
        );
        assert_eq!(
            validate_registration("a b", "", &p(&["purpose:current"]), None, D).unwrap_err().0,
            "client_id"
        );
        assert_eq!(validate_registration("s", "", &[], None, D).unwrap_err().0, "purposes");
        assert_eq!(
            validate_registration("s", "", &p(&["role:admin"]), None, D).unwrap_err().0,
            "purposes[0]"
        );
        assert_eq!(
            validate_registration("s", "", &p(&["purpose:current"]), Some("xx"), D).unwrap_err().0,
            "pat_public_key"
        );
        // The PAT key must be of the IdP's level: each level accepts its own kind only.
        let r = &mut rand_core::OsRng;
        for suite in SuiteId::ALL {
            for kind in SealSuite::ALL {
                let key = RecipientKey::generate(kind, r).public_text();
                let res = validate_registration("s", "", &p(&["purpose:current"]), Some(&key), suite);
                if kind == SealSuite::for_suite(suite) {
                    assert!(res.is_ok(), "{suite} {kind}");
                } else {
                    let (field, reason) = res.unwrap_err();
                    assert_eq!(field, "pat_public_key");
                    assert!(reason.contains(SealSuite::for_suite(suite).kem_name()), "{reason}");
                    assert!(reason.contains("different security levels"), "{reason}");
                }
            }
        }
        assert_eq!(normalize_purposes(&p(&["b:x", "a:y", "b:x"])), p(&["a:y", "b:x"]));
    }
}
