//! An IdP's ABE authority key in whichever pairing suite its configuration names: the one place
//! the services match on the suite. Loaded from (or created in) `abe-<name>.msk`, mode 0600.
//! The home IdP issues Time Access Tokens with it, the visitor IdP Purpose Access Tokens.

use std::path::{Path, PathBuf};

use pbe_core::{
    Attribute, AuthoritySecretKey, Bls12_381Suite, Bls24_479Suite, Bls48_581Suite, Bn254Suite, Gid, Suite,
    SuiteId,
};
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
    /// BLS24-479 (192-bit).
    Bls24_479(Box<AuthoritySecretKey<Bls24_479Suite>>),
    /// BLS48-581 (256-bit).
    Bls48_581(Box<AuthoritySecretKey<Bls48_581Suite>>),
}

/// Evaluates `$body` with `$k` bound to the suite-typed key inside `$key`.
macro_rules! each_key {
    ($key:expr, $k:ident => $body:expr) => {
        match $key {
            AuthorityKey::Bls12_381($k) => $body,
            AuthorityKey::Bn254($k) => $body,
            AuthorityKey::Bls24_479($k) => $body,
            AuthorityKey::Bls48_581($k) => $body,
        }
    };
}

/// Wraps a suite-typed key in its variant.
trait IntoAuthorityKey {
    fn wrap(self) -> AuthorityKey;
}

macro_rules! into_authority_key {
    ($($suite:ty => $variant:ident),*) => {$(
        impl IntoAuthorityKey for AuthoritySecretKey<$suite> {
            fn wrap(self) -> AuthorityKey {
                AuthorityKey::$variant(Box::new(self))
            }
        }
    )*};
}

into_authority_key!(
    Bls12_381Suite => Bls12_381,
    Bn254Suite => Bn254,
    Bls24_479Suite => Bls24_479,
    Bls48_581Suite => Bls48_581
);

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
        pbe_core::with_suite!(suite, S => Ok(AuthoritySecretKey::<S>::setup(name, rng)?.wrap()))
    }

    /// Loads `<data_dir>/abe-<name>.msk`, creating it (mode 0600) when missing. An existing key
    /// of another authority or suite is an error, never silently replaced.
    pub fn load_or_create(data_dir: &Path, name: &str, suite: SuiteId) -> Result<Self, AuthorityKeyError> {
        let path = key_file(data_dir, name);
        let err = |reason: String| AuthorityKeyError { path: path.clone(), reason };
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
            let key = pbe_core::with_suite!(suite, S => AuthoritySecretKey::<S>::from_bytes(&bytes).map(IntoAuthorityKey::wrap))
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
        each_key!(self, k => k.name())
    }

    /// Its suite.
    pub fn suite(&self) -> SuiteId {
        fn id<S: Suite>(_: &AuthoritySecretKey<S>) -> SuiteId {
            S::ID
        }
        each_key!(self, k => id(k))
    }

    /// The public key, base64url text form (what `/pbe/authority` publishes).
    pub fn public_key_text(&self) -> String {
        each_key!(self, k => pbe_core::wire::to_text(&k.public_key().to_bytes()))
    }

    /// The secret key's encoding (secret: mode 0600).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        each_key!(self, k => k.to_bytes())
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
        each_key!(self, k => issue(k, &gid, attributes, rng))
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

    #[test]
    fn every_suite_creates_reloads_and_issues() {
        let dir = tempfile::tempdir().unwrap();
        for suite in SuiteId::ALL {
            let name = format!("auth{}", suite.to_byte());
            let k = AuthorityKey::load_or_create(dir.path(), &name, suite).unwrap();
            assert_eq!(k.suite(), suite);
            let again = AuthorityKey::load_or_create(dir.path(), &name, suite).unwrap();
            assert_eq!(k.public_key_text(), again.public_key_text());
            let attr = Attribute::new("purpose", "current", &name).unwrap();
            let bundle = k.issue("bob", "s1", &[attr], &mut OsRng).unwrap();
            let decoded = pbe_core::with_suite!(suite, S => pbe_core::UserKey::<S>::from_bytes(&bundle).map(|k| k.len()));
            assert_eq!(decoded.unwrap(), 1);
            // The same file read as any other suite is refused, naming the file.
            for other in SuiteId::ALL.into_iter().filter(|o| *o != suite) {
                let err = AuthorityKey::load_or_create(dir.path(), &name, other).unwrap_err();
                assert!(err.to_string().contains(&format!("abe-{name}.msk")), "{err}");
            }
        }
    }
}
