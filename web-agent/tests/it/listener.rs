//! The agent's listener time bounds over real sockets (issue 15, defect 3: the header-read,
//! idle and request timeouts and the shutdown grace from its configuration, through
//! `web_agent::serve`), and a malformed chunked body from the client, which is the client's
//! 400, not a 502 "backend unreachable" (issue 15, defect 6).

use std::time::Duration;

use crate::common::{raw, Agent, Opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_heads_idle_connections_and_slow_bodies_are_bounded() {
    let agent = Agent::start(Opts {
        request_timeout_secs: Some(1),
        extra_toml: "header_read_timeout_secs = 1\nidle_timeout_secs = 2\n".into(),
        ..Opts::default()
    })
    .await;
    service_kit::probe::expect_short_time_bounds(
        agent.addr,
        "/healthz",
        "/saml/acs",
        "application/x-www-form-urlencoded",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_half_sent_request_ends_within_the_grace() {
    let mut agent = Agent::start(Opts {
        extra_toml: "header_read_timeout_secs = 60\nidle_timeout_secs = 60\nshutdown_grace_secs = 1\n".into(),
        ..Opts::default()
    })
    .await;
    let stop = agent.stop.take().unwrap();
    let stop = move || {
        let _ = stop.send(());
    };
    let served = agent.served.take().unwrap();
    service_kit::probe::expect_shutdown_within_grace(agent.addr, stop, served, Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_is_the_clients_400_not_a_502() {
    let agent = Agent::start(Opts::default()).await;
    // A public path, so the request is forwarded without a session; the second chunk's size
    // line is not hexadecimal.
    let req = format!(
        "POST /pub/upload HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: text/plain\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nbroken\r\n0\r\n\r\n",
        agent.addr
    );
    let a = raw(agent.addr, None, req.into_bytes()).await;
    assert_eq!(a.status, 400, "{}\n{}", a.head, a.body);
    assert!(a.body.contains("request body could not be read"), "{}", a.body);
}
