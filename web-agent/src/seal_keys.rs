//! Rollover of the agent's HPKE key (issue 21 item 4): the key the home IdP seals TATs and
//! PII to, and the visitor IdP PATs.
//!
//! An encryption key is rolled over the other way round from a signing key: the *senders*
//! choose the key, so the agent must open seals to either key for as long as some sender may
//! still use the old one.
//!
//! 1. `idaas agent keys rotate` writes the **next** key (`tat-x25519.next.key`, beside the
//!    current one). The agent opens seals to either key from then on, and publishes the next
//!    key in its SAML metadata beside the current one (`<idaas:TatKey Use="next">`).
//! 2. The operator registers the next public key at the home IdP (the SP's
//!    `pbe.tat_public_key`) and the visitor IdP (the client's `pat_public_key`).
//! 3. `idaas agent keys activate` makes the next key the current one; the old key is
//!    **retired** (overwritten by the rename) and opens nothing any more.
//!
//! There is no timer: only the operator knows when every sender seals to the new key. The
//! commands change files; every agent process sharing the directory notices within
//! [`RELOAD_INTERVAL`] (and at once when the agent itself calls [`SealKeys::reload`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use federation::seal::{RecipientKey, SealError, SealSuite};
use zeroize::Zeroizing;

use crate::keys::{key_file, load_or_create, KeyFileError};

/// How often a running agent looks at its key files for a rollover step.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// The file of the next key of `suite` (`tat-x25519.next.key`, …).
pub fn next_key_file(suite: SealSuite) -> String {
    key_file(suite).replace(".key", ".next.key")
}

/// What opens a seal to this agent: one key, or the agent's [`SealKeys`] during a rollover.
pub trait OpenSeal: Send + Sync {
    /// Opens `sealed` under `info`, refusing plaintexts longer than `max`.
    fn open_limited(&self, sealed: &str, info: &[u8], max: usize) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

impl OpenSeal for RecipientKey {
    fn open_limited(&self, sealed: &str, info: &[u8], max: usize) -> Result<Zeroizing<Vec<u8>>, SealError> {
        RecipientKey::open_limited(self, sealed, info, max)
    }
}

impl OpenSeal for SealKeys {
    fn open_limited(&self, sealed: &str, info: &[u8], max: usize) -> Result<Zeroizing<Vec<u8>>, SealError> {
        SealKeys::open_limited(self, sealed, info, max)
    }
}

/// The agent's current HPKE key and, during a rollover, the next one.
pub struct SealKeys {
    dir: Option<PathBuf>,
    suite: SealSuite,
    ring: RwLock<Ring>,
    seen: Mutex<[Option<Stamp>; 2]>,
}

#[derive(Clone)]
struct Ring {
    current: Arc<RecipientKey>,
    next: Option<Arc<RecipientKey>>,
}

/// What identifies one version of a key file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl std::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKeys").field("dir", &self.dir).field("suite", &self.suite).finish_non_exhaustive()
    }
}

impl SealKeys {
    /// Loads the current key (creating it on first start) and the next one if a rollover is
    /// under way.
    pub fn load(dir: &Path, suite: SealSuite) -> Result<SealKeys, KeyFileError> {
        let keys = SealKeys {
            dir: Some(dir.to_owned()),
            suite,
            ring: RwLock::new(read_ring(dir, suite)?),
            seen: Mutex::new(stamps(dir, suite)),
        };
        Ok(keys)
    }

    /// One fixed key, never reloaded (tests, benchmarks).
    pub fn fixed(key: RecipientKey) -> SealKeys {
        SealKeys {
            dir: None,
            suite: key.suite(),
            ring: RwLock::new(Ring { current: Arc::new(key), next: None }),
            seen: Mutex::new([None, None]),
        }
    }

    /// The key the IdPs should seal to now.
    pub fn current(&self) -> Arc<RecipientKey> {
        self.ring().current
    }

    /// The key published for the rollover under way.
    pub fn next(&self) -> Option<Arc<RecipientKey>> {
        self.ring().next
    }

    /// The kind of key (the security level's HPKE suite).
    pub fn suite(&self) -> SealSuite {
        self.suite
    }

    /// Opens a seal to the current key, or during a rollover to the next one.
    pub fn open(&self, sealed: &str, info: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_limited(sealed, info, federation::seal::MAX_SEALED)
    }

    /// [`SealKeys::open`] with a size bound.
    pub fn open_limited(
        &self,
        sealed: &str,
        info: &[u8],
        max: usize,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let ring = self.ring();
        match (ring.current.open_limited(sealed, info, max), &ring.next) {
            (Err(_), Some(next)) => next.open_limited(sealed, info, max),
            (result, _) => result,
        }
    }

    /// Reads the key files again if a rollover step changed them; returns whether it did.
    /// A file that cannot be read keeps the keys in use (logged by the caller).
    pub fn reload(&self) -> Result<bool, KeyFileError> {
        let Some(dir) = &self.dir else { return Ok(false) };
        let now = stamps(dir, self.suite);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == now {
            return Ok(false);
        }
        let ring = read_ring(dir, self.suite)?;
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = ring;
        *seen = now;
        Ok(true)
    }

    fn ring(&self) -> Ring {
        self.ring.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

fn read_ring(dir: &Path, suite: SealSuite) -> Result<Ring, KeyFileError> {
    let current = load_or_create(dir, suite)?;
    let next_path = dir.join(next_key_file(suite));
    let next = if next_path.exists() { Some(Arc::new(read_key(&next_path, suite)?)) } else { None };
    Ok(Ring { current: Arc::new(current), next })
}

fn read_key(path: &Path, suite: SealSuite) -> Result<RecipientKey, KeyFileError> {
    let err = |reason: String| KeyFileError { path: path.to_owned(), reason };
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| err(e.to_string()))?);
    RecipientKey::from_secret_bytes(suite, &bytes).map_err(|e| err(e.to_string()))
}

fn stamps(dir: &Path, suite: SealSuite) -> [Option<Stamp>; 2] {
    let stamp = |name: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir.join(name)).ok().map(|m| Stamp {
            inode: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        })
    };
    [stamp(key_file(suite)), stamp(&next_key_file(suite))]
}

/// Why a rollover step was refused.
#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    /// `rotate` while a next key exists.
    #[error("a next key is already published ({0}); activate it first")]
    Pending(PathBuf),
    /// `activate` without a next key.
    #[error("no next key is published (rotate first)")]
    NoNext,
    /// Key files.
    #[error(transparent)]
    Key(#[from] KeyFileError),
}

/// Writes the next key (0600) and returns it. The current key must exist (the agent has
/// started once).
pub fn rotate(dir: &Path, suite: SealSuite) -> Result<RecipientKey, RolloverError> {
    let path = dir.join(next_key_file(suite));
    if path.exists() {
        return Err(RolloverError::Pending(path));
    }
    let current = dir.join(key_file(suite));
    if !current.exists() {
        return Err(
            KeyFileError { path: current, reason: "no current key (start the agent once)".into() }.into()
        );
    }
    let key = RecipientKey::generate(suite, &mut rand_core::OsRng);
    service_kit::files::write_private(&path, key.secret_bytes(), 0o600)
        .map_err(|e| KeyFileError { path: path.clone(), reason: e.to_string() })?;
    Ok(key)
}

/// Makes the next key the current one (one rename: the old key is gone with it) and returns it.
pub fn activate(dir: &Path, suite: SealSuite) -> Result<RecipientKey, RolloverError> {
    let next = dir.join(next_key_file(suite));
    if !next.exists() {
        return Err(RolloverError::NoNext);
    }
    let key = read_key(&next, suite)?;
    let current = dir.join(key_file(suite));
    std::fs::rename(&next, &current)
        .map_err(|e| KeyFileError { path: next.clone(), reason: e.to_string() })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollover_opens_both_keys_until_the_old_one_is_retired() {
        let dir = tempfile::tempdir().unwrap();
        let suite = SealSuite::X25519Aes128;
        let keys = SealKeys::load(dir.path(), suite).unwrap();
        let old = keys.current();
        let seal_to = |k: &RecipientKey| {
            federation::seal::seal(suite, &k.public_text(), b"info", b"secret", &mut rand_core::OsRng)
                .unwrap()
        };
        assert!(matches!(activate(dir.path(), suite), Err(RolloverError::NoNext)));

        let next = rotate(dir.path(), suite).unwrap();
        assert!(matches!(rotate(dir.path(), suite), Err(RolloverError::Pending(_))));
        assert!(keys.open(&seal_to(&next), b"info").is_err(), "not seen before the reload");
        assert!(keys.reload().unwrap());
        assert!(!keys.reload().unwrap(), "nothing changed since");
        assert_eq!(keys.next().unwrap().public_text(), next.public_text());
        for k in [&*old, &next] {
            assert_eq!(keys.open(&seal_to(k), b"info").unwrap().as_slice(), b"secret");
            assert!(keys.open(&seal_to(k), b"other info").is_err());
        }

        activate(dir.path(), suite).unwrap();
        assert!(keys.reload().unwrap());
        assert_eq!(keys.current().public_text(), next.public_text());
        assert!(keys.next().is_none());
        assert!(keys.open(&seal_to(&old), b"info").is_err(), "the old key is retired");
        assert!(keys.open(&seal_to(&next), b"info").is_ok());
        // A restart reads the same.
        let again = SealKeys::load(dir.path(), suite).unwrap();
        assert_eq!(again.current().public_text(), next.public_text());

        // A damaged next key is an error on reload, and the keys in use stay.
        std::fs::write(dir.path().join(next_key_file(suite)), b"short").unwrap();
        assert!(keys.reload().is_err());
        assert!(keys.open(&seal_to(&next), b"info").is_ok());
    }
}
