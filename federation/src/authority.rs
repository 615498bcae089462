//! An IdP's ABE authority key in whichever pairing suite its configuration names: the one place
//! the services match on the suite. Loaded from (or created in) `abe-<name>.msk`, mode 0600.
//! The home IdP issues Time Access Tokens with it, the visitor IdP Purpose Access Tokens.

use std::path::{Path, PathBuf};

use pbe_core::{Attribute, AuthoritySecretKey, Bls12_381Suite, Bn254Suite, Gid, Suite, SuiteId};
use rand_core::{CryptoRng, OsRng, RngCore};
use zeroize::Zeroizing;

/// Why the authority key could not be loaded or created; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct AuthorityKeyError {
    /// The key file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// An ABE authority's master secret key.
pub enum AuthorityKey {
    /// BLS12-381 (128-bit).
    Bls12_381(Box<AuthoritySecretKey<Bls12_381Suite>>),
    /// BN254 (legacy, about 100-bit).
    Bn254(Box<AuthoritySecretKey<Bn254Suite>>),
}

impl std::fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityKey")
            .field("name", &self.name())
            .field("suite", &self.suite())
            .finish_non_exhaustive()
    }
}

/// The key file name of authority `name` in a data directory.
pub fn key_file(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(format!("abe-{name}.msk"))
}

impl AuthorityKey {
    /// A fresh key held in memory only (tests, benchmarks).
    pub fn setup<R: RngCore + CryptoRng>(
        name: &str,
        suite: SuiteId,
        rng: &mut R,
    ) -> Result<Self, pbe_core::Error> {
        match suite {
            SuiteId::Bls12_381 => {
                Ok(AuthorityKey::Bls12_381(Box::new(AuthoritySecretKey::setup(name, rng)?)))
            }
            SuiteId::Bn254 => Ok(AuthorityKey::Bn254(Box::new(AuthoritySecretKey::setup(name, rng)?))),
            _ => Err(pbe_core::Error::Misuse("unsupported suite")),
        }
    }

    /// Loads `<data_dir>/abe-<name>.msk`, creating it (mode 0600) when missing. An existing key
    /// of another authority or suite is an error, never silently replaced.
    pub fn load_or_create(data_dir: &Path, name: &str, suite: SuiteId) -> Result<Self, AuthorityKeyError> {
        let path = key_file(data_dir, name);
        let err = |reason: String| AuthorityKeyError { path: path.clone(), reason };
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
            let key = match suite {
                SuiteId::Bls12_381 => {
                    AuthoritySecretKey::from_bytes(&bytes).map(|k| AuthorityKey::Bls12_381(Box::new(k)))
                }
                SuiteId::Bn254 => {
                    AuthoritySecretKey::from_bytes(&bytes).map(|k| AuthorityKey::Bn254(Box::new(k)))
                }
                other => return Err(err(format!("suite {other} is not supported"))),
            }
            .map_err(|e| err(e.to_string()))?;
            if key.name() != name {
                return Err(err(format!(
                    "key is for authority '{}', configuration says '{name}'",
                    key.name()
                )));
            }
            return Ok(key);
        }
        let key = AuthorityKey::setup(name, suite, &mut OsRng).map_err(|e| err(e.to_string()))?;
        crate::files::write_private(&path, &key.to_bytes(), 0o600).map_err(|e| err(e.to_string()))?;
        Ok(key)
    }

    /// The authority's name.
    pub fn name(&self) -> &str {
        match self {
            AuthorityKey::Bls12_381(k) => k.name(),
            AuthorityKey::Bn254(k) => k.name(),
        }
    }

    /// Its suite.
    pub fn suite(&self) -> SuiteId {
        match self {
            AuthorityKey::Bls12_381(_) => SuiteId::Bls12_381,
            AuthorityKey::Bn254(_) => SuiteId::Bn254,
        }
    }

    /// The public key, base64url text form (what `/pbe/authority` publishes).
    pub fn public_key_text(&self) -> String {
        match self {
            AuthorityKey::Bls12_381(k) => pbe_core::wire::to_text(&k.public_key().to_bytes()),
            AuthorityKey::Bn254(k) => pbe_core::wire::to_text(&k.public_key().to_bytes()),
        }
    }

    /// The secret key's encoding (secret: mode 0600).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            AuthorityKey::Bls12_381(k) => k.to_bytes(),
            AuthorityKey::Bn254(k) => k.to_bytes(),
        }
    }

    /// Issues a key bundle for `GID(uid, session)` and `attributes` (all this authority's).
    /// Returns its encoding: secret, seal it before it leaves the process.
    pub fn issue<R: RngCore + CryptoRng>(
        &self,
        uid: &str,
        session: &str,
        attributes: &[Attribute],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, pbe_core::Error> {
        fn issue<S: Suite, R: RngCore + CryptoRng>(
            k: &AuthoritySecretKey<S>,
            gid: &Gid,
            attributes: &[Attribute],
            rng: &mut R,
        ) -> Result<Zeroizing<Vec<u8>>, pbe_core::Error> {
            Ok(k.keygen(gid, attributes, rng)?.to_bytes())
        }
        let gid = Gid::new(uid, session)?;
        match self {
            AuthorityKey::Bls12_381(k) => issue(k, &gid, attributes, rng),
            AuthorityKey::Bn254(k) => issue(k, &gid, attributes, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_checked_on_reload() {
        let dir = tempfile::tempdir().unwrap();
        let k = AuthorityKey::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        let again = AuthorityKey::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).unwrap();
        assert_eq!(k.public_key_text(), again.public_key_text());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file(dir.path(), "telekom")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The wrong suite for an existing file is an error naming the file.
        let err = AuthorityKey::load_or_create(dir.path(), "telekom", SuiteId::Bn254).unwrap_err();
        assert!(err.to_string().contains("abe-telekom.msk"), "{err}");
        std::fs::write(key_file(dir.path(), "telekom"), b"garbage").unwrap();
        assert!(AuthorityKey::load_or_create(dir.path(), "telekom", SuiteId::Bls12_381).is_err());
        let attr = Attribute::new("domain", "salesforce", "telekom").unwrap();
        let bundle = k.issue("bob", "s1", &[attr], &mut OsRng).unwrap();
        assert!(pbe_core::UserKey::<Bls12_381Suite>::from_bytes(&bundle).is_ok());
        let foreign = Attribute::new("purpose", "current", "salesforce").unwrap();
        assert!(k.issue("bob", "s1", &[foreign], &mut OsRng).is_err());
    }
}
