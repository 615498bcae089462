//! A signed SAML Response that signs nobody in: no assertion, only a status (SAML 2.0 core
//! §3.2.2.2), e.g. `Responder` / `NoPassive` when an `IsPassive` request meets no session, or
//! `Requester` / `InvalidNameIDPolicy` for a NameID format the IdP does not issue. The Response
//! element itself is signed (there is no assertion to carry a signature), so a relying party
//! can tell the IdP's refusal from a forged one.

use rand_core::{CryptoRng, RngCore};

use crate::assertion::{new_id, signature_template, xml_time, AssertionError, NS_ASSERTION, NS_PROTOCOL};
use crate::xml::{check_chars, XmlBuilder};

/// Top-level status: the request could not be performed because of an error on the
/// requester's side.
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
/// Top-level status: an error on the responder's side.
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
/// Second-level status: `IsPassive` was set and the user would have to interact.
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
/// Second-level status: the requested NameID format is not one this IdP issues.
pub const STATUS_INVALID_NAMEID_POLICY: &str = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";

/// Second-level status: the requested authentication context (`RequestedAuthnContext`, or a
/// second factor the SP requires) cannot be satisfied.
pub const STATUS_NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";

/// What a status Response says and to whom.
#[derive(Debug, Clone)]
pub struct StatusParams<'a> {
    /// The IdP's entity ID.
    pub issuer: &'a str,
    /// The ACS URL it is posted to.
    pub destination: &'a str,
    /// The AuthnRequest ID answered.
    pub in_response_to: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// The top-level status code ([`STATUS_REQUESTER`] or [`STATUS_RESPONDER`]).
    pub top: &'a str,
    /// The second-level status code, if any.
    pub second: Option<&'a str>,
    /// A message for people (`samlp:StatusMessage`), if any.
    pub message: Option<&'a str>,
}

/// Builds the Response and signs it (enveloped signature over the Response element, RSA-SHA256,
/// exclusive C14N, as the assertions are signed). Returns the XML.
pub fn build_signed_status_response<R: RngCore + CryptoRng>(
    p: &StatusParams<'_>,
    signing_key_der: &[u8],
    cert_base64: &str,
    rng: &mut R,
) -> Result<String, AssertionError> {
    for (what, v) in
        [("issuer", p.issuer), ("Destination", p.destination), ("InResponseTo", p.in_response_to)]
    {
        check_chars(what, v)?;
    }
    if let Some(m) = p.message {
        check_chars("StatusMessage", m)?;
    }
    let response_id = new_id(rng);
    let now = xml_time(p.now)?;
    let reference = format!("#{response_id}");
    let mut x = XmlBuilder::new();
    x.open(
        "samlp:Response",
        &[
            ("xmlns:samlp", NS_PROTOCOL),
            ("xmlns:saml", NS_ASSERTION),
            ("ID", &response_id),
            ("Version", "2.0"),
            ("IssueInstant", &now),
            ("Destination", p.destination),
            ("InResponseTo", p.in_response_to),
        ],
    );
    x.leaf("saml:Issuer", &[], p.issuer);
    signature_template(&mut x, &reference, cert_base64);
    x.open("samlp:Status", &[]);
    x.open("samlp:StatusCode", &[("Value", p.top)]);
    if let Some(second) = p.second {
        x.empty("samlp:StatusCode", &[("Value", second)]);
    }
    x.close();
    if let Some(m) = p.message {
        x.leaf("samlp:StatusMessage", &[], m);
    }
    x.close(); // Status
    x.close(); // Response
    let unsigned = x.finish();
    crate::key_cache::sign_xml(&unsigned, signing_key_der).map_err(|e| AssertionError::Signing(e.to_string()))
}
