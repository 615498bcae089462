//! Client-side probes of a listener's time bounds over a real socket: the half-sent head, the
//! idle keep-alive, the slow body. The services' integration tests run them against their
//! own `serve`; an operator can run them against a deployment (they are plain HTTP/1.1).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// Opens a connection and sends the first line and one header of a request head, never the
/// blank line that ends it.
pub async fn half_head(addr: SocketAddr, path: &str) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    write_all(&s, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n").as_bytes()).await?;
    Ok(s)
}

/// Reads (and discards) until the peer closes the connection or `max` passes; the time it
/// took to close, or `None` if it was still open after `max`. A reset counts as closed.
pub async fn closed_within(stream: &TcpStream, max: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(started + max, read_some(stream, &mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends one complete `GET path` on a kept-alive connection and reads its whole answer
/// (`Content-Length` bodies only); returns the connection, now idle, and the status.
pub async fn one_request_kept_alive(addr: SocketAddr, path: &str) -> std::io::Result<(TcpStream, u16)> {
    let s = TcpStream::connect(addr).await?;
    write_all(&s, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let (head, mut body) = read_head(&s).await?;
    let len = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    while body.len() < len {
        let mut buf = [0u8; 4096];
        let n = read_some(&s, &mut buf).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    Ok((s, status(&head)))
}

/// Sends the head of a `POST path` announcing 100 bytes of `content_type`, then 10 bytes, then
/// nothing; returns the status the server answers with (0 when it closes without one) and
/// how long that took, or an error after `max`.
pub async fn slow_body(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    max: Duration,
) -> std::io::Result<(u16, Duration)> {
    let s = TcpStream::connect(addr).await?;
    let started = Instant::now();
    write_all(
        &s,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
             Content-Length: 100\r\n\r\n0123456789"
        )
        .as_bytes(),
    )
    .await?;
    let (head, _) = tokio::time::timeout(max, read_head(&s))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    Ok((status(&head), started.elapsed()))
}

/// Reads up to the end of the response head; returns it and the body bytes read after it.
async fn read_head(s: &TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(got.get(..end).unwrap_or_default()).into_owned();
            let rest = got.get(end + 4..).unwrap_or_default().to_vec();
            return Ok((head, rest));
        }
        let n = read_some(s, &mut buf).await?;
        if n == 0 {
            return Ok((String::from_utf8_lossy(&got).into_owned(), Vec::new()));
        }
        got.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

fn status(head: &str) -> u16 {
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

// Plain readiness-based reads and writes (tokio's `net` feature), so the kit does not pull in
// `io-util` and change the features of the shared build.
async fn read_some(s: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(s: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        s.writable().await?;
        match s.try_write(data) {
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `data` on a connection opened by one of the probes (e.g. the rest of a half head).
pub async fn send(s: &TcpStream, data: &[u8]) -> std::io::Result<()> {
    write_all(s, data).await
}

/// Reads the response head on a connection opened by one of the probes; its status (0 when
/// the connection closed without one) and the head's text.
pub async fn response_head(s: &TcpStream) -> std::io::Result<(u16, String)> {
    let (head, _) = read_head(s).await?;
    Ok((status(&head), head))
}

/// What the services' tests check against a listener configured with a header-read timeout
/// of 1 s, an idle timeout of 2 s and a request timeout of 1 s: a half-sent head is cut after
/// about 1 s, an idle kept-alive connection (after `GET idle_path`) after about 2 s, and a
/// slow `POST slow_path` body is answered 408. `Err` says which bound did not hold.
pub async fn expect_short_time_bounds(
    addr: SocketAddr,
    idle_path: &str,
    slow_path: &str,
    content_type: &str,
) -> Result<(), String> {
    let at_least = |took: Duration, secs: u64| took + Duration::from_millis(150) >= Duration::from_secs(secs);
    let s = half_head(addr, idle_path).await.map_err(|e| e.to_string())?;
    match closed_within(&s, Duration::from_secs(5)).await {
        Some(took) if at_least(took, 1) => {}
        Some(took) => return Err(format!("a half-sent head was cut after {took:?}, before the timeout")),
        None => return Err("a half-sent head was held for 5 s (header-read timeout 1 s)".into()),
    }
    let (s, status) = one_request_kept_alive(addr, idle_path).await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("GET {idle_path} answered {status}"));
    }
    match closed_within(&s, Duration::from_secs(6)).await {
        Some(took) if at_least(took, 2) => {}
        Some(took) => {
            return Err(format!("an idle connection was closed after {took:?}, before the idle timeout"))
        }
        None => return Err("an idle kept-alive connection was held for 6 s (idle timeout 2 s)".into()),
    }
    match slow_body(addr, slow_path, content_type, Duration::from_secs(5)).await {
        Ok((408, _)) => Ok(()),
        Ok((status, _)) => Err(format!("a slow body to {slow_path} was answered {status}, not 408")),
        Err(e) => Err(format!("a slow body to {slow_path} got no answer in 5 s: {e}")),
    }
}

/// Opens a half-sent request at `addr`, fires `stop` and checks that `served` (the serving
/// task) ends within `grace` + 1 s. `Err` says what happened instead.
pub async fn expect_shutdown_within_grace(
    addr: SocketAddr,
    stop: impl FnOnce(),
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    grace: Duration,
) -> Result<(), String> {
    let _held = half_head(addr, "/").await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    stop();
    match tokio::time::timeout(grace + Duration::from_secs(1), served).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("serve failed: {e}")),
        Ok(Err(e)) => Err(format!("the serving task failed: {e}")),
        Err(_) => {
            Err(format!("still serving {:?} after the shutdown signal (grace {grace:?})", started.elapsed()))
        }
    }
}
