//! Key material created on first start and reused afterwards (files mode 0600, directory 0700):
//!
//! - `abe-<authority>.msk` — the ABE authority's master secret key (`federation::authority`);
//! - `receipt-signing.key` — the Ed25519 key of grant receipts (32 bytes);
//! - `audit.key` — the 32-byte key of the salted subject hashes in the audit log.

use std::fs;
use std::path::{Path, PathBuf};

use federation::authority::AuthorityKey;
use federation::pat::ReceiptSigner;
use hmac::{Hmac, Mac};
use pbe_core::{Attribute, SuiteId};
use rand_core::{CryptoRng, OsRng, RngCore};
use sha2::Sha256;
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

fn io(path: &Path) -> impl Fn(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io { path: path.to_owned(), source }
}

/// Creates `dir` (and parents) with mode 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> Result<(), KeysError> {
    service_kit::files::ensure_private_dir(dir).map_err(io(dir))
}

/// Reads a secret file, or creates it with `make` (mode 0600).
fn load_or_create(
    path: &Path,
    make: impl FnOnce() -> Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, KeysError> {
    if path.exists() {
        return Ok(Zeroizing::new(fs::read(path).map_err(io(path))?));
    }
    let bytes = make();
    service_kit::files::write_private(path, &bytes, 0o600).map_err(io(path))?;
    Ok(bytes)
}

/// Reads a secret text file, or creates it (directory 0700, file 0600) with `make`.
pub fn load_or_create_text(path: &Path, make: impl FnOnce() -> String) -> Result<String, KeysError> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let bytes = load_or_create(path, || Zeroizing::new(make().into_bytes()))?;
    String::from_utf8(bytes.to_vec())
        .map(|s| s.trim().to_owned())
        .map_err(|_| KeysError::Invalid { path: path.to_owned(), reason: "not UTF-8".into() })
}

/// This IdP's key material.
pub struct Keys {
    authority: AuthorityKey,
    receipt: ReceiptSigner,
    audit_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("authority", &self.authority_name())
            .field("receipt_kid", &self.receipt.kid())
            .field("secrets", &"[redacted]")
            .finish()
    }
}

fn random32() -> Zeroizing<Vec<u8>> {
    let mut b = Zeroizing::new(vec![0u8; 32]);
    OsRng.fill_bytes(&mut b);
    b
}

impl Keys {
    /// Loads the key material from `data_dir`, creating what is missing.
    pub fn load_or_create(data_dir: &Path, authority: &str, suite: SuiteId) -> Result<Keys, KeysError> {
        ensure_private_dir(data_dir)?;
        let authority = AuthorityKey::load_or_create(data_dir, authority, suite)
            .map_err(|e| KeysError::Invalid { path: e.path, reason: e.reason })?;
        let receipt_path = data_dir.join("receipt-signing.key");
        let receipt = ReceiptSigner::from_secret_bytes(&load_or_create(&receipt_path, random32)?)
            .map_err(|e| KeysError::Invalid { path: receipt_path.clone(), reason: e.to_string() })?;
        let audit_path = data_dir.join("audit.key");
        let audit = load_or_create(&audit_path, random32)?;
        let audit_key: [u8; 32] = audit
            .as_slice()
            .try_into()
            .map_err(|_| KeysError::Invalid { path: audit_path, reason: "must be 32 bytes".into() })?;
        Ok(Keys { authority, receipt, audit_key: Zeroizing::new(audit_key) })
    }

    /// Keys held in memory only (tests, benchmarks): a fresh authority, receipt and audit key.
    pub fn ephemeral<R: RngCore + CryptoRng>(
        authority: &str,
        suite: SuiteId,
        rng: &mut R,
    ) -> Result<Keys, pbe_core::Error> {
        let authority = AuthorityKey::setup(authority, suite, rng)?;
        let mut audit_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(audit_key.as_mut());
        Ok(Keys { authority, receipt: ReceiptSigner::generate(rng), audit_key })
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

    /// Issues a PAT: pbe-core keys for `GID(uid, session)` and each of `purposes`
    /// (`name:value`, this authority's). Returns the key bundle bytes (secret).
    pub fn issue_pat<R: RngCore + CryptoRng>(
        &self,
        uid: &str,
        session: &str,
        purposes: &[String],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, pbe_core::Error> {
        let attrs = purposes
            .iter()
            .map(|p| {
                let (name, value) =
                    p.split_once(':').ok_or(pbe_core::Error::Misuse("purpose without ':'"))?;
                Ok(Attribute::new(name, value, self.authority_name())?)
            })
            .collect::<Result<Vec<_>, pbe_core::Error>>()?;
        self.authority.issue(uid, session, &attrs, rng)
    }

    /// The grant-receipt signer.
    pub fn receipt(&self) -> &ReceiptSigner {
        &self.receipt
    }

    /// A salted, keyed hash for the audit log: HMAC-SHA256(audit key, kind ‖ parts), first 16
    /// bytes, hex. Without the key (in `data_dir`) a hash cannot be linked to a NameID.
    pub fn audit_hash(&self, kind: &str, parts: &[&str]) -> String {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(self.audit_key.as_slice()) else {
            return String::new();
        };
        m.update(kind.as_bytes());
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p.as_bytes());
        }
        let digest = m.finalize().into_bytes();
        hex::encode(digest.get(..16).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_private_modes_and_reuses() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("visitor");
        let k1 = Keys::load_or_create(&data, "salesforce", SuiteId::Bls12_381).unwrap();
        assert_eq!(fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        for f in ["abe-salesforce.msk", "receipt-signing.key", "audit.key"] {
            let mode = fs::metadata(data.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let k2 = Keys::load_or_create(&data, "salesforce", SuiteId::Bls12_381).unwrap();
        assert_eq!(k1.authority_public_key_text(), k2.authority_public_key_text());
        assert_eq!(k1.receipt().kid(), k2.receipt().kid());
        assert_eq!(k1.audit_hash("sub", &["bob"]), k2.audit_hash("sub", &["bob"]));
        assert_ne!(k1.audit_hash("sub", &["bob"]), k1.audit_hash("sub", &["bo", "b"]));
        assert!(Keys::load_or_create(&data, "salesforce", SuiteId::Bn254).is_err());
        fs::rename(data.join("abe-salesforce.msk"), data.join("abe-amazon.msk")).unwrap();
        assert!(Keys::load_or_create(&data, "amazon", SuiteId::Bls12_381)
            .unwrap_err()
            .to_string()
            .contains("salesforce"));
    }

    #[test]
    fn issues_pats_only_for_purpose_attributes_of_this_authority() {
        let rng = &mut rand_core::OsRng;
        let k = Keys::ephemeral("salesforce", SuiteId::Bls12_381, rng).unwrap();
        let pat =
            k.issue_pat("bob", "s1", &["purpose:current".into(), "ppurpose:purchase".into()], rng).unwrap();
        let key = pbe_core::UserKey::<pbe_core::Bls12_381Suite>::from_bytes(&pat).unwrap();
        assert_eq!(key.gid(), &pbe_core::Gid::new("bob", "s1").unwrap());
        let mut attrs: Vec<String> = key.attributes().map(ToString::to_string).collect();
        attrs.sort();
        assert_eq!(attrs, ["ppurpose:purchase@salesforce", "purpose:current@salesforce"]);
        assert!(k.issue_pat("bob", "s1", &["nocolon".into()], rng).is_err());
        assert!(k.issue_pat("bob", "s1", &[], rng).is_err());
    }
}
