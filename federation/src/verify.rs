//! Verifying a signed SAML 2.0 `Assertion` from a trusted IdP, and the checks a relying party
//! makes on it: time window, audience, bearer `SubjectConfirmation`, replay.
//!
//! Two steps, as types (STYLE.md §4.1):
//!
//! 1. [`UnverifiedAssertion::parse`] takes the untrusted text and refuses what must never reach
//!    libxml: more than the size limit, a `DOCTYPE` (so no entity expansion), an encoding other
//!    than UTF-8, malformed XML, a document without any `ds:Signature`, and SHA-1 in any
//!    `SignatureMethod` or `DigestMethod`. It reads the *claimed* issuer, only to choose the
//!    certificates to try.
//! 2. [`UnverifiedAssertion::verify`] checks the XML signature with libxmlsec1 (through samael)
//!    against the claimed issuer's certificates from the [`TrustStore`], allowing only
//!    RSA/ECDSA with SHA-256 or stronger for both signature and digests. The result is built
//!    from xmlsec's **pre-digest** output — exactly the bytes the signature covers — and never
//!    from the document that was sent, so wrapped, unsigned or commented-in content (XSW 1–8,
//!    comment injection) cannot be what is used. The signed element must be a
//!    `saml:Assertion` — the document's root, or the `samlp:Response`'s only Assertion child —
//!    and its `Issuer` must be the IdP whose certificate verified it; a signed assertion found
//!    anywhere else (wrapped in `Advice`, `ds:Object`, …) is refused.
//!
//! A [`VerifiedAssertion`] holds only what the signature covers. The checks that depend on
//! the relying party are separate methods, so each party composes the rules it needs:
//!
//! | check | method |
//! |---|---|
//! | not yet valid (`IssueInstant`, `Conditions/@NotBefore`) | [`VerifiedAssertion::check_not_before`] |
//! | expired (`Conditions/@NotOnOrAfter`) | [`VerifiedAssertion::check_not_expired`] |
//! | SAML session over (`SessionNotOnOrAfter`) | [`VerifiedAssertion::check_session`] |
//! | older than a maximum age (`IssueInstant`) | [`VerifiedAssertion::check_age`] |
//! | audience | [`VerifiedAssertion::check_audience`] |
//! | bearer confirmation for a recipient (+ `InResponseTo`) | [`VerifiedAssertion::bearer_confirmation`], then [`BearerConfirmation::check_time`] |
//! | all of the Web SSO profile's checks at once | [`VerifiedAssertion::check_web_sso`] |
//! | replayed assertion IDs | [`ReplayCache`] |
//!
//! A web agent calls [`UnverifiedAssertion::parse_response`] on the `samlp:Response`, then
//! `check_web_sso` with its ACS URL and pending request IDs, then the replay cache. The visitor
//! IdP's token endpoint (RFC 7522) calls [`UnverifiedAssertion::parse`] on the bare assertion
//! and composes the checks itself, because it deliberately relaxes the expiry rule.
//!
//! # Security
//!
//! samael 0.0.22 can `panic!` on hostile input; every call into it is wrapped in
//! [`std::panic::catch_unwind`] and a panic becomes [`ValidationError::Malformed`]. An IdP entry
//! without a certificate cannot be added to the [`TrustStore`] (samael's SP skips signature
//! checks in that case, DESIGN.md §9).

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};

use crate::assertion::{CM_BEARER, NS_ASSERTION, NS_DSIG, NS_PROTOCOL};

/// Default size limit of an XML document given to [`UnverifiedAssertion::parse`], bytes.
pub const DEFAULT_MAX_XML_BYTES: usize = 512 * 1024;
/// Default clock-skew allowance, seconds.
pub const DEFAULT_CLOCK_SKEW: i64 = 60;
/// Most certificates accepted for one trusted IdP (key rollover needs two or three).
pub const MAX_CERTS_PER_IDP: usize = 8;
/// Longest entity ID accepted.
pub const MAX_ENTITY_ID_LEN: usize = 1024;

/// Signature algorithms accepted: SHA-256 or stronger. Each also fixes the digest algorithm
/// family samael accepts for the references, so SHA-1 digests are refused too.
pub const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// Why an assertion was refused. The messages name the defect, never a value from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The document is larger than the limit.
    #[error("the SAML document is larger than {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The document has a `DOCTYPE` (entity declarations are never processed).
    #[error("the SAML document has a DOCTYPE, which is not allowed")]
    Doctype,
    /// Not well-formed XML, not UTF-8, or an element we need is unparsable.
    #[error("the SAML document is malformed: {0}")]
    Malformed(&'static str),
    /// The root element is not the one expected (a `saml:Assertion`, or a `samlp:Response`).
    #[error("the SAML document's root element is not a {0}")]
    WrongRoot(&'static str),
    /// The document carries no XML signature.
    #[error("the assertion is not signed")]
    Unsigned,
    /// A signature or digest uses SHA-1 or another algorithm not in [`ALLOWED_ALGORITHMS`].
    #[error("the signature uses a weak or unsupported algorithm (SHA-256 or stronger is required)")]
    WeakAlgorithm,
    /// No `Issuer`, or it is not in the trust store.
    #[error("the assertion's issuer is not a trusted identity provider")]
    UnknownIssuer,
    /// The signature does not verify with the issuer's certificates (wrong signer, modified
    /// content, several signed elements).
    #[error("the assertion's signature is not valid for its issuer")]
    BadSignature,
    /// The signed element is not one `saml:Assertion`, or its issuer differs from the one whose
    /// certificate verified it.
    #[error("the signed content is not an assertion of the verifying issuer")]
    SignedContentMismatch,
    /// A required element or attribute is absent.
    #[error("the assertion has no {0}")]
    Missing(&'static str),
    /// An element that must appear at most once appears several times.
    #[error("the assertion has more than one {0}")]
    Ambiguous(&'static str),
    /// `IssueInstant` or `NotBefore` lies in the future (beyond the clock skew).
    #[error("the assertion is not yet valid")]
    NotYetValid,
    /// `Conditions/@NotOnOrAfter` has passed.
    #[error("the assertion has expired")]
    Expired,
    /// `SessionNotOnOrAfter` has passed.
    #[error("the SAML session of the assertion has ended")]
    SessionExpired,
    /// The assertion was issued longer ago than the maximum age.
    #[error("the assertion is older than the maximum age")]
    TooOld,
    /// No `AudienceRestriction`, or one that does not name this party.
    #[error("the assertion's audience does not name this party")]
    WrongAudience,
    /// No bearer confirmation with this party as `Recipient` (and the expected
    /// `InResponseTo`, and a `NotOnOrAfter`).
    #[error("the assertion has no bearer subject confirmation for this recipient")]
    WrongRecipient,
    /// The bearer confirmation's `NotOnOrAfter` has passed, or its `NotBefore` is ahead.
    #[error("the assertion's subject confirmation has expired or is not yet valid")]
    ConfirmationExpired,
    /// The assertion ID was seen before.
    #[error("the assertion was already used")]
    Replayed,
    /// The `samlp:Response`'s top-level `StatusCode` is not `Success` (the IdP reports that
    /// the sign-in failed or was refused), or the Response has no `Status` at all.
    #[error("the identity provider reported that the sign-in did not succeed (status: {0})")]
    StatusNotSuccess(&'static str),
}

/// A SAML top-level status code's short name (SAML core §3.2.2.2), for messages: never text
/// from the input.
fn status_name(value: &str) -> &'static str {
    match value.strip_prefix("urn:oasis:names:tc:SAML:2.0:status:") {
        Some("Success") => "Success",
        Some("Requester") => "Requester",
        Some("Responder") => "Responder",
        Some("VersionMismatch") => "VersionMismatch",
        _ => "unknown status code",
    }
}

/// The `Value` of a success `StatusCode`.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Why a trusted IdP could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The entity ID is empty, too long, or has spaces or control characters.
    #[error("invalid entity ID")]
    InvalidEntityId,
    /// No certificate (an IdP without one would be trusted without a signature check).
    #[error("a trusted identity provider needs at least one signing certificate")]
    NoCertificate,
    /// More than [`MAX_CERTS_PER_IDP`] certificates.
    #[error("too many certificates (at most {MAX_CERTS_PER_IDP})")]
    TooManyCertificates,
    /// A certificate is not DER/base64/PEM that libxmlsec1 can load.
    #[error("a certificate is not a valid X.509 certificate")]
    InvalidCertificate,
    /// The metadata is not parsable SAML metadata of one entity with an IdP role.
    #[error("invalid IdP metadata: {0}")]
    InvalidMetadata(&'static str),
    /// The metadata describes another entity than the one configured.
    #[error("the metadata is for another entity ID")]
    EntityIdMismatch,
}

/// The identity providers whose assertions are accepted: entity ID → signing certificates.
#[derive(Clone, Default)]
pub struct TrustStore {
    idps: BTreeMap<String, Vec<CertificateDer>>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.idps.iter().map(|(k, v)| (k, v.len()))).finish()
    }
}

fn valid_entity_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ENTITY_ID_LEN
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl TrustStore {
    /// An empty store (trusts nobody).
    pub fn new() -> Self {
        TrustStore::default()
    }

    /// Trusts `entity_id` with these DER certificates (replacing earlier ones). Each
    /// certificate is loaded by libxmlsec1 once here, so a bad one fails now, not per request.
    pub fn insert(&mut self, entity_id: &str, certs_der: Vec<Vec<u8>>) -> Result<(), TrustError> {
        if !valid_entity_id(entity_id) {
            return Err(TrustError::InvalidEntityId);
        }
        if certs_der.is_empty() || certs_der.iter().any(Vec::is_empty) {
            return Err(TrustError::NoCertificate);
        }
        if certs_der.len() > MAX_CERTS_PER_IDP {
            return Err(TrustError::TooManyCertificates);
        }
        for der in &certs_der {
            if !certificate_loads(der) {
                return Err(TrustError::InvalidCertificate);
            }
        }
        self.idps.insert(entity_id.to_owned(), certs_der.into_iter().map(CertificateDer::from).collect());
        Ok(())
    }

    /// Trusts the IdP described by SAML metadata (`md:EntityDescriptor` with an
    /// `md:IDPSSODescriptor`), using its signing certificates (`KeyDescriptor use="signing"`, or
    /// without `use`). If `expected_entity_id` is given the metadata must be for it. Returns the
    /// entity ID.
    pub fn insert_metadata(
        &mut self,
        metadata_xml: &str,
        expected_entity_id: Option<&str>,
    ) -> Result<String, TrustError> {
        let (entity_id, certs) = idp_metadata_certificates(metadata_xml)?;
        if expected_entity_id.is_some_and(|e| e != entity_id) {
            return Err(TrustError::EntityIdMismatch);
        }
        self.insert(&entity_id, certs)?;
        Ok(entity_id)
    }

    /// Whether `entity_id` is trusted.
    pub fn contains(&self, entity_id: &str) -> bool {
        self.idps.contains_key(entity_id)
    }

    /// The trusted entity IDs, sorted.
    pub fn entity_ids(&self) -> impl Iterator<Item = &str> {
        self.idps.keys().map(String::as_str)
    }

    fn certificates(&self, entity_id: &str) -> Option<&[CertificateDer]> {
        self.idps.get(entity_id).map(Vec::as_slice).filter(|c| !c.is_empty())
    }
}

fn certificate_loads(der: &[u8]) -> bool {
    // samael has no loader without a document: verify a tiny unsigned document. A certificate
    // that does not load fails with a key/certificate load error before the document (which has
    // no signature) is looked at.
    let cert = CertificateDer::from(der.to_vec());
    match catch_unwind(AssertUnwindSafe(|| Crypto::verify_signed_xml("<a/>", &cert, None))) {
        Ok(Err(e)) => {
            let debug = format!("{e:?}");
            !(debug.contains("KeyLoadError") || debug.contains("CertLoadError"))
        }
        Ok(Ok(())) => true,
        Err(_) => false,
    }
}

/// Reads the entity ID and signing certificates (DER) of an IdP from SAML metadata.
pub fn idp_metadata_certificates(metadata_xml: &str) -> Result<(String, Vec<Vec<u8>>), TrustError> {
    let bad = TrustError::InvalidMetadata;
    prescan(metadata_xml, DEFAULT_MAX_XML_BYTES).map_err(|_| bad("not well-formed XML without DOCTYPE"))?;
    let parsed = catch_unwind(|| metadata_xml.parse::<samael::metadata::EntityDescriptor>())
        .map_err(|_| bad("unparsable"))?
        .map_err(|_| bad("not an md:EntityDescriptor"))?;
    let entity_id =
        parsed.entity_id.clone().filter(|e| valid_entity_id(e)).ok_or(bad("no valid entityID"))?;
    let idp = parsed.idp_sso_descriptors.as_deref().unwrap_or_default();
    if idp.is_empty() {
        return Err(bad("no IDPSSODescriptor"));
    }
    let mut certs = Vec::new();
    for signing_only in [true, false] {
        for d in idp.iter().flat_map(|d| d.key_descriptors.iter()) {
            let usable = match d.key_use.as_deref() {
                Some("signing") => signing_only,
                None | Some("") => !signing_only,
                _ => false,
            };
            if !usable {
                continue;
            }
            for c in d.key_info.x509_data.iter().flat_map(|x| x.certificates.iter()) {
                let der =
                    samael::crypto::decode_x509_cert(c).map_err(|_| bad("a certificate is not base64"))?;
                certs.push(der.der_data().to_vec());
            }
        }
        if !certs.is_empty() {
            break;
        }
    }
    if certs.is_empty() {
        return Err(TrustError::NoCertificate);
    }
    Ok((entity_id, certs))
}

/// The root element a document must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Assertion,
    Response,
}

/// What the pre-scan learnt from an untrusted document.
struct Prescan {
    root: Option<Root>,
    /// The root element's `ID`.
    root_id: Option<String>,
    /// The `ID`s of the `saml:Assertion` children of the root.
    child_assertion_ids: Vec<Option<String>>,
    claimed_issuer: Option<String>,
    signatures: usize,
    weak_algorithm: bool,
    /// The `Value`s of the top-level `samlp:Status/samlp:StatusCode` of a Response root (one
    /// expected; several are refused by the caller).
    status_codes: Vec<Option<String>>,
}

fn is(ns: &ResolveResult<'_>, local: &[u8], want_ns: &str, want_local: &str) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == want_ns.as_bytes())
        && local == want_local.as_bytes()
}

/// The unqualified `ID` attribute of an element.
fn id_attribute(start: &quick_xml::events::BytesStart<'_>) -> Result<Option<String>, ValidationError> {
    plain_attribute(start, b"ID")
}

/// The unqualified attribute `name` of an element.
fn plain_attribute(
    start: &quick_xml::events::BytesStart<'_>,
    name: &[u8],
) -> Result<Option<String>, ValidationError> {
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|_| ValidationError::Malformed("attribute"))?;
        if a.key.as_ref() == name {
            let v = a.unescape_value().map_err(|_| ValidationError::Malformed("attribute"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Refuses an element carrying a prefixed attribute whose local name is `ID` (`foo:ID`):
/// libxmlsec resolves a reference by the first attribute whose local name is `ID`, in any
/// namespace, while this pre-scan (and samael) read the unprefixed one. Two readers must
/// never disagree on which element an `ID` names.
fn refuse_namespaced_id(start: &quick_xml::events::BytesStart<'_>) -> Result<(), ValidationError> {
    for a in start.attributes().with_checks(true) {
        let a = a.map_err(|_| ValidationError::Malformed("attribute"))?;
        if a.key.local_name().as_ref() == b"ID" && a.key.as_ref() != b"ID" {
            return Err(ValidationError::Malformed("an attribute named ID has a namespace prefix"));
        }
    }
    Ok(())
}

/// Size limit, DOCTYPE, encoding and well-formedness, with quick-xml (no entity expansion, no
/// network): nothing reaches libxml before this passes.
fn prescan(xml: &str, max_bytes: usize) -> Result<Prescan, ValidationError> {
    if xml.len() > max_bytes {
        return Err(ValidationError::TooLarge { limit: max_bytes });
    }
    crate::xml::check_utf8_xml_text(xml)
        .map_err(|_| ValidationError::Malformed("the encoding must be UTF-8"))?;
    let mut reader = NsReader::from_str(xml);
    let mut out = Prescan {
        root: None,
        root_id: None,
        child_assertion_ids: Vec::new(),
        claimed_issuer: None,
        signatures: 0,
        weak_algorithm: false,
        status_codes: Vec::new(),
    };
    let mut depth = 0usize;
    let mut in_issuer = false;
    // Inside the Response's top-level samlp:Status (depth 1).
    let mut in_status = false;
    let mut roots = 0usize;
    loop {
        let (ns, event) =
            reader.read_resolved_event().map_err(|_| ValidationError::Malformed("not well-formed XML"))?;
        match event {
            Event::DocType(_) => return Err(ValidationError::Doctype),
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|_| ValidationError::Malformed("XML declaration"))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(ValidationError::Malformed("the encoding must be UTF-8"));
                    }
                }
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let local = s.local_name();
                let local = local.as_ref();
                refuse_namespaced_id(s)?;
                if out.root == Some(Root::Response) && depth == 1 && is(&ns, local, NS_PROTOCOL, "Status") {
                    in_status = !empty;
                    if empty {
                        out.status_codes.push(None);
                    }
                }
                if in_status && depth == 2 && is(&ns, local, NS_PROTOCOL, "StatusCode") {
                    out.status_codes.push(plain_attribute(s, b"Value")?);
                }
                if depth == 0 {
                    roots += 1;
                    out.root = if is(&ns, local, NS_ASSERTION, "Assertion") {
                        Some(Root::Assertion)
                    } else if is(&ns, local, NS_PROTOCOL, "Response") {
                        Some(Root::Response)
                    } else {
                        None
                    };
                    out.root_id = id_attribute(s)?;
                }
                if depth == 1 && is(&ns, local, NS_ASSERTION, "Assertion") {
                    out.child_assertion_ids.push(id_attribute(s)?);
                }
                if is(&ns, local, NS_DSIG, "Signature") {
                    out.signatures += 1;
                }
                if is(&ns, local, NS_DSIG, "SignatureMethod") || is(&ns, local, NS_DSIG, "DigestMethod") {
                    for a in s.attributes().with_checks(true) {
                        let a = a.map_err(|_| ValidationError::Malformed("attribute"))?;
                        if a.key.local_name().as_ref() == b"Algorithm" {
                            let v =
                                a.unescape_value().map_err(|_| ValidationError::Malformed("attribute"))?;
                            let v = v.to_ascii_lowercase();
                            if v.contains("sha1") || v.contains("md5") {
                                out.weak_algorithm = true;
                            }
                        }
                    }
                }
                if out.claimed_issuer.is_none() && !empty && is(&ns, local, NS_ASSERTION, "Issuer") {
                    in_issuer = true;
                    out.claimed_issuer = Some(String::new());
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                in_issuer = false;
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_status = false;
                }
            }
            Event::Text(t) if in_issuer => {
                let text = t.unescape().map_err(|_| ValidationError::Malformed("text"))?;
                if let Some(i) = out.claimed_issuer.as_mut() {
                    i.push_str(&text);
                }
            }
            Event::Text(t) if depth == 0 => {
                let text = t.unescape().map_err(|_| ValidationError::Malformed("text"))?;
                if !text.trim().is_empty() {
                    return Err(ValidationError::Malformed("text outside the root element"));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots != 1 || depth != 0 {
        return Err(ValidationError::Malformed("not exactly one root element"));
    }
    if let Some(i) = out.claimed_issuer.as_mut() {
        *i = i.trim().to_owned();
    }
    Ok(out)
}

/// An assertion (or a response carrying one) that passed the pre-scan but whose signature is
/// not checked yet. Nothing in it can be read except the claimed issuer.
#[derive(Debug)]
pub struct UnverifiedAssertion<'a> {
    xml: &'a str,
    claimed_issuer: String,
    /// The `ID` the signed assertion must have: the root's (bare assertion) or the one
    /// Assertion child's (response).
    expected_id: String,
}

impl<'a> UnverifiedAssertion<'a> {
    /// Pre-scans a bare `saml:Assertion` (as RFC 7522 carries it).
    ///
    /// # Security
    /// Refuses, before libxml sees the input: more than `max_bytes`, a DOCTYPE, a non-UTF-8
    /// encoding, malformed XML, no signature, SHA-1/MD5 algorithms, and a missing issuer.
    pub fn parse(xml: &'a str, max_bytes: usize) -> Result<Self, ValidationError> {
        Self::parse_root(xml, max_bytes, Root::Assertion)
    }

    /// Pre-scans a `samlp:Response` whose one signed `saml:Assertion` is to be used (the
    /// Response's own unsigned fields are not part of the result). Same refusals as
    /// [`UnverifiedAssertion::parse`].
    pub fn parse_response(xml: &'a str, max_bytes: usize) -> Result<Self, ValidationError> {
        Self::parse_root(xml, max_bytes, Root::Response)
    }

    fn parse_root(xml: &'a str, max_bytes: usize, root: Root) -> Result<Self, ValidationError> {
        let scan = prescan(xml, max_bytes)?;
        if scan.root != Some(root) {
            return Err(ValidationError::WrongRoot(match root {
                Root::Assertion => "saml:Assertion",
                Root::Response => "samlp:Response",
            }));
        }
        if scan.signatures == 0 {
            return Err(ValidationError::Unsigned);
        }
        if scan.weak_algorithm {
            return Err(ValidationError::WeakAlgorithm);
        }
        if root == Root::Response {
            // The Response's status is not covered by the assertion's signature, but an IdP
            // that says the sign-in failed is believed (SAML core §3.2.2.2): only `Success`,
            // in exactly one top-level StatusCode, goes on.
            match scan.status_codes.as_slice() {
                [Some(v)] if v == STATUS_SUCCESS => {}
                [Some(v)] => return Err(ValidationError::StatusNotSuccess(status_name(v))),
                [] => return Err(ValidationError::StatusNotSuccess("no Status")),
                [None] => return Err(ValidationError::StatusNotSuccess("no StatusCode")),
                _ => return Err(ValidationError::Ambiguous("Status")),
            }
        }
        let claimed_issuer =
            scan.claimed_issuer.filter(|i| !i.is_empty()).ok_or(ValidationError::Missing("Issuer"))?;
        // The element that is used must be the one that is signed: the root itself, or the
        // Response's only Assertion child. A signed assertion hidden elsewhere (Advice,
        // ds:Object, Extensions, a second child) is refused rather than silently used.
        let expected_id = match root {
            Root::Assertion => scan.root_id,
            Root::Response => match scan.child_assertion_ids.as_slice() {
                [one] => one.clone(),
                [] => return Err(ValidationError::Missing("Assertion")),
                _ => return Err(ValidationError::Ambiguous("Assertion")),
            },
        };
        let expected_id = expected_id.filter(|i| !i.is_empty()).ok_or(ValidationError::Missing("ID"))?;
        Ok(UnverifiedAssertion { xml, claimed_issuer, expected_id })
    }

    /// The issuer the document *claims* (unverified: use it to pick keys or for messages only).
    pub fn claimed_issuer(&self) -> &str {
        &self.claimed_issuer
    }

    /// Verifies the signature with the claimed issuer's certificates from `trust` and returns
    /// the signed assertion's content.
    ///
    /// # Security
    /// The result is parsed from xmlsec's pre-digest data of the one verified reference, so
    /// content outside the signature is never read. The signed element must be a
    /// `saml:Assertion` whose `Issuer` equals the IdP whose certificate verified it.
    pub fn verify(&self, trust: &TrustStore) -> Result<VerifiedAssertion, ValidationError> {
        let certs = trust.certificates(&self.claimed_issuer).ok_or(ValidationError::UnknownIssuer)?;
        let xml = self.xml;
        let reduced = catch_unwind(AssertUnwindSafe(|| {
            Crypto::reduce_xml_to_signed_with_allowed_algorithms(
                xml,
                certs,
                ReduceMode::PreDigest,
                Some(ALLOWED_ALGORITHMS),
            )
        }))
        .map_err(|_| ValidationError::Malformed("the signature could not be processed"))?
        .map_err(|_| ValidationError::BadSignature)?;
        // The pre-digest root must itself be an Assertion (not a signed Response or a fragment).
        let scan = prescan(&reduced, usize::MAX).map_err(|_| ValidationError::SignedContentMismatch)?;
        if scan.root != Some(Root::Assertion) {
            return Err(ValidationError::SignedContentMismatch);
        }
        let parsed = catch_unwind(|| reduced.parse::<samael::schema::Assertion>())
            .map_err(|_| ValidationError::Malformed("assertion"))?
            .map_err(|_| ValidationError::Malformed("assertion"))?;
        let verified = VerifiedAssertion::from_samael(parsed)?;
        if verified.issuer != self.claimed_issuer || verified.id != self.expected_id {
            return Err(ValidationError::SignedContentMismatch);
        }
        Ok(verified)
    }
}

/// The subject's `NameID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameId {
    /// The identifier.
    pub value: String,
    /// Its `Format`, if given.
    pub format: Option<String>,
}

/// A bearer `SubjectConfirmation` (method `urn:oasis:names:tc:SAML:2.0:cm:bearer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerConfirmation {
    /// `Recipient`.
    pub recipient: Option<String>,
    /// `NotBefore`, Unix seconds.
    pub not_before: Option<i64>,
    /// `NotOnOrAfter`, Unix seconds.
    pub not_on_or_after: Option<i64>,
    /// `InResponseTo`.
    pub in_response_to: Option<String>,
}

impl BearerConfirmation {
    /// `NotBefore ≤ now + skew` and `now - skew < NotOnOrAfter` (which must be present).
    pub fn check_time(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        if self.not_before.is_some_and(|nb| now.saturating_add(skew) < nb) {
            return Err(ValidationError::ConfirmationExpired);
        }
        match self.not_on_or_after {
            Some(t) if now.saturating_sub(skew) < t => Ok(()),
            _ => Err(ValidationError::ConfirmationExpired),
        }
    }
}

/// What the `InResponseTo` of a bearer confirmation must be.
#[derive(Clone, Copy, Debug)]
pub enum InResponseTo<'a> {
    /// Not checked (RFC 7522: the token endpoint sent no request).
    Ignore,
    /// Must be absent (IdP-initiated SSO).
    Absent,
    /// Must be one of these request IDs (SP-initiated SSO).
    OneOf(&'a [&'a str]),
}

impl InResponseTo<'_> {
    fn accepts(&self, value: Option<&str>) -> bool {
        match self {
            InResponseTo::Ignore => true,
            InResponseTo::Absent => value.is_none(),
            InResponseTo::OneOf(ids) => value.is_some_and(|v| ids.contains(&v)),
        }
    }
}

/// The content of a signed assertion: only what the signature covers. Built only by
/// [`UnverifiedAssertion::verify`]. Times are Unix seconds.
#[derive(Clone, Debug)]
pub struct VerifiedAssertion {
    issuer: String,
    id: String,
    issue_instant: i64,
    name_id: NameId,
    session_index: Option<String>,
    session_not_on_or_after: Option<i64>,
    authn_instant: Option<i64>,
    not_before: Option<i64>,
    not_on_or_after: Option<i64>,
    audience_restrictions: Vec<Vec<String>>,
    bearer: Vec<BearerConfirmation>,
    attributes: BTreeMap<String, Vec<String>>,
}

impl VerifiedAssertion {
    fn from_samael(a: samael::schema::Assertion) -> Result<Self, ValidationError> {
        if a.version != "2.0" {
            return Err(ValidationError::Malformed("Version must be 2.0"));
        }
        if a.id.is_empty() {
            return Err(ValidationError::Missing("ID"));
        }
        let issuer = a.issuer.value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let issuer = issuer.ok_or(ValidationError::Missing("Issuer"))?;
        let subject = a.subject.ok_or(ValidationError::Missing("Subject"))?;
        let name_id = subject.name_id.ok_or(ValidationError::Missing("NameID"))?;
        if name_id.value.is_empty() {
            return Err(ValidationError::Missing("NameID"));
        }
        let bearer = subject
            .subject_confirmations
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.method.as_deref() == Some(CM_BEARER))
            .map(|c| {
                let d = c.subject_confirmation_data;
                BearerConfirmation {
                    recipient: d.as_ref().and_then(|d| d.recipient.clone()),
                    not_before: d.as_ref().and_then(|d| d.not_before).map(|t| t.timestamp()),
                    not_on_or_after: d.as_ref().and_then(|d| d.not_on_or_after).map(|t| t.timestamp()),
                    in_response_to: d.and_then(|d| d.in_response_to),
                }
            })
            .collect();
        let authn = a.authn_statements.unwrap_or_default();
        if authn.len() > 1 {
            return Err(ValidationError::Ambiguous("AuthnStatement"));
        }
        let authn = authn.into_iter().next();
        let (not_before, not_on_or_after, audience_restrictions) = match a.conditions {
            Some(c) => (
                c.not_before.map(|t| t.timestamp()),
                c.not_on_or_after.map(|t| t.timestamp()),
                c.audience_restrictions.unwrap_or_default().into_iter().map(|r| r.audience).collect(),
            ),
            None => (None, None, Vec::new()),
        };
        let mut attributes = BTreeMap::new();
        for attr in a.attribute_statements.unwrap_or_default().into_iter().flat_map(|s| s.attributes) {
            let name = attr.name.ok_or(ValidationError::Missing("Attribute Name"))?;
            let values = attr.values.into_iter().map(|v| v.value.unwrap_or_default()).collect();
            if attributes.insert(name, values).is_some() {
                return Err(ValidationError::Ambiguous("Attribute with the same Name"));
            }
        }
        Ok(VerifiedAssertion {
            issuer,
            id: a.id,
            issue_instant: a.issue_instant.timestamp(),
            name_id: NameId { value: name_id.value, format: name_id.format },
            session_index: authn.as_ref().and_then(|s| s.session_index.clone()).filter(|s| !s.is_empty()),
            session_not_on_or_after: authn
                .as_ref()
                .and_then(|s| s.session_not_on_or_after)
                .map(|t| t.timestamp()),
            authn_instant: authn.as_ref().and_then(|s| s.authn_instant).map(|t| t.timestamp()),
            not_before,
            not_on_or_after,
            audience_restrictions,
            bearer,
            attributes,
        })
    }

    /// The issuer's entity ID (the IdP whose certificate verified the signature).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The assertion's `ID`.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// `IssueInstant`.
    pub fn issue_instant(&self) -> i64 {
        self.issue_instant
    }
    /// The subject.
    pub fn name_id(&self) -> &NameId {
        &self.name_id
    }
    /// `AuthnStatement/@SessionIndex` (the linchpin session id in idaas).
    pub fn session_index(&self) -> Option<&str> {
        self.session_index.as_deref()
    }
    /// `AuthnStatement/@SessionNotOnOrAfter`.
    pub fn session_not_on_or_after(&self) -> Option<i64> {
        self.session_not_on_or_after
    }
    /// `AuthnStatement/@AuthnInstant`.
    pub fn authn_instant(&self) -> Option<i64> {
        self.authn_instant
    }
    /// `Conditions/@NotBefore`.
    pub fn not_before(&self) -> Option<i64> {
        self.not_before
    }
    /// `Conditions/@NotOnOrAfter`.
    pub fn not_on_or_after(&self) -> Option<i64> {
        self.not_on_or_after
    }
    /// The `Audience` values of each `AudienceRestriction`.
    pub fn audience_restrictions(&self) -> &[Vec<String>] {
        &self.audience_restrictions
    }
    /// The bearer subject confirmations.
    pub fn bearer_confirmations(&self) -> &[BearerConfirmation] {
        &self.bearer
    }
    /// Attributes: name → values.
    pub fn attributes(&self) -> &BTreeMap<String, Vec<String>> {
        &self.attributes
    }
    /// The values of one attribute.
    pub fn attribute(&self, name: &str) -> Option<&[String]> {
        self.attributes.get(name).map(Vec::as_slice)
    }

    /// Refuses an assertion issued, or with a `Conditions/@NotBefore`, later than `now + skew`.
    pub fn check_not_before(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        let limit = now.saturating_add(skew);
        if self.issue_instant > limit || self.not_before.is_some_and(|nb| nb > limit) {
            return Err(ValidationError::NotYetValid);
        }
        Ok(())
    }

    /// Refuses an assertion whose `Conditions/@NotOnOrAfter` is at or before `now - skew`.
    pub fn check_not_expired(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        if self.not_on_or_after.is_some_and(|t| t <= now.saturating_sub(skew)) {
            return Err(ValidationError::Expired);
        }
        Ok(())
    }

    /// Refuses an assertion whose `SessionNotOnOrAfter` is at or before `now - skew`.
    pub fn check_session(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        if self.session_not_on_or_after.is_some_and(|t| t <= now.saturating_sub(skew)) {
            return Err(ValidationError::SessionExpired);
        }
        Ok(())
    }

    /// Refuses an assertion issued `max_age` seconds or more before `now`.
    pub fn check_age(&self, now: i64, max_age: i64) -> Result<(), ValidationError> {
        if self.issue_instant.saturating_add(max_age) <= now {
            return Err(ValidationError::TooOld);
        }
        Ok(())
    }

    /// Requires at least one `AudienceRestriction`, and every one of them to name one of
    /// `acceptable` (SAML core §2.5.1.4: restrictions are AND-ed, audiences within one OR-ed).
    pub fn check_audience(&self, acceptable: &[&str]) -> Result<(), ValidationError> {
        let ok = !self.audience_restrictions.is_empty()
            && self.audience_restrictions.iter().all(|r| r.iter().any(|a| acceptable.contains(&a.as_str())));
        if ok {
            Ok(())
        } else {
            Err(ValidationError::WrongAudience)
        }
    }

    /// The first bearer confirmation whose `Recipient` is `recipient`, whose `InResponseTo`
    /// is acceptable, and which has a `NotOnOrAfter`. Its time is *not* checked here (see
    /// [`BearerConfirmation::check_time`]).
    pub fn bearer_confirmation(
        &self,
        recipient: &str,
        in_response_to: InResponseTo<'_>,
    ) -> Result<&BearerConfirmation, ValidationError> {
        self.bearer
            .iter()
            .find(|c| {
                c.recipient.as_deref() == Some(recipient)
                    && c.not_on_or_after.is_some()
                    && in_response_to.accepts(c.in_response_to.as_deref())
            })
            .ok_or(ValidationError::WrongRecipient)
    }

    /// The SAML 2.0 Web Browser SSO profile's checks, as a service provider makes them: not
    /// before, not expired, the audience names `audience`, and a bearer confirmation for
    /// `recipient` with an acceptable `InResponseTo` whose time is valid. Replay is the
    /// caller's ([`ReplayCache`]).
    pub fn check_web_sso(
        &self,
        audience: &str,
        recipient: &str,
        in_response_to: InResponseTo<'_>,
        now: i64,
        skew: i64,
    ) -> Result<&BearerConfirmation, ValidationError> {
        self.check_not_before(now, skew)?;
        self.check_not_expired(now, skew)?;
        self.check_audience(&[audience])?;
        let c = self.bearer_confirmation(recipient, in_response_to)?;
        c.check_time(now, skew)?;
        Ok(c)
    }

    /// Until when this assertion's ID must be remembered to refuse a replay: the latest of
    /// `Conditions/@NotOnOrAfter` and the bearer confirmations' `NotOnOrAfter`, plus `skew`.
    pub fn replay_horizon(&self, skew: i64) -> i64 {
        self.bearer
            .iter()
            .filter_map(|c| c.not_on_or_after)
            .chain(self.not_on_or_after)
            .max()
            .unwrap_or(self.issue_instant)
            .saturating_add(skew)
    }
}

/// An in-memory cache of used assertion IDs (per issuer), each kept until its expiry. Bounded:
/// when full, expired entries are dropped; if still full, new IDs are refused rather than old
/// ones forgotten (a full cache must not re-open a replay window).
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl ReplayCache {
    /// A cache for at most `capacity` live assertion IDs.
    pub fn new(capacity: usize) -> Self {
        ReplayCache { capacity, seen: Mutex::new(HashMap::new()) }
    }

    /// Records `assertion`'s ID until [`VerifiedAssertion::replay_horizon`]; refuses it if it
    /// was recorded before and has not expired.
    pub fn check_and_record(
        &self,
        assertion: &VerifiedAssertion,
        now: i64,
        skew: i64,
    ) -> Result<(), ValidationError> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (assertion.issuer.clone(), assertion.id.clone());
        if seen.get(&key).is_some_and(|&until| until > now) {
            return Err(ValidationError::Replayed);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until > now);
            if seen.len() >= self.capacity {
                return Err(ValidationError::Replayed);
            }
        }
        seen.insert(key, assertion.replay_horizon(skew));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_refuses_doctype_size_encoding_and_garbage() {
        let doctype = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
        assert_eq!(prescan(doctype, 1000).err(), Some(ValidationError::Doctype));
        assert_eq!(prescan("<a/>", 3).err(), Some(ValidationError::TooLarge { limit: 3 }));
        let utf16 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>";
        assert!(matches!(prescan(utf16, 1000), Err(ValidationError::Malformed(_))));
        for bad in ["", "garbage", "<a>", "<a/><b/>", "<a></b>", "x<a/>"] {
            assert!(matches!(prescan(bad, 1000), Err(ValidationError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn audience_restrictions_are_anded() {
        let mut a = VerifiedAssertion {
            issuer: "i".into(),
            id: "x".into(),
            issue_instant: 100,
            name_id: NameId { value: "bob".into(), format: None },
            session_index: None,
            session_not_on_or_after: None,
            authn_instant: None,
            not_before: None,
            not_on_or_after: Some(200),
            audience_restrictions: vec![],
            bearer: vec![],
            attributes: BTreeMap::new(),
        };
        assert_eq!(a.check_audience(&["v"]), Err(ValidationError::WrongAudience));
        a.audience_restrictions = vec![vec!["sp".into(), "v".into()]];
        assert_eq!(a.check_audience(&["v"]), Ok(()));
        a.audience_restrictions.push(vec!["sp".into()]);
        assert_eq!(a.check_audience(&["v"]), Err(ValidationError::WrongAudience));
        assert_eq!(a.check_not_expired(199, 0), Ok(()));
        assert_eq!(a.check_not_expired(200, 0), Err(ValidationError::Expired));
        assert_eq!(a.check_not_expired(200, 1), Ok(()));
        assert_eq!(a.check_age(130, 30), Err(ValidationError::TooOld));
        assert_eq!(a.check_not_before(40, 60), Ok(()));
        assert_eq!(a.check_not_before(39, 60), Err(ValidationError::NotYetValid));
        let cache = ReplayCache::new(1);
        assert_eq!(cache.check_and_record(&a, 150, 0), Ok(()));
        assert_eq!(cache.check_and_record(&a, 150, 0), Err(ValidationError::Replayed));
        assert_eq!(cache.check_and_record(&a, 201, 0), Ok(()), "forgotten after its expiry");
    }
}
