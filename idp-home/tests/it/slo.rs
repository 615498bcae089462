//! Single logout at the home IdP over a real listener, with an SP that speaks the HTTP-POST
//! binding: the SP's signed LogoutRequest ends the IdP session (the next sign-in asks for the
//! password) and is answered with a LogoutResponse signed by the IdP (checked by our verifier
//! and independently by the `xmlsec1` tool); an SP registered without a certificate gets a
//! clear error page; the metadata advertises both SLO bindings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::binding::{sign_redirect_query, Binding, Param};
use federation::logout::{encode_request, Inbound, Outbound, Peer, RequestParams, Signer, Verified};
use federation::testing::{xmlsec1_verifies_element, TestSigner};
use idp_home::config::SpConfig;
use idp_home::model::{SloBinding, SloConfig};
use reqwest::StatusCode;

use super::harness::{plain_sp, user, Idp, PASSWORD, T0};

const WIKI: &str = "https://wiki.example/saml/metadata";
const WIKI_ACS: &str = "https://wiki.example/saml/acs";
const WIKI_SLO: &str = "https://wiki.example/saml/slo";
const NOCERT: &str = "https://nocert.example/saml/metadata";

fn wiki_signer() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::new(41))
}

async fn start() -> Idp {
    let wiki = SpConfig {
        authn_request_cert_pem: Some(wiki_signer().cert_pem.clone()),
        slo: Some(SloConfig { url: WIKI_SLO.into(), binding: SloBinding::Post, response_url: None }),
        ..plain_sp(WIKI, WIKI_ACS)
    };
    let nocert = SpConfig {
        release: vec![],
        slo: Some(SloConfig {
            url: "https://nocert.example/saml/slo".into(),
            binding: SloBinding::Redirect,
            response_url: None,
        }),
        ..plain_sp(NOCERT, "https://nocert.example/saml/acs")
    };
    super::harness::start(|c| c.service_providers = vec![wiki, nocert], vec![user("bob", &["staff"])]).await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(
        html[start..start + html[start..].find('"')?]
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// A signed (HTTP-Redirect) AuthnRequest of the wiki; returns the IdP's page.
async fn sso(idp: &Idp, b: &reqwest::Client, id: &str) -> String {
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"2025-10-09T12:00:00Z\"><saml:Issuer>{WIKI}</saml:Issuer></samlp:AuthnRequest>"
    );
    let query = sign_redirect_query(Param::Request, &xml, None, &wiki_signer().key_der).unwrap();
    let r = b.get(format!("{}/saml/sso?{query}", idp.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

fn session_index(xml: &str) -> String {
    let start = xml.find("SessionIndex=\"").unwrap() + "SessionIndex=\"".len();
    xml[start..start + xml[start..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_binding_logout_request_ends_the_idp_session_and_is_answered_signed() {
    let idp = start().await;
    let b = browser();
    let page = sso(&idp, &b, "_a1").await;
    let csrf = input(&page, "csrf").expect("the sign-in form");
    let r = b
        .post(format!("{}/saml/login", idp.base))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let response =
        String::from_utf8(STANDARD.decode(input(&page, "SAMLResponse").unwrap()).unwrap()).unwrap();
    let index = session_index(&response);
    assert!(!sso(&idp, &b, "_a2").await.contains("name=\"csrf\""), "SSO while the session lives");

    // The wiki's LogoutRequest, HTTP-POST binding (enveloped XML signature).
    let signer = wiki_signer();
    let cert = signer.cert_base64();
    let indexes = vec![index];
    let slo = format!("{}/saml/slo", idp.base);
    let p = RequestParams {
        issuer: WIKI,
        destination: &slo,
        name_id: "bob",
        session_indexes: &indexes,
        now: T0,
        lifetime: 60,
    };
    let s = Signer { key_der: &signer.key_der, cert_base64: &cert };
    let (id, Outbound::Post { value, .. }) =
        encode_request(&p, Binding::Post, Some("/bye"), s, &mut rand_core::OsRng).unwrap()
    else {
        panic!("a form")
    };
    let r =
        b.post(&slo).form(&[("SAMLRequest", value.as_str()), ("RelayState", "/bye")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{WIKI_SLO}\"")), "{page}");
    assert_eq!(input(&page, "RelayState").as_deref(), Some("/bye"));
    let answer = input(&page, "SAMLResponse").expect("an auto-posted LogoutResponse");
    let xml = String::from_utf8(STANDARD.decode(&answer).unwrap()).unwrap();
    assert!(
        xmlsec1_verifies_element(&xml, &idp.cert_pem, "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse"),
        "xmlsec1 verifies the IdP's LogoutResponse: {xml}"
    );
    let certs = vec![federation::signing_key::pem_to_der(&idp.cert_pem).unwrap()];
    let verified = Inbound::from_post(Param::Response, &answer, Some("/bye".into()))
        .unwrap()
        .verify(&Peer { entity_id: &idp.base, certs_der: &certs }, WIKI_SLO, T0, 60)
        .unwrap();
    let Verified::Response(resp, relay) = verified else { panic!("a response") };
    assert!(resp.is_success() && !resp.is_partial());
    assert_eq!(resp.in_response_to.as_deref(), Some(id.as_str()));
    assert_eq!(relay.as_deref(), Some("/bye"));

    assert!(sso(&idp, &b, "_a3").await.contains("name=\"csrf\""), "the next sign-in asks for the password");
    // The same request again: refused.
    let r = b.post(&slo).form(&[("SAMLRequest", value.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sp_without_a_certificate_cannot_use_single_logout() {
    let idp = start().await;
    let other = TestSigner::new(42);
    let cert = other.cert_base64();
    let slo = format!("{}/saml/slo", idp.base);
    let p = RequestParams {
        issuer: NOCERT,
        destination: &slo,
        name_id: "bob",
        session_indexes: &[],
        now: T0,
        lifetime: 60,
    };
    let s = Signer { key_der: &other.key_der, cert_base64: &cert };
    let (_, Outbound::Redirect { url }) =
        encode_request(&p, Binding::Redirect, None, s, &mut rand_core::OsRng).unwrap()
    else {
        panic!("a URL")
    };
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("no signing certificate registered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_advertises_both_slo_bindings() {
    let idp = start().await;
    let xml =
        browser().get(format!("{}/saml/metadata", idp.base)).send().await.unwrap().text().await.unwrap();
    for binding in ["HTTP-Redirect", "HTTP-POST"] {
        let want = format!("<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:{binding}\" Location=\"{}/saml/slo\"/>", idp.base);
        assert!(xml.contains(&want), "{xml}");
    }
    // And an SP metadata document with SLO endpoints maps onto `slo`, Redirect preferred.
    let sp = "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://sp.example\">\
         <md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://sp.example/slo-post\"/>\
         <md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://sp.example/slo\" ResponseLocation=\"https://sp.example/slo-done\"/>\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://sp.example/acs\" index=\"0\"/>\
         </md:SPSSODescriptor></md:EntityDescriptor>";
    let config = idp_home::saml::sp_import::sp_config_from_metadata(sp).unwrap();
    assert_eq!(
        config.slo,
        Some(SloConfig {
            url: "https://sp.example/slo".into(),
            binding: SloBinding::Redirect,
            response_url: Some("https://sp.example/slo-done".into())
        })
    );
}
