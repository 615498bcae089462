//! Building and signing the SSO response for one accepted request: the plain attributes the
//! SP is registered for and, for a PBE service, the digests of the user's PII ciphertexts, the
//! reference that fetches them (`idaas:pii-ref`, [`crate::pii_ref`]; the ciphertexts
//! themselves are fetched by the agent, `POST /pbe/pii/fetch`), a Time Access Token sealed for
//! the service and the suite. Blocking (key generation, XML signing); the HTTP side
//! ([`crate::http::sso`]) runs it on `spawn_blocking` and posts the result.

use federation::assertion::{
    new_id, AttributeValues, Recipient, ResponseParams, SignedResponse, ATTR_IS_MEMBER_OF, ATTR_MAIL,
};
use federation::claims::{Claims, ClaimsError};
use rand_core::OsRng;
use service_kit::metrics::timed;

use super::request::AcceptedRequest;
use crate::model::{AttributeNames, ServiceProvider, User};
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

/// Until when an assertion's `idaas:pii-ref` is good: the end of the IdP session, but never
/// before the assertion itself expires.
fn ref_expiry(state: &AppState, session: &IdpSession, now: i64) -> i64 {
    session.expires.max(now + i64::from(state.config.assertion_lifetime_seconds))
}

/// What a response releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// What the SP is registered for (consent given or implied).
    Registered,
    /// The person denied consent: the NameID and groups only; no e-mail address, no PII
    /// digests or reference, no TAT (so the SP can open nothing, and the visitor IdP is not
    /// an audience).
    Withheld,
}

/// Builds and signs the response (blocking).
pub fn build(
    state: &AppState,
    request: &AcceptedRequest,
    session: &IdpSession,
    release: Release,
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
    build_released(state, &sp, &user, request, session, release)
}

/// Builds and signs the response for a known SP and user, releasing what it is registered for.
pub fn build_for(
    state: &AppState,
    sp: &ServiceProvider,
    user: &User,
    request: &AcceptedRequest,
    session: &IdpSession,
) -> Result<SignedResponse, ResponseError> {
    build_released(state, sp, user, request, session, Release::Registered)
}

/// Builds and signs the response for a known SP and user, releasing as `release` says.
pub fn build_released(
    state: &AppState,
    sp: &ServiceProvider,
    user: &User,
    request: &AcceptedRequest,
    session: &IdpSession,
    release: Release,
) -> Result<SignedResponse, ResponseError> {
    let rng = &mut OsRng;
    let now = state.clock.now();
    // A fresh SessionIndex per assertion: the linchpin of this service's TAT and PAT. Keys
    // handed to two different services therefore never share a GID, so the services cannot
    // pool them either.
    let session_index = new_id(rng);
    // Chosen before signing: the PII reference is bound to it.
    let (response_id, assertion_id) = (new_id(rng), new_id(rng));
    // Plain attributes only as the SP is registered for (default: groups). The e-mail address
    // is personal data outside any disclosure policy: it goes only where it was asked for.
    let mut attributes = Vec::new();
    let standard = sp.attribute_names == AttributeNames::Standard;
    if sp.releases("groups") {
        let groups = user.groups.clone();
        attributes.push(if standard {
            AttributeValues::uri(ATTR_IS_MEMBER_OF, "isMemberOf", groups)
        } else {
            AttributeValues::basic("groups", groups)
        });
    }
    // Approvals of sensitive paths at this SP (issue 20): not personal data, so released even
    // when the person withheld their data; the agent enforces them.
    let approvals = crate::service::access::approvals_for(user, &sp.entity_id, now);
    if !approvals.is_empty() {
        let values = approvals.iter().map(federation::approvals::Approval::to_value).collect();
        attributes.push(AttributeValues::uri(
            federation::approvals::ATTR_APPROVED_ACCESS,
            "approvedAccess",
            values,
        ));
    }
    let withheld = release == Release::Withheld;
    if sp.releases("email") && !withheld {
        let mail = vec![user.email.clone()];
        attributes.push(if standard {
            AttributeValues::uri(ATTR_MAIL, "mail", mail)
        } else {
            AttributeValues::basic("email", mail)
        });
    }
    let mut recipients =
        vec![Recipient { url: request.acs_url.clone(), in_response_to: Some(request.id.clone()) }];
    let mut audiences = vec![sp.entity_id.clone()];
    if let Some(pbe) = sp.pbe.as_ref().filter(|_| !withheld) {
        recipients.push(Recipient { url: pbe.visitor_token_endpoint.clone(), in_response_to: None });
        audiences.push(pbe.visitor_entity_id.clone());
        let records = timed("sso_list_pii", || state.store.list_pii(&user.uid))
            .map_err(|e| ResponseError::Store(e.to_string()))?;
        // Only digests of the binary wire bytes: the ciphertexts stay at the home IdP until the
        // agent fetches them, so the assertion is small at every level (issue 15, defect 4).
        let pii = records
            .into_iter()
            .map(|r| (r.attribute, federation::claims::pii_digest(&r.ciphertext)))
            .collect();
        // Good for as long as the service could need it: the IdP session, which bounds the
        // agent's session and the propagation memory, and at least as long as the assertion
        // itself can be consumed (docs/home-idp.md).
        let binding = crate::pii_ref::RefBinding {
            uid: &user.uid,
            sp: &sp.entity_id,
            session_index: &session_index,
            assertion_id: &assertion_id,
        };
        let pii_ref = state.keys.pii_ref_key().issue(binding, ref_expiry(state, session, now)).to_text();
        // A clock before 1970 has no day number: refuse rather than issue a TAT for day 0.
        let today = state.clock.today().map_err(|e| ResponseError::Tat(e.to_string()))?;
        let tat = timed("sso_tat", || {
            state.keys.issue_tat(&user.uid, &session_index, today, &pbe.domain, &pbe.country, rng)
        })
        .map_err(|e| ResponseError::Tat(e.to_string()))?;
        let info = federation::seal::tat_info(&sp.entity_id, &session_index);
        let sealed_tat = timed("sso_seal", || {
            federation::seal::seal(
                federation::seal::SealSuite::for_suite(state.keys.suite()),
                &pbe.tat_public_key,
                &info,
                &tat,
                rng,
            )
        })
        .map_err(|e| ResponseError::Tat(e.to_string()))?;
        // The same type the relying parties read back (`Claims::read`): it refuses here what
        // they would refuse there.
        attributes.extend(Claims { suite: state.keys.suite(), sealed_tat, pii, pii_ref }.attributes()?);
    }
    let params = ResponseParams {
        signed_parts: sp.signed_parts(),
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
    let signing = state.keys.signing(now);
    // How the user signed in, in a class the request accepts (checked before: the gate in
    // `http::mfa`); a consent answer's request accepts both.
    let class = request.flags.requested.class_for(session.mfa).unwrap_or(if session.mfa {
        federation::assertion::AC_REFEDS_MFA
    } else {
        federation::assertion::AC_PASSWORD_PROTECTED_TRANSPORT
    });
    Ok(timed("sso_sign", || {
        federation::assertion::build_signed_response_in_context(
            &params,
            class,
            response_id,
            assertion_id,
            signing.key_der(),
            &signing.cert_base64(),
        )
    })?)
}
