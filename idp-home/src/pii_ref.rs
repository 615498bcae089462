//! The key behind `idaas:pii-ref` (`federation::pii::PiiRef`): 32 random bytes in
//! `<data_dir>/pii-ref.key` (mode 0600), created on first start. A reference is
//! HMAC-SHA-256 under it over the user, SP, SessionIndex, assertion ID and expiry, so checking
//! one needs no state: any home instance with the same data directory (or a copy of this file)
//! answers it (issue 17). Deleting the file revokes every outstanding reference.

use std::path::Path;

use federation::pii::{ref_mac_input, PiiRef};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::keys::{io, KeysError};

/// File name of the reference key in the data directory.
pub const PII_REF_KEY_FILE: &str = "pii-ref.key";

/// The fields a reference is bound to.
#[derive(Debug, Clone, Copy)]
pub struct RefBinding<'a> {
    /// The user (NameID).
    pub uid: &'a str,
    /// The SP's entity ID.
    pub sp: &'a str,
    /// The assertion's SessionIndex.
    pub session_index: &'a str,
    /// The assertion's ID.
    pub assertion_id: &'a str,
}

/// The reference key.
pub struct PiiRefKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for PiiRefKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiRefKey([redacted])")
    }
}

impl PiiRefKey {
    /// Loads `<data_dir>/pii-ref.key`, creating it when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<PiiRefKey, KeysError> {
        let path = data_dir.join(PII_REF_KEY_FILE);
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(io(&path))?);
            if bytes.len() != 32 {
                return Err(KeysError::Invalid { path, reason: "not a 32-byte key".into() });
            }
            return Ok(PiiRefKey(bytes));
        }
        let mut key = Zeroizing::new(vec![0u8; 32]);
        OsRng.fill_bytes(&mut key);
        service_kit::files::write_private(&path, &key, 0o600).map_err(io(&path))?;
        Ok(PiiRefKey(key))
    }

    /// A key from bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> PiiRefKey {
        PiiRefKey(Zeroizing::new(bytes.to_vec()))
    }

    /// A 32-byte key for another purpose, derived from this one (HMAC-SHA-256 of
    /// `"idaas derived key v1\0"` and `label`; the reference MACs' input starts with
    /// `"idaas pii-ref v1"`, so the two never collide). Every instance sharing the key file
    /// derives the same key: the SSO forms' cookie key, so that a sign-in started at one
    /// instance completes at another (issue 17).
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        m.update(b"idaas derived key v1\0");
        m.update(label.as_bytes());
        Zeroizing::new(m.finalize().into_bytes().into())
    }

    fn mac(&self, b: RefBinding<'_>, expires: i64) -> [u8; 32] {
        // HMAC takes a key of any length; 32 bytes never fails.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        m.update(&ref_mac_input(b.uid, b.sp, b.session_index, b.assertion_id, expires));
        m.finalize().into_bytes().into()
    }

    /// The reference for `binding`, good until `expires`.
    pub fn issue(&self, binding: RefBinding<'_>, expires: i64) -> PiiRef {
        PiiRef { expires, mac: self.mac(binding, expires) }
    }

    /// Whether `text` is a reference this key issued for `binding` and `now` is before its
    /// expiry. The MAC is compared in constant time.
    pub fn check(&self, text: &str, binding: RefBinding<'_>, now: i64) -> bool {
        let Some(r) = PiiRef::parse(text) else { return false };
        let good: bool = self.mac(binding, r.expires).ct_eq(&r.mac).into();
        good && now < r.expires
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const B: RefBinding<'static> =
        RefBinding { uid: "bob", sp: "sp", session_index: "s1", assertion_id: "a1" };

    #[test]
    fn a_reference_checks_only_for_its_binding_key_and_time() {
        let key = PiiRefKey::from_bytes([1; 32]);
        let r = key.issue(B, 100).to_text();
        assert!(key.check(&r, B, 99));
        assert!(!key.check(&r, B, 100), "expired");
        for other in [
            RefBinding { uid: "alice", ..B },
            RefBinding { sp: "other-sp", ..B },
            RefBinding { session_index: "s2", ..B },
            RefBinding { assertion_id: "a2", ..B },
        ] {
            assert!(!key.check(&r, other, 0), "{other:?}");
        }
        assert!(!PiiRefKey::from_bytes([2; 32]).check(&r, B, 0), "another key");
        // A later expiry written over the MAC'd one does not check.
        let mut moved = PiiRef::parse(&r).unwrap();
        moved.expires = 1_000;
        assert!(!key.check(&moved.to_text(), B, 200));
        assert!(!key.check("garbage", B, 0));
    }

    #[test]
    fn the_key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = PiiRefKey::load_or_create(dir.path()).unwrap();
        let b = PiiRefKey::load_or_create(dir.path()).unwrap();
        let r = a.issue(B, 10).to_text();
        assert!(b.check(&r, B, 0));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(PII_REF_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(PII_REF_KEY_FILE), b"short").unwrap();
        assert!(PiiRefKey::load_or_create(dir.path()).is_err());
    }
}
