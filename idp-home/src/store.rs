//! Persistent records of the home IdP behind the [`Store`] trait, with a sled implementation.
//!
//! One sled tree per record kind; values are versioned enums (`StoredUser::V1`, …, STYLE.md
//! §3.3) serialized with serde_json; every write is flushed to disk before the method returns,
//! so an acknowledged write survives a crash (DESIGN.md §6). A record that does not decode is
//! reported as [`StoreError::Corrupt`], never a panic. The PostgreSQL implementation
//! ([`pg::PgStore`]) keeps the same records in schema `idaas_home`; [`open`] picks one from the
//! `store_url`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{PiiRecord, ServiceProvider, User};
use service_kit::pg::StoreUrl;

pub mod pg;

/// The on-disk schema version written to the `meta` tree.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error (I/O, or its own corruption check).
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// The database directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A stored record does not decode (damaged file, or written by an incompatible version).
    #[error("corrupt record in tree '{tree}': {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// What failed.
        reason: String,
    },
    /// A record could not be encoded (a bug).
    #[error("encoding a record: {0}")]
    Encode(String),
    /// `insert_user` for a uid that exists.
    #[error("the record already exists")]
    AlreadyExists,
    /// The database was written by a newer, unknown schema version.
    #[error("database schema version {0} is not supported (this build knows {SCHEMA_VERSION})")]
    UnknownSchema(u32),
    /// PostgreSQL failed (the message never contains the URL or its password).
    #[error("{0}")]
    Postgres(#[from] service_kit::pg::PgError),
    /// The PostgreSQL schema could not be migrated, or is newer than this build.
    #[error("{0}")]
    Migrate(#[from] service_kit::pg::MigrateError),
    /// A key (uid, entity ID, attribute name) contains NUL or is longer than [`MAX_KEY_LEN`]: no backend
    /// stores it (PostgreSQL text cannot hold NUL, and the sled PII keys use it as a separator).
    #[error("a key must not contain a NUL character nor be longer than {MAX_KEY_LEN} bytes")]
    InvalidKey,
}

/// Opens the store `url` names: a sled database in its directory, or PostgreSQL (applying
/// the migrations this database has not seen, and refusing a newer schema).
pub fn open(url: &StoreUrl) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url {
        StoreUrl::Sled(path) => Arc::new(SledStore::open(path)?),
        StoreUrl::Postgres(pg) => Arc::new(pg::PgStore::open(pg)?),
    })
}

pub use service_kit::store::MAX_KEY_LEN;

/// Whether no backend can hold `key` (see [`StoreError::InvalidKey`]); reads of such a key
/// find nothing.
fn unstorable(key: &str) -> bool {
    !service_kit::store::is_storable_key(key)
}

/// Refuses a key that no backend can hold (see [`StoreError::InvalidKey`]).
fn check_key(key: &str) -> Result<(), StoreError> {
    if unstorable(key) {
        return Err(StoreError::InvalidKey);
    }
    Ok(())
}

impl From<service_kit::store::SchemaError> for StoreError {
    fn from(e: service_kit::store::SchemaError) -> Self {
        use service_kit::store::SchemaError as E;
        match e {
            E::Db(e) => StoreError::Db(e),
            E::Corrupt => StoreError::Corrupt { tree: "meta", reason: "schema version".into() },
            E::Unsupported(v) => StoreError::UnknownSchema(v),
        }
    }
}

/// A data-owner API bearer token (stored under the SHA-256 of the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// The user.
    pub uid: String,
    /// Expiry, Unix seconds.
    pub expires: i64,
}

/// An e-mail verification token (stored under the SHA-256 of the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The user.
    pub uid: String,
    /// Expiry, Unix seconds.
    pub expires: i64,
}

/// SHA-256 of a bearer secret: the only form in which tokens are stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Persistent storage of the home IdP. Every mutating method has flushed its write to disk
/// when it returns `Ok`.
pub trait Store: Send + Sync + 'static {
    /// Creates a user; [`StoreError::AlreadyExists`] if the uid is taken (atomic).
    fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    /// Reads a user.
    fn get_user(&self, uid: &str) -> Result<Option<User>, StoreError>;
    /// Creates or replaces a user.
    fn put_user(&self, user: &User) -> Result<(), StoreError>;
    /// Atomically reads, modifies (with `f`) and writes a user; `None` if there is no such user.
    fn update_user(&self, uid: &str, f: &mut dyn FnMut(&mut User)) -> Result<Option<User>, StoreError>;
    /// Deletes a user and their PII; `false` if there was none.
    fn delete_user(&self, uid: &str) -> Result<bool, StoreError>;
    /// Deletes a user (and their PII) only if `pred` holds for the stored record at the moment
    /// of deletion (atomic: a concurrent verification wins); `false` if nothing was deleted.
    fn delete_user_if(&self, uid: &str, pred: &dyn Fn(&User) -> bool) -> Result<bool, StoreError>;
    /// All users, ordered by uid.
    fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// Creates or replaces a service provider; `true` if it was created.
    fn put_sp(&self, sp: &ServiceProvider) -> Result<bool, StoreError>;
    /// Reads a service provider by entity ID.
    fn get_sp(&self, entity_id: &str) -> Result<Option<ServiceProvider>, StoreError>;
    /// All service providers, ordered by entity ID.
    fn list_sps(&self) -> Result<Vec<ServiceProvider>, StoreError>;
    /// Deletes a service provider; `false` if there was none.
    fn delete_sp(&self, entity_id: &str) -> Result<bool, StoreError>;

    /// Creates or replaces one PII ciphertext of `uid`; `true` if it was created.
    fn put_pii(&self, uid: &str, record: &PiiRecord) -> Result<bool, StoreError>;
    /// Reads one PII ciphertext.
    fn get_pii(&self, uid: &str, attribute: &str) -> Result<Option<PiiRecord>, StoreError>;
    /// All PII ciphertexts of `uid`, ordered by attribute name.
    fn list_pii(&self, uid: &str) -> Result<Vec<PiiRecord>, StoreError>;
    /// Deletes one PII ciphertext; `false` if there was none.
    fn delete_pii(&self, uid: &str, attribute: &str) -> Result<bool, StoreError>;

    /// Stores an API token under its hash.
    fn put_api_token(&self, hash: &[u8; 32], token: &ApiToken) -> Result<(), StoreError>;
    /// Looks an API token up by its hash (expired ones included: the caller checks).
    fn get_api_token(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>, StoreError>;
    /// Stores an e-mail verification token under its hash.
    fn put_verification(&self, hash: &[u8; 32], v: &Verification) -> Result<(), StoreError>;
    /// Removes and returns a verification token (single use).
    fn take_verification(&self, hash: &[u8; 32]) -> Result<Option<Verification>, StoreError>;
    /// Deletes expired API and verification tokens; returns how many.
    fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;
    /// The PostgreSQL pool when the store is in PostgreSQL: the state shared between
    /// instances (IdP sessions, throttles) is then kept there too; `None` (sled) keeps it in
    /// this process's memory.
    fn pg_pool(&self) -> Option<Arc<service_kit::pg::PgPool>> {
        None
    }
}

// ---- versioned on-disk forms ----

#[derive(Serialize, Deserialize)]
enum StoredUser {
    V1(User),
}

#[derive(Serialize, Deserialize)]
enum StoredSp {
    V1(ServiceProvider),
}

#[derive(Serialize, Deserialize)]
enum StoredPii {
    V1 {
        attribute: String,
        /// base64url (unpadded) of the binary ciphertext.
        ciphertext: String,
        policy: String,
        authorities: Vec<String>,
        updated: i64,
    },
}

#[derive(Serialize, Deserialize)]
enum StoredApiToken {
    V1 { uid: String, expires: i64 },
}

#[derive(Serialize, Deserialize)]
enum StoredVerification {
    V1 { uid: String, expires: i64 },
}

const USERS: &str = "users";
const SPS: &str = "service_providers";
const PII: &str = "pii";
const API_TOKENS: &str = "api_tokens";
const VERIFICATIONS: &str = "verifications";

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Encode(e.to_string()))
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { tree, reason: e.to_string() })
}

fn pii_key(uid: &str, attribute: &str) -> Vec<u8> {
    let mut k = pii_prefix(uid);
    k.extend_from_slice(attribute.as_bytes());
    k
}

/// `uid` then a NUL (uids never contain NUL), so one user's prefix is never another's.
fn pii_prefix(uid: &str) -> Vec<u8> {
    let mut k = uid.as_bytes().to_vec();
    k.push(0);
    k
}

fn pii_from_stored(s: StoredPii) -> Result<PiiRecord, StoreError> {
    let StoredPii::V1 { attribute, ciphertext, policy, authorities, updated } = s;
    let ciphertext = URL_SAFE_NO_PAD
        .decode(ciphertext.as_bytes())
        .map_err(|e| StoreError::Corrupt { tree: PII, reason: format!("ciphertext: {e}") })?;
    Ok(PiiRecord { attribute, ciphertext, policy, authorities, updated })
}

fn pii_to_stored(r: &PiiRecord) -> StoredPii {
    StoredPii::V1 {
        attribute: r.attribute.clone(),
        ciphertext: URL_SAFE_NO_PAD.encode(&r.ciphertext),
        policy: r.policy.clone(),
        authorities: r.authorities.clone(),
        updated: r.updated,
    }
}

fn user_from(bytes: &[u8]) -> Result<User, StoreError> {
    let StoredUser::V1(u) = decode(USERS, bytes)?;
    Ok(u)
}

fn sp_from(bytes: &[u8]) -> Result<ServiceProvider, StoreError> {
    let StoredSp::V1(sp) = decode(SPS, bytes)?;
    Ok(sp)
}

/// The sled implementation of [`Store`].
pub struct SledStore {
    db: sled::Db,
    users: sled::Tree,
    sps: sled::Tree,
    pii: sled::Tree,
    api_tokens: sled::Tree,
    verifications: sled::Tree,
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
            db,
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
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
        check_key(&user.uid)?;
        self.users.insert(user.uid.as_bytes(), encode(&StoredUser::V1(user.clone()))?)?;
        self.flush()
    }

    fn update_user(&self, uid: &str, f: &mut dyn FnMut(&mut User)) -> Result<Option<User>, StoreError> {
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
        let existed = self.users.remove(uid.as_bytes())?.is_some();
        for entry in self.pii.scan_prefix(pii_prefix(uid)) {
            let (k, _) = entry?;
            self.pii.remove(k)?;
        }
        self.flush()?;
        Ok(existed)
    }

    fn delete_user_if(&self, uid: &str, pred: &dyn Fn(&User) -> bool) -> Result<bool, StoreError> {
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
        self.flush()?;
        Ok(true)
    }

    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.users.iter().map(|e| user_from(&e?.1)).collect()
    }

    fn put_sp(&self, sp: &ServiceProvider) -> Result<bool, StoreError> {
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
        let prev = self.sps.remove(entity_id.as_bytes())?;
        self.flush()?;
        Ok(prev.is_some())
    }

    fn put_pii(&self, uid: &str, record: &PiiRecord) -> Result<bool, StoreError> {
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
        let prev = self.pii.remove(pii_key(uid, attribute))?;
        self.flush()?;
        Ok(prev.is_some())
    }

    fn put_api_token(&self, hash: &[u8; 32], token: &ApiToken) -> Result<(), StoreError> {
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
        let s = StoredVerification::V1 { uid: v.uid.clone(), expires: v.expires };
        self.verifications.insert(hash, encode(&s)?)?;
        self.flush()
    }

    fn take_verification(&self, hash: &[u8; 32]) -> Result<Option<Verification>, StoreError> {
        let Some(v) = self.verifications.remove(hash)? else {
            return Ok(None);
        };
        self.flush()?;
        let StoredVerification::V1 { uid, expires } = decode(VERIFICATIONS, &v)?;
        Ok(Some(Verification { uid, expires }))
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: &str) -> User {
        User {
            uid: uid.into(),
            email: format!("{uid}@example.org"),
            password_hash: "$argon2id$…".into(),
            verified: false,
            groups: vec![],
            created: 1,
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
