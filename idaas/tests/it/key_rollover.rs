//! SAML signing-key rollover at the home IdP (issue 21 item 4), over real HTTP: the next key
//! is published beside the current one; an SP holding that metadata accepts responses signed
//! by either key, before and after the switch; the retired key disappears from the metadata;
//! the admin API and `idaas home keys` refuse what makes no sense.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::verify::{TrustStore, UnverifiedAssertion, DEFAULT_MAX_XML_BYTES};
use idaas::stack::{self, Options, Stack};
use reqwest::StatusCode;
use service_kit::ManualClock;

use crate::e2e::to_auto_post;

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;

/// A fresh sign-in at shopping: the signed SAML response the IdP posts back, as XML.
async fn signed_response(stack: &Stack) -> String {
    let (page, _) = to_auto_post(stack, &idaas::browser::client().unwrap(), 0, "/").await;
    let b64 = idaas::browser::form_input(&page, "SAMLResponse").unwrap();
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

async fn metadata(stack: &Stack) -> String {
    reqwest::get(format!("{}/saml/metadata", stack.home_url)).await.unwrap().text().await.unwrap()
}

fn trust_of(metadata: &str) -> TrustStore {
    let mut trust = TrustStore::default();
    trust.insert_metadata(metadata, None).unwrap();
    trust
}

fn verifies(xml: &str, trust: &TrustStore) -> bool {
    UnverifiedAssertion::parse_response(xml, DEFAULT_MAX_XML_BYTES).and_then(|u| u.verify(trust)).is_ok()
}

async fn admin(
    stack: &Stack,
    path: &str,
    post: bool,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let url = format!("{}/admin/keys/signing{path}", stack.home_url);
    let c = reqwest::Client::new();
    let mut req = if post { c.post(url) } else { c.get(url) };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sp_with_refreshed_metadata_keeps_working_through_a_rollover() {
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
    let token = stack.home_admin.token.expose().to_owned();

    let before = metadata(&stack).await;
    assert_eq!(before.matches("<ds:X509Certificate>").count(), 1);
    let old_key_response = signed_response(&stack).await;

    // Refusals: no token, wrong token; activate with nothing published.
    assert_eq!(admin(&stack, "/rotate", true, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(admin(&stack, "/rotate", true, Some("not-the-token")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(admin(&stack, "/activate", true, Some(&token)).await.0, StatusCode::CONFLICT);

    // Rotate: the next key is published, the current one still signs.
    let (status, body) = admin(&stack, "/rotate", true, Some(&token)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["next"]["active_from"], T0 + 86_400, "{body}");
    assert_eq!(admin(&stack, "/rotate", true, Some(&token)).await.0, StatusCode::CONFLICT, "one at a time");
    let during = metadata(&stack).await;
    assert_eq!(during.matches("<ds:X509Certificate>").count(), 2, "both keys published");
    let trust_during = trust_of(&during);
    let still_old = signed_response(&stack).await;
    assert!(verifies(&old_key_response, &trust_during) && verifies(&still_old, &trust_during));

    // The overlap ends (the manual clock): the next key signs, the old one is retired.
    clock.advance(86_400);
    let new_key_response = signed_response(&stack).await;
    assert!(verifies(&new_key_response, &trust_during), "the SP that refreshed during the overlap");
    assert!(!verifies(&new_key_response, &trust_of(&before)), "an SP that never refreshed does not");
    let after = metadata(&stack).await;
    assert_eq!(after.matches("<ds:X509Certificate>").count(), 1, "the old key is retired");
    assert!(!verifies(&old_key_response, &trust_of(&after)), "and no longer trusted from new metadata");
    let (_, status) = admin(&stack, "", false, Some(&token)).await;
    assert!(status["next"].is_null(), "{status}");
    assert!(!dir.path().join("home/saml-signing.next.key").exists());

    // `idaas home keys` drives the same API: rotate, then activate at once.
    let token_file = stack.home_admin.file.clone().expect("the quickstart writes the token file");
    let cli = |cmd: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idaas"))
            .args(["home", "keys", cmd, "--home", &stack.home_url, "--admin-token-file"])
            .arg(&token_file)
            .output()
            .unwrap()
    };
    let rotated = cli("rotate");
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let activated = cli("activate");
    assert!(activated.status.success(), "{}", String::from_utf8_lossy(&activated.stderr));
    let again = cli("activate");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("rotate first"));
    let third = signed_response(&stack).await;
    assert!(verifies(&third, &trust_of(&metadata(&stack).await)));
    assert!(!verifies(&third, &trust_during), "a third key, unknown to the old metadata");
    stack.stop().await;
}

/// `idaas agent keys` (issue 21 item 4, the agents' HPKE keys): status, rotate, activate on
/// the key files of an agent's configuration; the agent opens seals to both keys during the
/// rollover and only to the new one after it; refusals exit non-zero and change nothing.
#[test]
fn idaas_agent_keys_rolls_the_hpke_key_over() {
    use federation::seal::SealSuite;
    use std::process::Command;
    use web_agent::seal_keys::{next_key_file, SealKeys};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agent");
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/examples/agent-shopping.toml"))
            .unwrap();
    let toml = sample.replace("\"./data/agent-shopping\"", &format!("{:?}", data.to_str().unwrap()));
    assert_ne!(toml, sample, "the sample names its data_dir");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, toml).unwrap();
    let run = |cmd: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_idaas"))
            .args(["agent", "keys", cmd, "--config", config.to_str().unwrap()])
            .env(web_agent::config::CLIENT_SECRET_ENV, "a-client-secret-of-enough-length-1234")
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (out.status.code(), json, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let suite = SealSuite::X25519Aes128;
    let seal_to =
        |public: &str| federation::seal::seal(suite, public, b"info", b"tat", &mut rand_core::OsRng).unwrap();

    // Before the agent ever started there is nothing to roll over.
    let (code, _, err) = run("rotate");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("start the agent once"), "{err}");
    let old = web_agent::keys::load_or_create(&data, suite).unwrap().public_text();

    let (code, status, _) = run("status");
    assert_eq!(code, Some(0));
    assert_eq!(status["current"], old.as_str());
    assert!(status["next"].is_null());

    let (code, status, err) = run("rotate");
    assert_eq!(code, Some(0), "{err}");
    let next = status["next"].as_str().unwrap().to_owned();
    assert_eq!(status["current"], old.as_str());
    assert!(status["note"].as_str().unwrap().contains(&next), "the operator is told what to register");
    let (code, _, err) = run("rotate");
    assert_eq!(code, Some(1));
    assert!(err.contains("already published"), "{err}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(next_key_file(suite))).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // During the rollover the agent opens seals to either key.
    let keys = SealKeys::load(&data, suite).unwrap();
    assert!(keys.open(&seal_to(&old), b"info").is_ok());
    assert!(keys.open(&seal_to(&next), b"info").is_ok());

    let (code, status, err) = run("activate");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(status["current"], next.as_str());
    assert!(status["next"].is_null());
    assert!(keys.reload().unwrap(), "a running agent picks the change up");
    assert!(keys.open(&seal_to(&old), b"info").is_err(), "the old key is retired");
    assert!(keys.open(&seal_to(&next), b"info").is_ok());
    let (code, _, err) = run("activate");
    assert_eq!(code, Some(1));
    assert!(err.contains("no next key"), "{err}");

    // A configuration that does not load is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_idaas"))
        .args(["agent", "keys", "status", "--config", dir.path().join("missing.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
