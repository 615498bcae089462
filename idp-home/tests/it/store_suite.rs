//! One store test suite, run against both backends (issue 17): sled in a temporary directory
//! and PostgreSQL in a throwaway cluster. Same semantics on both: `AlreadyExists`, atomic
//! read-modify-write under concurrency, conditional delete, byte-ordered lists, single-use
//! verification tokens, the purge, and hostile keys (SQL metacharacters, unicode, huge, NUL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use idp_home::model::{Consent, KnownDevice, PiiRecord, ServiceProvider, User};
use idp_home::store::pg::PgStore;
use idp_home::store::{token_hash, ApiToken, SledStore, Store, StoreError, Verification, MAX_KEY_LEN};
use service_kit::pg::testing::Cluster;

fn user(uid: &str) -> User {
    User {
        uid: uid.into(),
        email: format!("{uid}@example.org"),
        password_hash: "$argon2id$…".into(),
        verified: false,
        groups: vec![],
        created: 1,
        security: Default::default(),
        grants: Vec::new(),
    }
}

fn pii(attribute: &str) -> PiiRecord {
    PiiRecord {
        attribute: attribute.into(),
        ciphertext: vec![0, 1, 2, 255],
        policy: "a:b@c".into(),
        authorities: vec!["c".into()],
        updated: 7,
    }
}

fn sp(id: &str) -> ServiceProvider {
    serde_json::from_value(serde_json::json!({ "entity_id": id, "acs_urls": [format!("{id}/acs")] })).unwrap()
}

/// Everything the store promises, on `s` (empty when called).
fn suite(s: Arc<dyn Store>) {
    // Users: insert is exclusive, put replaces, update is read-modify-write.
    s.insert_user(&user("bob")).unwrap();
    assert!(matches!(s.insert_user(&user("bob")), Err(StoreError::AlreadyExists)));
    assert_eq!(s.get_user("bob").unwrap().unwrap(), user("bob"));
    assert!(s.get_user("nobody").unwrap().is_none());
    let u = s.update_user("bob", &mut |u| u.verified = true).unwrap().unwrap();
    assert!(u.verified && s.get_user("bob").unwrap().unwrap().verified);
    assert!(s.update_user("nobody", &mut |_| {}).unwrap().is_none());
    second_factor(s.as_ref());
    let mut b = user("bob");
    b.email = "new@example.org".into();
    s.put_user(&b).unwrap();
    assert_eq!(s.get_user("bob").unwrap().unwrap().email, "new@example.org");

    // Lists are in byte order of the key, whatever the collation of the database.
    for uid in ["zed", "Alice", "alice", "émile", "_x", "b"] {
        s.insert_user(&user(uid)).unwrap();
    }
    let uids: Vec<String> = s.list_users().unwrap().into_iter().map(|u| u.uid).collect();
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(uids, sorted);
    assert_eq!(uids.len(), 7);

    // PII: per user, ordered by attribute, one user's never listed for another (prefixes).
    assert!(s.put_pii("bob", &pii("lastname")).unwrap());
    assert!(!s.put_pii("bob", &pii("lastname")).unwrap(), "a replacement is not a creation");
    s.put_pii("bob", &pii("birthdate")).unwrap();
    s.put_pii("bobby", &pii("x")).unwrap();
    let attrs: Vec<String> = s.list_pii("bob").unwrap().into_iter().map(|r| r.attribute).collect();
    assert_eq!(attrs, ["birthdate", "lastname"]);
    assert_eq!(s.get_pii("bob", "lastname").unwrap().unwrap(), pii("lastname"));
    assert!(s.get_pii("bob", "x").unwrap().is_none());
    assert!(s.delete_pii("bob", "birthdate").unwrap());
    assert!(!s.delete_pii("bob", "birthdate").unwrap());
    assert_eq!(s.list_pii("bobby").unwrap().len(), 1);

    // Deleting a user deletes their PII; a conditional delete only when the predicate holds.
    assert!(s.delete_user("bob").unwrap());
    assert!(!s.delete_user("bob").unwrap());
    assert!(s.list_pii("bob").unwrap().is_empty());
    assert_eq!(s.list_pii("bobby").unwrap().len(), 1);
    s.insert_user(&user("carol")).unwrap();
    s.put_pii("carol", &pii("x")).unwrap();
    assert!(!s.delete_user_if("carol", &|u| u.verified).unwrap());
    assert!(s.get_user("carol").unwrap().is_some());
    assert!(s.delete_user_if("carol", &|u| !u.verified).unwrap());
    assert!(s.get_user("carol").unwrap().is_none() && s.list_pii("carol").unwrap().is_empty());
    assert!(!s.delete_user_if("carol", &|_| true).unwrap());

    // Service providers.
    assert!(s.put_sp(&sp("https://b.example")).unwrap());
    assert!(!s.put_sp(&sp("https://b.example")).unwrap());
    assert!(s.put_sp(&sp("https://a.example")).unwrap());
    assert_eq!(s.get_sp("https://b.example").unwrap().unwrap(), sp("https://b.example"));
    let ids: Vec<String> = s.list_sps().unwrap().into_iter().map(|p| p.entity_id).collect();
    assert_eq!(ids, ["https://a.example", "https://b.example"]);
    assert!(s.delete_sp("https://a.example").unwrap());
    assert!(!s.delete_sp("https://a.example").unwrap());
    assert!(s.get_sp("https://a.example").unwrap().is_none());

    // Tokens: verification tokens are single use; the purge removes expired ones of both kinds.
    s.put_verification(&token_hash("v"), &Verification { uid: "zed".into(), expires: 5 }).unwrap();
    s.put_verification(&token_hash("w"), &Verification { uid: "zed".into(), expires: 500 }).unwrap();
    s.put_api_token(&token_hash("a"), &ApiToken { uid: "zed".into(), expires: 100 }).unwrap();
    s.put_api_token(&token_hash("old"), &ApiToken { uid: "zed".into(), expires: 10 }).unwrap();
    assert_eq!(
        s.get_api_token(&token_hash("a")).unwrap().unwrap(),
        ApiToken { uid: "zed".into(), expires: 100 }
    );
    assert!(s.get_api_token(&token_hash("nope")).unwrap().is_none());
    assert_eq!(s.purge_expired(50).unwrap(), 2);
    assert!(s.take_verification(&token_hash("v")).unwrap().is_none());
    assert_eq!(s.take_verification(&token_hash("w")).unwrap().unwrap().uid, "zed");
    assert!(s.take_verification(&token_hash("w")).unwrap().is_none(), "single use");
    assert!(s.get_api_token(&token_hash("a")).unwrap().is_some());
    assert!(s.get_api_token(&token_hash("old")).unwrap().is_none());

    consents(&*s);
    access(&*s);
    upload_tokens(&*s);
    devices(&*s);
    hostile_keys(&*s);
    concurrent_updates(s);
}

/// Upload tokens (issue 20): looked up by hash, at most `cap` per user (the oldest goes),
/// expired ones of everyone purged at every issue.
fn upload_tokens(s: &dyn Store) {
    use idp_home::store::UploadToken;
    let t = |uid: &str, issued: i64| UploadToken { uid: uid.into(), issued, expires: issued + 600 };
    s.put_upload_token(&token_hash("u-old"), &UploadToken { expires: 20, ..t("eve", 10) }, 3, 10).unwrap();
    for i in 0..5 {
        s.put_upload_token(&token_hash(&format!("u{i}")), &t("zed", 100 + i), 3, 100 + i).unwrap();
    }
    assert_eq!(s.get_upload_token(&token_hash("u4")).unwrap().unwrap(), t("zed", 104));
    assert_eq!(s.count_upload_tokens("zed").unwrap(), 3, "bounded per user");
    assert!(s.get_upload_token(&token_hash("u0")).unwrap().is_none(), "the oldest went first");
    assert!(s.get_upload_token(&token_hash("u1")).unwrap().is_none());
    assert!(s.get_upload_token(&token_hash("u2")).unwrap().is_some());
    assert!(s.get_upload_token(&token_hash("u-old")).unwrap().is_none(), "expired ones are purged");
    assert_eq!(s.count_upload_tokens("eve").unwrap(), 0);
    // Another user's tokens do not count against zed's.
    s.put_upload_token(&token_hash("e1"), &t("eve", 200), 3, 200).unwrap();
    assert_eq!(s.count_upload_tokens("zed").unwrap(), 3);
    assert!(s.get_upload_token(&token_hash("nope")).unwrap().is_none());
}

/// The second factor and its policy (issue 20) round-trip in the user record; a record
/// without them (an older version) reads as policy `optional` without a factor.
fn second_factor(s: &dyn Store) {
    use idp_home::model::{MfaPolicy, TotpFactor};
    assert_eq!(s.get_user("bob").unwrap().unwrap().security, Default::default());
    let factor = TotpFactor {
        secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ".into(),
        confirmed: true,
        created: 5,
        last_step: 58_667_040,
        recovery: vec!["ab".repeat(32)],
    };
    let f = factor.clone();
    let u = s
        .update_user("bob", &mut |u| {
            u.security.mfa = MfaPolicy::Required;
            u.security.totp = Some(f.clone());
        })
        .unwrap()
        .unwrap();
    let read = s.get_user("bob").unwrap().unwrap();
    assert_eq!(read, u);
    assert_eq!((read.security.mfa, read.security.totp), (MfaPolicy::Required, Some(factor)));
    assert!(!format!("{u:?}").contains("c2VjcmV0"), "the secret never prints");
    s.update_user("bob", &mut |u| u.security = Default::default()).unwrap();
}

fn consent(sp: &str, granted: i64) -> Consent {
    Consent {
        sp: sp.into(),
        attributes: vec!["groups".into(), "lastname".into()],
        fingerprint: "f".repeat(64),
        granted,
        denied: false,
    }
}

/// Consents (issue 18): per user, ordered by SP, replaced in place, deleted with the user,
/// hostile keys refused or stored as they are.
fn consents(s: &dyn Store) {
    s.insert_user(&user("dora")).unwrap();
    s.put_consent("dora", &consent("https://b.example", 1)).unwrap();
    s.put_consent("dora", &consent("https://a.example", 2)).unwrap();
    s.put_consent("dorabella", &consent("https://a.example", 3)).unwrap();
    let sps: Vec<String> = s.list_consents("dora").unwrap().into_iter().map(|c| c.sp).collect();
    assert_eq!(sps, ["https://a.example", "https://b.example"]);
    let mut newer = consent("https://a.example", 9);
    newer.attributes.push("dob".into());
    newer.denied = true; // a remembered Deny round-trips
    s.put_consent("dora", &newer).unwrap();
    assert_eq!(s.get_consent("dora", "https://a.example").unwrap().unwrap(), newer);
    assert_eq!(s.list_consents("dora").unwrap().len(), 2, "a replacement, not a second row");
    assert!(s.get_consent("dora", "https://c.example").unwrap().is_none());
    assert!(s.delete_consent("dora", "https://b.example").unwrap());
    assert!(!s.delete_consent("dora", "https://b.example").unwrap());
    // Deleting the user deletes their consents, not those of a user whose uid extends theirs.
    assert!(s.delete_user("dora").unwrap());
    assert!(s.list_consents("dora").unwrap().is_empty());
    assert_eq!(s.list_consents("dorabella").unwrap().len(), 1);
    assert!(s.list_consents("dora%").unwrap().is_empty());
    for key in ["'; DROP TABLE idaas_home.consents; --", "名前😀"] {
        s.put_consent(key, &consent(key, 1)).unwrap();
        assert_eq!(s.get_consent(key, key).unwrap().unwrap().sp, key);
        assert!(s.delete_consent(key, key).unwrap());
    }
    assert!(matches!(s.put_consent("a\0", &consent("x", 1)), Err(StoreError::InvalidKey)));
    assert!(matches!(s.put_consent("x", &consent(&"x".repeat(100_000), 1)), Err(StoreError::InvalidKey)));
    assert!(s.get_consent("a\0", "x").unwrap().is_none());
    assert!(!s.delete_consent("x", "y\0").unwrap());
}

fn request(id: &str, uid: &str, group: &str, created: i64) -> idp_home::model::AccessRequest {
    idp_home::model::AccessRequest {
        id: id.into(),
        uid: uid.into(),
        sp: "https://wiki.example".into(),
        prefix: "/reports".into(),
        group: group.into(),
        valid_for: 60,
        created,
        status: idp_home::model::RequestStatus::Pending,
        decided_by: None,
        decided_at: None,
        until: None,
    }
}

/// Group owners and access requests (issue 20): owners replaced and removed, requests listed
/// per requester and pending per group (oldest first), decided once by compare-and-swap,
/// deleted with their requester; hostile keys refused.
fn access(s: &dyn Store) {
    use idp_home::model::RequestStatus;
    use idp_home::store::Requests;
    assert!(s.get_group_owners("finance").unwrap().is_empty());
    s.put_group_owners("finance", &["carol".into(), "dave".into()]).unwrap();
    s.put_group_owners("ops", &["dave".into()]).unwrap();
    s.put_group_owners("ops", &["erin".into()]).unwrap();
    assert_eq!(s.get_group_owners("ops").unwrap(), ["erin"]);
    let groups: Vec<String> = s.list_group_owners().unwrap().into_iter().map(|(g, _)| g).collect();
    assert_eq!(groups, ["finance", "ops"]);
    s.put_group_owners("ops", &[]).unwrap();
    assert!(s.get_group_owners("ops").unwrap().is_empty());

    s.insert_user(&user("fred")).unwrap();
    s.insert_access_request(&request("r2", "fred", "finance", 20)).unwrap();
    s.insert_access_request(&request("r1", "fred", "finance", 10)).unwrap();
    s.insert_access_request(&request("r3", "gina", "ops", 5)).unwrap();
    assert!(matches!(s.insert_access_request(&request("r1", "x", "y", 1)), Err(StoreError::AlreadyExists)));
    let ids = |v: Vec<idp_home::model::AccessRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_access_requests(Requests::Of("fred")).unwrap()), ["r1", "r2"]);
    assert_eq!(ids(s.list_access_requests(Requests::PendingFor(&["finance".into()])).unwrap()), ["r1", "r2"]);
    assert_eq!(ids(s.list_access_requests(Requests::All).unwrap()), ["r3", "r1", "r2"]);
    let approved = idp_home::model::AccessRequest {
        status: RequestStatus::Approved,
        decided_by: Some("carol".into()),
        decided_at: Some(30),
        until: Some(90),
        ..request("r1", "fred", "finance", 10)
    };
    assert!(s.update_access_request_if(&approved, RequestStatus::Pending).unwrap());
    assert!(!s.update_access_request_if(&approved, RequestStatus::Pending).unwrap(), "decided once");
    assert_eq!(s.get_access_request("r1").unwrap().unwrap(), approved);
    assert_eq!(ids(s.list_access_requests(Requests::PendingFor(&["finance".into()])).unwrap()), ["r2"]);
    assert!(!s
        .update_access_request_if(&request("nope", "fred", "finance", 1), RequestStatus::Pending)
        .unwrap());
    assert!(s.delete_access_request("r2").unwrap());
    assert!(!s.delete_access_request("r2").unwrap());
    // Deleting the requester deletes their requests, not others'.
    assert!(s.delete_user("fred").unwrap());
    assert_eq!(ids(s.list_access_requests(Requests::All).unwrap()), ["r3"]);
    assert!(s.delete_access_request("r3").unwrap());
    assert!(matches!(s.insert_access_request(&request("a\0", "x", "y", 1)), Err(StoreError::InvalidKey)));
    assert!(matches!(s.put_group_owners(&"g".repeat(100_000), &["x".into()]), Err(StoreError::InvalidKey)));
    assert!(s.get_access_request("a\0").unwrap().is_none());
    assert!(s.list_access_requests(Requests::Of("a\0")).unwrap().is_empty());
    s.put_group_owners("finance", &[]).unwrap();
}

fn device(id: &str, last_seen: i64) -> KnownDevice {
    KnownDevice {
        id: id.into(),
        first_seen: 1,
        last_seen,
        agent: "Firefox/140".into(),
        address: "192.0.2.1".into(),
    }
}

/// Known devices (issue 20): per user, ordered by id, replaced in place, deleted one by one
/// and with the user, hostile keys refused or stored as they are.
fn devices(s: &dyn Store) {
    s.insert_user(&user("erin")).unwrap();
    s.put_device("erin", &device("b", 1)).unwrap();
    s.put_device("erin", &device("a", 2)).unwrap();
    s.put_device("erinx", &device("a", 3)).unwrap();
    let ids: Vec<String> = s.list_devices("erin").unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, ["a", "b"]);
    s.put_device("erin", &device("a", 9)).unwrap();
    assert_eq!(s.list_devices("erin").unwrap(), vec![device("a", 9), device("b", 1)], "replaced in place");
    assert!(s.delete_device("erin", "b").unwrap());
    assert!(!s.delete_device("erin", "b").unwrap());
    assert!(s.delete_user("erin").unwrap());
    assert!(s.list_devices("erin").unwrap().is_empty());
    assert_eq!(s.list_devices("erinx").unwrap().len(), 1, "not a user whose uid extends theirs");
    for key in ["'; DROP TABLE idaas_home.devices; --", "名前😀"] {
        s.put_device(key, &device(key, 1)).unwrap();
        assert_eq!(s.list_devices(key).unwrap()[0].id, key);
        assert!(s.delete_device(key, key).unwrap());
    }
    assert!(matches!(s.put_device("a\0", &device("x", 1)), Err(StoreError::InvalidKey)));
    assert!(matches!(s.put_device("x", &device(&"x".repeat(100_000), 1)), Err(StoreError::InvalidKey)));
    assert!(s.list_devices("a\0").unwrap().is_empty());
    assert!(!s.delete_device("x", "y\0").unwrap());
}

fn hostile_keys(s: &dyn Store) {
    // The longest key accepted, of characters that do not compress.
    let long: String =
        (0..MAX_KEY_LEN / 4).map(|i| char::from_u32(0x10000 + i as u32 * 7).unwrap()).collect();
    assert_eq!(long.len(), MAX_KEY_LEN);
    for uid in
        ["'; DROP TABLE idaas_home.users; --", "a%_\\'\"$1", "名前😀", long.as_str(), " ", "a\u{200b}b"]
    {
        s.insert_user(&user(uid)).unwrap();
        assert_eq!(s.get_user(uid).unwrap().unwrap().uid, uid);
        s.put_pii(uid, &pii("attr';--")).unwrap();
        assert_eq!(s.list_pii(uid).unwrap().len(), 1);
        assert_eq!(s.get_pii(uid, "attr';--").unwrap().unwrap().attribute, "attr';--");
        assert!(s.delete_user(uid).unwrap());
        assert!(s.get_user(uid).unwrap().is_none());
    }
    // A LIKE pattern must not match other keys.
    assert!(s.list_pii("%").unwrap().is_empty());
    assert!(s.list_pii("bobb_").unwrap().is_empty());
    // NUL and oversize keys: refused on write, absent on read, by both backends.
    let huge = "x".repeat(100_000);
    assert!(matches!(s.insert_user(&user(&huge)), Err(StoreError::InvalidKey)));
    assert!(s.get_user(&huge).unwrap().is_none());
    assert!(s.list_pii(&huge).unwrap().is_empty());
    assert!(matches!(s.insert_user(&user("a\0b")), Err(StoreError::InvalidKey)));
    assert!(matches!(s.put_pii("zed", &pii("a\0")), Err(StoreError::InvalidKey)));
    assert!(matches!(s.put_sp(&sp("x\0")), Err(StoreError::InvalidKey)));
    assert!(s.get_user("a\0b").unwrap().is_none());
    assert!(!s.delete_user("a\0b").unwrap());
    assert!(s.get_pii("zed\0", "x").unwrap().is_none());
    // Values with every kind of character survive.
    let mut odd = user("odd");
    odd.email = "\u{0}\u{1}\"\\'😀\u{feff}".into();
    odd.groups = vec!["a\nb".into(), String::new()];
    s.insert_user(&odd).unwrap();
    assert_eq!(s.get_user("odd").unwrap().unwrap(), odd);
    assert!(s.get_user("zed").unwrap().is_some(), "the users table is intact");
}

/// Two threads appending groups to the same user: no update is lost.
fn concurrent_updates(s: Arc<dyn Store>) {
    s.insert_user(&user("race")).unwrap();
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    s.update_user("race", &mut |u| u.groups.push(format!("t{t}-{i}"))).unwrap().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(s.get_user("race").unwrap().unwrap().groups.len(), 50);
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
    // Reopening finds the records, and the schema version is checked.
    let s = PgStore::open(&cluster.url("idaas")).unwrap();
    assert!(s.get_user("zed").unwrap().is_some());
    // Two instances (two pools) updating one user at once lose no update either.
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) =
        (Arc::new(PgStore::open(&cluster.url("idaas")).unwrap()), Arc::new(s));
    a.insert_user(&user("race2")).unwrap();
    let threads: Vec<_> = [a.clone(), b]
        .into_iter()
        .enumerate()
        .map(|(t, s)| {
            std::thread::spawn(move || {
                for i in 0..25 {
                    s.update_user("race2", &mut |u| u.groups.push(format!("{t}-{i}"))).unwrap().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.get_user("race2").unwrap().unwrap().groups.len(), 50);
    drop(a);
    cluster.psql("idaas", "UPDATE idaas_home.schema_version SET version = 99").unwrap();
    let e = PgStore::open(&cluster.url("idaas")).unwrap_err();
    assert!(e.to_string().contains("version 99"), "{e}");
}

#[test]
fn postgres_corrupt_record_is_an_error_not_a_panic() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster");
    cluster.create_database("idaas").unwrap();
    let s = PgStore::open(&cluster.url("idaas")).unwrap();
    cluster.psql("idaas", "INSERT INTO idaas_home.users VALUES ('eve', '{not json')").unwrap();
    assert!(matches!(s.get_user("eve"), Err(StoreError::Corrupt { tree: "users", .. })));
    assert!(s.list_users().is_err());
    cluster.psql("idaas", "UPDATE idaas_home.users SET value = '{\"V9\":{}}'").unwrap();
    assert!(matches!(s.get_user("eve"), Err(StoreError::Corrupt { .. })));
}
