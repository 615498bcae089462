//! Identity propagation over real HTTP with the quickstart stack (docs/propagation.md): bob
//! signs in at shopping and places an order; shopping's backend calls delivery through its
//! agent; delivery decrypts with its own PAT — lastname and addresses, never dob, although the
//! shopping agent holds dob in clear and a misbehaving shopping backend tries to smuggle it.
//! Then the refusals: replayed call, unknown signer, tampered call, stale call, TAT sealed for
//! another service, a path the caller may not call, and egress without a valid session handle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::verify::UnverifiedAssertion;
use idaas::stack::{self, Options, Stack};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::{Clock as _, ManualClock};
use web_agent::config::PartnerConfig;
use web_agent::propagation::{self, CallSigner};
use web_agent::session::Propagation;

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;

/// The sealing suite of the 128-bit stacks of these tests.
const X25519: federation::seal::SealSuite = federation::seal::SealSuite::X25519Aes128;

fn browser() -> reqwest::Client {
    idaas::browser::client().expect("HTTP client")
}

fn location(r: &reqwest::Response) -> String {
    idaas::browser::location(r).unwrap()
}

use idaas::browser::form_input as input;

/// Signs bob in at shopping as a browser; returns the SAMLResponse the agent accepted.
async fn sign_in_at_shopping(stack: &Stack, b: &reqwest::Client) -> String {
    let agent = &stack.agent_urls[0];
    let r = b.get(format!("{agent}/cart")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let page = b.get(location(&r)).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let r = b
        .post(format!("{}/saml/login", stack.home_url))
        .form(&[("csrf", csrf.as_str()), ("uid", stack::USER), ("password", stack.password.as_str())])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let page = idaas::browser::through_consent(b, &stack.home_url, page).await.unwrap();
    let saml_response = input(&page, "SAMLResponse").expect("an auto-post form");
    let relay = input(&page, "RelayState").unwrap_or_default();
    let r = b
        .post(format!("{agent}/saml/acs"))
        .form(&[("SAMLResponse", saml_response.as_str()), ("RelayState", relay.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    saml_response
}

fn pii_names(seen: &Value) -> Vec<String> {
    seen["pii"].as_object().unwrap().keys().cloned().collect()
}

/// What a shopping agent holds for bob's session, rebuilt from the SAMLResponse with the
/// shopping agent's own key (so the test can sign calls as that agent would), and the PII
/// bundle it fetches from the home IdP for a call.
struct Material {
    propagation: Propagation,
    session_index: String,
    bundle: Vec<u8>,
}

async fn shopping_material(stack: &Stack, saml_response: &str) -> Material {
    let xml = String::from_utf8(STANDARD.decode(saml_response).unwrap()).unwrap();
    let metadata = std::fs::read_to_string(stack.data_dir.join("home-metadata.xml")).unwrap();
    let idp = web_agent::sp::TrustedIdp::from_metadata(&metadata).unwrap();
    let assertion = UnverifiedAssertion::parse_response(&xml, 1 << 20).unwrap().verify(&idp.trust).unwrap();
    let session_index = assertion.session_index().unwrap().to_owned();
    let sealed = &assertion.attribute(federation::claims::TAT_ATTRIBUTE).unwrap()[0];
    let shop_key = web_agent::keys::load_or_create(
        &stack.data_dir.join("shopping"),
        federation::seal::SealSuite::X25519Aes128,
    )
    .unwrap();
    let entity = format!("{}/saml/metadata", stack.agent_urls[0]);
    let opened = shop_key.open(sealed, &federation::seal::tat_info(&entity, &session_index)).unwrap();
    let tat = pbe_core::wire::from_binary_or_text(&opened).unwrap();
    let signed = web_agent::acs::signed_assertion(&xml, assertion.id()).unwrap().to_owned();
    let claims = federation::claims::Claims::read(&assertion).unwrap();
    let names: Vec<String> = claims.pii.keys().cloned().collect();
    let to = web_agent::pii::FetchFor {
        url: &idp.pii_fetch_url,
        pii_ref: &claims.pii_ref,
        uid: "bob",
        sp: &entity,
        session_index: &session_index,
        assertion_id: assertion.id(),
    };
    let http = web_agent::exchange::http_client(None).unwrap();
    let bundle = web_agent::pii::fetch(&http, &shop_key, to, names.iter()).await.unwrap().to_vec();
    let propagation = Propagation::new(signed, assertion.id().to_owned(), tat, claims.pii_ref, names);
    Material { propagation, session_index, bundle }
}

fn delivery_partner(stack: &Stack, tat_key: String) -> PartnerConfig {
    PartnerConfig {
        name: "delivery".into(),
        url: stack.agent_urls[1].clone(),
        entity_id: String::new(),
        tat_key,
    }
}

struct Call {
    path: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

#[allow(clippy::too_many_arguments)]
fn call(
    signer: &CallSigner,
    partner: &PartnerConfig,
    path: &str,
    body: &[u8],
    material: &Material,
    now: i64,
) -> Call {
    let headers = propagation::call_headers(
        signer,
        partner,
        federation::seal::SealSuite::X25519Aes128,
        "POST",
        path,
        body,
        &material.session_index,
        &material.propagation,
        &material.bundle,
        now,
        &mut rand_core::OsRng,
    )
    .unwrap();
    Call { path: path.to_owned(), body: body.to_vec(), headers }
}

async fn send(stack: &Stack, c: &Call) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{}{}", stack.agent_urls[1], propagation::INGRESS_PREFIX, c.path))
        .body(c.body.clone());
    for (n, v) in &c.headers {
        req = req.header(*n, v);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_propagates_bobs_identity_and_each_service_decrypts_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: clock.clone(),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    let b = browser();
    let saml_response = sign_in_at_shopping(&stack, &b).await;
    let shop = &stack.agent_urls[0];

    // The order: shopping sees lastname and dob; delivery sees lastname and addresses.
    let r = b.post(format!("{shop}/order")).json(&serde_json::json!({"item": "42"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let order: Value = r.json().await.unwrap();
    assert_eq!(pii_names(&order["shopping_saw"]), ["dob", "lastname"]);
    let delivery = &order["delivery_saw"];
    assert_eq!(delivery["service"], "delivery");
    assert_eq!(delivery["user"], "bob");
    assert_eq!(delivery["caller"], "shopping");
    assert_eq!(delivery["groups"], serde_json::json!(["customers"]));
    assert_eq!(delivery["request"]["path"], "/ship");
    assert_eq!(pii_names(delivery), ["addresses", "lastname"], "{order}");
    assert_eq!(delivery["pii"]["lastname"], "Tri");

    // A second order in the same session (delivery reuses its PAT: one exchange per client).
    let r = b.post(format!("{shop}/order")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(pii_names(&again["delivery_saw"]), ["addresses", "lastname"]);

    // A shopping backend smuggling dob (and another user) in identity-like headers.
    let r = b.post(format!("{shop}/order?smuggle=1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let smuggled: Value = r.json().await.unwrap();
    assert_eq!(smuggled["delivery_saw"]["user"], "bob");
    assert_eq!(pii_names(&smuggled["delivery_saw"]), ["addresses", "lastname"], "{smuggled}");
    assert!(smuggled["delivery_saw"]["pii"].get("dob").is_none());

    // Egress needs the agent's session handle.
    let http = reqwest::Client::new();
    let r = http.post(format!("{shop}/.idaas/partners/delivery/ship")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_session");
    let r = http
        .post(format!("{shop}/.idaas/partners/delivery/ship"))
        .header("X-Idaas-Session", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The browser's copy of the header is stripped at the gate and is not a handle anyway.
    let r = b.post(format!("{shop}/.idaas/partners/nowhere/x")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unknown_partner");

    // Calls crafted as the shopping agent would make them.
    let material = shopping_material(&stack, &saml_response).await;
    let shop_signer = CallSigner::load_or_create(&dir.path().join("shopping")).unwrap();
    let delivery_key = web_agent::keys::load_or_create(&dir.path().join("delivery"), X25519).unwrap();
    let partner = delivery_partner(&stack, delivery_key.public_text());
    let now = clock.now();

    let good = call(&shop_signer, &partner, "/ship", b"{}", &material, now);
    let (status, seen) = send(&stack, &good).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(pii_names(&seen), ["addresses", "lastname"]);
    // The same call again: replay.
    let (status, err) = send(&stack, &good).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("replayed_call")));

    // Signed by a key delivery does not know.
    let stranger = CallSigner::generate(&mut rand_core::OsRng);
    let (status, err) = send(&stack, &call(&stranger, &partner, "/ship", b"{}", &material, now)).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unknown_caller")));

    // Tampered: the body changed after signing.
    let mut tampered = call(&shop_signer, &partner, "/ship", b"{}", &material, now);
    tampered.body = b"{\"item\":\"43\"}".to_vec();
    let (status, err) = send(&stack, &tampered).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad_signature")));

    // Stale.
    let (status, err) =
        send(&stack, &call(&shop_signer, &partner, "/ship", b"{}", &material, now - 120)).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("stale_call")));

    // The TAT sealed for another service (shopping's own key).
    let elsewhere = delivery_partner(
        &stack,
        web_agent::keys::load_or_create(&dir.path().join("shopping"), X25519).unwrap().public_text(),
    );
    let (status, err) = send(&stack, &call(&shop_signer, &elsewhere, "/ship", b"{}", &material, now)).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("invalid_tat")));

    // A caller (or a home IdP) swapping two ciphertexts: each fails its signed digest at
    // delivery and is refused, never decrypted; the rest of the call goes through.
    let mut bundle = federation::pii::decode_bundle(&material.bundle).unwrap();
    let lastname = bundle.remove("lastname").unwrap();
    let addresses = bundle.insert("addresses".into(), lastname).unwrap();
    bundle.insert("lastname".into(), addresses);
    let swapped = Material {
        propagation: Propagation::new(
            material.propagation.assertion_xml.clone(),
            material.propagation.assertion_id.clone(),
            material.propagation.tat.to_vec(),
            String::new(),
            Vec::new(),
        ),
        session_index: material.session_index.clone(),
        bundle: federation::pii::encode_bundle(&bundle).unwrap(),
    };
    let (status, seen) = send(&stack, &call(&shop_signer, &partner, "/ship", b"{}", &swapped, now)).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(pii_names(&seen).is_empty(), "swapped ciphertexts are refused: {seen}");
    // The signature covers the PII header: another bundle in it is a forged call.
    let mut foreign = call(&shop_signer, &partner, "/ship", b"{}", &material, now);
    let other = call(&shop_signer, &partner, "/ship", b"{}", &swapped, now);
    let pii_of = |c: &Call| c.headers.iter().find(|(n, _)| *n == propagation::PII_HEADER).unwrap().1.clone();
    let other_pii = pii_of(&other);
    for (n, v) in &mut foreign.headers {
        if *n == propagation::PII_HEADER {
            *v = other_pii.clone();
        }
    }
    let (status, err) = send(&stack, &foreign).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad_signature")));

    // A path shopping may not call.
    let (status, err) =
        send(&stack, &call(&shop_signer, &partner, "/admin/users", b"", &material, now)).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::FORBIDDEN, Some("path_not_allowed")));

    // After the shopping session ends, its handle no longer works.
    clock.advance(9 * 3600);
    let r = b.post(format!("{shop}/order")).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK);

    stack.stop().await;
}

/// The same order flow with the whole federation at 192-bit (`suite = "bls24-479"` in every
/// service): the home IdP's TAT, the visitor IdP's PAT, both agents' decryption and the
/// propagated call all run in the MIRACL Core suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_flow_runs_at_192_bits() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock,
        suite: pbe_core::SuiteId::Bls24_479,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    let b = browser();
    sign_in_at_shopping(&stack, &b).await;
    let shop = &stack.agent_urls[0];
    let r = b.post(format!("{shop}/order")).json(&serde_json::json!({"item": "42"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let order: Value = r.json().await.unwrap();
    assert_eq!(pii_names(&order["shopping_saw"]), ["dob", "lastname"]);
    assert_eq!(pii_names(&order["delivery_saw"]), ["addresses", "lastname"]);
    // The agents' sealing keys are P-384 at this level (federation::seal::SealSuite).
    assert!(dir.path().join("shopping").join("tat-p384.key").exists());
    assert!(!dir.path().join("shopping").join(web_agent::keys::KEY_FILE).exists());
    // The key file records the suite: restarting the data directory at another level fails.
    stack.stop().await;
    let again = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: Arc::new(ManualClock::new(T0)),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await;
    assert!(again.is_err(), "a 192-bit data directory must not start at 128-bit");
}

/// The whole order flow at 256-bit (`bls48-581`): every TAT and PAT is sealed with HPKE
/// P-521 / HKDF-SHA512 / AES-256-GCM to the agents' P-521 keys, and the agents publish those
/// keys as `P-521` in their metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_flow_runs_at_256_bits_with_p521_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: Arc::new(ManualClock::new(T0)),
        suite: pbe_core::SuiteId::Bls48_581,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    let key = web_agent::keys::load_or_create(
        &dir.path().join("shopping"),
        federation::seal::SealSuite::P521Aes256,
    )
    .unwrap();
    assert!(dir.path().join("shopping").join("tat-p521.key").exists());
    assert!(
        !dir.path().join("shopping").join(web_agent::keys::KEY_FILE).exists(),
        "no X25519 key at 256 bits"
    );
    let metadata =
        reqwest::get(format!("{}/saml/metadata", stack.agent_urls[0])).await.unwrap().text().await.unwrap();
    assert!(metadata.contains("Algorithm=\"P-521\"") && metadata.contains(&key.public_text()), "{metadata}");
    let b = browser();
    sign_in_at_shopping(&stack, &b).await;
    let shop = &stack.agent_urls[0];
    let r = b.post(format!("{shop}/order")).json(&serde_json::json!({"item": "42"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let order: Value = r.json().await.unwrap();
    assert_eq!(pii_names(&order["shopping_saw"]), ["dob", "lastname"]);
    assert_eq!(pii_names(&order["delivery_saw"]), ["addresses", "lastname"]);
    stack.stop().await;
}
