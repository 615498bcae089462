//! A throwaway PostgreSQL cluster for tests (feature `test-support`): `initdb` in a temporary
//! directory, a server on a free 127.0.0.1 port with its unix socket in that directory,
//! `fsync` and `synchronous_commit` left on, stopped (`pg_ctl stop -m immediate`) and removed
//! on drop. PostgreSQL refuses to run as root, so when the tests run as root the directory is
//! given to the `postgres` user and every server command runs as that user (`runuser`).
//!
//! There is no silent skip: [`Cluster::start`] returns why it could not start (binaries not
//! found — `scripts/install-deps.sh` installs the Debian `postgresql` package —, `initdb`
//! failed, the server did not come up with its log), and the tests fail with that reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::PgUrl;

/// The password of the cluster's `postgres` superuser (a test cluster on 127.0.0.1 only).
pub const PASSWORD: &str = "throwaway-Pa55word";

/// A running throwaway cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("dir", &self.dir.path()).field("port", &self.port).finish()
    }
}

/// The directory with `initdb`, `pg_ctl` and `pg_dump`: `pg_config --bindir` when it has
/// them, else the newest `/usr/lib/postgresql/*/bin` (Debian keeps them off `PATH`).
pub fn bindir() -> Result<PathBuf, String> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_tools(&d) {
            return Ok(d);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            format!("PostgreSQL is not installed (/usr/lib/postgresql: {e}); run scripts/install-deps.sh")
        })?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let d = e.path().join("bin");
            has_tools(&d).then_some((v, d))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, d)| d).ok_or_else(|| {
        "no initdb/pg_ctl under /usr/lib/postgresql/*/bin; run scripts/install-deps.sh".to_owned()
    })
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Cluster {
    /// Creates and starts a cluster, or says why it could not.
    pub fn start() -> Result<Cluster, String> {
        let bindir = bindir()?;
        let dir = tempfile::Builder::new()
            .prefix("idaas-pg-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let as_postgres = running_as_root();
        let mut cluster = Cluster { dir, bindir, port: 0, as_postgres };
        std::fs::write(cluster.pwfile(), PASSWORD).map_err(|e| format!("password file: {e}"))?;
        if as_postgres {
            let path = cluster.dir.path().to_string_lossy().into_owned();
            let out = Command::new("chown")
                .args(["-R", "postgres:", &path])
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            if !out.status.success() {
                return Err(describe("chown to the postgres user (does it exist?)", &out));
            }
        }
        let data = cluster.data_dir().to_string_lossy().into_owned();
        let pwfile = cluster.pwfile().to_string_lossy().into_owned();
        let out = cluster.tool(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--pwfile",
                &pwfile,
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        )?;
        if !out.status.success() {
            return Err(describe("initdb", &out));
        }
        // A free port can be taken by someone else before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=200",
                cluster.port,
                cluster.dir.path().display()
            );
            let log = cluster.dir.path().join("server.log").to_string_lossy().into_owned();
            let out =
                cluster.tool("pg_ctl", &["-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start"])?;
            if out.status.success() {
                return Ok(cluster);
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            last = format!("{}\nserver log:\n{server_log}", describe("pg_ctl start", &out));
        }
        Err(last)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pwfile(&self) -> PathBuf {
        self.dir.path().join("pwfile")
    }

    /// Runs one of the PostgreSQL programs (as `postgres` when we are root).
    pub fn tool(&self, name: &str, args: &[&str]) -> Result<Output, String> {
        let program = self.bindir.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))
    }

    /// The TCP port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name`.
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        let port = self.port.to_string();
        let host = self.dir.path().to_string_lossy().into_owned();
        let out = self.tool("createdb", &["-h", &host, "-p", &port, "-U", "postgres", name])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(describe("createdb", &out))
        }
    }

    /// A password-authenticated TCP URL of database `db`.
    pub fn url(&self, db: &str) -> PgUrl {
        let s = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}", self.port);
        // Cannot fail: the URL is well-formed.
        PgUrl::parse(&s).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// A plain-SQL `pg_dump` of database `db` (schema and data).
    pub fn dump(&self, db: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let host = self.dir.path().to_string_lossy().into_owned();
        let out = self.tool("pg_dump", &["-h", &host, "-p", &port, "-U", "postgres", "--no-owner", db])?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(describe("pg_dump", &out))
        }
    }

    /// Runs SQL through `psql` (for tests that tamper with the database).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let host = self.dir.path().to_string_lossy().into_owned();
        let out = self.tool(
            "psql",
            &["-h", &host, "-p", &port, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        )?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(describe("psql", &out))
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data_dir().to_string_lossy().into_owned();
            let _ = self.tool("pg_ctl", &["-D", &data, "stop", "-m", "immediate", "-w"]);
        }
        // The temporary directory removes itself (we are root, or its owner).
    }
}
