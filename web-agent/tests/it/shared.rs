//! Two instances of one agent on one PostgreSQL database (issue 17), the same key files and
//! one public URL, with requests alternated between them as a load balancer without sticky
//! sessions would: a sign-in started at one completes at the other, a response replayed at
//! the other is refused, propagation nonces and exchanged PATs are seen by both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use service_kit::pg::testing::Cluster;

use crate::common::{Agent, Browser, Opts, T0};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agent_instances_share_sign_ins_and_replay_caches() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("idaas").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = || Opts {
        data_dir: Some(dir.path().join("agent")),
        public_url: Some("http://shop.example".into()),
        extra_toml: format!("store_url = \"{}\"\n", cluster.url("idaas").expose()),
        ..Opts::default()
    };
    let a = Agent::start(opts()).await;
    let b = Agent::start(opts()).await;
    assert!(a.state.shared.is_some() && b.state.shared.is_some());
    let schema = a.state.config.schema();
    assert!(schema.starts_with("idaas_agent_http___shop_example_saml_metadata_"), "{schema}");
    assert!(service_kit::pg::is_schema_name(&schema) && schema.len() <= 63, "{schema}");

    // Started at A, completed at B.
    let mut browser = Browser::default();
    let id = browser.start_sign_in(&a, "/x").await;
    let before_answer = browser.clone();
    let response = a.response(&id);
    let answer = browser.post_response(&b, &response).await;
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(answer.headers("location"), ["/x"]);
    // The same response (with the sign-in cookie as it was) replayed at A: refused.
    let mut replay = before_answer.clone();
    let answer = replay.post_response(&a, &response).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let mut replay = before_answer;
    let answer = replay.post_response(&b, &a.response(&id)).await;
    assert_eq!(answer.status, 400, "a second response to one request, at either instance: {answer:?}");

    // Propagation: a nonce seen at A is refused at B; a PAT exchanged at A is reused at B.
    assert!(a.state.propagation.fresh_nonce("caller", "nonce-xyzzy-1", T0, T0 + 61));
    assert!(!b.state.propagation.fresh_nonce("caller", "nonce-xyzzy-1", T0 + 1, T0 + 62));
    assert!(b.state.propagation.fresh_nonce("other", "nonce-xyzzy-1", T0 + 1, T0 + 62), "per caller");
    let (sa, sb) = (a.state.shared.clone().unwrap(), b.state.shared.clone().unwrap());
    sa.remember_pat("https://idp.example", "_a1", &[7, 8, 9], T0 + 300).unwrap();
    assert_eq!(sb.pat("https://idp.example", "_a1", T0 + 10).unwrap().unwrap().as_slice(), &[7, 8, 9]);
    assert!(sb.pat("https://idp.example", "_a1", T0 + 300).unwrap().is_none(), "expired");

    // Nothing in the tables names an ID, nonce or issuer in the clear.
    let dump = cluster.dump("idaas").unwrap();
    assert!(!dump.contains(&id) && !dump.contains("nonce-xyzzy-1") && !dump.contains("idp.example"));

    // The sweep deletes what expired.
    assert!(sb.purge(T0 + 100_000).unwrap() >= 3);
    assert!(
        a.state.propagation.fresh_nonce("caller", "nonce-xyzzy-1", T0 + 100_000, T0 + 100_061),
        "forgotten"
    );
}

#[test]
fn a_sled_or_absent_store_url_keeps_the_state_in_memory() {
    let base = "public_url = \"https://a.example\"\nbackend_url = \"http://127.0.0.1:1\"\n\
                [home_idp]\nmetadata_file = \"m.xml\"\n";
    let c = web_agent::config::Config::from_toml(base).unwrap();
    assert!(c.shared_store().unwrap().is_none());
    let c = web_agent::config::Config::from_toml(&format!("store_url = \"sled:/tmp/x\"\n{base}")).unwrap();
    assert!(c.shared_store().unwrap().is_none());
    let e =
        web_agent::config::Config::from_toml(&format!("store_url = \"mysql://x/y\"\n{base}")).unwrap_err();
    assert!(e.to_string().contains("store_url"), "{e}");
}
