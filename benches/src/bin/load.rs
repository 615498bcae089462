//! The load harness of issue 15 (`make load`; not part of `make test`): the whole quickstart
//! stack in this process on loopback ports, then bounded floods against it, reporting the
//! process RSS before and after each flood and bob's sign-in success rate during and after.
//!
//! Floods (each bounded: a fixed number of requests, loopback only):
//! - **argon2 burst**: `BURST` wrong-password `POST /api/token` at once, each from its own
//!   loopback address (127.0.1.x, so the per-address throttle does not stop them first), while
//!   bob signs in every 50 ms from 127.0.0.1;
//! - **unauthenticated flood**: `FLOOD` `GET /api/pii` without a token.
//!
//! Slow connections and SAML sign-in storms are not driven here yet (see docs/performance.md).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const BURST: u16 = 128;
const FLOOD: usize = 2000;

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
        password: federation::secret::Secret::new(password),
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
    let stack = idaas::stack::start(idaas::stack::Options {
        base_port: 0,
        data_dir: dir.path().to_owned(),
        clock: Arc::new(federation::clock::SystemClock),
        suite: pbe_core::SuiteId::Bls12_381,
    })
    .await
    .map_err(|e| e.to_string())?;
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
    stack.stop().await;
    Ok(())
}
