//! The home IdP's listener time bounds over real sockets (issue 15, defect 3): the header-read,
//! idle and request timeouts and the shutdown grace from its configuration, through
//! `idp_home::serve` (the probes are `service_kit::probe`'s).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap in a test is a failed test

use std::time::Duration;

use crate::api::env_with;

async fn serve(
    f: impl FnOnce(&mut idp_home::Config),
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    crate::api::Env,
) {
    let env = env_with(f);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(idp_home::serve(env.state.clone(), listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, served, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_heads_idle_connections_and_slow_bodies_are_bounded() {
    let (addr, _stop, _served, _env) = serve(|c| {
        c.header_read_timeout_secs = 1;
        c.idle_timeout_secs = 2;
        c.request_timeout_secs = 1;
    })
    .await;
    service_kit::probe::expect_short_time_bounds(addr, "/healthz", "/api/users", "application/json")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_half_sent_request_ends_within_the_grace() {
    let (addr, stop, served, _env) = serve(|c| {
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
