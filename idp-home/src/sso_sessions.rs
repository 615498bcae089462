//! The IdP's SSO session table (in memory) and pending sign-ins (in a MAC'd cookie, nowhere
//! else). No HTTP here: [`crate::http::sso`] reads and sets the cookies.
//!
//! Session cookies carry 256-bit random values; the session map is keyed by their SHA-256, so a
//! memory dump of the map does not yield usable cookies. The map is bounded, purges expired
//! entries, and only ever grows after a successful password check.
//!
//! # Pending sign-ins live in the browser
//!
//! An accepted AuthnRequest waiting for the password is **not** kept in a server-side table:
//! a table that anonymous `/saml/sso` requests can fill is one they can fill so that nobody
//! else can sign in. The request (ID, SP, which of the SP's registered ACS URLs, RelayState,
//! creation time and a random nonce) is serialised into the `idaas_login` cookie and
//! authenticated with HMAC-SHA-256 under a per-process key. The form's CSRF token is an HMAC of
//! that cookie's nonce, so the form is accepted only together with the cookie of the browser
//! that started the sign-in: a form posted without it, or with another browser's cookie, is
//! refused. Nothing an anonymous client sends can displace anyone's pending sign-in. A restart
//! (new key) voids the forms in flight: the user starts again at the service.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::saml::request::AcceptedRequest;

/// Most concurrent IdP sessions kept.
pub const MAX_ENTRIES: usize = 100_000;
/// How long a sign-in form stays valid (seconds).
pub const PENDING_LIFETIME: i64 = 600;
/// Longest pending-sign-in cookie value; a request that would need more is refused (browsers
/// keep about 4 KiB per cookie, name and attributes included).
pub const MAX_PENDING_COOKIE: usize = 3800;

/// Most session participants remembered per IdP session; the oldest is dropped first (it is
/// then not logged out by single logout).
pub const MAX_PARTICIPANTS: usize = 64;

/// An SP this session issued an assertion to: what a LogoutRequest to it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// The SP's entity ID.
    pub sp: String,
    /// The NameID of the assertion.
    pub name_id: String,
    /// The assertion's SessionIndex.
    pub session_index: String,
}

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct IdpSession {
    /// The session's key in the table (SHA-256 of the cookie value, never the cookie).
    pub id: String,
    /// The user.
    pub uid: String,
    /// When the user authenticated.
    pub authn_instant: i64,
    /// When the session ends (`SessionNotOnOrAfter`).
    pub expires: i64,
    /// The SPs it issued assertions to, oldest first (at most [`MAX_PARTICIPANTS`]).
    pub participants: Vec<Participant>,
}

/// An AuthnRequest waiting for the user to sign in, as read back from a valid cookie.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The accepted request.
    pub request: AcceptedRequest,
    /// RelayState to echo.
    pub relay_state: Option<String>,
    /// The form's CSRF token (bound to this cookie).
    pub csrf: String,
}

/// What the cookie carries (short field names: it must stay under [`MAX_PENDING_COOKIE`]).
#[derive(Serialize, Deserialize)]
struct PendingClaims {
    /// Random nonce: makes every cookie, and so every CSRF token, unique.
    n: String,
    /// Creation time.
    t: i64,
    /// Request ID.
    id: String,
    /// SP entity ID.
    sp: String,
    /// Index of the ACS URL in the SP's registration.
    acs: usize,
    /// RelayState.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rs: Option<String>,
}

/// SSO state: the sessions, and the key that authenticates pending-sign-in cookies.
pub struct SsoState {
    sessions: Mutex<HashMap<String, IdpSession>>,
    key: [u8; 32],
}

impl Default for SsoState {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        SsoState { sessions: Mutex::new(HashMap::new()), key }
    }
}

impl std::fmt::Debug for SsoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SsoState([redacted])")
    }
}

pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl SsoState {
    fn mac(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        m.update(label);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// The pending-sign-in cookie value for an accepted request, and the form's CSRF token;
    /// `None` if the request is too large to carry in a cookie.
    pub fn begin(
        &self,
        request: &AcceptedRequest,
        relay_state: Option<String>,
        now: i64,
    ) -> Option<(String, String)> {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let claims = PendingClaims {
            n: nonce.clone(),
            t: now,
            id: request.id.clone(),
            sp: request.sp_entity_id.clone(),
            acs: request.acs_index,
            rs: relay_state,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?);
        let tag = URL_SAFE_NO_PAD.encode(self.mac(b"idaas pending v1\0", payload.as_bytes()));
        let cookie = format!("{payload}.{tag}");
        (cookie.len() <= MAX_PENDING_COOKIE).then(|| (cookie, self.csrf_for(&nonce)))
    }

    fn csrf_for(&self, nonce: &str) -> String {
        hex::encode(self.mac(b"idaas csrf v1\0", nonce.as_bytes()))
    }

    /// The pending sign-in of this cookie, if the cookie is authentic and fresh and the form's
    /// CSRF token is the one bound to it. `acs_url` resolves the ACS index against the SP's
    /// current registration (`None`: the SP or that URL is gone).
    pub fn pending(
        &self,
        cookie: &str,
        csrf: &str,
        now: i64,
        acs_url: &dyn Fn(&str, usize) -> Option<String>,
    ) -> Option<Pending> {
        let (payload, tag) = cookie.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let expected = self.mac(b"idaas pending v1\0", payload.as_bytes());
        if !bool::from(expected.as_slice().ct_eq(&tag)) {
            return None;
        }
        let claims: PendingClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let fresh = claims.t <= now && now - claims.t < PENDING_LIFETIME;
        let bound = self.csrf_for(&claims.n);
        let matches: bool = bound.as_bytes().ct_eq(csrf.as_bytes()).into();
        if !(fresh && matches) {
            return None;
        }
        let acs = acs_url(&claims.sp, claims.acs)?;
        Some(Pending {
            request: AcceptedRequest {
                id: claims.id,
                sp_entity_id: claims.sp,
                acs_url: acs,
                acs_index: claims.acs,
                flags: Default::default(),
            },
            relay_state: claims.rs,
            csrf: bound,
        })
    }

    /// Creates an IdP session; returns (cookie value, session).
    pub fn create_session(&self, uid: &str, now: i64, lifetime: i64) -> (String, IdpSession) {
        let token = random_token();
        let session = IdpSession {
            id: digest(&token),
            uid: uid.to_owned(),
            authn_instant: now,
            expires: now + lifetime,
            participants: Vec::new(),
        };
        if let Ok(mut map) = self.sessions.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, s| s.expires > now);
            }
            if map.len() < MAX_ENTRIES {
                map.insert(session.id.clone(), session.clone());
            }
        }
        (token, session)
    }

    /// The live session of this cookie value.
    pub fn session(&self, token: &str, now: i64) -> Option<IdpSession> {
        let map = self.sessions.lock().ok()?;
        map.get(&digest(token)).filter(|s| s.expires > now).cloned()
    }

    /// Records that session `id` issued an assertion to `p` (the oldest participant is dropped
    /// beyond [`MAX_PARTICIPANTS`]).
    pub fn record_participant(&self, id: &str, p: Participant) {
        if let Ok(mut map) = self.sessions.lock() {
            if let Some(s) = map.get_mut(id) {
                if s.participants.len() >= MAX_PARTICIPANTS {
                    s.participants.remove(0);
                }
                s.participants.push(p);
            }
        }
    }

    /// Ends the session of this cookie value; returns it if it was live.
    pub fn end_by_cookie(&self, token: &str, now: i64) -> Option<IdpSession> {
        let mut map = self.sessions.lock().ok()?;
        map.remove(&digest(token)).filter(|s| s.expires > now)
    }

    /// Ends the live session in which `sp` received an assertion for `name_id` with one of
    /// `session_indexes` (any of the SP's assertions for `name_id` when empty); returns it.
    /// A linear scan of the bounded table: it runs only for verified LogoutRequests.
    pub fn end_by_participant(
        &self,
        sp: &str,
        name_id: &str,
        session_indexes: &[String],
        now: i64,
    ) -> Option<IdpSession> {
        let mut map = self.sessions.lock().ok()?;
        let key = map
            .iter()
            .find(|(_, s)| {
                s.expires > now
                    && s.participants.iter().any(|p| {
                        p.sp == sp
                            && p.name_id == name_id
                            && (session_indexes.is_empty() || session_indexes.contains(&p.session_index))
                    })
            })
            .map(|(k, _)| k.clone())?;
        map.remove(&key)
    }

    /// The live sessions of `uid`, oldest first (the account page lists them). A linear scan
    /// of the bounded table.
    pub fn sessions_of(&self, uid: &str, now: i64) -> Vec<IdpSession> {
        let Ok(map) = self.sessions.lock() else { return Vec::new() };
        let mut list: Vec<IdpSession> =
            map.values().filter(|s| s.uid == uid && s.expires > now).cloned().collect();
        list.sort_by_key(|s| s.authn_instant);
        list
    }

    /// Ends every session of `uid` ("sign out everywhere", a password change); returns the
    /// live ones that ended, so their participants can be signed out too.
    pub fn end_all_of(&self, uid: &str, now: i64) -> Vec<IdpSession> {
        let Ok(mut map) = self.sessions.lock() else { return Vec::new() };
        let keys: Vec<String> = map.iter().filter(|(_, s)| s.uid == uid).map(|(k, _)| k.clone()).collect();
        keys.iter().filter_map(|k| map.remove(k)).filter(|s| s.expires > now).collect()
    }

    /// Ends every session of `uid` but `keep` (a session id): after a password change, the
    /// other devices must sign in again. Returns how many ended.
    pub fn end_others(&self, uid: &str, keep: &str) -> usize {
        let Ok(mut map) = self.sessions.lock() else { return 0 };
        let before = map.len();
        map.retain(|k, s| s.uid != uid || k == keep);
        before - map.len()
    }

    /// The CSRF token of one of the IdP's own forms: a MAC of `purpose` and `bound` (the
    /// value of a cookie only this browser holds), useless without that cookie.
    pub fn form_token(&self, purpose: &str, bound: &str) -> String {
        let data = [purpose.as_bytes(), b"\0", bound.as_bytes()].concat();
        hex::encode(self.mac(b"idaas idp form v1\0", &data))
    }

    /// Whether `csrf` is [`SsoState::form_token`] of `purpose` and `bound` (constant time).
    pub fn check_form_token(&self, purpose: &str, bound: &str, csrf: &str) -> bool {
        self.form_token(purpose, bound).as_bytes().ct_eq(csrf.as_bytes()).into()
    }

    /// The CSRF token of the IdP's sign-out form for the session whose cookie is `token`: a
    /// MAC of it, useless without the cookie.
    pub fn logout_token(&self, token: &str) -> String {
        hex::encode(self.mac(b"idaas idp logout v1\0", token.as_bytes()))
    }

    /// Whether `csrf` is the sign-out token of the cookie `token` (constant time).
    pub fn check_logout_token(&self, token: &str, csrf: &str) -> bool {
        self.logout_token(token).as_bytes().ct_eq(csrf.as_bytes()).into()
    }
}
