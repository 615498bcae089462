//! SP metadata as third-party SP libraries write it (issue 16, item 6): the documents under
//! tests/data were produced by pysaml2 7.5.5 (`ns0:` prefixes, algorithm-support extensions)
//! and python3-saml 1.16.0 (`md:` prefixes, validUntil, cacheDuration) with
//! scripts/peers/saml_sp.py, and are read as an operator would import them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use federation::assertion::{ATTR_IS_MEMBER_OF, ATTR_MAIL};
use federation::sp_metadata::{read_sp_metadata, BINDING_REDIRECT};

const PYSAML2: &str = include_str!("../data/sp-metadata-pysaml2.xml");
const PYTHON3_SAML: &str = include_str!("../data/sp-metadata-python3-saml.xml");

#[test]
fn metadata_written_by_two_sp_libraries_is_read() {
    for (lib, xml) in [("pysaml2", PYSAML2), ("python3-saml", PYTHON3_SAML)] {
        let md = read_sp_metadata(xml).unwrap_or_else(|e| panic!("{lib}: {e}"));
        assert!(md.entity_id.starts_with("https://peer-"), "{lib}: {}", md.entity_id);
        assert_eq!(md.acs_urls.len(), 1, "{lib}");
        assert!(md.acs_urls[0].ends_with("/acs"), "{lib}");
        assert_eq!(md.signing_certificates.len(), 1, "{lib}");
        assert!(md.authn_requests_signed, "{lib}");
        assert_eq!(md.single_logout.len(), 1, "{lib}");
        assert_eq!(md.single_logout[0].binding, BINDING_REDIRECT, "{lib}");
        let mut wanted = md.requested_attributes.clone();
        wanted.sort();
        assert_eq!(wanted, [ATTR_MAIL, ATTR_IS_MEMBER_OF], "{lib}");
    }
}

#[test]
fn hostile_and_broken_metadata_is_refused_with_a_reason() {
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "not well-formed"),
        ("<md:EntityDescriptor".into(), "not well-formed"),
        (format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{PYTHON3_SAML}"), "DOCTYPE"),
        (PYTHON3_SAML.replace("SPSSODescriptor", "IDPSSODescriptor"), "SPSSODescriptor"),
        (PYTHON3_SAML.replace("entityID=\"https://peer-onelogin.example/sp\"", ""), "entityID"),
        (PYTHON3_SAML.replace("bindings:HTTP-POST\"", "bindings:HTTP-Artifact\""), "HTTP-POST"),
        (format!("{PYTHON3_SAML}{}", " ".repeat(600 * 1024)), "512 KiB"),
        ("<a>\u{0}</a>".into(), "not well-formed"),
        (PYSAML2[..PYSAML2.len() / 2].to_owned(), "not well-formed"),
    ];
    for (xml, why) in cases {
        let err = read_sp_metadata(&xml).expect_err(why).to_string();
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_or_a_reading_never_a_panic() {
    for xml in [PYSAML2, PYTHON3_SAML] {
        let bytes = xml.as_bytes();
        for cut in (0..bytes.len()).step_by(37) {
            let _ = read_sp_metadata(&String::from_utf8_lossy(&bytes[..cut]));
        }
        for at in (0..bytes.len()).step_by(53) {
            for flip in [b'<', b'>', b'"', b'&', b'/', 0u8, b'x'] {
                let mut m = bytes.to_vec();
                m[at] = flip;
                let _ = read_sp_metadata(&String::from_utf8_lossy(&m));
            }
        }
    }
}

#[test]
fn the_default_acs_comes_first_and_other_bindings_are_skipped() {
    let xml = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example">
      <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/a" index="0"/>
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example/art" index="1" isDefault="true"/>
        <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/b" index="2" isDefault="true"/>
      </SPSSODescriptor></EntityDescriptor>"#;
    let md = read_sp_metadata(xml).unwrap();
    assert_eq!(md.acs_urls, ["https://sp.example/b", "https://sp.example/a"]);
    assert!(md.signing_certificates.is_empty() && !md.authn_requests_signed);
    assert!(md.requested_attributes.is_empty() && md.single_logout.is_empty());
}
