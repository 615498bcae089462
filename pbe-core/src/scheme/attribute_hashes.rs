//! A bounded memo of attribute hashes `F(u)`.
//!
//! A service issues and encrypts under the same few attributes all day (today's segment-tree
//! path, its domains, countries and purposes), and hashing to G1 is about a third of the cost
//! of a key component or a ciphertext row's C4. The hashes are public values, so memoising
//! them reveals nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::suite::{Suite, G1};

/// Most memoised hashes (the memo is cleared when full: a bound no caller can grow past).
const MAX_MEMOISED_HASHES: usize = 4096;

/// `F(u)` of attributes already seen.
pub(crate) struct AttributeHashes<S: Suite> {
    memo: Mutex<HashMap<String, G1<S>>>,
}

impl<S: Suite> Default for AttributeHashes<S> {
    fn default() -> Self {
        AttributeHashes { memo: Mutex::new(HashMap::new()) }
    }
}

impl<S: Suite> AttributeHashes<S> {
    /// `F(attribute)`, from the memo when seen before.
    pub(crate) fn get(&self, attribute: &str) -> G1<S> {
        // A poisoned memo only means another thread panicked mid-insert: the map is still a
        // valid cache of correct hashes.
        if let Some(h) = self.memo.lock().unwrap_or_else(|p| p.into_inner()).get(attribute) {
            return h.clone();
        }
        // Hashed outside the lock, so parallel rows do not queue behind one another.
        let h = S::hash_attribute(attribute);
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= MAX_MEMOISED_HASHES {
            memo.clear();
        }
        memo.insert(attribute.to_owned(), h.clone());
        h
    }
}
