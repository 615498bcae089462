//! Private keys decoded once per process, for the signers that are handed DER bytes.
//!
//! With OpenSSL 3, decoding a key (through the provider decoders) and the first use of a fresh
//! RSA key (blinding set-up) cost about as much as an RSA signature; the IdP signs two XML
//! documents per SSO response and a web agent an AuthnRequest per sign-in, always with the
//! same one or two keys (docs/performance.md, issue 22). The caches hold keys the process
//! holds anyway, keyed by the SHA-256 of their encoding, and are bounded: when full they are
//! cleared (a process signs with one key, two during a rollover).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::Digest as _;

/// Most keys one cache keeps.
pub(crate) const MAX_KEYS: usize = 8;

/// Decoded keys of one kind.
pub(crate) struct KeyCache<K> {
    keys: Mutex<HashMap<[u8; 32], K>>,
}

impl<K> Default for KeyCache<K> {
    fn default() -> Self {
        KeyCache { keys: Mutex::new(HashMap::new()) }
    }
}

impl<K: Clone> KeyCache<K> {
    /// The key encoded as `der`, decoded by `decode` the first time. A decoding error is
    /// returned and not remembered.
    pub(crate) fn get<E>(&self, der: &[u8], decode: impl FnOnce(&[u8]) -> Result<K, E>) -> Result<K, E> {
        let id: [u8; 32] = sha2::Sha256::digest(der).into();
        // A poisoned lock only means another thread panicked between two map operations.
        if let Some(key) = self.keys.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Ok(key.clone());
        }
        // Decoded outside the lock: signers on other threads need not wait for it.
        let key = decode(der)?;
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(id, key.clone());
        Ok(key)
    }

    /// How many keys are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Signs the first signature template of `xml` (samael with xmlsec) with the key `key_der`
/// (PKCS#8 DER), decoded once per process.
pub(crate) fn sign_xml(xml: &str, key_der: &[u8]) -> Result<String, samael::crypto::CryptoError> {
    static KEYS: std::sync::LazyLock<KeyCache<std::sync::Arc<samael::crypto::XmlSigningKey>>> =
        std::sync::LazyLock::new(KeyCache::default);
    let key =
        KEYS.get(key_der, |der| samael::crypto::XmlSigningKey::from_der(der).map(std::sync::Arc::new))?;
    samael::crypto::sign_xml_with_key(xml.as_bytes(), &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_per_key_forgets_errors_and_stays_bounded() {
        let cache = KeyCache::<u64>::default();
        let mut decoded = 0;
        for round in 0..3 {
            for k in 0..MAX_KEYS as u8 {
                let got = cache.get(&[k], |der| {
                    decoded += 1;
                    Ok::<_, ()>(u64::from(der[0]) + 100)
                });
                assert_eq!(got, Ok(u64::from(k) + 100), "round {round}");
            }
        }
        assert_eq!(decoded, MAX_KEYS, "each key decoded once");
        assert_eq!(cache.get(&[200], |_| Err::<u64, _>("bad")), Err("bad"));
        assert_eq!(cache.len(), MAX_KEYS, "an error is not kept");
        assert_eq!(cache.get(&[201], |_| Ok::<_, ()>(1)), Ok(1));
        assert_eq!(cache.len(), 1, "full: cleared before the new key");
    }
}
