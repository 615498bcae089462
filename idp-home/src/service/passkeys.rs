//! Passkeys (WebAuthn, issue 20 item 4), without HTTP: registering one for a signed-in user,
//! and checking an assertion, as the second factor or as a passwordless sign-in. The ceremony
//! itself is `webauthn-rs`'s (`Passkey`: user verification required, ES256/RS256/EdDSA,
//! attestation not asked for); the RP ID is the host of `public_url` and the origin is
//! `public_url` itself, so passkeys need the IdP served under a domain name (WebAuthn has no RP
//! ID for an IP address): otherwise [`PasskeyError::Unavailable`].
//!
//! # Where the state lives
//!
//! - **Credentials** are part of the user record (`security.passkeys`, at most
//!   [`MAX_PER_USER`]), in both backends, written by compare-and-swap: the signature counter
//!   of an assertion is checked against the stored one and the new value stored in the same
//!   atomic update, so a replayed (or cloned) counter is refused even under races.
//! - **A ceremony under way** (the challenge) travels in a cookie MAC'd by the HTTP layer
//!   ([`Ceremony`]), expiring after [`CEREMONY_LIFETIME`] seconds; an authentication's state is
//!   kept without the credentials, which are read from the user record when the answer comes
//!   (fresh counters, a small cookie). Each challenge is accepted once per instance
//!   ([`UsedChallenges`], bounded).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::model::{PasskeyCredential, User};
use crate::state::AppState;
use crate::store::StoreError;

/// Most passkeys per user.
pub const MAX_PER_USER: usize = 10;
/// How long a ceremony waits for the authenticator's answer, seconds.
pub const CEREMONY_LIFETIME: i64 = 300;
/// Longest passkey name kept, characters.
pub const MAX_NAME_CHARS: usize = 60;
/// Most challenges remembered as used at once (per instance).
const MAX_USED_CHALLENGES: usize = 10_000;

/// Why a passkey operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The IdP is not served under a domain name (`public_url`'s host is an IP address).
    #[error("passkeys need the identity provider to be served under a domain name")]
    Unavailable,
    /// The authenticator's answer was refused (signature, challenge, origin, counter, flags).
    #[error("the passkey was not accepted")]
    Refused,
    /// The answer is not a WebAuthn credential.
    #[error("the passkey answer is malformed")]
    Malformed,
    /// The ceremony expired, or its challenge was used already.
    #[error("this passkey request has expired; start again")]
    Expired,
    /// The user has no passkey (or does not exist: the same answer).
    #[error("no passkey is registered for this account")]
    NoPasskey,
    /// [`MAX_PER_USER`] passkeys are registered already.
    #[error("at most {MAX_PER_USER} passkeys per account; remove one first")]
    TooMany,
    /// That credential is registered already.
    #[error("this passkey is registered already")]
    Duplicate,
    /// No such user.
    #[error("no such user")]
    NoUser,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ceremony state could not be (de)serialised (a bug).
    #[error("passkey state: {0}")]
    Internal(String),
}

/// The WebAuthn relying party of this IdP, or `None` when `public_url` has no domain name.
pub fn relying_party(public_url: &str, display_name: &str) -> Option<Webauthn> {
    let origin = Url::parse(public_url).ok()?;
    let host = origin.domain()?.to_owned();
    WebauthnBuilder::new(&host, &origin).ok()?.rp_name(display_name).build().ok()
}

fn rp(state: &AppState) -> Result<&Webauthn, PasskeyError> {
    state.webauthn.as_deref().ok_or(PasskeyError::Unavailable)
}

/// What a ceremony under way carries (sealed into a cookie by the HTTP layer).
#[derive(Debug, Serialize, Deserialize)]
pub struct Ceremony {
    /// The user.
    pub uid: String,
    /// When it started.
    pub started: i64,
    /// webauthn-rs's state (an authentication's without its credentials).
    pub state: serde_json::Value,
}

/// Challenges already answered, until their ceremony would have expired: an answer (and its
/// ceremony cookie) replayed to this instance is refused. Bounded: when full of live entries,
/// new ceremonies are refused rather than old challenges forgotten.
#[derive(Debug, Default)]
pub struct UsedChallenges {
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

impl UsedChallenges {
    /// Records `ceremony`'s challenge; `false` if it was recorded before (or the table is full).
    fn first_use(&self, ceremony: &Ceremony, now: i64) -> bool {
        let key: [u8; 32] = Sha256::digest(ceremony.state.to_string().as_bytes()).into();
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains_key(&key) {
            return false;
        }
        if seen.len() >= MAX_USED_CHALLENGES {
            seen.retain(|_, until| *until > now);
            if seen.len() >= MAX_USED_CHALLENGES {
                return false;
            }
        }
        seen.insert(key, ceremony.started + CEREMONY_LIFETIME);
        true
    }
}

fn to_value<T: Serialize>(v: &T) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(v).map_err(|e| PasskeyError::Internal(e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, PasskeyError> {
    serde_json::from_value(v).map_err(|e| PasskeyError::Internal(e.to_string()))
}

fn passkeys_of(user: &User) -> Result<Vec<Passkey>, PasskeyError> {
    user.security.passkeys.iter().map(|p| from_value(p.credential.clone())).collect()
}

/// A WebAuthn user handle for `user`: random, kept in the user record from the first
/// registration on.
fn user_handle(state: &AppState, uid: &str) -> Result<Uuid, PasskeyError> {
    let fresh = Uuid::new_v4().to_string();
    let user = state
        .store
        .update_user(uid, &mut |u| {
            if u.security.webauthn_handle.is_none() {
                u.security.webauthn_handle = Some(fresh.clone());
            }
        })?
        .ok_or(PasskeyError::NoUser)?;
    user.security
        .webauthn_handle
        .as_deref()
        .and_then(|h| Uuid::parse_str(h).ok())
        .ok_or_else(|| PasskeyError::Internal("user handle".into()))
}

/// Starts registering a passkey for the signed-in `uid`: the options for
/// `navigator.credentials.create` and the ceremony to keep.
pub fn start_registration(
    state: &AppState,
    uid: &str,
    now: i64,
) -> Result<(CreationChallengeResponse, Ceremony), PasskeyError> {
    let rp = rp(state)?;
    let user = state.store.get_user(uid)?.ok_or(PasskeyError::NoUser)?;
    if user.security.passkeys.len() >= MAX_PER_USER {
        return Err(PasskeyError::TooMany);
    }
    let handle = user_handle(state, uid)?;
    let exclude = passkeys_of(&user)?.iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
    let (options, reg) = rp
        .start_passkey_registration(handle, uid, uid, Some(exclude))
        .map_err(|e| PasskeyError::Internal(e.to_string()))?;
    Ok((options, Ceremony { uid: uid.to_owned(), started: now, state: to_value(&reg)? }))
}

fn live(state: &AppState, ceremony: &Ceremony, now: i64) -> Result<(), PasskeyError> {
    if !(ceremony.started <= now && now - ceremony.started < CEREMONY_LIFETIME) {
        return Err(PasskeyError::Expired);
    }
    if !state.used_challenges.first_use(ceremony, now) {
        return Err(PasskeyError::Expired);
    }
    Ok(())
}

/// Finishes a registration with the authenticator's answer `credential` (JSON): the passkey is
/// stored under `name`. Returns its id.
pub fn finish_registration(
    state: &AppState,
    ceremony: Ceremony,
    credential: &str,
    name: &str,
    now: i64,
) -> Result<String, PasskeyError> {
    let rp = rp(state)?;
    let answer: RegisterPublicKeyCredential =
        serde_json::from_str(credential).map_err(|_| PasskeyError::Malformed)?;
    live(state, &ceremony, now)?;
    let reg: PasskeyRegistration = from_value(ceremony.state)?;
    let passkey = rp.finish_passkey_registration(&answer, &reg).map_err(|e| {
        tracing::info!(reason = %e, "passkey registration refused");
        PasskeyError::Refused
    })?;
    let id = URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref());
    let name: String = name.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let record = PasskeyCredential {
        id: id.clone(),
        name: if name.trim().is_empty() { "Passkey".to_owned() } else { name.trim().to_owned() },
        created: now,
        last_used: 0,
        credential: to_value(&passkey)?,
    };
    let mut outcome = Ok(());
    state
        .store
        .update_user(&ceremony.uid, &mut |u| {
            outcome = if u.security.passkeys.iter().any(|p| p.id == record.id) {
                Err(PasskeyError::Duplicate)
            } else if u.security.passkeys.len() >= MAX_PER_USER {
                Err(PasskeyError::TooMany)
            } else {
                u.security.passkeys.push(record.clone());
                Ok(())
            };
        })?
        .ok_or(PasskeyError::NoUser)?;
    outcome?;
    tracing::info!(user = %service_kit::redact::log_id(&ceremony.uid), "passkey registered");
    Ok(id)
}

/// Starts an authentication of `uid` with one of their passkeys: the options for
/// `navigator.credentials.get` and the ceremony to keep.
pub fn start_authentication(
    state: &AppState,
    uid: &str,
    now: i64,
) -> Result<(RequestChallengeResponse, Ceremony), PasskeyError> {
    let rp = rp(state)?;
    let user = state.store.get_user(uid)?.ok_or(PasskeyError::NoPasskey)?;
    let passkeys = passkeys_of(&user)?;
    if passkeys.is_empty() {
        return Err(PasskeyError::NoPasskey);
    }
    let (options, auth) =
        rp.start_passkey_authentication(&passkeys).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    let mut value = to_value(&auth)?;
    // The credentials come back from the user record when the answer comes.
    if let Some(creds) = value.get_mut("ast").and_then(|a| a.get_mut("credentials")) {
        *creds = serde_json::Value::Array(Vec::new());
    }
    Ok((options, Ceremony { uid: uid.to_owned(), started: now, state: value }))
}

/// Checks the authenticator's answer `credential` (JSON) to `ceremony`: signature, challenge,
/// origin, RP ID, user verification, and the signature counter (a counter not above the
/// stored one is refused), which is stored with the time of use. Returns the uid.
pub fn finish_authentication(
    state: &AppState,
    ceremony: Ceremony,
    credential: &str,
    now: i64,
) -> Result<String, PasskeyError> {
    let rp = rp(state)?;
    let answer: PublicKeyCredential =
        serde_json::from_str(credential).map_err(|_| PasskeyError::Malformed)?;
    live(state, &ceremony, now)?;
    let uid = ceremony.uid.clone();
    let user = state.store.get_user(&uid)?.ok_or(PasskeyError::NoPasskey)?;
    let mut value = ceremony.state;
    let creds: Vec<serde_json::Value> =
        user.security.passkeys.iter().filter_map(|p| p.credential.get("cred").cloned()).collect();
    match value.get_mut("ast").and_then(|a| a.get_mut("credentials")) {
        Some(slot) => *slot = serde_json::Value::Array(creds),
        None => return Err(PasskeyError::Internal("authentication state".into())),
    }
    let auth: PasskeyAuthentication = from_value(value)?;
    let result = rp.finish_passkey_authentication(&answer, &auth).map_err(|e| {
        tracing::info!(reason = %e, "passkey assertion refused");
        PasskeyError::Refused
    })?;
    let id = URL_SAFE_NO_PAD.encode(result.cred_id().as_ref());
    // The counter is checked again against the stored record inside the update, so two
    // answers racing cannot both pass with the same counter.
    let counter = result.counter();
    let mut outcome = Err(PasskeyError::Refused);
    state.store.update_user(&uid, &mut |u| {
        outcome = Err(PasskeyError::Refused);
        let Some(record) = u.security.passkeys.iter_mut().find(|p| p.id == id) else {
            return;
        };
        let Ok(mut passkey) = serde_json::from_value::<Passkey>(record.credential.clone()) else {
            return;
        };
        let stored =
            record.credential.pointer("/cred/counter").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if (counter > 0 || stored > 0) && u64::from(counter) <= stored {
            return;
        }
        passkey.update_credential(&result);
        if let Ok(v) = serde_json::to_value(&passkey) {
            record.credential = v;
            record.last_used = now;
            outcome = Ok(());
        }
    })?;
    outcome?;
    Ok(uid)
}

/// Removes `uid`'s passkey `id`; `false` if there was none.
pub fn remove(state: &AppState, uid: &str, id: &str) -> Result<bool, PasskeyError> {
    let mut removed = false;
    state.store.update_user(uid, &mut |u| {
        let before = u.security.passkeys.len();
        u.security.passkeys.retain(|p| p.id != id);
        removed = u.security.passkeys.len() < before;
    })?;
    if removed {
        tracing::info!(user = %service_kit::redact::log_id(uid), "passkey removed");
    }
    Ok(removed)
}
