//! Answers that sign nobody in but still go back to the SP's ACS as a signed SAML Response
//! with a status, as SAML 2.0 core §3.4.1 asks: `IsPassive` with no usable session
//! (`Responder` / `NoPassive`), and a NameID format this IdP does not issue (`Requester` /
//! `InvalidNameIDPolicy`). The request was authenticated and its ACS URL is a registered one,
//! so the answer goes to the SP rather than onto an error page the SP never sees.

use federation::assertion::AssertionError;
use federation::status::{
    build_signed_status_response, StatusParams, STATUS_INVALID_NAMEID_POLICY, STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_PASSIVE, STATUS_REQUESTER, STATUS_RESPONDER,
};
use rand_core::OsRng;

use super::request::AcceptedRequest;
use crate::state::AppState;

/// Why an accepted request is answered without signing anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `IsPassive="true"` and the user would have to sign in (or `ForceAuthn` asked for it).
    NoPassive,
    /// `NameIDPolicy/@Format` names a format this IdP does not issue.
    InvalidNameIdPolicy,
    /// The requested authentication context (`RequestedAuthnContext`, or the second factor
    /// the SP requires) cannot be satisfied for this user.
    NoAuthnContext,
}

impl Refusal {
    fn codes(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Refusal::NoPassive => {
                (STATUS_RESPONDER, STATUS_NO_PASSIVE, "signing in needs the user, and the request is passive")
            }
            Refusal::InvalidNameIdPolicy => (
                STATUS_REQUESTER,
                STATUS_INVALID_NAMEID_POLICY,
                "this identity provider issues persistent (or unspecified) NameIDs only",
            ),
            Refusal::NoAuthnContext => (
                STATUS_RESPONDER,
                STATUS_NO_AUTHN_CONTEXT,
                "the requested authentication context cannot be satisfied for this user",
            ),
        }
    }
}

/// The signed status Response for `request` (blocking: XML signing).
pub fn build(
    state: &AppState,
    request: &AcceptedRequest,
    refusal: Refusal,
) -> Result<String, AssertionError> {
    let (top, second, message) = refusal.codes();
    let params = StatusParams {
        issuer: &state.config.entity_id,
        destination: &request.acs_url,
        in_response_to: &request.id,
        now: state.clock.now(),
        top,
        second: Some(second),
        message: Some(message),
    };
    let signing = state.keys.signing(state.now());
    build_signed_status_response(&params, signing.key_der(), &signing.cert_base64(), &mut OsRng)
}
