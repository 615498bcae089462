//! The agent's people-facing behaviour (issue 18) over real HTTP: the shared stylesheet, HTML
//! 405 pages for browsers and problem documents for API clients, `no-store` on every proxied
//! answer of a signed-in session, Back after sign-in (a used response re-posted by a
//! signed-in browser goes to the page), and sign-out from the backend's own "Sign out" button
//! (a same-origin POST without the confirmation token) — refused from another origin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::common::{get, urlencode, Agent, Browser, Opts};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stylesheet_and_error_pages_are_served_in_the_clients_format() {
    let agent = Agent::start(Opts::default()).await;
    let css = get(&agent, "/.idaas/style.css", &[]).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.headers("content-type"), ["text/css; charset=utf-8"]);
    let page = get(&agent, "/saml/acs", &[("Accept", "text/html")]).await;
    assert_eq!(page.status, 405);
    assert_eq!(page.headers("content-type"), ["text/html; charset=utf-8"]);
    assert!(page.body.contains("<nav class=\"actions\">") && page.body.contains("viewport"), "{}", page.body);
    let api = get(&agent, "/saml/acs", &[]).await;
    assert_eq!(api.status, 405);
    assert_eq!(api.headers("content-type"), ["application/problem+json"]);
    // The 401 for a signed-out POST offers a way on.
    let a = crate::common::request(&agent, None, "POST", "/x", &[], b"").await;
    assert_eq!(a.status, 401);
    assert!(a.body.contains("href=\"/saml/login\""), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_answers_are_never_stored_and_back_after_sign_in_goes_to_the_page() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    let id = b.start_sign_in(&agent, "/cart").await;
    let response = agent.response(&id);
    let posted = |xml: &str| format!("SAMLResponse={}&RelayState=%2Fcart", urlencode(&STANDARD.encode(xml)));
    let a = b.send(&agent, "POST", "/saml/acs", &[FORM], posted(&response).as_bytes()).await;
    assert_eq!(a.status, 303, "{a:?}");

    let page = b.send(&agent, "GET", "/cart", &[], b"").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers("cache-control"), ["no-store"], "{}", page.head);
    // A public path carries no session data: the backend's caching stands.
    let public = get(&agent, "/pub/x", &[]).await;
    assert!(public.headers("cache-control").is_empty(), "{}", public.head);

    // Back re-posts the used response: this browser is signed in, so it goes to the page.
    let again = b.send(&agent, "POST", "/saml/acs", &[FORM], posted(&response).as_bytes()).await;
    assert_eq!(again.status, 303, "{again:?}");
    assert_eq!(again.headers("location"), ["/cart"]);
    // A hostile RelayState cannot make that an open redirect.
    let hostile = format!(
        "SAMLResponse={}&RelayState=https%3A%2F%2Fevil.example%2F",
        urlencode(&STANDARD.encode(&response))
    );
    let again = b.send(&agent, "POST", "/saml/acs", &[FORM], hostile.as_bytes()).await;
    assert_eq!(again.headers("location"), ["/"]);
    // Without a session, the same post is still refused.
    let mut stranger = Browser::default();
    let refused = stranger.send(&agent, "POST", "/saml/acs", &[FORM], posted(&response).as_bytes()).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("Sign in again"), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_sign_out_button_works_from_this_origin_only() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    b.sign_in(&agent).await;
    let own = agent.state.config.public_url.clone();
    for origin in ["https://evil.example", "null", &format!("{own}.evil.example")] {
        let a = b.send(&agent, "POST", "/saml/logout", &[FORM, ("Origin", origin)], b"").await;
        assert_eq!(a.status, 403, "{origin}: {a:?}");
    }
    assert_eq!(b.send(&agent, "GET", "/still", &[], b"").await.status, 200, "still signed in");
    let a = b.send(&agent, "POST", "/saml/logout", &[FORM, ("Origin", &own)], b"").await;
    // No SingleLogoutService in this test's IdP metadata: the sign-out is local.
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body.contains("Sign in again") && a.body.contains("href=\"/saml/login\""), "{}", a.body);
    assert_eq!(b.send(&agent, "GET", "/gone", &[], b"").await.status, 302, "signed out");
}
