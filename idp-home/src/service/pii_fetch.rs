//! `POST /pbe/pii/fetch`: a web agent fetches the ciphertexts an assertion's digests name
//! (`federation::pii`, issue 15 defect 4). The rule, in order:
//!
//! 1. the request is small and well formed: at most `MAX_PII` names, each a PII name, none
//!    twice, every bound field of a sane length (400 otherwise);
//! 2. the client address is not throttled for bad references (429);
//! 3. the reference's MAC (constant time, [`crate::pii_ref`]) checks for exactly this uid, SP,
//!    SessionIndex and assertion ID, and has not expired; the SP is still registered for PBE
//!    (its HPKE key). Otherwise 401, the same answer whatever failed, and a failure counted;
//! 4. the answer is the user's *current* ciphertexts for the names asked (deleted ones are
//!    absent, replaced ones fail the agent's digest check), as one bundle HPKE-sealed to the
//!    SP's registered key under `pii_info(SP, SessionIndex, assertion ID)`: neither the visitor
//!    IdP (which sees the assertion and so the reference) nor the browser can open it.
//!
//! Nothing personal is logged: the user appears as a `log_id`, names and ciphertexts never.

use std::collections::BTreeSet;
use std::net::IpAddr;

use federation::api::{PiiFetchRequest, PiiFetchResponse};
use federation::claims::{is_pii_name, MAX_PII};
use federation::pii::{encode_bundle, pii_info, Bundle, BundleError};
use federation::seal::SealSuite;
use service_kit::throttle::ThrottleParams;

use crate::pii_ref::RefBinding;
use crate::state::AppState;

/// Longest bound field (uid, SP entity ID, SessionIndex, assertion ID) accepted, bytes.
pub const MAX_FIELD: usize = 1024;

/// Why a fetch was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request breaks the shape rules. 400.
    #[error("{0}")]
    Invalid(&'static str),
    /// The reference does not check (forged, expired, moved to another binding) or the SP is
    /// no longer registered for PBE. 401.
    #[error("the PII reference is invalid, expired or not for this assertion")]
    Refused,
    /// Too many bad references from this address. 429.
    #[error("too many bad references; try again in {0} s")]
    Throttled(u64),
    /// Storage, sealing or a bundle over the size bound. 500, cause logged.
    #[error("{0}")]
    Internal(String),
}

/// The throttle of bad references per client address: generous (a real agent never sends a
/// bad one; a restarted home IdP with a new key makes a few), but a guesser is slowed down.
fn params() -> ThrottleParams {
    ThrottleParams { free_failures: 20, lock_after: 200, ..ThrottleParams::default() }
}

fn check_shape(req: &PiiFetchRequest) -> Result<(), FetchError> {
    for (field, name) in [
        (&req.uid, "uid"),
        (&req.sp, "sp"),
        (&req.session_index, "session_index"),
        (&req.assertion_id, "assertion_id"),
    ] {
        if field.is_empty() || field.len() > MAX_FIELD {
            return Err(FetchError::Invalid(match name {
                "uid" => "uid must be 1-1024 bytes",
                "sp" => "sp must be 1-1024 bytes",
                "session_index" => "session_index must be 1-1024 bytes",
                _ => "assertion_id must be 1-1024 bytes",
            }));
        }
    }
    if req.names.len() > MAX_PII {
        return Err(FetchError::Invalid("at most 64 names"));
    }
    let mut seen = BTreeSet::new();
    for name in &req.names {
        if !is_pii_name(name) {
            return Err(FetchError::Invalid("a name is not [a-z0-9_.-]{1,64}"));
        }
        if !seen.insert(name.as_str()) {
            return Err(FetchError::Invalid("a name is given twice"));
        }
    }
    Ok(())
}

/// Answers a fetch (blocking: store reads and sealing).
pub fn fetch(
    state: &AppState,
    req: &PiiFetchRequest,
    client: Option<IpAddr>,
    now: i64,
) -> Result<PiiFetchResponse, FetchError> {
    check_shape(req)?;
    let key = format!("pii-ref:{}", crate::throttle::addr_key(client));
    // The reference is an HMAC: checking it costs microseconds, and a burst of parallel
    // guesses learns nothing from being checked before it is counted (unlike a password,
    // nothing can be guessed), so a good reference writes nothing to the throttle and only a
    // refusal counts. An address over its limit still waits first. (With a PostgreSQL store
    // this saves the two throttle transactions of every agent sign-in, issue 17.)
    state.throttle.check(&[&key], now).map_err(FetchError::Throttled)?;
    let count_refusal = || {
        if let Ok(reservation) = state.throttle.reserve(&[(&key, params())], now) {
            reservation.failed();
        }
    };
    let binding = RefBinding {
        uid: &req.uid,
        sp: &req.sp,
        session_index: &req.session_index,
        assertion_id: &req.assertion_id,
    };
    if !state.keys.pii_ref_key().check(&req.pii_ref, binding, now) {
        count_refusal();
        return Err(FetchError::Refused);
    }
    let internal = |e: &dyn std::fmt::Display| FetchError::Internal(e.to_string());
    let sp = state.store.get_sp(&req.sp).map_err(|e| internal(&e))?;
    let Some(pbe) = sp.and_then(|sp| sp.pbe) else {
        count_refusal();
        return Err(FetchError::Refused);
    };
    let wanted: BTreeSet<&str> = req.names.iter().map(String::as_str).collect();
    let bundle: Bundle = state
        .store
        .list_pii(&req.uid)
        .map_err(|e| internal(&e))?
        .into_iter()
        .filter(|r| wanted.contains(r.attribute.as_str()))
        .map(|r| (r.attribute, r.ciphertext))
        .collect();
    let count = bundle.len();
    let plain = zeroize::Zeroizing::new(encode_bundle(&bundle).map_err(|e| match e {
        BundleError::TooLarge => {
            FetchError::Internal("the user's ciphertexts exceed the PII bundle bound".into())
        }
        BundleError::Malformed => FetchError::Internal("a stored PII name breaks the name rule".into()),
    })?);
    let suite = state.keys.suite();
    let info = pii_info(&req.sp, &req.session_index, &req.assertion_id);
    let sealed = federation::seal::seal(
        SealSuite::for_suite(suite),
        &pbe.tat_public_key,
        &info,
        &plain,
        &mut rand_core::OsRng,
    )
    .map_err(|e| internal(&e))?;
    tracing::info!(
        sp = %req.sp,
        user = %service_kit::redact::log_id(&req.uid),
        count,
        "PII ciphertexts fetched"
    );
    Ok(PiiFetchResponse { suite: suite.name().to_owned(), sealed })
}
