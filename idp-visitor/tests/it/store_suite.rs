//! One store test suite, run against both backends (issue 17): sled in a temporary directory
//! and PostgreSQL in a throwaway cluster. Same semantics on both: the one-exchange-per-client
//! record (atomic with the token and audit entry, also when two threads race), ordered lists,
//! audit paging, the purge, counts, and hostile client IDs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use idp_visitor::audit::{AuditEntry, Outcome};
use idp_visitor::clients::Client;
use idp_visitor::store::pg::PgStore;
use idp_visitor::store::{AccessToken, Counts, GrantRecord, GrantStoreError, SledStore, Store, StoreError};
use service_kit::pg::testing::Cluster;

fn client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        name: "Shop".into(),
        secret_hash: "$argon2id$…".into(),
        purposes: vec!["purpose:current".into()],
        pat_public_key: None,
        created: 1,
        entity_id: None,
        may_exchange_for: Vec::new(),
    }
}

fn token(exp: i64) -> AccessToken {
    AccessToken { client_id: "shop".into(), sub: "bob".into(), idp: "i".into(), scope: vec![], iat: 1, exp }
}

fn suite(s: Arc<dyn Store>) {
    assert!(s.put_client(&client("shop")).unwrap());
    assert!(!s.put_client(&client("shop")).unwrap());
    for id in ["b", "A", "a", "é", "_"] {
        s.put_client(&client(id)).unwrap();
    }
    let ids: Vec<String> = s.list_clients().unwrap().into_iter().map(|c| c.client_id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert_eq!(s.get_client("shop").unwrap().unwrap(), client("shop"));
    assert!(s.get_client("nope").unwrap().is_none());

    // A grant is single use while its replay record lives, and atomic.
    let t = token(100);
    let audit = AuditEntry::new(5, Outcome::Granted);
    let g =
        GrantRecord { replay_key: [1; 32], replay_until: 50, token_hash: [2; 32], token: &t, audit: &audit };
    let first = s.record_grant(&g, 10).unwrap();
    assert!(first >= 1, "sequence numbers start at 1");
    assert!(matches!(s.record_grant(&g, 10), Err(GrantStoreError::Replayed)));
    let other = GrantRecord { token_hash: [3; 32], ..g };
    assert!(matches!(s.record_grant(&other, 49), Err(GrantStoreError::Replayed)));
    assert!(s.get_token(&[3; 32]).unwrap().is_none(), "a refused grant writes nothing");
    assert_eq!(s.get_token(&[2; 32]).unwrap().unwrap(), t);
    let refused = s.append_audit(&AuditEntry::new(6, Outcome::Refused)).unwrap();
    assert!(refused > first);
    assert_eq!(s.counts().unwrap(), Counts { clients: 6, tokens: 1, used: 1, audit: 2 });

    // Audit paging.
    let log = s.list_audit(0, 10).unwrap();
    assert_eq!(log.iter().map(|e| e.0).collect::<Vec<_>>(), [first, refused]);
    assert_eq!(log[0].1, audit);
    assert_eq!(s.list_audit(first, 10).unwrap().len(), 1);
    assert_eq!(s.list_audit(0, 1).unwrap().len(), 1);
    assert!(s.list_audit(u64::MAX, 10).unwrap().is_empty());

    // An expired replay record no longer blocks; the purge removes what expired.
    let late = GrantRecord { token_hash: [4; 32], replay_until: 200, ..g };
    s.record_grant(&late, 60).unwrap();
    assert_eq!(s.purge_expired(150).unwrap(), 2, "both tokens (exp 100)");
    assert_eq!(s.purge_expired(250).unwrap(), 1, "the replay record (until 200)");
    assert_eq!(s.counts().unwrap().used, 0);

    assert!(s.delete_client("shop").unwrap());
    assert!(!s.delete_client("shop").unwrap());

    // Hostile client IDs.
    let long: String = (0..512u32).map(|i| char::from_u32(0x10000 + i * 7).unwrap()).collect();
    for id in ["'; DROP TABLE idaas_visitor.clients; --", "%", "名前😀", long.as_str()] {
        s.put_client(&client(id)).unwrap();
        assert_eq!(s.get_client(id).unwrap().unwrap().client_id, id);
        assert!(s.delete_client(id).unwrap());
    }
    assert!(matches!(s.put_client(&client("a\0")), Err(StoreError::InvalidKey)));
    assert!(matches!(s.put_client(&client(&"x".repeat(100_000))), Err(StoreError::InvalidKey)));
    assert!(s.get_client("a\0").unwrap().is_none());
    assert!(s.get_client("b").unwrap().is_some(), "the clients table is intact");

    concurrent_grants(s);
}

/// Two threads exchanging the same assertions at once: each is granted exactly once.
fn concurrent_grants(s: Arc<dyn Store>) {
    let threads: Vec<_> = (0..2u8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let tok = token(1000);
                let audit = AuditEntry::new(5, Outcome::Granted);
                (0..20u8)
                    .filter(|i| {
                        let g = GrantRecord {
                            replay_key: [100 + i; 32],
                            replay_until: 1000,
                            token_hash: [
                                t, *i, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                                9, 9, 9, 9, 9, 9, 9,
                            ],
                            token: &tok,
                            audit: &audit,
                        };
                        match s.record_grant(&g, 10) {
                            Ok(_) => true,
                            Err(GrantStoreError::Replayed) => false,
                            Err(e) => panic!("{e}"),
                        }
                    })
                    .count()
            })
        })
        .collect();
    let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(granted, 20);
}

#[test]
fn sled_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    suite(Arc::new(SledStore::open(&dir.path().join("db")).unwrap()));
}

#[test]
fn postgres_store_suite() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("idaas").unwrap();
    suite(Arc::new(PgStore::open(&cluster.url("idaas")).unwrap()));
    let s = PgStore::open(&cluster.url("idaas")).unwrap();
    assert!(s.get_client("b").unwrap().is_some(), "records survive a reopen");
    cluster.psql("idaas", "UPDATE idaas_visitor.schema_version SET version = 99").unwrap();
    let e = PgStore::open(&cluster.url("idaas")).unwrap_err();
    assert!(e.to_string().contains("version 99"), "{e}");
}

#[test]
fn postgres_corrupt_record_is_an_error_not_a_panic() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster");
    cluster.create_database("idaas").unwrap();
    let s = PgStore::open(&cluster.url("idaas")).unwrap();
    cluster.psql("idaas", "INSERT INTO idaas_visitor.clients VALUES ('eve', '{not json')").unwrap();
    assert!(matches!(s.get_client("eve"), Err(StoreError::Corrupt { tree: "clients", .. })));
    assert!(s.list_clients().is_err());
}
