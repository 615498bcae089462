//! One propagated call end to end, with the whole quickstart stack in-process on loopback:
//! `POST /order` at the shopping agent → shopping backend → the agent's egress route
//! (session handle lookup, TAT re-sealed with HPKE for delivery, Ed25519 call signature) →
//! delivery agent (signature, window, nonce, assertion signature, TAT unseal and decode, PAT,
//! TAT/PAT binding, decryption of the three Table 1 ciphertexts) → delivery backend, and back.
//! Target: ≤ 20 ms median.
//!
//! - `order` — a call in a session that already propagated once: delivery reuses the PAT it
//!   exchanged for this assertion (a client may exchange an assertion only once).
//! - `order/first-of-session` — the first call after a fresh sign-in, including delivery's
//!   RFC 7522 exchange at the visitor IdP (sign-in is setup, not measured).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a benchmark that cannot set up should stop

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use idaas::stack::{self, Options};

fn input(html: &str, name: &str) -> String {
    idaas::browser::form_input(html, name).expect("a hidden input")
}

fn propagation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = rt
        .block_on(stack::start(Options {
            base_port: 0,
            data_dir: dir.path().to_owned(),
            clock: Arc::new(service_kit::SystemClock),
            suite: pbe_core::SuiteId::Bls12_381,
            tls: false,
            store_url: None,
            public: None,
        }))
        .unwrap();
    let shop = stack.agent_urls[0].clone();
    let new_browser = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    // A browser signed in at shopping (a fresh agent session each time).
    let signed_in = |browser: &reqwest::Client| {
        rt.block_on(async {
            let r = browser.get(format!("{shop}/saml/login?return_to=/")).send().await.unwrap();
            let sso = r.headers()["location"].to_str().unwrap().to_owned();
            let mut page = browser.get(&sso).send().await.unwrap().text().await.unwrap();
            if page.contains("action=\"/saml/login\"") {
                let csrf = input(&page, "csrf");
                page = browser
                    .post(format!("{}/saml/login", stack.home_url))
                    .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", stack.password.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
            }
            let page = idaas::browser::through_consent(browser, &stack.home_url, page).await.unwrap();
            let resp = input(&page, "SAMLResponse");
            let r = browser
                .post(format!("{shop}/saml/acs"))
                .form(&[("SAMLResponse", resp.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
        })
    };
    let order = format!("{shop}/order");
    let place = |browser: &reqwest::Client| {
        rt.block_on(async {
            let r = browser.post(&order).body("{\"item\":\"42\"}").send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap()
        })
    };

    let mut g = c.benchmark_group("propagation");
    g.sample_size(30);
    let browser = new_browser();
    signed_in(&browser);
    place(&browser);
    g.bench_function("order (shopping -> delivery, PAT reused)", |b| b.iter(|| place(&browser)));
    g.sample_size(20);
    g.bench_function("order/first-of-session (incl. RFC 7522 exchange)", |b| {
        b.iter_batched(
            || {
                let browser = new_browser();
                signed_in(&browser);
                browser
            },
            |browser| place(&browser),
            BatchSize::PerIteration,
        )
    });
    g.finish();
    rt.block_on(stack.stop());
}

criterion_group!(benches, propagation);
criterion_main!(benches);
