//! The idaas claims of a PBE assertion, as one type: the pairing suite, the sealed Time Access
//! Token and the `pii:*` ciphertexts. The home IdP writes them through [`Claims::attributes`];
//! every relying party (the web agent's ACS and propagation ingress) reads them back with
//! [`Claims::read`] from a [`VerifiedAssertion`], so what is read is only what the IdP signed.
//!
//! The rule for PII attribute names lives here once ([`is_pii_name`], [`fold_header_name`]):
//! the home IdP checks uploads with it and the web agent checks its `claims_mapping` with it,
//! so a name one side accepts can never be one the other side drops.
//!
//! # Wire form (docs/wire-format.md)
//!
//! | SAML attribute | value |
//! |---|---|
//! | `idaas:suite` | the suite's canonical name (`bls12-381`, `bn254`, `bls24-479`, `bls48-581`) |
//! | `idaas:tat` | the TAT, HPKE-sealed to the SP ([`crate::seal`]) |
//! | `pii:NAME` | one PII ciphertext, base64url text (`NAME` as [`is_pii_name`]) |
//!
//! Each claim has exactly one value. Other attributes (`groups`, `email`, unknown `idaas:*`
//! claims of a newer IdP) are not claims and are left to the caller.

use std::collections::BTreeMap;

use pbe_core::SuiteId;

use crate::assertion::AttributeValues;
use crate::verify::VerifiedAssertion;

/// Attribute name prefix of PII ciphertexts (`pii:lastname`).
pub const PII_PREFIX: &str = "pii:";
/// Attribute name of the sealed Time Access Token.
pub const TAT_ATTRIBUTE: &str = "idaas:tat";
/// Attribute name of the ABE suite of the ciphertexts and TAT.
pub const SUITE_ATTRIBUTE: &str = "idaas:suite";
/// Longest PII attribute name, bytes.
pub const MAX_PII_NAME_LEN: usize = 64;
/// Most PII ciphertexts per person (the home IdP's cap on upload; a reader refuses more, so
/// a hostile assertion cannot make the agent decode an unbounded number of ciphertexts).
pub const MAX_PII: usize = 64;

/// Whether `name` may name a PII attribute: `[a-z0-9_.-]{1,64}`, not `.` or `..` (names
/// become file-like path segments at the home IdP's API and HTTP header suffixes at the
/// agent). No case folding: `LastName` is refused, not lowered.
pub fn is_pii_name(name: &str) -> bool {
    (1..=MAX_PII_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
        && name != "."
        && name != ".."
}

/// The form of a PII name as an HTTP header sees it: `_` and `-` are one character (and
/// CGI-style backends fold them anyway). Two of a person's names must never fold alike, or
/// the agent would pass one header and lose a value.
pub fn fold_header_name(name: &str) -> String {
    name.replace('_', "-")
}

/// Why an assertion's claims were refused. Each names the claim, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// A required claim is absent (or has no value).
    #[error("the assertion has no {0} claim")]
    Missing(&'static str),
    /// A claim has more than one value, or two PII names become the same header.
    #[error("the {0} claim is given more than once")]
    Duplicate(String),
    /// `idaas:suite` names no suite this build knows (or not in its canonical form).
    #[error("the idaas:suite claim names an unknown pairing suite")]
    UnknownSuite,
    /// A `pii:` attribute whose name breaks [`is_pii_name`].
    #[error("a pii: claim has a name outside [a-z0-9_.-]{{1,64}}")]
    BadName,
    /// More than [`MAX_PII`] PII claims.
    #[error("more than {MAX_PII} pii: claims")]
    TooMany,
}

/// The idaas claims of one assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The pairing suite of the TAT and every ciphertext.
    pub suite: SuiteId,
    /// The TAT, sealed to the SP (HPKE text, see [`crate::seal`]).
    pub sealed_tat: String,
    /// PII attribute name (without `pii:`) → ciphertext text.
    pub pii: BTreeMap<String, String>,
}

impl Claims {
    /// The SAML attributes that carry these claims, in the order the IdP writes them (PII,
    /// then the TAT, then the suite). Refuses what a reader would refuse, so the IdP cannot
    /// sign an assertion its relying parties throw away.
    pub fn attributes(&self) -> Result<Vec<AttributeValues>, ClaimsError> {
        check_pii_names(self.pii.keys().map(String::as_str))?;
        let mut out: Vec<AttributeValues> = self
            .pii
            .iter()
            .map(|(name, ct)| AttributeValues {
                name: format!("{PII_PREFIX}{name}"),
                values: vec![ct.clone()],
            })
            .collect();
        out.push(AttributeValues { name: TAT_ATTRIBUTE.into(), values: vec![self.sealed_tat.clone()] });
        out.push(AttributeValues { name: SUITE_ATTRIBUTE.into(), values: vec![self.suite.name().into()] });
        Ok(out)
    }

    /// Reads the claims of a verified assertion.
    ///
    /// # Security
    /// Reads only signed content (a [`VerifiedAssertion`]). `idaas:suite` and `idaas:tat` are
    /// required (there is no default suite: an assertion that does not say its suite is
    /// refused rather than guessed); each claim must have exactly one value; every `pii:`
    /// name must pass [`is_pii_name`] and no two may fold to the same header; at most
    /// [`MAX_PII`] PII claims.
    pub fn read(assertion: &VerifiedAssertion) -> Result<Claims, ClaimsError> {
        Self::from_attributes(assertion.attributes())
    }

    /// [`Claims::read`] over an attribute map (name → values).
    fn from_attributes(attributes: &BTreeMap<String, Vec<String>>) -> Result<Claims, ClaimsError> {
        let suite_text = single(attributes, SUITE_ATTRIBUTE)?;
        // Only the canonical name: the IdP writes `SuiteId::name`, and a lenient parse
        // (aliases, case) would let two spellings of one claim exist on the wire.
        let suite = SuiteId::from_name(suite_text)
            .filter(|s| s.name() == suite_text)
            .ok_or(ClaimsError::UnknownSuite)?;
        let sealed_tat = single(attributes, TAT_ATTRIBUTE)?.to_owned();
        let mut pii = BTreeMap::new();
        for (attr, values) in attributes.iter().filter(|(n, _)| n.starts_with(PII_PREFIX)) {
            let name = &attr[PII_PREFIX.len()..];
            if !is_pii_name(name) {
                return Err(ClaimsError::BadName);
            }
            let value = match values.as_slice() {
                [one] if !one.is_empty() => one.clone(),
                [] | [_] => return Err(ClaimsError::Missing("pii:")),
                _ => return Err(ClaimsError::Duplicate(attr.clone())),
            };
            pii.insert(name.to_owned(), value);
            if pii.len() > MAX_PII {
                return Err(ClaimsError::TooMany);
            }
        }
        check_pii_names(pii.keys().map(String::as_str))?;
        Ok(Claims { suite, sealed_tat, pii })
    }
}

/// Every name passes [`is_pii_name`], no two fold alike, at most [`MAX_PII`].
fn check_pii_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), ClaimsError> {
    let mut folded = std::collections::BTreeSet::new();
    for name in names {
        if !is_pii_name(name) {
            return Err(ClaimsError::BadName);
        }
        if !folded.insert(fold_header_name(name)) {
            return Err(ClaimsError::Duplicate(format!("{PII_PREFIX}{name}")));
        }
    }
    if folded.len() > MAX_PII {
        return Err(ClaimsError::TooMany);
    }
    Ok(())
}

/// The one non-empty value of a required claim.
fn single<'a>(
    attributes: &'a BTreeMap<String, Vec<String>>,
    name: &'static str,
) -> Result<&'a str, ClaimsError> {
    match attributes.get(name).map(Vec::as_slice) {
        Some([one]) if !one.is_empty() => Ok(one),
        Some([_, _, ..]) => Err(ClaimsError::Duplicate(name.into())),
        _ => Err(ClaimsError::Missing(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), v.iter().map(|s| (*s).to_owned()).collect())).collect()
    }

    fn sample() -> Claims {
        Claims {
            suite: SuiteId::Bn254,
            sealed_tat: "sealed".into(),
            pii: [("lastname".to_owned(), "ct1".to_owned()), ("addr.home-1".to_owned(), "ct2".to_owned())]
                .into(),
        }
    }

    fn as_map(a: &[AttributeValues]) -> BTreeMap<String, Vec<String>> {
        a.iter().map(|a| (a.name.clone(), a.values.clone())).collect()
    }

    #[test]
    fn names() {
        assert!(is_pii_name("lastname") && is_pii_name("addr.home-1") && is_pii_name(&"a".repeat(64)));
        for bad in ["", ".", "..", "../x", "<x>", "LastName", &"a".repeat(65), "a b", "a\0", "a:b", "é"] {
            assert!(!is_pii_name(bad), "{bad:?}");
        }
        assert_eq!(fold_header_name("home_addr"), fold_header_name("home-addr"));
        assert_ne!(fold_header_name("home.addr"), fold_header_name("home-addr"));
    }

    #[test]
    fn written_attributes_read_back() {
        let c = sample();
        assert_eq!(Claims::from_attributes(&as_map(&c.attributes().unwrap())).unwrap(), c);
    }

    #[test]
    fn missing_claims_are_refused() {
        let tat: (&str, &[&str]) = (TAT_ATTRIBUTE, &["t"]);
        let suite: (&str, &[&str]) = (SUITE_ATTRIBUTE, &["bn254"]);
        assert_eq!(Claims::from_attributes(&attrs(&[tat])), Err(ClaimsError::Missing(SUITE_ATTRIBUTE)));
        assert_eq!(Claims::from_attributes(&attrs(&[suite])), Err(ClaimsError::Missing(TAT_ATTRIBUTE)));
        assert_eq!(
            Claims::from_attributes(&attrs(&[suite, (TAT_ATTRIBUTE, &[""])])),
            Err(ClaimsError::Missing(TAT_ATTRIBUTE))
        );
        assert_eq!(
            Claims::from_attributes(&attrs(&[suite, tat, ("pii:x", &[])])),
            Err(ClaimsError::Missing("pii:"))
        );
        assert!(Claims::from_attributes(&attrs(&[suite, tat])).unwrap().pii.is_empty());
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let tat: (&str, &[&str]) = (TAT_ATTRIBUTE, &["t"]);
        let suite: (&str, &[&str]) = (SUITE_ATTRIBUTE, &["bn254"]);
        assert!(matches!(
            Claims::from_attributes(&attrs(&[suite, (TAT_ATTRIBUTE, &["a", "b"])])),
            Err(ClaimsError::Duplicate(_))
        ));
        assert!(matches!(
            Claims::from_attributes(&attrs(&[(SUITE_ATTRIBUTE, &["bn254", "bls12-381"]), tat])),
            Err(ClaimsError::Duplicate(_))
        ));
        assert!(matches!(
            Claims::from_attributes(&attrs(&[suite, tat, ("pii:x", &["a", "b"])])),
            Err(ClaimsError::Duplicate(_))
        ));
        // Two names one header apart.
        assert!(matches!(
            Claims::from_attributes(&attrs(&[
                suite,
                tat,
                ("pii:home_addr", &["a"]),
                ("pii:home-addr", &["b"])
            ])),
            Err(ClaimsError::Duplicate(_))
        ));
        let mut c = sample();
        c.pii.insert("addr.home_1".into(), "ct3".into());
        assert!(matches!(c.attributes(), Err(ClaimsError::Duplicate(_))));
    }

    #[test]
    fn hostile_names_and_suites_are_refused() {
        let tat: (&str, &[&str]) = (TAT_ATTRIBUTE, &["t"]);
        let suite: (&str, &[&str]) = (SUITE_ATTRIBUTE, &["bn254"]);
        for bad in ["pii:", "pii:..", "pii:../etc", "pii:LastName", "pii:a b", "pii:x\r\nSet-Cookie"] {
            assert_eq!(
                Claims::from_attributes(&attrs(&[suite, tat, (bad, &["ct"])])),
                Err(ClaimsError::BadName),
                "{bad:?}"
            );
        }
        for bad in ["BN254", "bn_254", "p-256", ""] {
            let r = Claims::from_attributes(&attrs(&[(SUITE_ATTRIBUTE, &[bad]), tat]));
            assert!(matches!(r, Err(ClaimsError::UnknownSuite | ClaimsError::Missing(_))), "{bad:?}");
        }
        let mut c = sample();
        c.pii.insert("../x".into(), "ct".into());
        assert!(matches!(c.attributes(), Err(ClaimsError::BadName)));
    }

    #[test]
    fn at_most_max_pii() {
        let mut c = sample();
        c.pii = (0..MAX_PII).map(|i| (format!("a{i}"), "ct".to_owned())).collect();
        let written = c.attributes().unwrap();
        assert_eq!(Claims::from_attributes(&as_map(&written)).unwrap(), c);
        c.pii.insert("one-more".into(), "ct".into());
        assert!(matches!(c.attributes(), Err(ClaimsError::TooMany)));
        let mut map = as_map(&written);
        map.insert("pii:one-more".into(), vec!["ct".into()]);
        assert_eq!(Claims::from_attributes(&map), Err(ClaimsError::TooMany));
    }
}
