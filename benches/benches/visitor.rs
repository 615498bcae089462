//! The visitor IdP's per-exchange cost: one RFC 7522 token request end to end in-process —
//! HTTP request through the axum app (`tower::ServiceExt::oneshot`), form parsing, client
//! authentication (client_secret_basic; the argon2id verification is remembered after the
//! first request, as in the service), XML-signature verification of the home IdP's assertion
//! (RSA-SHA256 via libxmlsec1), the RFC 7522 checks, PAT key generation (2 purposes), HPKE
//! sealing, the Ed25519 grant receipt, and the sled transaction (replay record, access token,
//! audit entry; flushed). Target ≤ 10 ms median. Each iteration exchanges a fresh assertion
//! (signed outside the timed part), since an assertion can be exchanged once per client.
//!
//! `visitor/verify_assertion` and `visitor/issue_pat` time the two expensive steps alone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use federation::assertion::{build_signed_response, AttributeValues, Recipient, ResponseParams};
use federation::pat::GRANT_TYPE_SAML2_BEARER;
use federation::seal::RecipientKey;
use federation::verify::TrustStore;
use idp_visitor::config::{ClientConfig, Config, Secret};
use idp_visitor::store::pg::PgStore;
use idp_visitor::store::SledStore;
use idp_visitor::AppState;
use rand_chacha::rand_core::SeedableRng;
use service_kit::pg::testing::Cluster;
use service_kit::ManualClock;
use tower::ServiceExt as _;

const T0: i64 = 1_760_011_200;
const BASE: &str = "https://salesforce.example";
const IDP: &str = "https://idp.example";
const SECRET: &str = "shop-secret-0123456789abcdef0123456789";

fn token_request(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    token_request_on(c, "visitor", Arc::new(SledStore::open(&dir.path().join("db")).unwrap()));
    // The same with the records in PostgreSQL (issue 17), a throwaway cluster on loopback.
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("bench").unwrap();
    token_request_on(c, "visitor-postgres", Arc::new(PgStore::open(&cluster.url("bench")).unwrap()));
}

fn token_request_on(c: &mut Criterion, group: &str, store: Arc<dyn idp_visitor::store::Store>) {
    let dir = tempfile::tempdir().unwrap();
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
    // The home IdP's own key material (RSA-2048 signing key and certificate).
    let home =
        idp_home::keys::Keys::load_or_create(dir.path(), "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
    let agent_key = RecipientKey::generate(federation::seal::SealSuite::X25519Aes128, rng);
    let config = Config {
        public_url: BASE.into(),
        entity_id: BASE.into(),
        clients: vec![ClientConfig {
            client_id: "shop".into(),
            client_secret: Some(Secret::new(SECRET)),
            name: "Shopping service".into(),
            purposes: vec!["purpose:current".into(), "ppurpose:purchase".into()],
            pat_public_key: Some(agent_key.public_text()),
            entity_id: Some("https://shop.example".into()),
            may_exchange_for: Vec::new(),
        }],
        ..Config::default()
    };
    let mut trust = TrustStore::new();
    trust.insert(IDP, vec![home.signing_cert_der().to_vec()]).unwrap();
    let keys = idp_visitor::keys::Keys::ephemeral("salesforce", pbe_core::SuiteId::Bls12_381, rng).unwrap();
    let state = AppState::new(config, store, Arc::new(ManualClock::new(T0)), Arc::new(keys), trust).unwrap();
    let app = idp_visitor::http::app(state.clone());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let mut n = 0u64;
    let mut assertion = move || {
        n += 1;
        let p = ResponseParams {
            signed_parts: Default::default(),
            issuer: IDP.into(),
            destination: "https://shop.example/saml/acs".into(),
            in_response_to: Some("_req".into()),
            name_id: "bob".into(),
            recipients: vec![
                Recipient {
                    url: "https://shop.example/saml/acs".into(),
                    in_response_to: Some("_req".into()),
                },
                Recipient { url: format!("{BASE}/oauth2/token"), in_response_to: None },
            ],
            audiences: vec!["https://shop.example".into(), BASE.into()],
            now: T0,
            lifetime: 300,
            session_index: format!("_session-{n}"),
            session_not_on_or_after: T0 + 8 * 3600,
            authn_instant: T0,
            attributes: vec![AttributeValues::basic("groups", vec!["customers".into()])],
        };
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(n);
        let signed =
            build_signed_response(&p, &home.signing_key_der(), &home.signing_cert_base64(), rng).unwrap();
        let start = signed.xml.find("<saml:Assertion").unwrap();
        let end = signed.xml.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        URL_SAFE_NO_PAD.encode(&signed.xml[start..end])
    };
    let basic = format!("Basic {}", STANDARD.encode(format!("shop:{SECRET}")));
    let request = |assertion: String| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE_SAML2_BEARER)
            .append_pair("assertion", &assertion)
            .finish();
        Request::post("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, &basic)
            .body(Body::from(body))
            .unwrap()
    };
    let exchange = |req: Request<Body>| {
        let res = rt.block_on(app.clone().oneshot(req)).unwrap();
        assert_eq!(res.status(), 200);
        res
    };
    // Warm-up: the first request pays the argon2id verification of the client secret.
    exchange(request(assertion()));

    let mut g = c.benchmark_group(group);
    g.sample_size(50);
    g.bench_function("token_request_end_to_end", |b| {
        b.iter_batched(|| request(assertion()), exchange, BatchSize::SmallInput)
    });
    g.bench_function("verify_assertion", |b| {
        let a = assertion();
        b.iter(|| idp_visitor::grant::verify_assertion(&state, &a).unwrap())
    });
    g.bench_function("issue_pat_2_purposes", |b| {
        let purposes = ["purpose:current".to_owned(), "ppurpose:purchase".to_owned()];
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(2);
        b.iter(|| state.keys.issue_pat("bob", "_session", &purposes, rng).unwrap())
    });
    g.finish();
}

criterion_group!(benches, token_request);
criterion_main!(benches);
