//! State shared between home IdP instances on one PostgreSQL database (issue 17): IdP
//! sessions and their participants, pending sign-ins (a cookie under a key both instances
//! derive from the shared key files) and the sign-in throttle. Two `AppState`s on one
//! throwaway cluster, with the same key files, as two processes behind a load balancer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;

use idp_home::config::Config;
use idp_home::keys::Keys;
use idp_home::saml::request::AcceptedRequest;
use idp_home::sso_sessions::Participant;
use idp_home::state::AppState;
use idp_home::store::pg::PgStore;
use idp_home::store::SledStore;
use idp_home::throttle::ThrottleParams;
use service_kit::pg::testing::Cluster;
use service_kit::ManualClock;

const T0: i64 = 1_760_011_200;

fn instance(data: &Path, store: Arc<dyn idp_home::store::Store>) -> AppState {
    let config = Config {
        data_dir: data.to_owned(),
        public_url: "https://idp.example".into(),
        entity_id: "https://idp.example".into(),
        ..Config::default()
    };
    let keys = Keys::load_or_create(data, "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
    AppState::new(config, store, Arc::new(ManualClock::new(T0)), Arc::new(keys)).unwrap()
}

fn participant(sp: &str, index: &str) -> Participant {
    Participant { sp: sp.into(), name_id: "bob".into(), session_index: index.into() }
}

#[test]
fn two_instances_share_sessions_pending_sign_ins_and_throttles() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("idaas").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let open =
        || -> Arc<dyn idp_home::store::Store> { Arc::new(PgStore::open(&cluster.url("idaas")).unwrap()) };
    let (a, b) = (instance(dir.path(), open()), instance(dir.path(), open()));
    assert!(a.throttle.is_shared() && b.throttle.is_shared());

    // A session created at A is found at B, with the participants recorded at either.
    let (cookie, session) = a.sso.create_session("bob", T0, 3600);
    let seen = b.sso.session(&cookie, T0 + 1).expect("B sees A's session");
    assert_eq!((seen.uid.as_str(), seen.id.as_str()), ("bob", session.id.as_str()));
    assert!(b.sso.session(&cookie, T0 + 3600).is_none(), "expired everywhere");
    b.sso.record_participant(&session.id, participant("https://shop.example", "s1"));
    a.sso.record_participant(&session.id, participant("https://wiki.example", "s2"));
    let seen = a.sso.session(&cookie, T0 + 2).unwrap();
    assert_eq!(
        seen.participants,
        vec![participant("https://shop.example", "s1"), participant("https://wiki.example", "s2")]
    );
    for i in 0..idp_home::sso_sessions::MAX_PARTICIPANTS {
        b.sso.record_participant(&session.id, participant("https://many.example", &format!("m{i}")));
    }
    let seen = a.sso.session(&cookie, T0 + 2).unwrap();
    assert_eq!(seen.participants.len(), idp_home::sso_sessions::MAX_PARTICIPANTS, "bounded, oldest dropped");
    assert_eq!(seen.participants[0].session_index, "m0");
    assert_eq!(a.sso.sessions_of("bob", T0 + 2).len(), 1);

    // Single logout at B ends the session A created.
    let ended = b.sso.end_by_participant("https://many.example", "bob", &["m5".into()], T0 + 3).unwrap();
    assert_eq!(ended.id, session.id);
    assert!(a.sso.session(&cookie, T0 + 3).is_none());

    // Sign out everywhere / other devices, across instances.
    let (c1, s1) = a.sso.create_session("carol", T0, 3600);
    let (c2, _) = b.sso.create_session("carol", T0 + 1, 3600);
    assert_eq!(b.sso.sessions_of("carol", T0 + 2).len(), 2);
    assert_eq!(b.sso.end_others("carol", &s1.id), 1);
    assert!(a.sso.session(&c2, T0 + 2).is_none() && b.sso.session(&c1, T0 + 2).is_some());
    assert_eq!(b.sso.end_all_of("carol", T0 + 2).len(), 1);
    assert!(a.sso.end_by_cookie(&c1, T0 + 2).is_none());

    // A sign-in form served by A is accepted by B (same derived cookie key).
    let request = AcceptedRequest {
        id: "_req1".into(),
        sp_entity_id: "https://shop.example".into(),
        acs_url: "https://shop.example/acs".into(),
        acs_index: 0,
        flags: Default::default(),
    };
    let (pending, csrf) = a.sso.begin(&request, Some("rs".into()), T0).unwrap();
    let acs = |_: &str, _: usize| Some("https://shop.example/acs".to_owned());
    let p = b.sso.pending(&pending, &csrf, T0 + 5, &acs).expect("B accepts A's form");
    assert_eq!((p.request.id.as_str(), p.relay_state.as_deref()), ("_req1", Some("rs")));
    assert!(b.sso.pending(&pending, "forged", T0 + 5, &acs).is_none());

    // The throttle counts attempts at both instances together.
    let p = ThrottleParams::default();
    for (i, s) in [&a, &b, &a].into_iter().enumerate() {
        s.throttle
            .reserve(&[("pair:mallory|ip:192.0.2.1", p)], T0)
            .unwrap_or_else(|w| panic!("{i}: {w}"))
            .failed();
    }
    assert_eq!(a.throttle.failures("pair:mallory|ip:192.0.2.1"), 3);
    assert_eq!(b.throttle.check(&["pair:mallory|ip:192.0.2.1"], T0), Err(1), "B makes the 4th attempt wait");
    assert!(b.throttle.reserve(&[("pair:mallory|ip:192.0.2.1", p)], T0).is_err());
    // A success at one instance clears the account key everywhere and gives the address back.
    a.throttle.reserve(&[("uid:dave", p), ("ip:198.51.100.7", p)], T0).unwrap().failed();
    b.throttle.reserve(&[("uid:dave", p), ("ip:198.51.100.7", p)], T0).unwrap().succeeded(&["uid:dave"]);
    assert_eq!((a.throttle.failures("uid:dave"), a.throttle.failures("ip:198.51.100.7")), (0, 1));
    // Parallel attempts at both instances: no more than the free failures pass at once.
    let passed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for s in [&a, &b, &a, &b, &a, &b, &a, &b] {
            let passed = &passed;
            scope.spawn(move || {
                if let Ok(r) = s.throttle.reserve(&[("pair:eve|ip:203.0.113.9", p)], T0) {
                    passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    r.failed();
                }
            });
        }
    });
    assert_eq!(passed.into_inner(), usize::try_from(p.free_failures).unwrap());

    // A single-logout chain started at A goes on at B; a LogoutRequest ID seen at A is
    // refused at B.
    let sp = |id: &str| -> idp_home::model::ServiceProvider {
        serde_json::from_value(serde_json::json!({
            "entity_id": id,
            "acs_urls": [format!("{id}/acs")],
            "slo": { "url": format!("{id}/slo") },
        }))
        .unwrap()
    };
    a.store.put_sp(&sp("https://shop.example")).unwrap();
    a.store.put_sp(&sp("https://wiki.example")).unwrap();
    let hops = vec![participant("https://shop.example", "s1"), participant("https://wiki.example", "s2")];
    let (chain, step) = idp_home::slo::begin(&a, None, hops, T0);
    let chain = chain.expect("waits for the first SP");
    assert!(matches!(step, idp_home::slo::Step::Send(_)));
    assert_eq!((a.slo.len(), b.slo.len()), (1, 1), "one shared table");
    assert!(matches!(
        idp_home::slo::resume(&b, &chain, T0 + 1),
        Some((Some(_), idp_home::slo::Step::Waiting(_)))
    ));
    let (next, step) = idp_home::slo::resume(&b, &chain, T0 + 31).expect("B knows A's chain");
    assert!(next.is_some() && matches!(step, idp_home::slo::Step::Send(_)), "the second SP is asked");
    let (done, step) = idp_home::slo::resume(&a, &chain, T0 + 62).expect("and A goes on from B");
    assert!(done.is_none() && step == idp_home::slo::Step::Done { partial: true });
    assert!(a.slo.is_empty());
    assert!(a.slo.first_time("https://shop.example", "_lr1", T0 + 300, T0));
    assert!(!b.slo.first_time("https://shop.example", "_lr1", T0 + 300, T0 + 1), "replayed at B");

    // The purge deletes what expired, and only that.
    let (c3, _) = a.sso.create_session("erin", T0, 60);
    assert!(b.sso.purge(T0 + 61) >= 1);
    assert!(a.sso.session(&c3, T0 + 30).is_none());
    assert!(a.throttle.purge(T0 + 16 * 60) >= 1);
    assert_eq!(b.throttle.failures("ip:198.51.100.7"), 0);
}

#[test]
fn sled_instances_keep_sessions_and_throttles_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let a = instance(dir.path(), store);
    assert!(!a.throttle.is_shared());
    let (cookie, _) = a.sso.create_session("bob", T0, 60);
    assert!(a.sso.session(&cookie, T0).is_some());
    assert_eq!(a.sso.purge(T0 + 60), 1);
}
