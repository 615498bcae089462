//! The backup socket of a running service: `<database directory>/idaas-backup.sock`, 0600.
//!
//! One command, one line: `snapshot\n`. The answer is `OK <length>\n` and that many bytes of
//! [snapshot](super::snapshot), or `ERR <reason>\n`. Connections are served one at a time;
//! the command must arrive within [`COMMAND_TIMEOUT`] and the answer be read within
//! [`TRANSFER_TIMEOUT`], so a silent client holds nothing for long.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// The socket's file name inside the database directory.
pub const SOCKET_NAME: &str = "idaas-backup.sock";

/// How long the server waits for the command line.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole answer may take to be read by the client.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The longest path a Unix socket address holds on Linux (`sun_path`, without the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Writes a consistent snapshot of the store to the file; returns the number of entries.
pub type Snapshotter =
    Arc<dyn Fn(&mut std::fs::File) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// The listening socket; stops listening and removes the file when dropped.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlSocket {
    /// Listens on `<db_dir>/idaas-backup.sock` (a stale file from a previous run is replaced:
    /// the caller holds the database, so no other process can be serving it). Must be called
    /// inside a tokio runtime.
    pub fn listen(db_dir: &Path, snapshot: Snapshotter) -> std::io::Result<ControlSocket> {
        let path = db_dir.join(SOCKET_NAME);
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{}: longer than a Unix socket path may be", path.display()),
            ));
        }
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = tokio::net::UnixListener::bind(&path)?;
        // The database directory is 0700 already, so nobody else could reach the socket in
        // the instant before this; 0600 keeps it private if the directory is ever opened up.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        let task = tokio::spawn(accept_loop(listener, snapshot));
        Ok(ControlSocket { path, task })
    }

    /// The socket file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What a service calls when it starts serving: the socket inside the sled database
    /// directory of `store`, none for PostgreSQL (pg_dump backs it up). A failure is logged
    /// and the service runs on: only online backups are lost, and `idaas backup` says so.
    pub fn for_store(store: &crate::pg::StoreUrl, snapshot: Snapshotter) -> Option<ControlSocket> {
        let crate::pg::StoreUrl::Sled(dir) = store else { return None };
        match ControlSocket::listen(dir, snapshot) {
            Ok(socket) => Some(socket),
            Err(e) => {
                tracing::warn!(error = %e, "no backup socket: idaas backup works only while this service is stopped");
                None
            }
        }
    }
}

async fn accept_loop(listener: tokio::net::UnixListener, snapshot: Snapshotter) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if let Err(e) = serve_one(stream, snapshot.clone()).await {
            tracing::warn!(error = %e, "backup socket: request failed");
        }
    }
}

async fn serve_one(stream: tokio::net::UnixStream, snapshot: Snapshotter) -> std::io::Result<()> {
    let mut stream = tokio::io::BufReader::new(stream);
    let mut line = Vec::new();
    let mut limited = (&mut stream).take(64);
    let read = limited.read_until(b'\n', &mut line);
    match tokio::time::timeout(COMMAND_TIMEOUT, read).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return answer_error(stream.get_mut(), "no command in time").await,
    }
    if line != b"snapshot\n" {
        return answer_error(stream.get_mut(), "unknown command (the only one is 'snapshot')").await;
    }
    let started = std::time::Instant::now();
    let made = tokio::task::spawn_blocking(move || -> Result<(std::fs::File, u64), String> {
        let mut file = tempfile::tempfile().map_err(|e| e.to_string())?;
        let entries = snapshot(&mut file).map_err(|e| e.to_string())?;
        file.flush().map_err(|e| e.to_string())?;
        file.rewind().map_err(|e| e.to_string())?;
        Ok((file, entries))
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let (file, entries) = match made {
        Ok(f) => f,
        Err(reason) => return answer_error(stream.get_mut(), &format!("snapshot failed: {reason}")).await,
    };
    let len = file.metadata()?.len();
    tracing::info!(
        entries,
        bytes = len,
        took_ms = started.elapsed().as_millis() as u64,
        "backup snapshot taken"
    );
    let out = stream.get_mut();
    let send = async {
        out.write_all(format!("OK {len}\n").as_bytes()).await?;
        let mut file = tokio::fs::File::from_std(file);
        tokio::io::copy(&mut file, out).await?;
        out.shutdown().await
    };
    tokio::time::timeout(TRANSFER_TIMEOUT, send).await.map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "the client did not read the snapshot in time")
    })?
}

async fn answer_error(stream: &mut tokio::net::UnixStream, reason: &str) -> std::io::Result<()> {
    let answer = format!("ERR {reason}\n");
    let send = stream.write_all(answer.as_bytes());
    let _ = tokio::time::timeout(COMMAND_TIMEOUT, send).await;
    Ok(())
}

/// Why no snapshot came from a running service.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Nothing listens on the socket (no service runs on this database).
    #[error("no service answers on {0}")]
    NotRunning(PathBuf),
    /// The service answered with an error, or something that is not an answer.
    #[error("{path}: {reason}")]
    Refused {
        /// The socket.
        path: PathBuf,
        /// What it said.
        reason: String,
    },
    /// The transfer failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Asks the service running on the database in `db_dir` for a snapshot and writes it to
/// `out`; returns its length. Blocking.
pub fn fetch_snapshot(db_dir: &Path, out: &mut dyn Write) -> Result<u64, FetchError> {
    let path = db_dir.join(SOCKET_NAME);
    let io = |source: std::io::Error| FetchError::Io { path: path.clone(), source };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) =>
        {
            return Err(FetchError::NotRunning(path));
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(Duration::from_secs(120))).map_err(io)?;
    stream.set_write_timeout(Some(COMMAND_TIMEOUT)).map_err(io)?;
    stream.write_all(b"snapshot\n").map_err(io)?;
    let mut reader = std::io::BufReader::new(stream);
    let mut line = Vec::new();
    std::io::BufRead::read_until(&mut (&mut reader).take(512), b'\n', &mut line).map_err(io)?;
    let line = String::from_utf8_lossy(&line);
    let refused = |reason: String| FetchError::Refused { path: path.clone(), reason };
    let Some(len) = line.strip_prefix("OK ") else {
        let reason = line.trim_end().strip_prefix("ERR ").unwrap_or("not a backup socket's answer");
        return Err(refused(reason.to_owned()));
    };
    let len: u64 = len.trim_end().parse().map_err(|_| refused("a malformed length".into()))?;
    let copied = std::io::copy(&mut reader.take(len), out).map_err(io)?;
    if copied != len {
        return Err(refused(format!("the snapshot ended after {copied} of {len} bytes")));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::backup::{read_snapshot, write_snapshot, SnapshotGate};

    fn ask(path: &Path, bytes: &[u8]) -> String {
        let mut s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(bytes).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_socket_answers_one_command_and_refuses_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.insert(b"k", b"v".as_slice()).unwrap();
        let gate = Arc::new(SnapshotGate::default());
        let (d, g) = (db.clone(), gate.clone());
        let socket =
            ControlSocket::listen(dir.path(), Arc::new(move |f| Ok(write_snapshot(&d, &g, f)?))).unwrap();
        let path = socket.path().to_owned();
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let answers = tokio::task::spawn_blocking(move || {
            let unknown = ask(&path, b"drop tables\n");
            let long = ask(&path, &[b'a'; 500]);
            // Silent: the server gives up after COMMAND_TIMEOUT and serves the next client.
            let silent = ask(&path, b"");
            let mut out = Vec::new();
            let len = fetch_snapshot(path.parent().unwrap(), &mut out).unwrap();
            (unknown, long, silent, len, out)
        })
        .await
        .unwrap();
        assert!(answers.0.starts_with("ERR unknown command"), "{}", answers.0);
        assert!(answers.1.starts_with("ERR unknown command"), "{}", answers.1);
        assert!(answers.2.starts_with("ERR no command in time"), "{}", answers.2);
        assert_eq!(answers.3, answers.4.len() as u64);
        let restored = sled::Config::new().temporary(true).open().unwrap();
        assert_eq!(read_snapshot(&restored, &mut answers.4.as_slice()).unwrap(), 1);

        let path = socket.path().to_owned();
        drop(socket);
        assert!(!path.exists(), "the socket file goes with the listener");
        assert!(matches!(fetch_snapshot(dir.path(), &mut Vec::new()), Err(FetchError::NotRunning(_))));
        // A stale file from a crashed run is replaced at the next start.
        std::os::unix::net::UnixListener::bind(&path).unwrap();
        let again = ControlSocket::listen(dir.path(), Arc::new(|_| Err("no store".into()))).unwrap();
        let refused =
            tokio::task::spawn_blocking(move || fetch_snapshot(dir.path(), &mut Vec::new())).await.unwrap();
        assert!(
            matches!(refused, Err(FetchError::Refused { ref reason, .. }) if reason.contains("no store")),
            "{refused:?}"
        );
        drop(again);
    }
}
