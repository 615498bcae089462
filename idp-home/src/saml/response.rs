//! Building and signing the SSO response for one accepted request: the plain attributes the
//! SP is registered for and, for a PBE service, the user's PII ciphertexts, a Time Access Token
//! sealed for the service and the suite. Blocking (key generation, XML signing); the HTTP side
//! ([`crate::http::sso`]) runs it on `spawn_blocking` and posts the result.

use federation::assertion::{
    build_signed_response, AttributeValues, Recipient, ResponseParams, SignedResponse,
};
use federation::claims::{Claims, ClaimsError};
use rand_core::OsRng;

use super::request::AcceptedRequest;
use crate::model::{ServiceProvider, User};
use crate::sso_sessions::IdpSession;
use crate::state::AppState;

/// Why a response could not be produced (all are server-side problems: 500 page, logged).
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The SP or user disappeared between request and response.
    #[error("{0} not found")]
    Missing(&'static str),
    /// Storage failure.
    #[error("storage: {0}")]
    Store(String),
    /// TAT issuance or sealing failed.
    #[error("TAT: {0}")]
    Tat(String),
    /// The stored PII cannot be written as claims (a name that upload would refuse today).
    #[error("claims: {0}")]
    Claims(#[from] ClaimsError),
    /// Building or signing the XML failed.
    #[error(transparent)]
    Assertion(#[from] federation::assertion::AssertionError),
}

/// Builds and signs the response (blocking).
pub fn build(
    state: &AppState,
    request: &AcceptedRequest,
    session: &IdpSession,
) -> Result<SignedResponse, ResponseError> {
    let sp = state
        .store
        .get_sp(&request.sp_entity_id)
        .map_err(|e| ResponseError::Store(e.to_string()))?
        .ok_or(ResponseError::Missing("service provider"))?;
    let user = state
        .store
        .get_user(&session.uid)
        .map_err(|e| ResponseError::Store(e.to_string()))?
        .ok_or(ResponseError::Missing("user"))?;
    build_for(state, &sp, &user, request, session)
}

/// Builds and signs the response for a known SP and user.
pub fn build_for(
    state: &AppState,
    sp: &ServiceProvider,
    user: &User,
    request: &AcceptedRequest,
    session: &IdpSession,
) -> Result<SignedResponse, ResponseError> {
    let rng = &mut OsRng;
    let now = state.clock.now();
    // A fresh SessionIndex per assertion: the linchpin of this service's TAT and PAT. Keys
    // handed to two different services therefore never share a GID, so the services cannot
    // pool them either.
    let session_index = federation::assertion::new_id(rng);
    // Plain attributes only as the SP is registered for (default: groups). The e-mail address
    // is personal data outside any disclosure policy: it goes only where it was asked for.
    let mut attributes = Vec::new();
    if sp.releases("groups") {
        attributes.push(AttributeValues { name: "groups".into(), values: user.groups.clone() });
    }
    if sp.releases("email") {
        attributes.push(AttributeValues { name: "email".into(), values: vec![user.email.clone()] });
    }
    let mut recipients =
        vec![Recipient { url: request.acs_url.clone(), in_response_to: Some(request.id.clone()) }];
    let mut audiences = vec![sp.entity_id.clone()];
    if let Some(pbe) = &sp.pbe {
        recipients.push(Recipient { url: pbe.visitor_token_endpoint.clone(), in_response_to: None });
        audiences.push(pbe.visitor_entity_id.clone());
        let records = state.store.list_pii(&user.uid).map_err(|e| ResponseError::Store(e.to_string()))?;
        let pii =
            records.into_iter().map(|r| (r.attribute, pbe_core::wire::to_text(&r.ciphertext))).collect();
        // A clock before 1970 has no day number: refuse rather than issue a TAT for day 0.
        let today = state.clock.today().map_err(|e| ResponseError::Tat(e.to_string()))?;
        let tat = state
            .keys
            .issue_tat(&user.uid, &session_index, today, &pbe.domain, &pbe.country, rng)
            .map_err(|e| ResponseError::Tat(e.to_string()))?;
        let info = federation::seal::tat_info(&sp.entity_id, &session_index);
        let sealed_tat = federation::seal::seal(
            federation::seal::SealSuite::for_suite(state.keys.suite()),
            &pbe.tat_public_key,
            &info,
            &tat,
            rng,
        )
        .map_err(|e| ResponseError::Tat(e.to_string()))?;
        // The same type the relying parties read back (`Claims::read`): it refuses here what
        // they would refuse there.
        attributes.extend(Claims { suite: state.keys.suite(), sealed_tat, pii }.attributes()?);
    }
    let params = ResponseParams {
        issuer: state.config.entity_id.clone(),
        destination: request.acs_url.clone(),
        in_response_to: Some(request.id.clone()),
        name_id: user.uid.clone(),
        recipients,
        audiences,
        now,
        lifetime: i64::from(state.config.assertion_lifetime_seconds),
        session_index,
        session_not_on_or_after: session.expires,
        authn_instant: session.authn_instant,
        attributes,
    };
    Ok(build_signed_response(&params, state.keys.signing_key_der(), &state.keys.signing_cert_base64(), rng)?)
}
