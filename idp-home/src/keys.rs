//! Key material created on first start and reused afterwards (DESIGN.md §6: mode 0600):
//!
//! - `saml-signing.key` — RSA-2048 PKCS#8 DER for XML signatures (samael's xmlsec signing uses
//!   RSA; EC keys fail with its hard-coded method, DESIGN.md §9);
//! - `saml-signing.crt.pem` — its self-signed certificate (rcgen), published in the metadata;
//! - `abe-<authority>.msk` — the ABE authority's master secret key (`federation::authority`);
//! - `pii-ref.key` — the HMAC key of `idaas:pii-ref` references ([`crate::pii_ref`]).

use std::path::{Path, PathBuf};

use federation::authority::AuthorityKey;
use federation::signing_key::SigningKey;
use std::sync::Arc;

use crate::signing_keys::SigningKeys;
use pbe_core::SuiteId;
use rand_core::{CryptoRng, RngCore};
use service_kit::files::ensure_private_dir;
use zeroize::Zeroizing;

/// Why key material could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// File-system failure, naming the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file exists but is not valid, naming the file.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Maps an I/O error to [`KeysError::Io`] naming `path`.
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io { path: path.to_owned(), source }
}

/// This IdP's key material.
pub struct Keys {
    signing: SigningKeys,
    authority: AuthorityKey,
    pii_ref: crate::pii_ref::PiiRefKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("authority", &self.authority_name())
            .field("secrets", &"[redacted]")
            .finish()
    }
}

impl Keys {
    /// Loads the key material from `data_dir`, creating what is missing; a signing-key
    /// rollover takes the default overlap ([`Keys::load_with_overlap`]).
    pub fn load_or_create(data_dir: &Path, authority: &str, suite: SuiteId) -> Result<Keys, KeysError> {
        Self::load_with_overlap(data_dir, authority, suite, crate::signing_keys::DEFAULT_OVERLAP_SECS)
    }

    /// [`Keys::load_or_create`], with `signing_key_overlap_secs` between publishing the next
    /// SAML signing key and signing with it.
    pub fn load_with_overlap(
        data_dir: &Path,
        authority: &str,
        suite: SuiteId,
        overlap_secs: u64,
    ) -> Result<Keys, KeysError> {
        ensure_private_dir(data_dir).map_err(io(data_dir))?;
        let signing =
            SigningKeys::load(data_dir, &format!("idaas home IdP {authority} SAML signing"), overlap_secs)?;

        let authority = AuthorityKey::load_or_create(data_dir, authority, suite)
            .map_err(|e| KeysError::Invalid { path: e.path, reason: e.reason })?;
        let pii_ref = crate::pii_ref::PiiRefKey::load_or_create(data_dir)?;
        Ok(Keys { signing, authority, pii_ref })
    }

    /// The XML-signing key (and certificate) to sign with at `now` (see
    /// [`crate::signing_keys`] for the rollover).
    pub fn signing(&self, now: i64) -> Arc<SigningKey> {
        self.signing.current(now)
    }

    /// The signing keys and their rollover.
    pub fn signing_keys(&self) -> &SigningKeys {
        &self.signing
    }

    /// The current XML-signing key, PKCS#8 DER (secret), without looking at the time (tests,
    /// benchmarks; the service signs with [`Keys::signing`]).
    pub fn signing_key_der(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.signing.current_now().key_der().to_vec())
    }

    /// The current signing certificate, PEM.
    pub fn signing_cert_pem(&self) -> String {
        self.signing.current_now().cert_pem().to_owned()
    }

    /// The current signing certificate, DER.
    pub fn signing_cert_der(&self) -> Vec<u8> {
        self.signing.current_now().cert_der().to_vec()
    }

    /// The current signing certificate as base64 DER without PEM armour.
    pub fn signing_cert_base64(&self) -> String {
        self.signing.current_now().cert_base64()
    }

    /// The key of `idaas:pii-ref` references.
    pub fn pii_ref_key(&self) -> &crate::pii_ref::PiiRefKey {
        &self.pii_ref
    }

    /// The ABE authority's name.
    pub fn authority_name(&self) -> &str {
        self.authority.name()
    }

    /// The ABE suite.
    pub fn suite(&self) -> SuiteId {
        self.authority.suite()
    }

    /// The ABE authority public key, base64url text form.
    pub fn authority_public_key_text(&self) -> String {
        self.authority.public_key_text()
    }

    /// Issues a Time Access Token for `(uid, session)`: `access_time` = `day` (its 17
    /// segment-tree nodes), `domain:<domain>` and `country:<country>`. Returns the key bundle
    /// bytes (secret; seal them before they leave the process).
    pub fn issue_tat<R: RngCore + CryptoRng>(
        &self,
        uid: &str,
        session: &str,
        day: u64,
        domain: &str,
        country: &str,
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, pbe_core::Error> {
        let name = self.authority.name();
        let mut attrs = pbe_core::segtree::path_attributes("access_time", name, day)?;
        attrs.push(pbe_core::Attribute::new("domain", domain, name)?);
        attrs.push(pbe_core::Attribute::new("country", country, name)?);
        self.authority.issue(uid, session, &attrs, rng)
    }
}

/// Extracts the DER of the first PEM block.
pub use federation::signing_key::pem_to_der;

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn creates_once_with_private_modes_and_reuses() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k1 = Keys::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        for f in ["saml-signing.key", "abe-telekom.msk"] {
            let mode = fs::metadata(dir.path().join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let k2 = Keys::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        assert_eq!(k1.authority_public_key_text(), k2.authority_public_key_text());
        assert_eq!(k1.signing_cert_pem(), k2.signing_cert_pem());
        assert!(Keys::load_or_create(dir.path(), "telekom", SuiteId::Bn254).is_err());
        assert!(!format!("{k1:?}").contains("BEGIN"));
    }

    #[test]
    fn refuses_a_key_of_another_authority() {
        let dir = tempfile::tempdir().unwrap();
        Keys::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        fs::rename(dir.path().join("abe-telekom.msk"), dir.path().join("abe-other.msk")).unwrap();
        let err = Keys::load_or_create(dir.path(), "other", SuiteId::Bls12_381).unwrap_err();
        assert!(err.to_string().contains("telekom"));
    }
}
