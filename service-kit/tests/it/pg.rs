//! The throwaway PostgreSQL cluster, the pool behind synchronous code (on a plain thread and
//! inside both kinds of tokio runtime) and the schema migrations with their version check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use service_kit::pg::testing::Cluster;
use service_kit::pg::{migrate, schema_version, MigrateError, PgError, PgPool};

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE idaas_test.t (k TEXT PRIMARY KEY, v BIGINT NOT NULL);",
    "ALTER TABLE idaas_test.t ADD COLUMN w TEXT;",
];

fn count(pool: &PgPool) -> i64 {
    pool.run(|c| async move {
        let row = c.query_one("SELECT count(*) FROM idaas_test.t", &[]).await?;
        Ok::<_, PgError>(row.get::<_, i64>(0))
    })
    .unwrap()
}

#[test]
fn cluster_pool_and_migrations() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("svc").unwrap();
    let url = cluster.url("svc");
    assert!(!format!("{url:?}").contains(service_kit::pg::testing::PASSWORD));
    let pool = PgPool::connect(&url).unwrap();

    assert_eq!(schema_version(&pool, "idaas_test").unwrap(), 0);
    assert_eq!(migrate(&pool, "idaas_test", &MIGRATIONS[..1]).unwrap(), 1);
    assert_eq!(migrate(&pool, "idaas_test", MIGRATIONS).unwrap(), 2, "the second migration is applied later");
    assert_eq!(migrate(&pool, "idaas_test", MIGRATIONS).unwrap(), 2, "and only once");
    assert_eq!(schema_version(&pool, "idaas_test").unwrap(), 2);
    match migrate(&pool, "idaas_test", &MIGRATIONS[..1]) {
        Err(e @ MigrateError::Newer { found: 2, known: 1, .. }) => {
            assert!(e.to_string().contains("newer idaas"), "{e}")
        }
        other => panic!("an older build must refuse a newer schema: {other:?}"),
    }

    // From a plain thread, from a multi-thread runtime's worker and from a current-thread runtime.
    pool.run(|c| async move {
        c.execute("INSERT INTO idaas_test.t (k, v) VALUES ('a', 1)", &[]).await.map_err(PgError::from)
    })
    .unwrap();
    let pool = std::sync::Arc::new(pool);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let p = pool.clone();
    rt.block_on(async move { tokio::spawn(async move { count(&p) }).await.unwrap() });
    let p = pool.clone();
    let n = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move { count(&p) });
    assert_eq!(n, 1);
    drop(rt);

    // Dropped inside a runtime: no panic.
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async move { drop(pool) });
}

#[test]
fn a_server_that_is_down_is_a_clear_error() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster");
    let url = cluster.url("postgres");
    drop(cluster);
    let e = PgPool::connect(&url).unwrap_err();
    assert!(!e.to_string().contains(service_kit::pg::testing::PASSWORD), "{e}");
}

fn setting(pool: &PgPool, name: &'static str) -> String {
    pool.run(move |c| async move {
        let row = c.query_one("SELECT current_setting($1)", &[&name]).await?;
        Ok::<_, PgError>(row.get::<_, String>(0))
    })
    .unwrap()
}

/// Durable pools wait for the WAL flush; ephemeral ones (the agent's replay caches and
/// sessions) do not, and their commits are still visible to another pool at once.
#[test]
fn durable_and_ephemeral_pools() {
    use service_kit::pg::Cached;
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster");
    cluster.create_database("svc").unwrap();
    let url = cluster.url("svc");
    let durable = PgPool::connect(&url).unwrap();
    let ephemeral = PgPool::connect_ephemeral(&url).unwrap();
    assert_eq!(setting(&durable, "synchronous_commit"), "on");
    assert_eq!(setting(&durable, "fsync"), "on");
    assert_eq!(setting(&ephemeral, "synchronous_commit"), "off");
    migrate(&durable, "idaas_test", MIGRATIONS).unwrap();

    // The same statement text, run many times through the cache, on both pools.
    for i in 0..20i64 {
        let k = format!("k{i}");
        ephemeral
            .run(move |c| async move {
                let n =
                    c.execute_cached("INSERT INTO idaas_test.t (k, v) VALUES ($1, $2)", &[&k, &i]).await?;
                assert_eq!(n, 1);
                Ok::<_, PgError>(())
            })
            .unwrap();
    }
    assert_eq!(count(&durable), 20, "ephemeral commits are visible to the other pool at once");
    let v = durable
        .run(|c| async move {
            let row = c.query_opt_cached("SELECT v FROM idaas_test.t WHERE k = $1", &[&"k7"]).await?;
            Ok::<_, PgError>(row.map(|r| r.get::<_, i64>(0)))
        })
        .unwrap();
    assert_eq!(v, Some(7));
    // A cached statement still fails cleanly (and the connection stays usable).
    let dup = ephemeral.run(|c| async move {
        c.execute_cached("INSERT INTO idaas_test.t (k, v) VALUES ($1, $2)", &[&"k1", &1i64]).await?;
        Ok::<_, PgError>(())
    });
    assert!(dup.is_err(), "a duplicate key is an error");
    assert_eq!(count(&ephemeral), 20);
}
