//! TLS on a listener (issue 21): served with a certificate, reloaded in place (by call and on
//! SIGHUP) for new connections, a broken replacement refused with the old certificate kept.

use std::path::Path;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use service_kit::tls::{ServerTls, TlsFiles};
use service_kit::ServeOptions;

/// A CA (its PEM certificate) and a leaf for 127.0.0.1 it signed, written as `cert`/`key`.
fn issue(dir: &Path, cert: &str, key: &str) -> String {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join(cert), leaf.pem()).unwrap();
    std::fs::write(dir.join(key), leaf_key.serialize_pem()).unwrap();
    ca.pem()
}

fn trusting(dir: &Path, ca_pem: &str) -> reqwest::Client {
    let path = dir.join("trusted-ca.pem");
    std::fs::write(&path, ca_pem).unwrap();
    // A fresh client per check: a kept-alive connection would not see a new certificate.
    service_kit::tls::client_builder(Some(&path)).unwrap().pool_max_idle_per_host(0).build().unwrap()
}

async fn answers(client: &reqwest::Client, url: &str) -> bool {
    matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_served_and_replaced_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca1 = issue(d, "cert.pem", "key.pem");
    let files = TlsFiles { cert: d.join("cert.pem"), key: d.join("key.pem") };
    let tls = ServerTls::load(files).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = tokio::spawn(service_kit::serve_tls(
        app,
        listener,
        ServeOptions::default(),
        Some(tls.clone()),
        async {
            let _ = stopped.await;
        },
    ));

    assert!(answers(&trusting(d, &ca1), &url).await, "served with the first certificate");
    assert!(!answers(&reqwest::Client::new(), &url).await, "an untrusted CA is refused by the client");

    // A new certificate from another CA: after reload() new connections get it.
    let ca2 = issue(d, "cert.pem", "key.pem");
    assert!(answers(&trusting(d, &ca1), &url).await, "nothing changes before the reload");
    tls.reload().unwrap();
    assert!(answers(&trusting(d, &ca2), &url).await);
    assert!(!answers(&trusting(d, &ca1), &url).await, "the old certificate is gone");

    // A broken replacement: the reload fails, names the file, and the old certificate stays.
    std::fs::write(d.join("key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        .unwrap();
    let err = tls.reload().unwrap_err().to_string();
    assert!(err.contains("key.pem") || err.contains("TLS configuration"), "{err}");
    std::fs::write(d.join("key.pem"), "").unwrap();
    assert!(tls.reload().is_err());
    assert!(answers(&trusting(d, &ca2), &url).await, "still serving the last good certificate");

    // SIGHUP reloads too (what `idaas home|visitor|agent` get from serve_configured).
    let ca3 = issue(d, "cert.pem", "key.pem");
    let watcher = tls.reload_on_sighup();
    tokio::time::sleep(Duration::from_millis(300)).await; // the handler is installed
    let status = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status();
    assert!(status.unwrap().success());
    let mut reloaded = false;
    for _ in 0..50 {
        if answers(&trusting(d, &ca3), &url).await {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP reloaded the certificate");
    watcher.abort();

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[test]
fn a_half_configured_listener_is_refused_with_the_key_named() {
    let e =
        service_kit::config::check_tls("https://idp.example", Some(Path::new("c.pem")), None).unwrap_err();
    assert!(e.to_string().contains("tls_cert"), "{e}");
    let e = service_kit::config::check_tls("http://idp.example", Some(Path::new("c")), Some(Path::new("k")))
        .unwrap_err();
    assert!(e.to_string().contains("public_url"), "{e}");
    assert!(service_kit::config::check_tls("http://idp.example", None, None).unwrap().is_none());
}
