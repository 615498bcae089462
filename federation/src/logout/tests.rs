#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand_core::OsRng;

use super::*;
use crate::binding::Param;
use crate::testing::TestSigner;

const SP: &str = "https://sp.example/saml/metadata";
const IDP_SLO: &str = "https://idp.example/saml/slo";
const NOW: i64 = 1_760_000_000;

fn signer(s: &TestSigner) -> (Vec<u8>, String) {
    (s.key_der.clone(), s.cert_base64())
}

fn request(binding: Binding, s: &TestSigner, now: i64) -> (String, Outbound) {
    let (key, cert) = signer(s);
    let indexes = vec!["_s1".to_owned(), "_s2".to_owned()];
    let p = RequestParams {
        issuer: SP,
        destination: IDP_SLO,
        name_id: "bob",
        session_indexes: &indexes,
        now,
        lifetime: 300,
    };
    encode_request(&p, binding, Some("/back"), Signer { key_der: &key, cert_base64: &cert }, &mut OsRng)
        .unwrap()
}

fn receive(out: &Outbound) -> Result<Inbound, LogoutError> {
    match out {
        Outbound::Redirect { url } => Inbound::from_redirect(url.split_once('?').unwrap().1),
        Outbound::Post { field, value, relay_state, .. } => {
            let param = if *field == "SAMLRequest" { Param::Request } else { Param::Response };
            Inbound::from_post(param, value, relay_state.clone())
        }
    }
}

fn peer(s: &TestSigner) -> Vec<Vec<u8>> {
    vec![s.cert_der.clone()]
}

#[test]
fn requests_round_trip_in_both_bindings() {
    let s = TestSigner::new(11);
    let certs = peer(&s);
    for binding in [Binding::Redirect, Binding::Post] {
        let (id, out) = request(binding, &s, NOW);
        let inbound = receive(&out).unwrap();
        assert_eq!(inbound.claimed_issuer(), SP);
        assert_eq!(inbound.kind(), Kind::Request);
        let v = inbound.verify(&Peer { entity_id: SP, certs_der: &certs }, IDP_SLO, NOW + 5, 60).unwrap();
        let Verified::Request(r, relay) = v else { panic!("a request") };
        assert_eq!(r.id, id);
        assert_eq!(r.name_id, "bob");
        assert_eq!(r.session_indexes, ["_s1", "_s2"]);
        assert_eq!(r.not_on_or_after, NOW + 300);
        assert_eq!(relay.as_deref(), Some("/back"));
    }
}

#[test]
fn responses_round_trip_with_their_status() {
    let s = TestSigner::new(12);
    let certs = peer(&s);
    let (key, cert) = signer(&s);
    for (binding, status) in [
        (Binding::Redirect, LogoutStatus::Success),
        (Binding::Post, LogoutStatus::Partial),
        (Binding::Redirect, LogoutStatus::Requester),
    ] {
        let p = ResponseParams { issuer: SP, destination: IDP_SLO, in_response_to: "_req", now: NOW, status };
        let out =
            encode_response(&p, binding, None, Signer { key_der: &key, cert_base64: &cert }, &mut OsRng)
                .unwrap();
        let v = receive(&out)
            .unwrap()
            .verify(&Peer { entity_id: SP, certs_der: &certs }, IDP_SLO, NOW, 60)
            .unwrap();
        let Verified::Response(r, None) = v else { panic!("a response") };
        assert_eq!(r.in_response_to.as_deref(), Some("_req"));
        assert_eq!(r.is_success(), status != LogoutStatus::Requester);
        assert_eq!(r.is_partial(), status == LogoutStatus::Partial);
    }
}

#[test]
fn rejects_forged_wrong_issuer_wrong_destination_and_stale_messages() {
    let s = TestSigner::new(13);
    let other = TestSigner::new(14);
    let certs = peer(&s);
    let others = peer(&other);
    for binding in [Binding::Redirect, Binding::Post] {
        let (_, out) = request(binding, &s, NOW);
        let inbound = receive(&out).unwrap();
        let ok = Peer { entity_id: SP, certs_der: &certs };
        assert!(matches!(
            inbound.verify(&Peer { entity_id: SP, certs_der: &others }, IDP_SLO, NOW, 60),
            Err(LogoutError::BadSignature)
        ));
        assert!(matches!(
            inbound.verify(&Peer { entity_id: SP, certs_der: &[] }, IDP_SLO, NOW, 60),
            Err(LogoutError::BadSignature)
        ));
        assert!(matches!(
            inbound.verify(&Peer { entity_id: "https://other.example", certs_der: &certs }, IDP_SLO, NOW, 60),
            Err(LogoutError::WrongIssuer)
        ));
        assert!(matches!(
            inbound.verify(&ok, "https://idp.example/other", NOW, 60),
            Err(LogoutError::WrongDestination)
        ));
        assert!(matches!(inbound.verify(&ok, IDP_SLO, NOW + 301 + 60, 60), Err(LogoutError::Expired)));
        assert!(matches!(inbound.verify(&ok, IDP_SLO, NOW - 120, 60), Err(LogoutError::Expired)));
    }
}

#[test]
fn rejects_unsigned_and_tampered_messages() {
    let s = TestSigner::new(15);
    let certs = peer(&s);
    let ok = Peer { entity_id: SP, certs_der: &certs };
    // Redirect without a signature.
    let (_, Outbound::Redirect { url }) = request(Binding::Redirect, &s, NOW) else { panic!() };
    let unsigned = url.split_once('?').unwrap().1.split("&SigAlg=").next().unwrap().to_owned();
    assert!(matches!(
        Inbound::from_redirect(&unsigned).unwrap().verify(&ok, IDP_SLO, NOW, 60),
        Err(LogoutError::BadSignature)
    ));
    // POST: the unsigned XML, and the signed XML with another NameID.
    let indexes = vec!["_s1".to_owned()];
    let p = RequestParams {
        issuer: SP,
        destination: IDP_SLO,
        name_id: "bob",
        session_indexes: &indexes,
        now: NOW,
        lifetime: 60,
    };
    let xml = request_xml(&p, "_x", None).unwrap();
    assert!(matches!(
        Inbound::from_post(Param::Request, &STANDARD.encode(&xml), None),
        Err(LogoutError::Unsigned)
    ));
    let (_, Outbound::Post { value, .. }) = request(Binding::Post, &s, NOW) else { panic!() };
    let signed = String::from_utf8(STANDARD.decode(&value).unwrap()).unwrap();
    let forged = signed.replace(">bob<", ">alice<");
    assert_ne!(forged, signed);
    let inbound = Inbound::from_post(Param::Request, &STANDARD.encode(&forged), None).unwrap();
    assert!(matches!(inbound.verify(&ok, IDP_SLO, NOW, 60), Err(LogoutError::BadSignature)));
    // A response posted as a request.
    assert!(matches!(Inbound::from_post(Param::Response, &value, None), Err(LogoutError::Malformed(_))));
    // SHA-1 anywhere in the signature.
    let sha1 = signed.replace("xmldsig-more#rsa-sha256", "xmldsig#rsa-sha1");
    assert!(matches!(
        Inbound::from_post(Param::Request, &STANDARD.encode(&sha1), None),
        Err(LogoutError::WeakAlgorithm)
    ));
}

#[test]
fn hostile_input_is_refused_without_panicking() {
    let s = TestSigner::new(16);
    let certs = peer(&s);
    let ok = Peer { entity_id: SP, certs_der: &certs };
    let (_, Outbound::Post { value, .. }) = request(Binding::Post, &s, NOW) else { panic!() };
    let signed = String::from_utf8(STANDARD.decode(&value).unwrap()).unwrap();
    let mut inputs: Vec<String> = vec![
        String::new(),
        "garbage".into(),
        "<a/>".into(),
        "<!DOCTYPE x [<!ENTITY a 'b'>]><samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>".into(),
        format!("{signed}<x/>"),
        signed.replace("ID=\"", "x:ID=\"").replace("<samlp:LogoutRequest ", "<samlp:LogoutRequest xmlns:x=\"u\" "),
    ];
    for cut in [10, signed.len() / 3, signed.len() / 2, signed.len() - 5] {
        inputs.push(signed[..cut].to_owned());
    }
    for xml in &inputs {
        let r = Inbound::from_post(Param::Request, &STANDARD.encode(xml), None)
            .and_then(|i| i.verify(&ok, IDP_SLO, NOW, 60));
        assert!(r.is_err(), "{xml}");
    }
    let oversized = STANDARD.encode("a".repeat(crate::binding::MAX_XML + 1));
    assert!(Inbound::from_post(Param::Request, &oversized, None).is_err());
    for q in ["", "SAMLRequest=", "SAMLRequest=%%%", "SAMLRequest=AAAA&SAMLRequest=AAAA", "Signature=x"] {
        assert!(Inbound::from_redirect(q).is_err(), "{q}");
    }
}
