//! Errors of the policy language, the attribute syntax and the disclosure-policy compiler.

use core::fmt;

/// Why a policy, attribute or disclosure policy was rejected.
///
/// Every error that comes from parsing policy *text* carries the byte offset of the offending
/// token, so a user can be pointed at it; errors that can also arise from policies built in code
/// (empty ranges, bad thresholds, limits) carry `position: None` in that case. Variants are cheap
/// to clone and compare so tests can match them exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A token appeared where the grammar expected something else.
    #[error("at byte {position}: expected {expected} but found '{found}'")]
    Syntax {
        /// Byte offset of the unexpected token in the policy text.
        position: usize,
        /// What the grammar allowed at this point.
        expected: &'static str,
        /// The text of the unexpected token (truncated when long).
        found: String,
    },
    /// The text ended while the grammar still expected something.
    #[error("unexpected end of policy: expected {expected}")]
    UnexpectedEnd {
        /// What the grammar still needed.
        expected: &'static str,
    },
    /// An attribute name, value or authority is empty, too long, or contains a character
    /// outside `[a-z0-9_.-]` (after lower-casing).
    #[error(
        "invalid {kind} '{value}': expected 1 to {} characters from a-z, 0-9, '_', '.', '-'",
        crate::attribute::max_identifier_len(kind)
    )]
    InvalidIdentifier {
        /// Which part was invalid (`"name"`, `"value"`, `"authority"`, `"domain"`, …).
        kind: &'static str,
        /// The rejected text (truncated when long).
        value: String,
    },
    /// A number in a range or threshold is neither a decimal integer nor a `YYYY-MM-DD` date,
    /// or does not fit in 64 bits.
    #[error("at byte {position}: expected an integer or a YYYY-MM-DD date but found '{text}'")]
    InvalidNumber {
        /// Byte offset of the number in the text it was parsed from.
        position: usize,
        /// The rejected text (truncated when long).
        text: String,
    },
    /// A `YYYY-MM-DD` date does not exist (`2026-02-30`) or lies before 1970-01-01.
    #[error("at byte {position}: '{text}' is not a valid date on or after 1970-01-01")]
    InvalidDate {
        /// Byte offset of the date in the text it was parsed from.
        position: usize,
        /// The rejected text (truncated when long).
        text: String,
    },
    /// A range contains no value: `x@a < 0`, `x@a in [5, 3]`, `x@a > 65535`.
    #[error("{}the range is empty", At(*.position))]
    EmptyRange {
        /// Byte offset of the range in the policy text, if it came from text.
        position: Option<usize>,
    },
    /// A range bound is not below `2^W` (W = [`crate::segtree::DEFAULT_WIDTH`]).
    #[error("{}{value} is out of range: bounds must be at most {max}", At(*.position))]
    OutOfRange {
        /// Byte offset of the bound in the policy text, if it came from text.
        position: Option<usize>,
        /// The rejected bound.
        value: u64,
        /// The largest allowed bound, `2^W - 1`.
        max: u64,
    },
    /// A threshold `k of (p1, …, pn)` violates `1 <= k <= n <= 64` or has fewer than two
    /// children.
    #[error("{}invalid threshold {k} of {n}: need 1 <= k <= n <= {max} and n >= 2", At(*.position), max = crate::policy::MAX_THRESHOLD_CHILDREN)]
    Threshold {
        /// Byte offset of `k` in the policy text, if it came from text.
        position: Option<usize>,
        /// The number of children required.
        k: usize,
        /// The number of children given.
        n: usize,
    },
    /// The policy text, or the canonical text of a policy built in code, is longer than
    /// [`crate::policy::MAX_POLICY_LEN`].
    #[error("policy is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Length of the rejected text in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Gates or parentheses nest deeper than [`crate::policy::MAX_DEPTH`].
    #[error("{}policy nests deeper than {max} levels", At(*.position))]
    TooDeep {
        /// Byte offset where the limit was crossed, if the policy came from text.
        position: Option<usize>,
        /// The limit.
        max: usize,
    },
    /// The policy would compile to more than [`crate::policy::MAX_ROWS`] LSSS rows (each
    /// attribute is one row, each range one row per node of its segment-tree cover).
    #[error("{}policy needs more than {max} LSSS rows", At(*.position))]
    TooManyRows {
        /// Byte offset of the leaf that crossed the limit, if the policy came from text.
        position: Option<usize>,
        /// The limit.
        max: usize,
    },
    /// A policy built in code is not in the parser's normal form (an `And`/`Or` with a single
    /// child or with a child of its own kind), so its printed text would parse to a different
    /// tree and a different LSSS matrix. Build gates with [`crate::policy::Policy::and`] and
    /// [`crate::policy::Policy::or`].
    #[error("policy is not in normal form: {reason}")]
    NotNormalized {
        /// What is wrong.
        reason: &'static str,
    },
    /// An `And`, `Or` or threshold built in code has no children (never produced by the parser).
    #[error("{gate} gate without children")]
    EmptyGate {
        /// `"and"`, `"or"` or `"threshold"`.
        gate: &'static str,
    },
    /// A list in a disclosure policy that must not be empty is empty.
    #[error("disclosure policy field '{field}' must not be empty")]
    EmptyField {
        /// The field name (`"purposes"`, `"domains"` or `"domain_purposes.purposes"`).
        field: &'static str,
    },
    /// A disclosure policy gives purposes for a domain that is not in its `domains`.
    #[error("disclosure policy gives purposes for domain '{domain}', which is not in 'domains'")]
    UnlistedDomain {
        /// The domain (lower-cased).
        domain: String,
    },
    /// A disclosure policy gives purposes for one domain twice (keys differing only in case).
    #[error("disclosure policy gives purposes for domain '{domain}' twice")]
    DuplicateDomain {
        /// The domain (lower-cased).
        domain: String,
    },
    /// A disclosure policy sets neither `valid_until` nor `lifetime_days`.
    #[error("disclosure policy needs either 'valid_until' or 'lifetime_days'")]
    MissingValidity,
    /// A disclosure policy sets both `valid_until` and `lifetime_days`, which could disagree.
    #[error("disclosure policy sets both 'valid_until' and 'lifetime_days'; set only one")]
    ConflictingValidity,
    /// A disclosure policy has `lifetime_days = 0`, which would allow no day at all.
    #[error("disclosure policy 'lifetime_days' must be at least 1")]
    ZeroLifetime,
    /// A field of a disclosure policy failed to parse; `error` says why.
    #[error("disclosure policy field '{field}': {error}")]
    InField {
        /// The field name (`"valid_from"`, `"valid_until"`).
        field: &'static str,
        /// The underlying error (positions are relative to the field's text).
        error: Box<PolicyError>,
    },
}

/// Displays `at byte N: ` for `Some(N)` and nothing for `None`, so positionless errors from
/// policies built in code read naturally.
struct At(Option<usize>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(position) => write!(f, "at byte {position}: "),
            None => Ok(()),
        }
    }
}

/// Longest excerpt of user input quoted in an error: errors are shown to users and logged, and
/// echoing a 16 KiB token back helps nobody.
const MAX_EXCERPT_CHARS: usize = 32;

/// Shortens `text` to at most [`MAX_EXCERPT_CHARS`] characters (on a character boundary) for
/// quoting in an error message.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(MAX_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_position_expectation_and_token() {
        let e = PolicyError::Syntax { position: 14, expected: "')'", found: "and".into() };
        assert_eq!(e.to_string(), "at byte 14: expected ')' but found 'and'");
    }

    #[test]
    fn positionless_errors_omit_the_prefix() {
        assert_eq!(PolicyError::EmptyRange { position: None }.to_string(), "the range is empty");
        assert_eq!(
            PolicyError::EmptyRange { position: Some(3) }.to_string(),
            "at byte 3: the range is empty"
        );
    }

    #[test]
    fn identifier_errors_state_the_limit_of_their_kind() {
        let e = PolicyError::InvalidIdentifier { kind: "name", value: "a b".into() };
        assert_eq!(
            e.to_string(),
            "invalid name 'a b': expected 1 to 64 characters from a-z, 0-9, '_', '.', '-'"
        );
        let e = PolicyError::InvalidIdentifier { kind: "purpose", value: String::new() };
        assert!(e.to_string().contains("1 to 128 characters"));
    }

    #[test]
    fn excerpt_truncates_on_char_boundaries() {
        let long = "é".repeat(40);
        let short = excerpt(&long);
        assert_eq!(short.chars().count(), MAX_EXCERPT_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(excerpt("abc"), "abc");
    }
}
