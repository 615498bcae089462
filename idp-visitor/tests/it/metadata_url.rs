//! `trusted_idps[].metadata_url`: fetched once at start-up (as `idaas visitor` does), then
//! trusted like inline metadata; an unreachable, failing, oversized or certificate-less
//! document stops the start with an error naming the entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use axum::routing::get;
use axum::Router;
use federation::testing::TestSigner;
use idp_visitor::config::{Config, TrustedIdpConfig};
use idp_visitor::state::{fetch_metadata, load_trust, reload_trust, MAX_METADATA_BYTES};

fn metadata(cert: Option<&str>) -> String {
    let key = cert.map_or(String::new(), |c| {
        format!(
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
             <ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
    });
    format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://home.example\">\
         <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{key}\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://home.example/saml/sso\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>"
    )
}

fn config_for(url: String) -> Config {
    Config {
        trusted_idps: vec![TrustedIdpConfig { metadata_url: Some(url), ..Default::default() }],
        ..Config::default()
    }
}

#[tokio::test]
async fn metadata_urls_are_fetched_at_start_up_and_checked() {
    let signer = TestSigner::new(5);
    let good = metadata(Some(&signer.cert_base64()));
    let bare = metadata(None);
    let app = Router::new()
        .route("/good", get(move || async move { good }))
        .route("/no-cert", get(move || async move { bare }))
        .route("/huge", get(|| async { "x".repeat(MAX_METADATA_BYTES + 1) }))
        .route("/moved", get(|| async { axum::response::Redirect::temporary("/good") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut config = config_for(format!("{base}/good"));
    config.validate().unwrap();
    fetch_metadata(&mut config).await.unwrap();
    assert!(config.trusted_idps[0].metadata.is_some() && config.trusted_idps[0].metadata_url.is_none());
    assert!(load_trust(&config).unwrap().contains("https://home.example"));

    // Without fetching, the URL is not silently ignored.
    assert!(load_trust(&config_for(format!("{base}/good"))).is_err());

    for (path, needle) in [("/missing", "404"), ("/huge", "larger"), ("/moved", "307")] {
        let err = fetch_metadata(&mut config_for(format!("{base}{path}"))).await.unwrap_err().to_string();
        assert!(err.contains("trusted_idps[0]") && err.contains(needle), "{path}: {err}");
    }
    let mut no_cert = config_for(format!("{base}/no-cert"));
    fetch_metadata(&mut no_cert).await.unwrap();
    assert!(load_trust(&no_cert).unwrap_err().to_string().contains("certificate"));
    let err = fetch_metadata(&mut config_for("http://127.0.0.1:9/metadata".into())).await.unwrap_err();
    assert!(err.to_string().contains("trusted_idps[0]"), "{err}");
}

/// A refresh (`metadata_refresh_secs`) fetches the URL again: the certificates of a home IdP's
/// signing-key rollover are trusted without a restart; a failing refresh is an error the
/// caller answers by keeping its old trust.
#[tokio::test]
async fn a_refresh_fetches_the_metadata_again() {
    use std::sync::{Arc, Mutex};
    let (old, next) = (TestSigner::new(5), TestSigner::new(6));
    let served = Arc::new(Mutex::new(metadata(Some(&old.cert_base64()))));
    let answer = served.clone();
    let app = Router::new().route("/md", get(move || async move { answer.lock().unwrap().clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut config = config_for(format!("{base}/md"));
    fetch_metadata(&mut config).await.unwrap();
    assert_eq!(config.trusted_idps[0].fetched_from.as_deref(), Some(format!("{base}/md").as_str()));
    let certs = |t: &federation::verify::TrustStore| t.certificates_der("https://home.example").len();
    assert_eq!(certs(&load_trust(&config).unwrap()), 1);

    // The home IdP publishes its next key.
    let both = metadata(Some(&old.cert_base64())).replace(
        "</md:KeyDescriptor>",
        &format!(
            "</md:KeyDescriptor><md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
             <ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            next.cert_base64()
        ),
    );
    *served.lock().unwrap() = both;
    assert_eq!(certs(&reload_trust(&config).await.unwrap()), 2, "both keys after the refresh");

    // Metadata without a certificate, or for another entity, is refused.
    *served.lock().unwrap() = metadata(None);
    assert!(reload_trust(&config).await.is_err());
    let mut pinned = config.clone();
    pinned.trusted_idps[0].entity_id = Some("https://other.example".into());
    *served.lock().unwrap() = metadata(Some(&next.cert_base64()));
    assert!(reload_trust(&pinned).await.is_err());
}
