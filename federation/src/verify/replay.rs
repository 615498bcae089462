//! Refusing a replayed assertion: the IDs already used, per issuer, until they expire.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{ValidationError, VerifiedAssertion};

/// An in-memory cache of used assertion IDs (per issuer), each kept until its expiry. Bounded:
/// when full, expired entries are dropped; if still full, new IDs are refused rather than old
/// ones forgotten (a full cache must not re-open a replay window).
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl ReplayCache {
    /// A cache for at most `capacity` live assertion IDs.
    pub fn new(capacity: usize) -> Self {
        ReplayCache { capacity, seen: Mutex::new(HashMap::new()) }
    }

    /// Records `assertion`'s ID until [`VerifiedAssertion::replay_horizon`]; refuses it if it
    /// was recorded before and has not expired.
    pub fn check_and_record(
        &self,
        assertion: &VerifiedAssertion,
        now: i64,
        skew: i64,
    ) -> Result<(), ValidationError> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (assertion.issuer.clone(), assertion.id.clone());
        if seen.get(&key).is_some_and(|&until| until > now) {
            return Err(ValidationError::Replayed);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until > now);
            if seen.len() >= self.capacity {
                return Err(ValidationError::Replayed);
            }
        }
        seen.insert(key, assertion.replay_horizon(skew));
        Ok(())
    }
}
