//! Single Logout over real HTTP, with the quickstart stack: bob signs in to shopping and
//! delivery with one password, signs out at shopping (SP-initiated) or at the IdP's `/logout`
//! (IdP-initiated), and every session ends — the agents', the IdP's (the next SSO asks for the
//! password). A participant that never answers delays the chain only until the hop timeout,
//! and the initiator hears `PartialLogout`. Forged, unsigned, misaddressed and replayed logout
//! messages at both `/saml/slo` endpoints change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use federation::binding::Binding;
use federation::logout::{encode_request, Outbound, RequestParams, Signer};
use federation::signing_key::SigningKey;
use federation::testing::TestSigner;
use idaas::browser::form_input as input;
use idaas::stack::{self, Options, Stack};
use reqwest::StatusCode;
use service_kit::ManualClock;

use super::e2e::{browser, visit};

/// 2025-10-09, noon UTC.
pub(super) const T0: i64 = 1_760_011_200;

pub(super) async fn start(dir: &std::path::Path, clock: Arc<ManualClock>) -> Stack {
    let options = Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock,
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    };
    stack::start(options).await.unwrap()
}

pub(super) fn location(r: &reqwest::Response) -> String {
    idaas::browser::location(r).unwrap()
}

/// bob signs in to shopping (password) and delivery (SSO, no password).
pub(super) async fn sign_in_to_both(stack: &Stack, b: &reqwest::Client) {
    assert!(visit(stack, b, 0, "/cart").await.asked_password);
    assert!(!visit(stack, b, 1, "/ship").await.asked_password, "SSO: one password");
}

/// Whether the browser has a session at agent `service` (a protected GET is served, not
/// redirected to the IdP).
pub(super) async fn has_session(stack: &Stack, b: &reqwest::Client, service: usize, path: &str) -> bool {
    let r = b.get(format!("{}{path}", stack.agent_urls[service])).send().await.unwrap();
    match r.status() {
        StatusCode::OK => true,
        StatusCode::FOUND => false,
        other => panic!("unexpected {other}"),
    }
}

/// Whether the next SSO at the IdP asks for the password (the IdP session is gone).
pub(super) async fn idp_asks_password(stack: &Stack, b: &reqwest::Client) -> bool {
    let r = b.get(format!("{}/cart", stack.agent_urls[0])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let page = b.get(location(&r)).send().await.unwrap().text().await.unwrap();
    page.contains("action=\"/saml/login\"")
}

/// Follows redirects from `url`; returns every URL visited and the final page.
pub(super) async fn follow(
    b: &reqwest::Client,
    mut url: String,
    max: usize,
) -> (Vec<String>, StatusCode, String) {
    let mut visited = Vec::new();
    for _ in 0..max {
        visited.push(url.clone());
        let r = b.get(&url).send().await.unwrap();
        if r.status() == StatusCode::FOUND || r.status() == StatusCode::SEE_OTHER {
            url = location(&r);
            continue;
        }
        let status = r.status();
        return (visited, status, r.text().await.unwrap());
    }
    panic!("too many redirects: {visited:?}")
}

/// Posts the agent's sign-out form; returns the redirect to the IdP.
async fn sign_out_at(stack: &Stack, b: &reqwest::Client, service: usize) -> String {
    let agent = &stack.agent_urls[service];
    let page = b.get(format!("{agent}/saml/logout")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").expect("the confirmation form");
    let r = b.post(format!("{agent}/saml/logout")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "to the IdP's SingleLogoutService");
    let to = location(&r);
    assert!(to.starts_with(&format!("{}/saml/slo?SAMLRequest=", stack.home_url)), "{to}");
    assert!(to.contains("&Signature="), "signed");
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_one_service_signs_out_of_all() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::new(ManualClock::new(T0))).await;
    let b = browser();
    sign_in_to_both(&stack, &b).await;

    // SP-initiated: shopping → IdP → delivery → IdP → shopping.
    let to_idp = sign_out_at(&stack, &b, 0).await;
    let (visited, status, page) = follow(&b, to_idp.clone(), 8).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("signed out of this service and of your identity provider"), "{page}");
    let hosts: Vec<&str> = visited.iter().map(|u| u.split("/saml/").next().unwrap()).collect();
    let (home, shop, delivery) = (&stack.home_url, &stack.agent_urls[0], &stack.agent_urls[1]);
    assert_eq!(hosts, [home, delivery, home, shop], "{visited:?}");
    assert!(visited[1].contains("SAMLRequest=") && visited[2].contains("SAMLResponse="));

    assert!(!has_session(&stack, &b, 1, "/ship").await, "delivery's session is gone too");
    assert!(!has_session(&stack, &b, 0, "/cart").await);
    assert!(idp_asks_password(&stack, &b).await, "the IdP session is gone");

    // The LogoutRequest again (replayed): refused, nothing happens.
    let r = b.get(&to_idp).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("already received"));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_the_idp_signs_out_of_all_services() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::new(ManualClock::new(T0))).await;
    let b = browser();
    sign_in_to_both(&stack, &b).await;

    let page = b.get(format!("{}/logout", stack.home_url)).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").expect("the IdP's confirmation form");
    // Without the token: refused, nothing changes.
    let r = b.post(format!("{}/logout", stack.home_url)).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(has_session(&stack, &b, 1, "/ship").await);

    let r =
        b.post(format!("{}/logout", stack.home_url)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let first = location(&r);
    let (visited, status, page) = follow(&b, first.clone(), 8).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("You are signed out of all services."), "{page}");
    assert_eq!(visited.len(), 4, "each agent asked, each answered: {visited:?}");
    assert!(!has_session(&stack, &b, 0, "/cart").await);
    assert!(!has_session(&stack, &b, 1, "/ship").await);
    assert!(idp_asks_password(&stack, &b).await);

    // The IdP's LogoutRequest to the first agent, replayed: refused.
    let r = b.get(&first).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_that_never_answers_delays_the_chain_only_until_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = start(dir.path(), clock.clone()).await;
    let b = browser();
    sign_in_to_both(&stack, &b).await;

    let to_idp = sign_out_at(&stack, &b, 0).await;
    let r = b.get(&to_idp).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(&r).starts_with(&format!("{}/saml/slo?SAMLRequest=", stack.agent_urls[1])));
    // delivery's page never loads. Back at the IdP, the chain waits for it, then goes on.
    let r = b.get(format!("{}/logout", stack.home_url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("refresh"));
    clock.advance(idp_home::slo::HOP_TIMEOUT + 1);
    let (visited, status, page) = follow(&b, format!("{}/logout", stack.home_url), 4).await;
    assert_eq!(status, StatusCode::OK);
    assert!(visited[1].starts_with(&format!("{}/saml/slo?SAMLResponse=", stack.agent_urls[0])));
    assert!(page.contains("could not be signed out"), "PartialLogout reported: {page}");
    assert!(has_session(&stack, &b, 1, "/ship").await, "delivery never heard of it");
    assert!(idp_asks_password(&stack, &b).await, "the IdP session ended first");
    stack.stop().await;
}

fn forged_request(key_der: &[u8], cert_b64: &str, issuer: &str, destination: &str, name_id: &str) -> String {
    let indexes: Vec<String> = Vec::new();
    let p = RequestParams { issuer, destination, name_id, session_indexes: &indexes, now: T0, lifetime: 300 };
    let signer = Signer { key_der, cert_base64: cert_b64 };
    match encode_request(&p, Binding::Redirect, None, signer, &mut rand_core::OsRng).unwrap().1 {
        Outbound::Redirect { url } => url,
        Outbound::Post { .. } => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_and_misaddressed_logout_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stack = start(dir.path(), Arc::new(ManualClock::new(T0))).await;
    let b = browser();
    sign_in_to_both(&stack, &b).await;
    let (home, shop, delivery) = (&stack.home_url, &stack.agent_urls[0], &stack.agent_urls[1]);
    let shop_id = format!("{shop}/saml/metadata");
    let idp_slo = format!("{home}/saml/slo");
    let forger = TestSigner::new(99);
    let shop_key = SigningKey::load_or_create(&dir.path().join("shopping"), "unused").unwrap();
    let idp_key = SigningKey::load_or_create(&dir.path().join("home"), "unused").unwrap();
    let (fk, fc) = (forger.key_der.as_slice(), forger.cert_base64());
    let (sk, sc) = (shop_key.key_der(), shop_key.cert_base64());
    let (ik, ic) = (idp_key.key_der(), idp_key.cert_base64());

    let forged = forged_request(fk, &fc, &shop_id, &idp_slo, stack::USER);
    let unsigned = forged.split("&SigAlg=").next().unwrap().to_owned();
    let wrong_issuer = forged_request(sk, &sc, &format!("{delivery}/saml/metadata"), &idp_slo, stack::USER);
    let unknown_issuer = forged_request(sk, &sc, "https://evil.example", &idp_slo, stack::USER);
    let elsewhere = format!("{home}/elsewhere");
    let misaddressed =
        forged_request(sk, &sc, &shop_id, &elsewhere, stack::USER).replace(&elsewhere, &idp_slo);
    // At each agent: the forger, the unsigned request, a request signed by another party
    // (shopping's own key), and the IdP's real key addressed to the other agent.
    let at_agent = |agent: &str, other: &str| {
        let slo = format!("{agent}/saml/slo");
        let forged = forged_request(fk, &fc, home, &slo, stack::USER);
        vec![
            forged.clone(),
            forged.split("&SigAlg=").next().unwrap().to_owned(),
            forged_request(sk, &sc, home, &slo, stack::USER),
            forged_request(ik, &ic, home, &format!("{other}/saml/slo"), stack::USER).replace(other, agent),
            format!("{slo}?SAMLRequest=garbage&SigAlg=x&Signature=y"),
        ]
    };
    let mut attacks = vec![forged, unsigned, wrong_issuer, unknown_issuer, misaddressed];
    attacks.extend(at_agent(shop, delivery));
    attacks.extend(at_agent(delivery, shop));
    for url in &attacks {
        let r = b.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
        let page = r.text().await.unwrap();
        assert!(page.contains("Sign-out failed") || page.contains("sign-out"), "{page}");
    }
    // POST binding: an unsigned request.
    let r = b
        .post(format!("{home}/saml/slo"))
        .form(&[("SAMLRequest", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "<x/>"))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(has_session(&stack, &b, 0, "/cart").await, "shopping's session survives");
    assert!(has_session(&stack, &b, 1, "/ship").await, "delivery's session survives");
    let r = b.get(format!("{home}/logout")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("name=\"csrf\""), "the IdP session survives");
    stack.stop().await;
}
