//! The listener's time bounds over real sockets (issue 15, defect 3): a half-sent head is cut
//! after the header-read timeout, an idle keep-alive after the idle timeout (and not at the
//! header-read timeout), a slow body gets 408, and shutdown with a half-sent request open
//! returns within the grace + 1 s while a request in flight still gets its answer.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use service_kit::layers::{stack, Layers};
use service_kit::probe;
use service_kit::ServeOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn app() -> Router {
    let routes = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slow ok"
            }),
        )
        .route("/echo", post(|body: String| async move { body }));
    let layers = Layers {
        request_timeout: Duration::from_secs(1),
        body_limit: Some(1 << 16),
        metrics: None,
        hsts: false,
    };
    stack(routes, layers, |status| (status, "bare answer rendered").into_response())
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: JoinHandle<std::io::Result<()>>,
}

async fn start(options: ServeOptions) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(service_kit::serve(app(), listener, options, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop), served }
}

fn secs(header_read: u64, idle: u64, grace: u64) -> ServeOptions {
    ServeOptions::from_secs(header_read, idle, grace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_cut_after_the_header_read_timeout() {
    let s = start(secs(1, 30, 1)).await;
    let conn = probe::half_head(s.addr, "/").await.unwrap();
    let closed = probe::closed_within(&conn, Duration::from_secs(5)).await;
    let took = closed.expect("the connection is still open 5 s after a half-sent head");
    assert!(took >= Duration::from_millis(900), "cut before the timeout: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let s = start(secs(1, 3, 1)).await;
    let (conn, status) = probe::one_request_kept_alive(s.addr, "/").await.unwrap();
    assert_eq!(status, 200);
    let took =
        probe::closed_within(&conn, Duration::from_secs(8)).await.expect("idle connection kept for ever");
    assert!(took >= Duration::from_millis(2500), "an idle connection is not a slow head: {took:?}");
    // A connection that keeps asking stays open past the idle timeout.
    let (conn, _) = probe::one_request_kept_alive(s.addr, "/").await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        probe::send(&conn, format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).as_bytes()).await.unwrap();
        assert_eq!(probe::response_head(&conn).await.unwrap().0, 200);
        // The 2-byte body "ok" follows; the next head read skips nothing else.
        let mut b = [0u8; 2];
        conn.readable().await.unwrap();
        let _ = conn.try_read(&mut b);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_gets_408_from_the_request_timeout() {
    let s = start(secs(5, 30, 1)).await;
    let (status, took) =
        probe::slow_body(s.addr, "/echo", "text/plain", Duration::from_secs(5)).await.unwrap();
    assert_eq!(status, 408);
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_half_sent_request_returns_within_the_grace() {
    let mut s = start(secs(60, 60, 1)).await;
    let held = probe::half_head(s.addr, "/").await.unwrap();
    // A request in flight at the signal still gets its answer.
    let slow = probe::half_head(s.addr, "/slow").await.unwrap();
    probe::send(&slow, b"\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    s.stop.take().unwrap().send(()).unwrap();
    // The half-sent head was never accepted as a request: it is closed at once, not after
    // the grace (a slow head cannot hold the shutdown).
    let closed = probe::closed_within(&held, Duration::from_millis(500)).await;
    assert!(closed.is_some(), "a half-sent head is closed at the shutdown signal");
    let answer = probe::response_head(&slow).await.unwrap();
    assert_eq!(answer.0, StatusCode::OK.as_u16(), "{}", answer.1);
    tokio::time::timeout(Duration::from_secs(2), s.served)
        .await
        .expect("serve outlived grace + 1 s")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500), "the request in flight was answered first");
    // Nothing is accepted any more.
    assert!(tokio::net::TcpStream::connect(s.addr).await.is_err());
}
