//! The idaas claims of a PBE assertion, as one type: the pairing suite, the sealed Time Access
//! Token, the `pii:*` digests of the user's ciphertexts and the reference (`idaas:pii-ref`)
//! with which the service fetches those ciphertexts from the home IdP
//! ([`crate::pii`], issue 15 defect 4: the ciphertexts themselves no longer ride in the
//! assertion, so the assertion stays small at every security level). The home IdP writes them through [`Claims::attributes`];
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
//! | `pii:NAME` | `sha256:` + unpadded base64url of SHA-256 over the ciphertext's binary wire bytes ([`pii_digest`]; `NAME` as [`is_pii_name`]) |
//! | `idaas:pii-ref` | the fetch reference ([`crate::pii::PiiRef`]), 55 base64url characters |
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
/// Attribute name of the reference that fetches the ciphertexts from the home IdP.
pub const PII_REF_ATTRIBUTE: &str = "idaas:pii-ref";
/// Prefix of a PII digest claim value.
pub const DIGEST_PREFIX: &str = "sha256:";
/// Length of a PII digest claim value: `sha256:` and 43 base64url characters (32 bytes).
pub const DIGEST_LEN: usize = DIGEST_PREFIX.len() + 43;

/// The digest claim of one ciphertext: `sha256:` + unpadded base64url of SHA-256 over its
/// **binary** wire bytes (`pbe_core::wire`; not the text form, which is one encoding of them).
pub fn pii_digest(ciphertext: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "{DIGEST_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(ciphertext))
    )
}

/// Whether `value` is a digest claim: `sha256:` and the canonical unpadded base64url of 32
/// bytes (43 characters; non-canonical trailing bits are refused, so one digest has one text).
pub fn is_pii_digest(value: &str) -> bool {
    use base64::Engine as _;
    value.len() == DIGEST_LEN
        && value.strip_prefix(DIGEST_PREFIX).is_some_and(|b64| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).is_ok_and(|d| d.len() == 32)
        })
}
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
    /// A `pii:` value is not `sha256:` and 43 base64url characters.
    #[error("a pii: claim is not a sha256: digest")]
    BadDigest,
    /// `idaas:pii-ref` is not a well-formed reference.
    #[error("the idaas:pii-ref claim is malformed")]
    BadRef,
}

/// The idaas claims of one assertion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The pairing suite of the TAT and every ciphertext.
    pub suite: SuiteId,
    /// The TAT, sealed to the SP (HPKE text, see [`crate::seal`]).
    pub sealed_tat: String,
    /// PII attribute name (without `pii:`) → digest of its ciphertext ([`pii_digest`]).
    pub pii: BTreeMap<String, String>,
    /// The reference that fetches the ciphertexts from the home IdP ([`crate::pii::PiiRef`],
    /// text form).
    pub pii_ref: String,
}

impl Claims {
    /// The SAML attributes that carry these claims, in the order the IdP writes them (PII,
    /// then the TAT, the reference and the suite). Refuses what a reader would refuse, so the
    /// IdP cannot sign an assertion its relying parties throw away.
    pub fn attributes(&self) -> Result<Vec<AttributeValues>, ClaimsError> {
        check_pii_names(self.pii.keys().map(String::as_str))?;
        if !self.pii.values().all(|d| is_pii_digest(d)) {
            return Err(ClaimsError::BadDigest);
        }
        if !crate::pii::PiiRef::is_well_formed(&self.pii_ref) {
            return Err(ClaimsError::BadRef);
        }
        let mut out: Vec<AttributeValues> = self
            .pii
            .iter()
            .map(|(name, ct)| AttributeValues::basic(format!("{PII_PREFIX}{name}"), vec![ct.clone()]))
            .collect();
        out.push(AttributeValues::basic(TAT_ATTRIBUTE, vec![self.sealed_tat.clone()]));
        out.push(AttributeValues::basic(PII_REF_ATTRIBUTE, vec![self.pii_ref.clone()]));
        out.push(AttributeValues::basic(SUITE_ATTRIBUTE, vec![self.suite.name().into()]));
        Ok(out)
    }

    /// Reads the claims of a verified assertion.
    ///
    /// # Security
    /// Reads only signed content (a [`VerifiedAssertion`]). `idaas:suite`, `idaas:tat` and
    /// `idaas:pii-ref` (well formed) are required (there is no default suite: an assertion that does not say its suite is
    /// refused rather than guessed); each claim must have exactly one value; every `pii:`
    /// name must pass [`is_pii_name`] and no two may fold to the same header; at most
    /// [`MAX_PII`] PII claims, each a well-formed digest ([`is_pii_digest`]).
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
        let pii_ref = single(attributes, PII_REF_ATTRIBUTE)?.to_owned();
        if !crate::pii::PiiRef::is_well_formed(&pii_ref) {
            return Err(ClaimsError::BadRef);
        }
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
            if !is_pii_digest(&value) {
                return Err(ClaimsError::BadDigest);
            }
            pii.insert(name.to_owned(), value);
            if pii.len() > MAX_PII {
                return Err(ClaimsError::TooMany);
            }
        }
        check_pii_names(pii.keys().map(String::as_str))?;
        Ok(Claims { suite, sealed_tat, pii, pii_ref })
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
            pii: [
                ("lastname".to_owned(), pii_digest(b"ct1")),
                ("addr.home-1".to_owned(), pii_digest(b"ct2")),
            ]
            .into(),
            pii_ref: REF.with(Clone::clone),
        }
    }

    thread_local! {
        static REF: String = crate::pii::PiiRef { expires: 1, mac: [1; 32] }.to_text();
        static D: String = pii_digest(b"ct");
    }

    /// The attributes of a valid assertion without PII (suite, TAT, reference) plus `more`.
    fn base(more: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        let r = REF.with(Clone::clone);
        let mut m = attrs(&[(SUITE_ATTRIBUTE, &["bn254"]), (TAT_ATTRIBUTE, &["t"])]);
        m.insert(PII_REF_ATTRIBUTE.into(), vec![r]);
        m.extend(attrs(more));
        m
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
        assert_eq!(Claims::from_attributes(&base(&[("pii:x", &[])])), Err(ClaimsError::Missing("pii:")));
        assert_eq!(
            Claims::from_attributes(&attrs(&[suite, tat])),
            Err(ClaimsError::Missing(PII_REF_ATTRIBUTE))
        );
        assert!(Claims::from_attributes(&base(&[])).unwrap().pii.is_empty());
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
        let d = D.with(Clone::clone);
        assert!(matches!(
            Claims::from_attributes(&base(&[("pii:x", &[&d, &d])])),
            Err(ClaimsError::Duplicate(_))
        ));
        let mut two_refs = base(&[]);
        two_refs.get_mut(PII_REF_ATTRIBUTE).unwrap().push("x".into());
        assert!(matches!(Claims::from_attributes(&two_refs), Err(ClaimsError::Duplicate(_))));
        // Two names one header apart.
        assert!(matches!(
            Claims::from_attributes(&base(&[("pii:home_addr", &[&d]), ("pii:home-addr", &[&d])])),
            Err(ClaimsError::Duplicate(_))
        ));
        let mut c = sample();
        c.pii.insert("addr.home_1".into(), pii_digest(b"ct3"));
        assert!(matches!(c.attributes(), Err(ClaimsError::Duplicate(_))));
    }

    #[test]
    fn hostile_names_and_suites_are_refused() {
        let tat: (&str, &[&str]) = (TAT_ATTRIBUTE, &["t"]);
        let d = D.with(Clone::clone);
        for bad in ["pii:", "pii:..", "pii:../etc", "pii:LastName", "pii:a b", "pii:x\r\nSet-Cookie"] {
            assert_eq!(Claims::from_attributes(&base(&[(bad, &[&d])])), Err(ClaimsError::BadName), "{bad:?}");
        }
        for bad in ["BN254", "bn_254", "p-256", ""] {
            let r = Claims::from_attributes(&attrs(&[(SUITE_ATTRIBUTE, &[bad]), tat]));
            assert!(matches!(r, Err(ClaimsError::UnknownSuite | ClaimsError::Missing(_))), "{bad:?}");
        }
        let mut c = sample();
        c.pii.insert("../x".into(), d.clone());
        assert!(matches!(c.attributes(), Err(ClaimsError::BadName)));
    }

    #[test]
    fn only_sha256_digests_and_well_formed_references_are_read() {
        let d = D.with(Clone::clone);
        assert!(is_pii_digest(&d) && d.len() == DIGEST_LEN);
        let long = format!("{d}A");
        let padded = format!("{}=", &d[..d.len() - 1]);
        let sha1 = format!("sha1:{}", &d[7..]);
        // The last character of 43 carries 2 spare bits: a non-canonical spelling is refused.
        let noncanonical = format!("{}B", &d[..d.len() - 1]);
        for bad in ["ct", "sha256:", &long, &d[..d.len() - 1], &padded, &sha1, &noncanonical] {
            if bad == noncanonical && d.ends_with('B') {
                continue;
            }
            assert!(!is_pii_digest(bad), "{bad:?}");
            assert_eq!(
                Claims::from_attributes(&base(&[("pii:x", &[bad])])),
                Err(ClaimsError::BadDigest),
                "{bad:?}"
            );
        }
        let mut c = sample();
        c.pii.insert("x".into(), "ciphertext-text".into());
        assert!(matches!(c.attributes(), Err(ClaimsError::BadDigest)));
        let mut bad_ref = base(&[]);
        bad_ref.insert(PII_REF_ATTRIBUTE.into(), vec!["not-a-ref".into()]);
        assert_eq!(Claims::from_attributes(&bad_ref), Err(ClaimsError::BadRef));
        let mut c = sample();
        c.pii_ref = "x".into();
        assert!(matches!(c.attributes(), Err(ClaimsError::BadRef)));
    }

    #[test]
    fn at_most_max_pii() {
        let mut c = sample();
        let d = D.with(Clone::clone);
        c.pii = (0..MAX_PII).map(|i| (format!("a{i}"), d.clone())).collect();
        let written = c.attributes().unwrap();
        assert_eq!(Claims::from_attributes(&as_map(&written)).unwrap(), c);
        c.pii.insert("one-more".into(), d.clone());
        assert!(matches!(c.attributes(), Err(ClaimsError::TooMany)));
        let mut map = as_map(&written);
        map.insert("pii:one-more".into(), vec![d]);
        assert_eq!(Claims::from_attributes(&map), Err(ClaimsError::TooMany));
    }
}
