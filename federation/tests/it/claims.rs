//! `federation::claims` through a real signature: the claims the home IdP writes are signed
//! by libxmlsec1, verified, and read back unchanged; a signed assertion whose claims break the
//! rules is refused after verification (the signature does not make a hostile name good).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use federation::assertion::AttributeValues;
use federation::claims::{
    pii_digest, Claims, ClaimsError, PII_REF_ATTRIBUTE, SUITE_ATTRIBUTE, TAT_ATTRIBUTE,
};
use federation::fuzzing;
use federation::verify::{UnverifiedAssertion, DEFAULT_MAX_XML_BYTES};
use pbe_core::SuiteId;

fn pii_ref() -> String {
    federation::pii::PiiRef { expires: fuzzing::NOW + 3600, mac: [9; 32] }.to_text()
}

fn sign_and_read(attributes: Vec<AttributeValues>) -> Result<Claims, ClaimsError> {
    let signed = fuzzing::signed_response(attributes, 7);
    let verified = UnverifiedAssertion::parse_response(&signed.xml, DEFAULT_MAX_XML_BYTES)
        .unwrap()
        .verify(&fuzzing::trust())
        .unwrap();
    Claims::read(&verified)
}

#[test]
fn write_sign_verify_read_round_trip() {
    for suite in [SuiteId::Bn254, SuiteId::Bls12_381] {
        let claims = Claims {
            suite,
            sealed_tat: "sealed-tat-text".into(),
            pii: [
                (
                    "lastname".to_owned(),
                    pii_digest(&fuzzing::ciphertext("country:eu@home", b"Tri", 1).into_bytes()),
                ),
                ("addr.home-1".to_owned(), pii_digest(b"ct<&>")),
            ]
            .into(),
            pii_ref: pii_ref(),
        };
        let mut attributes = vec![AttributeValues::basic("groups", vec!["staff".into()])];
        attributes.extend(claims.attributes().unwrap());
        assert_eq!(sign_and_read(attributes).unwrap(), claims);
    }
}

#[test]
fn signed_but_hostile_claims_are_refused() {
    let base = || {
        vec![
            AttributeValues::basic(TAT_ATTRIBUTE, vec!["t".into()]),
            AttributeValues::basic(SUITE_ATTRIBUTE, vec!["bn254".into()]),
            AttributeValues::basic(PII_REF_ATTRIBUTE, vec![pii_ref()]),
        ]
    };
    let with = |name: &str, values: &[&str]| {
        let mut a = base();
        a.push(AttributeValues::basic(name, values.iter().map(|v| (*v).to_owned()).collect()));
        a
    };
    let d = pii_digest(b"ct");
    assert_eq!(sign_and_read(with("pii:../secret", &[&d])), Err(ClaimsError::BadName));
    assert_eq!(sign_and_read(with("pii:LastName", &[&d])), Err(ClaimsError::BadName));
    assert!(matches!(sign_and_read(with("pii:x", &[&d, &d])), Err(ClaimsError::Duplicate(_))));
    // A ciphertext where a digest belongs (the pre-issue-15 form) is refused, signed or not.
    let ct = fuzzing::ciphertext("country:eu@home", b"Tri", 1).to_text();
    assert_eq!(sign_and_read(with("pii:lastname", &[&ct])), Err(ClaimsError::BadDigest));
    let mut two = with("pii:home_addr", &[&d]);
    two.push(AttributeValues::basic("pii:home-addr", vec![d.clone()]));
    assert!(matches!(sign_and_read(two), Err(ClaimsError::Duplicate(_))));
    // No suite: refused, never defaulted.
    let no_suite = vec![AttributeValues::basic(TAT_ATTRIBUTE, vec!["t".into()])];
    assert_eq!(sign_and_read(no_suite), Err(ClaimsError::Missing(SUITE_ATTRIBUTE)));
    let mut bad_suite = vec![AttributeValues::basic(TAT_ATTRIBUTE, vec!["t".into()])];
    bad_suite.push(AttributeValues::basic(SUITE_ATTRIBUTE, vec!["BLS12_381".into()]));
    assert_eq!(sign_and_read(bad_suite), Err(ClaimsError::UnknownSuite));
}
