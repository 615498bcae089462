//! The sled implementation of the home IdP's [`Store`]: one tree per record kind, every write
//! flushed before it returns, and every write behind the [`SnapshotGate`] so that a backup
//! (`idaas backup`, [`service_kit::backup`]) sees the store between two writes.

use std::path::Path;

use service_kit::backup::SnapshotGate;

use super::{
    check_key, decode, encode, pii_from_stored, pii_key, pii_prefix, pii_to_stored, sp_from, user_from,
    ApiToken, Store, StoreError, StoredApiToken, StoredSp, StoredUser, StoredVerification, Verification,
    API_TOKENS, PII, SCHEMA_VERSION, SPS, USERS, VERIFICATIONS,
};
use crate::model::{PiiRecord, ServiceProvider, User};

/// The sled implementation of [`Store`].
pub struct SledStore {
    pub(super) db: sled::Db,
    pub(super) gate: SnapshotGate,
    pub(super) users: sled::Tree,
    pub(super) sps: sled::Tree,
    pub(super) pii: sled::Tree,
    pub(super) api_tokens: sled::Tree,
    pub(super) verifications: sled::Tree,
    pub(super) consents: sled::Tree,
    pub(super) group_owners: sled::Tree,
    pub(super) access_requests: sled::Tree,
    pub(super) upload_tokens: sled::Tree,
    pub(super) devices: sled::Tree,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (creating if needed, with mode 0700) the database in directory `path`.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        create_private_dir(path)?;
        let db = service_kit::store::open_db(&sled::Config::new().path(path))?;
        service_kit::store::check_schema(&db, SCHEMA_VERSION)?;
        Ok(SledStore {
            users: db.open_tree(USERS)?,
            sps: db.open_tree(SPS)?,
            pii: db.open_tree(PII)?,
            api_tokens: db.open_tree(API_TOKENS)?,
            verifications: db.open_tree(VERIFICATIONS)?,
            consents: db.open_tree(super::consent::CONSENTS)?,
            group_owners: db.open_tree(super::access::GROUP_OWNERS)?,
            access_requests: db.open_tree(super::access::ACCESS_REQUESTS)?,
            upload_tokens: db.open_tree(super::upload_tokens::UPLOAD_TOKENS)?,
            devices: db.open_tree(super::devices::DEVICES)?,
            db,
            gate: SnapshotGate::default(),
        })
    }

    pub(super) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(|source| StoreError::Io { path: path.to_owned(), source })
}

impl Store for SledStore {
    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        check_key(&user.uid)?;
        let value = encode(&StoredUser::V1(user.clone()))?;
        match self.users.compare_and_swap(user.uid.as_bytes(), None::<&[u8]>, Some(value))? {
            Ok(()) => self.flush(),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    fn get_user(&self, uid: &str) -> Result<Option<User>, StoreError> {
        self.users.get(uid.as_bytes())?.map(|v| user_from(&v)).transpose()
    }

    fn put_user(&self, user: &User) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        check_key(&user.uid)?;
        self.users.insert(user.uid.as_bytes(), encode(&StoredUser::V1(user.clone()))?)?;
        self.flush()
    }

    fn update_user(&self, uid: &str, f: &mut dyn FnMut(&mut User)) -> Result<Option<User>, StoreError> {
        let _writing = self.gate.writing();
        loop {
            let Some(old) = self.users.get(uid.as_bytes())? else {
                return Ok(None);
            };
            let mut user = user_from(&old)?;
            f(&mut user);
            let new = encode(&StoredUser::V1(user.clone()))?;
            if self.users.compare_and_swap(uid.as_bytes(), Some(old), Some(new))?.is_ok() {
                self.flush()?;
                return Ok(Some(user));
            }
        }
    }

    fn delete_user(&self, uid: &str) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let existed = self.users.remove(uid.as_bytes())?.is_some();
        for entry in self.pii.scan_prefix(pii_prefix(uid)) {
            let (k, _) = entry?;
            self.pii.remove(k)?;
        }
        self.remove_consents_of(uid)?;
        self.remove_requests_of(uid)?;
        self.per_user_remove_all(&self.devices, uid)?;
        self.flush()?;
        Ok(existed)
    }

    fn delete_user_if(&self, uid: &str, pred: &dyn Fn(&User) -> bool) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let Some(old) = self.users.get(uid.as_bytes())? else {
            return Ok(false);
        };
        if !pred(&user_from(&old)?) {
            return Ok(false);
        }
        // Only if the record is still exactly the one judged (not verified meanwhile).
        if self.users.compare_and_swap(uid.as_bytes(), Some(old), None::<&[u8]>)?.is_err() {
            return Ok(false);
        }
        for entry in self.pii.scan_prefix(pii_prefix(uid)) {
            let (k, _) = entry?;
            self.pii.remove(k)?;
        }
        self.remove_consents_of(uid)?;
        self.remove_requests_of(uid)?;
        self.per_user_remove_all(&self.devices, uid)?;
        self.flush()?;
        Ok(true)
    }

    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.users.iter().map(|e| user_from(&e?.1)).collect()
    }

    fn put_sp(&self, sp: &ServiceProvider) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        check_key(&sp.entity_id)?;
        let prev = self.sps.insert(sp.entity_id.as_bytes(), encode(&StoredSp::V1(sp.clone()))?)?;
        self.flush()?;
        Ok(prev.is_none())
    }

    fn get_sp(&self, entity_id: &str) -> Result<Option<ServiceProvider>, StoreError> {
        self.sps.get(entity_id.as_bytes())?.map(|v| sp_from(&v)).transpose()
    }

    fn list_sps(&self) -> Result<Vec<ServiceProvider>, StoreError> {
        self.sps.iter().map(|e| sp_from(&e?.1)).collect()
    }

    fn delete_sp(&self, entity_id: &str) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let prev = self.sps.remove(entity_id.as_bytes())?;
        self.flush()?;
        Ok(prev.is_some())
    }

    fn put_pii(&self, uid: &str, record: &PiiRecord) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        check_key(uid)?;
        check_key(&record.attribute)?;
        let prev = self.pii.insert(pii_key(uid, &record.attribute), encode(&pii_to_stored(record))?)?;
        self.flush()?;
        Ok(prev.is_none())
    }

    fn get_pii(&self, uid: &str, attribute: &str) -> Result<Option<PiiRecord>, StoreError> {
        self.pii.get(pii_key(uid, attribute))?.map(|v| pii_from_stored(decode(PII, &v)?)).transpose()
    }

    fn list_pii(&self, uid: &str) -> Result<Vec<PiiRecord>, StoreError> {
        self.pii.scan_prefix(pii_prefix(uid)).map(|e| pii_from_stored(decode(PII, &e?.1)?)).collect()
    }

    fn delete_pii(&self, uid: &str, attribute: &str) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let prev = self.pii.remove(pii_key(uid, attribute))?;
        self.flush()?;
        Ok(prev.is_some())
    }

    fn put_api_token(&self, hash: &[u8; 32], token: &ApiToken) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        let v = StoredApiToken::V1 { uid: token.uid.clone(), expires: token.expires };
        self.api_tokens.insert(hash, encode(&v)?)?;
        self.flush()
    }

    fn get_api_token(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        let Some(v) = self.api_tokens.get(hash)? else {
            return Ok(None);
        };
        let StoredApiToken::V1 { uid, expires } = decode(API_TOKENS, &v)?;
        Ok(Some(ApiToken { uid, expires }))
    }

    fn put_verification(&self, hash: &[u8; 32], v: &Verification) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        let s = StoredVerification::V1 { uid: v.uid.clone(), expires: v.expires };
        self.verifications.insert(hash, encode(&s)?)?;
        self.flush()
    }

    fn take_verification(&self, hash: &[u8; 32]) -> Result<Option<Verification>, StoreError> {
        let _writing = self.gate.writing();
        let Some(v) = self.verifications.remove(hash)? else {
            return Ok(None);
        };
        self.flush()?;
        let StoredVerification::V1 { uid, expires } = decode(VERIFICATIONS, &v)?;
        Ok(Some(Verification { uid, expires }))
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let _writing = self.gate.writing();
        let mut n = 0;
        for entry in self.api_tokens.iter() {
            let (k, v) = entry?;
            // A record that does not decode is removed too: it can never authenticate anyone.
            let expired = match decode::<StoredApiToken>(API_TOKENS, &v) {
                Ok(StoredApiToken::V1 { expires, .. }) => expires <= now,
                Err(_) => true,
            };
            if expired {
                self.api_tokens.remove(k)?;
                n += 1;
            }
        }
        for entry in self.verifications.iter() {
            let (k, v) = entry?;
            let expired = match decode::<StoredVerification>(VERIFICATIONS, &v) {
                Ok(StoredVerification::V1 { expires, .. }) => expires <= now,
                Err(_) => true,
            };
            if expired {
                self.verifications.remove(k)?;
                n += 1;
            }
        }
        if n > 0 {
            self.flush()?;
        }
        Ok(n)
    }

    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<u64, StoreError> {
        Ok(service_kit::backup::write_snapshot(&self.db, &self.gate, out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::token_hash;

    fn user(uid: &str) -> User {
        User {
            uid: uid.into(),
            email: format!("{uid}@example.org"),
            password_hash: "$argon2id$…".into(),
            verified: false,
            groups: vec![],
            created: 1,
            security: Default::default(),
            grants: Vec::new(),
        }
    }

    fn pii(attribute: &str) -> PiiRecord {
        PiiRecord {
            attribute: attribute.into(),
            ciphertext: vec![1, 2, 3],
            policy: "a:b@c".into(),
            authorities: vec!["c".into()],
            updated: 7,
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let s = SledStore::open(&path).unwrap();
            s.insert_user(&user("bob")).unwrap();
            assert!(matches!(s.insert_user(&user("bob")), Err(StoreError::AlreadyExists)));
            s.put_pii("bob", &pii("lastname")).unwrap();
            s.put_api_token(&token_hash("t"), &ApiToken { uid: "bob".into(), expires: 10 }).unwrap();
        }
        let s = SledStore::open(&path).unwrap();
        assert_eq!(s.get_user("bob").unwrap().unwrap(), user("bob"));
        assert_eq!(s.list_pii("bob").unwrap(), vec![pii("lastname")]);
        assert_eq!(s.get_api_token(&token_hash("t")).unwrap().unwrap().uid, "bob");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
    }

    #[test]
    fn pii_of_one_user_is_not_listed_for_another() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        s.put_pii("bob", &pii("x")).unwrap();
        s.put_pii("bobby", &pii("y")).unwrap();
        assert_eq!(s.list_pii("bob").unwrap().len(), 1);
        assert!(s.delete_pii("bob", "x").unwrap());
        assert!(!s.delete_pii("bob", "x").unwrap());
        assert_eq!(s.list_pii("bobby").unwrap().len(), 1);
    }

    #[test]
    fn corrupt_record_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        s.users.insert(b"eve", b"{not json".as_slice()).unwrap();
        assert!(matches!(s.get_user("eve"), Err(StoreError::Corrupt { tree: USERS, .. })));
        assert!(s.list_users().is_err());
        s.users.insert(b"eve", br#"{"V9":{}}"#.as_slice()).unwrap();
        assert!(matches!(s.get_user("eve"), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn update_user_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        s.insert_user(&user("bob")).unwrap();
        let u = s.update_user("bob", &mut |u| u.verified = true).unwrap().unwrap();
        assert!(u.verified && s.get_user("bob").unwrap().unwrap().verified);
        assert!(s.update_user("nobody", &mut |_| {}).unwrap().is_none());
        s.put_verification(&token_hash("v"), &Verification { uid: "bob".into(), expires: 5 }).unwrap();
        s.put_api_token(&token_hash("a"), &ApiToken { uid: "bob".into(), expires: 100 }).unwrap();
        assert_eq!(s.purge_expired(50).unwrap(), 1);
        assert!(s.take_verification(&token_hash("v")).unwrap().is_none());
        assert!(s.get_api_token(&token_hash("a")).unwrap().is_some());
    }
}
