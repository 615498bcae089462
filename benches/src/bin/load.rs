//! The load harness of issue 15 (`make load`; not part of `make test`): the whole quickstart
//! stack in this process on loopback ports, then bounded floods against it, reporting the
//! process RSS before and after each flood and bob's sign-in success rate during and after.
//!
//! Floods (each bounded: a fixed number of requests, loopback only):
//! - **argon2 burst**: `BURST` wrong-password `POST /api/token` at once, each from its own
//!   loopback address (127.0.1.x, so the per-address throttle does not stop them first), while
//!   bob signs in every 50 ms from 127.0.0.1;
//! - **unauthenticated flood**: `FLOOD` `GET /api/pii` without a token;
//! - **slow connections**: `SLOW` connections to every listener that send half a request head
//!   and then nothing, while bob signs in; then whether the listeners dropped them after their
//!   header-read timeout;
//! - **sign-in storm**: `STORM` browsers (each from its own loopback address) at once through the whole SAML sign-in at the shopping
//!   agent (redirect, password, auto-post, ACS with the RFC 7522 exchange and decryption);
//! - **shutdown**: with a half-sent request open at every listener, the time from the stop
//!   signal to every service gone (bound: the grace, 10 s by default, + 1 s).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BURST: u16 = 128;
const FLOOD: usize = 2000;
const SLOW: usize = 200;
const STORM: u8 = 25;

/// This process's resident set size, MiB (Linux `/proc/self/status`).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn client_from(addr: IpAddr) -> Res<reqwest::Client> {
    Ok(reqwest::Client::builder().local_address(addr).timeout(Duration::from_secs(30)).build()?)
}

async fn sign_in(http: &reqwest::Client, home: &str, uid: &str, password: &str) -> u16 {
    let body = federation::api::TokenRequest {
        uid: uid.into(),
        password: service_kit::secret::Secret::new(password),
    };
    match http.post(format!("{home}/api/token")).json(&body).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// bob signs in every 50 ms until `stop`; returns (successes, attempts).
async fn legit_loop(home: String, password: String, stop: Arc<tokio::sync::Notify>) -> Res<(u32, u32)> {
    let http = client_from(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    let (mut ok, mut all) = (0, 0);
    loop {
        all += 1;
        if sign_in(&http, &home, "bob", &password).await == 200 {
            ok += 1;
        }
        tokio::select! {
            () = stop.notified() => return Ok((ok, all)),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

fn main() -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run())
}

async fn run() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let stack =
        idaas::stack::start(benches::quickstart_options(dir.path())).await.map_err(|e| e.to_string())?;
    let home = stack.home_url.clone();
    let password = stack.password.clone();
    // Warm-up: one sign-in, so first-use allocations are not counted as growth.
    let local = client_from(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
    let _ = sign_in(&local, &home, "bob", &password).await;
    println!(
        "load harness (issue 15): the quickstart stack in-process, {} CPU(s)",
        idp_home::service::hashing::default_limit()
    );

    // 1. argon2 burst with bob signing in meanwhile.
    let before = rss_mib();
    let stop = Arc::new(tokio::sync::Notify::new());
    let legit = tokio::spawn(legit_loop(home.clone(), password.clone(), stop.clone()));
    let started = Instant::now();
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..BURST {
        let [hi, lo] = i.to_be_bytes();
        let http = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 1 + hi, lo.max(1))))?;
        let home = home.clone();
        burst.spawn(async move { sign_in(&http, &home, &format!("guess{i}"), "wrong password!!").await });
    }
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    while let Some(s) = burst.join_next().await {
        *statuses.entry(s.unwrap_or(0)).or_default() += 1;
    }
    stop.notify_one();
    let (ok, all) = legit.await.map_err(|e| e.to_string())??;
    let after = rss_mib();
    println!(
        "argon2 burst: {BURST} wrong passwords in {:.1} s, answers {statuses:?}; RSS {before:.0} -> {after:.0} MiB (+{:.0}); bob during: {ok}/{all}",
        started.elapsed().as_secs_f64(),
        after - before
    );
    let (mut ok_after, n_after) = (0, 20);
    for _ in 0..n_after {
        if sign_in(&local, &home, "bob", &password).await == 200 {
            ok_after += 1;
        }
    }
    println!("bob after the burst: {ok_after}/{n_after}");

    // 2. unauthenticated flood.
    let before = rss_mib();
    let started = Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for chunk in 0..20 {
        let http = local.clone();
        let home = home.clone();
        flood.spawn(async move {
            let mut refused = 0u32;
            for _ in 0..FLOOD / 20 {
                if let Ok(r) = http.get(format!("{home}/api/pii")).send().await {
                    refused += u32::from(r.status().as_u16() == 401);
                }
            }
            let _ = chunk;
            refused
        });
    }
    let mut refused = 0;
    while let Some(n) = flood.join_next().await {
        refused += n.unwrap_or(0);
    }
    let after = rss_mib();
    println!(
        "unauthenticated flood: {FLOOD} GET /api/pii in {:.1} s, {refused} answered 401; RSS {before:.0} -> {after:.0} MiB (+{:.0})",
        started.elapsed().as_secs_f64(),
        after - before
    );
    let ok = sign_in(&local, &home, "bob", &password).await == 200;
    println!("bob after the flood: {}", if ok { "signed in" } else { "FAILED" });

    // 3. slow connections at every listener.
    let listeners: Vec<String> =
        [vec![home.clone(), stack.visitor_url.clone()], stack.agent_urls.clone()].concat();
    let before = rss_mib();
    let mut held = Vec::new();
    for url in &listeners {
        for _ in 0..SLOW {
            held.push(half_sent(url).await?);
        }
    }
    let stop = Arc::new(tokio::sync::Notify::new());
    let legit = tokio::spawn(legit_loop(home.clone(), password.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.notify_one();
    let (ok, all) = legit.await.map_err(|e| e.to_string())??;
    let during = rss_mib();
    // The default header-read timeout is 10 s: by 12 s every listener has dropped them.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut dropped = 0;
    for c in &mut held {
        dropped += usize::from(is_closed(c).await);
    }
    println!(
        "slow connections: {} half-sent heads held at {} listeners; RSS {before:.0} -> {during:.0} MiB (+{:.0}); bob during: {ok}/{all}; dropped by the listeners after 13 s: {dropped}/{}",
        held.len(),
        listeners.len(),
        during - before,
        held.len()
    );
    drop(held);

    // 4. sign-in storm at the shopping agent, twice: the first round includes first-use
    // growth (thread pools, allocator arenas), the second shows whether storms accumulate.
    for round in 1..=2 {
        let before = rss_mib();
        let started = Instant::now();
        let mut storm = tokio::task::JoinSet::new();
        for i in 0..STORM {
            let (agent, home, password) = (stack.agent_urls[0].clone(), home.clone(), password.clone());
            // Each browser from its own loopback address (one person's devices; the per-uid
            // ceiling of 30 in-flight attempts is above STORM).
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 2, i + 1));
            storm.spawn(async move {
                browser_sign_in(from, &agent, &home, &password).await.map_err(|e| e.to_string())
            });
        }
        let mut signed_in = 0;
        let mut failures = std::collections::BTreeMap::<String, u32>::new();
        while let Some(outcome) = storm.join_next().await {
            match outcome.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(()) => signed_in += 1,
                Err(e) => *failures.entry(e).or_default() += 1,
            }
        }
        if !failures.is_empty() {
            println!("sign-in storm failures: {failures:?}");
        }
        let after = rss_mib();
        println!(
            "sign-in storm {round}: {STORM} browsers at once through the SAML sign-in and the ACS in {:.1} s: {signed_in}/{STORM} signed in; RSS {before:.0} -> {after:.0} MiB (+{:.0})",
            started.elapsed().as_secs_f64(),
            after - before
        );
    }

    // 5. shutdown with a half-sent request open at every listener.
    let mut open = Vec::new();
    for url in &listeners {
        open.push(half_sent(url).await?);
    }
    let started = Instant::now();
    stack.stop().await;
    println!(
        "shutdown with {} half-sent requests open: every service gone in {:.2} s (bound: grace 10 s + 1 s)",
        open.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A connection to `url`'s listener that sent half a request head.
async fn half_sent(url: &str) -> Res<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt as _;
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: load\r\nX-Slow: ").await?;
    Ok(c)
}

/// Whether the peer has closed `c` (a read returns end of stream or an error at once).
async fn is_closed(c: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// One browser's whole sign-in at `agent`: redirect to the IdP, the password form, the
/// auto-post to the ACS, and the backend's answer.
async fn browser_sign_in(from: IpAddr, agent: &str, home: &str, password: &str) -> Res<()> {
    use idaas::browser::{form_input, location};
    let b = reqwest::Client::builder()
        .local_address(from)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    let r = b.get(format!("{agent}/cart")).send().await?;
    let sso = location(&r).ok_or("no redirect to the IdP")?;
    let page = b.get(&sso).send().await?.text().await?;
    let csrf = form_input(&page, "csrf").ok_or("no sign-in form")?;
    let r = b
        .post(format!("{home}/saml/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", password)])
        .send()
        .await?;
    let status = r.status();
    let page = r.text().await?;
    let page = idaas::browser::through_consent(&b, home, page).await?;
    let response = form_input(&page, "SAMLResponse").ok_or_else(|| {
        let alert = page.split("role=\"alert\">").nth(1).and_then(|a| a.split('<').next()).unwrap_or("-");
        format!("no auto-post form: {status} {alert}")
    })?;
    let relay = form_input(&page, "RelayState").unwrap_or_default();
    let r = b
        .post(format!("{agent}/saml/acs"))
        .form(&[("SAMLResponse", response.as_str()), ("RelayState", relay.as_str())])
        .send()
        .await?;
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(format!("ACS answered {}", r.status()).into());
    }
    let r = b.get(format!("{agent}/cart")).send().await?;
    if r.status() != reqwest::StatusCode::OK {
        return Err(format!("the service answered {}", r.status()).into());
    }
    Ok(())
}
