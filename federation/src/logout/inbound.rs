//! A received logout message: decoded and pre-scanned ([`Inbound`]), then verified against
//! the expected peer ([`Inbound::verify`] → [`Verified`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use samael::crypto::ReduceMode;

pub use super::read::Kind;
use super::read::{parse_time, read, Fields};
use super::{LogoutError, MAX_AGE};
use crate::binding::{decode, Binding, Param, RedirectQuery, MAX_XML};
use crate::verify::ALLOWED_ALGORITHMS;

/// The peer a message must come from: its entity ID and signing certificates (DER).
#[derive(Clone, Copy, Debug)]
pub struct Peer<'a> {
    /// Entity ID (the signed `Issuer` must be this).
    pub entity_id: &'a str,
    /// Its certificates.
    pub certs_der: &'a [Vec<u8>],
}

/// A decoded, pre-scanned message whose signature is not checked yet: only its kind and
/// claimed issuer can be read.
#[derive(Debug)]
pub struct Inbound {
    kind: Kind,
    binding: Binding,
    xml: String,
    /// The raw query of a Redirect-binding message (its signature covers it).
    raw_query: Option<String>,
    relay_state: Option<String>,
    claimed_issuer: String,
}

/// A verified `LogoutRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    /// Its ID (the response's `InResponseTo`).
    pub id: String,
    /// The issuer (verified: the peer).
    pub issuer: String,
    /// The principal's NameID.
    pub name_id: String,
    /// The sessions to end; empty means all of the principal's.
    pub session_indexes: Vec<String>,
    /// `NotOnOrAfter`, or `IssueInstant + MAX_AGE` when absent (how long to remember the ID).
    pub not_on_or_after: i64,
}

/// A verified `LogoutResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutResponse {
    /// Its ID.
    pub id: String,
    /// The issuer (verified: the peer).
    pub issuer: String,
    /// The request it answers.
    pub in_response_to: Option<String>,
    /// Top-level status code.
    pub status: String,
    /// Second-level status code, if any.
    pub second_status: Option<String>,
}

impl LogoutResponse {
    /// Whether the top-level status is `Success`.
    pub fn is_success(&self) -> bool {
        self.status == super::STATUS_SUCCESS
    }

    /// Whether it reports `PartialLogout`.
    pub fn is_partial(&self) -> bool {
        self.second_status.as_deref() == Some(super::STATUS_PARTIAL_LOGOUT)
    }
}

/// A verified message and the RelayState that came with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// A request, with its RelayState.
    Request(LogoutRequest, Option<String>),
    /// A response, with its RelayState.
    Response(LogoutResponse, Option<String>),
}

fn prescan(xml: &str) -> Result<(Kind, String), LogoutError> {
    let f = read(xml, MAX_XML)?;
    let kind = f.kind.ok_or(LogoutError::Malformed("no root"))?;
    let issuer = f.issuer.filter(|i| !i.is_empty()).ok_or(LogoutError::Malformed("no Issuer"))?;
    Ok((kind, issuer))
}

fn kind_of(param: Param) -> Kind {
    match param {
        Param::Request => Kind::Request,
        Param::Response => Kind::Response,
    }
}

/// The form fields of a logout message in the HTTP-POST binding, as both sides receive it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PostForm {
    /// `SAMLRequest` (a LogoutRequest).
    #[serde(rename = "SAMLRequest")]
    pub saml_request: Option<String>,
    /// `SAMLResponse` (a LogoutResponse).
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    /// `RelayState`.
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

impl Inbound {
    /// A message of the HTTP-POST binding from its form: exactly one of `SAMLRequest` and
    /// `SAMLResponse`.
    pub fn from_post_form(form: PostForm) -> Result<Inbound, LogoutError> {
        match (form.saml_request, form.saml_response) {
            (Some(v), None) => Inbound::from_post(Param::Request, &v, form.relay_state),
            (None, Some(v)) => Inbound::from_post(Param::Response, &v, form.relay_state),
            _ => Err(LogoutError::Malformed("exactly one of SAMLRequest and SAMLResponse is needed")),
        }
    }

    /// A message of the HTTP-Redirect binding, from the raw (still percent-encoded) query.
    pub fn from_redirect(raw_query: &str) -> Result<Inbound, LogoutError> {
        let q = RedirectQuery::parse(raw_query)?;
        let (xml, param) = q.message_xml()?;
        let (kind, claimed_issuer) = prescan(&xml)?;
        if kind != kind_of(param) {
            return Err(LogoutError::Malformed("the parameter name does not match the message"));
        }
        Ok(Inbound {
            kind,
            binding: Binding::Redirect,
            relay_state: q.relay_state(),
            xml,
            raw_query: Some(raw_query.to_owned()),
            claimed_issuer,
        })
    }

    /// A message of the HTTP-POST binding: the form's base64 value of `param`.
    pub fn from_post(param: Param, value: &str, relay_state: Option<String>) -> Result<Inbound, LogoutError> {
        let xml = decode(value, Binding::Post)?;
        let f = read(&xml, MAX_XML)?;
        if f.signatures == 0 {
            return Err(LogoutError::Unsigned);
        }
        if f.weak_algorithm {
            return Err(LogoutError::WeakAlgorithm);
        }
        let (kind, claimed_issuer) = prescan(&xml)?;
        if kind != kind_of(param) {
            return Err(LogoutError::Malformed("the parameter name does not match the message"));
        }
        Ok(Inbound { kind, binding: Binding::Post, xml, raw_query: None, relay_state, claimed_issuer })
    }

    /// Request or response.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The binding it came by.
    pub fn binding(&self) -> Binding {
        self.binding
    }

    /// The issuer the message *claims* (unverified: to pick certificates only).
    pub fn claimed_issuer(&self) -> &str {
        &self.claimed_issuer
    }

    /// Verifies the signature with `peer`'s certificates and the message's addressing and
    /// time (`destination`: our endpoint; `now`, `skew`: Unix seconds).
    pub fn verify(
        &self,
        peer: &Peer<'_>,
        destination: &str,
        now: i64,
        skew: i64,
    ) -> Result<Verified, LogoutError> {
        if peer.certs_der.is_empty() {
            return Err(LogoutError::BadSignature);
        }
        let signed_xml = match (&self.binding, &self.raw_query) {
            (Binding::Redirect, Some(q)) => {
                RedirectQuery::parse(q)?.verify(peer.certs_der).map_err(|_| LogoutError::BadSignature)?;
                self.xml.clone()
            }
            _ => {
                let xml = self.xml.as_str();
                catch_unwind(AssertUnwindSafe(|| {
                    crate::verify::reduce_to_signed(
                        xml,
                        peer.certs_der,
                        ReduceMode::PreDigest,
                        Some(ALLOWED_ALGORITHMS),
                    )
                }))
                .map_err(|_| LogoutError::Malformed("the signature could not be processed"))?
                .map_err(|_| LogoutError::BadSignature)?
            }
        };
        // From here on only the signed content is read.
        let f = read(&signed_xml, usize::MAX).map_err(|_| LogoutError::BadSignature)?;
        if f.kind != Some(self.kind) {
            return Err(LogoutError::BadSignature);
        }
        check(f, peer, destination, now, skew, self.relay_state.clone())
    }
}

fn check(
    f: Fields,
    peer: &Peer<'_>,
    destination: &str,
    now: i64,
    skew: i64,
    relay_state: Option<String>,
) -> Result<Verified, LogoutError> {
    if f.version.as_deref() != Some("2.0") {
        return Err(LogoutError::Malformed("Version must be 2.0"));
    }
    let id = f.id.filter(|i| !i.is_empty() && i.len() <= 256).ok_or(LogoutError::Malformed("no valid ID"))?;
    if f.issuer.as_deref() != Some(peer.entity_id) {
        return Err(LogoutError::WrongIssuer);
    }
    if f.destination.as_deref() != Some(destination) {
        return Err(LogoutError::WrongDestination);
    }
    let issued = parse_time(f.issue_instant.as_deref().ok_or(LogoutError::Malformed("no IssueInstant"))?)?;
    if issued > now + skew || issued < now - MAX_AGE - skew {
        return Err(LogoutError::Expired);
    }
    match f.kind {
        Some(Kind::Request) => {
            let not_on_or_after = match f.not_on_or_after.as_deref() {
                Some(t) => parse_time(t)?,
                None => issued + MAX_AGE,
            };
            if now >= not_on_or_after + skew {
                return Err(LogoutError::Expired);
            }
            if f.encrypted_id {
                return Err(LogoutError::Malformed("only a plain NameID is accepted"));
            }
            let name_id = f.name_id.filter(|n| !n.is_empty()).ok_or(LogoutError::Malformed("no NameID"))?;
            if f.session_indexes.iter().any(String::is_empty) {
                return Err(LogoutError::Malformed("an empty SessionIndex"));
            }
            Ok(Verified::Request(
                LogoutRequest {
                    id,
                    issuer: peer.entity_id.to_owned(),
                    name_id,
                    session_indexes: f.session_indexes,
                    not_on_or_after,
                },
                relay_state,
            ))
        }
        Some(Kind::Response) => {
            let status = f.status.filter(|s| !s.is_empty()).ok_or(LogoutError::Malformed("no StatusCode"))?;
            Ok(Verified::Response(
                LogoutResponse {
                    id,
                    issuer: peer.entity_id.to_owned(),
                    in_response_to: f.in_response_to,
                    status,
                    second_status: f.second_status,
                },
                relay_state,
            ))
        }
        None => Err(LogoutError::Malformed("no root")),
    }
}
