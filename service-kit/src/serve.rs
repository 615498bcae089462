//! Serving an axum app on a TCP listener with a time bound on every state a connection can be
//! in (issue 15, defect 3):
//!
//! | state | bound | then |
//! |---|---|---|
//! | reading a request head (first byte seen, head not complete) | `header_read_timeout` | the connection is dropped |
//! | kept alive with no request in flight and no byte of a new one | `idle_timeout` | the connection is dropped |
//! | a request in flight (body, handler, until the response head) | the app's request timeout ([`crate::layers`]) | 408 |
//! | shutdown: accepting stops, in-flight requests finish; idle connections and heads still arriving close at once | `shutdown_grace` | every connection is dropped and [`serve`] returns |
//!
//! Over TLS ([`serve_tls`]) the handshake counts as part of the first request head, and ALPN
//! picks HTTP/2 or HTTP/1.1; the same bounds hold for both.
//!
//! `axum::serve` has none of these (a half-sent head or an idle keep-alive is held for ever,
//! and its graceful shutdown waits for them), so the accept loop is ours, on hyper's HTTP/1
//! connection. Each connection also gets `TCP_NODELAY` (a response's later chunks must not wait
//! for the peer's delayed ACK on a kept-alive connection) and the client address as
//! `ConnectInfo<SocketAddr>` (throttling counts per address).
//!
//! The head and idle clocks are kept by a per-connection watchdog rather than hyper's own
//! `header_read_timeout`: hyper starts that clock as soon as it waits for the next head, so it
//! would cut idle keep-alives at the header-read bound and the two options could not differ.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::tls::{ServerTls, TlsFiles};

/// Default of `header_read_timeout_secs`: a request head arrives in one round trip or two.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default of `idle_timeout_secs`: long enough for a browser's next click to reuse the
/// connection, short enough that idle sockets do not pile up.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
/// Default of `request_timeout_secs` at the IdPs (the agent has its own, longer than its
/// backend client's timeouts).
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Default of `shutdown_grace_secs`.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// Largest value of each of these options (an hour): a larger one is a mistake, not a policy.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

/// The connection time bounds of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// From the first byte of a request head until the head is complete.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for the first byte of its next request.
    pub idle_timeout: Duration,
    /// After the shutdown signal: how long requests in flight may still run.
    pub shutdown_grace: Duration,
}

impl ServeOptions {
    /// The bounds from their configuration values, in seconds.
    pub fn from_secs(header_read_timeout: u64, idle_timeout: u64, shutdown_grace: u64) -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(header_read_timeout),
            idle_timeout: Duration::from_secs(idle_timeout),
            shutdown_grace: Duration::from_secs(shutdown_grace),
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::from_secs(
            DEFAULT_HEADER_READ_TIMEOUT_SECS,
            DEFAULT_IDLE_TIMEOUT_SECS,
            DEFAULT_SHUTDOWN_GRACE_SECS,
        )
    }
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets requests
/// in flight finish for at most `options.shutdown_grace`, drops every connection still open
/// and returns. Errors of single connections are not errors of the server.
pub async fn serve(
    app: Router,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_tls(app, listener, options, None, shutdown).await
}

/// [`serve_tls`] with a listener's TLS files as configured (`None`: plain HTTP): loads them
/// (an error names the file and stops the start) and reloads them on SIGHUP while serving.
pub async fn serve_configured(
    app: Router,
    listener: TcpListener,
    options: ServeOptions,
    tls_files: Option<TlsFiles>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = tls_files.map(ServerTls::load).transpose()?;
    let reloader = tls.as_ref().map(ServerTls::reload_on_sighup);
    let result = serve_tls(app, listener, options, tls, shutdown).await;
    if let Some(task) = reloader {
        task.abort();
    }
    result
}

/// [`serve`], over TLS when `tls` is given: the handshake must complete within
/// `header_read_timeout` (it is the first part of the first request), then HTTP/2 or
/// HTTP/1.1 as ALPN chose, under the same time bounds.
pub async fn serve_tls(
    app: Router,
    listener: TcpListener,
    options: ServeOptions,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let tls = tls.as_ref().map(ServerTls::acceptor);
                    connections.spawn(connection(stream, tls, remote, app.clone(), options, stopped.clone()));
                }
                // Out of file descriptors or a connection reset before accept: wait a little
                // rather than spin, and keep serving.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_secs = options.shutdown_grace.as_secs(),
            "shutdown grace over: dropping the connections still open"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// What the watchdog of one connection needs to know.
#[derive(Debug)]
struct Activity {
    /// Requests whose response has not been sent completely.
    in_flight: usize,
    /// When the connection last became idle (accepted, or its last response finished).
    idle_since: Instant,
    /// When the first byte of the next request head arrived (while idle).
    head_started: Option<Instant>,
}

type Shared = Arc<Mutex<Activity>>;

fn lock(a: &Shared) -> MutexGuard<'_, Activity> {
    // A poisoned lock still holds valid counters.
    a.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Activity {
    /// Whether the connection has overstayed the bound of the state it is in.
    fn expired(&self, now: Instant, options: &ServeOptions) -> bool {
        if self.in_flight > 0 {
            return false; // the request timeout bounds it
        }
        match self.head_started {
            Some(t) => now.saturating_duration_since(t) >= options.header_read_timeout,
            None => now.saturating_duration_since(self.idle_since) >= options.idle_timeout,
        }
    }
}

/// How often the watchdog looks: a tenth of the shorter bound, between 50 ms and 1 s.
fn tick(options: &ServeOptions) -> Duration {
    (options.header_read_timeout.min(options.idle_timeout) / 10)
        .clamp(Duration::from_millis(50), Duration::from_secs(1))
}

async fn connection(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    remote: SocketAddr,
    app: Router,
    options: ServeOptions,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity: Shared =
        Arc::new(Mutex::new(Activity { in_flight: 0, idle_since: Instant::now(), head_started: None }));
    let watched = Watched { io: stream, activity: activity.clone() };
    let Some(acceptor) = tls else {
        return drive(TokioIo::new(watched), false, activity, remote, app, options, stopped).await;
    };
    // The handshake is bounded like a request head, and shutdown does not wait for it.
    let handshake = tokio::time::timeout(options.header_read_timeout, acceptor.accept(watched));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            // A failed or slow handshake is the client's problem; nothing to log per connection.
            Ok(Err(_)) | Err(_) => return,
        },
        _ = stopped.changed() => return,
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    // The handshake's bytes are not a request head: the idle clock starts now.
    {
        let mut a = lock(&activity);
        a.head_started = None;
        a.idle_since = Instant::now();
    }
    drive(TokioIo::new(stream), h2, activity, remote, app, options, stopped).await;
}

/// Serves HTTP on one (plain or TLS) connection until it ends, overstays the bound of its
/// state, or shutdown drains it.
async fn drive<I>(
    io: I,
    h2: bool,
    activity: Shared,
    remote: SocketAddr,
    app: Router,
    options: ServeOptions,
    mut stopped: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let for_service = activity.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let guard = InFlight::begin(&for_service);
        req.extensions_mut().insert(ConnectInfo(remote));
        let app = app.clone();
        async move {
            let res = match app.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(res.map(|body| GuardedBody { body, _guard: guard }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    // Plain listeners speak HTTP/1.1 only (no h2c); over TLS, ALPN decided.
    let builder = if h2 { builder.http2_only() } else { builder.http1_only() };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let every = tick(&options);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = tokio::time::sleep(every) => {
                if lock(&activity).expired(Instant::now(), &options) {
                    break; // dropping the connection closes the socket
                }
            }
            _ = stopped.changed(), if !draining => {
                // No request in flight (idle, or a head still arriving: nothing was accepted
                // yet): close now, so a slow head cannot hold the shutdown for its grace.
                if lock(&activity).in_flight == 0 {
                    break;
                }
                draining = true;
                // Finishes the request in flight; keep-alive is off from here on.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The connection's socket; notes when the first byte of a new request head arrives.
struct Watched {
    io: TcpStream,
    activity: Shared,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let mut a = lock(&this.activity);
            if a.in_flight == 0 && a.head_started.is_none() {
                a.head_started = Some(Instant::now());
            }
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// One request in flight, from its complete head until its response body is sent (or
/// dropped): the connection is neither idle nor reading a head meanwhile.
struct InFlight(Shared);

impl InFlight {
    fn begin(activity: &Shared) -> Self {
        let mut a = lock(activity);
        a.in_flight += 1;
        a.head_started = None;
        drop(a);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut a = lock(&self.0);
        a.in_flight = a.in_flight.saturating_sub(1);
        if a.in_flight == 0 {
            a.idle_since = Instant::now();
            a.head_started = None;
        }
    }
}

/// A response body that keeps its request counted as in flight until it is sent: a long
/// streamed download is not an idle connection.
struct GuardedBody {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_has_its_bound() {
        let o = ServeOptions::from_secs(2, 5, 1);
        let t0 = Instant::now();
        let mut a = Activity { in_flight: 0, idle_since: t0, head_started: None };
        assert!(!a.expired(t0 + Duration::from_secs(4), &o));
        assert!(a.expired(t0 + Duration::from_secs(5), &o), "idle");
        a.head_started = Some(t0 + Duration::from_secs(1));
        assert!(a.expired(t0 + Duration::from_secs(3), &o), "head started, not finished");
        a.in_flight = 1;
        assert!(!a.expired(t0 + Duration::from_secs(3600), &o), "a request in flight has its own timeout");
        assert_eq!(tick(&o), Duration::from_millis(200));
    }
}
