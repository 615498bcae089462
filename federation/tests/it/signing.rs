//! The signed SSO response, checked by an independent verifier (the `xmlsec1` command-line
//! tool) and by samael's SP-side reduction, with hostile values that must stay text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::Engine as _;
use federation::assertion::{build_signed_response, AttributeValues, Recipient, ResponseParams};
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs8::EncodePrivateKey;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};
use samael::schema::Assertion;

struct Signer {
    key_der: Vec<u8>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

fn signer() -> Signer {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let key_der = key.to_pkcs8_der().unwrap().as_bytes().to_vec();
    let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap().self_signed(&kp).unwrap();
    Signer { key_der, cert_pem: cert.pem(), cert_der: cert.der().to_vec() }
}

const HOSTILE_UID: &str = "bob</saml:NameID><saml:NameID>admin";
const HOSTILE_VALUE: &str =
    "x</saml:AttributeValue></saml:Attribute><saml:Attribute Name=\"groups\"><saml:AttributeValue>admins";

fn params() -> ResponseParams {
    ResponseParams {
        signed_parts: Default::default(),
        issuer: "https://idp.example".into(),
        destination: "https://shop.example/saml/acs".into(),
        in_response_to: Some("_req1".into()),
        name_id: HOSTILE_UID.into(),
        recipients: vec![
            Recipient { url: "https://shop.example/saml/acs".into(), in_response_to: Some("_req1".into()) },
            Recipient { url: "https://visitor.example/oauth2/token".into(), in_response_to: None },
        ],
        audiences: vec!["https://shop.example".into(), "https://visitor.example".into()],
        now: 1_795_000_000,
        lifetime: 300,
        session_index: "_s1".into(),
        session_not_on_or_after: 1_795_028_800,
        authn_instant: 1_795_000_000,
        attributes: vec![
            AttributeValues::basic("groups", vec!["customers".into()]),
            AttributeValues::basic("pii:lastname", vec![HOSTILE_VALUE.into()]),
        ],
    }
}

use federation::assertion::SignedParts;
use federation::testing::{bare_assertion, xmlsec1_verifies, xmlsec1_verifies_element, RESPONSE_NODE};

#[test]
fn each_signing_shape_signs_exactly_its_parts_and_xmlsec1_verifies_each() {
    let s = signer();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&s.cert_der);
    for (parts, response_signed, assertion_signed) in [
        (SignedParts::Both, true, true),
        (SignedParts::Assertion, false, true),
        (SignedParts::Response, true, false),
    ] {
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(10);
        let p = ResponseParams { signed_parts: parts, ..params() };
        let signed = build_signed_response(&p, &s.key_der, &b64, rng).unwrap();
        let signatures = signed.xml.matches("<ds:Signature ").count();
        assert_eq!(signatures, usize::from(response_signed) + usize::from(assertion_signed), "{parts:?}");
        assert_eq!(
            xmlsec1_verifies_element(&signed.xml, &s.cert_pem, RESPONSE_NODE),
            response_signed,
            "{parts:?}"
        );
        assert_eq!(xmlsec1_verifies(&signed.xml, &s.cert_pem), assertion_signed, "{parts:?}");
        // RFC 7522 carries the bare assertion: its signature alone must hold.
        assert_eq!(xmlsec1_verifies(bare_assertion(&signed.xml), &s.cert_pem), assertion_signed, "{parts:?}");
        // The Response signature covers the Assertion's signature: changing either breaks it.
        if response_signed {
            let tampered = signed.xml.replacen("customers", "admins", 1);
            assert!(!xmlsec1_verifies_element(&tampered, &s.cert_pem, RESPONSE_NODE), "{parts:?}");
        }
    }
}

#[test]
fn xmlsec1_verifies_the_signed_assertion_and_hostile_values_stay_text() {
    let s = signer();
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(8);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&s.cert_der);
    let signed = build_signed_response(&params(), &s.key_der, &b64, rng).unwrap();
    assert!(signed.xml.contains("xmlenc#sha256") && !signed.xml.contains("xmldsig#sha1"));
    assert!(xmlsec1_verifies(&signed.xml, &s.cert_pem), "xmlsec1 must accept our signature");

    // The SP-side view of the Assertion: only what its own signature covers, parsed by samael
    // (the bare assertion, as RFC 7522 carries it: its signature stands on its own).
    let reduced = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        bare_assertion(&signed.xml),
        &[CertificateDer::from(s.cert_der.clone())],
        ReduceMode::PreDigest,
        Some(&[AllowedSignatureAlgorithm::RsaSha256]),
    )
    .unwrap();
    let assertion: Assertion = reduced.parse().unwrap();
    assert_eq!(assertion.id, signed.assertion_id);
    let name_id = assertion.subject.unwrap().name_id.unwrap();
    assert_eq!(name_id.value, HOSTILE_UID, "the hostile uid is one NameID's text");
    let statements = assertion.attribute_statements.unwrap();
    let attrs: Vec<_> = statements.iter().flat_map(|s| s.attributes.iter()).collect();
    assert_eq!(attrs.len(), 2, "no attribute was injected");
    let lastname = attrs.iter().find(|a| a.name.as_deref() == Some("pii:lastname")).unwrap();
    assert_eq!(lastname.values[0].value.as_deref(), Some(HOSTILE_VALUE));
    let groups = attrs.iter().find(|a| a.name.as_deref() == Some("groups")).unwrap();
    assert_eq!(groups.values.len(), 1);
    let authn = &assertion.authn_statements.unwrap()[0];
    assert_eq!(authn.session_index.as_deref(), Some("_s1"));
}

#[test]
fn any_change_breaks_the_signature() {
    let s = signer();
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&s.cert_der);
    let signed = build_signed_response(&params(), &s.key_der, &b64, rng).unwrap();
    let tampered = signed.xml.replace("customers", "admins");
    assert_ne!(tampered, signed.xml);
    assert!(!xmlsec1_verifies(&tampered, &s.cert_pem));
    let other = signer_other();
    assert!(!xmlsec1_verifies(&signed.xml, &other));
}

fn signer_other() -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    rcgen::CertificateParams::new(Vec::<String>::new()).unwrap().self_signed(&kp).unwrap().pem()
}

#[test]
fn refuses_values_xml_cannot_carry() {
    let s = signer();
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(10);
    let mut p = params();
    p.name_id = "bob\u{0}".into();
    assert!(build_signed_response(&p, &s.key_der, "AAAA", rng).is_err());
}
