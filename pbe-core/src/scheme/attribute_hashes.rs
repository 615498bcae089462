//! A bounded memo of attribute hashes `F(u)`, with fixed-base tables for the hot ones.
//!
//! A service issues and encrypts under the same few attributes all day (today's segment-tree
//! path, its domains, countries and purposes), and hashing to G1 is about a third of the cost
//! of a key component or a ciphertext row's C4. The hashes are public values, so memoising
//! them reveals nothing.
//!
//! Each key component and each ciphertext row also raises its attribute's hash to a secret
//! `t` (`F(u)^t`). Once an attribute has been used [`TABLE_AFTER_USES`] times, its hash gets a
//! constant-time [`FixedBaseTable`] (issue 22), which turns that multiplication into a table
//! scan and ⌈255/w⌉ mixed additions. Building a table (from the public `F(u)`) is variable
//! time and costs about as much as twenty variable-base multiplications (docs/performance.md,
//! "attribute tables"); the scan that uses it is constant-time in `t` like every other table. The tables are bounded in number
//! ([`MAX_ATTRIBUTE_TABLES`]) and in bytes ([`MAX_TABLE_BYTES`]); when full, the least
//! recently used table is dropped (its hash stays memoised). Tables are shared by `Arc`, so
//! dropping one from the memo never pulls it from under a multiplication in progress.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fixed_base::FixedBaseTable;
use crate::suite::{Fr, Group, Suite, G1};

/// Most memoised hashes (the memo is cleared when full: a bound no caller can grow past).
const MAX_MEMOISED_HASHES: usize = 4096;

/// Uses of an attribute after which its hash gets a fixed-base table. A table costs about
/// twenty multiplications to build and saves about two thirds of one at each use, so it pays
/// for itself after a few dozen uses: a service that issues or encrypts under an attribute
/// all day amortises it at once, and a one-shot encryptor that names an attribute fewer than
/// 8 times never builds one.
pub(crate) const TABLE_AFTER_USES: u32 = 8;

/// Most attribute tables per memo (one memo per authority secret key and per encryptor).
pub(crate) const MAX_ATTRIBUTE_TABLES: usize = 64;

/// Most bytes of attribute tables per memo (the large suites' points make a table bigger
/// than BLS12-381's ≈129 KiB; the bound in count or in bytes, whichever is lower, applies).
pub(crate) const MAX_TABLE_BYTES: usize = 16 << 20;

/// One memoised attribute.
struct Entry<S: Suite> {
    hash: G1<S>,
    /// Uses so far (saturating).
    uses: u32,
    /// The table, once built.
    table: Option<Arc<FixedBaseTable<G1<S>>>>,
    /// A thread is building the table (so no other one starts the same).
    building: bool,
    /// The memo's clock at the last use (for least-recently-used eviction of tables).
    last_used: u64,
}

struct Memo<S: Suite> {
    entries: HashMap<String, Entry<S>>,
    /// Entries holding a table.
    tables: usize,
    /// Bytes of the tables held.
    table_bytes: usize,
    clock: u64,
}

/// `F(u)` of attributes already seen, and tables for the ones used often.
pub(crate) struct AttributeHashes<S: Suite> {
    memo: Mutex<Memo<S>>,
    /// Window of the attribute tables (the suite's [`Suite::TABLE_WINDOW`]).
    window: usize,
}

impl<S: Suite> Default for AttributeHashes<S> {
    fn default() -> Self {
        AttributeHashes::with_window(S::TABLE_WINDOW)
    }
}

/// What a lookup found: the hash, the table if any, and whether this caller is to build one.
struct Found<S: Suite> {
    hash: G1<S>,
    table: Option<Arc<FixedBaseTable<G1<S>>>>,
    build: bool,
}

impl<S: Suite> AttributeHashes<S> {
    /// A memo whose tables have `window`-bit windows.
    pub(crate) fn with_window(window: usize) -> Self {
        let memo = Memo { entries: HashMap::new(), tables: 0, table_bytes: 0, clock: 0 };
        AttributeHashes { memo: Mutex::new(memo), window }
    }

    fn lock(&self) -> MutexGuard<'_, Memo<S>> {
        // A poisoned memo only means another thread panicked mid-update: every entry is still
        // a correct hash (and a correct table, if any).
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `F(attribute)`, from the memo when seen before.
    #[cfg(test)]
    pub(crate) fn get(&self, attribute: &str) -> G1<S> {
        self.find(attribute).hash
    }

    /// `F(attribute)^t` for a secret `t`: with the attribute's table when it has one (a
    /// constant-time scan), with [`Group::mul_secret`] otherwise.
    pub(crate) fn mul_secret(&self, attribute: &str, t: &Fr<S>) -> G1<S> {
        let found = self.find(attribute);
        if found.build {
            let table = Arc::new(FixedBaseTable::new(found.hash.clone(), self.window));
            let out = table.mul(t);
            self.insert_table(attribute, table);
            return out;
        }
        match found.table {
            Some(table) => table.mul(t),
            None => found.hash.mul_secret(t),
        }
    }

    /// Looks `attribute` up (hashing and memoising it when new) and counts the use.
    fn find(&self, attribute: &str) -> Found<S> {
        {
            let mut memo = self.lock();
            memo.clock += 1;
            let clock = memo.clock;
            if let Some(e) = memo.entries.get_mut(attribute) {
                e.uses = e.uses.saturating_add(1);
                e.last_used = clock;
                let build = e.table.is_none() && !e.building && e.uses >= TABLE_AFTER_USES;
                e.building |= build;
                return Found { hash: e.hash.clone(), table: e.table.clone(), build };
            }
        }
        // Hashed outside the lock, so parallel rows do not queue behind one another.
        let hash = S::hash_attribute(attribute);
        let mut memo = self.lock();
        if memo.entries.len() >= MAX_MEMOISED_HASHES {
            memo.entries.clear();
            memo.tables = 0;
            memo.table_bytes = 0;
        }
        let clock = memo.clock;
        let entry = Entry { hash: hash.clone(), uses: 1, table: None, building: false, last_used: clock };
        memo.entries.entry(attribute.to_owned()).or_insert(entry);
        Found { hash, table: None, build: false }
    }

    /// Stores a freshly built table, dropping least recently used ones to stay in bounds.
    fn insert_table(&self, attribute: &str, table: Arc<FixedBaseTable<G1<S>>>) {
        let bytes = table.bytes();
        let mut guard = self.lock();
        let Memo { entries, tables, table_bytes, .. } = &mut *guard;
        let fits = |tables: usize, table_bytes: usize| {
            tables < MAX_ATTRIBUTE_TABLES && table_bytes + bytes <= MAX_TABLE_BYTES
        };
        while !fits(*tables, *table_bytes) {
            let victim = entries
                .iter_mut()
                .filter(|(name, e)| e.table.is_some() && name.as_str() != attribute)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(_, e)| e);
            let Some(victim) = victim else { break };
            if let Some(old) = victim.table.take() {
                *tables -= 1;
                *table_bytes -= old.bytes();
            }
            // Counted afresh: a table comes back only if the attribute stays hot.
            victim.uses = 0;
        }
        let room = fits(*tables, *table_bytes);
        // The entry may be gone (the memo was cleared meanwhile): then the table is dropped.
        let Some(e) = entries.get_mut(attribute) else { return };
        e.building = false;
        if room && e.table.is_none() {
            e.table = Some(table);
            *tables += 1;
            *table_bytes += bytes;
        }
    }

    /// How many tables the memo holds, and their bytes (for tests).
    #[cfg(test)]
    pub(crate) fn table_count(&self) -> (usize, usize) {
        let memo = self.lock();
        (memo.tables, memo.table_bytes)
    }

    /// Whether `attribute` has a table (for tests).
    #[cfg(test)]
    pub(crate) fn has_table(&self, attribute: &str) -> bool {
        self.lock().entries.get(attribute).is_some_and(|e| e.table.is_some())
    }
}

#[cfg(test)]
mod tests;
