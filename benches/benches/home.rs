//! The home IdP's per-sign-in cost: building and signing one SSO response for a PBE service
//! provider — TAT key generation (19 attributes), HPKE sealing, the three Table 1 ciphertexts
//! as attributes, XML construction and the RSA-SHA256 XML signature (target ≤ 10 ms, password
//! hashing excluded). The plain-SAML variant shows what the PBE part adds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use federation::seal::RecipientKey;
use idp_home::config::{Config, PbeConfig, SpConfig, VisitorAuthority};
use idp_home::keys::Keys;
use idp_home::model::{PiiRecord, ServiceProvider, User};
use idp_home::saml::request::AcceptedRequest;
use idp_home::saml::response::build_for;
use idp_home::sso_sessions::IdpSession;
use idp_home::state::AppState;
use idp_home::store::pg::PgStore;
use idp_home::store::{SledStore, Store};
use pbe_core::disclosure::table1;
use pbe_core::{AuthorityPublicKey, AuthoritySecretKey, Bls12_381Suite, Encryptor};
use rand_chacha::rand_core::SeedableRng;
use service_kit::pg::testing::Cluster;
use service_kit::ManualClock;

type S = Bls12_381Suite;
const T0: i64 = 1_760_011_200;

fn sso_response(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    sso_response_on(c, "home-idp", Arc::new(SledStore::open(&dir.path().join("db")).unwrap()));
    // The same with the records in PostgreSQL (issue 17), a throwaway cluster on loopback.
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("bench").unwrap();
    sso_response_on(c, "home-idp-postgres", Arc::new(PgStore::open(&cluster.url("bench")).unwrap()));
}

fn sso_response_on(c: &mut Criterion, group: &str, store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let salesforce = AuthoritySecretKey::<S>::setup("salesforce", rng).unwrap();
    let amazon = AuthoritySecretKey::<S>::setup("amazon", rng).unwrap();
    let sp_key = RecipientKey::generate(federation::seal::SealSuite::X25519Aes128, rng);
    let shop = SpConfig {
        entity_id: "https://shop.example/saml/metadata".into(),
        acs_urls: vec!["https://shop.example/saml/acs".into()],
        authn_request_cert_pem: None,
        release: vec!["groups".into()],
        attribute_names: Default::default(),
        sign: Default::default(),
        authn_requests_signed: true,
        display_name: None,
        purposes: Vec::new(),
        slo: None,
        consent: Some(idp_home::model::ConsentMode::Implied),
        require_mfa: false,
        pbe: Some(PbeConfig {
            tat_public_key: sp_key.public_text(),
            visitor_entity_id: "https://salesforce.example".into(),
            visitor_token_endpoint: "https://salesforce.example/oauth2/token".into(),
            domain: "salesforce".into(),
            country: "eu".into(),
        }),
    };
    let wiki = SpConfig { entity_id: "https://wiki.example".into(), pbe: None, ..shop.clone() };
    let authority = |k: &AuthoritySecretKey<S>| VisitorAuthority {
        name: k.name().into(),
        public_key: Some(pbe_core::wire::to_text(&k.public_key().to_bytes())),
        url: None,
    };
    let config = Config {
        data_dir: dir.path().to_owned(),
        public_url: "https://idp.example".into(),
        entity_id: "https://idp.example".into(),
        service_providers: vec![shop.clone(), wiki.clone()],
        visitor_authorities: vec![authority(&salesforce), authority(&amazon)],
        ..Config::default()
    };
    let keys = Keys::load_or_create(dir.path(), "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
    let state = AppState::new(config, store.clone(), Arc::new(ManualClock::new(T0)), Arc::new(keys)).unwrap();

    let user = User {
        uid: "bob".into(),
        email: "bob@example.org".into(),
        password_hash: String::new(),
        verified: true,
        groups: vec!["customers".into()],
        created: T0,
        security: Default::default(),
        grants: Vec::new(),
    };
    store.put_user(&user).unwrap();
    let home = AuthorityPublicKey::<S>::from_bytes(
        &pbe_core::wire::from_text(&state.keys.authority_public_key_text()).unwrap(),
    )
    .unwrap();
    let encryptor = Encryptor::new([&home, salesforce.public_key(), amazon.public_key()]).unwrap();
    for (name, value, disclosure) in table1() {
        let policy = disclosure.compile("telekom", (T0 / 86_400) as u64).unwrap();
        let ct = encryptor.encrypt(&policy, value.as_bytes(), rng).unwrap();
        let record = PiiRecord {
            attribute: name.into(),
            ciphertext: ct.into_bytes(),
            policy: policy.to_string(),
            authorities: vec![],
            updated: T0,
        };
        store.put_pii("bob", &record).unwrap();
    }
    let session = IdpSession {
        id: String::new(),
        uid: "bob".into(),
        authn_instant: T0,
        expires: T0 + 8 * 3600,
        participants: Vec::new(),
        mfa: false,
    };
    let request = |sp: &SpConfig| AcceptedRequest {
        id: "_req".into(),
        sp_entity_id: sp.entity_id.clone(),
        acs_url: sp.acs_urls[0].clone(),
        acs_index: 0,
        flags: Default::default(),
    };
    let (shop_req, wiki_req) = (request(&shop), request(&wiki));
    let (shop_sp, wiki_sp): (ServiceProvider, ServiceProvider) = (shop.into(), wiki.into());
    // The same service registered with `sign = "both"` (a PBE service's default signs only the
    // Assertion, which is all its agent and the RFC 7522 exchange check).
    let shop_both =
        ServiceProvider { sign: Some(federation::assertion::SignedParts::Both), ..shop_sp.clone() };

    let metrics = service_kit::metrics::Metrics::new("bench");
    let mut g = c.benchmark_group(group);
    g.sample_size(30);
    let before = metrics.render();
    g.bench_function("sso-response/pbe (TAT 19 attrs + seal + 3 ciphertexts + sign)", |b| {
        b.iter(|| build_for(&state, &shop_sp, &user, &shop_req, &session).unwrap())
    });
    let after = metrics.render();
    benches::print_phases(&format!("{group}/pbe"), &before, &after);
    g.bench_function("sso-response/pbe, Response signed too (sign = both)", |b| {
        b.iter(|| build_for(&state, &shop_both, &user, &shop_req, &session).unwrap())
    });
    let both = metrics.render();
    benches::print_phases(&format!("{group}/pbe-both"), &after, &both);
    let after = both;
    g.bench_function("sso-response/plain-saml (sign only)", |b| {
        b.iter(|| build_for(&state, &wiki_sp, &user, &wiki_req, &session).unwrap())
    });
    benches::print_phases(&format!("{group}/plain-saml"), &after, &metrics.render());
    // Verifying that response as a relying party does (PreDigest, SHA-256 or stronger): with
    // the certificate decoded at every call (samael as published) and decoded once
    // (`federation::verify::reduce_to_signed`), side by side in one run (issue 22).
    let xml = build_for(&state, &shop_sp, &user, &shop_req, &session).unwrap().xml;
    let cert = state.keys.signing_cert_der();
    let allowed = Some(federation::verify::ALLOWED_ALGORITHMS);
    g.bench_function("verify-response/certificate decoded per call", |b| {
        use samael::crypto::CryptoProvider as _;
        let certs = [samael::crypto::CertificateDer::from(cert.clone())];
        b.iter(|| {
            samael::crypto::Crypto::reduce_xml_to_signed_with_allowed_algorithms(
                &xml,
                &certs,
                samael::crypto::ReduceMode::PreDigest,
                allowed,
            )
            .unwrap()
        })
    });
    g.bench_function("verify-response/certificate decoded once", |b| {
        b.iter(|| {
            federation::verify::reduce_to_signed(
                &xml,
                &[&cert],
                samael::crypto::ReduceMode::PreDigest,
                allowed,
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, sso_response);
criterion_main!(benches);
