//! IdP sessions and pending sign-ins, in memory.
//!
//! Cookies carry 256-bit random values; the maps are keyed by their SHA-256, so a memory dump
//! of the map does not yield usable cookies. Both maps are bounded and purge expired entries.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{header, HeaderMap};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::request::AcceptedRequest;

/// Most concurrent IdP sessions and pending sign-ins kept.
pub const MAX_ENTRIES: usize = 100_000;
/// How long a sign-in form stays valid (seconds).
pub const PENDING_LIFETIME: i64 = 600;

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct IdpSession {
    /// The user.
    pub uid: String,
    /// When the user authenticated.
    pub authn_instant: i64,
    /// When the session ends (`SessionNotOnOrAfter`).
    pub expires: i64,
}

/// An AuthnRequest waiting for the user to sign in.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The accepted request.
    pub request: AcceptedRequest,
    /// RelayState to echo.
    pub relay_state: Option<String>,
    /// The form's CSRF token.
    pub csrf: String,
    created: i64,
}

/// In-memory SSO state.
#[derive(Default)]
pub struct SsoState {
    sessions: Mutex<HashMap<String, IdpSession>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for SsoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SsoState([redacted])")
    }
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl SsoState {
    /// Stores a pending sign-in; returns (pending id for the cookie, CSRF token for the form).
    pub fn begin(&self, request: AcceptedRequest, relay_state: Option<String>, now: i64) -> (String, String) {
        let id = random_token();
        let csrf = random_token();
        if let Ok(mut map) = self.pending.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, p| now - p.created < PENDING_LIFETIME);
            }
            if map.len() < MAX_ENTRIES {
                map.insert(digest(&id), Pending { request, relay_state, csrf: csrf.clone(), created: now });
            }
        }
        (id, csrf)
    }

    /// The pending sign-in of this cookie, if the form's CSRF token matches and it is fresh.
    pub fn pending(&self, id: &str, csrf: &str, now: i64) -> Option<Pending> {
        let map = self.pending.lock().ok()?;
        let p = map.get(&digest(id))?;
        let fresh = now - p.created < PENDING_LIFETIME;
        let matches: bool = p.csrf.as_bytes().ct_eq(csrf.as_bytes()).into();
        (fresh && matches).then(|| p.clone())
    }

    /// Forgets a pending sign-in (it was used).
    pub fn finish(&self, id: &str) {
        if let Ok(mut map) = self.pending.lock() {
            map.remove(&digest(id));
        }
    }

    /// Creates an IdP session; returns (cookie value, session).
    pub fn create_session(&self, uid: &str, now: i64, lifetime: i64) -> (String, IdpSession) {
        let token = random_token();
        let session = IdpSession { uid: uid.to_owned(), authn_instant: now, expires: now + lifetime };
        if let Ok(mut map) = self.sessions.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, s| s.expires > now);
            }
            if map.len() < MAX_ENTRIES {
                map.insert(digest(&token), session.clone());
            }
        }
        (token, session)
    }

    /// The live session of this cookie value.
    pub fn session(&self, token: &str, now: i64) -> Option<IdpSession> {
        let map = self.sessions.lock().ok()?;
        map.get(&digest(token)).filter(|s| s.expires > now).cloned()
    }
}

/// Reads one cookie from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= 128)
        .map(|(_, v)| v.to_owned())
}
