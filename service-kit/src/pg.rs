//! PostgreSQL behind the services' synchronous store traits (issue 17): the `store_url`
//! setting ([`StoreUrl`]), a connection pool that synchronous code can use from anywhere
//! ([`PgPool`]), and versioned schema migrations with a version check ([`migrate`]).
//!
//! # Why a runtime of its own
//!
//! The store traits are synchronous (sled is), and they are called from async handlers running
//! on the service's tokio runtime. The synchronous `postgres` crate cannot be used there: it
//! starts a runtime of its own for every call and panics inside another one. So a [`PgPool`]
//! owns a small multi-thread tokio runtime (two worker threads) running the async driver
//! (`tokio-postgres`) and its pool (`deadpool-postgres`). A store method hands its query to
//! that runtime as a `'static` future ([`PgPool::run`]) and waits for the answer on a
//! channel. When the caller is itself a worker of a multi-thread runtime, the wait happens
//! inside [`tokio::task::block_in_place`], so that runtime moves its other tasks to another
//! thread meanwhile (exactly as it must for sled's blocking I/O); on a current-thread runtime
//! or a plain thread the caller simply blocks, the queries make progress on the pool's own
//! threads either way. Everything that needs a closure of the caller's (`update_user`,
//! `delete_user_if`) is done optimistically, as the sled stores do: read, compute locally,
//! then write only if the row is still the one read (compare-and-swap in SQL), retrying
//! otherwise; so no `!Send` or borrowed closure ever crosses to the pool's threads.
//!
//! # Durability
//!
//! A pool from [`PgPool::connect`] leaves `synchronous_commit` and `fsync` alone: when a
//! statement (or transaction) has returned, PostgreSQL has made it durable, which is what the
//! store traits promise for users, the vault, grants and the audit log.
//!
//! A pool from [`PgPool::connect_ephemeral`] sets `synchronous_commit = off` on its sessions,
//! for state that a single instance keeps in process memory and loses on restart anyway
//! (replay caches, cached PATs and sessions at the web agent). A commit there is visible to
//! every other instance at once, exactly as a synchronous one (the setting changes only when
//! the WAL reaches the disk, not visibility or atomicity); only a crash of the *database
//! server* can lose the last moments of it (at most three `wal_writer_delay`s, 600 ms by
//! default), which costs a user a new sign-in, never a corrupted row. In exchange a write
//! does not wait for a WAL flush.
//!
//! # Secrets
//!
//! The URL may carry a password. [`StoreUrl`]'s and [`PgUrl`]'s `Debug` and `Display` replace
//! it with `[redacted]`, and errors never include the URL.

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

mod migrate;
#[cfg(feature = "test-support")]
pub mod testing;

/// The pooled connection handed to [`PgPool::run`] closures.
pub use deadpool_postgres::Object as Connection;
pub use migrate::{is_schema_name, migrate, schema_version, MigrateError, SCHEMA_VERSION_TABLE};
/// The driver's error and row types, re-exported so the stores need no direct dependency.
pub use tokio_postgres::{types::ToSql, Error as DriverError, Row};

/// Statements prepared once per connection and reused (issue 17's latency budget).
///
/// tokio-postgres runs a query given as text in two round trips: `Parse`/`Describe` to
/// prepare an unnamed statement, then `Bind`/`Execute`. The stores run the same few dozen
/// statements over and over, so each pooled connection keeps them prepared
/// (`prepare_cached`, keyed by the SQL text) and every later use is one round trip and no
/// parsing or planning at the server. Implemented for pooled connections and their
/// transactions alike. DDL (migrations) keeps the plain methods: it runs once.
pub trait Cached: deadpool_postgres::GenericClient {
    /// `query` through this connection's statement cache.
    fn query_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, DriverError>> + Send + 'a {
        async move { self.query(&self.prepare_cached(sql).await?, params).await }
    }

    /// `query_opt` through this connection's statement cache.
    fn query_opt_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, DriverError>> + Send + 'a {
        async move { self.query_opt(&self.prepare_cached(sql).await?, params).await }
    }

    /// `query_one` through this connection's statement cache.
    fn query_one_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Row, DriverError>> + Send + 'a {
        async move { self.query_one(&self.prepare_cached(sql).await?, params).await }
    }

    /// `execute` through this connection's statement cache.
    fn execute_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, DriverError>> + Send + 'a {
        async move { self.execute(&self.prepare_cached(sql).await?, params).await }
    }
}

impl<C: deadpool_postgres::GenericClient> Cached for C {}

/// Environment variable that overrides `store_url` in every service's configuration.
pub const STORE_URL_ENV: &str = "IDAAS_STORE_URL";

/// Most connections one [`PgPool`] opens.
pub const POOL_MAX_SIZE: usize = 16;
/// How long a query waits for a free connection, or for a new one to be established.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a service keeps its persistent records: `sled:PATH` or `postgres://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// An embedded sled database in this directory.
    Sled(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

/// Why a `store_url` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    /// Neither `sled:` nor `postgres://`/`postgresql://`.
    #[error("a store URL is sled:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")]
    UnknownScheme,
    /// `sled:` with an empty path.
    #[error("sled: needs a directory path")]
    EmptyPath,
    /// The PostgreSQL URL does not parse (the reason never repeats the URL).
    #[error("invalid PostgreSQL URL: {0}")]
    InvalidPostgres(String),
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(s: &str) -> Result<StoreUrl, StoreUrlError> {
        if let Some(path) = s.strip_prefix("sled:") {
            if path.is_empty() {
                return Err(StoreUrlError::EmptyPath);
            }
            return Ok(StoreUrl::Sled(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return PgUrl::parse(s).map(StoreUrl::Postgres);
        }
        Err(StoreUrlError::UnknownScheme)
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sled(p) => write!(f, "sled:{}", p.display()),
            StoreUrl::Postgres(u) => u.fmt(f),
        }
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// A PostgreSQL connection URL; its password never prints.
#[derive(Clone)]
pub struct PgUrl {
    url: String,
    redacted: String,
    config: Box<tokio_postgres::Config>,
}

impl PartialEq for PgUrl {
    fn eq(&self, other: &PgUrl) -> bool {
        self.url == other.url
    }
}
impl Eq for PgUrl {}

impl PgUrl {
    /// Parses `postgres://USER:PASSWORD@HOST:PORT/DATABASE[?…]` (libpq's URL form; a
    /// `host=/dir` query parameter names a unix socket directory).
    pub fn parse(s: &str) -> Result<PgUrl, StoreUrlError> {
        let mut config = tokio_postgres::Config::from_str(s)
            // The driver's message names the defect, never the URL's value.
            .map_err(|e| StoreUrlError::InvalidPostgres(e.to_string()))?;
        if config.get_dbname().is_none() {
            return Err(StoreUrlError::InvalidPostgres("no database name".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let redacted = match url::Url::parse(s) {
            Ok(mut u) => {
                if u.password().is_some() {
                    // Cannot fail: a URL with a password has a host.
                    let _ = u.set_password(Some("[redacted]"));
                }
                // Query parameters may carry a password too (`?password=`).
                if u.query().is_some() {
                    u.set_query(Some("[redacted]"));
                }
                // The URL form escapes the brackets; print the marker as written.
                u.to_string().replace("%5Bredacted%5D", "[redacted]")
            }
            Err(_) => "postgres://[redacted]".to_owned(),
        };
        Ok(PgUrl { url: s.to_owned(), redacted, config: Box::new(config) })
    }

    /// The driver configuration.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The URL with its password: for handing to `pg_dump`/`psql` in tests and tools only.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgUrl({})", self.redacted)
    }
}

/// Why a PostgreSQL operation failed. The messages come from the driver and the server and
/// never contain the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The pool's runtime could not be started.
    #[error("starting the PostgreSQL client runtime: {0}")]
    Runtime(std::io::Error),
    /// No connection could be had (the server is down, refuses us, or the pool is exhausted
    /// for longer than the timeout).
    #[error("PostgreSQL connection: {0}")]
    Pool(String),
    /// A query failed.
    #[error("PostgreSQL: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// The pool's runtime went away before answering (shutting down).
    #[error("the PostgreSQL client runtime stopped")]
    Stopped,
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => PgError::Query(e),
            other => PgError::Pool(other.to_string()),
        }
    }
}

/// A pool of PostgreSQL connections on a small runtime of its own, usable from synchronous
/// code whether or not it runs inside another tokio runtime (see the module documentation).
pub struct PgPool {
    pool: deadpool_postgres::Pool,
    /// `Option` so that `Drop` can shut it down without blocking (dropping a runtime from
    /// inside another one would panic).
    rt: Option<tokio::runtime::Runtime>,
    url: PgUrl,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool").field("url", &self.url).finish_non_exhaustive()
    }
}

impl PgPool {
    /// Creates the pool and checks that the server answers (one `SELECT 1`).
    pub fn connect(url: &PgUrl) -> Result<PgPool, PgError> {
        PgPool::connect_with(url, (*url.config).clone())
    }

    /// Like [`PgPool::connect`], for state that need not survive a crash of the database
    /// server: commits do not wait for the WAL flush (see the module documentation).
    pub fn connect_ephemeral(url: &PgUrl) -> Result<PgPool, PgError> {
        let mut config = (*url.config).clone();
        let options = match config.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} -c synchronous_commit=off"),
            _ => "-c synchronous_commit=off".to_owned(),
        };
        config.options(&options);
        PgPool::connect_with(url, config)
    }

    fn connect_with(url: &PgUrl, config: tokio_postgres::Config) -> Result<PgPool, PgError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("idaas-pg")
            .enable_all()
            .build()
            .map_err(PgError::Runtime)?;
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_MAX_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| PgError::Pool(e.to_string()))?;
        let pool = PgPool { pool, rt: Some(rt), url: url.clone() };
        pool.run(|c| async move { c.batch_execute("SELECT 1").await.map_err(PgError::from) })?;
        Ok(pool)
    }

    /// The URL (printable: redacted).
    pub fn url(&self) -> &PgUrl {
        &self.url
    }

    /// Runs one `INSERT … ON CONFLICT … DO UPDATE … RETURNING (xmax = 0)` with text
    /// parameters and answers whether it created the row: PostgreSQL's `xmax` is 0 only for a
    /// row this statement inserted, not for one it updated (the stores' "created?" answers).
    pub fn upsert(&self, sql: &'static str, params: Vec<String>) -> Result<bool, PgError> {
        self.run(move |c| async move {
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            let row = c.query_one_cached(sql, &refs).await?;
            row.try_get::<_, bool>(0).map_err(PgError::from)
        })
    }

    /// Runs `f` with a pooled connection on the pool's runtime and waits for its result.
    ///
    /// Blocks the calling thread; inside a multi-thread tokio runtime it does so through
    /// `block_in_place`. Must not be called from a current-thread runtime's only thread while
    /// that runtime is needed to make progress elsewhere (the idaas services run on the
    /// multi-thread runtime).
    pub fn run<T, F, Fut>(&self, f: F) -> Result<T, PgError>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(rt) = self.rt.as_ref() else {
            return Err(PgError::Stopped);
        };
        let pool = self.pool.clone();
        let started = std::time::Instant::now();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let result = match pool.get().await {
                Ok(conn) => f(conn).await,
                Err(e) => Err(PgError::from(e)),
            };
            // The caller waits for this; if it is gone, nobody needs the answer.
            let _ = tx.send(result);
        });
        let wait = move || rx.recv().unwrap_or(Err(PgError::Stopped));
        let result = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        crate::metrics::observe_store("postgres", "query", started.elapsed().as_secs_f64());
        result
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_parse_and_never_print_the_password() {
        assert_eq!("sled:/var/lib/x".parse::<StoreUrl>().unwrap(), StoreUrl::Sled("/var/lib/x".into()));
        assert_eq!("sled:".parse::<StoreUrl>(), Err(StoreUrlError::EmptyPath));
        assert_eq!("mysql://a/b".parse::<StoreUrl>(), Err(StoreUrlError::UnknownScheme));
        let u: StoreUrl = "postgres://idaas:s3cr3t-pw@db.example:5433/idaas".parse().unwrap();
        for shown in [format!("{u}"), format!("{u:?}")] {
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
            assert!(shown.contains("db.example:5433") && shown.contains("idaas:[redacted]@"), "{shown}");
        }
        let u: StoreUrl = "postgresql://idaas@localhost/idaas?password=s3cr3t-pw".parse().unwrap();
        assert!(!format!("{u:?}").contains("s3cr3t-pw"));
        let StoreUrl::Postgres(pg) = u else { panic!("postgres") };
        assert_eq!(pg.config().get_dbname(), Some("idaas"));
        assert!(matches!(
            "postgres://u:s3cr3t-pw@h".parse::<StoreUrl>(),
            Err(StoreUrlError::InvalidPostgres(m)) if !m.contains("s3cr3t-pw")
        ));
        let e = "postgres://u:s3cr3t-pw@h:notaport/db".parse::<StoreUrl>().unwrap_err();
        assert!(!e.to_string().contains("s3cr3t-pw"), "{e}");
    }
}
