//! The IdP's SSO session table and pending sign-ins (in a MAC'd cookie, nowhere else). No
//! HTTP here: [`crate::http::sso`] reads and sets the cookies.
//!
//! Session cookies carry 256-bit random values; the session table is keyed by their SHA-256,
//! so a memory or database dump of it does not yield usable cookies. The table only ever
//! grows after a successful password check, and expired entries are purged. It is a
//! [`SessionTable`]: in this process's memory ([`memory::MemorySessions`], bounded by
//! [`MAX_ENTRIES`]) with the sled store, or in PostgreSQL ([`pg::PgSessions`]) with a
//! PostgreSQL store, where every instance of the home IdP sees every session (issue 17).
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
//! refused. Nothing an anonymous client sends can displace anyone's pending sign-in. The key
//! is derived from the PII reference key file ([`crate::pii_ref::PiiRefKey::derive`]), which
//! the instances of one home IdP share: a form served by one instance is accepted by another,
//! and a restart keeps the forms in flight valid.

pub mod memory;
pub mod pg;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::saml::authn_context::RequestedContext;
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
    /// Whether the sign-in included a second factor (at the start, or a later step-up).
    pub mfa: bool,
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
    /// The request's `RequestedAuthnContext` ([`RequestedContext::to_codes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ac: Option<[u8; 2]>,
}

/// Why the session table failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The in-memory table is full of live sessions.
    #[error("the session table is full")]
    Full,
    /// The database failed.
    #[error("session table: {0}")]
    Db(String),
}

/// Where IdP sessions live. Every method is one atomic step.
pub trait SessionTable: Send + Sync + std::fmt::Debug {
    /// Stores a new session.
    fn insert(&self, session: &IdpSession, now: i64) -> Result<(), TableError>;
    /// The live session `id`.
    fn get(&self, id: &str, now: i64) -> Result<Option<IdpSession>, TableError>;
    /// Appends a participant to session `id` (dropping the oldest beyond
    /// [`MAX_PARTICIPANTS`]); nothing if the session is gone.
    fn record_participant(&self, id: &str, p: Participant) -> Result<(), TableError>;
    /// Records that session `id`'s user gave a second factor (a step-up); nothing if the
    /// session is gone.
    fn mark_mfa(&self, id: &str) -> Result<(), TableError>;
    /// Removes session `id`, returning it (live or not).
    fn remove(&self, id: &str) -> Result<Option<IdpSession>, TableError>;
    /// The id of a live session in which `sp` received an assertion for `name_id` with one of
    /// `session_indexes` (any, when empty).
    fn find_participant(
        &self,
        sp: &str,
        name_id: &str,
        session_indexes: &[String],
        now: i64,
    ) -> Result<Option<String>, TableError>;
    /// Every session of `uid`, live or not.
    fn of_user(&self, uid: &str) -> Result<Vec<IdpSession>, TableError>;
    /// Removes every session of `uid` but `keep`, returning them.
    fn remove_of_user(&self, uid: &str, keep: Option<&str>) -> Result<Vec<IdpSession>, TableError>;
    /// Removes the expired sessions; returns how many.
    fn purge(&self, now: i64) -> Result<usize, TableError>;
}

/// SSO state: the sessions, and the key that authenticates pending-sign-in cookies.
pub struct SsoState {
    sessions: Box<dyn SessionTable>,
    key: zeroize::Zeroizing<[u8; 32]>,
}

impl Default for SsoState {
    /// In-memory sessions and a random key (tests).
    fn default() -> Self {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        SsoState::new(key, Box::new(memory::MemorySessions::default()))
    }
}

fn logged<T: Default>(r: Result<T, TableError>) -> T {
    r.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "IdP session table");
        T::default()
    })
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

pub(crate) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl SsoState {
    /// SSO state with this cookie key and session table.
    pub fn new(key: zeroize::Zeroizing<[u8; 32]>, sessions: Box<dyn SessionTable>) -> SsoState {
        SsoState { sessions, key }
    }

    /// Deletes the expired sessions (the periodic purge); returns how many.
    pub fn purge(&self, now: i64) -> usize {
        logged(self.sessions.purge(now))
    }

    fn mac(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref()) else {
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
            ac: (request.flags.requested != RequestedContext::default())
                .then(|| request.flags.requested.to_codes()),
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
                flags: crate::saml::request::AuthnFlags {
                    requested: claims.ac.map(RequestedContext::from_codes).unwrap_or_default(),
                    ..Default::default()
                },
            },
            relay_state: claims.rs,
            csrf: bound,
        })
    }

    /// Creates an IdP session after a password-only sign-in; returns (cookie value, session).
    pub fn create_session(&self, uid: &str, now: i64, lifetime: i64) -> (String, IdpSession) {
        self.create_session_with(uid, now, lifetime, false)
    }

    /// Creates an IdP session, `mfa` when the sign-in included a second factor.
    pub fn create_session_with(&self, uid: &str, now: i64, lifetime: i64, mfa: bool) -> (String, IdpSession) {
        let token = random_token();
        let session = IdpSession {
            id: digest(&token),
            uid: uid.to_owned(),
            authn_instant: now,
            expires: now + lifetime,
            participants: Vec::new(),
            mfa,
        };
        logged(self.sessions.insert(&session, now));
        (token, session)
    }

    /// The live session of this cookie value.
    pub fn session(&self, token: &str, now: i64) -> Option<IdpSession> {
        logged(self.sessions.get(&digest(token), now))
    }

    /// Records that session `id` issued an assertion to `p` (the oldest participant is dropped
    /// beyond [`MAX_PARTICIPANTS`]).
    pub fn record_participant(&self, id: &str, p: Participant) {
        logged(self.sessions.record_participant(id, p));
    }

    /// Records a step-up: session `id`'s user gave a second factor.
    pub fn mark_mfa(&self, id: &str) {
        logged(self.sessions.mark_mfa(id));
    }

    /// `claims` as a cookie value authenticated under `label` (HMAC-SHA-256, this state's
    /// key): the second sign-in step keeps its pending state in the browser this way.
    pub fn seal<T: Serialize>(&self, label: &str, claims: &T) -> Option<String> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).ok()?);
        let tag = URL_SAFE_NO_PAD.encode(self.mac(label.as_bytes(), payload.as_bytes()));
        Some(format!("{payload}.{tag}"))
    }

    /// The claims of a [`SsoState::seal`]ed value, if its tag is right (constant time).
    pub fn open<T: serde::de::DeserializeOwned>(&self, label: &str, value: &str) -> Option<T> {
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let expected = self.mac(label.as_bytes(), payload.as_bytes());
        if !bool::from(expected.as_slice().ct_eq(&tag)) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// Ends the session of this cookie value; returns it if it was live.
    pub fn end_by_cookie(&self, token: &str, now: i64) -> Option<IdpSession> {
        logged(self.sessions.remove(&digest(token))).filter(|s| s.expires > now)
    }

    /// Ends the live session in which `sp` received an assertion for `name_id` with one of
    /// `session_indexes` (any of the SP's assertions for `name_id` when empty); returns it.
    /// In memory a linear scan of the bounded table: it runs only for verified LogoutRequests.
    pub fn end_by_participant(
        &self,
        sp: &str,
        name_id: &str,
        session_indexes: &[String],
        now: i64,
    ) -> Option<IdpSession> {
        let id = logged(self.sessions.find_participant(sp, name_id, session_indexes, now))?;
        logged(self.sessions.remove(&id))
    }

    /// The live sessions of `uid`, oldest first (the account page lists them).
    pub fn sessions_of(&self, uid: &str, now: i64) -> Vec<IdpSession> {
        let mut list: Vec<IdpSession> =
            logged(self.sessions.of_user(uid)).into_iter().filter(|s| s.expires > now).collect();
        list.sort_by_key(|s| s.authn_instant);
        list
    }

    /// Ends every session of `uid` ("sign out everywhere", a password change); returns the
    /// live ones that ended, so their participants can be signed out too.
    pub fn end_all_of(&self, uid: &str, now: i64) -> Vec<IdpSession> {
        logged(self.sessions.remove_of_user(uid, None)).into_iter().filter(|s| s.expires > now).collect()
    }

    /// Ends every session of `uid` but `keep` (a session id): after a password change, the
    /// other devices must sign in again. Returns how many ended.
    pub fn end_others(&self, uid: &str, keep: &str) -> usize {
        logged(self.sessions.remove_of_user(uid, Some(keep))).len()
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
