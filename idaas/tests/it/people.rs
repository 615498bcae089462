//! The people's side of the quickstart stack (issue 18) over real HTTP: the IdP's sign-in
//! form names the service asking, signed-in pages are never stored, the demo backends answer
//! 404 for unknown paths, and the backend's own "Sign out" button (a same-origin POST) signs
//! out of every service and of the IdP through single logout, ending on "Sign in again";
//! consent before the first disclosure to each service (Deny: the service gets nothing personal).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use reqwest::header::{ACCEPT, CACHE_CONTROL, ORIGIN};
use reqwest::StatusCode;
use service_kit::ManualClock;

use super::e2e::browser;
use super::slo::{follow, has_session, idp_asks_password, location, sign_in_to_both, start, T0};

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_sign_out_button_signs_out_everywhere_and_nothing_stays_cached() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::new(ManualClock::new(T0))).await;
    let b = browser();
    let shop = stack.agent_urls[0].clone();

    // The sign-in form names the IdP and the service asking.
    let r = b.get(format!("{shop}/cart")).send().await.unwrap();
    let form = b.get(location(&r)).send().await.unwrap().text().await.unwrap();
    assert!(
        form.contains("<strong>Shopping service</strong> asks you to sign in with idaas home IdP"),
        "{form}"
    );

    sign_in_to_both(&stack, &b).await;
    let r = b.get(format!("{shop}/cart")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store", "a page with decrypted PII is never stored");
    let page = r.text().await.unwrap();
    assert!(page.contains("<form method=\"post\" action=\"/saml/logout\">"), "sign-out is a POST: {page}");
    let r = b.get(format!("{shop}/no-such-page")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the demo backend knows its pages");

    // Another origin cannot sign bob out; the page's own button can.
    // What a browser sends for a form without fields: an empty urlencoded body.
    let empty: &[(&str, &str)] = &[];
    let r = b
        .post(format!("{shop}/saml/logout"))
        .header(ORIGIN, "https://evil.example")
        .form(empty)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(has_session(&stack, &b, 0, "/cart").await);
    let r =
        b.post(format!("{shop}/saml/logout")).header(ORIGIN, shop.as_str()).form(empty).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, status, page) = follow(&b, location(&r), 8).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Sign in again") && page.contains("href=\"/saml/login\""), "{page}");
    assert!(!has_session(&stack, &b, 0, "/cart").await);
    assert!(!has_session(&stack, &b, 1, "/ship").await, "delivery too");
    assert!(idp_asks_password(&stack, &b).await, "and the IdP session");
    stack.stop().await;
}

/// Bob's first sign-in to `service` up to the IdP's answer (the password when asked).
async fn first_page(stack: &idaas::stack::Stack, b: &reqwest::Client, service: usize, path: &str) -> String {
    let r = b.get(format!("{}{path}", stack.agent_urls[service])).send().await.unwrap();
    let page = b.get(location(&r)).send().await.unwrap().text().await.unwrap();
    if !page.contains("action=\"/saml/login\"") {
        return page;
    }
    let csrf = idaas::browser::form_input(&page, "csrf").unwrap();
    b.post(format!("{}/saml/login", stack.home_url))
        .form(&[("csrf", csrf.as_str()), ("uid", idaas::stack::USER), ("password", stack.password.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Posts the auto-post page to the agent's ACS, then reads what the backend saw at `path`.
async fn through_acs(b: &reqwest::Client, page: &str, path: &str, agent: &str) -> serde_json::Value {
    let response = idaas::browser::form_input(page, "SAMLResponse").unwrap_or_else(|| panic!("{page}"));
    let relay = idaas::browser::form_input(page, "RelayState").unwrap_or_default();
    let r = b
        .post(format!("{agent}/saml/acs"))
        .form(&[("SAMLResponse", response.as_str()), ("RelayState", relay.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    b.get(format!("{agent}{path}")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_asks_consent_deny_gives_the_service_nothing_and_allow_gives_what_was_shown() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::new(ManualClock::new(T0))).await;
    let b = browser();
    let (shop, delivery) = (stack.agent_urls[0].clone(), stack.agent_urls[1].clone());

    // Shopping: the consent page names the service and what it could read today.
    let page = first_page(&stack, &b, 0, "/cart").await;
    assert!(idaas::browser::is_consent_page(&page), "{page}");
    assert!(page.contains("<strong>Shopping service</strong> asks to read"), "{page}");
    assert!(page.contains("<strong>dob</strong>") && page.contains("<strong>lastname</strong>"), "{page}");
    assert!(page.contains("cannot read, under your rules today: addresses"), "{page}");
    // Deny: the agent signs bob in, and the backend gets his groups but no personal data.
    let field = |n| idaas::browser::form_input(&page, n).unwrap();
    let form = [
        ("csrf", field("csrf")),
        ("bind", field("bind")),
        ("fingerprint", field("fingerprint")),
        ("decision", "deny".to_owned()),
    ];
    let r = b.post(format!("{}/saml/consent", stack.home_url)).form(&form).send().await.unwrap();
    let seen = through_acs(&b, &r.text().await.unwrap(), "/cart", &shop).await;
    assert_eq!(seen["user"], idaas::stack::USER, "{seen}");
    assert!(seen["pii"].as_object().unwrap().is_empty(), "nothing personal after Deny: {seen}");

    // Delivery: asked too (SSO, no password); Allow gives exactly what the page showed.
    let page = first_page(&stack, &b, 1, "/ship").await;
    assert!(idaas::browser::is_consent_page(&page), "{page}");
    assert!(page.contains("<strong>addresses</strong>"), "{page}");
    let page = idaas::browser::through_consent(&b, &stack.home_url, page).await.unwrap();
    let seen = through_acs(&b, &page, "/ship", &delivery).await;
    let names: Vec<&String> = seen["pii"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["addresses", "lastname"], "{seen}");
    stack.stop().await;
}
