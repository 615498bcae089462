//! What an operator watches (issue 21, item 3): `/metrics` on each service counts the
//! sign-ins, assertions, PATs and decryptions of a real sign-in, by route template (a path
//! cannot grow the series), and `/readyz` answers for each service.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use idaas::stack::{self, Options};
use reqwest::StatusCode;
use service_kit::ManualClock;

const T0: i64 = 1_760_011_200;

async fn text(url: String) -> (StatusCode, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_sign_in_and_readiness_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: Arc::new(ManualClock::new(T0)),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    // The quickstart's own set-up signs bob in once per service; one more sign-in here.
    let (_, h0) = text(format!("{}/metrics", s.home_url)).await;
    let count = |text: &str, series: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
    };
    let success = r#"idaas_sign_ins_total{service="home",outcome="success"}"#;
    let seen = super::e2e::visit(&s, &super::e2e::browser(), 0, "/metrics-check").await;
    assert!(seen.asked_password);

    let (status, home) = text(format!("{}/metrics", s.home_url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count(&home, success), count(&h0, success) + 1, "{home}");
    assert!(count(&home, r#"idaas_assertions_issued_total{service="home"}"#) >= 1);
    assert!(home.contains(r#"route="/saml/sso",method="GET",status="200""#), "{home}");
    assert!(home.trim_end().ends_with("# EOF"));
    // The sign-in wrote to the sled store (its API token, the vault at start-up): timed.
    assert!(
        count(&home, r#"idaas_store_duration_seconds_count{service="home",backend="sled",op="write"}"#) >= 1,
        "{home}"
    );

    // Where the sign-in's time went (issue 22): every phase of the SSO answer and the agent's
    // AuthnRequest, once per sign-in at least.
    for phase in [
        "sso_accept",
        "sso_consent",
        "sso_blocking_queue",
        "sso_build",
        "sso_list_pii",
        "sso_tat",
        "sso_seal",
        "sso_sign",
        "sso_post_form",
        "agent_sign_in_start",
    ] {
        let series = format!(r#"idaas_phase_duration_seconds_count{{service="home",phase="{phase}"}}"#);
        assert!(count(&home, &series) >= 1, "{phase}: {home}");
    }

    let (_, visitor) = text(format!("{}/metrics", s.visitor_url)).await;
    assert!(count(&visitor, r#"idaas_pats_issued_total{service="visitor"}"#) >= 1, "{visitor}");
    let agent_url = &s.agent_urls[0];
    let (status, agent) = text(format!("{agent_url}/.idaas/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(count(&agent, r#"idaas_decryptions_total{service="agent",outcome="opened"}"#) >= 2, "{agent}");

    // Paths never become labels: many entity IDs, one route template; unknown paths, one
    // fallback series.
    let http = reqwest::Client::new();
    for i in 0..20 {
        http.get(format!("{}/admin/sps/sp-{i}", s.home_url)).send().await.unwrap();
        http.get(format!("{}/no/such/{i}", s.home_url)).send().await.unwrap();
    }
    let (_, home) = text(format!("{}/metrics", s.home_url)).await;
    assert!(!home.contains("sp-1"), "{home}");
    assert!(home.contains(r#"route="/admin/sps/{entity_id}",method="GET",status="401""#), "{home}");
    assert_eq!(
        count(
            &home,
            r#"idaas_http_requests_total{service="home",route="fallback",method="GET",status="404"}"#
        ),
        20
    );

    for url in [
        format!("{}/readyz", s.home_url),
        format!("{}/readyz", s.visitor_url),
        format!("{agent_url}/.idaas/readyz"),
    ] {
        let (status, body) = text(url.clone()).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert!(body.contains(r#""status":"ready""#), "{url}: {body}");
    }
    s.stop().await;
}

#[test]
fn log_lines_are_json_objects_with_log_format_json() {
    use std::io::{BufRead as _, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idaas"))
        .args(["--log-format", "json", "demo-backend", "--service", "shop", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert!(v["timestamp"].is_string() && v["level"] == "INFO", "{v}");
    assert!(v["fields"]["message"].is_string(), "{v}");
}
