//! Issue 15, defect 4: an assertion carries per PII attribute only a digest, plus one
//! reference; the agent fetches the ciphertexts from the home IdP. So bob can hold the full
//! 64 attributes (the vault's cap) under the paper's Table 1 policy and still sign in at
//! every security level, through a visitor IdP with its **default** 256 KiB body limit (the
//! quickstart stack no longer raises it), and the assertion stays small. Before the fix, the
//! assertion carried every ciphertext (the sizes are printed next to each other; the figures
//! are in docs/performance.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use idaas::owner::{HomeClient, PolicySource};
use idaas::stack::{self, Options};
use pbe_core::SuiteId;
use service_kit::{Clock as _, ManualClock};

use super::e2e::{browser, pii_names, visit};

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;
/// The assertion must stay far below the visitor IdP's default body limit (256 KiB; the body
/// is the assertion in base64url, 4/3 of it): at most a quarter of the limit in that form,
/// which leaves room for a long NameID and many groups.
const SMALL: usize = 256 * 1024 / 4;

async fn sign_in_with_64_attributes(suite: SuiteId) {
    assert_eq!(idp_visitor::Config::default().max_body_bytes, 256 * 1024, "the default this test relies on");
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: clock.clone(),
        suite,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    // The stack stores Table 1 (3 attributes); 61 more under lastname's policy fill the vault.
    // One encryption serves them all (encrypting 61 times at 256 bits would only cost time:
    // what is measured is what travels).
    let owner = HomeClient::new(&stack.home_url).unwrap();
    let token = owner.upload_token(stack::USER, &stack.password, None).await.unwrap().token;
    let (_, _, lastname_policy) = pbe_core::disclosure::table1().into_iter().next().unwrap();
    let today = clock.today().unwrap();
    let (ct, _) =
        owner.encrypt(&PolicySource::Disclosure(Box::new(lastname_policy), today), b"Tri").await.unwrap();
    for i in 0..61 {
        owner.put(&token, &format!("extra.{i:02}"), &ct).await.unwrap();
    }
    let held = owner.list(&token).await.unwrap();
    assert_eq!(held.len(), federation::claims::MAX_PII);
    // What the old assertion carried: every ciphertext, base64url.
    let ciphertext_text: usize = held.iter().map(|s| s.size.div_ceil(3) * 4).sum();

    let seen = visit(&stack, &browser(), 0, "/cart").await;
    let names = pii_names(&seen.seen);
    // (Header names turn `.` into `-`: `extra.60` arrives as `X-Idaas-Pii-extra-60`.)
    assert_eq!(names.len(), 63, "lastname, dob and the 61 extras open at shopping; addresses stays closed");
    assert!(names.iter().all(|n| n != "addresses"));
    assert_eq!(seen.seen["pii"]["extra-60"], "Tri", "{names:?}");
    let response = STANDARD.decode(&seen.saml_response).unwrap();
    eprintln!(
        "{}: 64 attributes, SAML response {} bytes (its ciphertexts alone would have added {} bytes)",
        suite.name(),
        response.len(),
        ciphertext_text
    );
    assert!(response.len().div_ceil(3) * 4 < SMALL, "{} bytes", response.len());
    assert!(ciphertext_text > SMALL, "the ciphertexts themselves are large: {ciphertext_text}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_attributes_sign_in_at_bn254() {
    sign_in_with_64_attributes(SuiteId::Bn254).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_attributes_sign_in_at_bls12_381() {
    sign_in_with_64_attributes(SuiteId::Bls12_381).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_attributes_sign_in_at_bls24_479() {
    sign_in_with_64_attributes(SuiteId::Bls24_479).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_attributes_sign_in_at_bls48_581() {
    sign_in_with_64_attributes(SuiteId::Bls48_581).await;
}

/// The digest check against a real home IdP whose answer is not what it signed: between the
/// signed response and the agent's fetch, bob's `lastname` is replaced by the ciphertext of
/// his `dob` (a valid ciphertext he could decrypt, under another name). The home IdP answers
/// its current vault, the agent finds a ciphertext whose SHA-256 is not the signed digest, and
/// refuses it: `lastname` is not shown (and not shown as the date of birth), `dob` still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ciphertext_that_is_not_the_signed_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: Arc::new(ManualClock::new(T0)),
        suite: SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    let b = browser();
    let (page, _) = super::e2e::to_auto_post(&stack, &b, 0, "/cart").await;
    let owner = HomeClient::new(&stack.home_url).unwrap();
    let token = owner.upload_token(stack::USER, &stack.password, None).await.unwrap().token;
    let dob: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/pii/dob", stack.home_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    owner.put(&token, "lastname", dob["ciphertext"].as_str().unwrap()).await.unwrap();

    let response = idaas::browser::form_input(&page, "SAMLResponse").unwrap();
    let relay = idaas::browser::form_input(&page, "RelayState").unwrap_or_default();
    let r = b
        .post(super::e2e::form_action(&page))
        .form(&[("SAMLResponse", response.as_str()), ("RelayState", relay.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "the sign-in itself succeeds");
    let seen: serde_json::Value =
        b.get(format!("{}/cart", stack.agent_urls[0])).send().await.unwrap().json().await.unwrap();
    assert_eq!(pii_names(&seen), ["dob"], "{seen}");
    assert_eq!(seen["pii"]["dob"], "1980-01-01");
    stack.stop().await;
}
