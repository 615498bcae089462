//! Agent sessions and pending AuthnRequests, in memory only: the decrypted PII never touches
//! disk, and is wiped (zeroized) when a session ends, expires or is evicted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Most live sessions (oldest-expiring evicted beyond it) and most answered request IDs.
pub const MAX_SESSIONS: usize = 100_000;
/// How long an AuthnRequest may stay unanswered, seconds.
pub const PENDING_LIFETIME: i64 = crate::signin::PENDING_LIFETIME;

/// A signed-in user, as the backend will see them.
pub struct Session {
    /// The NameID.
    pub user: String,
    /// Agent groups (after `group_mapping`).
    pub groups: Vec<String>,
    /// Decrypted PII: attribute → value. Wiped on drop.
    pub pii: BTreeMap<String, Zeroizing<String>>,
    /// The SAML SessionIndex (the linchpin of this session's keys).
    pub session_index: String,
    /// Unix seconds after which the session is gone.
    pub expires: i64,
    /// PII ciphertexts the keys did not open (counted, never named in logs).
    pub closed: usize,
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
}

impl Propagation {
    /// Wraps the material (the TAT is wiped on drop).
    pub fn new(assertion_xml: String, assertion_id: String, tat: Vec<u8>) -> Self {
        Propagation { assertion_xml, assertion_id, tat: Zeroizing::new(tat) }
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

/// The session table: the cookie value is random; only its SHA-256 is a key here.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Arc<Session>>>,
    /// SHA-256(handle) → SHA-256(cookie).
    handles: Mutex<HashMap<[u8; 32], [u8; 32]>>,
    /// AuthnRequest IDs already answered → until when to remember them. Pending requests
    /// themselves live in the browser's sign-in cookie (`crate::signin`); only responses the
    /// IdP signed for this SP get here, so anonymous traffic cannot fill this.
    answered: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// A fresh random token (32 bytes, hex).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Sessions {
    /// Stores `session`; returns the cookie value.
    pub fn create(&self, mut session: Session, now: i64) -> String {
        let cookie = random_token();
        session.handle = random_token();
        self.handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key(&session.handle), key(&cookie));
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.len() >= MAX_SESSIONS {
            live.retain(|_, s| s.expires > now);
            if live.len() >= MAX_SESSIONS {
                // Evict the session closest to expiry rather than refuse sign-ins.
                if let Some(k) = live.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k) {
                    live.remove(&k);
                }
            }
        }
        live.insert(key(&cookie), Arc::new(session));
        cookie
    }

    /// The live session for `cookie`; an expired one is removed (and so wiped).
    pub fn get(&self, cookie: &str, now: i64) -> Option<Arc<Session>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let k = key(cookie);
        match live.get(&k) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                live.remove(&k);
                None
            }
            None => None,
        }
    }

    /// The live session whose backend handle is `handle` (`X-Idaas-Session`).
    pub fn by_handle(&self, handle: &str, now: i64) -> Option<Arc<Session>> {
        let target = *self.handles.lock().unwrap_or_else(PoisonError::into_inner).get(&key(handle))?;
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get(&target) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                live.remove(&target);
                None
            }
            None => None,
        }
    }

    /// Ends the session for `cookie`.
    pub fn end(&self, cookie: &str) -> bool {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).remove(&key(cookie)).is_some()
    }

    /// Drops expired sessions and requests (called periodically).
    pub fn sweep(&self, now: i64) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, s| s.expires > now);
        self.handles.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, c| live.contains_key(c));
        drop(live);
        self.answered.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        if a.len() >= MAX_SESSIONS {
            a.retain(|_, u| *u > now);
            if a.len() >= MAX_SESSIONS {
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
            groups: vec![],
            pii: BTreeMap::new(),
            session_index: "s".into(),
            expires,
            closed: 0,
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
