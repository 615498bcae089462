//! The table of single-logout chains under way and of the LogoutRequest IDs already seen
//! (bounded; see [`crate::slo`] for the chain itself). No HTTP, no state: [`crate::slo`]
//! drives it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// How long an unfinished chain is kept, seconds.
pub const CHAIN_LIFETIME: i64 = 600;
/// Most chains under way at once.
pub const MAX_CHAINS: usize = 10_000;
/// Most remembered LogoutRequest IDs.
pub const MAX_SEEN: usize = 100_000;

/// The SP whose LogoutRequest started a chain: it gets the final LogoutResponse.
#[derive(Clone, Debug)]
pub struct Initiator {
    /// Its entity ID.
    pub sp: String,
    /// Its request's ID (`InResponseTo`).
    pub request_id: String,
    /// RelayState to echo.
    pub relay_state: Option<String>,
}

/// One SP to log out: all its SessionIndexes for the user.
#[derive(Debug)]
pub(crate) struct Hop {
    pub(crate) sp: String,
    pub(crate) name_id: String,
    pub(crate) session_indexes: Vec<String>,
}

#[derive(Debug)]
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
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("slo::Chains")
    }
}

impl Chains {
    /// Records the verified LogoutRequest `id` of `sp` until `until`; false if seen before (or
    /// the table is full of live IDs: refusing beats forgetting).
    pub fn first_time(&self, sp: &str, id: &str, until: i64, now: i64) -> bool {
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
        self.table.lock().unwrap_or_else(PoisonError::into_inner).chains.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn take(&self, chain_id: &str) -> Option<Chain> {
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let chain = t.chains.remove(chain_id)?;
        if let Some((_, request_id, _)) = &chain.current {
            t.by_request.remove(request_id);
        }
        Some(chain)
    }

    /// Stores `chain` under `chain_id`; gives it back if the table is full of live chains.
    pub(crate) fn put(&self, chain_id: String, chain: Chain, now: i64) -> Result<(), Box<Chain>> {
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
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let id = t.by_request.get(request_id)?;
        let current = t.chains.get(id)?.current.as_ref().map(|(s, _, _)| s.as_str());
        (current == Some(sp)).then(|| id.clone())
    }

    /// When the live chain `chain_id` may go on without its current participant.
    pub(crate) fn deadline(&self, chain_id: &str, now: i64) -> Option<i64> {
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let chain = t.chains.get(chain_id).filter(|c| c.expires > now)?;
        Some(chain.current.as_ref().map_or(now, |(_, _, d)| *d))
    }
}
