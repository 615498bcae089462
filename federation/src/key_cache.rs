//! Keys decoded once per process: private keys for the signers that are handed DER bytes, and
//! the public keys of the certificates the verifiers are handed.
//!
//! With OpenSSL 3, decoding a key (through the provider decoders) and the first use of a fresh
//! RSA key (blinding set-up) cost about as much as an RSA signature; the IdP signs two XML
//! documents per SSO response and a web agent an AuthnRequest per sign-in, always with the
//! same one or two keys (docs/performance.md, issue 22). The caches hold keys the process
//! holds anyway, keyed by the SHA-256 of their encoding, and are bounded: when full they are
//! cleared (a process signs with one key, two during a rollover).
//!
//! Verification is the same story on the other side: the agent's ACS, the visitor IdP's token
//! endpoint, the home IdP's AuthnRequest check and single logout each decoded the trusted
//! certificates at every call. The verification caches only memoise *decoding*: the caller
//! still passes the certificates its configuration or metadata trusts, and a certificate is
//! found again only by the SHA-256 of its whole DER encoding, so a certificate nobody passed
//! is never used, and two certificates are never confused.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sha2::Digest as _;

/// Most keys one signing-key cache keeps.
pub(crate) const MAX_KEYS: usize = 8;
/// Most certificates one verification cache keeps: every certificate of every trusted peer
/// (at most `MAX_CERTS_PER_IDP` per IdP, a few peers per service) fits.
pub(crate) const MAX_CERTS: usize = 64;

/// Decoded keys of one kind.
pub(crate) struct KeyCache<K> {
    keys: Mutex<HashMap<[u8; 32], K>>,
    max: usize,
}

impl<K> Default for KeyCache<K> {
    fn default() -> Self {
        KeyCache::with_max(MAX_KEYS)
    }
}

impl<K> KeyCache<K> {
    /// An empty cache that keeps at most `max` keys.
    pub(crate) fn with_max(max: usize) -> Self {
        KeyCache { keys: Mutex::new(HashMap::new()), max: max.max(1) }
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
        if keys.len() >= self.max {
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
    static KEYS: LazyLock<KeyCache<Arc<samael::crypto::XmlSigningKey>>> = LazyLock::new(KeyCache::default);
    let key = KEYS.get(key_der, |der| samael::crypto::XmlSigningKey::from_der(der).map(Arc::new))?;
    samael::crypto::sign_xml_with_key(xml.as_bytes(), &key)
}

/// The public key of the certificate `cert_der` (X.509 DER) as xmlsec uses it, decoded once
/// per process.
pub(crate) fn verification_key(
    cert_der: &[u8],
) -> Result<Arc<samael::crypto::XmlVerificationKey>, samael::crypto::CryptoError> {
    static KEYS: LazyLock<KeyCache<Arc<samael::crypto::XmlVerificationKey>>> =
        LazyLock::new(|| KeyCache::with_max(MAX_CERTS));
    KEYS.get(cert_der, |der| samael::crypto::XmlVerificationKey::from_cert_der(der).map(Arc::new))
}

/// Verifies every XML signature of `xml` against any of `certs_der` (X.509 DER, the caller's
/// trusted certificates, tried in order) and returns what `mode` says (samael's
/// `reduce_xml_to_signed_with_allowed_algorithms`), with each certificate decoded once per
/// process. A certificate that does not decode fails the call, as it does in samael.
pub(crate) fn reduce_xml_to_signed<C: AsRef<[u8]>>(
    xml: &str,
    certs_der: &[C],
    mode: samael::crypto::ReduceMode,
    allowed: Option<&[samael::crypto::AllowedSignatureAlgorithm]>,
) -> Result<String, samael::crypto::CryptoError> {
    let keys = certs_der.iter().map(|c| verification_key(c.as_ref())).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&samael::crypto::XmlVerificationKey> = keys.iter().map(|k| &**k).collect();
    samael::crypto::reduce_xml_to_signed_with_keys(xml, &refs, mode, allowed)
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

    #[test]
    fn a_smaller_bound_is_kept() {
        let cache = KeyCache::<u8>::with_max(2);
        for k in 0..5u8 {
            assert_eq!(cache.get(&[k], |der| Ok::<_, ()>(der[0])), Ok(k));
            assert!(cache.len() <= 2, "bounded");
        }
        assert_eq!(KeyCache::<u8>::with_max(0).get(&[7], |d| Ok::<_, ()>(d[0])), Ok(7), "at least one");
    }

    fn signed_by(signer: &crate::testing::TestSigner, id: &str) -> String {
        let template = crate::testing::Template {
            id: id.into(),
            issuer: "https://idp.example".into(),
            name_id: "bob".into(),
            recipient: "https://sp.example/acs".into(),
            audience: "https://sp.example".into(),
            now: 1_760_000_000,
            session_index: "s1".into(),
            signature_method: crate::testing::RSA_SHA256,
            digest_method: crate::testing::SHA256,
        };
        sign_xml(&template.to_xml(), &signer.key_der).unwrap()
    }

    fn uncached(xml: &str, certs: &[&crate::testing::TestSigner]) -> Result<String, String> {
        use samael::crypto::{CertificateDer, Crypto, CryptoProvider as _};
        let certs: Vec<CertificateDer> =
            certs.iter().map(|s| CertificateDer::from(s.cert_der.clone())).collect();
        Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &certs,
            samael::crypto::ReduceMode::PreDigest,
            Some(crate::verify::ALLOWED_ALGORITHMS),
        )
        .map_err(|e| e.to_string())
    }

    fn cached(xml: &str, certs: &[&crate::testing::TestSigner]) -> Result<String, String> {
        let certs: Vec<&[u8]> = certs.iter().map(|s| s.cert_der.as_slice()).collect();
        reduce_xml_to_signed(
            xml,
            &certs,
            samael::crypto::ReduceMode::PreDigest,
            Some(crate::verify::ALLOWED_ALGORITHMS),
        )
        .map_err(|e| e.to_string())
    }

    /// The cached keys give exactly what samael gives with the DER certificates, for a good
    /// signature, a forged one and a wrong key, several times over (the second time from the
    /// cache), and a certificate is never confused with another one already cached.
    #[test]
    fn cached_verification_keys_verify_as_samael_does_and_are_not_confused() {
        let (a, b, c) = (
            crate::testing::TestSigner::new(31),
            crate::testing::TestSigner::new(32),
            crate::testing::TestSigner::new(33),
        );
        let by_a = signed_by(&a, "_a1");
        let by_b = signed_by(&b, "_b1");
        let forged = by_a.replace(
            "<saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">bob",
            "<saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">eve",
        );
        assert_ne!(forged, by_a, "the forgery changed the signed content");
        for round in 0..3 {
            for (xml, certs, ok) in [
                (&by_a, vec![&a], true),
                (&by_a, vec![&b], false),
                (&by_a, vec![&b, &c], false),
                (&by_a, vec![&b, &a], true),
                (&by_b, vec![&a, &c], false),
                (&by_b, vec![&c, &b], true),
                (&forged, vec![&a], false),
                (&forged, vec![&a, &b, &c], false),
            ] {
                let (got, want) = (cached(xml, &certs), uncached(xml, &certs));
                assert_eq!(got.is_ok(), ok, "round {round}");
                assert_eq!(got, want, "round {round}: same result as samael with the DER");
            }
        }
        assert!(
            cached(&by_a, &[] as &[&crate::testing::TestSigner]).is_err(),
            "no certificate, no signature"
        );
        let not_a_cert =
            reduce_xml_to_signed(&by_a, &[vec![1u8, 2, 3]], samael::crypto::ReduceMode::PreDigest, None);
        assert!(not_a_cert.is_err(), "a certificate that does not decode fails the call");
        // Different certificates sharing a cache slot are never looked up: each entry is the
        // SHA-256 of a whole DER, and only the caller's certificates are tried.
        let (ka, kb) = (verification_key(&a.cert_der).unwrap(), verification_key(&b.cert_der).unwrap());
        assert!(!Arc::ptr_eq(&ka, &kb));
        assert!(Arc::ptr_eq(&ka, &verification_key(&a.cert_der).unwrap()), "decoded once");
    }
}
