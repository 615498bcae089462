//! Two instances of one agent on one PostgreSQL database (issue 17), the same key files and
//! one public URL, with requests alternated between them as a load balancer without sticky
//! sessions would: a sign-in started at one completes at the other, a response replayed at
//! the other is refused, propagation nonces and exchanged PATs are seen by both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use service_kit::pg::testing::Cluster;

use crate::common::{Agent, Browser, Opts, T0};

/// Two instances of one agent (same key files, one public URL) on a throwaway PostgreSQL;
/// the directory must outlive them.
async fn two_instances() -> (Cluster, tempfile::TempDir, Agent, Agent) {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("idaas").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(instance_opts(&cluster, dir.path())).await;
    let b = Agent::start(instance_opts(&cluster, dir.path())).await;
    (cluster, dir, a, b)
}

/// One instance's options: the shared data directory, public URL and database.
fn instance_opts(cluster: &Cluster, dir: &std::path::Path) -> Opts {
    Opts {
        data_dir: Some(dir.join("agent")),
        public_url: Some("http://shop.example".into()),
        extra_toml: format!("store_url = \"{}\"\n", cluster.url("idaas").expose()),
        ..Opts::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agent_instances_share_sign_ins_and_replay_caches() {
    let (cluster, _dir, a, b) = two_instances().await;
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

/// A GET of `/x` with `browser`'s cookies at `agent`: its status.
async fn page(browser: &mut Browser, agent: &Agent) -> u16 {
    browser.send(agent, "GET", "/x", &[], b"").await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sessions_are_shared_and_end_at_every_instance() {
    let (cluster, dir, a, b) = two_instances().await;
    let opts = || instance_opts(&cluster, dir.path());
    let cookie_name = a.state.cookie_name.to_string();

    // Signed in at A; requests alternate A, B, A, B: both forward as bob.
    let mut browser = Browser::default();
    let cookie = browser.sign_in(&a).await;
    for agent in [&a, &b, &a, &b] {
        assert_eq!(page(&mut browser, agent).await, 200);
    }
    for backend in [&a.backend, &b.backend] {
        let seen = backend.take();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|s| s.headers["x-idaas-user"] == "bob"), "{seen:?}");
    }
    assert_eq!(b.state.sessions.len(), 1, "B rebuilt the session once and keeps it");
    let handle = b.state.sessions.get(&cookie, T0).unwrap().handle.clone();
    assert_eq!(a.state.session_by_handle(&handle).await.unwrap().user, "bob");

    // What each proxied request costs at an instance that has the session: one indexed
    // SELECT (printed; the budget is in docs/performance.md).
    let started = std::time::Instant::now();
    for _ in 0..200 {
        assert!(b.state.session(&cookie).await.is_some());
    }
    eprintln!("shared session check: {:?} per request", started.elapsed() / 200);
    // With `session_check_seconds`, an instance checks a session's row at most that often.
    let c = Agent::start(Opts {
        extra_toml: format!("{}session_check_seconds = 30\n", opts().extra_toml),
        ..opts()
    })
    .await;
    assert_eq!(
        c.state.session_by_handle(&handle).await.unwrap().user,
        "bob",
        "opened from the row by handle"
    );
    assert!(c.state.session(&cookie).await.is_some());
    let started = std::time::Instant::now();
    for _ in 0..200 {
        assert!(c.state.session(&cookie).await.is_some());
    }
    eprintln!("shared session, checked every 30 s: {:?} per request", started.elapsed() / 200);

    // The row holds neither the cookie nor the handle; sign-out at A ends it at B.
    let dump = cluster.dump("idaas").unwrap();
    assert!(dump.contains(".sessions ") && !dump.contains(&cookie) && !dump.contains(&handle));
    let csrf = a.state.signin.logout_token(&cookie);
    let out = browser
        .send(
            &a,
            "POST",
            "/saml/logout",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("csrf={csrf}").as_bytes(),
        )
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    browser.cookies.insert(cookie_name.clone(), cookie.clone()); // a copy of the old cookie
    assert_eq!(page(&mut browser, &b).await, 302, "signed out at A: B starts a sign-in");
    assert!(b.state.session(&cookie).await.is_none() && b.state.sessions.is_empty());

    // A LogoutRequest from the IdP at B ends the session A holds.
    let mut other = Browser::default();
    let cookie = other.sign_in(&a).await;
    assert_eq!(page(&mut other, &b).await, 200);
    assert_eq!(b.state.end_sessions_by_subject("bob", &["s1".into()]), 1);
    assert_eq!(page(&mut other, &a).await, 302);
    assert!(a.state.session(&cookie).await.is_none());

    // A row whose MAC does not verify (written with the database alone) is refused.
    let mut third = Browser::default();
    let cookie = third.sign_in(&a).await;
    let schema = a.state.config.schema();
    cluster.psql("idaas", &format!("UPDATE {schema}.sessions SET mac = '\\x00'")).unwrap();
    assert_eq!(page(&mut third, &b).await, 302, "a forged row opens nothing");
    assert!(b.state.session(&cookie).await.is_none());
    // The sweep deletes expired rows.
    assert!(a.state.shared.as_ref().unwrap().purge(T0 + 100_000).unwrap() >= 1);
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
