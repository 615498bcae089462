//! Short-lived upload tokens over a real listener (issue 20, item 3): uploading or deleting
//! PII needs a token from `POST /api/upload-token` (password, plus a code for a user with an
//! authenticator app) issued within `upload_token_minutes`; the long-lived API token only
//! reads; wrong passwords and codes are throttled; a token writes only its own user's vault;
//! at most `MAX_PER_USER` tokens per user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use idp_home::model::TotpFactor;
use idp_home::state::AppState;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::harness::{user, Idp, PASSWORD, T0};

const SECRET: &[u8; 20] = b"12345678901234567890";

/// A home IdP with bob (password only) and carol (a confirmed authenticator, `SECRET`).
async fn start() -> Idp {
    let mut carol = user("carol", &[]);
    carol.security.totp = Some(TotpFactor {
        secret: URL_SAFE_NO_PAD.encode(SECRET),
        confirmed: true,
        created: T0,
        last_step: 0,
        recovery: Vec::new(),
    });
    super::harness::start(|c| c.upload_token_minutes = 5, vec![user("bob", &[]), carol]).await
}

/// A real ciphertext (its content does not matter here: the vault checks only its form).
fn ciphertext(state: &AppState) -> String {
    use pbe_core::{AuthorityPublicKey, Bls12_381Suite as S, Encryptor, Policy};
    let home = AuthorityPublicKey::<S>::from_bytes(
        &pbe_core::wire::from_text(&state.keys.authority_public_key_text()).unwrap(),
    )
    .unwrap();
    let enc = Encryptor::new([&home]).unwrap();
    let policy = Policy::parse("domain:salesforce@telekom").unwrap();
    enc.encrypt(&policy, b"Tri", &mut rand_core::OsRng).unwrap().to_text()
}

impl Idp {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(self.url(path)).json(&body).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn upload_token(&self, uid: &str, code: Option<&str>) -> String {
        let mut body = json!({"uid": uid, "password": PASSWORD});
        if let Some(c) = code {
            body["code"] = c.into();
        }
        let (status, v) = self.post("/api/upload-token", body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    async fn api_token(&self, uid: &str) -> String {
        let (status, v) = self.post("/api/token", json!({"uid": uid, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn put(&self, token: &str, attr: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .put(self.url(&format!("/api/pii/{attr}")))
            .bearer_auth(token)
            .body(ciphertext(&self.state))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, token: &str, attr: &str) -> (StatusCode, Value) {
        let r =
            self.http.delete(self.url(&format!("/api/pii/{attr}"))).bearer_auth(token).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn list(&self, token: &str) -> StatusCode {
        self.http.get(self.url("/api/pii")).bearer_auth(token).send().await.unwrap().status()
    }

    /// Carol's current code (her authenticator's secret is [`SECRET`]).
    fn carols_code(&self) -> String {
        idp_home::service::mfa::code_at(SECRET, service_kit::Clock::now(&*self.clock)).unwrap()
    }
}

fn problem(v: &Value, slug: &str) {
    assert_eq!(v["type"], format!("urn:idaas:problem:{slug}"), "{v}");
}

#[tokio::test]
async fn uploads_need_a_fresh_upload_token_and_the_api_token_only_reads() {
    let idp = start().await;
    let api = idp.api_token("bob").await;

    // The long-lived API token reads, and is refused for writes with a problem that says why.
    assert_eq!(idp.list(&api).await, StatusCode::OK);
    let (status, v) = idp.put(&api, "lastname").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    problem(&v, "upload-token-required");
    assert!(v["detail"].as_str().unwrap().contains("/api/upload-token"), "{v}");
    assert_eq!(idp.delete(&api, "lastname").await.0, StatusCode::FORBIDDEN);

    // A fresh upload token writes, deletes and reads.
    let (status, v) = idp.post("/api/upload-token", json!({"uid": "bob", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["expires_in"], 300);
    assert!(v["expires_at"].as_str().unwrap().starts_with("2025-10-09T12:05:00"), "{v}");
    let upload = v["token"].as_str().unwrap().to_owned();
    assert_eq!(idp.put(&upload, "lastname").await.0, StatusCode::CREATED);
    assert_eq!(idp.put(&upload, "dob").await.0, StatusCode::CREATED);
    assert_eq!(idp.list(&upload).await, StatusCode::OK);
    assert_eq!(idp.delete(&upload, "dob").await.0, StatusCode::NO_CONTENT);
    let stored = idp.state.store.get_upload_token(&idp_home::store::token_hash(&upload)).unwrap().unwrap();
    assert_eq!((stored.uid.as_str(), stored.issued), ("bob", T0), "stored under its hash");

    // Stale: one second before the end it still writes, at the end it is refused.
    idp.clock.advance(5 * 60 - 1);
    assert_eq!(idp.put(&upload, "lastname").await.0, StatusCode::OK);
    idp.clock.advance(1);
    let (status, v) = idp.put(&upload, "lastname").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    problem(&v, "unauthorized");
    assert_eq!(idp.delete(&upload, "lastname").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.state.store.list_pii("bob").unwrap().len(), 1, "lastname is still there");

    // A token writes only its own user's vault: bob's token cannot touch carol's data.
    let code = idp.carols_code();
    let carol = idp.upload_token("carol", Some(&code)).await;
    assert_eq!(idp.put(&carol, "phone").await.0, StatusCode::CREATED);
    let bob = idp.upload_token("bob", None).await;
    assert_eq!(idp.delete(&bob, "phone").await.0, StatusCode::NOT_FOUND, "bob has no phone");
    assert_eq!(idp.put(&bob, "phone").await.0, StatusCode::CREATED, "bob's own phone");
    let carols = idp.state.store.get_pii("carol", "phone").unwrap().unwrap();
    let bobs = idp.state.store.get_pii("bob", "phone").unwrap().unwrap();
    assert_ne!(carols.ciphertext, bobs.ciphertext, "carol's value was not replaced");

    // Bounded: a user holds at most MAX_PER_USER tokens; the oldest goes first.
    idp.clock.advance(1);
    let first = idp.upload_token("bob", None).await;
    for _ in 0..idp_home::service::upload_tokens::MAX_PER_USER {
        idp.clock.advance(1);
        idp.upload_token("bob", None).await;
    }
    assert_eq!(
        idp.state.store.count_upload_tokens("bob").unwrap(),
        idp_home::service::upload_tokens::MAX_PER_USER
    );
    assert_eq!(idp.put(&first, "lastname").await.0, StatusCode::UNAUTHORIZED, "replaced by newer ones");
}

#[tokio::test]
async fn the_upload_token_needs_the_password_and_the_code_and_is_throttled() {
    let idp = start().await;

    // Wrong passwords: refused, then throttled (with Retry-After).
    let mut last = (StatusCode::OK, Value::Null);
    for _ in 0..4 {
        let r = idp.http.post(idp.url("/api/upload-token"));
        let r = r.json(&json!({"uid": "bob", "password": "wrong password!!"})).send().await.unwrap();
        let status = r.status();
        let retry = r.headers().contains_key(RETRY_AFTER);
        last = (status, r.json().await.unwrap());
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry);
            break;
        }
        problem(&last.1, "invalid-credentials");
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
    problem(&last.1, "throttled");
    idp.clock.advance(60);

    // Carol has an authenticator: the password alone is not enough (nothing issued).
    let (status, v) = idp.post("/api/upload-token", json!({"uid": "carol", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    problem(&v, "second-factor-required");
    assert_eq!(idp.state.store.count_upload_tokens("carol").unwrap(), 0);
    // Nor with a wrong password and the right code.
    let body = json!({"uid": "carol", "password": "wrong password!!", "code": idp.carols_code()});
    assert_eq!(idp.post("/api/upload-token", body).await.0, StatusCode::UNAUTHORIZED);
    // A wrong code: refused.
    let body = json!({"uid": "carol", "password": PASSWORD, "code": "000000"});
    let (status, v) = idp.post("/api/upload-token", body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    problem(&v, "invalid-code");
    // The right code: a token; the same code again (replay): refused.
    let code = idp.carols_code();
    let token = idp.upload_token("carol", Some(&code)).await;
    assert_eq!(idp.put(&token, "phone").await.0, StatusCode::CREATED);
    let body = json!({"uid": "carol", "password": PASSWORD, "code": code});
    let (status, v) = idp.post("/api/upload-token", body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed code");
    problem(&v, "invalid-code");

    // Wrong codes are throttled.
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        let body = json!({"uid": "carol", "password": PASSWORD, "code": "000000"});
        let r = idp.http.post(idp.url("/api/upload-token")).json(&body).send().await.unwrap();
        last = r.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key(RETRY_AFTER));
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
