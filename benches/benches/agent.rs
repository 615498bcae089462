//! The web agent's two costs, with the whole quickstart stack in-process on loopback:
//! - **ACS processing**: `POST /saml/acs` for a fresh response: base64, signature
//!   verification, checks, TAT unseal, RFC 7522 exchange at the visitor IdP (which verifies
//!   the assertion again and issues the PAT), PAT unseal, and decryption of the three Table 1
//!   ciphertexts (target ≤ 15 ms). Producing the response at the home IdP is setup, not measured.
//! - **Proxy overhead**: a request with a session through the agent, beside the same request
//!   sent to the backend directly (target: difference ≤ 0.5 ms).
//! - **`agent-open/<n>-values/<schedule>`**: the agent's decryption step alone
//!   (`web_agent::decrypt::open`: TAT and PAT decoding, then `n` = 1, 2, 3 Table 1 values), each
//!   value on both cores one after another, or the values shared out over two threads (issue
//!   22: which schedule the agent uses).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a benchmark that cannot set up should stop

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use idaas::stack::{self, Options};
use service_kit::pg::testing::Cluster;

fn input(html: &str, name: &str) -> String {
    idaas::browser::form_input(html, name).expect("a hidden input")
}

fn open_values(c: &mut Criterion) {
    use benches::World;
    use pbe_core::{Bls12_381Suite as S, Suite};
    use web_agent::decrypt::{open_scheduled, Schedule};
    let world = World::<S>::new();
    // One PAT with the shopping and the delivery attributes: it opens all three values.
    let (tat, shopping, mut pat) = world.keys();
    pat.merge(&shopping).unwrap();
    let (tat, pat) = (tat.to_bytes(), pat.to_bytes());
    let cts: Vec<(String, Vec<u8>)> =
        world.table1(None).into_iter().map(|(name, ct)| (name.to_owned(), ct.into_bytes())).collect();
    let mut g = c.benchmark_group("agent-open");
    g.sample_size(30);
    for n in 1..=cts.len() {
        let some = &cts[..n];
        for (label, schedule) in
            [("both-cores", Schedule::EachOnBothCores), ("over-threads", Schedule::ValuesOverThreads)]
        {
            let run = || open_scheduled(S::ID, &tat, &pat, "bob", "session-1", some, benches::DAY, schedule);
            assert_eq!(run().unwrap().values.len(), n, "the PAT opens every Table 1 value");
            g.bench_function(format!("{n}-values/{label}"), |b| b.iter(run));
        }
    }
    g.finish();
}

fn agent(c: &mut Criterion) {
    agent_on(c, "web-agent", None);
    // The whole stack with its records and shared state in PostgreSQL (issue 17).
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("bench").unwrap();
    agent_on(c, "web-agent-postgres", Some(cluster.url("bench").expose().to_owned()));
}

fn agent_on(c: &mut Criterion, group: &str, store_url: Option<String>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = rt
        .block_on(stack::start(Options {
            base_port: 0,
            data_dir: dir.path().to_owned(),
            clock: Arc::new(service_kit::SystemClock),
            suite: pbe_core::SuiteId::Bls12_381,
            tls: false,
            store_url,
            public: None,
        }))
        .unwrap();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let shop = stack.agent_urls[0].clone();

    // A fresh SAMLResponse answering a fresh AuthnRequest of the shopping agent (the browser
    // keeps its IdP session, so no password after the first time).
    let fresh_response = || {
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
            let page = idaas::browser::through_consent(&browser, &stack.home_url, page).await.unwrap();
            input(&page, "SAMLResponse")
        })
    };
    let acs = format!("{shop}/saml/acs");
    let post = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let metrics = service_kit::metrics::Metrics::new("bench");
    let mut g = c.benchmark_group(group);
    g.sample_size(30);
    // Includes the home IdP's phases of the untimed setup (one SSO response per ACS request).
    let before = metrics.render();
    g.bench_function("acs (verify + TAT + RFC 7522 exchange + PAT + decrypt 3)", |b| {
        b.iter_batched(
            fresh_response,
            |resp| {
                rt.block_on(async {
                    // From the browser that started the sign-in: the agent accepts a response
                    // only together with that browser's sign-in cookie.
                    let r = browser.post(&acs).form(&[("SAMLResponse", resp.as_str())]).send().await.unwrap();
                    assert_eq!(r.status(), 303);
                })
            },
            BatchSize::PerIteration,
        )
    });

    benches::print_phases(&format!("{group}/acs"), &before, &metrics.render());

    // One signed-in session for the proxy benchmark.
    let resp = fresh_response();
    rt.block_on(async {
        let r = browser.post(&acs).form(&[("SAMLResponse", resp.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
    });
    let through_agent = format!("{shop}/cart");
    let direct = format!("{}/cart", stack.backend_urls[0]);
    g.sample_size(100);
    g.bench_function("proxy/through-agent", |b| {
        b.iter(|| {
            rt.block_on(async { browser.get(&through_agent).send().await.unwrap().bytes().await.unwrap() })
        })
    });
    g.bench_function("proxy/backend-direct", |b| {
        b.iter(|| rt.block_on(async { post.get(&direct).send().await.unwrap().bytes().await.unwrap() }))
    });
    g.finish();
    rt.block_on(stack.stop());
}

criterion_group!(benches, open_values, agent);
criterion_main!(benches);
