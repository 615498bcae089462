//! The home IdP's JSON APIs, driven in-process with `oneshot` (STYLE.md §7.6): registration,
//! e-mail verification, API tokens, the PII vault with real pbe-core ciphertexts, throttling,
//! the admin API, bad input of every kind, persistence across a restart, and configuration
//! errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use idp_home::config::{Config, Secret, VisitorAuthority};
use idp_home::keys::Keys;
use idp_home::state::AppState;
use idp_home::store::SledStore;
use pbe_core::{AuthorityPublicKey, AuthoritySecretKey, Bls12_381Suite, Encryptor, Policy};
use rand_chacha::rand_core::SeedableRng;
use serde_json::{json, Value};
use service_kit::ManualClock;
use tower::ServiceExt as _;

type S = Bls12_381Suite;

const T0: i64 = 1_760_000_000;
const ADMIN: &str = "0123456789abcdef0123456789abcdef-admin";
const PASSWORD: &str = "correct horse battery staple";

/// Key material generated once (RSA-2048 is slow) and copied into each test's data dir.
fn key_files() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        Keys::load_or_create(dir.path(), "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
        dir
    })
    .path()
}

/// The visitor authority of the federation (`amazon`) and one nobody knows (`evil`).
fn visitor() -> &'static AuthoritySecretKey<S> {
    static K: OnceLock<AuthoritySecretKey<S>> = OnceLock::new();
    K.get_or_init(|| {
        AuthoritySecretKey::setup("amazon", &mut rand_chacha::ChaCha20Rng::seed_from_u64(1)).unwrap()
    })
}

fn stranger() -> &'static AuthoritySecretKey<S> {
    static K: OnceLock<AuthoritySecretKey<S>> = OnceLock::new();
    K.get_or_init(|| {
        AuthoritySecretKey::setup("evil", &mut rand_chacha::ChaCha20Rng::seed_from_u64(2)).unwrap()
    })
}

fn tat_key() -> String {
    federation::seal::RecipientKey::generate(
        federation::seal::SealSuite::X25519Aes128,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(3),
    )
    .public_text()
}

pub(crate) struct Env {
    _dir: tempfile::TempDir,
    data: PathBuf,
    pub(crate) state: AppState,
    clock: Arc<ManualClock>,
    app: Router,
}

fn base_config(data: &Path) -> Config {
    Config {
        data_dir: data.to_owned(),
        public_url: "https://idp.example".into(),
        entity_id: "https://idp.example".into(),
        admin_token: Some(Secret::new(ADMIN)),
        max_body_bytes: 64 * 1024,
        visitor_authorities: vec![VisitorAuthority {
            name: "amazon".into(),
            public_key: Some(pbe_core::wire::to_text(&visitor().public_key().to_bytes())),
            url: None,
        }],
        ..Config::default()
    }
}

fn state_for(data: &Path, config: Config, clock: Arc<ManualClock>) -> AppState {
    let keys = Keys::load_or_create(data, "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
    let store = SledStore::open(&data.join("db")).unwrap();
    AppState::new(config, Arc::new(store), clock, Arc::new(keys)).unwrap()
}

pub(crate) fn env_with(f: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("home");
    std::fs::create_dir_all(&data).unwrap();
    for name in ["saml-signing.key", "saml-signing.crt.pem", "abe-telekom.msk"] {
        std::fs::copy(key_files().join(name), data.join(name)).unwrap();
    }
    let mut config = base_config(&data);
    f(&mut config);
    let clock = Arc::new(ManualClock::new(T0));
    let state = state_for(&data, config, clock.clone());
    let app = idp_home::http::app(state.clone());
    Env { _dir: dir, data, state, clock, app }
}

fn env() -> Env {
    env_with(|_| {})
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// Asserts an RFC 7807-style problem document with this status.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.headers[header::CONTENT_TYPE], "application/problem+json");
        let v = self.json();
        assert_eq!(v["status"], status);
        assert!(v["type"].is_string() && v["title"].is_string() && v["detail"].is_string());
        v
    }
}

impl Env {
    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), 16 << 20).await.unwrap();
        Reply { status, headers, body }
    }

    async fn call(&self, method: Method, uri: &str, auth: Option<&str>, body: Option<Value>) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = auth {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    async fn raw(&self, method: Method, uri: &str, auth: Option<&str>, body: impl Into<Body>) -> Reply {
        let mut b = Request::builder().method(method).uri(uri).header(header::CONTENT_TYPE, "text/plain");
        if let Some(t) = auth {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(b.body(body.into()).unwrap()).await
    }

    async fn token_from(&self, uid: &str, password: &str, client: [u8; 4]) -> Reply {
        let mut req = Request::post("/api/token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"uid": uid, "password": password}).to_string()))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((client, 40000))));
        self.send(req).await
    }

    fn outbox(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.data.join("outbox")) {
            Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn register(&self, uid: &str) -> Reply {
        let body = json!({"uid": uid, "email": format!("{uid}@example.org"), "password": PASSWORD});
        self.call(Method::POST, "/api/users", None, Some(body)).await
    }

    /// Reads the verification link of `uid` from the outbox.
    fn verification_token(&self, uid: &str) -> String {
        for path in self.outbox() {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains(&format!("To: {uid}@example.org\r\n")) {
                let start = text.find("https://idp.example/api/users/verify?token=").unwrap();
                let link = text[start..].lines().next().unwrap();
                return link.rsplit_once("token=").unwrap().1.to_owned();
            }
        }
        panic!("no mail for {uid}");
    }

    async fn upload_token_from(&self, uid: &str, client: [u8; 4]) -> String {
        let mut req = Request::post("/api/upload-token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"uid": uid, "password": PASSWORD}).to_string()))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((client, 40000))));
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
        r.json()["token"].as_str().unwrap().to_owned()
    }

    /// Registers and verifies `uid`; returns an upload token (it reads and writes the vault).
    async fn verified_user(&self, uid: &str) -> String {
        assert_eq!(self.register(uid).await.status, StatusCode::CREATED);
        let token = self.verification_token(uid);
        let r = self.call(Method::GET, &format!("/api/users/verify?token={token}"), None, None).await;
        assert_eq!(r.status, StatusCode::OK);
        self.upload_token_from(uid, [10, 0, 0, 1]).await
    }
}

/// A real ciphertext under `policy`, text form.
fn ciphertext(state: &AppState, policy: &str, extra: &[&AuthorityPublicKey<S>]) -> String {
    let home = AuthorityPublicKey::<S>::from_bytes(
        &pbe_core::wire::from_text(&state.keys.authority_public_key_text()).unwrap(),
    )
    .unwrap();
    let mut keys = vec![&home, visitor().public_key()];
    keys.extend_from_slice(extra);
    let enc = Encryptor::with_window(keys, 4).unwrap();
    let policy = Policy::parse(policy).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    enc.encrypt(&policy, b"Tri", &mut rng).unwrap().to_text()
}

const POLICY: &str = "domain:salesforce@telekom and purpose:current@amazon";

#[tokio::test]
async fn register_verify_token_and_manage_pii() {
    let env = env();
    let r = env.register("Bob").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["uid"], "bob");

    // The verification mail is an RFC 5322 file, mode 0600.
    let mails = env.outbox();
    assert_eq!(mails.len(), 1);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&mails[0]).unwrap().permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&mails[0]).unwrap();
        assert!(text.contains("\r\nSubject: Confirm your e-mail address\r\n"));
        assert!(text.contains("\r\n\r\n"));
    }
    // Not verified yet: no token.
    env.token_from("bob", PASSWORD, [10, 0, 0, 1]).await.problem(401);

    let token = env.verification_token("Bob");
    let r = env
        .send(
            Request::get(format!("/api/users/verify?token={token}"))
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&r.body).contains("verified"));
    // Single use.
    env.call(Method::GET, &format!("/api/users/verify?token={token}"), None, None).await.problem(400);
    env.call(Method::GET, "/api/users/verify?token=nonsense", None, None).await.problem(400);
    env.call(Method::GET, "/api/users/verify", None, None).await.problem(400);

    let r = env.token_from("BOB", PASSWORD, [10, 0, 0, 1]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    let api = t["access_token"].as_str().unwrap().to_owned();

    // The API token reads only; writes need an upload token (issue 20).
    let ct = ciphertext(&env.state, POLICY, &[]);
    assert_eq!(env.call(Method::GET, "/api/pii", Some(&api), None).await.status, StatusCode::OK);
    env.raw(Method::PUT, "/api/pii/lastname", Some(&api), ct.clone()).await.problem(403);
    env.call(Method::DELETE, "/api/pii/lastname", Some(&api), None).await.problem(403);
    let at = env.upload_token_from("bob", [10, 0, 0, 1]).await;

    // PUT creates, PUT again replaces.
    let r = env.raw(Method::PUT, "/api/pii/lastname", Some(&at), ct.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let r = env.raw(Method::PUT, "/api/pii/lastname", Some(&at), ct.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    env.clock.advance(60);
    let r = env.raw(Method::PUT, "/api/pii/dob", Some(&at), ct.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);

    let r = env.call(Method::GET, "/api/pii", Some(&at), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["attribute"], "dob");
    assert_eq!(list[1]["attribute"], "lastname");
    assert_eq!(list[1]["policy"], Policy::parse(POLICY).unwrap().to_string());
    assert_eq!(list[1]["authorities"], json!(["amazon", "telekom"]));
    assert_eq!(list[1]["size"], pbe_core::wire::from_text(&ct).unwrap().len());
    assert!(list[1]["updated"].as_str().unwrap().starts_with("2025-"));
    assert!(list[1].get("ciphertext").is_none());

    let r = env.call(Method::GET, "/api/pii/lastname", Some(&at), None).await;
    assert_eq!(r.json()["ciphertext"], ct);

    assert_eq!(
        env.call(Method::DELETE, "/api/pii/lastname", Some(&at), None).await.status,
        StatusCode::NO_CONTENT
    );
    env.call(Method::DELETE, "/api/pii/lastname", Some(&at), None).await.problem(404);
    env.call(Method::GET, "/api/pii/lastname", Some(&at), None).await.problem(404);
    assert_eq!(env.state.store.list_pii("bob").unwrap().len(), 1);

    // Without, with a wrong, and with an expired token.
    let r = env.call(Method::GET, "/api/pii", None, None).await;
    r.problem(401);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
    env.call(Method::GET, "/api/pii", Some("x".repeat(43).as_str()), None).await.problem(401);
    env.clock.advance(10 * 60);
    env.call(Method::GET, "/api/pii", Some(&at), None).await.problem(401);
    env.clock.advance(5 * 60);
    env.call(Method::GET, "/api/pii", Some(&api), None).await.problem(401);
}

#[tokio::test]
async fn sign_in_failures_are_indistinguishable() {
    let env = env();
    env.verified_user("alice").await;
    assert_eq!(env.register("carol").await.status, StatusCode::CREATED); // never verified

    let wrong = env.token_from("alice", "not the password!", [10, 0, 0, 2]).await;
    let unknown = env.token_from("mallory", "not the password!", [10, 0, 0, 3]).await;
    let unverified = env.token_from("carol", PASSWORD, [10, 0, 0, 4]).await;
    let invalid_uid = env.token_from("<x>", PASSWORD, [10, 0, 0, 5]).await;
    for r in [&wrong, &unknown, &unverified, &invalid_uid] {
        r.problem(401);
        assert_eq!(r.body, wrong.body);
        assert!(!r.headers.contains_key(header::WWW_AUTHENTICATE));
    }
}

/// Issue 15, defect 1: a burst of wrong-password requests from many addresses never runs more
/// than `max_concurrent_hashes` argon2id hashes at once; what cannot get a slot within
/// `hash_queue_timeout_ms` is a 503 with `Retry-After` (never a 5xx of another kind, never a
/// hang), and the legitimate user signs in right after. Before the fix every request hashed at
/// once (the peak was the burst size) and nothing was ever refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argon2_burst_is_bounded_and_refused_with_retry_after() {
    let env = Arc::new(env_with(|c| {
        c.max_concurrent_hashes = 2;
        c.hash_queue_timeout_ms = 20;
    }));
    env.verified_user("bob").await;
    assert_eq!(env.state.hashes.limit(), 2);
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..32u8 {
        let env = env.clone();
        // Known and unknown uids, each from its own address (no throttle in the way).
        let uid = if i % 2 == 0 { "bob".to_owned() } else { format!("guess{i}") };
        burst.spawn(async move { env.token_from(&uid, "wrong password!!", [203, 0, 113, i]).await });
    }
    let (mut refused, mut failed) = (0, 0);
    while let Some(r) = burst.join_next().await {
        let r = r.unwrap();
        match r.status.as_u16() {
            401 => failed += 1,
            503 => {
                let v = r.problem(503);
                assert_eq!(v["type"], "urn:idaas:problem:busy");
                assert_eq!(r.headers[header::RETRY_AFTER], "1");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert_eq!(refused + failed, 32);
    assert!(refused > 0, "a 20 ms queue cannot hold 32 argon2id hashes on 2 slots");
    assert!(failed >= 2);
    assert!(env.state.hashes.peak() <= 2, "peak {}", env.state.hashes.peak());
    assert_eq!(env.state.hashes.in_flight(), 0);
    // The legitimate user signs in after the burst (bob's per-uid ceiling is far away: the
    // refused attempts were given back, only the ones checked count).
    let r = env.token_from("bob", PASSWORD, [10, 0, 0, 1]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    // Registration goes through the same slots.
    assert_eq!(env.register("carol").await.status, StatusCode::CREATED);
    assert!(env.state.hashes.peak() <= 2);
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_and_released() {
    let env = env();
    env.verified_user("bob").await;
    let client = [192, 0, 2, 1];
    for _ in 0..3 {
        env.token_from("bob", "wrong password!!", client).await.problem(401);
    }
    // Back-off of the (uid, address) pair: the right password waits now from that address...
    let r = env.token_from("bob", PASSWORD, client).await;
    r.problem(429);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    // ... but not for another uid: the address key is a ceiling (20 free failures), since
    // people behind one NAT address sign in at the same moment ...
    env.token_from("nobody", PASSWORD, client).await.problem(401);
    // ... but bob on his own device (another address) is not held back by someone else's
    // guesses (issue 14, item 5: per (uid, address), with a global per-uid ceiling).
    assert_eq!(env.token_from("bob", PASSWORD, [192, 0, 2, 99]).await.status, StatusCode::OK);
    env.clock.advance(1);
    assert_eq!(env.token_from("bob", PASSWORD, client).await.status, StatusCode::OK);

    // Ten failures (honouring the back-off) lock the pair for 15 minutes.
    let mut failures = 0;
    loop {
        let r = env.token_from("bob", "wrong password!!", [198, 51, 100, 1]).await;
        match r.status {
            StatusCode::UNAUTHORIZED => failures += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: i64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
                if wait > 60 {
                    assert_eq!(wait, 15 * 60);
                    break;
                }
                env.clock.advance(wait);
            }
            other => panic!("unexpected {other}"),
        }
        assert!(failures <= 10);
    }
    assert_eq!(failures, 10);
    env.token_from("bob", PASSWORD, [198, 51, 100, 1]).await.problem(429);
    // Another address signs bob in meanwhile.
    assert_eq!(env.token_from("bob", PASSWORD, [198, 51, 100, 2]).await.status, StatusCode::OK);
    env.clock.advance(15 * 60 - 1);
    env.token_from("bob", PASSWORD, [198, 51, 100, 1]).await.problem(429);
    env.clock.advance(1);
    assert_eq!(env.token_from("bob", PASSWORD, [198, 51, 100, 1]).await.status, StatusCode::OK);

    // One address guessing many uids waits from its 20th failure on.
    let guesser = [203, 0, 113, 9];
    let mut refused_at = None;
    for i in 0..25 {
        let r = env.token_from(&format!("user{i}"), "wrong password!!", guesser).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(i);
            break;
        }
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(refused_at, Some(20), "the per-address ceiling holds");
}

#[tokio::test]
async fn bad_input_is_refused_with_a_problem_and_nothing_stored() {
    let env = env_with(|c| c.max_body_bytes = 4096);
    let at = env.verified_user("bob").await;
    let users_before = env.state.store.list_users().unwrap().len();

    // Registration.
    let post = |body: &'static str, ct: &'static str| {
        Request::post("/api/users").header(header::CONTENT_TYPE, ct).body(Body::from(body)).unwrap()
    };
    env.send(post("{\"uid\": \"eve\", ", "application/json")).await.problem(400);
    env.send(post(
        "{\"uid\":\"eve\",\"email\":\"e@x.org\",\"password\":\"aaaaaaaaaaaaaa\",\"admin\":true}",
        "application/json",
    ))
    .await
    .problem(400);
    env.send(post("uid=eve", "application/x-www-form-urlencoded")).await.problem(415);
    for (uid, email, password) in [
        ("<script>", "e@example.org", PASSWORD),
        ("../x", "e@example.org", PASSWORD),
        (&"a".repeat(65), "e@example.org", PASSWORD),
        ("eve", "e@example.org\r\nBcc: x@y.org", PASSWORD),
        ("eve", "not-an-address", PASSWORD),
        ("eve", "e@example.org", "short"),
    ] {
        let r = env.call(
            Method::POST,
            "/api/users",
            None,
            Some(json!({"uid": uid, "email": email, "password": password})),
        );
        r.await.problem(400);
    }
    env.register("bob").await.problem(409);
    let big =
        format!("{{\"uid\":\"eve\",\"email\":\"e@example.org\",\"password\":\"{}\"}}", "p".repeat(5000));
    env.send(
        Request::post("/api/users")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(big))
            .unwrap(),
    )
    .await
    .problem(413);
    assert_eq!(env.state.store.list_users().unwrap().len(), users_before);
    assert_eq!(env.outbox().len(), 1);

    // Ciphertexts.
    let good = ciphertext(&env.state, POLICY, &[]);
    let unknown = ciphertext(&env.state, "domain:x@telekom and purpose:y@evil", &[stranger().public_key()]);
    let mut flipped = pbe_core::wire::from_text(&good).unwrap();
    let n = flipped.len();
    flipped[n / 3] ^= 0x55;
    for (body, what) in [
        (Vec::new(), "empty"),
        (b"garbage!".to_vec(), "garbage"),
        (good.as_bytes()[..good.len() / 2].to_vec(), "truncated"),
        (format!("{good}AAAA").into_bytes(), "trailing"),
        (flipped, "bit flip"),
        (unknown.into_bytes(), "unknown authority"),
    ] {
        let r = env.raw(Method::PUT, "/api/pii/lastname", Some(&at), body).await;
        let p = r.problem(400);
        if what == "unknown authority" {
            assert!(p["detail"].as_str().unwrap().contains("evil"), "{p}");
        }
    }
    let huge = "A".repeat(5000);
    env.raw(Method::PUT, "/api/pii/lastname", Some(&at), huge).await.problem(413);

    // Attribute names.
    for name in ["..%2Fx", "%3Cx%3E", &"a".repeat(65), "LastName", "a%20b", "%2E%2E"] {
        env.raw(Method::PUT, &format!("/api/pii/{name}"), Some(&at), good.clone()).await.problem(400);
    }
    assert!(env.state.store.list_pii("bob").unwrap().is_empty());

    // Unknown endpoint.
    env.call(Method::GET, "/api/nothing", None, None).await.problem(404);
}

fn sp_json(entity_id: &str) -> Value {
    json!({
        "entity_id": entity_id,
        "acs_urls": ["https://shop.example/saml/acs"],
        "pbe": {
            "tat_public_key": tat_key(),
            "visitor_entity_id": "https://visitor.example",
            "visitor_token_endpoint": "https://visitor.example/oauth2/token",
            "domain": "amazon",
            "country": "eu"
        }
    })
}

#[tokio::test]
async fn admin_api_needs_the_admin_token() {
    let env = env();
    let r = env.call(Method::GET, "/admin/sps", None, None).await;
    r.problem(401);
    env.call(Method::GET, "/admin/sps", Some("wrong-token-wrong-token-wrong-token"), None).await.problem(401);
    env.call(Method::GET, "/admin/sps", Some(&ADMIN[..ADMIN.len() - 1]), None).await.problem(401);
    // A user's API token is not an admin token.
    let at = env.verified_user("bob").await;
    env.call(Method::GET, "/admin/sps", Some(&at), None).await.problem(401);
    assert_eq!(env.call(Method::GET, "/admin/sps", Some(ADMIN), None).await.status, StatusCode::OK);

    let disabled = env_with(|c| c.admin_token = None);
    let p = disabled.call(Method::GET, "/admin/sps", Some(ADMIN), None).await.problem(404);
    assert!(p["detail"].as_str().unwrap().contains("admin_token"));
}

#[tokio::test]
async fn admin_manages_service_providers_and_groups() {
    let env = env();
    let id = "https://shop.example/saml/metadata";
    let enc = "https%3A%2F%2Fshop.example%2Fsaml%2Fmetadata";
    let a = Some(ADMIN);
    assert_eq!(env.call(Method::POST, "/admin/sps", a, Some(sp_json(id))).await.status, StatusCode::CREATED);
    env.call(Method::POST, "/admin/sps", a, Some(sp_json(id))).await.problem(409);
    let r = env.call(Method::GET, &format!("/admin/sps/{enc}"), a, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["pbe"]["domain"], "amazon");
    assert_eq!(
        env.call(Method::PUT, &format!("/admin/sps/{enc}"), a, Some(sp_json(id))).await.status,
        StatusCode::OK
    );
    env.call(Method::PUT, &format!("/admin/sps/{enc}"), a, Some(sp_json("https://other.example")))
        .await
        .problem(400);

    // A plain SAML SP (no PBE part) is fine.
    let plain = json!({"entity_id": "plain-sp", "acs_urls": ["http://127.0.0.1:9000/acs"]});
    assert_eq!(
        env.call(Method::PUT, "/admin/sps/plain-sp", a, Some(plain)).await.status,
        StatusCode::CREATED
    );

    // Bad registrations.
    let mut bad = Vec::new();
    for (path, value) in [
        ("/acs_urls", json!(["/saml/acs"])),
        ("/acs_urls", json!(["ftp://shop.example/acs"])),
        ("/acs_urls", json!([])),
        ("/acs_urls", json!(["https://user:pw@shop.example/acs"])),
        ("/pbe/tat_public_key", json!("bm90IGEga2V5")),
        ("/pbe/tat_public_key", json!("<x/>")),
        ("/pbe/domain", json!("Amazon!")),
        ("/pbe/country", json!("e u")),
        ("/pbe/visitor_token_endpoint", json!("token")),
        ("/entity_id", json!("")),
        ("/authn_request_cert_pem", json!("not a certificate")),
        ("/unknown_field", json!(1)),
    ] {
        let mut sp = sp_json("https://bad.example");
        let (parent, key) = path.rsplit_once('/').unwrap();
        let target = if parent.is_empty() { &mut sp } else { sp.pointer_mut(parent).unwrap() };
        target[key] = value;
        bad.push(sp);
    }
    bad.push(json!({"entity_id": "x"}));
    for sp in bad {
        let r = env.call(Method::POST, "/admin/sps", a, Some(sp.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{sp}: {}", String::from_utf8_lossy(&r.body));
        r.problem(400);
    }
    let list = env.call(Method::GET, "/admin/sps", a, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);

    assert_eq!(
        env.call(Method::DELETE, &format!("/admin/sps/{enc}"), a, None).await.status,
        StatusCode::NO_CONTENT
    );
    env.call(Method::GET, &format!("/admin/sps/{enc}"), a, None).await.problem(404);
    env.call(Method::DELETE, &format!("/admin/sps/{enc}"), a, None).await.problem(404);

    // Groups.
    assert_eq!(env.register("bob").await.status, StatusCode::CREATED);
    let r =
        env.call(Method::PUT, "/admin/users/bob/groups", a, Some(json!(["staff", "admins", "staff"]))).await;
    assert_eq!(r.json(), json!(["admins", "staff"]));
    assert_eq!(
        env.call(Method::GET, "/admin/users/bob/groups", a, None).await.json(),
        json!(["admins", "staff"])
    );
    assert_eq!(env.state.store.get_user("bob").unwrap().unwrap().groups, vec!["admins", "staff"]);
    for bad in [
        json!(["<x>"]),
        json!([""]),
        json!(["a".repeat(65)]),
        json!((0..65).map(|i| format!("g{i}")).collect::<Vec<_>>()),
        json!("staff"),
    ] {
        env.call(Method::PUT, "/admin/users/bob/groups", a, Some(bad)).await.problem(400);
    }
    env.call(Method::PUT, "/admin/users/nobody/groups", a, Some(json!(["x"]))).await.problem(404);
    env.call(Method::GET, "/admin/users/nobody/groups", a, None).await.problem(404);
    let users = env.call(Method::GET, "/admin/users", a, None).await.json();
    assert_eq!(users[0]["uid"], "bob");
    assert!(users[0].get("password_hash").is_none());
}

#[tokio::test]
async fn authority_keys_health_and_static_sps() {
    let env = env_with(|c| {
        c.service_providers =
            vec![super::harness::plain_sp("https://static.example", "https://static.example/acs")]
    });
    let r = env.call(Method::GET, "/pbe/authority", None, None).await.json();
    assert_eq!(r["suite"], "bls12-381");
    assert_eq!(r["authority"], "telekom");
    assert_eq!(r["public_key"], env.state.keys.authority_public_key_text());
    let r = env.call(Method::GET, "/pbe/authorities", None, None).await.json();
    let names: Vec<_> = r["authorities"].as_array().unwrap().iter().map(|a| a["authority"].clone()).collect();
    assert_eq!(names, vec![json!("amazon"), json!("telekom")]);
    assert_eq!(env.call(Method::GET, "/healthz", None, None).await.json()["status"], "ok");
    assert!(env.state.store.get_sp("https://static.example").unwrap().is_some());
}

#[tokio::test]
async fn acknowledged_writes_survive_a_restart() {
    let env = env();
    let at = env.verified_user("bob").await;
    let ct = ciphertext(&env.state, POLICY, &[]);
    assert_eq!(env.raw(Method::PUT, "/api/pii/lastname", Some(&at), ct).await.status, StatusCode::CREATED);
    assert_eq!(
        env.call(Method::POST, "/admin/sps", Some(ADMIN), Some(sp_json("https://shop.example"))).await.status,
        StatusCode::CREATED
    );
    let Env { _dir, data, state, clock, app } = env;
    drop(app);
    drop(state);

    let state = state_for(&data, base_config(&data), clock.clone());
    let app = idp_home::http::app(state.clone());
    let env = Env { _dir, data, state, clock, app };
    assert!(env.state.store.get_user("bob").unwrap().unwrap().verified);
    assert!(env.state.store.get_sp("https://shop.example").unwrap().is_some());
    let r = env.call(Method::GET, "/api/pii", Some(&at), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()[0]["attribute"], "lastname");
}

#[test]
fn configuration_errors_name_the_key() {
    let key = pbe_core::wire::to_text(&visitor().public_key().to_bytes());
    let cases: Vec<(String, &str)> = vec![
        ("listen = \"nope\"".into(), "listen"),
        ("public_url = \"idp.example\"".into(), "public_url"),
        ("public_url = \"ftp://idp.example\"".into(), "public_url"),
        ("authority = \"Tele kom\"".into(), "authority"),
        ("suite = \"p256\"".into(), "suite"),
        ("admin_token = \"short\"".into(), "admin_token"),
        ("max_body_bytes = 10".into(), "max_body_bytes"),
        ("session_lifetime_minutes = 0".into(), "session_lifetime_minutes"),
        ("unknown_key = 1".into(), "unknown_key"),
        ("[[service_providers]]\nentity_id = \"a\"\nacs_urls = [\"/acs\"]".into(), "acs_urls[0]"),
        ("[[service_providers]]\nentity_id = \"a\"\nacs_urls = [\"https://a/acs\"]\ncolour = 1".into(), "colour"),
        (
            "[[service_providers]]\nentity_id = \"a\"\nacs_urls = [\"https://a/acs\"]\n\
             [[service_providers]]\nentity_id = \"a\"\nacs_urls = [\"https://a/acs\"]"
                .into(),
            "duplicate",
        ),
        (
            "[[service_providers]]\nentity_id = \"a\"\nacs_urls = [\"https://a/acs\"]\n[service_providers.pbe]\n\
             tat_public_key = \"AAAA\"\nvisitor_entity_id = \"v\"\nvisitor_token_endpoint = \"https://v/t\"\n\
             domain = \"d\"\ncountry = \"c\""
                .into(),
            "tat_public_key",
        ),
        ("[[visitor_authorities]]\nname = \"amazon\"\npublic_key = \"garbage\"".into(), "public_key"),
        (format!("[[visitor_authorities]]\nname = \"other\"\npublic_key = \"{key}\""), "'amazon'"),
        (format!("[[visitor_authorities]]\nname = \"telekom\"\npublic_key = \"{key}\""), "public_key"),
        (format!("[[visitor_authorities]]\nname = \"amazon\"\npublic_key = \"{key}\"\nurl = \"https://v/pbe/authority\""), "not both"),
        ("[[visitor_authorities]]\nname = \"amazon\"\nurl = \"mailto:x\"".into(), "http or https"),
        ("[[visitor_authorities]]\nname = \"amazon\"".into(), "required"),
        ("listen = ".into(), "<string>"),
    ];
    for (text, expected) in cases {
        let err = Config::from_toml(&text).expect_err(&text).to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
    let ok =
        Config::from_toml(&format!("[[visitor_authorities]]\nname = \"amazon\"\npublic_key = \"{key}\""))
            .unwrap();
    assert_eq!(ok.visitor_authorities.len(), 1);
}

#[test]
fn config_load_reads_files_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home.toml");
    std::fs::write(&path, "authority = \"telekom\"\n").unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.entity_id, "http://127.0.0.1:8081");
    let err = Config::load(&dir.path().join("missing.toml")).unwrap_err().to_string();
    assert!(err.contains("missing.toml"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/home.toml");
    Config::load(&example).unwrap();
}

#[tokio::test]
async fn app_state_open_uses_the_data_dir_and_checks_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("home");
    std::fs::create_dir_all(&data).unwrap();
    for name in ["saml-signing.key", "saml-signing.crt.pem", "abe-telekom.msk"] {
        std::fs::copy(key_files().join(name), data.join(name)).unwrap();
    }
    let clock = Arc::new(ManualClock::new(T0));
    let state = AppState::open(base_config(&data), clock.clone()).unwrap();
    assert!(data.join("db").is_dir());
    assert_eq!(state.federation.len(), 2);
    drop(state);
    // A configured suite that does not match the key material is refused.
    let mut config = base_config(&data);
    config.suite = pbe_core::SuiteId::Bn254;
    config.visitor_authorities.clear();
    assert!(AppState::open(config, clock).is_err());
}

/// Issue 14, item 5: guesses spread over many addresses never meet a per-(uid, address) limit,
/// but the global per-uid ceiling stops them after `uid_ceiling().lock_after` failures — and
/// then locks the uid for everyone (the documented trade-off).
#[tokio::test]
async fn edge_a_global_per_uid_ceiling_bounds_distributed_guessing() {
    let env = env();
    env.verified_user("bob").await;
    let ceiling = idp_home::throttle::uid_ceiling();
    let mut evaluated = 0u32;
    for i in 1u32.. {
        let addr = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let r = env.token_from("bob", "wrong password!!", addr).await;
        match r.status {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: i64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
                if wait > 60 {
                    assert_eq!(wait, ceiling.lock_seconds);
                    break;
                }
                env.clock.advance(wait);
            }
            other => panic!("unexpected {other}"),
        }
        assert!(evaluated <= ceiling.lock_after);
    }
    assert_eq!(evaluated, ceiling.lock_after);
    env.token_from("bob", PASSWORD, [192, 0, 2, 7]).await.problem(429);
    env.clock.advance(ceiling.lock_seconds);
    assert_eq!(env.token_from("bob", PASSWORD, [192, 0, 2, 7]).await.status, StatusCode::OK);
}

/// Issue 14, item 4: over https the sign-in cookies carry the `__Host-` prefix (Secure,
/// `Path=/`, no Domain), and the form is accepted with that cookie.
#[tokio::test]
async fn edge_https_cookies_use_the_host_prefix() {
    use base64::Engine as _;
    use std::io::Write as _;
    let env = env_with(|c| {
        c.service_providers =
            vec![super::harness::plain_sp("https://static.example", "https://static.example/acs")]
    });
    env.verified_user("bob").await;
    let request = "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
        xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r\" Version=\"2.0\" \
        IssueInstant=\"2025-10-09T12:00:00Z\"><saml:Issuer>https://static.example</saml:Issuer></samlp:AuthnRequest>";
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(request.as_bytes()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
    let query: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("SAMLRequest", &encoded).finish();
    let r = env.send(Request::get(format!("/saml/sso?{query}")).body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-idaas_login="), "{set}");
    assert!(set.contains("; Path=/;") && set.contains("Secure") && !set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = String::from_utf8_lossy(&r.body).into_owned();
    let start = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let form = format!(
        "csrf={csrf}&uid=bob&password={}",
        url::form_urlencoded::byte_serialize(PASSWORD.as_bytes()).collect::<String>()
    );
    let post = |cookie: String| {
        Request::post("/saml/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(form.clone()))
            .unwrap()
    };
    // The bare name is not the IdP's cookie over https.
    let r = env.send(post(cookie.replacen("__Host-", "", 1))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env.send(post(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let cookies: Vec<_> =
        r.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-idaas_idp_session=")
            && c.contains("; Path=/;")
            && c.contains("Secure")),
        "{cookies:?}"
    );
}

/// Attribute names that differ only in `_` and `-` are one HTTP header at a web agent: the
/// second is refused (409) rather than silently shadowing the first; replacing the same name
/// and deleting then re-using the other spelling still work.
#[tokio::test]
async fn pii_names_that_fold_to_the_same_header_are_refused() {
    let env = env();
    let at = env.verified_user("bob").await;
    let ct = ciphertext(&env.state, POLICY, &[]);
    let r = env.raw(Method::PUT, "/api/pii/home_address", Some(&at), ct.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = env.raw(Method::PUT, "/api/pii/home-address", Some(&at), ct.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("home_address"));
    // Nothing was stored by the refused upload.
    let list = env.call(Method::GET, "/api/pii", Some(&at), None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The same name is replaced as before.
    let r = env.raw(Method::PUT, "/api/pii/home_address", Some(&at), ct.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    // After deleting it, the other spelling is free.
    assert_eq!(
        env.call(Method::DELETE, "/api/pii/home_address", Some(&at), None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = env.raw(Method::PUT, "/api/pii/home-address", Some(&at), ct).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

/// The per-user cap holds under parallel uploads: 16 threads race to add 80 distinct
/// attributes; exactly `MAX_PII_PER_USER` are stored and every other upload is `TooMany`.
/// (Without the one-writer lock this fails about one run in three on 2 cores: the race needs
/// two check-then-insert windows to overlap at the cap.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pii_cap_holds_under_parallel_uploads() {
    use idp_home::service::vault::{put_pii, PiiError, MAX_PII_PER_USER};
    let env = env();
    let _ = env.verified_user("bob").await;
    let ct = ciphertext(&env.state, POLICY, &[]);
    let state = env.state.clone();
    let refused = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..16 {
            let (state, ct, refused) = (&state, &ct, &refused);
            s.spawn(move || {
                for i in 0..5 {
                    match put_pii(state, "bob", &format!("attr{t}x{i}"), ct.as_bytes(), 0) {
                        Ok(_) => {}
                        Err(PiiError::TooMany) => {
                            refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(e) => panic!("unexpected: {e}"),
                    }
                }
            });
        }
    });
    assert_eq!(idp_home::service::vault::list_pii(&state, "bob").unwrap().len(), MAX_PII_PER_USER);
    assert_eq!(refused.into_inner(), 80 - MAX_PII_PER_USER);
}

impl Env {
    async fn xml(&self, method: Method, uri: &str, content_type: &str, body: impl Into<Body>) -> Reply {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.send(req).await
    }
}

/// SP metadata as python3-saml writes it (federation/tests/data).
const SP_METADATA: &str = include_str!("../../../federation/tests/data/sp-metadata-python3-saml.xml");

#[tokio::test]
async fn service_providers_register_from_their_metadata() {
    let env = env();
    let id = "https://peer-onelogin.example/sp";
    let r = env.xml(Method::POST, "/admin/sps", "application/samlmetadata+xml", SP_METADATA).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let sp = r.json();
    assert_eq!(sp["entity_id"], id);
    assert_eq!(sp["acs_urls"], json!(["http://127.0.0.1:1/onelogin/acs"]));
    assert_eq!(sp["release"], json!(["email", "groups"]), "mail and isMemberOf were requested");
    assert_eq!((sp["attribute_names"].as_str(), sp["sign"].as_str()), (Some("standard"), Some("both")));
    assert!(sp["authn_request_cert_pem"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(sp["pbe"].is_null(), "metadata never makes a PBE service");
    assert_eq!(sp["authn_requests_signed"], true, "the metadata says AuthnRequestsSigned=\"true\"");
    // Without AuthnRequestsSigned the certificate serves single logout only.
    let relaxed = SP_METADATA.replace("AuthnRequestsSigned=\"true\"", "").replace("peer-onelogin", "relaxed");
    let r = env.xml(Method::POST, "/admin/sps", "application/samlmetadata+xml", relaxed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["authn_requests_signed"], false);
    assert!(r.json()["authn_request_cert_pem"].is_string());
    // The same document again is a conflict; PUT with XML replaces; the path must match.
    let path = format!("/admin/sps/{}", id.replace(':', "%3A").replace('/', "%2F"));
    env.xml(Method::POST, "/admin/sps", "text/xml; charset=utf-8", SP_METADATA).await.problem(409);
    assert_eq!(env.xml(Method::PUT, &path, "application/xml", SP_METADATA).await.status, StatusCode::OK);
    env.xml(Method::PUT, "/admin/sps/other", "application/xml", SP_METADATA).await.problem(400);

    // Hostile and broken documents: a 400 naming the reason, and nothing stored.
    let before = env.state.store.list_sps().unwrap();
    let doctype = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{SP_METADATA}");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "not well-formed"),
        (b"<md:EntityDescriptor".to_vec(), "not well-formed"),
        (doctype.into_bytes(), "DOCTYPE"),
        (SP_METADATA.replace("SPSSODescriptor", "IDPSSODescriptor").into_bytes(), "SPSSODescriptor"),
        (SP_METADATA.replace("http://127.0.0.1:1/onelogin/acs", "/relative").into_bytes(), "acs_urls[0]"),
        (vec![0xff, 0xfe, b'<'], "UTF-8"),
    ];
    for (body, why) in cases {
        let r = env.xml(Method::POST, "/admin/sps", "application/samlmetadata+xml", body).await;
        let p = r.problem(400);
        assert!(p["detail"].as_str().unwrap().contains(why), "{why}: {p}");
    }
    assert_eq!(env.state.store.list_sps().unwrap(), before);
    // Larger than the body limit: 413 before parsing.
    let huge = format!("{SP_METADATA}{}", " ".repeat(2 << 20));
    env.xml(Method::POST, "/admin/sps", "application/samlmetadata+xml", huge).await.problem(413);
    // Neither JSON nor XML: 415.
    env.xml(Method::POST, "/admin/sps", "text/plain", SP_METADATA).await.problem(415);
    // Without the admin token nothing is parsed at all.
    let anonymous = Request::post("/admin/sps")
        .header(header::CONTENT_TYPE, "application/samlmetadata+xml")
        .body(Body::from(SP_METADATA))
        .unwrap();
    assert_eq!(env.send(anonymous).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_signing_shape_and_attribute_names_are_registered_per_sp() {
    let env = env();
    let mut sp = sp_json("https://short.example");
    sp["attribute_names"] = json!("short");
    sp["sign"] = json!("assertion");
    let r = env.call(Method::POST, "/admin/sps", Some(ADMIN), Some(sp)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        (r.json()["attribute_names"].as_str(), r.json()["sign"].as_str()),
        (Some("short"), Some("assertion"))
    );
    for (key, bad) in [("sign", json!("neither")), ("attribute_names", json!("long")), ("sign", json!(1))] {
        let mut sp = sp_json("https://bad.example");
        sp[key] = bad;
        env.call(Method::POST, "/admin/sps", Some(ADMIN), Some(sp)).await.problem(400);
    }
    // A PBE service exchanges its assertion (RFC 7522): the Assertion must be signed.
    let mut pbe = sp_json("https://pbe.example");
    pbe["pbe"] = json!({"tat_public_key": tat_key(), "visitor_entity_id": "https://v.example",
        "visitor_token_endpoint": "https://v.example/oauth2/token", "domain": "amazon", "country": "eu"});
    pbe["sign"] = json!("response");
    let p = env.call(Method::POST, "/admin/sps", Some(ADMIN), Some(pbe.clone())).await.problem(400);
    assert!(p["detail"].as_str().unwrap().contains("sign"), "{p}");
    pbe["sign"] = json!("both");
    assert_eq!(
        env.call(Method::POST, "/admin/sps", Some(ADMIN), Some(pbe)).await.status,
        StatusCode::CREATED
    );
}

/// Issue 18: the IdP's optional logo is served by the IdP itself and shown on its pages (images
/// from its own origin only); a browser that opens a JSON API gets a page for its problem, an
/// API client the problem document.
#[tokio::test]
async fn the_logo_is_served_here_and_api_problems_are_pages_for_browsers() {
    let logo_dir = tempfile::tempdir().unwrap();
    let logo = logo_dir.path().join("logo.png");
    std::fs::write(&logo, b"\x89PNG\r\n\x1a\n0000").unwrap();
    let env = env_with(|c| c.logo_file = Some(logo.clone()));
    let html = |uri: &str| Request::get(uri).header(header::ACCEPT, "text/html").body(Body::empty()).unwrap();
    let r = env.send(html("/.idaas/logo")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(&r.body[..4], b"\x89PNG");
    let r = env.send(html("/register")).await;
    let page = String::from_utf8_lossy(&r.body);
    assert!(page.contains("<header class=\"brand\"><img src=\"/.idaas/logo\" alt=\"\">"), "{page}");
    assert!(r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("img-src 'self'"));

    // Without a logo, its path is an unknown page.
    assert_eq!(env_with(|_| {}).send(html("/.idaas/logo")).await.status, StatusCode::NOT_FOUND);

    // A browser opening an API: a page with a way on; an API client: the problem document.
    let r = env.send(html("/api/pii")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(String::from_utf8_lossy(&r.body).contains("<nav class=\"actions\">"));
    env.call(Method::GET, "/api/pii", None, None).await.problem(401);
}
