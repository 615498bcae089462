//! Errors of pbe-core: one enum for the crate, one sub-enum per failure family.
//!
//! Untrusted input (bytes, policy text) fails with [`Error::Decode`], [`Error::Policy`],
//! [`Error::Scheme`] or [`Error::Envelope`]; [`Error::Misuse`] is reserved for a caller's
//! mistake in the order or parameters of calls, never for anything an attacker controls.

use thiserror::Error as ThisError;

pub use crate::policy::PolicyError;
use crate::suite::SuiteId;

/// Any failure of pbe-core.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Malformed bytes or text form of a key, key bundle or ciphertext.
    #[error("malformed input: {0}")]
    Decode(#[from] DecodeError),
    /// A policy text or disclosure policy is invalid.
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
    /// The scheme refused: keys do not satisfy the policy, belong to different identities, …
    #[error("{0}")]
    Scheme(#[from] SchemeError),
    /// The symmetric layer refused: the ciphertext or its header was modified, or the
    /// recovered key is wrong (keys of another identity combined with ours).
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    /// The caller used the API wrongly (a bug in the caller, never caused by input data).
    #[error("API misuse: {0}")]
    Misuse(&'static str),
}

/// A wire-format defect, naming the structure that failed.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends before the named field.
    #[error("truncated: input ends inside the {0}")]
    Truncated(&'static str),
    /// Bytes remain after the named structure.
    #[error("trailing data after the {0}")]
    TrailingData(&'static str),
    /// The input does not start with the pbe-core magic bytes.
    #[error("not a pbe-core object (bad magic bytes)")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    /// An object of another kind (e.g. a key where a ciphertext was expected).
    #[error("expected a {expected}, found a {found}")]
    UnexpectedKind {
        /// What the caller asked for.
        expected: &'static str,
        /// What the bytes say they are.
        found: &'static str,
    },
    /// An unknown object kind byte.
    #[error("unknown object kind {0}")]
    UnknownKind(u8),
    /// A suite id this build does not know.
    #[error("unknown pairing suite id {0}")]
    UnknownSuite(u8),
    /// A valid object of another suite than the one expected.
    #[error("pairing suite mismatch: expected {expected}, found {found}")]
    SuiteMismatch {
        /// The suite the caller works in.
        expected: SuiteId,
        /// The suite named by the bytes.
        found: SuiteId,
    },
    /// A list longer than its maximum.
    #[error("too many {what}: {found} (maximum {max})")]
    TooMany {
        /// The list.
        what: &'static str,
        /// Its maximum length.
        max: usize,
        /// The length found.
        found: usize,
    },
    /// A list that may not be empty.
    #[error("empty {0}")]
    Empty(&'static str),
    /// A group element that is malformed, off the curve or outside the prime-order subgroup.
    #[error("invalid group element in the {0}")]
    InvalidGroupElement(&'static str),
    /// A scalar that is not a canonical field element.
    #[error("invalid scalar in the {0}")]
    InvalidScalar(&'static str),
    /// A text field that is not UTF-8 or not a valid identifier.
    #[error("invalid text in the {0}")]
    InvalidText(&'static str),
    /// The text form is not unpadded base64url.
    #[error("not valid base64url text")]
    InvalidBase64,
    /// The ciphertext's policy text is not a valid policy.
    #[error("the ciphertext's policy is invalid: {0}")]
    InvalidPolicy(PolicyError),
    /// The number of ciphertext rows differs from the policy's LSSS rows.
    #[error("ciphertext has {found} rows but its policy has {expected}")]
    RowCountMismatch {
        /// Rows the policy compiles to.
        expected: usize,
        /// Rows present.
        found: usize,
    },
    /// The same attribute twice in one key bundle.
    #[error("duplicate attribute in the key bundle")]
    DuplicateAttribute,
}

/// The scheme's refusals.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeError {
    /// The keys given do not satisfy the ciphertext's policy.
    #[error(
        "the keys do not satisfy the policy (keys given: {attributes} attributes from authorities [{authorities}])"
    )]
    NotSatisfied {
        /// Number of attribute keys offered.
        attributes: usize,
        /// Their authorities, comma-separated.
        authorities: String,
    },
    /// Key bundles for different `(UID, SESSIONID)` pairs cannot be combined (collusion).
    #[error("key bundles belong to different users or sessions and cannot be combined")]
    MixedIdentities,
    /// No key bundle was given.
    #[error("no keys given")]
    NoKeys,
    /// The policy names an authority whose public key was not given.
    #[error("no public key for authority '{0}'")]
    UnknownAuthority(String),
    /// An attribute issued by an authority other than the issuing one.
    #[error("attribute '{attribute}' does not belong to authority '{authority}'")]
    ForeignAttribute {
        /// The attribute.
        attribute: String,
        /// The authority asked to issue it.
        authority: String,
    },
    /// Two public keys for one authority name.
    #[error("two different public keys for authority '{0}'")]
    DuplicateAuthority(String),
    /// Objects of different pairing suites.
    #[error("objects of different pairing suites cannot be combined ({0} and {1})")]
    MixedSuites(SuiteId, SuiteId),
}

/// The symmetric layer's refusals.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// AES-GCM authentication failed: the ciphertext or its header was modified, or the keys
    /// recovered a wrong session key.
    #[error("decryption failed: the ciphertext was modified or the keys do not belong together")]
    AuthenticationFailed,
    /// The payload is larger than AES-GCM allows.
    #[error("payload too large for AES-GCM")]
    PayloadTooLarge,
}

/// Result alias of the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
