//! SAML 2.0 Single Logout messages (core §3.7, profiles §4.4): building and signing a
//! `LogoutRequest` or `LogoutResponse` for either binding ([`encode_request`],
//! [`encode_response`]), and reading a received one ([`Inbound`] → [`Verified`]).
//!
//! Outbound:
//! - HTTP-POST: the message carries an enveloped XML signature (exclusive C14N, RSA-SHA256,
//!   SHA-256, as assertions are signed), base64 in an auto-posted form ([`Outbound::Post`]);
//! - HTTP-Redirect: the message has no XML signature; it is DEFLATEd into the query, which is
//!   signed as the binding prescribes ([`crate::binding::sign_redirect_query`]).
//!
//! Inbound, two steps as types (STYLE.md §4.1):
//! 1. [`Inbound::from_redirect`] / [`Inbound::from_post`] decode with limits
//!    ([`crate::binding`]), pre-scan (size, no DOCTYPE, UTF-8, well-formed, one
//!    `LogoutRequest`/`LogoutResponse` root, no SHA-1), and read the *claimed* issuer — only
//!    to pick the peer's certificates.
//! 2. [`Inbound::verify`] checks the signature with the peer's certificates (a Redirect query
//!    signature over the received bytes, or the enveloped XML signature, whose pre-digest
//!    content — exactly what is signed — is what is then read), and then that the signed
//!    `Issuer` is the expected peer, `Destination` is our endpoint, `IssueInstant` is not in
//!    the future nor older than [`MAX_AGE`] and `NotOnOrAfter` has not passed (each with
//!    `skew`). An unsigned message is always refused.
//!
//! samael can `panic!` on hostile input: every call into it is wrapped in `catch_unwind`.

mod inbound;
mod read;

use rand_core::{CryptoRng, RngCore};

use crate::assertion::{new_id, signature_template, xml_time, NAMEID_PERSISTENT, NS_ASSERTION, NS_PROTOCOL};
use crate::binding::{sign_redirect_query, with_query, Binding, Param};
use crate::xml::{check_chars, XmlBuilder, XmlCharError};
pub use inbound::{Inbound, Kind, LogoutRequest, LogoutResponse, Peer, PostForm, Verified};

/// Top-level status `Success`.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Top-level status `Requester`.
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
/// Top-level status `Responder`.
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
/// Second-level status `PartialLogout`: not every session participant could be logged out.
pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
/// Oldest `IssueInstant` accepted, seconds.
pub const MAX_AGE: i64 = 600;
/// Most `SessionIndex` elements read from one request (more is refused).
pub const MAX_SESSION_INDEXES: usize = 64;

/// Why a logout message could not be built, or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// Decoding (size, base64, DEFLATE, encoding) or the query signature failed.
    #[error(transparent)]
    Binding(#[from] crate::binding::BindingError),
    /// Not a well-formed logout message (names the defect).
    #[error("the logout message is malformed: {0}")]
    Malformed(&'static str),
    /// No signature at all.
    #[error("the logout message is not signed")]
    Unsigned,
    /// SHA-1 or MD5 in the signature.
    #[error("the logout message is signed with a weak algorithm")]
    WeakAlgorithm,
    /// The signature does not verify with the peer's certificates.
    #[error("the logout message's signature is invalid")]
    BadSignature,
    /// The signed issuer is not the expected peer.
    #[error("the logout message comes from another issuer")]
    WrongIssuer,
    /// `Destination` is missing or not our endpoint.
    #[error("the logout message is addressed to another endpoint")]
    WrongDestination,
    /// `IssueInstant` in the future, too old, or `NotOnOrAfter` passed.
    #[error("the logout message is outside its time window")]
    Expired,
    /// A value cannot be written into XML.
    #[error(transparent)]
    Char(#[from] XmlCharError),
    /// A time is out of range, or signing failed (our side).
    #[error("building the logout message failed: {0}")]
    Build(String),
}

impl From<crate::assertion::AssertionError> for LogoutError {
    fn from(e: crate::assertion::AssertionError) -> Self {
        LogoutError::Build(e.to_string())
    }
}

/// The signer: an RSA key (PKCS#8 DER) and its certificate (base64 DER, for `ds:KeyInfo`).
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    /// The key.
    pub key_der: &'a [u8],
    /// The certificate.
    pub cert_base64: &'a str,
}

/// A `LogoutRequest` to send.
#[derive(Clone, Debug)]
pub struct RequestParams<'a> {
    /// Our entity ID.
    pub issuer: &'a str,
    /// The peer's SLO endpoint.
    pub destination: &'a str,
    /// The principal's persistent NameID.
    pub name_id: &'a str,
    /// The sessions to end (`SessionIndex`), at most [`MAX_SESSION_INDEXES`].
    pub session_indexes: &'a [String],
    /// Unix seconds.
    pub now: i64,
    /// `NotOnOrAfter` = `now + lifetime`.
    pub lifetime: i64,
}

/// The status a `LogoutResponse` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutStatus {
    /// Every session ended.
    Success,
    /// Ours ended, not every participant's (`Success` / `PartialLogout`).
    Partial,
    /// The request was refused (`Requester`).
    Requester,
}

impl LogoutStatus {
    fn codes(self) -> (&'static str, Option<&'static str>) {
        match self {
            LogoutStatus::Success => (STATUS_SUCCESS, None),
            LogoutStatus::Partial => (STATUS_SUCCESS, Some(STATUS_PARTIAL_LOGOUT)),
            LogoutStatus::Requester => (STATUS_REQUESTER, None),
        }
    }
}

/// A `LogoutResponse` to send.
#[derive(Clone, Debug)]
pub struct ResponseParams<'a> {
    /// Our entity ID.
    pub issuer: &'a str,
    /// The peer's SLO (response) endpoint.
    pub destination: &'a str,
    /// The request answered.
    pub in_response_to: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// What to report.
    pub status: LogoutStatus,
}

/// How a message leaves: a URL to redirect the browser to, or a form to auto-post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// HTTP-Redirect: the whole signed URL.
    Redirect {
        /// Where to send the browser (302).
        url: String,
    },
    /// HTTP-POST: post `field` = `value` (and `RelayState`) to `url`.
    Post {
        /// The peer's endpoint.
        url: String,
        /// `SAMLRequest` or `SAMLResponse`.
        field: &'static str,
        /// The signed XML, base64.
        value: String,
        /// RelayState to post along.
        relay_state: Option<String>,
    },
}

fn root_attrs<'b>(id: &'b str, now: &'b str, destination: &'b str) -> Vec<(&'b str, &'b str)> {
    vec![
        ("xmlns:samlp", NS_PROTOCOL),
        ("xmlns:saml", NS_ASSERTION),
        ("ID", id),
        ("Version", "2.0"),
        ("IssueInstant", now),
        ("Destination", destination),
    ]
}

/// The `LogoutRequest` XML, with a signature template when `cert_base64` is given.
pub fn request_xml(
    p: &RequestParams<'_>,
    id: &str,
    cert_base64: Option<&str>,
) -> Result<String, LogoutError> {
    check_chars("issuer", p.issuer)?;
    check_chars("NameID", p.name_id)?;
    check_chars("Destination", p.destination)?;
    if p.session_indexes.len() > MAX_SESSION_INDEXES {
        return Err(LogoutError::Build("too many SessionIndexes".into()));
    }
    for s in p.session_indexes {
        check_chars("SessionIndex", s)?;
    }
    let now = xml_time(p.now)?;
    let not_on_or_after = xml_time(p.now + p.lifetime)?;
    let mut attrs = root_attrs(id, &now, p.destination);
    attrs.push(("NotOnOrAfter", &not_on_or_after));
    let mut x = XmlBuilder::new();
    x.open("samlp:LogoutRequest", &attrs);
    x.leaf("saml:Issuer", &[], p.issuer);
    if let Some(cert) = cert_base64 {
        signature_template(&mut x, &format!("#{id}"), cert);
    }
    x.leaf("saml:NameID", &[("Format", NAMEID_PERSISTENT)], p.name_id);
    for s in p.session_indexes {
        x.leaf("samlp:SessionIndex", &[], s);
    }
    x.close();
    Ok(x.finish())
}

/// The `LogoutResponse` XML, with a signature template when `cert_base64` is given.
pub fn response_xml(
    p: &ResponseParams<'_>,
    id: &str,
    cert_base64: Option<&str>,
) -> Result<String, LogoutError> {
    check_chars("issuer", p.issuer)?;
    check_chars("Destination", p.destination)?;
    check_chars("InResponseTo", p.in_response_to)?;
    let now = xml_time(p.now)?;
    let mut attrs = root_attrs(id, &now, p.destination);
    attrs.push(("InResponseTo", p.in_response_to));
    let mut x = XmlBuilder::new();
    x.open("samlp:LogoutResponse", &attrs);
    x.leaf("saml:Issuer", &[], p.issuer);
    if let Some(cert) = cert_base64 {
        signature_template(&mut x, &format!("#{id}"), cert);
    }
    let (top, second) = p.status.codes();
    x.open("samlp:Status", &[]);
    x.open("samlp:StatusCode", &[("Value", top)]);
    if let Some(second) = second {
        x.empty("samlp:StatusCode", &[("Value", second)]);
    }
    x.close().close();
    x.close();
    Ok(x.finish())
}

fn encode(
    param: Param,
    build: &dyn Fn(Option<&str>) -> Result<String, LogoutError>,
    binding: Binding,
    endpoint: &str,
    relay_state: Option<&str>,
    signer: Signer<'_>,
) -> Result<Outbound, LogoutError> {
    if let Some(rs) = relay_state {
        check_chars("RelayState", rs)?;
    }
    match binding {
        Binding::Redirect => {
            let xml = build(None)?;
            let query = sign_redirect_query(param, &xml, relay_state, signer.key_der)
                .map_err(|e| LogoutError::Build(e.to_string()))?;
            Ok(Outbound::Redirect { url: with_query(endpoint, &query) })
        }
        Binding::Post => {
            let xml = build(Some(signer.cert_base64))?;
            let signed = crate::key_cache::sign_xml(&xml, signer.key_der)
                .map_err(|e| LogoutError::Build(format!("XML signing: {e}")))?;
            use base64::Engine as _;
            Ok(Outbound::Post {
                url: endpoint.to_owned(),
                field: param.name(),
                value: base64::engine::general_purpose::STANDARD.encode(signed.as_bytes()),
                relay_state: relay_state.map(str::to_owned),
            })
        }
    }
}

/// Builds and signs a `LogoutRequest` for `binding`; returns its ID (remember it: the
/// response's `InResponseTo`) and how to send it.
pub fn encode_request<R: RngCore + CryptoRng>(
    p: &RequestParams<'_>,
    binding: Binding,
    relay_state: Option<&str>,
    signer: Signer<'_>,
    rng: &mut R,
) -> Result<(String, Outbound), LogoutError> {
    let id = new_id(rng);
    let out = encode(
        Param::Request,
        &|cert| request_xml(p, &id, cert),
        binding,
        p.destination,
        relay_state,
        signer,
    )?;
    Ok((id, out))
}

/// Builds and signs a `LogoutResponse` for `binding`.
pub fn encode_response<R: RngCore + CryptoRng>(
    p: &ResponseParams<'_>,
    binding: Binding,
    relay_state: Option<&str>,
    signer: Signer<'_>,
    rng: &mut R,
) -> Result<Outbound, LogoutError> {
    let id = new_id(rng);
    encode(Param::Response, &|cert| response_xml(p, &id, cert), binding, p.destination, relay_state, signer)
}

#[cfg(test)]
mod tests;
