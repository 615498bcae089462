//! The quickstart hands the operator both admin APIs (issue 16, item 7): a token per IdP in
//! `DIR/home.admin-token` and `DIR/visitor.admin-token` (0600), kept across runs, with which a
//! newcomer registers their own SAML SP and OAuth client exactly as docs/quickstart.md shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use idaas::stack::{self, Options, Stack};
use reqwest::StatusCode;
use serde_json::{json, Value};
use service_kit::ManualClock;

const T0: i64 = 1_760_011_200;

async fn start(dir: &std::path::Path) -> Stack {
    stack::start(Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock: Arc::new(ManualClock::new(T0)),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap()
}

fn token(dir: &std::path::Path, idp: &str) -> String {
    let path = dir.join(format!("{idp}.admin-token"));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "{idp}");
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_hands_the_operator_both_admin_apis() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let (home, visitor) = (token(dir.path(), "home"), token(dir.path(), "visitor"));
    assert_ne!(home, visitor);
    let http = reqwest::Client::new();

    // Without the token, or with the other IdP's, 401.
    let r = http.get(format!("{}/admin/sps", s.home_url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http.get(format!("{}/admin/sps", s.home_url)).bearer_auth(&visitor).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The home IdP: the quickstart's SPs, then your own (the docs' example).
    let r = http.get(format!("{}/admin/sps", s.home_url)).bearer_auth(&home).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sps: Value = r.json().await.unwrap();
    assert!(sps.to_string().contains(&format!("{}/saml/metadata", s.agent_urls[0])), "{sps}");
    let mine = json!({
        "entity_id": "https://my-sp.example/saml/metadata",
        "acs_urls": ["https://my-sp.example/saml/acs"],
        "release": ["groups", "email"]
    });
    let r =
        http.post(format!("{}/admin/sps", s.home_url)).bearer_auth(&home).json(&mine).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());

    // The visitor IdP: the quickstart's clients (named in docs/quickstart.md), then your own.
    let r = http.get(format!("{}/admin/clients", s.visitor_url)).bearer_auth(&visitor).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let clients = r.text().await.unwrap();
    assert!(clients.contains("\"shopping\"") && clients.contains("\"delivery\""), "{clients}");
    let r = http
        .post(format!("{}/admin/clients", s.visitor_url))
        .bearer_auth(&visitor)
        .json(&json!({"client_id": "my-app", "purposes": ["purpose:purchase"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    assert!(created["client_secret"].as_str().is_some_and(|c| c.len() >= 32), "{created}");
    s.stop().await;

    // A second run keeps both tokens (and what was registered with them).
    let s = start(dir.path()).await;
    assert_eq!(token(dir.path(), "home"), home);
    let r = http
        .get(format!("{}/admin/sps/{}", s.home_url, "https%3A%2F%2Fmy-sp.example%2Fsaml%2Fmetadata"))
        .bearer_auth(&home)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    s.stop().await;
}
