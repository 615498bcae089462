//! The whole scenario over https (`idaas quickstart --tls`, issue 21): a local CA under
//! `DIR/tls/`, every listener on TLS, every client between the services verifying against it.
//! Sign-in, SSO, propagation and the PII of Table 1 work as over plain HTTP; cookies are
//! `__Host-` and `Secure`; HSTS is sent; ALPN offers HTTP/2 (checked with curl, an independent
//! client); a client that does not trust the CA, or speaks plain HTTP, gets nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use idaas::stack::{self, Options};
use reqwest::StatusCode;
use service_kit::ManualClock;

use crate::e2e::{pii_names, visit};

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_runs_over_https_with_a_local_ca() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = stack::start(Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock,
        suite: pbe_core::SuiteId::Bls12_381,
        tls: true,
        store_url: None,
        public: None,
    })
    .await
    .unwrap();
    let ca = stack.ca_file.clone().expect("a CA file with tls");
    assert_eq!(ca, dir.path().join("tls/ca.pem"));
    for url in
        [&stack.home_url, &stack.visitor_url].into_iter().chain(&stack.agent_urls).chain(&stack.backend_urls)
    {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    }

    // Sign in at shopping, SSO at delivery: the same answers as over plain HTTP.
    let b = stack.browser().unwrap();
    let shop = visit(&stack, &b, 0, "/cart").await;
    assert!(shop.asked_password);
    assert_eq!(pii_names(&shop.seen), ["dob", "lastname"]);
    let delivery = visit(&stack, &b, 1, "/ship").await;
    assert!(!delivery.asked_password, "single sign-on over https");
    assert_eq!(pii_names(&delivery.seen), ["addresses", "lastname"]);
    // Propagation: shopping's backend → its agent → delivery's agent → delivery's backend.
    let order = stack::demo_order(&stack).await.unwrap();
    assert_eq!(order["delivery_saw"]["user"], "bob", "{order}");

    // Cookies over https carry the __Host- prefix and Secure; every answer carries HSTS.
    let r = b.get(format!("{}/cart", stack.agent_urls[0])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh = stack.browser().unwrap();
    let r = fresh.get(format!("{}/cart", stack.agent_urls[0])).send().await.unwrap();
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-") && cookie.contains("; Secure"), "{cookie}");
    for url in [&stack.home_url, &stack.visitor_url, &stack.agent_urls[0]] {
        let r = fresh.get(format!("{url}/.well-known/none")).send().await.unwrap();
        assert_eq!(
            r.headers().get("strict-transport-security").map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{url}"
        );
    }

    // A client that does not trust the local CA cannot connect; nor can plain HTTP.
    let untrusting = reqwest::Client::new();
    assert!(untrusting.get(format!("{}/readyz", stack.home_url)).send().await.is_err());
    let plain = stack.home_url.replace("https://", "http://");
    let r = reqwest::Client::new().get(format!("{plain}/readyz")).send().await;
    assert!(r.map_or(true, |r| !r.status().is_success()), "plain HTTP on the TLS port");

    // ALPN: an independent client negotiates HTTP/2, and HTTP/1.1 when it asks for it.
    for (flag, want) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca)
            .args([flag, "-o", "/dev/null", "-w", "%{http_version}"])
            .arg(format!("{}/readyz", stack.home_url))
            .output()
            .expect("curl (scripts/install-deps.sh installs it)");
        assert!(out.status.success(), "curl {flag}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "curl {flag}");
    }
    stack.stop().await;
}

/// A connection that never completes its handshake is closed after the header-read bound,
/// like a half-sent request head; it does not hold a connection slot for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_client_is_dropped() {
    use tokio::io::AsyncReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let tls = idaas::stack::tls::LocalTls::ensure(dir.path(), &["svc"]).unwrap();
    let files = service_kit::tls::TlsFiles { cert: tls.cert("svc"), key: tls.key("svc") };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = service_kit::ServeOptions::from_secs(1, 5, 1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service_kit::serve_configured(
        axum::Router::new(),
        listener,
        options,
        Some(files),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await.unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "closed, not answered");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "closed at the 1 s bound");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
