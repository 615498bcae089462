//! The people's side of the quickstart stack (issue 18) over real HTTP: the IdP's sign-in
//! form names the service asking, signed-in pages are never stored, the demo backends answer
//! 404 for unknown paths, and the backend's own "Sign out" button (a same-origin POST) signs
//! out of every service and of the IdP through single logout, ending on "Sign in again".
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
