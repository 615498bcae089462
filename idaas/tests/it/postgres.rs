//! The quickstart scenario with the home and visitor IdPs on PostgreSQL (issue 17): every
//! record in the database (no sled directory is created), sign-in and single sign-on with the
//! PII of Table 1 opening as on sled, a restart that finds everything, `idaas migrate`, and a
//! `pg_dump` of the database — the agents' shared session records included — in which none of
//! the Table 1 plaintexts appears.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use idaas::stack::{self, Options, Stack};
use service_kit::pg::testing::Cluster;
use service_kit::ManualClock;

use crate::e2e::{browser, pii_names, visit};

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;

async fn start(dir: &std::path::Path, clock: Arc<ManualClock>, url: &str) -> Stack {
    stack::start(Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock,
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: Some(url.to_owned()),
        public: None,
    })
    .await
    .unwrap()
}

/// Whether `value` occurs in `text` as a token of its own (not inside a run of base64 or hex,
/// where a short string like "Tri" turns up by chance).
pub(super) fn occurs_as_token(text: &str, value: &str) -> bool {
    let inside = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
    text.match_indices(value).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + value.len()..].chars().next();
        !inside(before) && !inside(after)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_on_postgres_writes_no_plaintext_to_the_database() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("idaas").unwrap();
    let url = cluster.url("idaas");
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));

    let stack = start(dir.path(), clock.clone(), url.expose()).await;
    assert!(stack.created);
    let b = browser();
    let shop_schema = web_agent::shared::schema_for(&format!("{}/saml/metadata", stack.agent_urls[0]));
    let shop = visit(&stack, &b, 0, "/cart?item=42").await;
    assert_eq!(shop.seen["user"], "bob");
    assert_eq!(pii_names(&shop.seen), ["dob", "lastname"]);
    assert_eq!(shop.seen["pii"]["lastname"], "Tri");
    let delivery = visit(&stack, &b, 1, "/ship").await;
    assert!(!delivery.asked_password, "single sign-on");
    assert_eq!(pii_names(&delivery.seen), ["addresses", "lastname"]);
    stack.stop().await;
    for service in ["home", "visitor"] {
        assert!(!dir.path().join(service).join("db").exists(), "{service}: no sled database");
    }

    // A restart finds bob, his PII and the clients in the database.
    let again = start(dir.path(), clock.clone(), url.expose()).await;
    assert!(!again.created);
    let seen = visit(&again, &browser(), 0, "/cart").await;
    assert_eq!(pii_names(&seen.seen), ["dob", "lastname"]);
    again.stop().await;

    // Every record is in the database; none of Table 1's plaintexts is.
    let dump = cluster.dump("idaas").unwrap();
    for table in
        ["idaas_home.users", "idaas_home.pii", "idaas_home.service_providers", "idaas_visitor.clients"]
    {
        assert!(dump.contains(&format!("COPY {table} ")), "{table} in the dump");
    }
    let rows = |sql: &str| cluster.psql("idaas", sql).unwrap().trim().parse::<u64>().unwrap();
    assert_eq!(rows("SELECT count(*) FROM idaas_home.pii WHERE uid = 'bob'"), 3);
    assert!(rows("SELECT count(*) FROM idaas_visitor.used_assertions") >= 3, "one per exchange");
    assert!(rows("SELECT count(*) FROM idaas_visitor.audit") >= 3);
    // The agents' shared sessions are in the dump too: sealed material and ciphertexts only.
    assert!(dump.contains(&format!("COPY {shop_schema}.sessions ")), "agent sessions in the dump");
    assert!(rows(&format!("SELECT count(*) FROM {shop_schema}.sessions")) >= 1);
    for (name, value, _) in pbe_core::disclosure::table1() {
        assert!(!occurs_as_token(&dump, value), "the plaintext of {name} is in the database dump");
    }
    assert!(occurs_as_token("x 'Tri' y", "Tri") && !occurs_as_token("aTriZ", "Tri"), "the check can fail");
    assert!(!dump.contains(service_kit::pg::testing::PASSWORD));
}

#[test]
fn idaas_migrate_applies_and_checks_the_schemas() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster");
    cluster.create_database("idaas").unwrap();
    let url = cluster.url("idaas");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idaas"))
            .arg("migrate")
            .args(args)
            .env("IDAAS_STORE_URL", url.expose())
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("idaas_home: schema version 9") && stdout.contains("idaas_visitor: schema version 2"),
        "{stdout}"
    );
    // A web agent's schema, named by its entity ID.
    let out = run(&["--service", "agent", "--agent", "http://shop.example/saml/metadata"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let schema = web_agent::shared::schema_for("http://shop.example/saml/metadata");
    assert!(stdout.contains(&format!("{schema}: schema version 2")), "{stdout}");
    assert!(!stdout.contains("idaas_home"), "--service agent: the agents only");
    assert_eq!(run(&["--service", "agent"]).status.code(), Some(2), "no --agent");
    cluster.psql("idaas", "UPDATE idaas_visitor.schema_version SET version = 7").unwrap();
    let out = run(&["--service", "visitor"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("version 7") && !stderr.contains(service_kit::pg::testing::PASSWORD), "{stderr}");
    let out = run(&["--store-url", "sled:/nonexistent-idaas-test"]);
    assert_eq!(out.status.code(), Some(2), "sled needs --service");
}
