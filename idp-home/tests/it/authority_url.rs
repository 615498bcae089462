//! `visitor_authorities[].url`: the visitor authority's public key is fetched from its
//! `GET /pbe/authority` at start-up and pinned, after checking the authority name and suite;
//! anything else stops the start with an error naming the entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use axum::routing::get;
use axum::Router;
use idp_home::config::{Config, VisitorAuthority};
use idp_home::startup::fetch_authorities;
use pbe_core::{AuthoritySecretKey, Bls12_381Suite};
use rand_chacha::rand_core::SeedableRng;
use serde_json::json;

fn config_for(name: &str, url: String) -> Config {
    Config {
        visitor_authorities: vec![VisitorAuthority { name: name.into(), public_key: None, url: Some(url) }],
        ..Config::default()
    }
}

#[tokio::test]
async fn visitor_authority_keys_are_fetched_and_checked() {
    let key = AuthoritySecretKey::<Bls12_381Suite>::setup(
        "salesforce",
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    let pk = pbe_core::wire::to_text(&key.public_key().to_bytes());
    let good = json!({"suite": "bls12-381", "authority": "salesforce", "public_key": pk}).to_string();
    let bn = json!({"suite": "bn254", "authority": "salesforce", "public_key": pk}).to_string();
    let app = Router::new()
        .route("/pbe/authority", get(move || async move { good }))
        .route("/bn254", get(move || async move { bn }))
        .route("/garbage", get(|| async { "<html>not json</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut config = config_for("salesforce", format!("{base}/pbe/authority"));
    config.validate().unwrap();
    fetch_authorities(&mut config).await.unwrap();
    assert_eq!(config.visitor_authorities[0].public_key.as_deref(), Some(pk.as_str()));
    assert!(config.visitor_authorities[0].url.is_none());

    for (name, path, needle) in [
        ("amazon", "/pbe/authority", "configuration says 'amazon'"),
        ("salesforce", "/bn254", "suite"),
        ("salesforce", "/garbage", "not an authority document"),
        ("salesforce", "/missing", "404"),
    ] {
        let err =
            fetch_authorities(&mut config_for(name, format!("{base}{path}"))).await.unwrap_err().to_string();
        assert!(err.contains("visitor_authorities[0].url") && err.contains(needle), "{path}: {err}");
    }
    let err = Config::from_toml("[[visitor_authorities]]\nname = \"x\"\nurl = \"ftp://x\"").unwrap_err();
    assert!(err.to_string().contains("visitor_authorities[0].url"), "{err}");
}
