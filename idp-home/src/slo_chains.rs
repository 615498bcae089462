//! The table of single-logout chains under way and of the LogoutRequest IDs already seen
//! (bounded; see [`crate::slo`] for the chain itself). No HTTP, no state: [`crate::slo`]
//! drives it.
//!
//! In memory with a sled store; with PostgreSQL, in `idaas_home.slo_chains` and
//! `idaas_home.slo_seen`, shared by every instance (issue 17), so a chain started at one
//! instance goes on at whichever instance the browser brings the next LogoutResponse to. A
//! chain row holds the SPs still to ask, the NameIDs and SessionIndexes to name, the
//! initiator's request ID and RelayState, and the outstanding request ID — nothing personal
//! beyond the NameID the LogoutRequests carry anyway. Taking a chain is one `DELETE …
//! RETURNING`, so of two instances receiving the same response only one goes on with it. A
//! seen LogoutRequest is keyed by the SHA-256 of (SP, ID).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use service_kit::pg::{Cached, PgError, PgPool};
use sha2::{Digest, Sha256};

/// The tables, for the home IdP's migrations (version 5).
pub const TABLES_SQL: &str = "
    CREATE TABLE idaas_home.slo_chains (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        request_id TEXT COLLATE \"C\",
        sp TEXT COLLATE \"C\",
        chain TEXT NOT NULL,
        expires BIGINT NOT NULL
    );
    CREATE INDEX slo_chains_request ON idaas_home.slo_chains (request_id);
    CREATE INDEX slo_chains_expires ON idaas_home.slo_chains (expires);
    CREATE TABLE idaas_home.slo_seen (
        key BYTEA PRIMARY KEY,
        until BIGINT NOT NULL
    );
    CREATE INDEX slo_seen_until ON idaas_home.slo_seen (until);
";

/// How long an unfinished chain is kept, seconds.
pub const CHAIN_LIFETIME: i64 = 600;
/// Most chains under way at once.
pub const MAX_CHAINS: usize = 10_000;
/// Most remembered LogoutRequest IDs.
pub const MAX_SEEN: usize = 100_000;

/// The SP whose LogoutRequest started a chain: it gets the final LogoutResponse.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Initiator {
    /// Its entity ID.
    pub sp: String,
    /// Its request's ID (`InResponseTo`).
    pub request_id: String,
    /// RelayState to echo.
    pub relay_state: Option<String>,
}

/// One SP to log out: all its SessionIndexes for the user.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Hop {
    pub(crate) sp: String,
    pub(crate) name_id: String,
    pub(crate) session_indexes: Vec<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Chain {
    pub(crate) initiator: Option<Initiator>,
    pub(crate) hops: VecDeque<Hop>,
    /// The SP asked last, our request's ID, and its deadline.
    pub(crate) current: Option<(String, String, i64)>,
    pub(crate) failed: usize,
    pub(crate) expires: i64,
}

#[derive(Default)]
struct Table {
    chains: HashMap<String, Chain>,
    /// Outstanding request ID → chain id.
    by_request: HashMap<String, String>,
}

/// The chains under way and the LogoutRequest IDs already seen.
#[derive(Default)]
pub struct Chains {
    table: Mutex<Table>,
    seen: Mutex<HashMap<(String, String), i64>>,
    /// With PostgreSQL: the shared tables instead of the two above.
    pg: Option<Arc<PgPool>>,
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("slo::Chains")
    }
}

/// Logs a database failure of the shared tables and answers `refuse`.
fn or_refuse<T>(r: Result<T, PgError>, refuse: T) -> T {
    r.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "single logout: the shared chain table");
        refuse
    })
}

impl Chains {
    /// The chains in the PostgreSQL tables on `pool`, shared by every instance.
    pub fn shared(pool: Arc<PgPool>) -> Chains {
        Chains { pg: Some(pool), ..Chains::default() }
    }

    /// Records the verified LogoutRequest `id` of `sp` until `until`; false if seen before (or
    /// the table is full of live IDs, or the database fails: refusing beats forgetting).
    pub fn first_time(&self, sp: &str, id: &str, until: i64, now: i64) -> bool {
        if let Some(pool) = &self.pg {
            let mut h = Sha256::new();
            h.update((sp.len() as u64).to_be_bytes());
            h.update(sp.as_bytes());
            h.update(id.as_bytes());
            let key = h.finalize().to_vec();
            let until = until.max(now + 60);
            return or_refuse(
                pool.run(move |c| async move {
                    let n = c
                        .execute_cached(
                            "INSERT INTO idaas_home.slo_seen (key, until) VALUES ($1, $2)
                             ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until
                             WHERE idaas_home.slo_seen.until <= $3",
                            &[&key, &until, &now],
                        )
                        .await?;
                    Ok(n == 1)
                }),
                false,
            );
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (sp.to_owned(), id.to_owned());
        if seen.get(&key).is_some_and(|&u| u > now) {
            return false;
        }
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, u| *u > now);
            if seen.len() >= MAX_SEEN {
                return false;
            }
        }
        seen.insert(key, until.max(now + 60));
        true
    }

    /// How many chains are under way.
    pub fn len(&self) -> usize {
        if let Some(pool) = &self.pg {
            let n = pool.run(|c| async move {
                let row = c.query_one_cached("SELECT count(*) FROM idaas_home.slo_chains", &[]).await?;
                Ok(row.try_get::<_, i64>(0)?)
            });
            return usize::try_from(or_refuse(n, 0)).unwrap_or(0);
        }
        self.table.lock().unwrap_or_else(PoisonError::into_inner).chains.len()
    }

    /// Forgets expired chains and LogoutRequest IDs (the periodic purge).
    pub fn purge(&self, now: i64) {
        if let Some(pool) = &self.pg {
            let r = pool.run(move |c| async move {
                c.execute_cached("DELETE FROM idaas_home.slo_chains WHERE expires <= $1", &[&now]).await?;
                c.execute_cached("DELETE FROM idaas_home.slo_seen WHERE until <= $1", &[&now]).await?;
                Ok(())
            });
            return or_refuse(r, ());
        }
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, u| *u > now);
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let Table { chains, by_request } = &mut *t;
        chains.retain(|_, c| c.expires > now);
        by_request.retain(|_, id| chains.contains_key(id));
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn take(&self, chain_id: &str) -> Option<Chain> {
        if let Some(pool) = &self.pg {
            let id = chain_id.to_owned();
            let text = pool.run(move |c| async move {
                let row = c
                    .query_opt_cached(
                        "DELETE FROM idaas_home.slo_chains WHERE id = $1 RETURNING chain",
                        &[&id],
                    )
                    .await?;
                Ok(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
            });
            return or_refuse(text, None).and_then(|t| serde_json::from_str(&t).ok());
        }
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let chain = t.chains.remove(chain_id)?;
        if let Some((_, request_id, _)) = &chain.current {
            t.by_request.remove(request_id);
        }
        Some(chain)
    }

    /// Stores `chain` under `chain_id`; gives it back if the table is full of live chains.
    pub(crate) fn put(&self, chain_id: String, chain: Chain, now: i64) -> Result<(), Box<Chain>> {
        if let Some(pool) = &self.pg {
            let Ok(text) = serde_json::to_string(&chain) else { return Err(Box::new(chain)) };
            let (request_id, sp) = match &chain.current {
                Some((sp, request_id, _)) => (Some(request_id.clone()), Some(sp.clone())),
                None => (None, None),
            };
            let expires = chain.expires;
            let stored = pool.run(move |c| async move {
                let live = c
                    .query_one_cached(
                        "SELECT count(*) FROM idaas_home.slo_chains WHERE expires > $1",
                        &[&now],
                    )
                    .await?
                    .try_get::<_, i64>(0)?;
                if usize::try_from(live).unwrap_or(usize::MAX) >= MAX_CHAINS {
                    return Ok(false);
                }
                c.execute_cached(
                    "INSERT INTO idaas_home.slo_chains (id, request_id, sp, chain, expires)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (id) DO UPDATE SET request_id = EXCLUDED.request_id,
                         sp = EXCLUDED.sp, chain = EXCLUDED.chain, expires = EXCLUDED.expires",
                    &[&chain_id, &request_id, &sp, &text, &expires],
                )
                .await?;
                Ok(true)
            });
            return if or_refuse(stored, false) { Ok(()) } else { Err(Box::new(chain)) };
        }
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if t.chains.len() >= MAX_CHAINS {
            let Table { chains, by_request } = &mut *t;
            chains.retain(|_, c| c.expires > now);
            by_request.retain(|_, id| chains.contains_key(id));
            if chains.len() >= MAX_CHAINS {
                return Err(Box::new(chain));
            }
        }
        if let Some((_, request_id, _)) = &chain.current {
            t.by_request.insert(request_id.clone(), chain_id.clone());
        }
        t.chains.insert(chain_id, chain);
        Ok(())
    }

    /// The chain whose outstanding request `request_id` went to `sp`.
    pub(crate) fn waiting_for(&self, request_id: &str, sp: &str) -> Option<String> {
        if let Some(pool) = &self.pg {
            let (request_id, sp) = (request_id.to_owned(), sp.to_owned());
            let id = pool.run(move |c| async move {
                let row = c
                    .query_opt_cached(
                        "SELECT id FROM idaas_home.slo_chains WHERE request_id = $1 AND sp = $2",
                        &[&request_id, &sp],
                    )
                    .await?;
                Ok(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
            });
            return or_refuse(id, None);
        }
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let id = t.by_request.get(request_id)?;
        let current = t.chains.get(id)?.current.as_ref().map(|(s, _, _)| s.as_str());
        (current == Some(sp)).then(|| id.clone())
    }

    /// When the live chain `chain_id` may go on without its current participant.
    pub(crate) fn deadline(&self, chain_id: &str, now: i64) -> Option<i64> {
        if let Some(pool) = &self.pg {
            let id = chain_id.to_owned();
            let text = pool.run(move |c| async move {
                let row = c
                    .query_opt_cached(
                        "SELECT chain FROM idaas_home.slo_chains WHERE id = $1 AND expires > $2",
                        &[&id, &now],
                    )
                    .await?;
                Ok(row.map(|r| r.try_get::<_, String>(0)).transpose()?)
            });
            let chain: Chain = serde_json::from_str(&or_refuse(text, None)?).ok()?;
            return Some(chain.current.as_ref().map_or(now, |(_, _, d)| *d));
        }
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let chain = t.chains.get(chain_id).filter(|c| c.expires > now)?;
        Some(chain.current.as_ref().map_or(now, |(_, _, d)| *d))
    }
}
