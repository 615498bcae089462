//! Access rules reload from the configuration file (what SIGHUP does) without dropping
//! sessions; an invalid file leaves the old rules in place. Also: IdP metadata without a
//! signing certificate is refused at start-up.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::Method;
use service_kit::ManualClock;
use web_agent::rbac::Decision;
use web_agent::session::Session;
use web_agent::{AppState, Config};

fn metadata(cert_b64: Option<&str>) -> String {
    let key = cert_b64.map_or(String::new(), |c| {
        format!(
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
             <ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
    });
    format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://idp.example\">\
         <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{key}\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://idp.example/saml/sso\"/>\
         </md:IDPSSODescriptor></md:EntityDescriptor>"
    )
}

fn config_text(dir: &std::path::Path, level: &str) -> String {
    format!(
        "public_url = \"http://127.0.0.1:1\"\nbackend_url = \"http://127.0.0.1:2\"\ndata_dir = \"{}\"\n\
         [home_idp]\nmetadata_file = \"unused.xml\"\n\
         [access]\ndefault_level = \"none\"\n[[access.rules]]\nprefix = \"/\"\ngroups = {{ customers = \"{level}\" }}\n",
        dir.join("agent").display()
    )
}

#[test]
fn rules_reload_without_dropping_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, config_text(dir.path(), "read")).unwrap();
    let signer = federation::testing::TestSigner::new(7);
    let config = Config::load(&path).unwrap();
    let state =
        AppState::new(config, &metadata(Some(&signer.cert_base64())), Arc::new(ManualClock::new(0))).unwrap();
    let groups = vec!["customers".to_owned()];
    let check = |m: Method| state.rules.read().unwrap().check(&m, "/cart", &groups);
    assert_eq!(check(Method::GET), Decision::Allow);
    assert!(matches!(check(Method::POST), Decision::Deny { .. }));

    let cookie = state.sessions.create(
        Session {
            user: "bob".into(),
            name_id: "bob".into(),
            groups: groups.clone(),
            pii: BTreeMap::new(),
            session_index: "s".into(),
            expires: 100,
            closed: 0,
            missing: Vec::new(),
            approvals: Vec::new(),
            handle: String::new(),
            propagation: None,
        },
        0,
    );

    std::fs::write(&path, config_text(dir.path(), "read_write")).unwrap();
    state.reload_rules(&path).unwrap();
    assert_eq!(check(Method::POST), Decision::Allow, "new rules apply");
    assert!(state.sessions.get(&cookie, 1).is_some(), "sessions survive a reload");

    std::fs::write(&path, "this is [not toml").unwrap();
    assert!(state.reload_rules(&path).is_err());
    assert_eq!(check(Method::POST), Decision::Allow, "a bad file keeps the old rules");
}

#[test]
fn metadata_without_a_signing_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml(&config_text(dir.path(), "read")).unwrap();
    let err = AppState::new(config, &metadata(None), Arc::new(ManualClock::new(0))).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let config = Config::from_toml(&config_text(dir.path(), "read")).unwrap();
    for garbage in ["", "<md:EntityDescriptor", "<!DOCTYPE x><x/>", "\u{0}\u{ff}"] {
        assert!(AppState::new(config.clone(), garbage, Arc::new(ManualClock::new(0))).is_err());
    }
}

/// The IdP metadata is read again (what the periodic refresh does, `metadata_refresh_secs`):
/// the certificates of a signing-key rollover are trusted without a restart; metadata for
/// another IdP, or unusable metadata, is refused and the previous trust stays.
#[tokio::test]
async fn metadata_refresh_trusts_the_new_keys_and_keeps_the_old_trust_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let md_path = dir.path().join("idp.xml");
    let text = config_text(dir.path(), "read").replace("unused.xml", &md_path.display().to_string());
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text).unwrap();
    let (old, next) = (federation::testing::TestSigner::new(7), federation::testing::TestSigner::new(8));
    let one = metadata(Some(&old.cert_base64()));
    std::fs::write(&md_path, &one).unwrap();
    let state = AppState::new(Config::load(&path).unwrap(), &one, Arc::new(ManualClock::new(0))).unwrap();
    let certs = |s: &AppState| s.idp().trust.certificates_der("https://idp.example").len();
    assert_eq!(certs(&state), 1);

    // The rollover's metadata: both keys.
    let both = one.replace(
        "</md:KeyDescriptor>",
        &format!(
            "</md:KeyDescriptor><md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
             <ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            next.cert_base64()
        ),
    );
    std::fs::write(&md_path, &both).unwrap();
    state.refresh_metadata().await.unwrap();
    assert_eq!(certs(&state), 2, "both keys trusted");

    // Refused: another entity ID, a document without a signing key, garbage. Trust unchanged.
    for bad in
        [both.replace("https://idp.example\"", "https://other.example\""), metadata(None), "<x".to_owned()]
    {
        std::fs::write(&md_path, &bad).unwrap();
        assert!(state.refresh_metadata().await.is_err());
        assert_eq!(certs(&state), 2);
    }
    std::fs::remove_file(&md_path).unwrap();
    assert!(state.refresh_metadata().await.is_err(), "a missing file");
    assert_eq!(certs(&state), 2);
}
