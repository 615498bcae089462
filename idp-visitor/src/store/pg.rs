//! The PostgreSQL implementation of [`Store`], in schema `idaas_visitor` (issue 17).
//!
//! Tables mirror the sled trees and hold the very JSON text the sled store writes
//! (`StoredClient::V1`, …) in a `value` column; client IDs use the `"C"` collation so lists
//! come back in byte order, as from sled. A grant is one statement whose first CTE is
//! the replay check itself: `INSERT … ON CONFLICT DO UPDATE … WHERE until <= now RETURNING`
//! returns no row when an unexpired record exists, and two concurrent grants of one assertion
//! (on one instance or two) serialize on that row, so exactly one succeeds. Audit sequence
//! numbers come from an identity column and start at 1. See `service_kit::pg` for how the
//! synchronous trait reaches the async driver.

use service_kit::pg::{migrate, Cached, PgError, PgPool, PgUrl};

use super::{
    client_from, decode, encode, AccessToken, Counts, GrantRecord, GrantStoreError, Store, StoreError,
    StoredAudit, StoredClient, StoredToken, AUDIT, TOKENS,
};
use crate::audit::AuditEntry;
use crate::clients::Client;

/// The PostgreSQL schema of the visitor IdP.
pub const SCHEMA: &str = "idaas_visitor";

/// Migration `i` takes the schema from version `i` to `i + 1`. Never edit a released one: add.
pub const MIGRATIONS: &[&str] = &[V1, service_kit::throttle::pg::TABLE_SQL];

/// Version 1: the persistent records.
const V1: &str = "
    CREATE TABLE idaas_visitor.clients (
        client_id TEXT COLLATE \"C\" PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE idaas_visitor.access_tokens (
        hash BYTEA PRIMARY KEY,
        exp BIGINT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE TABLE idaas_visitor.used_assertions (
        replay_key BYTEA PRIMARY KEY,
        until BIGINT NOT NULL
    );
    CREATE TABLE idaas_visitor.audit (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE INDEX access_tokens_exp ON idaas_visitor.access_tokens (exp);
    CREATE INDEX used_assertions_until ON idaas_visitor.used_assertions (until);
";

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug)]
pub struct PgStore {
    pool: std::sync::Arc<PgPool>,
    /// Connections for the state shared between instances (see [`Store::pg_pool`]).
    shared_state: std::sync::Arc<PgPool>,
}

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    // serde_json writes UTF-8 (and escapes NUL), which is what a TEXT column takes.
    String::from_utf8(bytes).map_err(|e| StoreError::Encode(e.to_string()))
}

fn seq_from(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::Corrupt { tree: AUDIT, reason: "negative sequence number".into() })
}

impl PgStore {
    /// Connects, applies the migrations this database has not seen, and refuses a schema newer
    /// than this build's.
    pub fn open(url: &PgUrl) -> Result<PgStore, StoreError> {
        let pool = PgPool::connect(url)?;
        migrate(&pool, SCHEMA, MIGRATIONS)?;
        let shared_state = PgPool::connect_ephemeral(url)?;
        Ok(PgStore { pool: std::sync::Arc::new(pool), shared_state: std::sync::Arc::new(shared_state) })
    }

    /// Applies the migrations only (`idaas migrate`); returns the version now in force.
    pub fn migrate(url: &PgUrl) -> Result<i32, StoreError> {
        let pool = PgPool::connect(url)?;
        Ok(migrate(&pool, SCHEMA, MIGRATIONS)?)
    }
}

impl Store for PgStore {
    fn put_client(&self, client: &Client) -> Result<bool, StoreError> {
        super::check_key(&client.client_id)?;
        let value = text(encode(&StoredClient::V1(client.clone()))?)?;
        Ok(self.pool.upsert(
            "INSERT INTO idaas_visitor.clients (client_id, value) VALUES ($1, $2)
             ON CONFLICT (client_id) DO UPDATE SET value = EXCLUDED.value
             RETURNING (xmax = 0)",
            vec![client.client_id.clone(), value],
        )?)
    }

    fn get_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        if super::unstorable(client_id) {
            return Ok(None);
        }
        let id = client_id.to_owned();
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached("SELECT value FROM idaas_visitor.clients WHERE client_id = $1", &[&id])
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        v.map(|v| client_from(v.as_bytes())).transpose()
    }

    fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let values = self.pool.run(|c| async move {
            let rows =
                c.query_cached("SELECT value FROM idaas_visitor.clients ORDER BY client_id", &[]).await?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PgError::from)
        })?;
        values.iter().map(|v| client_from(v.as_bytes())).collect()
    }

    fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        if super::unstorable(client_id) {
            return Ok(false);
        }
        let id = client_id.to_owned();
        let n = self.pool.run(move |c| async move {
            c.execute_cached("DELETE FROM idaas_visitor.clients WHERE client_id = $1", &[&id])
                .await
                .map_err(PgError::from)
        })?;
        Ok(n > 0)
    }

    fn record_grant(&self, grant: &GrantRecord<'_>, now: i64) -> Result<u64, GrantStoreError> {
        let token = text(encode(&StoredToken::V1(grant.token.clone()))?)?;
        let audit = text(encode(&StoredAudit::V1(grant.audit.clone()))?)?;
        let replay_key = grant.replay_key.to_vec();
        let replay_until = grant.replay_until;
        let token_hash = grant.token_hash.to_vec();
        let exp = grant.token.exp;
        // One statement, so one round trip and one commit: each data-modifying CTE reads
        // `fresh`, which holds a row only when the replay record was inserted (or an expired
        // one replaced); otherwise nothing is written and no row comes back.
        let seq = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached(
                    "WITH fresh AS (
                         INSERT INTO idaas_visitor.used_assertions (replay_key, until) VALUES ($1, $2)
                         ON CONFLICT (replay_key) DO UPDATE SET until = EXCLUDED.until
                             WHERE idaas_visitor.used_assertions.until <= $3
                         RETURNING 1
                     ), token AS (
                         INSERT INTO idaas_visitor.access_tokens (hash, exp, value)
                         SELECT $4::bytea, $5::bigint, $6::text FROM fresh
                         ON CONFLICT (hash) DO UPDATE SET exp = EXCLUDED.exp, value = EXCLUDED.value
                     )
                     INSERT INTO idaas_visitor.audit (value) SELECT $7::text FROM fresh RETURNING seq",
                    &[&replay_key, &replay_until, &now, &token_hash, &exp, &token, &audit],
                )
                .await?;
            row.map(|r| r.try_get::<_, i64>(0)).transpose().map_err(PgError::from)
        });
        match seq.map_err(StoreError::from)? {
            Some(seq) => Ok(seq_from(seq)?),
            None => Err(GrantStoreError::Replayed),
        }
    }

    fn get_token(&self, hash: &[u8; 32]) -> Result<Option<AccessToken>, StoreError> {
        let hash = hash.to_vec();
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached("SELECT value FROM idaas_visitor.access_tokens WHERE hash = $1", &[&hash])
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        let Some(v) = v else {
            return Ok(None);
        };
        let StoredToken::V1(t) = decode(TOKENS, v.as_bytes())?;
        Ok(Some(t))
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        let value = text(encode(&StoredAudit::V1(entry.clone()))?)?;
        let seq = self.pool.run(move |c| async move {
            let row = c
                .query_one_cached(
                    "INSERT INTO idaas_visitor.audit (value) VALUES ($1) RETURNING seq",
                    &[&value],
                )
                .await?;
            row.try_get::<_, i64>(0).map_err(PgError::from)
        })?;
        seq_from(seq)
    }

    fn list_audit(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.pool.run(move |c| async move {
            let rows = c
                .query_cached(
                    "SELECT seq, value FROM idaas_visitor.audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &limit],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?)))
                .collect::<Result<Vec<_>, PgError>>()
        })?;
        rows.into_iter()
            .map(|(seq, v)| {
                let StoredAudit::V1(entry) = decode(AUDIT, v.as_bytes())?;
                Ok((seq_from(seq)?, entry))
            })
            .collect()
    }

    fn pg_pool(&self) -> Option<std::sync::Arc<PgPool>> {
        Some(self.shared_state.clone())
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let n = self.pool.run(move |c| async move {
            let a =
                c.execute_cached("DELETE FROM idaas_visitor.access_tokens WHERE exp <= $1", &[&now]).await?;
            let b = c
                .execute_cached("DELETE FROM idaas_visitor.used_assertions WHERE until <= $1", &[&now])
                .await?;
            Ok::<_, PgError>(a.saturating_add(b))
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        let n = self.pool.run(|c| async move {
            let row = c
                .query_one_cached(
                    "SELECT (SELECT count(*) FROM idaas_visitor.clients),
                            (SELECT count(*) FROM idaas_visitor.access_tokens),
                            (SELECT count(*) FROM idaas_visitor.used_assertions),
                            (SELECT count(*) FROM idaas_visitor.audit)",
                    &[],
                )
                .await?;
            let mut n = [0i64; 4];
            for (i, slot) in n.iter_mut().enumerate() {
                *slot = row.try_get(i)?;
            }
            Ok::<_, PgError>(n)
        })?;
        let [clients, tokens, used, audit] = n.map(|v| usize::try_from(v).unwrap_or(0));
        Ok(Counts { clients, tokens, used, audit })
    }
}
