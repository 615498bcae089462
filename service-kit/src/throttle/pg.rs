//! The PostgreSQL backend of [`Throttle`](super::Throttle): the counters of every instance of
//! a service in one table, `<schema>.throttle` ([`TABLE_SQL`], in each service's migrations),
//! so that a guesser spreading attempts over the instances behind a load balancer meets the
//! same counts as on one instance (issue 17).
//!
//! Each operation is one transaction that first takes a transaction-scoped advisory lock per
//! key, in key order (so two operations on overlapping keys never deadlock, and a
//! reservation's check and count stay one step across instances, as under the in-memory
//! mutex), then reads the rows, runs the same arithmetic as in memory and writes them back.
//! A row carries `expires` (when it would be forgotten anyway): the service's periodic purge
//! deletes the expired ones ([`Shared::purge`]).

use std::sync::Arc;

use crate::pg::{Cached, PgError, PgPool};

use super::{count_failure, Entry, ThrottleParams};

/// The throttle table, for a service's migrations (`{schema}` is replaced by its schema).
pub const TABLE_SQL: &str = "
    CREATE TABLE {schema}.throttle (
        key TEXT COLLATE \"C\" PRIMARY KEY,
        failures INTEGER NOT NULL,
        blocked_until BIGINT NOT NULL,
        last_failure BIGINT NOT NULL,
        expires BIGINT NOT NULL
    );
    CREATE INDEX throttle_expires ON {schema}.throttle (expires);
";

/// Where the shared counters are.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    pool: Arc<PgPool>,
    /// `<schema>.throttle`.
    table: String,
}

type Taken = Vec<(String, Entry, Entry)>;

fn entry(row: &tokio_postgres::Row) -> Result<(String, Entry), PgError> {
    let failures: i32 = row.try_get(1)?;
    Ok((
        row.try_get(0)?,
        Entry {
            failures: u32::try_from(failures).unwrap_or(0),
            blocked_until: row.try_get(2)?,
            last_failure: row.try_get(3)?,
        },
    ))
}

/// Locks `keys` (sorted, deduplicated) for the transaction and reads their rows.
async fn lock_and_read(
    tx: &deadpool_postgres::Transaction<'_>,
    table: &str,
    keys: &[String],
) -> Result<std::collections::HashMap<String, Entry>, PgError> {
    for k in keys {
        tx.execute_cached("SELECT pg_advisory_xact_lock(hashtext($1))", &[&format!("{table}:{k}")]).await?;
    }
    let rows = tx
        .query_cached(
            &format!("SELECT key, failures, blocked_until, last_failure FROM {table} WHERE key = ANY($1)"),
            &[&keys],
        )
        .await?;
    rows.iter().map(entry).collect()
}

async fn write(
    tx: &deadpool_postgres::Transaction<'_>,
    table: &str,
    key: &str,
    e: &Entry,
    forget_after: i64,
) -> Result<(), PgError> {
    let expires = e.blocked_until.max(e.last_failure.saturating_add(forget_after));
    let failures = i32::try_from(e.failures).unwrap_or(i32::MAX);
    tx.execute_cached(
        &format!(
            "INSERT INTO {table} (key, failures, blocked_until, last_failure, expires)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key) DO UPDATE SET failures = EXCLUDED.failures,
                 blocked_until = EXCLUDED.blocked_until, last_failure = EXCLUDED.last_failure,
                 expires = EXCLUDED.expires"
        ),
        &[&key, &failures, &e.blocked_until, &e.last_failure, &expires],
    )
    .await?;
    Ok(())
}

fn sorted(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = keys.collect();
    v.sort();
    v.dedup();
    v
}

impl Shared {
    /// The counters in `schema`'s `throttle` table.
    pub(super) fn new(pool: Arc<PgPool>, schema: &str) -> Shared {
        Shared { pool, table: format!("{schema}.throttle") }
    }

    /// [`super::Throttle::reserve`]: `Ok(Err(wait))` when a key must wait.
    pub(super) fn reserve(
        &self,
        keys: &[(&str, ThrottleParams)],
        now: i64,
    ) -> Result<Result<Taken, u64>, PgError> {
        let keys: Vec<(String, ThrottleParams)> = keys.iter().map(|(k, p)| ((*k).to_owned(), *p)).collect();
        let table = self.table.clone();
        self.pool.run(move |mut conn| async move {
            let tx = conn.transaction().await?;
            let names = sorted(keys.iter().map(|(k, _)| k.clone()));
            let mut map = lock_and_read(&tx, &table, &names).await?;
            let wait =
                names.iter().filter_map(|k| map.get(k)).map(|e| e.blocked_until.saturating_sub(now)).max();
            if let Some(wait) = wait.filter(|w| *w > 0) {
                return Ok(Err(u64::try_from(wait).unwrap_or(u64::MAX)));
            }
            let mut taken = Vec::with_capacity(keys.len());
            for (key, params) in &keys {
                let e = map.entry(key.clone()).or_default();
                let before = *e;
                count_failure(e, params, now);
                write(&tx, &table, key, e, params.forget_after).await?;
                taken.push((key.clone(), before, *e));
            }
            tx.commit().await?;
            Ok(Ok(taken))
        })
    }

    /// [`super::Reservation::succeeded`].
    pub(super) fn settle_success(
        &self,
        taken: Taken,
        clear: Vec<String>,
        forget_after: i64,
    ) -> Result<(), PgError> {
        let table = self.table.clone();
        self.pool.run(move |mut conn| async move {
            let tx = conn.transaction().await?;
            let names = sorted(taken.iter().map(|(k, _, _)| k.clone()));
            let map = lock_and_read(&tx, &table, &names).await?;
            let delete = format!("DELETE FROM {table} WHERE key = $1");
            for (key, before, after) in &taken {
                let Some(mut e) = map.get(key).copied() else { continue };
                if clear.contains(key) || (e == *after && *before == Entry::default()) {
                    tx.execute_cached(&delete, &[key]).await?;
                    continue;
                }
                if e == *after {
                    e = *before;
                } else {
                    e.failures = e.failures.saturating_sub(1);
                }
                write(&tx, &table, key, &e, forget_after).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The longest wait among `keys`, seconds (0: none).
    pub(super) fn wait(&self, keys: &[&str], now: i64) -> Result<i64, PgError> {
        let names = sorted(keys.iter().map(|k| (*k).to_owned()));
        let table = self.table.clone();
        self.pool.run(move |conn| async move {
            let row = conn
                .query_one_cached(
                    &format!("SELECT coalesce(max(blocked_until), 0) FROM {table} WHERE key = ANY($1)"),
                    &[&names],
                )
                .await?;
            Ok(row.try_get::<_, i64>(0)?.saturating_sub(now).max(0))
        })
    }

    /// [`super::Throttle::failure`].
    pub(super) fn failure(&self, keys: &[&str], p: ThrottleParams, now: i64) -> Result<(), PgError> {
        let names = sorted(keys.iter().map(|k| (*k).to_owned()));
        let table = self.table.clone();
        self.pool.run(move |mut conn| async move {
            let tx = conn.transaction().await?;
            let mut map = lock_and_read(&tx, &table, &names).await?;
            for key in &names {
                let e = map.entry(key.clone()).or_default();
                count_failure(e, &p, now);
                write(&tx, &table, key, e, p.forget_after).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Forgets `key`.
    pub(super) fn forget(&self, key: &str) -> Result<(), PgError> {
        let (key, table) = (key.to_owned(), self.table.clone());
        self.pool.run(move |conn| async move {
            conn.execute_cached(&format!("DELETE FROM {table} WHERE key = $1"), &[&key]).await?;
            Ok(())
        })
    }

    /// The failures counted for `key`.
    pub(super) fn failures(&self, key: &str) -> Result<u32, PgError> {
        let (key, table) = (key.to_owned(), self.table.clone());
        self.pool.run(move |conn| async move {
            let row = conn
                .query_opt_cached(&format!("SELECT failures FROM {table} WHERE key = $1"), &[&key])
                .await?;
            let n: i32 = match row {
                Some(r) => r.try_get(0)?,
                None => 0,
            };
            Ok(u32::try_from(n).unwrap_or(0))
        })
    }

    /// Deletes the rows that would be forgotten by `now`; returns how many.
    pub(super) fn purge(&self, now: i64) -> Result<u64, PgError> {
        let table = self.table.clone();
        self.pool.run(move |conn| async move {
            Ok(conn.execute_cached(&format!("DELETE FROM {table} WHERE expires <= $1"), &[&now]).await?)
        })
    }
}
