//! The agent's X25519 key, which the home IdP seals Time Access Tokens (and the visitor IdP
//! Purpose Access Tokens) to. Created on first start in the data directory, mode 0600.

use std::path::{Path, PathBuf};

use federation::seal::RecipientKey;
use zeroize::Zeroizing;

/// File name of the key in the data directory.
pub const KEY_FILE: &str = "tat-x25519.key";

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct KeyFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// Loads `<data_dir>/tat-x25519.key`, creating it (and the directory, 0700) when missing.
pub fn load_or_create(data_dir: &Path) -> Result<RecipientKey, KeyFileError> {
    let path = data_dir.join(KEY_FILE);
    let err = |reason: String| KeyFileError { path: path.clone(), reason };
    federation::files::ensure_private_dir(data_dir).map_err(|e| err(e.to_string()))?;
    if path.exists() {
        let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
        return RecipientKey::from_secret_bytes(&bytes).map_err(|e| err(e.to_string()));
    }
    let key = RecipientKey::generate(&mut rand_core::OsRng);
    federation::files::write_private(&path, key.secret_bytes(), 0o600).map_err(|e| err(e.to_string()))?;
    Ok(key)
}
