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
//!    or, for a Response document, the `samlp:Response` itself, whose one Assertion child it
//!    then covers (the three shapes IdPs use: assertion signed, Response signed, both; with
//!    both, every signature must verify). The assertion's `Issuer` must be the IdP whose
//!    certificate verified it (and a signed Response's own `Issuer`, when present, too); a
//!    signed assertion found anywhere else (wrapped in `Advice`, `ds:Object`, …) is refused.
//!    A bare assertion (RFC 7522) must itself be signed.
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
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | `mod.rs` | the two types: [`UnverifiedAssertion`] (pre-scanned) → [`VerifiedAssertion`] (signature checked), and what the signature covers |
//! | `prescan` | the quick-xml pass that runs before libxml sees anything |
//! | `trust` | the [`TrustStore`] of IdP certificates, and reading them from metadata |
//! | `checks` | the relying party's checks on a verified assertion (time, audience, bearer) |
//! | `replay` | the [`ReplayCache`] |
//! | `error` | [`ValidationError`], [`TrustError`] |

mod checks;
mod error;
mod prescan;
mod replay;
mod trust;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use samael::crypto::{AllowedSignatureAlgorithm, ReduceMode};

use crate::assertion::CM_BEARER;
pub use checks::{BearerConfirmation, InResponseTo};
pub use error::{TrustError, ValidationError};
use prescan::{prescan, Root};
pub use replay::ReplayCache;
pub use trust::{idp_metadata_certificates, TrustStore, MAX_CERTS_PER_IDP, MAX_ENTITY_ID_LEN};

/// Default size limit of an XML document given to [`UnverifiedAssertion::parse`], bytes.
pub const DEFAULT_MAX_XML_BYTES: usize = 512 * 1024;

/// Whether `xml` passes the pre-scan every SAML document passes before libxml or samael sees
/// it (well-formed, no DOCTYPE, UTF-8, at most `max_bytes`): for other SAML documents read
/// from outside, such as SP metadata.
pub(crate) fn passes_prescan(xml: &str, max_bytes: usize) -> bool {
    prescan(xml, max_bytes).is_ok()
}
/// Verifies every XML signature of `xml` against any of `certs_der` (X.509 DER: the
/// certificates the caller trusts for the claimed signer, tried in order) with only `allowed`
/// algorithms, and returns what `mode` says (samael's `reduce_xml_to_signed_with_allowed_algorithms`).
/// Each certificate's key is decoded once per process (bounded, keyed by the SHA-256 of the
/// DER): the cache trusts nothing by itself, only `certs_der` are tried.
pub fn reduce_to_signed<C: AsRef<[u8]>>(
    xml: &str,
    certs_der: &[C],
    mode: ReduceMode,
    allowed: Option<&[AllowedSignatureAlgorithm]>,
) -> Result<String, samael::crypto::CryptoError> {
    crate::key_cache::reduce_xml_to_signed(xml, certs_der, mode, allowed)
}

/// Default clock-skew allowance, seconds.
pub const DEFAULT_CLOCK_SKEW: i64 = 60;

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

/// The `Value` of a success `StatusCode`.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// An assertion (or a response carrying one) that passed the pre-scan but whose signature is
/// not checked yet. Nothing in it can be read except the claimed issuer.
#[derive(Debug)]
pub struct UnverifiedAssertion<'a> {
    xml: &'a str,
    claimed_issuer: String,
    /// The `ID` the signed assertion must have: the root's (bare assertion) or the one
    /// Assertion child's (response).
    expected_id: String,
    /// What the document is: a bare assertion, or a Response (then the Response itself may be
    /// what is signed).
    root: Root,
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
                [Some(v)] => return Err(ValidationError::StatusNotSuccess(error::status_name(v))),
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
        Ok(UnverifiedAssertion { xml, claimed_issuer, expected_id, root })
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
        let certs: Vec<&[u8]> = certs.iter().map(samael::crypto::CertificateDer::der_data).collect();
        let xml = self.xml;
        let reduced = catch_unwind(AssertUnwindSafe(|| {
            reduce_to_signed(xml, &certs, ReduceMode::PreDigest, Some(ALLOWED_ALGORITHMS))
        }))
        .map_err(|_| ValidationError::Malformed("the signature could not be processed"))?
        .map_err(|_| ValidationError::BadSignature)?;
        // The pre-digest root must be an Assertion, or — for a Response document only — a
        // Response whose one direct Assertion child is then covered by the Response's signature
        // (SAML core §5.2; the shape many IdPs use, alone or with the assertion also signed:
        // samael then verifies every signature and hands back the Response's pre-digest).
        let scan = prescan(&reduced, usize::MAX).map_err(|_| ValidationError::SignedContentMismatch)?;
        let parsed = match (scan.root, self.root) {
            (Some(Root::Assertion), _) => catch_unwind(|| reduced.parse::<samael::schema::Assertion>())
                .map_err(|_| ValidationError::Malformed("assertion"))?
                .map_err(|_| ValidationError::Malformed("assertion"))?,
            (Some(Root::Response), Root::Response) => {
                // Exactly one Assertion child, the one the document names, and no encrypted
                // one beside it; the signed Response's own Issuer, when given, is the IdP's.
                if scan.child_assertion_ids.as_slice() != [Some(self.expected_id.clone())]
                    || scan.claimed_issuer.as_deref().is_some_and(|i| i != self.claimed_issuer)
                {
                    return Err(ValidationError::SignedContentMismatch);
                }
                let response = catch_unwind(|| reduced.parse::<samael::schema::Response>())
                    .map_err(|_| ValidationError::Malformed("response"))?
                    .map_err(|_| ValidationError::Malformed("response"))?;
                if response.encrypted_assertion.is_some() {
                    return Err(ValidationError::SignedContentMismatch);
                }
                response.assertion.ok_or(ValidationError::Missing("Assertion"))?
            }
            _ => return Err(ValidationError::SignedContentMismatch),
        };
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
}
