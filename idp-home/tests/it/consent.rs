//! Consent before disclosure over a real listener (issue 18): the first sign-in to a service
//! that gets personal data shows what it will be able to read; Allow continues and is
//! remembered, Deny signs in with no PII, TAT or e-mail address and is remembered too; a change in what the service
//! could open asks again, and so does revoking on the account page — with forged, replayed,
//! cross-browser and malformed answers refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use super::sso::{
    authn_request, browser, deflate_b64, input_value, redirect_query, sign_in, upload_table1, Stack,
    PASSWORD, SHOP, SHOP_ACS,
};

/// The home IdP with the shop registered without a `consent` setting (a PBE service: required).
async fn start() -> Stack {
    Stack::start_with(|c| {
        for sp in c.service_providers.iter_mut().filter(|sp| sp.entity_id == SHOP) {
            sp.consent = None;
        }
    })
    .await
}

/// Starts a sign-in at the shop (fresh AuthnRequest `id`); the IdP's page.
async fn sso(stack: &Stack, http: &reqwest::Client, id: &str) -> String {
    let q = redirect_query(&deflate_b64(authn_request(SHOP, Some(SHOP_ACS), id).as_bytes()), Some("/cart"));
    http.get(stack.url(&format!("/saml/sso?{q}"))).send().await.unwrap().text().await.unwrap()
}

fn is_consent(page: &str) -> bool {
    page.contains("action=\"/saml/consent\"")
}

/// The assertion XML of an auto-post page.
fn assertion(page: &str) -> String {
    let b64 = input_value(page, "SAMLResponse").unwrap_or_else(|| panic!("no auto-post form: {page}"));
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

/// Posts the consent form of `page` with `decision`, fields overridden by `with`.
async fn answer(
    stack: &Stack,
    http: &reqwest::Client,
    page: &str,
    decision: &str,
    with: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = ["csrf", "bind", "fingerprint"]
        .iter()
        .map(|n| ((*n).to_owned(), input_value(page, n).unwrap()))
        .collect();
    form.push(("decision".into(), decision.into()));
    for (k, v) in with {
        form.retain(|(n, _)| n != k);
        form.push(((*k).to_owned(), (*v).to_owned()));
    }
    http.post(stack.url("/saml/consent")).form(&form).send().await.unwrap()
}

fn releases_pii(xml: &str) -> bool {
    xml.contains("Name=\"pii:") || xml.contains("idaas:tat") || xml.contains("idaas:pii-ref")
}

#[tokio::test]
async fn first_sign_in_asks_deny_releases_nothing_personal_allow_is_remembered() {
    let stack = start().await;
    let http = browser();
    let token = stack.verified_user(&http, "bob", "bob@example.org").await;
    upload_table1(&stack, &http, &token).await;

    let login = sso(&stack, &http, "_c1").await;
    let r = sign_in(&stack, &http, &login, "bob", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(is_consent(&page) && !page.contains("SAMLResponse"), "{page}");
    // The service's name and exactly what it could open, with the rules in plain words.
    assert!(page.contains("<strong>shop.example</strong> asks to read"), "{page}");
    assert!(page.contains("<strong>dob</strong>") && page.contains("<strong>lastname</strong>"), "{page}");
    assert!(page.contains("Services of salesforce or amazon may read this"), "{page}");
    assert!(page.contains("It cannot read, under your rules today: addresses."), "{page}");
    assert!(page.contains("your groups"), "{page}");

    // Deny: signed in, but no PII digest, reference, TAT nor the visitor IdP as audience.
    let r = answer(&stack, &http, &page, "deny", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let xml = assertion(&r.text().await.unwrap());
    assert!(!releases_pii(&xml) && !xml.contains("idaas:suite"), "{xml}");
    assert!(!xml.contains("https://salesforce.example"), "the visitor IdP is no audience: {xml}");
    assert!(xml.contains("<saml:NameID") && xml.contains(">bob</saml:NameID>"), "{xml}");

    // Deny is remembered: the next sign-in (the IdP session is live) does not ask, and
    // releases nothing personal either.
    let page = sso(&stack, &http, "_c2").await;
    assert!(!is_consent(&page), "{page}");
    assert!(!releases_pii(&assertion(&page)), "{page}");
    // The account page shows the answer; withdrawing it asks again.
    let account = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("nothing: you denied it"), "{account}");
    let csrf = input_value(&account, "csrf").unwrap();
    let r = http
        .post(stack.url("/account/consent/revoke"))
        .form(&[("csrf", csrf.as_str()), ("sp", SHOP)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = sso(&stack, &http, "_c2b").await;
    assert!(is_consent(&page), "{page}");
    let r = answer(&stack, &http, &page, "allow", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let xml = assertion(&r.text().await.unwrap());
    assert!(xml.contains("Name=\"pii:lastname\"") && xml.contains("idaas:tat"), "{xml}");
    assert!(!xml.contains("Name=\"pii:addresses\"") || releases_pii(&xml));

    // Allowed: the next sign-in goes straight on.
    let page = sso(&stack, &http, "_c3").await;
    assert!(!is_consent(&page), "{page}");
    assert!(releases_pii(&assertion(&page)));

    // What the service could open changes (a new value under rules it satisfies): asked again.
    let lastname: Value = http
        .get(stack.url("/api/pii/lastname"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .put(stack.url("/api/pii/nickname"))
        .bearer_auth(&token)
        .body(lastname["ciphertext"].as_str().unwrap().to_owned())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let page = sso(&stack, &http, "_c4").await;
    assert!(is_consent(&page) && page.contains("<strong>nickname</strong>"), "{page}");
    let xml = assertion(&answer(&stack, &http, &page, "allow", &[]).await.text().await.unwrap());
    assert!(xml.contains("Name=\"pii:nickname\""), "{xml}");

    // The account page lists the consent; revoking it (with the page's token) asks again.
    let account = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(
        account.contains("Services you allowed or denied") && account.contains("dob, lastname, nickname"),
        "{account}"
    );
    assert!(account.contains("action=\"/account/consent/revoke\""), "{account}");
    let csrf = input_value(&account, "csrf").unwrap();
    let r = http
        .post(stack.url("/account/consent/revoke"))
        .form(&[("csrf", "f".repeat(64).as_str()), ("sp", SHOP)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a forged revoke changes nothing");
    assert!(!is_consent(&sso(&stack, &http, "_c5").await));
    let r = browser()
        .post(stack.url("/account/consent/revoke"))
        .form(&[("csrf", csrf.as_str()), ("sp", SHOP)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "another browser is not signed in");
    let r = http
        .post(stack.url("/account/consent/revoke"))
        .form(&[("csrf", csrf.as_str()), ("sp", "https://nobody.example/<script>")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("<script>"));
    let r = http
        .post(stack.url("/account/consent/revoke"))
        .form(&[("csrf", csrf.as_str()), ("sp", SHOP)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let account = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("You have not allowed any service"), "{account}");
    assert!(is_consent(&sso(&stack, &http, "_c6").await));
    stack.stop().await;
}

#[tokio::test]
async fn forged_replayed_and_malformed_consent_answers_are_refused() {
    let stack = start().await;
    let http = browser();
    let token = stack.verified_user(&http, "bob", "bob@example.org").await;
    upload_table1(&stack, &http, &token).await;
    let login = sso(&stack, &http, "_f1").await;
    let page = sign_in(&stack, &http, &login, "bob", PASSWORD).await.text().await.unwrap();
    assert!(is_consent(&page), "{page}");

    // Another browser (no pending cookie, no session) posting the very tokens of the page.
    let r = answer(&stack, &browser(), &page, "allow", &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!r.text().await.unwrap().contains("SAMLResponse"));
    // Wrong CSRF token, wrong session binding, no decision, an unknown decision, no form.
    let zeros = "0".repeat(64);
    for with in [[("csrf", zeros.as_str())], [("bind", zeros.as_str())]] {
        let r = answer(&stack, &http, &page, "allow", &with).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{with:?}");
    }
    let r = answer(&stack, &http, &page, "maybe<b>", &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!r.text().await.unwrap().contains("<b>"));
    let r = http.post(stack.url("/saml/consent")).body("\u{0}\u{ff}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A fingerprint other than the one shown: nothing is recorded, the page is shown again.
    let r = answer(&stack, &http, &page, "allow", &[("fingerprint", "00")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = r.text().await.unwrap();
    assert!(is_consent(&again) && !again.contains("SAMLResponse"), "{again}");
    // The page shown last is the one that counts; its answer clears the pending cookie, so
    // posting it once more is refused.
    let r = answer(&stack, &http, &again, "allow", &[]).await;
    assert!(input_value(&r.text().await.unwrap(), "SAMLResponse").is_some());
    let r = answer(&stack, &http, &again, "allow", &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the pending sign-in is used up");

    // A signed-in browser whose pending cookie is another person's consent: the binding fails.
    let eve = browser();
    stack.verified_user(&eve, "eve", "eve@example.org").await;
    let eve_login = sso(&stack, &eve, "_f2").await;
    let eve_page = sign_in(&stack, &eve, &eve_login, "eve", PASSWORD).await.text().await.unwrap();
    // eve has no PII but the shop gets her groups: consent is still asked (a PBE service).
    assert!(is_consent(&eve_page), "{eve_page}");
    let r = answer(&stack, &eve, &page, "allow", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "bob's tokens are useless in eve's browser");
    stack.stop().await;
}

#[tokio::test]
async fn a_passive_request_that_would_need_consent_is_answered_no_passive() {
    let stack = start().await;
    let http = browser();
    stack.verified_user(&http, "bob", "bob@example.org").await;
    let login = sso(&stack, &http, "_p1").await;
    let page = sign_in(&stack, &http, &login, "bob", PASSWORD).await.text().await.unwrap();
    assert!(is_consent(&page));
    let xml = authn_request(SHOP, Some(SHOP_ACS), "_p2")
        .replace("<samlp:AuthnRequest ", "<samlp:AuthnRequest IsPassive=\"true\" ");
    assert!(xml.contains("IsPassive"), "{xml}");
    let q = redirect_query(&deflate_b64(xml.as_bytes()), None);
    let page = http.get(stack.url(&format!("/saml/sso?{q}"))).send().await.unwrap().text().await.unwrap();
    let response = assertion(&page);
    assert!(response.contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive"), "{response}");
    stack.stop().await;
}
