//! The signature of a propagated call: the agent's Ed25519 key (created once, private, in
//! the data directory), what the signature covers ([`CallParts`]), the TAT re-sealed for the
//! partner under its own HPKE `info`, and the headers that carry all of it.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::PartnerConfig;
use crate::headers::{
    ASSERTION_HEADER, KEY_HEADER, NONCE_HEADER, PII_HEADER, SIGNATURE_HEADER, TAT_HEADER, TIMESTAMP_HEADER,
};
use crate::keys::KeyFileError;
use crate::session::Propagation;

/// File name of the agent's call-signing key in the data directory.
pub const SIGNING_KEY_FILE: &str = "call-ed25519.key";

/// The agent's Ed25519 key that signs propagated calls.
pub struct CallSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CallSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSigner").field("public", &self.public_text()).finish_non_exhaustive()
    }
}

impl CallSigner {
    /// A fresh key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        CallSigner { key: SigningKey::generate(rng) }
    }

    /// Loads `<data_dir>/call-ed25519.key`, creating it (mode 0600) when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<CallSigner, KeyFileError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let err = |reason: String| KeyFileError { path: path.clone(), reason };
        service_kit::files::ensure_private_dir(data_dir).map_err(|e| err(e.to_string()))?;
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
            let secret: [u8; 32] =
                bytes.as_slice().try_into().map_err(|_| err("not a 32-byte Ed25519 key".into()))?;
            return Ok(CallSigner { key: SigningKey::from_bytes(&secret) });
        }
        let signer = CallSigner::generate(&mut rand_core::OsRng);
        let secret = Zeroizing::new(signer.key.to_bytes());
        service_kit::files::write_private(&path, secret.as_slice(), 0o600).map_err(|e| err(e.to_string()))?;
        Ok(signer)
    }

    /// The public key, unpadded base64url (what partners configure in `[[callers]]`).
    pub fn public_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// Signs `parts`.
    pub fn sign(&self, parts: &CallParts<'_>) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(&parts.message()).to_bytes())
    }
}

/// Parses an Ed25519 public key in unpadded base64url.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The HPKE `info` of a TAT re-sealed for a partner: `"idaas propagated TAT v1"`, then the
/// partner's entity ID, the SessionIndex and the assertion ID, each with a 4-byte big-endian
/// length. Distinct from [`federation::seal::tat_info`], so a propagated TAT is never taken
/// for one the home IdP sealed (and vice versa), and bound to the one assertion it travels with.
pub fn tat_info(partner_entity_id: &str, session_index: &str, assertion_id: &str) -> Vec<u8> {
    let mut info = b"idaas propagated TAT v1".to_vec();
    for part in [partner_entity_id, session_index, assertion_id] {
        info.extend_from_slice(&(part.len() as u32).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    info
}

/// What a call signature covers.
#[derive(Debug, Clone)]
pub struct CallParts<'a> {
    /// The partner's entity ID (so a call cannot be replayed at another partner).
    pub audience: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The backend path and query at the partner (`/ship?x=1`).
    pub path_and_query: &'a str,
    /// Unix seconds.
    pub timestamp: i64,
    /// The nonce (hex).
    pub nonce: &'a str,
    /// The request body.
    pub body: &'a [u8],
    /// The assertion header value.
    pub assertion: &'a str,
    /// The sealed TAT header value.
    pub sealed_tat: &'a str,
    /// The sealed PII bundle header value.
    pub sealed_pii: &'a str,
}

impl CallParts<'_> {
    /// The signed message: one field per line, the large ones as SHA-256 (hex).
    pub fn message(&self) -> Vec<u8> {
        let h = |b: &[u8]| hex::encode(Sha256::digest(b));
        format!(
            "idaas-call-v2\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.audience,
            self.method,
            self.path_and_query,
            self.timestamp,
            self.nonce,
            h(self.body),
            h(self.assertion.as_bytes()),
            h(self.sealed_tat.as_bytes()),
            h(self.sealed_pii.as_bytes()),
        )
        .into_bytes()
    }
}

/// The headers of a propagated call for `partner`, signed by `signer`. `pii_bundle` is the
/// bundle fetched from the home IdP (`federation::pii`), re-sealed here for the partner under
/// [`crate::pii::propagated_info`].
#[allow(clippy::too_many_arguments)] // each is one signed field
pub fn call_headers<R: RngCore + CryptoRng>(
    signer: &CallSigner,
    partner: &PartnerConfig,
    seal_suite: federation::seal::SealSuite,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    session_index: &str,
    propagation: &Propagation,
    pii_bundle: &[u8],
    now: i64,
    rng: &mut R,
) -> Result<Vec<(&'static str, String)>, federation::seal::SealError> {
    let audience = partner.entity_id();
    let info = tat_info(&audience, session_index, &propagation.assertion_id);
    let sealed_tat = federation::seal::seal(seal_suite, &partner.tat_key, &info, &propagation.tat, rng)?;
    let pii_info = crate::pii::propagated_info(&audience, session_index, &propagation.assertion_id);
    let sealed_pii = federation::seal::seal(seal_suite, &partner.tat_key, &pii_info, pii_bundle, rng)?;
    let assertion = URL_SAFE_NO_PAD.encode(propagation.assertion_xml.as_bytes());
    let mut n = [0u8; 16];
    rng.fill_bytes(&mut n);
    let nonce = hex::encode(n);
    let parts = CallParts {
        audience: &audience,
        method,
        path_and_query,
        timestamp: now,
        nonce: &nonce,
        body,
        assertion: &assertion,
        sealed_tat: &sealed_tat,
        sealed_pii: &sealed_pii,
    };
    let signature = signer.sign(&parts);
    Ok(vec![
        (KEY_HEADER, signer.public_text()),
        (SIGNATURE_HEADER, signature),
        (TIMESTAMP_HEADER, now.to_string()),
        (NONCE_HEADER, nonce),
        (ASSERTION_HEADER, assertion),
        (TAT_HEADER, sealed_tat),
        (PII_HEADER, sealed_pii),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signature;
    use rand_chacha::rand_core::SeedableRng;

    fn parts<'a>(body: &'a [u8]) -> CallParts<'a> {
        CallParts {
            audience: "https://delivery/saml/metadata",
            method: "POST",
            path_and_query: "/ship",
            timestamp: 100,
            nonce: "00112233445566778899aabbccddeeff",
            body,
            assertion: "a",
            sealed_tat: "t",
            sealed_pii: "p",
        }
    }

    #[test]
    fn every_field_is_signed() {
        let r = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let signer = CallSigner::generate(r);
        let key = parse_public_key(&signer.public_text()).unwrap();
        let p = parts(b"{}");
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signer.sign(&p)).unwrap()).unwrap();
        assert!(key.verify_strict(&p.message(), &sig).is_ok());
        let variants = [
            CallParts { audience: "https://other/saml/metadata", ..p.clone() },
            CallParts { method: "GET", ..p.clone() },
            CallParts { path_and_query: "/ship?x", ..p.clone() },
            CallParts { timestamp: 101, ..p.clone() },
            CallParts { nonce: "00112233445566778899aabbccddeefe", ..p.clone() },
            CallParts { body: b"{ }", ..p.clone() },
            CallParts { assertion: "b", ..p.clone() },
            CallParts { sealed_tat: "u", ..p.clone() },
            CallParts { sealed_pii: "q", ..p.clone() },
        ];
        for v in variants {
            assert!(key.verify_strict(&v.message(), &sig).is_err(), "{v:?}");
        }
        let other = CallSigner::generate(r);
        assert!(parse_public_key(&other.public_text()).unwrap().verify_strict(&p.message(), &sig).is_err());
        assert!(parse_public_key("AAAA").is_none());
    }

    #[test]
    fn propagated_tat_info_is_distinct_and_unambiguous() {
        assert_ne!(tat_info("a", "s", "id"), federation::seal::tat_info("a", "s"));
        assert_ne!(tat_info("ab", "c", "d"), tat_info("a", "bc", "d"));
    }

    #[test]
    fn signing_key_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = CallSigner::load_or_create(dir.path()).unwrap();
        let b = CallSigner::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_text(), b.public_text());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
