//! Building the SSO response for one accepted request, and the IdP metadata.

use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::assertion::{
    build_signed_response, AttributeValues, Recipient, ResponseParams, SignedResponse, PII_PREFIX,
    SUITE_ATTRIBUTE, TAT_ATTRIBUTE,
};
use federation::xml::XmlBuilder;
use rand_core::OsRng;

use super::html;
use super::request::AcceptedRequest;
use super::session::IdpSession;
use crate::model::{ServiceProvider, User};
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
    /// Building or signing the XML failed.
    #[error(transparent)]
    Assertion(#[from] federation::assertion::AssertionError),
}

/// Answers `request` for the signed-in `session` with an auto-posting form.
pub async fn respond(
    state: &AppState,
    request: &AcceptedRequest,
    relay_state: Option<&str>,
    session: &IdpSession,
) -> Response {
    let state2 = state.clone();
    let request2 = request.clone();
    let session2 = session.clone();
    // Key generation and XML signing are CPU work: keep them off the async workers.
    let built = tokio::task::spawn_blocking(move || build(&state2, &request2, &session2)).await;
    match built {
        Ok(Ok(signed)) => {
            html::auto_post(&request.acs_url, &STANDARD.encode(signed.xml.as_bytes()), relay_state)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "could not build the SSO response");
            html::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The identity provider could not complete the sign-in.",
            )
        }
        Err(_) => html::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The identity provider could not complete the sign-in.",
        ),
    }
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
        for r in records {
            attributes.push(AttributeValues {
                name: format!("{PII_PREFIX}{}", r.attribute),
                values: vec![pbe_core::wire::to_text(&r.ciphertext)],
            });
        }
        // A clock before 1970 has no day number: refuse rather than issue a TAT for day 0.
        let today = state.clock.today().map_err(|e| ResponseError::Tat(e.to_string()))?;
        let tat = state
            .keys
            .issue_tat(&user.uid, &session_index, today, &pbe.domain, &pbe.country, rng)
            .map_err(|e| ResponseError::Tat(e.to_string()))?;
        let info = federation::seal::tat_info(&sp.entity_id, &session_index);
        let sealed = federation::seal::seal(
            federation::seal::SealSuite::for_suite(state.keys.suite()),
            &pbe.tat_public_key,
            &info,
            &tat,
            rng,
        )
        .map_err(|e| ResponseError::Tat(e.to_string()))?;
        attributes.push(AttributeValues { name: TAT_ATTRIBUTE.into(), values: vec![sealed] });
        attributes.push(AttributeValues {
            name: SUITE_ATTRIBUTE.into(),
            values: vec![state.keys.suite().name().into()],
        });
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

/// The IdP's SAML metadata: signing certificate and both SSO bindings.
pub fn metadata_xml(state: &AppState) -> String {
    let sso = format!("{}/saml/sso", state.config.public_url.trim_end_matches('/'));
    let mut x = XmlBuilder::new();
    x.open(
        "md:EntityDescriptor",
        &[("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata"), ("entityID", &state.config.entity_id)],
    );
    x.open(
        "md:IDPSSODescriptor",
        &[
            ("WantAuthnRequestsSigned", "false"),
            ("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol"),
        ],
    );
    x.open("md:KeyDescriptor", &[("use", "signing")])
        .open("ds:KeyInfo", &[("xmlns:ds", federation::assertion::NS_DSIG)])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], &state.keys.signing_cert_base64())
        .close()
        .close()
        .close();
    x.leaf("md:NameIDFormat", &[], federation::assertion::NAMEID_PERSISTENT);
    x.empty(
        "md:SingleSignOnService",
        &[("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"), ("Location", &sso)],
    );
    x.empty(
        "md:SingleSignOnService",
        &[("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"), ("Location", &sso)],
    );
    x.finish()
}
