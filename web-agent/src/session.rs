//! Agent sessions and pending AuthnRequests, in memory only: the decrypted PII never touches
//! disk, and is wiped (zeroized) when a session ends, expires or is evicted. The store is
//! bounded by the bytes its sessions hold, evicting the longest-idle first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Most answered request IDs remembered (each lives for a pending sign-in's lifetime; ~100
/// bytes each).
pub const MAX_ANSWERED: usize = 100_000;
/// How long an AuthnRequest may stay unanswered, seconds.
pub const PENDING_LIFETIME: i64 = crate::signin::PENDING_LIFETIME;

/// A signed-in user, as the backend will see them.
pub struct Session {
    /// The NameID.
    pub user: String,
    /// Agent groups (after `group_mapping`).
    pub groups: Vec<String>,
    /// Owners' approvals of sensitive paths the assertion stated ([`crate::approval`]),
    /// checked with their ends at every request.
    pub approvals: Vec<federation::approvals::Approval>,
    /// Decrypted PII: attribute → value. Wiped on drop.
    pub pii: BTreeMap<String, Zeroizing<String>>,
    /// The assertion's NameID (what a LogoutRequest names; `user` may come from an attribute).
    pub name_id: String,
    /// The SAML SessionIndex (the linchpin of this session's keys).
    pub session_index: String,
    /// Unix seconds after which the session is gone.
    pub expires: i64,
    /// PII ciphertexts the keys did not open (counted, never named in logs).
    pub closed: usize,
    /// Why the closed ones stayed closed, in plain words: (attribute, reason), sent to the
    /// backend in `X-Idaas-Missing` ([`crate::explain`]).
    pub missing: Vec<(String, String)>,
    /// The opaque handle the backend presents to call partners on this user's behalf
    /// (`X-Idaas-Session`); set by [`Sessions::create`], empty until then.
    pub handle: String,
    /// What identity propagation needs (PBE services only): the signed assertion and the
    /// opened TAT. Wiped on drop.
    pub propagation: Option<Propagation>,
}

/// The material an agent needs to propagate a user's identity to a partner service.
pub struct Propagation {
    /// The signed SAML assertion exactly as the home IdP produced it.
    pub assertion_xml: String,
    /// The assertion's ID.
    pub assertion_id: String,
    /// The TAT, opened (pbe-core binary form).
    pub tat: Zeroizing<Vec<u8>>,
    /// The assertion's `idaas:pii-ref`: egress fetches the ciphertexts again with it (they are
    /// never kept in a session).
    pub pii_ref: String,
    /// The PII names the assertion signs a digest for (what egress fetches).
    pub pii_names: Vec<String>,
}

impl Propagation {
    /// Wraps the material (the TAT is wiped on drop).
    pub fn new(
        assertion_xml: String,
        assertion_id: String,
        tat: Vec<u8>,
        pii_ref: String,
        pii_names: Vec<String>,
    ) -> Self {
        Propagation { assertion_xml, assertion_id, tat: Zeroizing::new(tat), pii_ref, pii_names }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("groups", &self.groups.len())
            .field("pii", &self.pii.len())
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The default of the session store's memory bound (`session_memory_limit_mib`), bytes.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;
/// What one stored session costs beyond its own fields: its table entry, the idle-order
/// entry, the handle map entry and the `Arc` (a deliberate over-estimate, so the bound holds).
const ENTRY_OVERHEAD: usize = 512;

impl Session {
    /// The bytes this session holds, as the store's memory bound counts them: every string,
    /// every PII value, the propagation material, and the fixed parts.
    pub fn approx_bytes(&self) -> usize {
        let strings = self.user.len() + self.name_id.len() + self.session_index.len() + self.handle.len();
        let groups: usize = self.groups.iter().map(|g| g.len() + std::mem::size_of::<String>()).sum();
        let pii: usize =
            self.pii.iter().map(|(k, v)| k.len() + v.len() + 2 * std::mem::size_of::<String>() + 32).sum();
        let propagation = self.propagation.as_ref().map_or(0, |p| {
            std::mem::size_of::<Propagation>()
                + p.assertion_xml.len()
                + p.assertion_id.len()
                + p.tat.len()
                + p.pii_ref.len()
                + p.pii_names.iter().map(|n| n.len() + std::mem::size_of::<String>()).sum::<usize>()
        });
        let missing: usize =
            self.missing.iter().map(|(k, v)| k.len() + v.len() + 2 * std::mem::size_of::<String>()).sum();
        std::mem::size_of::<Session>() + strings + groups + pii + propagation + missing
    }
}

/// One stored session and its place in the idle order.
struct Entry {
    session: Arc<Session>,
    /// Unix seconds of the last request that used it (creation counts).
    last_used: i64,
    /// Tie-breaker of the idle order (creation order).
    seq: u64,
    /// What it counts against the bound.
    bytes: usize,
    /// SHA-256 of its backend handle.
    handle: [u8; 32],
    /// Its key in the subject index ([`subject_key`]).
    subject: [u8; 32],
    /// When the shared database last confirmed it (Unix seconds; `crate::shared_sessions`).
    checked: i64,
}

/// The session table under one lock: entries by SHA-256(cookie), the idle order, the handle
/// index and the bytes held.
#[derive(Default)]
struct Table {
    live: HashMap<[u8; 32], Entry>,
    /// (last used, seq, cookie key), oldest-idle first.
    idle: BTreeSet<(i64, u64, [u8; 32])>,
    /// SHA-256(handle) → SHA-256(cookie).
    handles: HashMap<[u8; 32], [u8; 32]>,
    /// [`subject_key`] (NameID, SessionIndex) → SHA-256(cookie) of its sessions: what a
    /// LogoutRequest from the IdP ends. As bounded as the table (one entry per session).
    subjects: HashMap<[u8; 32], Vec<[u8; 32]>>,
    bytes: usize,
    seq: u64,
}

impl Table {
    fn remove(&mut self, k: &[u8; 32]) -> Option<Entry> {
        let e = self.live.remove(k)?;
        self.idle.remove(&(e.last_used, e.seq, *k));
        self.handles.remove(&e.handle);
        if let Some(list) = self.subjects.get_mut(&e.subject) {
            list.retain(|c| c != k);
            if list.is_empty() {
                self.subjects.remove(&e.subject);
            }
        }
        self.bytes -= e.bytes;
        Some(e)
    }

    /// The live session under `k`, marked used at `now`; an expired one is removed.
    fn use_live(&mut self, k: &[u8; 32], now: i64) -> Option<Arc<Session>> {
        let e = self.live.get_mut(k)?;
        if e.session.expires <= now {
            self.remove(k);
            return None;
        }
        if e.last_used != now {
            self.idle.remove(&(e.last_used, e.seq, *k));
            e.last_used = now;
            self.idle.insert((now, e.seq, *k));
        }
        Some(e.session.clone())
    }
}

/// The session table: the cookie value is random; only its SHA-256 is a key here.
///
/// Bounded by memory, not by count: every session counts what it holds
/// ([`Session::approx_bytes`]), and a new sign-in that would pass the bound evicts the
/// sessions idle longest first (their PII is wiped when the last request using them ends).
/// A signed-in user whose session was evicted signs in again through the IdP session.
pub struct Sessions {
    table: Mutex<Table>,
    limit: usize,
    /// AuthnRequest IDs already answered → until when to remember them. Pending requests
    /// themselves live in the browser's sign-in cookie (`crate::signin`); only responses the
    /// IdP signed for this SP get here, so anonymous traffic cannot fill this.
    answered: Mutex<HashMap<String, i64>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_memory_limit(DEFAULT_MEMORY_LIMIT)
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

/// The table's key of a cookie (or handle): its SHA-256.
pub fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// The subject index's key of (NameID, SessionIndex).
pub fn subject_key(name_id: &str, session_index: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((name_id.len() as u64).to_be_bytes());
    h.update(name_id.as_bytes());
    h.update(session_index.as_bytes());
    h.finalize().into()
}

/// A fresh random token (32 bytes, hex).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Sessions {
    /// An empty store holding at most `limit` bytes of sessions.
    pub fn with_memory_limit(limit: usize) -> Self {
        Sessions { table: Mutex::default(), limit, answered: Mutex::default() }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `session`, evicting the sessions idle longest while the bound would be
    /// passed; returns the cookie value. A session larger than the whole bound is still
    /// stored (alone), so nobody is locked out by the size of their own data.
    pub fn create(&self, mut session: Session, now: i64) -> String {
        let cookie = random_token();
        session.handle = random_token();
        self.adopt(key(&cookie), session, now);
        cookie
    }

    /// Stores `session` (its handle set already) under the cookie whose SHA-256 is `k`, as
    /// [`Sessions::create`] does: what an instance does with a session another instance
    /// created (rebuilt from the shared record, `crate::shared_sessions`). A session stored
    /// under `k` before is replaced.
    pub fn adopt(&self, k: [u8; 32], session: Session, now: i64) -> Arc<Session> {
        let handle = key(&session.handle);
        let subject = subject_key(&session.name_id, &session.session_index);
        let bytes = session.approx_bytes() + ENTRY_OVERHEAD;
        let mut t = self.table();
        t.remove(&k);
        let mut evicted = 0usize;
        while t.bytes + bytes > self.limit {
            let Some(&(_, _, oldest)) = t.idle.first() else { break };
            t.remove(&oldest);
            evicted += 1;
        }
        if evicted > 0 {
            tracing::info!(
                evicted,
                limit = self.limit,
                "session store full: evicted the sessions idle longest"
            );
        }
        t.seq += 1;
        let seq = t.seq;
        t.handles.insert(handle, k);
        t.subjects.entry(subject).or_default().push(k);
        t.idle.insert((now, seq, k));
        t.bytes += bytes;
        let session = Arc::new(session);
        let entry =
            Entry { session: session.clone(), last_used: now, seq, bytes, handle, subject, checked: now };
        t.live.insert(k, entry);
        session
    }

    /// The live session for `cookie` (marked used now); an expired one is removed (and so
    /// wiped).
    pub fn get(&self, cookie: &str, now: i64) -> Option<Arc<Session>> {
        self.table().use_live(&key(cookie), now)
    }

    /// The live session whose backend handle is `handle` (`X-Idaas-Session`).
    pub fn by_handle(&self, handle: &str, now: i64) -> Option<Arc<Session>> {
        self.by_handle_keyed(handle, now).map(|(_, s)| s)
    }

    /// [`Sessions::by_handle`] with the session's key (the SHA-256 of its cookie).
    pub fn by_handle_keyed(&self, handle: &str, now: i64) -> Option<([u8; 32], Arc<Session>)> {
        let mut t = self.table();
        let target = *t.handles.get(&key(handle))?;
        t.use_live(&target, now).map(|s| (target, s))
    }

    /// When the session stored under `k` was last confirmed by the shared database.
    pub fn checked_at(&self, k: &[u8; 32]) -> Option<i64> {
        self.table().live.get(k).map(|e| e.checked)
    }

    /// Records that the shared database confirmed the session under `k` at `now`.
    pub fn mark_checked(&self, k: &[u8; 32], now: i64) {
        if let Some(e) = self.table().live.get_mut(k) {
            e.checked = now;
        }
    }

    /// Ends the session stored under `k` (the SHA-256 of its cookie).
    pub fn end_keyed(&self, k: &[u8; 32]) -> bool {
        self.table().remove(k).is_some()
    }

    /// Ends the session for `cookie`.
    pub fn end(&self, cookie: &str) -> bool {
        self.table().remove(&key(cookie)).is_some()
    }

    /// Ends every session of `name_id` with one of `session_indexes` (all of its sessions
    /// when the list is empty), as a LogoutRequest from the IdP asks; returns how many.
    pub fn end_by_subject(&self, name_id: &str, session_indexes: &[String]) -> usize {
        let mut t = self.table();
        let keys: Vec<[u8; 32]> = if session_indexes.is_empty() {
            t.live.iter().filter(|(_, e)| e.session.name_id == name_id).map(|(k, _)| *k).collect()
        } else {
            session_indexes
                .iter()
                .flat_map(|i| t.subjects.get(&subject_key(name_id, i)).cloned().unwrap_or_default())
                .collect()
        };
        keys.iter().filter(|k| t.remove(k).is_some()).count()
    }

    /// Drops expired sessions and requests (called periodically).
    pub fn sweep(&self, now: i64) {
        let mut t = self.table();
        let expired: Vec<[u8; 32]> =
            t.live.iter().filter(|(_, e)| e.session.expires <= now).map(|(k, _)| *k).collect();
        for k in expired {
            t.remove(&k);
        }
        drop(t);
        self.answered.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.table().live.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the live sessions count against the bound.
    pub fn bytes(&self) -> usize {
        self.table().bytes
    }

    /// How many answered request IDs are remembered (the only per-sign-in state on the
    /// server; anonymous traffic never adds to it).
    pub fn answered_len(&self) -> usize {
        self.answered.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Records that the request `id` (pending until `until`) is answered; false if it was
    /// answered before (or the table is full of live entries: refusing beats forgetting).
    pub fn answer_once(&self, id: &str, until: i64, now: i64) -> bool {
        let mut a = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        if a.get(id).is_some_and(|&u| u > now) {
            return false;
        }
        if a.len() >= MAX_ANSWERED {
            a.retain(|_, u| *u > now);
            if a.len() >= MAX_ANSWERED {
                return false;
            }
        }
        a.insert(id.to_owned(), until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires: i64) -> Session {
        Session {
            user: "bob".into(),
            name_id: "bob".into(),
            groups: vec![],
            pii: BTreeMap::new(),
            session_index: "s".into(),
            expires,
            closed: 0,
            missing: Vec::new(),
            approvals: Vec::new(),
            handle: String::new(),
            propagation: None,
        }
    }

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::default();
        let c = s.create(session(100), 0);
        assert!(s.get(&c, 99).is_some());
        assert!(s.get("other", 0).is_none());
        assert!(s.get(&c, 100).is_none());
        assert!(s.is_empty(), "expired sessions are dropped");
        let c = s.create(session(100), 0);
        let handle = s.get(&c, 0).unwrap().handle.clone();
        assert_eq!(handle.len(), 64);
        assert!(s.by_handle(&handle, 0).is_some());
        assert!(s.by_handle(&c, 0).is_none(), "the cookie is not a handle");
        assert!(s.by_handle(&handle, 100).is_none(), "expired");
        let c = s.create(session(100), 0);
        assert!(s.end(&c));
        assert!(s.get(&c, 0).is_none());
    }

    fn sized(expires: i64, assertion_bytes: usize) -> Session {
        let mut s = session(expires);
        s.propagation = Some(Propagation::new(
            "x".repeat(assertion_bytes),
            "id".into(),
            vec![7; 100],
            String::new(),
            Vec::new(),
        ));
        s
    }

    #[test]
    fn the_store_is_bounded_by_bytes_and_evicts_the_longest_idle_first() {
        let one = sized(1_000, 10_000).approx_bytes() + ENTRY_OVERHEAD + 64 * 2;
        assert!(one > 10_000, "the assertion is counted");
        let s = Sessions::with_memory_limit(3 * one);
        let a = s.create(sized(1_000, 10_000), 0);
        let b = s.create(sized(1_000, 10_000), 1);
        let c = s.create(sized(1_000, 10_000), 2);
        assert_eq!(s.len(), 3);
        // `a` is used again: `b` is now the longest idle.
        assert!(s.get(&a, 5).is_some());
        let d = s.create(sized(1_000, 10_000), 6);
        assert!(s.get(&b, 6).is_none(), "the longest-idle session goes first");
        for live in [&a, &c, &d] {
            assert!(s.get(live, 7).is_some());
        }
        // A flood of sign-ins never passes the bound.
        for i in 0..200 {
            s.create(sized(1_000, 10_000), 10 + i);
            assert!(s.bytes() <= 3 * one, "{} > {}", s.bytes(), 3 * one);
        }
        assert!(s.len() <= 3);
    }

    #[test]
    fn eviction_and_end_forget_the_handle_too() {
        let one = sized(1_000, 1_000).approx_bytes() + ENTRY_OVERHEAD + 128;
        let s = Sessions::with_memory_limit(one);
        let a = s.create(sized(1_000, 1_000), 0);
        let handle = s.get(&a, 0).unwrap().handle.clone();
        let b = s.create(sized(1_000, 1_000), 1);
        assert!(s.get(&a, 1).is_none() && s.by_handle(&handle, 1).is_none(), "evicted with its handle");
        assert_eq!(s.table().handles.len(), 1);
        assert!(s.end(&b));
        assert!(s.table().handles.is_empty() && s.table().idle.is_empty() && s.bytes() == 0);
    }

    #[test]
    fn a_session_larger_than_the_bound_is_still_stored_alone() {
        let s = Sessions::with_memory_limit(1_000);
        let a = s.create(sized(1_000, 50_000), 0);
        assert!(s.get(&a, 0).is_some(), "nobody is locked out by their own data");
        let b = s.create(sized(1_000, 10), 1);
        assert!(s.get(&a, 1).is_none() && s.get(&b, 1).is_some());
    }

    #[test]
    fn sweeping_drops_expired_sessions_and_their_bytes() {
        let s = Sessions::default();
        let _a = s.create(sized(10, 100), 0);
        let b = s.create(sized(100, 100), 0);
        s.sweep(50);
        assert_eq!(s.len(), 1);
        assert_eq!(s.bytes(), s.get(&b, 50).unwrap().approx_bytes() + ENTRY_OVERHEAD);
        s.sweep(100);
        assert!(s.is_empty() && s.bytes() == 0 && s.table().handles.is_empty());
    }

    #[test]
    fn logout_requests_end_sessions_by_name_id_and_session_index() {
        let s = Sessions::default();
        let with_index = |i: &str| Session { session_index: i.into(), ..session(1_000) };
        let a = s.create(with_index("s1"), 0);
        let b = s.create(with_index("s2"), 0);
        let other = s.create(Session { name_id: "alice".into(), ..with_index("s1") }, 0);
        assert_eq!(s.end_by_subject("bob", &["s1".into(), "nope".into()]), 1);
        assert!(s.get(&a, 1).is_none() && s.get(&b, 1).is_some() && s.get(&other, 1).is_some());
        assert_eq!(s.end_by_subject("bob", &[]), 1, "no SessionIndex: all of bob's");
        assert!(s.get(&b, 1).is_none() && s.get(&other, 1).is_some());
        assert!(s.end(&other));
        assert!(s.table().subjects.is_empty(), "the index is as bounded as the table");
    }

    #[test]
    fn requests_are_answered_once_and_in_time() {
        let s = Sessions::default();
        assert!(s.answer_once("a", 10, 0));
        assert!(!s.answer_once("a", 10, 5), "once");
        assert!(s.answer_once("b", 10, 5));
        s.sweep(11);
        assert!(s.answer_once("a", 20, 11), "forgotten once its request expired");
    }
}
