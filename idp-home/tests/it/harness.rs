//! One home IdP over a real listener, for the test modules that need the IdP alone (no
//! visitor authorities, no PII world: those use [`super::sso::Stack`]). Each module says
//! what it changes in the configuration and which users it stores; the rest (a temporary data
//! directory, an ephemeral port, a manual clock, sled) is the same everywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::{Arc, OnceLock};

use idp_home::config::{Config, SpConfig};
use idp_home::keys::Keys;
use idp_home::model::User;
use idp_home::state::AppState;
use idp_home::store::SledStore;
use service_kit::ManualClock;

/// The clock's start (2025-10-09 12:00 UTC).
pub(crate) const T0: i64 = 1_760_011_200;
/// Every stored user's password.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A running home IdP; dropping it stops the listener.
pub(crate) struct Idp {
    _dir: tempfile::TempDir,
    pub(crate) base: String,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) state: AppState,
    /// The IdP's SAML signing certificate (PEM), for the `xmlsec1` checks.
    pub(crate) cert_pem: String,
    /// A client without cookies, for the JSON APIs.
    pub(crate) http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Idp {
    /// `path` on this IdP.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A plain SAML 2.0 service (no PBE part) with one ACS URL, `groups` released under the
/// standard names, everything else as the registration defaults it.
pub(crate) fn plain_sp(entity_id: &str, acs: &str) -> SpConfig {
    SpConfig {
        entity_id: entity_id.into(),
        acs_urls: vec![acs.into()],
        authn_request_cert_pem: None,
        pbe: None,
        release: vec!["groups".into()],
        attribute_names: Default::default(),
        sign: Default::default(),
        authn_requests_signed: true,
        display_name: None,
        purposes: Vec::new(),
        slo: None,
        consent: None,
        require_mfa: false,
    }
}

/// A verified user `uid` (`uid@example.org`) in `groups`, with [`PASSWORD`] and no second
/// factor. The argon2id hash is computed once per test binary.
pub(crate) fn user(uid: &str, groups: &[&str]) -> User {
    static HASH: OnceLock<String> = OnceLock::new();
    let hash = HASH.get_or_init(|| {
        idp_home::service::passwords::hash_password(&idp_home::service::passwords::Password::new(PASSWORD))
            .unwrap()
    });
    User {
        uid: uid.into(),
        email: format!("{uid}@example.org"),
        password_hash: hash.clone(),
        verified: true,
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        created: T0,
        security: Default::default(),
        grants: Vec::new(),
    }
}

/// Starts an IdP whose configuration is the default one on a fresh data directory and port,
/// changed by `change` (which may also rename `public_url`, e.g. to `localhost`), with
/// `users` stored.
pub(crate) async fn start(change: impl FnOnce(&mut Config), users: Vec<User>) -> Idp {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("home");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config =
        Config { data_dir: data.clone(), public_url: base.clone(), entity_id: base, ..Config::default() };
    change(&mut config);
    let base = config.public_url.clone();
    std::fs::create_dir_all(&data).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let keys = Keys::load_or_create(&data, "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
    let b64 = keys.signing_cert_base64();
    let lines: Vec<String> =
        b64.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    let cert_pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"));
    let store = SledStore::open(&data.join("db")).unwrap();
    let state = AppState::new(config, Arc::new(store), clock.clone(), Arc::new(keys)).unwrap();
    for u in &users {
        state.store.put_user(u).unwrap();
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(idp_home::serve(state.clone(), listener, async {
        let _ = rx.await;
    }));
    Idp { _dir: dir, base, clock, state, cert_pem, http: reqwest::Client::new(), stop: Some(tx) }
}
