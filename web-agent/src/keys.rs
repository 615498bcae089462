//! The agent's HPKE key, which the home IdP seals Time Access Tokens (and the visitor IdP
//! Purpose Access Tokens) to. Created on first start in the data directory, mode 0600. Its
//! kind follows the security level (`federation::seal::SealSuite`): one file per kind, so a
//! data directory moved to another level gets a fresh key of the right kind rather than a
//! key the IdPs would refuse.

use std::path::{Path, PathBuf};

use federation::seal::{RecipientKey, SealSuite};
use zeroize::Zeroizing;

/// File name of the X25519 key (128-bit levels) in the data directory.
pub const KEY_FILE: &str = "tat-x25519.key";

/// File name of the key of `suite` in the data directory.
pub const fn key_file(suite: SealSuite) -> &'static str {
    match suite {
        SealSuite::X25519Aes128 => KEY_FILE,
        SealSuite::P384Aes256 => "tat-p384.key",
        SealSuite::P521Aes256 => "tat-p521.key",
    }
}

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct KeyFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// Loads `<data_dir>/<key_file(suite)>`, creating it (and the directory, 0700) when missing.
/// A file that does not hold a key of `suite` is an error, never replaced.
pub fn load_or_create(data_dir: &Path, suite: SealSuite) -> Result<RecipientKey, KeyFileError> {
    let path = data_dir.join(key_file(suite));
    let err = |reason: String| KeyFileError { path: path.clone(), reason };
    service_kit::files::ensure_private_dir(data_dir).map_err(|e| err(e.to_string()))?;
    if path.exists() {
        let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
        return RecipientKey::from_secret_bytes(suite, &bytes).map_err(|e| err(e.to_string()));
    }
    let key = RecipientKey::generate(suite, &mut rand_core::OsRng);
    service_kit::files::write_private(&path, key.secret_bytes(), 0o600).map_err(|e| err(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_private_file_per_kind_reloaded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        for suite in SealSuite::ALL {
            let a = load_or_create(dir.path(), suite).unwrap();
            assert_eq!(a.suite(), suite);
            let b = load_or_create(dir.path(), suite).unwrap();
            assert_eq!(a.public_text(), b.public_text(), "{suite}: reloaded, not regenerated");
            let path = dir.path().join(key_file(suite));
            assert_eq!(std::fs::read(&path).unwrap().len(), suite.secret_key_len());
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            }
        }
        // A file of the wrong size for its kind is refused with the reason, not overwritten.
        let p384 = dir.path().join(key_file(SealSuite::P384Aes256));
        std::fs::copy(dir.path().join(KEY_FILE), &p384).unwrap();
        let e = load_or_create(dir.path(), SealSuite::P384Aes256).unwrap_err();
        assert!(e.reason.contains("48 bytes of P-384"), "{e}");
        assert_eq!(std::fs::read(&p384).unwrap().len(), 32);
    }
}
