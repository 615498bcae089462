//! Why an assertion or a trusted IdP was refused.

#[cfg(doc)]
use super::ALLOWED_ALGORITHMS;
use super::MAX_CERTS_PER_IDP;

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
pub(super) fn status_name(value: &str) -> &'static str {
    match value.strip_prefix("urn:oasis:names:tc:SAML:2.0:status:") {
        Some("Success") => "Success",
        Some("Requester") => "Requester",
        Some("Responder") => "Responder",
        Some("VersionMismatch") => "VersionMismatch",
        _ => "unknown status code",
    }
}

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
