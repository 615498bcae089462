//! The request timeout (`request_timeout_secs`): a client that starts a request and then
//! sends its body too slowly is answered 408 with the agent's error page, instead of holding
//! a connection and a handler for as long as it likes.

use std::time::{Duration, Instant};

use crate::common::{raw, request, Agent, Opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_body_gets_408() {
    let agent = Agent::start(Opts { request_timeout_secs: Some(1), ..Opts::default() }).await;
    // 100 bytes announced, 13 sent, then nothing: the ACS handler waits for the rest.
    let req = format!(
        "POST /saml/acs HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nSAMLResponse=",
        agent.addr
    );
    let started = Instant::now();
    let a = raw(agent.addr, None, req.into_bytes()).await;
    assert_eq!(a.status, 408, "{}", a.head);
    assert!(started.elapsed() < Duration::from_secs(10), "answered when the timeout fired");
    assert!(a.head.to_ascii_lowercase().contains("content-type: text/html"), "{}", a.head);
    assert!(a.body.contains("Request timeout"), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_request_is_not_cut() {
    let agent = Agent::start(Opts { request_timeout_secs: Some(1), ..Opts::default() }).await;
    // A complete (if meaningless) form is answered by the ACS itself, not by the timeout.
    let a = request(
        &agent,
        None,
        "POST",
        "/saml/acs",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"SAMLResponse=AAAA",
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.head);
}
