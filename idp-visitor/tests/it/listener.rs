//! The visitor IdP's listener time bounds over real sockets (issue 15, defect 3): the
//! header-read, idle and request timeouts and the shutdown grace from its configuration,
//! through `idp_visitor::serve` (the probes are `service_kit::probe`'s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap in a test is a failed test

use std::sync::Arc;
use std::time::Duration;

use federation::verify::TrustStore;
use idp_visitor::config::Config;
use idp_visitor::keys::Keys;
use idp_visitor::store::{SledStore, Store};
use idp_visitor::AppState;
use rand_chacha::rand_core::SeedableRng;
use service_kit::ManualClock;

async fn serve(
    f: impl FnOnce(&mut Config),
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut config = Config { public_url: base.clone(), entity_id: base, ..Config::default() };
    f(&mut config);
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let store: Arc<dyn Store> = Arc::new(SledStore::temporary().unwrap());
    let keys = Arc::new(Keys::ephemeral("salesforce", pbe_core::SuiteId::Bls12_381, rng).unwrap());
    let clock = Arc::new(ManualClock::new(1_795_000_000));
    let state = AppState::new(config, store, clock, keys, TrustStore::new()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(idp_visitor::serve(state, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_heads_idle_connections_and_slow_bodies_are_bounded() {
    let (addr, _stop, _served) = serve(|c| {
        c.header_read_timeout_secs = 1;
        c.idle_timeout_secs = 2;
        c.request_timeout_secs = 1;
    })
    .await;
    service_kit::probe::expect_short_time_bounds(
        addr,
        "/healthz",
        "/oauth2/token",
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_half_sent_request_ends_within_the_grace() {
    let (addr, stop, served) = serve(|c| {
        c.header_read_timeout_secs = 60;
        c.idle_timeout_secs = 60;
        c.shutdown_grace_secs = 1;
    })
    .await;
    let stop = move || {
        let _ = stop.send(());
    };
    service_kit::probe::expect_shutdown_within_grace(addr, stop, served, Duration::from_secs(1))
        .await
        .unwrap();
}
