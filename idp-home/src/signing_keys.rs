//! Rollover of the SAML signing key (issue 21 item 4) without breaking any SP.
//!
//! 1. `rotate` creates the **next** key (`saml-signing.next.key` and its certificate) and
//!    publishes it in the metadata beside the current one; responses are still signed with the
//!    current key. SPs that refresh metadata now trust both.
//! 2. After `signing_key_overlap_secs` (or at once with `activate`), the next key becomes the
//!    current one: responses are signed with it, and the old key is **retired** — deleted and
//!    no longer published.
//!
//! The switch is made by the first signing or metadata request after the overlap, so it needs
//! no timer and every instance of the IdP sharing the directory makes it at the same moment.
//! On disk it is two renames (certificate, then key); a start that finds the next key without
//! its certificate finishes an interrupted switch.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use federation::signing_key::{SigningKey, CERT_FILE, KEY_FILE, NEXT_CERT_FILE, NEXT_KEY_FILE};
use serde::Serialize;

use crate::keys::{io, KeysError};

/// When the next key was published (unix seconds, text), next to it.
pub const PUBLISHED_FILE: &str = "saml-signing.next.published";

/// Default of `signing_key_overlap_secs`: SPs refresh metadata at least daily.
pub const DEFAULT_OVERLAP_SECS: u64 = 86_400;

/// The current signing key and, during a rollover, the next one.
pub struct SigningKeys {
    dir: PathBuf,
    common_name: String,
    overlap_secs: i64,
    inner: RwLock<Inner>,
}

struct Inner {
    current: Arc<SigningKey>,
    next: Option<Next>,
}

struct Next {
    key: Arc<SigningKey>,
    published_at: i64,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// What `GET /admin/keys/signing` shows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// The key signing now.
    pub current: KeyInfo,
    /// The key published for the rollover, if one is under way.
    pub next: Option<NextInfo>,
    /// The configured overlap, seconds.
    pub overlap_secs: i64,
}

/// One key, by its certificate.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyInfo {
    /// SHA-256 of the certificate (DER), hex.
    pub fingerprint_sha256: String,
}

/// The next key and when it takes over.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NextInfo {
    /// SHA-256 of the certificate (DER), hex.
    pub fingerprint_sha256: String,
    /// When it was published, unix seconds.
    pub published_at: i64,
    /// When it starts signing (`published_at` + overlap), unix seconds.
    pub active_from: i64,
}

/// Why a rollover step was refused.
#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    /// `rotate` while a next key is already published.
    #[error("a next signing key is already published; it signs from {active_from} (activate it, or wait)")]
    Pending {
        /// When it takes over.
        active_from: i64,
    },
    /// `activate` without a next key.
    #[error("no next signing key is published (rotate first)")]
    NoNext,
    /// Key files.
    #[error(transparent)]
    Keys(#[from] KeysError),
}

impl SigningKeys {
    /// Loads the current key (creating it on first start) and the next one if a rollover is
    /// under way; finishes a switch a crash interrupted.
    pub fn load(dir: &Path, common_name: &str, overlap_secs: u64) -> Result<SigningKeys, KeysError> {
        finish_interrupted_switch(dir)?;
        let current = SigningKey::load_or_create(dir, common_name).map_err(invalid)?;
        let next = if dir.join(NEXT_KEY_FILE).exists() {
            let key = SigningKey::load_or_create_files(dir, NEXT_KEY_FILE, NEXT_CERT_FILE, common_name)
                .map_err(invalid)?;
            Some(Next { key: Arc::new(key), published_at: published_at(dir)? })
        } else {
            None
        };
        Ok(SigningKeys {
            dir: dir.to_owned(),
            common_name: common_name.to_owned(),
            overlap_secs: i64::try_from(overlap_secs).unwrap_or(i64::MAX),
            inner: RwLock::new(Inner { current: Arc::new(current), next }),
        })
    }

    /// The key to sign with at `now` (switching to the next key when its overlap is over).
    pub fn current(&self, now: i64) -> Arc<SigningKey> {
        self.switch_if_due(now);
        self.read().current.clone()
    }

    /// The keys to publish at `now`: the current one first, then the next one.
    pub fn published(&self, now: i64) -> Vec<Arc<SigningKey>> {
        self.switch_if_due(now);
        let inner = self.read();
        std::iter::once(inner.current.clone()).chain(inner.next.as_ref().map(|n| n.key.clone())).collect()
    }

    /// The current key, without looking at the time (tests, benchmarks).
    pub fn current_now(&self) -> Arc<SigningKey> {
        self.read().current.clone()
    }

    /// Creates and publishes the next key.
    pub fn rotate(&self, now: i64) -> Result<Status, RolloverError> {
        self.switch_if_due(now);
        let mut inner = self.write();
        if let Some(next) = &inner.next {
            return Err(RolloverError::Pending {
                active_from: next.published_at.saturating_add(self.overlap_secs),
            });
        }
        // A stale half-written next key (no published file) is replaced.
        for f in [NEXT_KEY_FILE, NEXT_CERT_FILE, PUBLISHED_FILE] {
            remove_if_present(&self.dir.join(f))?;
        }
        // The published file first: a next key without it can only be a switch a crash
        // interrupted (see `finish_interrupted_switch`).
        let path = self.dir.join(PUBLISHED_FILE);
        service_kit::files::write_private(&path, now.to_string().as_bytes(), 0o600).map_err(io(&path))?;
        let key =
            SigningKey::load_or_create_files(&self.dir, NEXT_KEY_FILE, NEXT_CERT_FILE, &self.common_name)
                .map_err(invalid)?;
        inner.next = Some(Next { key: Arc::new(key), published_at: now });
        tracing::info!(overlap_secs = self.overlap_secs, "next SAML signing key published");
        drop(inner);
        Ok(self.status(now))
    }

    /// Switches to the next key now, before its overlap is over (every SP has the new
    /// metadata; or the current key must go at once).
    pub fn activate(&self, now: i64) -> Result<Status, RolloverError> {
        let mut inner = self.write();
        if inner.next.is_none() {
            return Err(RolloverError::NoNext);
        }
        self.switch(&mut inner)?;
        drop(inner);
        Ok(self.status(now))
    }

    /// The keys and the rollover under way.
    pub fn status(&self, now: i64) -> Status {
        self.switch_if_due(now);
        let inner = self.read();
        Status {
            current: KeyInfo { fingerprint_sha256: inner.current.fingerprint_sha256() },
            next: inner.next.as_ref().map(|n| NextInfo {
                fingerprint_sha256: n.key.fingerprint_sha256(),
                published_at: n.published_at,
                active_from: n.published_at.saturating_add(self.overlap_secs),
            }),
            overlap_secs: self.overlap_secs,
        }
    }

    fn switch_if_due(&self, now: i64) {
        let due = |inner: &Inner| {
            inner.next.as_ref().is_some_and(|n| now >= n.published_at.saturating_add(self.overlap_secs))
        };
        if !due(&self.read()) {
            return;
        }
        let mut inner = self.write();
        if due(&inner) {
            if let Err(e) = self.switch(&mut inner) {
                // Signing goes on with the current key; the next request tries again.
                tracing::error!(error = %e, "switching to the next SAML signing key failed");
            }
        }
    }

    /// The next key becomes the current one; the old one is deleted with the rename.
    fn switch(&self, inner: &mut Inner) -> Result<(), KeysError> {
        let Some(next) = inner.next.take() else { return Ok(()) };
        // Published file, certificate, key: a crash between the renames leaves a next key
        // with neither, which the next start recognises and finishes.
        if let Err(e) = remove_if_present(&self.dir.join(PUBLISHED_FILE)) {
            inner.next = Some(next);
            return Err(e);
        }
        let renames = [(NEXT_CERT_FILE, CERT_FILE), (NEXT_KEY_FILE, KEY_FILE)];
        for (from, to) in renames {
            let (from, to) = (self.dir.join(from), self.dir.join(to));
            if let Err(e) = std::fs::rename(&from, &to) {
                inner.next = Some(next);
                return Err(io(&from)(e));
            }
        }
        sync_dir(&self.dir);
        inner.current = next.key;
        tracing::info!("SAML signing key rolled over: the next key signs, the old one is retired");
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A crash in the middle of a switch leaves the next key without its certificate (already
/// renamed to the current one) and without the published file: rename the key too. (A
/// rotation always writes the published file before the next key, so it never looks so.)
fn finish_interrupted_switch(dir: &Path) -> Result<(), KeysError> {
    let (next_key, next_cert) = (dir.join(NEXT_KEY_FILE), dir.join(NEXT_CERT_FILE));
    if next_key.exists() && !next_cert.exists() && !dir.join(PUBLISHED_FILE).exists() {
        std::fs::rename(&next_key, dir.join(KEY_FILE)).map_err(io(&next_key))?;
        sync_dir(dir);
    }
    Ok(())
}

/// When the next key was published: its file, else (written by hand, or the file lost) the
/// certificate's modification time.
fn published_at(dir: &Path) -> Result<i64, KeysError> {
    let path = dir.join(PUBLISHED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| KeysError::Invalid { path: path.clone(), reason: "not a unix time".into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cert = dir.join(NEXT_CERT_FILE);
            let modified = std::fs::metadata(&cert).and_then(|m| m.modified()).map_err(io(&cert))?;
            let secs = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            Ok(i64::try_from(secs).unwrap_or(i64::MAX))
        }
        Err(e) => Err(io(&path)(e)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), KeysError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

/// Makes the renames durable (best effort: not every file system syncs directories).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn invalid(e: federation::signing_key::SigningKeyError) -> KeysError {
    KeysError::Invalid { path: e.path, reason: e.reason }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rotate_publish_switch_retire() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load(dir.path(), "t", 100).unwrap();
        let first = keys.current(0).fingerprint_sha256();
        assert!(matches!(keys.activate(0), Err(RolloverError::NoNext)));
        let status = keys.rotate(1000).unwrap();
        let next = status.next.clone().unwrap();
        assert_eq!((next.published_at, next.active_from), (1000, 1100));
        assert!(matches!(keys.rotate(1001), Err(RolloverError::Pending { active_from: 1100 })));
        // During the overlap: both published, the first signs.
        let published: Vec<_> = keys.published(1099).iter().map(|k| k.fingerprint_sha256()).collect();
        assert_eq!(published, [first.clone(), next.fingerprint_sha256.clone()]);
        assert_eq!(keys.current(1099).fingerprint_sha256(), first);
        // A restart in the middle keeps the rollover.
        let again = SigningKeys::load(dir.path(), "t", 100).unwrap();
        assert_eq!(again.status(1099), keys.status(1099));
        // After the overlap: the next key signs, the old one is gone from disk and metadata.
        assert_eq!(keys.current(1100).fingerprint_sha256(), next.fingerprint_sha256);
        assert_eq!(keys.published(1100).len(), 1);
        assert!(!dir.path().join(NEXT_KEY_FILE).exists() && !dir.path().join(PUBLISHED_FILE).exists());
        let reloaded = SigningKeys::load(dir.path(), "t", 100).unwrap();
        assert_eq!(reloaded.current(1100).fingerprint_sha256(), next.fingerprint_sha256);
        // activate switches before the overlap.
        keys.rotate(2000).unwrap();
        let third = keys.activate(2001).unwrap();
        assert!(third.next.is_none() && third.current.fingerprint_sha256 != next.fingerprint_sha256);
    }

    #[test]
    fn an_interrupted_switch_is_finished_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load(dir.path(), "t", 100).unwrap();
        let next = keys.rotate(0).unwrap().next.unwrap().fingerprint_sha256;
        drop(keys);
        // The crash: certificate renamed, published file removed, key not yet renamed.
        std::fs::rename(dir.path().join(NEXT_CERT_FILE), dir.path().join(CERT_FILE)).unwrap();
        std::fs::remove_file(dir.path().join(PUBLISHED_FILE)).unwrap();
        let keys = SigningKeys::load(dir.path(), "t", 100).unwrap();
        assert_eq!(keys.current(0).fingerprint_sha256(), next);
        assert!(keys.status(0).next.is_none());
    }

    #[test]
    fn a_corrupt_published_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        SigningKeys::load(dir.path(), "t", 100).unwrap().rotate(0).unwrap();
        std::fs::write(dir.path().join(PUBLISHED_FILE), "yesterday").unwrap();
        let e = SigningKeys::load(dir.path(), "t", 100).unwrap_err().to_string();
        assert!(e.contains(PUBLISHED_FILE), "{e}");
    }
}
