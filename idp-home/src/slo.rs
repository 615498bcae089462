//! Single Logout at the home IdP (SAML profiles §4.4.3), without HTTP: the chain that logs
//! the other session participants out one after another, front-channel through the browser,
//! and then answers the SP that asked (or shows the IdP's own page when the user signed out
//! at the IdP). [`crate::http::slo`] reads the messages and renders the [`Step`]s.
//!
//! # The chain
//!
//! The IdP session is ended **first**, before any participant is contacted, so a chain that
//! stalls never leaves it alive. Its participants are grouped by SP (one LogoutRequest per SP,
//! naming all its SessionIndexes); the initiating SP is left out. Each SP with an `slo`
//! endpoint gets a signed LogoutRequest; its signed LogoutResponse, verified at `/saml/slo`,
//! is matched by `InResponseTo` to the chain and the next SP follows. An SP without an `slo`
//! endpoint, one whose request cannot be built, one that answers with another status than
//! `Success`, and one that does not answer within [`HOP_TIMEOUT`] count as failed: the
//! initiator then gets `Success` / `PartialLogout` (and the IdP's page says so).
//!
//! A participant that never answers (its page does not load) strands the browser there. The
//! chain's id is in the browser's `idaas_slo` cookie: going back to the IdP's `/logout`
//! continues the chain once the hop's [`HOP_TIMEOUT`] has passed (before, the page waits and
//! reloads itself). A chain nobody resumes is forgotten after [`CHAIN_LIFETIME`].
//!
//! # Bounds
//!
//! Chains live in one table of at most [`MAX_CHAINS`]. A chain is only ever created after a
//! live IdP session was ended (by a verified LogoutRequest or the CSRF-checked `/logout`
//! form), so anonymous clients cannot add to it. When the table is full of live chains, the
//! remaining participants are skipped and the answer is `PartialLogout`. The IDs of verified
//! LogoutRequests are remembered until they expire (at most [`MAX_SEEN`]) so a replayed
//! request is refused.

use federation::logout::{
    encode_request, encode_response, LogoutResponse, LogoutStatus, Outbound, RequestParams, ResponseParams,
    Signer,
};
use rand::RngCore as _;

use crate::model::ServiceProvider;
pub use crate::slo_chains::Initiator;
use crate::slo_chains::{Chain, Hop};
use crate::sso_sessions::Participant;
use crate::state::AppState;

/// How long one participant has to answer before the chain may go on without it, seconds.
pub const HOP_TIMEOUT: i64 = 30;
pub use crate::slo_chains::{CHAIN_LIFETIME, MAX_CHAINS, MAX_SEEN};
/// `NotOnOrAfter` of the IdP's LogoutRequests, seconds after issue.
pub const REQUEST_LIFETIME: i64 = 300;
/// The path of the IdP's SLO endpoint (both bindings).
pub const SLO_PATH: &str = "/saml/slo";

/// What the browser is to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Carry a message to an SP (a participant's request, or the final response).
    Send(Outbound),
    /// The chain is over and nobody is to be answered: the IdP's own page; `partial` when a
    /// participant could not be signed out.
    Done {
        /// Whether a participant failed.
        partial: bool,
    },
    /// A participant has not answered yet; the chain may go on in this many seconds.
    Waiting(i64),
}

fn signer(state: &AppState) -> (String, std::sync::Arc<federation::signing_key::SigningKey>) {
    let key = state.keys.signing(state.now());
    (key.cert_base64(), key)
}

/// The IdP's SLO endpoint URL (the `Destination` its peers must write).
pub fn endpoint(state: &AppState) -> String {
    format!("{}{SLO_PATH}", state.config.public_url.trim_end_matches('/'))
}

fn get_sp(state: &AppState, entity_id: &str) -> Option<ServiceProvider> {
    state.store.get_sp(entity_id).ok().flatten()
}

/// Starts the chain for the participants of an ended IdP session (none when no session
/// matched). Returns the chain's id when it waits for a participant, and the first step.
pub fn begin(
    state: &AppState,
    initiator: Option<Initiator>,
    participants: Vec<Participant>,
    now: i64,
) -> (Option<String>, Step) {
    let mut hops: Vec<Hop> = Vec::new();
    for p in participants {
        if initiator.as_ref().is_some_and(|i| i.sp == p.sp) {
            continue;
        }
        match hops.iter_mut().find(|h| h.sp == p.sp && h.name_id == p.name_id) {
            Some(h) => h.session_indexes.push(p.session_index),
            None => hops.push(Hop { sp: p.sp, name_id: p.name_id, session_indexes: vec![p.session_index] }),
        }
    }
    let chain =
        Chain { initiator, hops: hops.into(), current: None, failed: 0, expires: now + CHAIN_LIFETIME };
    let mut id = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    advance(state, hex::encode(id), chain, now)
}

/// Sends the next request of `chain`, or finishes it.
fn advance(state: &AppState, chain_id: String, mut chain: Chain, now: i64) -> (Option<String>, Step) {
    let (cert, key) = signer(state);
    let signer = Signer { key_der: key.key_der(), cert_base64: &cert };
    while let Some(hop) = chain.hops.pop_front() {
        let Some(slo) = get_sp(state, &hop.sp).and_then(|sp| sp.slo) else {
            chain.failed += 1;
            continue;
        };
        let params = RequestParams {
            issuer: &state.config.entity_id,
            destination: &slo.url,
            name_id: &hop.name_id,
            session_indexes: &hop.session_indexes,
            now,
            lifetime: REQUEST_LIFETIME,
        };
        match encode_request(&params, slo.binding.binding(), None, signer, &mut rand::rngs::OsRng) {
            Ok((request_id, out)) => {
                chain.current = Some((hop.sp, request_id, now + HOP_TIMEOUT));
                match state.slo.put(chain_id.clone(), chain, now) {
                    Ok(()) => return (Some(chain_id), Step::Send(out)),
                    Err(chain) => {
                        // Full of live chains: nobody else is contacted for this one.
                        tracing::warn!("single logout: the chain table is full; answering PartialLogout");
                        return (None, finish(state, chain.initiator.as_ref(), usize::MAX, now));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "single logout: could not build a LogoutRequest");
                chain.failed += 1;
            }
        }
    }
    let initiator = chain.initiator.take();
    (None, finish(state, initiator.as_ref(), chain.failed, now))
}

/// The final step: the LogoutResponse to the initiator, or the IdP's page.
fn finish(state: &AppState, initiator: Option<&Initiator>, failed: usize, now: i64) -> Step {
    let partial = failed > 0;
    let Some(initiator) = initiator else { return Step::Done { partial } };
    let Some(slo) = get_sp(state, &initiator.sp).and_then(|sp| sp.slo) else {
        return Step::Done { partial };
    };
    let destination = slo.response_url.as_deref().unwrap_or(&slo.url);
    let params = ResponseParams {
        issuer: &state.config.entity_id,
        destination,
        in_response_to: &initiator.request_id,
        now,
        status: if partial { LogoutStatus::Partial } else { LogoutStatus::Success },
    };
    let (cert, key) = signer(state);
    let signer = Signer { key_der: key.key_der(), cert_base64: &cert };
    let relay = initiator.relay_state.as_deref();
    match encode_response(&params, slo.binding.binding(), relay, signer, &mut rand::rngs::OsRng) {
        Ok(out) => Step::Send(out),
        Err(e) => {
            tracing::error!(error = %e, "single logout: could not build the LogoutResponse");
            Step::Done { partial }
        }
    }
}

/// A verified LogoutResponse from `sp`: the chain waiting for it goes on. `None` when no chain
/// waits for this response (unknown, answered already, or from another SP).
pub fn on_response(
    state: &AppState,
    sp: &str,
    response: &LogoutResponse,
    now: i64,
) -> Option<(Option<String>, Step)> {
    let request_id = response.in_response_to.as_deref()?;
    let chain_id = state.slo.waiting_for(request_id, sp)?;
    let mut chain = state.slo.take(&chain_id)?;
    chain.current = None;
    if !response.is_success() {
        chain.failed += 1;
    }
    Some(advance(state, chain_id, chain, now))
}

/// The browser came back to `/logout` with its chain cookie: go on without the participant
/// if its time is up, else wait. `None` when the chain is unknown or over.
pub fn resume(state: &AppState, chain_id: &str, now: i64) -> Option<(Option<String>, Step)> {
    let deadline = state.slo.deadline(chain_id, now)?;
    if deadline > now {
        return Some((Some(chain_id.to_owned()), Step::Waiting(deadline - now)));
    }
    let mut chain = state.slo.take(chain_id)?;
    if chain.current.take().is_some() {
        tracing::info!("single logout: a participant did not answer in time");
        chain.failed += 1;
    }
    Some(advance(state, chain_id.to_owned(), chain, now))
}
