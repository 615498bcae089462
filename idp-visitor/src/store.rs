//! Persistent records of the visitor IdP behind the [`Store`] trait, with a sled implementation.
//!
//! Trees: `clients`, `access_tokens` (keyed by SHA-256 of the token), `used_assertions`
//! (keyed by a hash of issuer, assertion ID and client ID: the replay record), `audit`
//! (append-only, keyed by a big-endian sequence number). Values are versioned enums
//! (`StoredClient::V1`, …) in JSON; every write is flushed before the method returns. A grant
//! writes its replay record, access token and audit entry in one transaction, so a refused or
//! failed grant leaves only its audit entry. The PostgreSQL implementation ([`pg::PgStore`])
//! keeps the same records in schema `idaas_visitor`; [`open`] picks one from the `store_url`.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::audit::AuditEntry;
use crate::clients::Client;
use service_kit::pg::StoreUrl;

pub mod pg;

/// The on-disk schema version written to the `meta` tree.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// A stored record does not decode.
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
    /// The database was written by an unknown schema version.
    #[error("database schema version {0} is not supported (this build knows {SCHEMA_VERSION})")]
    UnknownSchema(u32),
    /// The directory could not be created.
    #[error("{0}")]
    Dir(String),
    /// PostgreSQL failed (the message never contains the URL or its password).
    #[error("{0}")]
    Postgres(#[from] service_kit::pg::PgError),
    /// The PostgreSQL schema could not be migrated, or is newer than this build.
    #[error("{0}")]
    Migrate(#[from] service_kit::pg::MigrateError),
    /// A client ID contains NUL or is longer than [`MAX_KEY_LEN`] (refused by both backends).
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

/// An issued opaque access token (stored under the SHA-256 of the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessToken {
    /// The client it was issued to.
    pub client_id: String,
    /// The subject (NameID) — needed to answer introspection; removed when the token expires.
    pub sub: String,
    /// The home IdP.
    pub idp: String,
    /// The granted purposes.
    pub scope: Vec<String>,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Everything a successful grant writes, atomically.
#[derive(Debug)]
pub struct GrantRecord<'a> {
    /// The replay key (see `grant::replay_key`).
    pub replay_key: [u8; 32],
    /// Until when the replay record is kept (afterwards the assertion is too old anyway).
    pub replay_until: i64,
    /// SHA-256 of the access token.
    pub token_hash: [u8; 32],
    /// The access token record.
    pub token: &'a AccessToken,
    /// The audit entry of the grant.
    pub audit: &'a AuditEntry,
}

/// Why a grant could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum GrantStoreError {
    /// This client already exchanged this assertion.
    #[error("replayed")]
    Replayed,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts of records, for tests and `/healthz`-style checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Clients.
    pub clients: usize,
    /// Access tokens.
    pub tokens: usize,
    /// Replay records.
    pub used: usize,
    /// Audit entries.
    pub audit: usize,
}

/// Persistent storage of the visitor IdP. Every mutating method has flushed when it returns.
pub trait Store: Send + Sync + 'static {
    /// Creates or replaces a client; `true` if created.
    fn put_client(&self, client: &Client) -> Result<bool, StoreError>;
    /// Reads a client.
    fn get_client(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// All clients, ordered by client ID.
    fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Deletes a client; `false` if there was none.
    fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Records a grant atomically; [`GrantStoreError::Replayed`] (and nothing written) if the
    /// replay key is present and not expired at `now`.
    fn record_grant(&self, grant: &GrantRecord<'_>, now: i64) -> Result<u64, GrantStoreError>;
    /// Reads an access token by hash (expired ones included: the caller checks).
    fn get_token(&self, hash: &[u8; 32]) -> Result<Option<AccessToken>, StoreError>;

    /// Appends an audit entry; returns its sequence number.
    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError>;
    /// Audit entries with a sequence number above `after`, oldest first, at most `limit`.
    fn list_audit(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditEntry)>, StoreError>;

    /// Deletes expired tokens and replay records; returns how many.
    fn purge_expired(&self, now: i64) -> Result<usize, StoreError>;
    /// The PostgreSQL pool for the client-authentication throttle when the store is in
    /// PostgreSQL, shared by every instance; `None` (sled) keeps it in this process's memory.
    /// Its connections do not wait for the WAL flush at commit (`PgPool::connect_ephemeral`):
    /// one instance would lose the counts at a restart anyway; clients, grants and the audit
    /// log keep their own, durable pool.
    fn pg_pool(&self) -> Option<std::sync::Arc<service_kit::pg::PgPool>> {
        None
    }
    /// Record counts.
    fn counts(&self) -> Result<Counts, StoreError>;
    /// Writes a consistent snapshot of the whole store (`idaas backup`); returns the number of
    /// entries. PostgreSQL is backed up with its own tools (pg_dump) and answers
    /// [`StoreError::SnapshotUnsupported`].
    fn snapshot(&self, _out: &mut dyn std::io::Write) -> Result<u64, StoreError> {
        Err(StoreError::SnapshotUnsupported)
    }
}

#[derive(Serialize, Deserialize)]
enum StoredClient {
    V1(Client),
}

#[derive(Serialize, Deserialize)]
enum StoredToken {
    V1(AccessToken),
}

#[derive(Serialize, Deserialize)]
enum StoredAudit {
    V1(AuditEntry),
}

const CLIENTS: &str = "clients";
const TOKENS: &str = "access_tokens";
const USED: &str = "used_assertions";
const AUDIT: &str = "audit";

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Encode(e.to_string()))
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { tree, reason: e.to_string() })
}

fn client_from(bytes: &[u8]) -> Result<Client, StoreError> {
    let StoredClient::V1(c) = decode(CLIENTS, bytes)?;
    Ok(c)
}

fn until_from(bytes: &[u8]) -> i64 {
    <[u8; 8]>::try_from(bytes).map(i64::from_be_bytes).unwrap_or(0)
}

/// The sled implementation of [`Store`].
pub struct SledStore {
    db: sled::Db,
    gate: service_kit::backup::SnapshotGate,
    clients: sled::Tree,
    tokens: sled::Tree,
    used: sled::Tree,
    audit: sled::Tree,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (creating if needed, mode 0700) the database in directory `path`.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        crate::keys::ensure_private_dir(path).map_err(|e| StoreError::Dir(e.to_string()))?;
        Self::with_config(sled::Config::new().path(path))
    }

    /// A database that lives in memory only (tests, benchmarks).
    pub fn temporary() -> Result<SledStore, StoreError> {
        Self::with_config(sled::Config::new().temporary(true))
    }

    fn with_config(config: sled::Config) -> Result<SledStore, StoreError> {
        let db = service_kit::store::open_db(&config)?;
        service_kit::store::check_schema(&db, SCHEMA_VERSION)?;
        Ok(SledStore {
            clients: db.open_tree(CLIENTS)?,
            tokens: db.open_tree(TOKENS)?,
            used: db.open_tree(USED)?,
            audit: db.open_tree(AUDIT)?,
            db,
            gate: Default::default(),
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

impl Store for SledStore {
    fn put_client(&self, client: &Client) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        check_key(&client.client_id)?;
        let prev =
            self.clients.insert(client.client_id.as_bytes(), encode(&StoredClient::V1(client.clone()))?)?;
        self.flush()?;
        Ok(prev.is_none())
    }

    fn get_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        self.clients.get(client_id.as_bytes())?.map(|v| client_from(&v)).transpose()
    }

    fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.clients.iter().map(|e| client_from(&e?.1)).collect()
    }

    fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let prev = self.clients.remove(client_id.as_bytes())?;
        self.flush()?;
        Ok(prev.is_some())
    }

    fn record_grant(&self, grant: &GrantRecord<'_>, now: i64) -> Result<u64, GrantStoreError> {
        let _writing = self.gate.writing();
        let token = encode(&StoredToken::V1(grant.token.clone()))?;
        let audit = encode(&StoredAudit::V1(grant.audit.clone()))?;
        let seq = self.db.generate_id().map_err(StoreError::from)?.saturating_add(1);
        let result = (&self.used, &self.tokens, &self.audit).transaction(|(used, tokens, audit_tree)| {
            if let Some(v) = used.get(grant.replay_key)? {
                if until_from(&v) > now {
                    return Err(ConflictableTransactionError::Abort(()));
                }
            }
            used.insert(&grant.replay_key, &grant.replay_until.to_be_bytes())?;
            tokens.insert(&grant.token_hash, token.as_slice())?;
            audit_tree.insert(&seq.to_be_bytes(), audit.as_slice())?;
            Ok(())
        });
        match result {
            Ok(()) => {
                self.flush()?;
                Ok(seq)
            }
            Err(TransactionError::Abort(())) => Err(GrantStoreError::Replayed),
            Err(TransactionError::Storage(e)) => Err(StoreError::Db(e).into()),
        }
    }

    fn get_token(&self, hash: &[u8; 32]) -> Result<Option<AccessToken>, StoreError> {
        let Some(v) = self.tokens.get(hash)? else {
            return Ok(None);
        };
        let StoredToken::V1(t) = decode(TOKENS, &v)?;
        Ok(Some(t))
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        let _writing = self.gate.writing();
        // sled counts from 0; audit sequence numbers start at 1 so `after=0` lists everything.
        let seq = self.db.generate_id()?.saturating_add(1);
        self.audit.insert(seq.to_be_bytes(), encode(&StoredAudit::V1(entry.clone()))?)?;
        self.flush()?;
        Ok(seq)
    }

    fn list_audit(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        self.audit
            .range(start..)
            .take(limit)
            .map(|e| {
                let (k, v) = e?;
                let seq = <[u8; 8]>::try_from(k.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt { tree: AUDIT, reason: "key".into() })?;
                let StoredAudit::V1(entry) = decode(AUDIT, &v)?;
                Ok((seq, entry))
            })
            .collect()
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let _writing = self.gate.writing();
        let mut n = 0;
        for entry in self.tokens.iter() {
            let (k, v) = entry?;
            // A record that does not decode can never be introspected: remove it too.
            let expired = match decode::<StoredToken>(TOKENS, &v) {
                Ok(StoredToken::V1(t)) => t.exp <= now,
                Err(_) => true,
            };
            if expired {
                self.tokens.remove(k)?;
                n += 1;
            }
        }
        for entry in self.used.iter() {
            let (k, v) = entry?;
            if until_from(&v) <= now {
                self.used.remove(k)?;
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

    fn counts(&self) -> Result<Counts, StoreError> {
        Ok(Counts {
            clients: self.clients.len(),
            tokens: self.tokens.len(),
            used: self.used.len(),
            audit: self.audit.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, Outcome};

    fn client(id: &str) -> Client {
        Client {
            client_id: id.into(),
            name: "Shop".into(),
            secret_hash: "$argon2id$…".into(),
            purposes: vec!["purpose:current".into()],
            pat_public_key: None,
            created: 1,
            entity_id: None,
            may_exchange_for: Vec::new(),
        }
    }

    #[test]
    fn survives_reopen_and_grants_are_atomic_and_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let token = AccessToken {
            client_id: "shop".into(),
            sub: "bob".into(),
            idp: "i".into(),
            scope: vec![],
            iat: 1,
            exp: 100,
        };
        let audit = AuditEntry::new(5, Outcome::Granted);
        {
            let s = SledStore::open(&path).unwrap();
            assert!(s.put_client(&client("shop")).unwrap());
            assert!(!s.put_client(&client("shop")).unwrap());
            let g = GrantRecord {
                replay_key: [1; 32],
                replay_until: 50,
                token_hash: [2; 32],
                token: &token,
                audit: &audit,
            };
            s.record_grant(&g, 10).unwrap();
            assert!(matches!(s.record_grant(&g, 10), Err(GrantStoreError::Replayed)));
            s.append_audit(&AuditEntry::new(6, Outcome::Refused)).unwrap();
        }
        let s = SledStore::open(&path).unwrap();
        assert_eq!(s.get_client("shop").unwrap().unwrap(), client("shop"));
        assert_eq!(s.get_token(&[2; 32]).unwrap().unwrap(), token);
        assert_eq!(s.counts().unwrap(), Counts { clients: 1, tokens: 1, used: 1, audit: 2 });
        let log = s.list_audit(0, 10).unwrap();
        assert_eq!(log.len(), 2);
        assert!(log[0].0 < log[1].0);
        assert_eq!(s.list_audit(log[0].0, 10).unwrap().len(), 1);
        assert_eq!(s.purge_expired(60).unwrap(), 1, "the replay record expired");
        assert_eq!(s.purge_expired(100).unwrap(), 1, "the token expired");
        assert!(s.delete_client("shop").unwrap());
        assert!(!s.delete_client("shop").unwrap());
    }

    #[test]
    fn corrupt_record_is_an_error_not_a_panic() {
        let s = SledStore::temporary().unwrap();
        s.clients.insert(b"eve", b"{not json".as_slice()).unwrap();
        assert!(matches!(s.get_client("eve"), Err(StoreError::Corrupt { tree: CLIENTS, .. })));
        assert!(s.list_clients().is_err());
    }
}
