//! Persistent records of the home IdP behind the [`Store`] trait, with a sled implementation.
//!
//! One sled tree per record kind; values are versioned enums (`StoredUser::V1`, …, STYLE.md
//! §3.3) serialized with serde_json; every write is flushed to disk before the method returns,
//! so an acknowledged write survives a crash (DESIGN.md §6). A record that does not decode is
//! reported as [`StoreError::Corrupt`], never a panic. The PostgreSQL implementation
//! ([`pg::PgStore`]) keeps the same records in schema `idaas_home`; [`open`] picks one from the
//! `store_url`.

use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{PiiRecord, ServiceProvider, User};
use service_kit::pg::StoreUrl;

mod access;
mod consent;
mod devices;
mod per_user;
pub mod pg;
mod sled_store;
mod upload_tokens;

pub use sled_store::SledStore;

pub use access::{AccessStore, Requests};
pub use consent::ConsentStore;
pub use devices::DeviceStore;
pub use upload_tokens::{UploadToken, UploadTokenStore};

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
    /// A snapshot could not be written.
    #[error("snapshot: {0}")]
    Snapshot(#[from] service_kit::backup::SnapshotError),
    /// This store is not backed up by snapshots (PostgreSQL: pg_dump).
    #[error("this store is backed up with its database's own tools (pg_dump), not by idaas backup")]
    SnapshotUnsupported,
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
/// when it returns `Ok`. Consents are [`ConsentStore`]'s part of it, upload tokens
/// [`UploadTokenStore`]'s, group owners and access requests [`AccessStore`]'s, known devices
/// [`DeviceStore`]'s.
pub trait Store: ConsentStore + UploadTokenStore + AccessStore + DeviceStore + Send + Sync + 'static {
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
    /// Writes a consistent snapshot of the whole store (`idaas backup`); returns the number of
    /// entries. PostgreSQL is backed up with its own tools (pg_dump) and answers
    /// [`StoreError::SnapshotUnsupported`].
    fn snapshot(&self, _out: &mut dyn std::io::Write) -> Result<u64, StoreError> {
        Err(StoreError::SnapshotUnsupported)
    }
    /// The PostgreSQL pool for the state shared between instances (IdP sessions, single-logout
    /// chains, throttles) when the store is in PostgreSQL; `None` (sled) keeps that state in
    /// this process's memory. Its connections do not wait for the WAL flush at commit
    /// (`PgPool::connect_ephemeral`): one instance would lose that state at a restart anyway,
    /// and the records of this store keep their own, durable pool.
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
