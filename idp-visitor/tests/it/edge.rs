//! Edge hardening of the visitor IdP (issue 14), over a real HTTP listener: anonymous junk does
//! not grow the store, client authentication is reserved before hashing and costs the same
//! for unknown client IDs, a PAT goes only to the client an assertion was made for (or to an
//! explicitly delegated partner, audited), and every public endpoint answers bad input with
//! a clean 4xx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use federation::assertion::{build_signed_response, AttributeValues, Recipient, ResponseParams};
use federation::pat::GRANT_TYPE_SAML2_BEARER;
use federation::testing::{bare_assertion, TestSigner};
use federation::verify::TrustStore;
use idp_visitor::audit::Outcome;
use idp_visitor::config::{ClientConfig, Config, Secret};
use idp_visitor::keys::Keys;
use idp_visitor::store::{SledStore, Store};
use idp_visitor::AppState;
use pbe_core::SuiteId;
use rand_chacha::rand_core::SeedableRng;
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::ManualClock;

const IDP: &str = "https://home.example";
const SHOP_SP: &str = "https://shop.example/saml/metadata";
const DELIVERY_SP: &str = "https://delivery.example/saml/metadata";
const STRANGER_SP: &str = "https://stranger.example/saml/metadata";
const NOW: i64 = 1_795_000_000;
const ADMIN: &str = "admin-token-0123456789abcdef0123456789";
const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123456789";
const DELIVERY_SECRET: &str = "delivery-secret-0123456789abcdef012345";
const STRANGER_SECRET: &str = "stranger-secret-0123456789abcdef01234";

struct Harness {
    base: String,
    http: reqwest::Client,
    state: AppState,
    store: Arc<dyn Store>,
    signer: TestSigner,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn client(id: &str, secret: &str, entity_id: &str, may_exchange_for: &[&str]) -> ClientConfig {
    ClientConfig {
        client_id: id.into(),
        client_secret: Some(Secret::new(secret)),
        name: String::new(),
        purposes: vec!["purpose:current".into(), "purpose:contact".into()],
        pat_public_key: None,
        entity_id: Some(entity_id.into()),
        may_exchange_for: may_exchange_for.iter().map(|s| s.to_string()).collect(),
    }
}

impl Harness {
    async fn start() -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(42);
        let mut config = Config { public_url: base.clone(), entity_id: base.clone(), ..Config::default() };
        config.admin_token = Some(Secret::new(ADMIN));
        config.max_body_bytes = 64 * 1024;
        config.clients = vec![
            client("shop", SHOP_SECRET, SHOP_SP, &[]),
            // shop's propagation partner: may exchange what was made for shop (by client ID).
            client("delivery", DELIVERY_SECRET, DELIVERY_SP, &["shop"]),
            client("stranger", STRANGER_SECRET, STRANGER_SP, &[]),
        ];
        let signer = TestSigner::new(7);
        let mut trust = TrustStore::new();
        trust.insert(IDP, vec![signer.cert_der.clone()]).unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::temporary().unwrap());
        let keys = Arc::new(Keys::ephemeral("salesforce", SuiteId::Bls12_381, rng).unwrap());
        let clock = Arc::new(ManualClock::new(NOW));
        let state = AppState::new(config, store.clone(), clock, keys, trust).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(idp_visitor::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        Harness { base, http, state, store, signer, _stop: stop }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    /// A bare signed assertion for the service `sp` (its audience), base64url.
    fn assertion_for(&self, sp: &str, session: &str) -> String {
        let p = ResponseParams {
            signed_parts: Default::default(),
            issuer: IDP.into(),
            destination: format!("{sp}/acs"),
            in_response_to: Some("_req".into()),
            name_id: "bob".into(),
            recipients: vec![
                Recipient { url: format!("{sp}/acs"), in_response_to: Some("_req".into()) },
                Recipient { url: self.token_endpoint(), in_response_to: None },
            ],
            audiences: vec![sp.into(), self.base.clone()],
            now: NOW,
            lifetime: 300,
            session_index: session.into(),
            session_not_on_or_after: NOW + 8 * 3600,
            authn_instant: NOW,
            attributes: vec![AttributeValues::basic("groups", vec!["customers".into()])],
        };
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(session.len() as u64);
        let signed =
            build_signed_response(&p, &self.signer.key_der, &STANDARD.encode(&self.signer.cert_der), rng)
                .unwrap();
        URL_SAFE_NO_PAD.encode(bare_assertion(&signed.xml))
    }

    async fn exchange(&self, id: &str, secret: &str, assertion: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.token_endpoint())
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", GRANT_TYPE_SAML2_BEARER), ("assertion", assertion)])
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    fn last_audit(&self) -> idp_visitor::audit::AuditEntry {
        self.store.list_audit(0, 100_000).unwrap().pop().unwrap().1
    }
}

/// Item 10: the PAT for an assertion goes to the client whose service is its audience, or to a
/// client explicitly delegated for that service — audited with `delegated_for`; anyone else
/// gets an RFC 6749 `invalid_grant`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_exchange_only_by_the_audience_or_an_audited_delegation() {
    let h = Harness::start().await;
    let for_shop = h.assertion_for(SHOP_SP, "_s-shop");

    // Client B (stranger) presenting A's (shop's) assertion: refused.
    let (status, body) = h.exchange("stranger", STRANGER_SECRET, &for_shop).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("not issued for this client"));
    let entry = h.last_audit();
    assert_eq!((entry.outcome, entry.client_id.as_deref()), (Outcome::Refused, Some("stranger")));
    assert!(entry.client_authenticated);

    // A itself: granted, not a delegation.
    let (status, body) = h.exchange("shop", SHOP_SECRET, &for_shop).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = h.last_audit();
    assert_eq!((entry.outcome, entry.delegated_for.as_deref()), (Outcome::Granted, None));

    // The delegated partner: granted, and the audit says under which delegation.
    let (status, body) = h.exchange("delivery", DELIVERY_SECRET, &for_shop).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = h.last_audit();
    assert_eq!(
        (entry.outcome, entry.client_id.as_deref(), entry.delegated_for.as_deref()),
        (Outcome::Granted, Some("delivery"), Some("shop"))
    );

    // A delegation is one-way: shop may not exchange what was made for delivery.
    let for_delivery = h.assertion_for(DELIVERY_SP, "_s-delivery");
    let (status, body) = h.exchange("shop", SHOP_SECRET, &for_delivery).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // A delegation by entity ID, registered through the admin API, works the same way.
    let r = h
        .http
        .post(format!("{}/admin/clients", h.base))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "client_id": "partner",
            "purposes": ["purpose:contact"],
            "entity_id": "https://partner.example",
            "may_exchange_for": [SHOP_SP],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["may_exchange_for"], serde_json::json!([SHOP_SP]));
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (status, body) = h.exchange("partner", &secret, &for_shop).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.last_audit().delegated_for.as_deref(), Some(SHOP_SP));
}

/// Item 6: 1 000 anonymous junk requests at the token endpoint write nothing; they are counted
/// in memory and shown by /healthz.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_anonymous_junk_does_not_grow_the_store() {
    let h = Harness::start().await;
    let good = h.assertion_for(SHOP_SP, "_s-junk");
    // An authenticated client's refusal is audited (and its secret is remembered from now on).
    let audit0 = h.store.counts().unwrap().audit;
    assert_eq!(h.exchange("stranger", STRANGER_SECRET, &good).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(h.store.counts().unwrap().audit, audit0 + 1);
    let before = h.store.counts().unwrap();
    let mut set = tokio::task::JoinSet::new();
    let mut statuses = Vec::new();
    for i in 0..1000usize {
        if set.len() >= 8 {
            statuses.push(set.join_next().await.unwrap().unwrap());
        }
        let (http, url, good) = (h.http.clone(), h.token_endpoint(), good.clone());
        set.spawn(async move {
            let gt = ("grant_type", GRANT_TYPE_SAML2_BEARER);
            let req = match i % 6 {
                0 => http.post(url).form(&[gt, ("assertion", good.as_str())]),
                1 => http
                    .post(url)
                    .basic_auth(format!("nobody-{i}"), Some("x"))
                    .form(&[gt, ("assertion", good.as_str())]),
                2 => http.post(url).form(&[("grant_type", "password"), ("username", "bob")]),
                3 => http.post(url).header("content-type", "application/json").body("{\"grant_type\":1}"),
                4 => http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(vec![0xff, 0xfe, 0x80]),
                _ => http
                    .post(url)
                    .basic_auth("shop", Some("wrong-secret-0123456789abcdef0123456789"))
                    .form(&[gt]),
            };
            req.send().await.unwrap().status()
        });
    }
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(statuses.len(), 1000);
    assert!(statuses.iter().all(|s| s.is_client_error()), "{statuses:?}");
    let after = h.store.counts().unwrap();
    assert_eq!(
        (after.audit, after.tokens, after.used, after.clients),
        (before.audit, before.tokens, before.used, before.clients),
        "anonymous junk wrote nothing"
    );
    let health: Value = h.http.get(format!("{}/healthz", h.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["refused_unauthenticated"], 1000);
    // The junk locked this address for new client authentications, but a client whose secret
    // was verified before keeps working, and its refusals are still audited.
    let (status, _) = h.exchange("stranger", STRANGER_SECRET, &good).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(h.store.counts().unwrap().audit, before.audit + 1);
}

/// Item 5 (visitor): 40 parallel wrong secrets for one client — reserved before hashing, so at
/// most the free failures are evaluated by argon2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_parallel_client_secret_guesses_are_reserved_before_hashing() {
    let h = Harness::start().await;
    let good = h.assertion_for(SHOP_SP, "_s-race");
    let runs_before = h.state.secrets.argon2_runs();
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (http, url, good, barrier) =
            (reqwest::Client::new(), h.token_endpoint(), good.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            http.post(url)
                .basic_auth("shop", Some(format!("guess-{i:04}-0123456789abcdef0123456789")))
                .form(&[("grant_type", GRANT_TYPE_SAML2_BEARER), ("assertion", good.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    let evaluated = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let waited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(evaluated + waited, 40, "{statuses:?}");
    let free = idp_visitor::throttle::params().free_failures as usize;
    assert!(evaluated <= free, "{evaluated} guesses evaluated, at most {free} may be");
    assert_eq!(
        h.state.secrets.argon2_runs() - runs_before,
        evaluated as u64,
        "argon2 ran once per evaluated guess"
    );
}

/// Item 9 (visitor): an unknown client ID costs the same argon2 verification as a wrong secret
/// for a known one (no timing oracle on which client IDs exist). Checked by counting the
/// verifications, not by timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_unknown_client_ids_go_through_the_same_argon2_verification() {
    let h = Harness::start().await;
    let good = h.assertion_for(SHOP_SP, "_s-timing");
    let runs = || h.state.secrets.argon2_runs();
    let r0 = runs();
    let (status, body) = h.exchange("nobody", "some-secret-0123456789abcdef0123456789", &good).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    assert_eq!(runs() - r0, 1, "an unknown client ID is verified against the dummy hash");
    let r1 = runs();
    let (status, body2) = h.exchange("stranger", "wrong-secret-0123456789abcdef0123456789", &good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(runs() - r1, 1, "a known client ID with a wrong secret: one verification as well");
    assert_eq!(body["error_description"], body2["error_description"], "and the same answer");
    // The right secret is verified once, then remembered (no argon2, no throttle).
    let r2 = runs();
    assert_eq!(h.exchange("shop", SHOP_SECRET, &good).await.0, StatusCode::OK);
    assert_eq!(runs() - r2, 1);
    let again = h.assertion_for(SHOP_SP, "_s-timing2");
    assert_eq!(h.exchange("shop", SHOP_SECRET, &again).await.0, StatusCode::OK);
    assert_eq!(runs() - r2, 1, "remembered");
}

/// "Also": every public endpoint of the visitor IdP answers empty, huge, wrongly typed,
/// non-UTF-8 and oversized-header input with a clean 4xx — never a 5xx, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_every_public_endpoint_answers_bad_input_with_a_clean_4xx() {
    use reqwest::Method;
    let h = Harness::start().await;
    let endpoints: &[(Method, &str, bool)] = &[
        (Method::POST, "/oauth2/token", true),
        (Method::POST, "/oauth2/introspect", true),
        (Method::GET, "/.well-known/oauth-authorization-server", false),
        (Method::GET, "/.well-known/jwks.json", false),
        (Method::GET, "/pbe/authority", false),
        (Method::GET, "/healthz", false),
        (Method::GET, "/admin/clients", false),
        (Method::POST, "/admin/clients", true),
        (Method::GET, "/admin/clients/shop", false),
        (Method::PUT, "/admin/clients/shop", true),
        (Method::DELETE, "/admin/clients/%FF%FE", false),
        (Method::GET, "/admin/audit", false),
        (Method::GET, "/no/such/endpoint", false),
    ];
    federation::testing_bad_input::BadInputSweep {
        endpoints,
        untyped_body: b"grant_type=x",
        invalid_utf8: b"\xff\xfe\xc3(grant_type=\x80",
        long_cookies: &["a"],
        long_auth_schemes: &["Basic", "Bearer"],
        long_query_params: ["after", "limit"],
        invalid_utf8_query: "after=%FF&subject=%C3%28&idp=%80",
    }
    .run(&h.http, &h.base)
    .await;
    let health = h.http.get(format!("{}/healthz", h.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

/// Item 10: the visitor's own entity ID is in every audience it accepts, so it can never be a
/// client's service or delegation (that client would exchange every assertion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_the_visitors_own_name_is_never_a_clients_service() {
    let h = Harness::start().await;
    let for_shop = h.assertion_for(SHOP_SP, "_s-own");
    for body in [
        serde_json::json!({"client_id": "sneaky", "purposes": ["purpose:contact"], "entity_id": h.base}),
        serde_json::json!({"client_id": "sneaky2", "purposes": ["purpose:contact"], "may_exchange_for": [h.base]}),
    ] {
        let r = h
            .http
            .post(format!("{}/admin/clients", h.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        // Registered (the admin API does not know every alias), but never granted.
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        let (id, secret) =
            (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
        let (status, body) = h.exchange(id, secret, &for_shop).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{id}"
        );
    }
    // The configuration refuses it outright.
    let mut config = Config { public_url: h.base.clone(), entity_id: h.base.clone(), ..Config::default() };
    config.clients = vec![client("sneaky", SHOP_SECRET, &h.base, &[])];
    assert!(config.validate().is_err());
}

/// Issue 18: a browser that lands on the visitor IdP gets a page with a way on, an API client
/// a problem document; the shared stylesheet is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_pages_and_api_clients_get_problems() {
    let h = Harness::start().await;
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";
    let get = |path: &str, accept: Option<&str>| {
        let mut r = h.http.get(format!("{}{path}", h.base));
        if let Some(a) = accept {
            r = r.header(reqwest::header::ACCEPT, a);
        }
        r.send()
    };
    for (path, status) in [("/no/such/page", 404), ("/oauth2/token", 405)] {
        let page = get(path, Some(html)).await.unwrap();
        assert_eq!(page.status().as_u16(), status);
        assert_eq!(page.headers()[reqwest::header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.text().await.unwrap().contains("<nav class=\"actions\">"));
        let api = get(path, None).await.unwrap();
        assert_eq!(api.status().as_u16(), status);
        assert_eq!(api.headers()[reqwest::header::CONTENT_TYPE], "application/problem+json");
    }
    let css = get("/.idaas/style.css", None).await.unwrap();
    assert_eq!(css.headers()[reqwest::header::CONTENT_TYPE], "text/css; charset=utf-8");
}
