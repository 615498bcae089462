//! Single Logout at the agent (SAML profiles §4.4), without HTTP routing:
//!
//! - SP-initiated: after "Sign out" ends the local session, [`request_url`] builds the signed
//!   LogoutRequest (HTTP-Redirect) for the IdP's SingleLogoutService and the value of this
//!   browser's sign-out cookie, which remembers the request ID (MAC'd, like the sign-in
//!   cookie: no server-side table). The IdP's LogoutResponse at `/saml/slo` must answer that
//!   ID, be signed by the IdP and addressed to this agent ([`receive`]).
//! - IdP-initiated: a signed LogoutRequest at `/saml/slo` ends the sessions it names
//!   (NameID + SessionIndex, through the session store's index) and is answered with a
//!   signed LogoutResponse to the IdP's SLO endpoint (HTTP-Redirect).
//!
//! Unsigned, forged, replayed or misaddressed messages are refused and change nothing.

use federation::binding::Binding;
use federation::logout::{
    encode_request, encode_response, Inbound, LogoutError, LogoutStatus, Outbound, Peer, RequestParams,
    ResponseParams, Signer, Verified,
};
use rand_core::OsRng;

use crate::error::SloError;
use crate::session::Session;
use crate::signin::Pending;
use crate::state::AppState;

/// How long a LogoutRequest may stay unanswered, seconds (also the cookie's Max-Age).
pub const PENDING_LIFETIME: i64 = 600;
/// `NotOnOrAfter` of the agent's LogoutRequests, seconds after issue.
pub const REQUEST_LIFETIME: i64 = 300;

/// What a verified message led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The IdP confirmed our LogoutRequest; `partial` when it could not sign out every
    /// service (or reported another status).
    SignedOut {
        /// Whether some session elsewhere may remain.
        partial: bool,
    },
    /// The IdP asked; `ended` sessions were ended; send the browser to `url` with our
    /// LogoutResponse (`None`: the IdP has no SLO endpoint to answer to).
    Answered {
        /// How many sessions ended.
        ended: usize,
        /// The signed LogoutResponse URL.
        url: Option<String>,
    },
}

fn signer(state: &AppState) -> (String, &[u8]) {
    (state.saml_key.cert_base64(), state.saml_key.key_der())
}

/// The signed LogoutRequest URL for the (already ended) `session` and the sign-out cookie
/// value remembering its ID; `None` when the IdP has no SingleLogoutService (then the
/// sign-out stays local) or the request cannot be built (logged).
pub fn request_url(state: &AppState, session: &Session, now: i64) -> Option<(String, String)> {
    let idp = state.idp();
    let destination = idp.slo_url.as_deref()?;
    let indexes: Vec<String> =
        Some(session.session_index.clone()).filter(|s| !s.is_empty()).into_iter().collect();
    let params = RequestParams {
        issuer: &state.config.entity_id,
        destination,
        name_id: &session.name_id,
        session_indexes: &indexes,
        now,
        lifetime: REQUEST_LIFETIME,
    };
    let (cert, key) = signer(state);
    let built = encode_request(
        &params,
        Binding::Redirect,
        None,
        Signer { key_der: key, cert_base64: &cert },
        &mut OsRng,
    );
    match built {
        Ok((id, Outbound::Redirect { url })) => {
            let pending = Pending { id, expires: now + PENDING_LIFETIME, return_to: "/".into() };
            Some((url, state.signin.seal(&state.slo_cookie, &[pending])))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "could not build the LogoutRequest; signing out locally only");
            None
        }
    }
}

/// Verifies a received message (the IdP's certificates, issuer, destination, time) and acts
/// on it. `slo_cookie` is this browser's sign-out cookie, if any.
pub fn receive(
    state: &AppState,
    inbound: Result<Inbound, LogoutError>,
    slo_cookie: Option<&str>,
) -> Result<Outcome, SloError> {
    let inbound = inbound?;
    let now = state.clock.now();
    let skew = i64::from(state.config.clock_skew_seconds);
    let idp = state.idp();
    let certs = idp.trust.certificates_der(&idp.entity_id);
    let peer = Peer { entity_id: &idp.entity_id, certs_der: &certs };
    match inbound.verify(&peer, &state.config.slo_url(), now, skew)? {
        Verified::Request(request, relay_state) => {
            // Only verified requests get into the answered table: anonymous traffic cannot
            // fill it. The prefix keeps the IdP's IDs apart from our AuthnRequest IDs.
            if !state.answer_once(&format!("slo:{}", request.id), request.not_on_or_after + skew, now) {
                return Err(SloError::Replayed);
            }
            let ended = state.end_sessions_by_subject(&request.name_id, &request.session_indexes);
            tracing::info!(ended, "signed out by the identity provider");
            let Some(destination) = idp.slo_response_url.as_deref() else {
                return Ok(Outcome::Answered { ended, url: None });
            };
            let params = ResponseParams {
                issuer: &state.config.entity_id,
                destination,
                in_response_to: &request.id,
                now,
                status: LogoutStatus::Success,
            };
            let (cert, key) = signer(state);
            let signer = Signer { key_der: key, cert_base64: &cert };
            match encode_response(&params, Binding::Redirect, relay_state.as_deref(), signer, &mut OsRng) {
                Ok(Outbound::Redirect { url }) => Ok(Outcome::Answered { ended, url: Some(url) }),
                Ok(_) => Err(SloError::Failed("not a redirect".into())),
                Err(e) => Err(SloError::Failed(e.to_string())),
            }
        }
        Verified::Response(response, _) => {
            let id = response.in_response_to.as_deref().ok_or(SloError::UnknownRequest)?;
            let pending =
                slo_cookie.map(|v| state.signin.open(&state.slo_cookie, v, now)).unwrap_or_default();
            let ours = pending.iter().find(|p| p.id == id).ok_or(SloError::UnknownRequest)?;
            if !state.answer_once(id, ours.expires, now) {
                return Err(SloError::UnknownRequest);
            }
            Ok(Outcome::SignedOut { partial: !response.is_success() || response.is_partial() })
        }
    }
}
