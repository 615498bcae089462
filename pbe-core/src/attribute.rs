//! Attributes `name:value@authority`, the unit that authorities certify and policies test.

use core::fmt;
use core::str::FromStr;

use crate::policy::error::excerpt;
use crate::policy::PolicyError;

/// Longest attribute name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest attribute value, in bytes (values carry more, e.g. segment-tree node labels).
pub const MAX_VALUE_LEN: usize = 128;
/// Longest authority identifier, in bytes.
pub const MAX_AUTHORITY_LEN: usize = 64;

/// The length limit that applies to an identifier of the given `kind`.
///
/// Names and authorities (and disclosure-policy domains, which become authorities) are limited
/// to [`MAX_NAME_LEN`]/[`MAX_AUTHORITY_LEN`]; every other kind is an attribute value.
pub(crate) fn max_identifier_len(kind: &str) -> usize {
    match kind {
        "name" => MAX_NAME_LEN,
        "authority" | "domain" => MAX_AUTHORITY_LEN,
        _ => MAX_VALUE_LEN,
    }
}

/// Checks one part of an attribute and returns its canonical (ASCII lower-cased) form.
///
/// The part must be non-empty, consist of `[a-z0-9_.-]` after lower-casing, and respect the
/// length limit of its `kind`: `"name"` ≤ [`MAX_NAME_LEN`], `"authority"` and `"domain"` ≤
/// [`MAX_AUTHORITY_LEN`], anything else (`"value"`, `"purpose"`, …) ≤ [`MAX_VALUE_LEN`] bytes.
/// `kind` is only used for the limit and the error message.
///
/// Only ASCII is lower-cased: Unicode case folding maps some non-ASCII letters to ASCII (the
/// Kelvin sign becomes `k`), which would let two different inputs name the same attribute.
pub fn validate_identifier(kind: &'static str, s: &str) -> Result<String, PolicyError> {
    let valid = !s.is_empty()
        && s.len() <= max_identifier_len(kind)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(PolicyError::InvalidIdentifier { kind, value: excerpt(s) })
    }
}

/// An attribute `name:value@authority`: the authority `authority` certifies that the key holder
/// has `value` for `name`.
///
/// All three parts are canonical (lower-case `[a-z0-9_.-]+`, bounded length), so two attributes
/// are the same exactly when their [`Display`](fmt::Display) forms are equal; the scheme hashes
/// that form to the curve.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Attribute {
    name: String,
    value: String,
    authority: String,
}

impl Attribute {
    /// Builds an attribute, lower-casing and validating each part (see [`validate_identifier`]).
    pub fn new(name: &str, value: &str, authority: &str) -> Result<Self, PolicyError> {
        Ok(Self {
            name: validate_identifier("name", name)?,
            value: validate_identifier("value", value)?,
            authority: validate_identifier("authority", authority)?,
        })
    }

    /// Builds an attribute from parts the caller has already validated and lower-cased, so hot
    /// paths (segment-tree node labels) skip re-validation.
    pub(crate) fn from_validated(name: String, value: String, authority: String) -> Self {
        debug_assert!(validate_identifier("name", &name).as_deref() == Ok(name.as_str()));
        debug_assert!(validate_identifier("value", &value).as_deref() == Ok(value.as_str()));
        debug_assert!(validate_identifier("authority", &authority).as_deref() == Ok(authority.as_str()));
        Self { name, value, authority }
    }

    /// Parses the canonical form `name:value@authority` (parts are lower-cased and validated;
    /// no whitespace is allowed).
    pub fn parse(s: &str) -> Result<Self, PolicyError> {
        let Some((name, rest)) = s.split_once(':') else {
            return Err(PolicyError::UnexpectedEnd { expected: "':' after the attribute name" });
        };
        let Some((value, authority)) = rest.split_once('@') else {
            return Err(PolicyError::UnexpectedEnd { expected: "'@' after the attribute value" });
        };
        Self::new(name, value, authority)
    }

    /// The attribute name, e.g. `purpose`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attribute value, e.g. `current`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The authority that certifies the attribute, e.g. `salesforce`.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

impl fmt::Display for Attribute {
    /// Prints the canonical `name:value@authority`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.name, self.value, self.authority)
    }
}

impl FromStr for Attribute {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonical_form() {
        let a = Attribute::parse("Purpose:Current@SalesForce").unwrap();
        assert_eq!(a.name(), "purpose");
        assert_eq!(a.value(), "current");
        assert_eq!(a.authority(), "salesforce");
        assert_eq!(a.to_string(), "purpose:current@salesforce");
        assert_eq!(a.to_string().parse::<Attribute>().unwrap(), a);
    }

    #[test]
    fn accepts_all_allowed_characters() {
        let a = Attribute::new("a_b.c-9", "s0.20415", "x-y_z.0").unwrap();
        assert_eq!(a.to_string(), "a_b.c-9:s0.20415@x-y_z.0");
    }

    #[test]
    fn rejects_missing_separators() {
        assert!(matches!(Attribute::parse("name"), Err(PolicyError::UnexpectedEnd { .. })));
        assert!(matches!(Attribute::parse("name:value"), Err(PolicyError::UnexpectedEnd { .. })));
    }

    #[test]
    fn rejects_empty_parts() {
        for s in [":v@a", "n:@a", "n:v@", ":@"] {
            assert!(matches!(Attribute::parse(s), Err(PolicyError::InvalidIdentifier { .. })), "{s}");
        }
    }

    #[test]
    fn rejects_extra_separators_and_bad_characters() {
        for s in ["n:v:w@a", "n:v@a@b", "n v:x@a", "n:v@a ", "n:é@a", "n:v@\u{212a}"] {
            assert!(matches!(Attribute::parse(s), Err(PolicyError::InvalidIdentifier { .. })), "{s}");
        }
    }

    #[test]
    fn enforces_length_limits_per_part() {
        let long = |n| "x".repeat(n);
        assert!(Attribute::new(&long(64), &long(128), &long(64)).is_ok());
        assert_eq!(
            Attribute::new(&long(65), "v", "a"),
            Err(PolicyError::InvalidIdentifier { kind: "name", value: excerpt(&long(65)) })
        );
        assert!(Attribute::new("n", &long(129), "a").is_err());
        assert!(Attribute::new("n", "v", &long(65)).is_err());
    }

    #[test]
    fn validate_identifier_lowercases_and_names_the_kind() {
        assert_eq!(validate_identifier("purpose", "CuRrEnT").unwrap(), "current");
        assert_eq!(
            validate_identifier("domain", "sales force"),
            Err(PolicyError::InvalidIdentifier { kind: "domain", value: "sales force".into() })
        );
    }

    #[test]
    fn orders_by_name_then_value_then_authority() {
        let a = Attribute::new("a", "z", "z").unwrap();
        let b = Attribute::new("b", "a", "a").unwrap();
        assert!(a < b);
    }
}
