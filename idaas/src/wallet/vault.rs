//! The wallet's optional local vault: the person's plaintexts, kept on their own machine so
//! rules can be changed without retyping a value. Off unless chosen with a passphrase.
//!
//! File (JSON, mode 0600, written atomically): `{"v":1,"salt":…,"nonce":…,"ct":…}` (base64url);
//! the key is argon2id(passphrase, salt; m = 19456 KiB, t = 2, p = 1) → 32 bytes, the content
//! AES-256-GCM over the JSON map `{attribute: base64url(value)}` with `"idaas-wallet-v1"` as
//! associated data. A fresh nonce on every write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use rand_core::RngCore as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const AAD: &[u8] = b"idaas-wallet-v1";
/// The largest vault file read (bytes).
pub const MAX_VAULT_FILE: u64 = 16 << 20;

/// Why the vault could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The file could not be read or written.
    #[error("vault {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        error: String,
    },
    /// Wrong passphrase or a damaged file.
    #[error("vault: wrong passphrase or damaged file")]
    Open,
    /// The file is not a wallet vault.
    #[error("vault: not a wallet vault file ({0})")]
    Format(String),
}

#[derive(Serialize, Deserialize)]
struct File {
    v: u8,
    salt: String,
    nonce: String,
    ct: String,
}

/// The default vault file: `$XDG_CONFIG_HOME/idaas/wallet-<user>.vault`, else
/// `$HOME/.config/idaas/wallet-<user>.vault`.
pub fn default_path(user: &str) -> Option<PathBuf> {
    let base =
        std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| {
            std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config"))
        })?;
    let safe: String =
        user.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect();
    Some(base.join("idaas").join(format!("wallet-{safe}.vault")))
}

/// An open vault: the plaintexts in memory (wiped on drop), written back on every change.
pub struct Vault {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    salt: [u8; 16],
    values: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("path", &self.path).field("entries", &self.values.len()).finish()
    }
}

fn derive(passphrase: &str, salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let params =
        argon2::Params::new(19_456, 2, 1, Some(32)).map_err(|e| VaultError::Format(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    a.hash_password_into(passphrase.as_bytes(), salt, &mut key[..]).map_err(|_| VaultError::Open)?;
    Ok(key)
}

fn io(path: &Path, e: impl std::fmt::Display) -> VaultError {
    VaultError::Io { path: path.display().to_string(), error: e.to_string() }
}

impl Vault {
    /// Opens the vault at `path` with `passphrase`, creating an empty one when the file does
    /// not exist (its directory 0700).
    pub fn open(path: &Path, passphrase: &str) -> Result<Self, VaultError> {
        let raw = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut salt = [0u8; 16];
                rand_core::OsRng.fill_bytes(&mut salt);
                let key = derive(passphrase, &salt)?;
                let v = Vault { path: path.to_owned(), key, salt, values: BTreeMap::new() };
                v.save()?;
                return Ok(v);
            }
            Err(e) => return Err(io(path, e)),
            Ok(m) if m.len() > MAX_VAULT_FILE => return Err(VaultError::Format("too large".into())),
            Ok(_) => std::fs::read(path).map_err(|e| io(path, e))?,
        };
        let file: File = serde_json::from_slice(&raw).map_err(|e| VaultError::Format(e.to_string()))?;
        let bad = |what: &str| VaultError::Format(what.to_owned());
        if file.v != 1 {
            return Err(bad("unknown version"));
        }
        let salt: [u8; 16] =
            B64.decode(&file.salt).ok().and_then(|s| s.try_into().ok()).ok_or_else(|| bad("salt"))?;
        let nonce: [u8; 12] =
            B64.decode(&file.nonce).ok().and_then(|s| s.try_into().ok()).ok_or_else(|| bad("nonce"))?;
        let ct = B64.decode(&file.ct).map_err(|_| bad("ciphertext"))?;
        let key = derive(passphrase, &salt)?;
        let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| VaultError::Open)?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(&nonce), Payload { msg: &ct, aad: AAD })
                .map_err(|_| VaultError::Open)?,
        );
        let map: BTreeMap<String, String> = serde_json::from_slice(&plain).map_err(|_| VaultError::Open)?;
        let values = map
            .into_iter()
            .map(|(k, v)| B64.decode(v).map(|v| (k, Zeroizing::new(v))).map_err(|_| VaultError::Open))
            .collect::<Result<_, _>>()?;
        Ok(Vault { path: path.to_owned(), key, salt, values })
    }

    fn save(&self) -> Result<(), VaultError> {
        let map: BTreeMap<&str, String> =
            self.values.iter().map(|(k, v)| (k.as_str(), B64.encode(v.as_slice()))).collect();
        let plain = Zeroizing::new(serde_json::to_vec(&map).map_err(|e| io(&self.path, e))?);
        let mut nonce = [0u8; 12];
        rand_core::OsRng.fill_bytes(&mut nonce);
        let cipher = Aes256Gcm::new_from_slice(&self.key[..]).map_err(|_| VaultError::Open)?;
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: AAD })
            .map_err(|_| VaultError::Open)?;
        let file = File { v: 1, salt: B64.encode(self.salt), nonce: B64.encode(nonce), ct: B64.encode(ct) };
        let text = serde_json::to_vec(&file).map_err(|e| io(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            service_kit::files::ensure_private_dir(dir).map_err(|e| io(dir, e))?;
        }
        service_kit::files::write_private(&self.path, &text, 0o600).map_err(|e| io(&self.path, e))
    }

    /// The value kept for `attribute`.
    pub fn get(&self, attribute: &str) -> Option<&[u8]> {
        self.values.get(attribute).map(|v| v.as_slice())
    }

    /// Keeps `value` for `attribute` and writes the file.
    pub fn set(&mut self, attribute: &str, value: &[u8]) -> Result<(), VaultError> {
        self.values.insert(attribute.to_owned(), Zeroizing::new(value.to_vec()));
        self.save()
    }

    /// Forgets `attribute` and writes the file.
    pub fn remove(&mut self, attribute: &str) -> Result<(), VaultError> {
        if self.values.remove(attribute).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn values_survive_reopening_only_with_the_passphrase_and_never_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("w.vault");
        let mut v = Vault::open(&path, "correct horse").unwrap();
        v.set("phone", b"+49 30 1234567").unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.windows(7).any(|w| w == b"1234567"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = Vault::open(&path, "correct horse").unwrap();
        assert_eq!(again.get("phone"), Some(&b"+49 30 1234567"[..]));
        assert!(matches!(Vault::open(&path, "wrong").unwrap_err(), VaultError::Open));
        let mut again = again;
        again.remove("phone").unwrap();
        assert_eq!(Vault::open(&path, "correct horse").unwrap().get("phone"), None);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(Vault::open(&path, "correct horse").unwrap_err(), VaultError::Format(_)));
        assert!(format!("{again:?}").contains("entries"));
    }
}
