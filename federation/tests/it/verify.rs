//! `federation::verify` against assertions from two independent producers — the home IdP's
//! builder and the `xmlsec1` command-line tool — and against hostile variants of them:
//! signature wrapping, wrong signer, SHA-1, unsigned, DOCTYPE, truncated, garbage, oversized.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::Engine as _;
use federation::assertion::{build_signed_response, AttributeValues, Recipient, ResponseParams};
use federation::testing::{
    bare_assertion, strip_signature, xmlsec1_sign, Template, TestSigner, RSA_SHA1, RSA_SHA256, SHA1, SHA256,
};
use federation::verify::{
    idp_metadata_certificates, InResponseTo, TrustError, TrustStore, UnverifiedAssertion, ValidationError,
    VerifiedAssertion, DEFAULT_MAX_XML_BYTES,
};
use rand_chacha::rand_core::SeedableRng;

const IDP: &str = "https://idp.example";
const VISITOR: &str = "https://visitor.example";
const TOKEN: &str = "https://visitor.example/oauth2/token";
const ACS: &str = "https://shop.example/saml/acs";
const NOW: i64 = 1_795_000_000;

fn signer(seed: u64) -> TestSigner {
    TestSigner::new(seed)
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn params() -> ResponseParams {
    ResponseParams {
        signed_parts: Default::default(),
        issuer: IDP.into(),
        destination: ACS.into(),
        in_response_to: Some("_req1".into()),
        name_id: "bob".into(),
        recipients: vec![
            Recipient { url: ACS.into(), in_response_to: Some("_req1".into()) },
            Recipient { url: TOKEN.into(), in_response_to: None },
        ],
        audiences: vec!["https://shop.example".into(), VISITOR.into()],
        now: NOW,
        lifetime: 300,
        session_index: "_s1".into(),
        session_not_on_or_after: NOW + 8 * 3600,
        authn_instant: NOW - 10,
        attributes: vec![
            AttributeValues::basic("groups", vec!["customers".into(), "staff".into()]),
            AttributeValues::basic("pii:lastname", vec!["ct<&>".into()]),
        ],
    }
}

fn trust(s: &TestSigner) -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(IDP, vec![s.cert_der.clone()]).unwrap();
    t
}

fn home_assertion(s: &TestSigner) -> (String, String) {
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(11);
    let signed = build_signed_response(&params(), &s.key_der, &b64(&s.cert_der), rng).unwrap();
    (signed.xml, signed.assertion_id)
}

fn verify(xml: &str, t: &TrustStore) -> Result<VerifiedAssertion, ValidationError> {
    UnverifiedAssertion::parse(xml, DEFAULT_MAX_XML_BYTES)?.verify(t)
}

#[test]
fn verifies_the_home_idps_assertion_and_returns_what_is_signed() {
    let s = signer(1);
    let (response, id) = home_assertion(&s);
    let a = verify(bare_assertion(&response), &trust(&s)).unwrap();
    assert_eq!(a.issuer(), IDP);
    assert_eq!(a.id(), id);
    assert_eq!(a.issue_instant(), NOW);
    assert_eq!(a.name_id().value, "bob");
    assert_eq!(a.name_id().format.as_deref(), Some(federation::assertion::NAMEID_PERSISTENT));
    assert_eq!(a.session_index(), Some("_s1"));
    assert_eq!(a.session_not_on_or_after(), Some(NOW + 8 * 3600));
    assert_eq!(a.authn_instant(), Some(NOW - 10));
    assert_eq!((a.not_before(), a.not_on_or_after()), (Some(NOW - 60), Some(NOW + 300)));
    assert_eq!(a.audience_restrictions(), &[vec!["https://shop.example".to_owned(), VISITOR.to_owned()]]);
    assert_eq!(a.bearer_confirmations().len(), 2);
    assert_eq!(a.attribute("groups").unwrap(), &["customers".to_owned(), "staff".to_owned()]);
    assert_eq!(a.attribute("pii:lastname").unwrap(), &["ct<&>".to_owned()]);

    // The RFC 7522 view: audience = visitor IdP, recipient = token endpoint, no InResponseTo.
    a.check_audience(&[VISITOR]).unwrap();
    let c = a.bearer_confirmation(TOKEN, InResponseTo::Ignore).unwrap();
    assert_eq!(c.not_on_or_after, Some(NOW + 300));
    c.check_time(NOW, 60).unwrap();
    assert_eq!(c.check_time(NOW + 400, 60), Err(ValidationError::ConfirmationExpired));
    assert_eq!(
        a.bearer_confirmation("https://evil.example/token", InResponseTo::Ignore).err(),
        Some(ValidationError::WrongRecipient)
    );
    assert_eq!(a.check_audience(&["https://evil.example"]), Err(ValidationError::WrongAudience));

    // The web agent's view of the whole Response: the same assertion, SP-initiated checks.
    let from_response = UnverifiedAssertion::parse_response(&response, DEFAULT_MAX_XML_BYTES)
        .unwrap()
        .verify(&trust(&s))
        .unwrap();
    assert_eq!(from_response.id(), id);
    from_response
        .check_web_sso("https://shop.example", ACS, InResponseTo::OneOf(&["_req1"]), NOW, 60)
        .unwrap();
    assert_eq!(
        from_response
            .check_web_sso("https://shop.example", ACS, InResponseTo::OneOf(&["_other"]), NOW, 60)
            .err(),
        Some(ValidationError::WrongRecipient)
    );
    assert_eq!(
        from_response
            .check_web_sso("https://shop.example", ACS, InResponseTo::OneOf(&["_req1"]), NOW + 301 + 60, 60)
            .err(),
        Some(ValidationError::Expired)
    );
    assert_eq!(
        from_response.check_web_sso("https://shop.example", ACS, InResponseTo::Absent, NOW, 60).err(),
        Some(ValidationError::WrongRecipient)
    );
    // A bare-assertion parser does not take a Response, and the other way round.
    assert_eq!(
        UnverifiedAssertion::parse(&response, DEFAULT_MAX_XML_BYTES).err(),
        Some(ValidationError::WrongRoot("saml:Assertion"))
    );
    assert!(UnverifiedAssertion::parse_response(bare_assertion(&response), DEFAULT_MAX_XML_BYTES).is_err());
}

// ---- an independent producer: the xmlsec1 command-line tool ----

/// An assertion made by an independent producer: a template signed by the xmlsec1 CLI.
fn template(
    issuer: &str,
    name_id: &str,
    signature_method: &'static str,
    digest_method: &'static str,
) -> String {
    Template {
        id: "_cli1".into(),
        issuer: issuer.into(),
        name_id: name_id.into(),
        recipient: TOKEN.into(),
        audience: VISITOR.into(),
        now: NOW,
        session_index: "_cli-session".into(),
        signature_method,
        digest_method,
    }
    .to_xml()
}

#[test]
fn verifies_an_assertion_signed_by_the_xmlsec1_cli() {
    let s = signer(2);
    let signed = xmlsec1_sign(&s, &template(IDP, "alice", RSA_SHA256, SHA256));
    assert!(signed.contains("<ds:X509Certificate>"), "xmlsec1 filled in the certificate");
    let a = verify(&signed, &trust(&s)).unwrap();
    assert_eq!(
        (a.id(), a.name_id().value.as_str(), a.session_index()),
        ("_cli1", "alice", Some("_cli-session"))
    );
    a.check_audience(&[VISITOR]).unwrap();
    a.bearer_confirmation(TOKEN, InResponseTo::Ignore).unwrap();
    assert_eq!(a.attribute("groups").unwrap(), &["customers".to_owned()]);

    // A comment inside the NameID does not break the signature (C14N drops comments) and the
    // value used is the signed one, not the text before the comment.
    let commented = signed.replace(">alice<", ">ali<!-- x -->ce<");
    assert_ne!(commented, signed);
    assert_eq!(verify(&commented, &trust(&s)).unwrap().name_id().value, "alice");

    // Modified content fails.
    let tampered = signed.replace(">customers<", ">admins<");
    assert_eq!(verify(&tampered, &trust(&s)).err(), Some(ValidationError::BadSignature));
}

#[test]
fn refuses_sha1_signatures_and_digests() {
    let s = signer(3);
    for (sig, dig) in [(RSA_SHA1, SHA1), (RSA_SHA256, SHA1), (RSA_SHA1, SHA256)] {
        let signed = xmlsec1_sign(&s, &template(IDP, "alice", sig, dig));
        assert_eq!(verify(&signed, &trust(&s)).err(), Some(ValidationError::WeakAlgorithm), "{sig} {dig}");
    }
}

#[test]
fn refuses_wrong_signer_unknown_issuer_and_unsigned() {
    let s = signer(4);
    let mallory = signer(5);
    // Signed by another key, with that key's certificate in KeyInfo: still refused.
    let forged = xmlsec1_sign(&mallory, &template(IDP, "alice", RSA_SHA256, SHA256));
    assert_eq!(verify(&forged, &trust(&s)).err(), Some(ValidationError::BadSignature));
    // Signed correctly, but by an IdP nobody trusts.
    let signed = xmlsec1_sign(&s, &template("https://other-idp.example", "alice", RSA_SHA256, SHA256));
    assert_eq!(verify(&signed, &trust(&s)).err(), Some(ValidationError::UnknownIssuer));
    // An IdP trusted with mallory's key cannot speak for IDP.
    let mut t = trust(&s);
    t.insert("https://mallory.example", vec![mallory.cert_der.clone()]).unwrap();
    let claims_idp = xmlsec1_sign(&mallory, &template(IDP, "alice", RSA_SHA256, SHA256));
    assert_eq!(verify(&claims_idp, &t).err(), Some(ValidationError::BadSignature));
    // Unsigned.
    let unsigned = strip_signature(&signed);
    assert_eq!(verify(&unsigned, &trust(&s)).err(), Some(ValidationError::Unsigned));
    // Key rollover: a second certificate for the same IdP.
    let mut rolled = TrustStore::new();
    rolled.insert(IDP, vec![mallory.cert_der.clone(), s.cert_der.clone()]).unwrap();
    let (response, _) = home_assertion(&s);
    assert!(verify(bare_assertion(&response), &rolled).is_ok());
}

/// Every wrapping is refused: the element used must be the one that is signed.
#[test]
fn signature_wrapping_never_yields_the_attackers_content() {
    let s = signer(6);
    let (response, _) = home_assertion(&s);
    let legit = bare_assertion(&response).to_owned();
    let t = trust(&s);
    let evil_open = format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_evil" Version="2.0" IssueInstant="2026-11-18T08:26:40Z"><saml:Issuer>{IDP}</saml:Issuer>"#
    );
    let evil_subject = format!(
        r#"<saml:Subject><saml:NameID>mallory</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2030-01-01T00:00:00Z" Recipient="{TOKEN}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions><saml:AudienceRestriction><saml:Audience>{VISITOR}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement SessionIndex="_evil-session"/>"#
    );
    let signature = {
        let a = legit.find("<ds:Signature").unwrap();
        let b = legit.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        legit[a..b].to_owned()
    };
    let legit_without_sig = legit.replace(&signature, "");
    let variants = [
        // The signed assertion inside an unsigned one (Advice), the outer one first to be read.
        format!("{evil_open}{evil_subject}<saml:Advice>{legit}</saml:Advice></saml:Assertion>"),
        // The legitimate signature moved onto the evil assertion, the signed one in ds:Object.
        format!(
            "{evil_open}{}{evil_subject}</saml:Assertion>",
            signature.replace("</ds:Signature>", &format!("<ds:Object>{legit_without_sig}</ds:Object></ds:Signature>"))
        ),
        // Evil assertion with the signature copied and the same ID as the signed one.
        format!("{}{}{evil_subject}</saml:Assertion>", evil_open.replace("_evil", &signed_id(&legit)), signature),
        // A second, unsigned Subject appended inside the signed assertion.
        legit.replace("</saml:Assertion>", &format!("{evil_subject}</saml:Assertion>")),
        // An extra attribute injected into the signed assertion.
        legit.replace(
            "</saml:AttributeStatement>",
            "<saml:Attribute Name=\"groups\"><saml:AttributeValue>admins</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>",
        ),
    ];
    for (i, xml) in variants.iter().enumerate() {
        let refused = verify(xml, &t);
        assert!(
            refused.is_err(),
            "variant {i} was accepted: {:?}",
            refused.map(|a| a.name_id().value.clone())
        );
    }
    // A Response with the signed assertion plus a second, unsigned one: refused too.
    let two = response.replace(
        "</samlp:Response>",
        &format!("{}</samlp:Response>", legit_without_sig.replace(&signed_id(&legit), "_second")),
    );
    let scanned = UnverifiedAssertion::parse_response(&two, DEFAULT_MAX_XML_BYTES);
    assert_eq!(scanned.err(), Some(ValidationError::Ambiguous("Assertion")));
}

fn signed_id(assertion: &str) -> String {
    let at = assertion.find(" ID=\"").unwrap() + 5;
    assertion[at..].split('"').next().unwrap().to_owned()
}

#[test]
fn refuses_hostile_bytes_before_libxml() {
    let s = signer(7);
    let t = trust(&s);
    let (response, _) = home_assertion(&s);
    let legit = bare_assertion(&response).to_owned();
    let doctype = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{legit}");
    assert_eq!(verify(&doctype, &t).err(), Some(ValidationError::Doctype));
    let lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
    assert_eq!(verify(lol, &t).err(), Some(ValidationError::Doctype));
    for cut in [10, legit.len() / 2, legit.len() - 3] {
        assert!(matches!(verify(&legit[..cut], &t), Err(ValidationError::Malformed(_))), "cut at {cut}");
    }
    for garbage in ["", "not xml", "\u{0}\u{1}", "<<>>", "<a>", "{\"json\":true}"] {
        assert!(verify(garbage, &t).is_err(), "{garbage:?}");
    }
    let big = legit.replace(
        "</saml:Assertion>",
        &format!("<!--{}--></saml:Assertion>", "x".repeat(DEFAULT_MAX_XML_BYTES)),
    );
    assert_eq!(verify(&big, &t).err(), Some(ValidationError::TooLarge { limit: DEFAULT_MAX_XML_BYTES }));
    assert_eq!(UnverifiedAssertion::parse(&legit, 100).err(), Some(ValidationError::TooLarge { limit: 100 }));
    // Trailing content after the root element.
    assert!(matches!(verify(&format!("{legit}<x/>"), &t), Err(ValidationError::Malformed(_))));
}

#[test]
fn trust_store_refuses_entries_without_a_usable_certificate() {
    let s = signer(8);
    let mut t = TrustStore::new();
    assert_eq!(t.insert(IDP, vec![]), Err(TrustError::NoCertificate));
    assert_eq!(t.insert(IDP, vec![vec![]]), Err(TrustError::NoCertificate));
    assert_eq!(t.insert(IDP, vec![b"not a certificate".to_vec()]), Err(TrustError::InvalidCertificate));
    assert_eq!(t.insert("has space", vec![s.cert_der.clone()]), Err(TrustError::InvalidEntityId));
    assert!(!t.contains(IDP));

    let metadata = |key_descriptor: &str| {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key_descriptor}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP}/saml/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    };
    let with_cert = metadata(&format!(
        r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
        b64(&s.cert_der)
    ));
    let (entity, certs) = idp_metadata_certificates(&with_cert).unwrap();
    assert_eq!((entity.as_str(), certs), (IDP, vec![s.cert_der.clone()]));
    assert_eq!(
        t.insert_metadata(&with_cert, Some("https://other.example")),
        Err(TrustError::EntityIdMismatch)
    );
    assert_eq!(t.insert_metadata(&with_cert, Some(IDP)).unwrap(), IDP);
    assert!(t.contains(IDP));
    let (response, _) = home_assertion(&s);
    assert!(verify(bare_assertion(&response), &t).is_ok());

    let encryption_only = metadata(&format!(
        r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
        b64(&s.cert_der)
    ));
    assert_eq!(idp_metadata_certificates(&encryption_only).err(), Some(TrustError::NoCertificate));
    assert_eq!(idp_metadata_certificates(&metadata("")).err(), Some(TrustError::NoCertificate));
    assert!(idp_metadata_certificates("<!DOCTYPE x><x/>").is_err());
    assert!(idp_metadata_certificates("garbage").is_err());
}

// ---- edge hardening (issue 14, item 9) ----

/// A prefixed attribute whose local name is `ID` (`foo:ID`) is what libxmlsec would resolve a
/// reference to while the pre-scan reads the unprefixed `ID`: refused wherever it appears,
/// before any signature check.
#[test]
fn edge_namespaced_id_attributes_are_refused() {
    let s = signer(21);
    let (response, id) = home_assertion(&s);
    let bare = bare_assertion(&response).to_owned();
    assert!(verify(&bare, &trust(&s)).is_ok(), "the untouched assertion verifies");
    // On the assertion itself, beside the real ID.
    let on_root = bare.replacen(
        &format!("ID=\"{id}\""),
        &format!("xmlns:foo=\"urn:x\" foo:ID=\"{id}\" ID=\"{id}\""),
        1,
    );
    assert_ne!(on_root, bare);
    // On a descendant (the Subject), pointing at the same ID.
    let on_child =
        bare.replacen("<saml:Subject>", &format!("<saml:Subject xmlns:foo=\"urn:x\" foo:ID=\"{id}\">"), 1);
    assert_ne!(on_child, bare);
    for xml in [on_root, on_child] {
        assert_eq!(
            UnverifiedAssertion::parse(&xml, DEFAULT_MAX_XML_BYTES).err(),
            Some(ValidationError::Malformed("an attribute named ID has a namespace prefix"))
        );
    }
    // The same in a Response.
    let resp = response.replacen("<samlp:Status>", "<samlp:Status xmlns:foo=\"urn:x\" foo:ID=\"x\">", 1);
    assert!(matches!(
        UnverifiedAssertion::parse_response(&resp, DEFAULT_MAX_XML_BYTES),
        Err(ValidationError::Malformed(_))
    ));
}

/// `samlp:Status` of a Response: only a single top-level `Success` goes on.
#[test]
fn edge_non_success_status_is_refused() {
    let s = signer(22);
    let (response, _) = home_assertion(&s);
    let ok =
        UnverifiedAssertion::parse_response(&response, DEFAULT_MAX_XML_BYTES).unwrap().verify(&trust(&s));
    assert!(ok.is_ok());
    let success = "urn:oasis:names:tc:SAML:2.0:status:Success";
    assert!(response.contains(success));
    let requester = response.replacen(success, "urn:oasis:names:tc:SAML:2.0:status:Requester", 1);
    assert_eq!(
        UnverifiedAssertion::parse_response(&requester, DEFAULT_MAX_XML_BYTES).err(),
        Some(ValidationError::StatusNotSuccess("Requester"))
    );
    // A Success nested under a failing top-level code is still a failure.
    let nested = response.replacen(
        &format!("<samlp:StatusCode Value=\"{success}\"/>"),
        &format!(
            "<samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode Value=\"{success}\"/></samlp:StatusCode>"
        ),
        1,
    );
    assert_ne!(nested, response);
    assert_eq!(
        UnverifiedAssertion::parse_response(&nested, DEFAULT_MAX_XML_BYTES).err(),
        Some(ValidationError::StatusNotSuccess("Responder"))
    );
    // No Status at all.
    let start = response.find("<samlp:Status>").unwrap();
    let end = response.find("</samlp:Status>").unwrap() + "</samlp:Status>".len();
    let none = format!("{}{}", &response[..start], &response[end..]);
    assert_eq!(
        UnverifiedAssertion::parse_response(&none, DEFAULT_MAX_XML_BYTES).err(),
        Some(ValidationError::StatusNotSuccess("no Status"))
    );
    assert!(ValidationError::StatusNotSuccess("Requester").to_string().contains("did not succeed"));
}

/// Only UTF-8: a declaration of UTF-7 (which would let `+ADw-!DOCTYPE` decode to a DOCTYPE
/// after the filter), UTF-16, or a NUL is refused before libxml sees the document, for bare
/// assertions and Responses alike.
#[test]
fn edge_only_utf8_assertions_are_accepted() {
    let s = signer(23);
    let (response, _) = home_assertion(&s);
    let bare = bare_assertion(&response).to_owned();
    for enc in ["UTF-7", "utf-16", "ISO-8859-1"] {
        let decl = format!("<?xml version=\"1.0\" encoding=\"{enc}\"?>");
        let xml = format!("{decl}{bare}");
        assert!(
            matches!(
                UnverifiedAssertion::parse(&xml, DEFAULT_MAX_XML_BYTES),
                Err(ValidationError::Malformed(_))
            ),
            "{enc}"
        );
        let resp = response.replacen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", &decl, 1);
        assert_ne!(resp, response, "the Response starts with a UTF-8 declaration");
        assert!(matches!(
            UnverifiedAssertion::parse_response(&resp, DEFAULT_MAX_XML_BYTES),
            Err(ValidationError::Malformed(_))
        ));
    }
    let with_nul = bare.replacen("<saml:Subject>", "<saml:Subject>\0", 1);
    assert!(matches!(
        UnverifiedAssertion::parse(&with_nul, DEFAULT_MAX_XML_BYTES),
        Err(ValidationError::Malformed(_))
    ));
    // UTF-16 bytes of the document are not text to begin with.
    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain(bare.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    assert!(federation::xml::check_utf8_xml(&utf16).is_err());
    // A UTF-8 declaration (any case) is fine.
    let fine = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{bare}");
    assert!(verify(&fine, &trust(&s)).is_ok());
}

/// A `samlp:Response` around `assertion` as a third-party IdP writes it, with a
/// Response-level signature template right after its Issuer (where SAML core puts it), for the
/// xmlsec1 CLI to fill in. xmlsec1 signs the first template of the document, this one.
fn response_template(assertion: &str, issuer: &str) -> String {
    response_xml(assertion, issuer, true)
}

/// The Response of [`response_template`], with (`signed`) or without the template.
fn response_xml(assertion: &str, issuer: &str, signed: bool) -> String {
    let head = format!(
        r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp1" Version="2.0" IssueInstant="2026-11-18T08:26:40Z" Destination="{ACS}"><saml:Issuer>{issuer}</saml:Issuer>"##
    );
    let template = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#_resp1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##
    );
    let status = r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>"#;
    format!("{head}{}{status}{assertion}</samlp:Response>", if signed { template.as_str() } else { "" })
}

fn verify_response(xml: &str, t: &TrustStore) -> Result<VerifiedAssertion, ValidationError> {
    UnverifiedAssertion::parse_response(xml, DEFAULT_MAX_XML_BYTES)?.verify(t)
}

#[test]
fn every_signing_shape_of_a_third_party_idp_is_accepted_and_only_signed_content_is_read() {
    // The producer is the xmlsec1 CLI, not our signer (issue 16, item 2).
    let s = signer(12);
    let t = trust(&s);
    let unsigned_assertion = {
        let xml = template(IDP, "alice", RSA_SHA256, SHA256);
        let a = xml.find("<ds:Signature").unwrap();
        let b = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        format!("{}{}", &xml[..a], &xml[b..])
    };
    let signed_assertion = xmlsec1_sign(&s, &template(IDP, "alice", RSA_SHA256, SHA256));
    let shapes = [
        ("assertion only", response_xml(&signed_assertion, IDP, false)),
        ("response only", xmlsec1_sign(&s, &response_template(&unsigned_assertion, IDP))),
        ("response and assertion", xmlsec1_sign(&s, &response_template(&signed_assertion, IDP))),
    ];
    for (shape, xml) in &shapes {
        let a = verify_response(xml, &t).unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_eq!((a.id(), a.name_id().value.as_str()), ("_cli1", "alice"), "{shape}");
        assert_eq!(a.attribute("groups").unwrap(), &["customers".to_owned()], "{shape}");
        // Content changed after signing: refused in every shape.
        let tampered = xml.replace(">customers<", ">admins<");
        assert!(verify_response(&tampered, &t).is_err(), "{shape}: tampered content accepted");
        // Another IdP's key: refused.
        assert_eq!(
            verify_response(xml, &trust(&signer(13))).err(),
            Some(ValidationError::BadSignature),
            "{shape}"
        );
    }
    // Response-signed, with a second assertion added after signing: ambiguous, refused.
    let (_, response_only) = &shapes[1];
    let two = response_only.replace(
        "</samlp:Response>",
        &format!("{}</samlp:Response>", unsigned_assertion.replace("_cli1", "_cli2")),
    );
    assert!(verify_response(&two, &t).is_err());
    // A signed Response is never accepted where a bare assertion is expected (RFC 7522).
    assert!(verify(response_only, &t).is_err());
    // A Response signed by the IdP whose Issuer names another IdP than its assertion: refused.
    let mut other = trust(&s);
    other.insert("https://other-idp.example", vec![s.cert_der.clone()]).unwrap();
    let mixed = xmlsec1_sign(&s, &response_template(&unsigned_assertion, "https://other-idp.example"));
    assert_eq!(verify_response(&mixed, &other).err(), Some(ValidationError::SignedContentMismatch));
}

#[test]
fn every_shape_the_home_idp_can_sign_is_verified_and_reads_the_same() {
    use federation::assertion::SignedParts;
    let s = signer(1);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&s.cert_der);
    for parts in [SignedParts::Both, SignedParts::Assertion, SignedParts::Response] {
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let p = ResponseParams { signed_parts: parts, ..params() };
        let signed = build_signed_response(&p, &s.key_der, &b64, rng).unwrap();
        let a = verify_response(&signed.xml, &trust(&s)).unwrap_or_else(|e| panic!("{parts:?}: {e}"));
        assert_eq!(a.name_id().value, params().name_id, "{parts:?}");
        assert_eq!(
            a.attribute("groups"),
            Some(&["customers".to_owned(), "staff".to_owned()][..]),
            "{parts:?}"
        );
        // Any change to signed content is refused, whichever part carries the signature.
        let tampered = signed.xml.replacen("staff", "admin", 1);
        assert!(verify_response(&tampered, &trust(&s)).is_err(), "{parts:?}");
    }
}
