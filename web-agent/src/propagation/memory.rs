//! What the ingress remembers: the nonces of received calls (replay), and the PATs
//! exchanged for an assertion (a visitor IdP grants each client one exchange per
//! assertion). Bounded, swept every minute. With a shared store (`store_url` in PostgreSQL)
//! both live there instead ([`crate::shared`]), so a call replayed at another instance of the
//! agent is refused too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::shared::{or_refuse, Kind, Shared};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::MAX_REMEMBERED;

/// An exchanged PAT (wiped on drop) and until when it may be reused.
type CachedPat = (Zeroizing<Vec<u8>>, i64);

/// Remembered nonces and exchanged PATs.
#[derive(Default)]
pub struct Memory {
    nonces: Mutex<HashMap<[u8; 32], i64>>,
    pats: Mutex<HashMap<[u8; 32], CachedPat>>,
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("propagation::Memory")
    }
}

fn memory_key(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

impl Memory {
    /// In this process's memory, or in `shared`'s tables.
    pub fn new(shared: Option<Arc<Shared>>) -> Memory {
        Memory { shared, ..Memory::default() }
    }

    /// Records `nonce` of `caller` until `until`; false if it was seen (or the cache is full).
    pub fn fresh_nonce(&self, caller: &str, nonce: &str, now: i64, until: i64) -> bool {
        if let Some(s) = &self.shared {
            return or_refuse(s.once(Kind::Nonce, &[caller, nonce], until, now), false);
        }
        let mut seen = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        let k = memory_key(&[caller, nonce]);
        if seen.get(&k).is_some_and(|&u| u > now) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, u| *u > now);
            if seen.len() >= MAX_REMEMBERED {
                return false; // refusing beats forgetting a nonce inside its window
            }
        }
        seen.insert(k, until);
        true
    }

    pub(crate) fn pat(&self, issuer: &str, assertion_id: &str, now: i64) -> Option<Zeroizing<Vec<u8>>> {
        if let Some(s) = &self.shared {
            return or_refuse(s.pat(issuer, assertion_id, now), None);
        }
        let pats = self.pats.lock().unwrap_or_else(PoisonError::into_inner);
        pats.get(&memory_key(&[issuer, assertion_id])).filter(|(_, u)| *u > now).map(|(p, _)| p.clone())
    }

    pub(crate) fn remember_pat(
        &self,
        issuer: &str,
        assertion_id: &str,
        pat: Zeroizing<Vec<u8>>,
        now: i64,
        until: i64,
    ) {
        if let Some(s) = &self.shared {
            return or_refuse(s.remember_pat(issuer, assertion_id, &pat, until), ());
        }
        let mut pats = self.pats.lock().unwrap_or_else(PoisonError::into_inner);
        if pats.len() >= MAX_REMEMBERED {
            pats.retain(|_, (_, u)| *u > now);
            if pats.len() >= MAX_REMEMBERED {
                return;
            }
        }
        pats.insert(memory_key(&[issuer, assertion_id]), (pat, until));
    }

    /// Drops what has expired.
    pub fn sweep(&self, now: i64) {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, u| *u > now);
        self.pats.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, (_, u)| *u > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_accepted_once_within_their_window() {
        let m = Memory::default();
        assert!(m.fresh_nonce("shop", "n", 0, 10));
        assert!(!m.fresh_nonce("shop", "n", 5, 15));
        assert!(m.fresh_nonce("other", "n", 5, 15), "per caller");
        assert!(m.fresh_nonce("shop", "n", 11, 20), "forgotten after its window");
    }
}
