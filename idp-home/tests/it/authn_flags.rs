//! The AuthnRequest flags of SAML 2.0 core §3.4.1 (issue 16, item 4), over a real listener:
//! `ForceAuthn` asks for the password again despite a live session, `IsPassive` never shows a
//! form (without a usable session the SP gets a signed `Responder`/`NoPassive` Response), and a
//! `NameIDPolicy` format the IdP does not issue gets a signed `Requester`/`InvalidNameIDPolicy`
//! Response. Status responses are checked with the `xmlsec1` command-line tool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::testing::xmlsec1_verifies_element;
use reqwest::StatusCode;

use super::harness::{plain_sp, user, Idp, PASSWORD};

const WIKI: &str = "https://wiki.example/saml/metadata";
const WIKI_ACS: &str = "https://wiki.example/saml/acs";
const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
const INVALID_POLICY: &str = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

async fn start() -> Idp {
    super::harness::start(
        |c| c.service_providers = vec![plain_sp(WIKI, WIKI_ACS)],
        vec![user("bob", &["staff"])],
    )
    .await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// An AuthnRequest of the wiki with extra root attributes and an optional NameIDPolicy.
fn request(id: &str, attrs: &str, name_id_format: Option<&str>) -> String {
    let policy = name_id_format
        .map(|f| format!("<samlp:NameIDPolicy Format=\"{f}\" AllowCreate=\"false\"/>"))
        .unwrap_or_default();
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"2025-10-09T12:00:00Z\" AssertionConsumerServiceURL=\"{WIKI_ACS}\" {attrs}>\
         <saml:Issuer>{WIKI}</saml:Issuer>{policy}</samlp:AuthnRequest>"
    )
}

/// What the IdP answered an AuthnRequest with.
#[derive(Debug)]
enum Answer {
    /// The sign-in form (its CSRF token).
    Form(String),
    /// An auto-post of a SAML Response to the ACS (the decoded XML).
    Posted(String),
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

fn answer(page: &str) -> Answer {
    if let Some(b64) = input(page, "SAMLResponse") {
        assert!(page.contains(&format!("action=\"{WIKI_ACS}\"")), "{page}");
        return Answer::Posted(String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap());
    }
    Answer::Form(input(page, "csrf").unwrap_or_else(|| panic!("neither a form nor an auto-post: {page}")))
}

async fn ask(idp: &Idp, b: &reqwest::Client, xml: &str) -> Answer {
    let r = b
        .post(format!("{}/saml/sso", idp.base))
        .form(&[("SAMLRequest", STANDARD.encode(xml))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    answer(&r.text().await.unwrap())
}

async fn sign_in(idp: &Idp, b: &reqwest::Client, csrf: &str) -> String {
    let r = b
        .post(format!("{}/saml/login", idp.base))
        .form(&[("csrf", csrf), ("uid", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    match answer(&r.text().await.unwrap()) {
        Answer::Posted(xml) => xml,
        Answer::Form(_) => panic!("the password was refused"),
    }
}

fn status_codes(xml: &str) -> Vec<String> {
    xml.match_indices("<samlp:StatusCode Value=\"")
        .map(|(i, m)| {
            let rest = &xml[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// A status Response: signed at the Response (checked by xmlsec1), answering `id`, with no
/// assertion.
fn assert_refused(idp: &Idp, xml: &str, id: &str, second: &str) {
    assert_eq!(status_codes(xml)[1], second, "{xml}");
    assert!(!xml.contains("Assertion"), "nobody is signed in: {xml}");
    assert!(
        xml.contains(&format!("InResponseTo=\"{id}\""))
            && xml.contains(&format!("Destination=\"{WIKI_ACS}\""))
    );
    assert!(
        xmlsec1_verifies_element(xml, &idp.cert_pem, "urn:oasis:names:tc:SAML:2.0:protocol:Response"),
        "xmlsec1 verifies the status response"
    );
    let tampered = xml.replacen(second, SUCCESS, 1);
    assert!(!xmlsec1_verifies_element(
        &tampered,
        &idp.cert_pem,
        "urn:oasis:names:tc:SAML:2.0:protocol:Response"
    ));
}

fn authn_instant(xml: &str) -> String {
    let start = xml.find("AuthnInstant=\"").unwrap() + "AuthnInstant=\"".len();
    xml[start..start + xml[start..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_authn_asks_again_and_is_passive_never_asks() {
    let idp = start().await;
    let b = browser();

    // Without a session, IsPassive gets NoPassive, not a form.
    match ask(&idp, &b, &request("_p1", "IsPassive=\"true\"", None)).await {
        Answer::Posted(xml) => assert_refused(&idp, &xml, "_p1", NO_PASSIVE),
        Answer::Form(_) => panic!("IsPassive must never show a form"),
    }

    // An ordinary sign-in, then SSO without a form.
    let Answer::Form(csrf) = ask(&idp, &b, &request("_r1", "", None)).await else { panic!("a form") };
    let first = sign_in(&idp, &b, &csrf).await;
    assert_eq!(status_codes(&first), [SUCCESS]);
    let Answer::Posted(sso) = ask(&idp, &b, &request("_r2", "", None)).await else { panic!("SSO") };
    assert_eq!(status_codes(&sso), [SUCCESS]);

    // With the session, IsPassive signs in silently.
    let Answer::Posted(passive) = ask(&idp, &b, &request("_p2", "IsPassive=\"true\"", None)).await else {
        panic!("a passive sign-in with a session needs no form")
    };
    assert_eq!(status_codes(&passive), [SUCCESS]);
    assert!(passive.contains("InResponseTo=\"_p2\""));

    // ForceAuthn asks again despite the session; the new assertion has a new AuthnInstant.
    idp.clock.advance(120);
    let Answer::Form(csrf) = ask(&idp, &b, &request("_f1", "ForceAuthn=\"true\"", None)).await else {
        panic!("ForceAuthn must ask for the password")
    };
    let forced = sign_in(&idp, &b, &csrf).await;
    assert_eq!(status_codes(&forced), [SUCCESS]);
    assert!(authn_instant(&forced) > authn_instant(&first), "a fresh authentication");
    assert!(forced.contains("InResponseTo=\"_f1\""));

    // ForceAuthn and IsPassive together cannot be met: NoPassive, even with a session.
    match ask(&idp, &b, &request("_fp", "ForceAuthn=\"true\" IsPassive=\"true\"", None)).await {
        Answer::Posted(xml) => assert_refused(&idp, &xml, "_fp", NO_PASSIVE),
        Answer::Form(_) => panic!("IsPassive must never show a form"),
    }
    // "false" is the default, spelt out.
    let Answer::Posted(xml) =
        ask(&idp, &b, &request("_n", "ForceAuthn=\"false\" IsPassive=\"false\"", None)).await
    else {
        panic!("SSO")
    };
    assert_eq!(status_codes(&xml), [SUCCESS]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_id_policy_formats_are_honoured_or_refused() {
    let idp = start().await;
    let b = browser();
    let Answer::Form(csrf) = ask(&idp, &b, &request("_r1", "", None)).await else { panic!("a form") };
    sign_in(&idp, &b, &csrf).await;
    for (i, format) in [
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("_ok{i}");
        let Answer::Posted(xml) = ask(&idp, &b, &request(&id, "", Some(format))).await else { panic!("SSO") };
        assert_eq!(status_codes(&xml), [SUCCESS], "{format}");
        assert!(xml.contains(">bob</saml:NameID>"));
    }
    for (i, format) in [
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "urn:example:made-up",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("_bad{i}");
        match ask(&idp, &b, &request(&id, "", Some(format))).await {
            Answer::Posted(xml) => assert_refused(&idp, &xml, &id, INVALID_POLICY),
            Answer::Form(_) => panic!("{format}: refused at the ACS, not with a form"),
        }
    }
    // Without a session, the refusal comes before any form.
    let fresh = browser();
    match ask(&idp, &fresh, &request("_bad", "", Some("urn:example:made-up"))).await {
        Answer::Posted(xml) => assert_refused(&idp, &xml, "_bad", INVALID_POLICY),
        Answer::Form(_) => panic!("an unsupported NameID format needs no password"),
    }
}
