//! The visitor IdP over a real HTTP listener, driven by reqwest as an OAuth client would:
//! assertions from the home IdP's builder and from the `xmlsec1` command-line tool, the Table 1
//! outcomes with TAT + PAT, and every refusal as an RFC 6749 error with only an audit entry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use federation::assertion::{build_signed_response, xml_time, AttributeValues, Recipient, ResponseParams};
use federation::pat::{pat_info, verify_receipt, GRANT_TYPE_SAML2_BEARER};
use federation::seal::RecipientKey;
use federation::testing::{
    bare_assertion, strip_signature, xmlsec1_sign, Template, TestSigner, RSA_SHA1, RSA_SHA256, SHA1, SHA256,
};
use federation::verify::TrustStore;
use idp_visitor::config::{ClientConfig, Config, Secret};
use idp_visitor::keys::Keys;
use idp_visitor::store::{SledStore, Store};
use idp_visitor::AppState;
use pbe_core::{
    segtree, Attribute, AuthorityPublicKey, AuthoritySecretKey, Bls12_381Suite, Ciphertext, Encryptor, Gid,
    SuiteId, UserKey,
};
use rand_chacha::rand_core::SeedableRng;
use serde_json::Value;
use service_kit::ManualClock;

type S = Bls12_381Suite;

const IDP: &str = "https://home.example";
const SP: &str = "https://shop.example";
const NOW: i64 = 1_795_000_000;
const ADMIN: &str = "admin-token-0123456789abcdef0123456789";
const SHOP_SECRET: &str = "shop-secret-0123456789abcdef0123456789";
const DELIVERY_SECRET: &str = "delivery-secret-0123456789abcdef012345";

struct Harness {
    /// The public URL (the instance's own address, or the load balancer's).
    base: String,
    /// Where this instance listens.
    addr: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    signer: TestSigner,
    shop_key: RecipientKey,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    async fn start() -> Harness {
        Self::start_with(Arc::new(SledStore::temporary().unwrap()), None).await
    }

    /// One instance on `store`; with `public`, an instance behind a load balancer at that URL.
    async fn start_with(store: Arc<dyn Store>, public: Option<&str>) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let base = public.map_or_else(|| addr.clone(), str::to_owned);
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(42);
        let shop_key = RecipientKey::generate(federation::seal::SealSuite::X25519Aes128, rng);
        let mut config = Config { public_url: base.clone(), entity_id: base.clone(), ..Config::default() };
        config.admin_token = Some(Secret::new(ADMIN));
        config.max_body_bytes = 64 * 1024;
        config.clients = vec![
            ClientConfig {
                client_id: "shop".into(),
                client_secret: Some(Secret::new(SHOP_SECRET)),
                name: "Shopping service".into(),
                purposes: vec!["purpose:current".into(), "ppurpose:purchase".into()],
                pat_public_key: Some(shop_key.public_text()),
                entity_id: Some(SP.into()),
                may_exchange_for: Vec::new(),
            },
            ClientConfig {
                client_id: "delivery".into(),
                client_secret: Some(Secret::new(DELIVERY_SECRET)),
                name: "Delivery service".into(),
                purposes: vec![
                    "purpose:current".into(),
                    "purpose:contact".into(),
                    "ppurpose:delivery".into(),
                ],
                pat_public_key: None,
                entity_id: Some("https://delivery.example".into()),
                // The propagation partner of shop (the delegation is what lets it exchange
                // shop's assertions, see the edge tests).
                may_exchange_for: vec!["shop".into()],
            },
        ];
        let signer = TestSigner::new(7);
        let mut trust = TrustStore::new();
        trust.insert(IDP, vec![signer.cert_der.clone()]).unwrap();
        let clock = Arc::new(ManualClock::new(NOW));
        let keys = Arc::new(Keys::ephemeral("salesforce", SuiteId::Bls12_381, rng).unwrap());
        let state = AppState::new(config, store.clone(), clock.clone(), keys, trust).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(idp_visitor::serve(state, listener, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Harness { base, addr, http, clock, store, signer, shop_key, _stop: stop }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.base)
    }

    fn params(&self, session: &str) -> ResponseParams {
        ResponseParams {
            signed_parts: Default::default(),
            issuer: IDP.into(),
            destination: format!("{SP}/saml/acs"),
            in_response_to: Some("_req".into()),
            name_id: "bob".into(),
            recipients: vec![
                Recipient { url: format!("{SP}/saml/acs"), in_response_to: Some("_req".into()) },
                Recipient { url: self.token_endpoint(), in_response_to: None },
            ],
            audiences: vec![SP.into(), self.base.clone()],
            now: self.clock_now(),
            lifetime: 300,
            session_index: session.into(),
            session_not_on_or_after: self.clock_now() + 8 * 3600,
            authn_instant: self.clock_now(),
            attributes: vec![AttributeValues::basic("groups", vec!["customers".into()])],
        }
    }

    fn clock_now(&self) -> i64 {
        use service_kit::Clock as _;
        self.clock.now()
    }

    /// The bare signed assertion, base64url: the RFC 7522 `assertion` parameter.
    fn assertion_with(&self, p: &ResponseParams, key_der: &[u8], cert_der: &[u8]) -> String {
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(p.session_index.len() as u64);
        let signed = build_signed_response(p, key_der, &STANDARD.encode(cert_der), rng).unwrap();
        URL_SAFE_NO_PAD.encode(bare_assertion(&signed.xml))
    }

    fn assertion(&self, session: &str) -> String {
        self.assertion_with(&self.params(session), &self.signer.key_der, &self.signer.cert_der)
    }

    async fn post_form(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(format!("{}/oauth2/token", self.addr)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        (status, headers, res.json().await.unwrap_or(Value::Null))
    }

    async fn exchange_basic(
        &self,
        client: (&str, &str),
        assertion: &str,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.post_form(&[("grant_type", GRANT_TYPE_SAML2_BEARER), ("assertion", assertion)], Some(client))
            .await
    }

    async fn get_json(&self, path: &str, admin: bool) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.addr));
        if admin {
            req = req.bearer_auth(ADMIN);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }
}

/// Table 1 (DESIGN.md §4): bob's three values encrypted under telekom + salesforce + amazon.
struct Table1 {
    home: AuthoritySecretKey<S>,
    cts: Vec<(&'static str, Ciphertext<S>)>,
}

fn table1(visitor_pk: &AuthorityPublicKey<S>, today: u64) -> Table1 {
    let rng = &mut rand_core::OsRng;
    let home = AuthoritySecretKey::<S>::setup("telekom", rng).unwrap();
    let amazon = AuthoritySecretKey::<S>::setup("amazon", rng).unwrap();
    let enc = Encryptor::new([home.public_key(), visitor_pk, amazon.public_key()]).unwrap();
    let cts = pbe_core::disclosure::table1()
        .into_iter()
        .map(|(name, value, rules)| {
            (name, enc.encrypt(&rules.compile("telekom", today).unwrap(), value.as_bytes(), rng).unwrap())
        })
        .collect();
    Table1 { home, cts }
}

impl Table1 {
    /// The TAT the home IdP issues (idp-home's `issue_tat`): today, domain salesforce, country eu.
    fn tat(&self, session: &str, today: u64) -> UserKey<S> {
        let mut attrs = segtree::path_attributes("access_time", "telekom", today).unwrap();
        attrs.push(Attribute::new("domain", "salesforce", "telekom").unwrap());
        attrs.push(Attribute::new("country", "eu", "telekom").unwrap());
        self.home.keygen(&Gid::new("bob", session).unwrap(), &attrs, &mut rand_core::OsRng).unwrap()
    }

    /// Which of lastname, dob, addresses open with TAT + PAT.
    fn opens(&self, tat: &UserKey<S>, pat: &UserKey<S>) -> Vec<bool> {
        self.cts.iter().map(|(_, ct)| ct.decrypt(&[tat, pat]).is_ok()).collect()
    }
}

async fn visitor_public_key(h: &Harness) -> AuthorityPublicKey<S> {
    let (status, v) = h.get_json("/pbe/authority", false).await;
    assert_eq!(status, 200);
    assert_eq!((v["suite"].as_str(), v["authority"].as_str()), (Some("bls12-381"), Some("salesforce")));
    AuthorityPublicKey::from_bytes(&pbe_core::wire::from_text(v["public_key"].as_str().unwrap()).unwrap())
        .unwrap()
}

#[tokio::test]
async fn a_standard_oauth_client_gets_pats_that_open_exactly_table_1() {
    let h = Harness::start().await;
    let today = NOW as u64 / 86_400;
    let t1 = table1(&visitor_public_key(&h).await, today);
    let (_, jwks) = h.get_json("/.well-known/jwks.json", false).await;
    let receipt_key = URL_SAFE_NO_PAD.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();

    // Shopping service, client_secret_basic, PAT sealed for its agent's key.
    let a1 = h.assertion("_s-shop");
    let (status, headers, body) = h.exchange_basic(("shop", SHOP_SECRET), &a1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "ppurpose:purchase purpose:current");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["pat_sealed"], true);
    let opened = h
        .shop_key
        .open(body["purpose_access_token"].as_str().unwrap(), &pat_info("shop", "_s-shop"))
        .unwrap();
    let pat = UserKey::<S>::from_bytes(&opened).unwrap();
    assert_eq!(pat.gid(), &Gid::new("bob", "_s-shop").unwrap());
    assert!(h
        .shop_key
        .open(body["purpose_access_token"].as_str().unwrap(), &pat_info("delivery", "_s-shop"))
        .is_err());
    assert_eq!(t1.opens(&t1.tat("_s-shop", today), &pat), [true, true, false], "shopping: lastname, dob");
    // A TAT of another session does not combine with this PAT.
    assert_eq!(t1.opens(&t1.tat("_s-other", today), &pat), [false, false, false]);
    let receipt = verify_receipt(body["grant_receipt"].as_str().unwrap(), &receipt_key).unwrap();
    assert_eq!(
        (receipt.client_id.as_str(), receipt.sub.as_str(), receipt.sid.as_str()),
        ("shop", "bob", "_s-shop")
    );
    assert_eq!(receipt.purposes, ["ppurpose:purchase", "purpose:current"]);
    let shop_token = body["access_token"].as_str().unwrap().to_owned();

    // Delivery service, client_secret_post, PAT in clear (no key registered).
    let a2 = h.assertion("_s-delivery");
    let (status, _, body) = h
        .post_form(
            &[
                ("grant_type", GRANT_TYPE_SAML2_BEARER),
                ("assertion", &a2),
                ("client_id", "delivery"),
                ("client_secret", DELIVERY_SECRET),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pat_sealed"], false);
    let pat = UserKey::<S>::from_bytes(
        &pbe_core::wire::from_text(body["purpose_access_token"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        t1.opens(&t1.tat("_s-delivery", today), &pat),
        [true, false, true],
        "delivery: lastname, addresses"
    );

    // Replay: the same client cannot exchange an assertion twice; a partner client may
    // (identity propagation), and gets its own purposes only.
    let (status, _, body) = h.exchange_basic(("shop", SHOP_SECRET), &a1).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _, body) = h.exchange_basic(("delivery", DELIVERY_SECRET), &a1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "ppurpose:delivery purpose:contact purpose:current");

    // Introspection: the owner sees its token, another client does not.
    let intro = |id: &'static str, secret: &'static str| {
        let req = h
            .http
            .post(format!("{}/oauth2/introspect", h.base))
            .basic_auth(id, Some(secret))
            .form(&[("token", shop_token.as_str())]);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let v = intro("shop", SHOP_SECRET).await;
    assert_eq!(
        (v["active"].as_bool(), v["client_id"].as_str(), v["sub"].as_str()),
        (Some(true), Some("shop"), Some("bob"))
    );
    assert_eq!(intro("delivery", DELIVERY_SECRET).await["active"], false);

    // The SAML session ends (and the 5-minute assertion has long expired): a PAT without
    // `current`, so dob (and lastname) stay closed for the shopping service.
    let mut p = h.params("_s-short");
    p.session_not_on_or_after = NOW + 600;
    let a3 = h.assertion_with(&p, &h.signer.key_der, &h.signer.cert_der);
    h.clock.advance(2 * 3600);
    let (status, _, body) = h.exchange_basic(("shop", SHOP_SECRET), &a3).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "ppurpose:purchase");
    let opened = h
        .shop_key
        .open(body["purpose_access_token"].as_str().unwrap(), &pat_info("shop", "_s-short"))
        .unwrap();
    let pat = UserKey::<S>::from_bytes(&opened).unwrap();
    assert!(pat.attributes().all(|a| a.to_string() != "purpose:current@salesforce"));
    assert_eq!(t1.opens(&t1.tat("_s-short", today), &pat), [false, false, false]);
    let receipt = verify_receipt(body["grant_receipt"].as_str().unwrap(), &receipt_key).unwrap();
    assert_eq!(receipt.withheld, ["purpose:current"]);

    // 30 days after issue: too old for anything.
    let a4 = h.assertion_with(&h.params("_s-old"), &h.signer.key_der, &h.signer.cert_der);
    h.clock.advance(30 * 86_400);
    let (status, _, body) = h.exchange_basic(("delivery", DELIVERY_SECRET), &a4).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // The audit log: every grant and refusal, no NameID in clear, searchable by subject.
    let (status, log) = h.get_json("/admin/audit?limit=1000", true).await;
    assert_eq!(status, 200);
    let entries = log["entries"].as_array().unwrap();
    let grants = entries.iter().filter(|e| e["entry"]["outcome"] == "granted").count();
    let refusals = entries.iter().filter(|e| e["entry"]["outcome"] == "refused").count();
    assert_eq!((grants, refusals), (4, 2));
    assert!(!log.to_string().contains("\"bob\"") && !log.to_string().contains("_s-shop"));
    let (_, mine) = h.get_json(&format!("/admin/audit?subject=bob&idp={IDP}"), true).await;
    assert_eq!(mine["entries"].as_array().unwrap().len(), 6);
    let (_, other) = h.get_json(&format!("/admin/audit?subject=alice&idp={IDP}"), true).await;
    assert_eq!(other["entries"].as_array().unwrap().len(), 0);
}

fn template(h: &Harness, id: &str, signature_method: &'static str, digest_method: &'static str) -> String {
    Template {
        id: id.into(),
        issuer: IDP.into(),
        name_id: "bob".into(),
        recipient: h.token_endpoint(),
        audience: h.base.clone(),
        now: NOW,
        session_index: format!("{id}-session"),
        signature_method,
        digest_method,
    }
    .to_xml()
    // The audience names the service the assertion is for, too (delivery's entity ID): only
    // that client, or one delegated for it, may exchange it.
    .replacen(
        "</saml:Audience>",
        "</saml:Audience><saml:Audience>https://delivery.example</saml:Audience>",
        1,
    )
}

#[tokio::test]
async fn every_refusal_is_an_rfc6749_error_and_writes_only_an_audit_entry_when_authenticated() {
    let h = Harness::start().await;
    let good = h.assertion("_s-good");
    let token_endpoint = h.token_endpoint();

    // An independent producer: the xmlsec1 CLI with the trusted key. Accepted.
    let cli = xmlsec1_sign(&h.signer, &template(&h, "_cli1", RSA_SHA256, SHA256));
    let (status, _, body) =
        h.exchange_basic(("delivery", DELIVERY_SECRET), &URL_SAFE_NO_PAD.encode(&cli)).await;
    assert_eq!(status, 200, "{body}");

    let other = TestSigner::new(99);
    let b64 = |xml: &str| URL_SAFE_NO_PAD.encode(xml);
    let good_xml = String::from_utf8(URL_SAFE_NO_PAD.decode(&good).unwrap()).unwrap();
    let unsigned = b64(&strip_signature(&good_xml));
    // XSW: the validly signed assertion hidden in the Advice of an unsigned one for mallory.
    let wrapped = b64(&format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_evil" Version="2.0" IssueInstant="{}"><saml:Issuer>{IDP}</saml:Issuer><saml:Subject><saml:NameID>mallory</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{}" Recipient="{token_endpoint}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions><saml:AudienceRestriction><saml:Audience>{}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:Advice>{good_xml}</saml:Advice><saml:AuthnStatement SessionIndex="_evil"/></saml:Assertion>"#,
        xml_time(NOW).unwrap(),
        xml_time(NOW + 300).unwrap(),
        h.base,
    ));
    let mut p = h.params("_s-aud");
    p.audiences = vec![SP.into()];
    let wrong_audience = h.assertion_with(&p, &h.signer.key_der, &h.signer.cert_der);
    let mut p = h.params("_s-rcpt");
    p.recipients.pop();
    let wrong_recipient = h.assertion_with(&p, &h.signer.key_der, &h.signer.cert_der);
    let wrong_signer = h.assertion_with(&h.params("_s-evil"), &other.key_der, &other.cert_der);
    let doctype = b64(&format!("<!DOCTYPE x [<!ENTITY e \"bob\">]>{good_xml}"));
    let sha1 = b64(&xmlsec1_sign(&h.signer, &template(&h, "_cli2", RSA_SHA1, SHA1)));
    let mut p = h.params("_s-future");
    p.now = NOW + 3600;
    let future = h.assertion_with(&p, &h.signer.key_der, &h.signer.cert_der);

    let garbage = b64("garbage");
    let truncated = b64(&good_xml[..good_xml.len() / 2]);
    let basic = Some(("shop", SHOP_SECRET));
    let gt = ("grant_type", GRANT_TYPE_SAML2_BEARER);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("missing grant_type", vec![("assertion", &good)], basic, 400, "invalid_request"),
        (
            "other grant_type",
            vec![("grant_type", "client_credentials"), ("assertion", &good)],
            basic,
            400,
            "unsupported_grant_type",
        ),
        (
            "duplicate assertion",
            vec![gt, ("assertion", &good), ("assertion", &good)],
            basic,
            400,
            "invalid_request",
        ),
        ("duplicate grant_type", vec![gt, gt, ("assertion", &good)], basic, 400, "invalid_request"),
        ("missing assertion", vec![gt], basic, 400, "invalid_request"),
        ("no client authentication", vec![gt, ("assertion", &good)], None, 401, "invalid_client"),
        (
            "wrong secret",
            vec![gt, ("assertion", &good)],
            Some(("shop", "wrong-secret-0123456789abcdef0123456789")),
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            vec![gt, ("assertion", &good)],
            Some(("nobody", SHOP_SECRET)),
            401,
            "invalid_client",
        ),
        (
            "client id without secret",
            vec![gt, ("assertion", &good), ("client_id", "shop")],
            None,
            401,
            "invalid_client",
        ),
        (
            "two auth methods",
            vec![gt, ("assertion", &good), ("client_id", "shop"), ("client_secret", SHOP_SECRET)],
            basic,
            400,
            "invalid_request",
        ),
        ("garbage base64", vec![gt, ("assertion", "!!not base64!!")], basic, 400, "invalid_grant"),
        ("base64 of garbage", vec![gt, ("assertion", &garbage)], basic, 400, "invalid_grant"),
        ("truncated", vec![gt, ("assertion", &truncated)], basic, 400, "invalid_grant"),
        ("unsigned", vec![gt, ("assertion", &unsigned)], basic, 400, "invalid_grant"),
        ("wrong signer", vec![gt, ("assertion", &wrong_signer)], basic, 400, "invalid_grant"),
        ("wrapped signature", vec![gt, ("assertion", &wrapped)], basic, 400, "invalid_grant"),
        ("wrong audience", vec![gt, ("assertion", &wrong_audience)], basic, 400, "invalid_grant"),
        ("wrong recipient", vec![gt, ("assertion", &wrong_recipient)], basic, 400, "invalid_grant"),
        ("doctype", vec![gt, ("assertion", &doctype)], basic, 400, "invalid_grant"),
        ("sha1", vec![gt, ("assertion", &sha1)], basic, 400, "invalid_grant"),
        ("not yet valid", vec![gt, ("assertion", &future)], basic, 400, "invalid_grant"),
        (
            "scope not registered",
            vec![gt, ("assertion", &good), ("scope", "purpose:contact")],
            basic,
            400,
            "invalid_scope",
        ),
    ];
    for (name, form, auth, status, code) in cases {
        let before = h.store.counts().unwrap();
        let (got, headers, body) = h.post_form(&form, auth).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{name}: {body}");
        assert!(body["error_description"].is_string(), "{name}");
        assert_eq!(headers["cache-control"], "no-store", "{name}");
        if status == 401 {
            assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic realm="), "{name}");
        }
        let after = h.store.counts().unwrap();
        // Refusals before the client authenticated are only counted in memory (issue 14,
        // item 6): the form checks that come first, and client authentication itself.
        let anonymous = status == 401
            || matches!(
                name,
                "missing grant_type"
                    | "other grant_type"
                    | "duplicate assertion"
                    | "duplicate grant_type"
                    | "two auth methods"
            );
        assert_eq!(
            (after.tokens, after.used, after.audit),
            (before.tokens, before.used, before.audit + u64::from(!anonymous) as usize),
            "{name}"
        );
    }

    // Not a form; oversized.
    let res = h
        .http
        .post(&token_endpoint)
        .json(&serde_json::json!({"grant_type": GRANT_TYPE_SAML2_BEARER}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request");
    let big = "a".repeat(70 * 1024);
    let (status, _, body) = h.post_form(&[gt, ("assertion", &big)], basic).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("invalid_request")));

    // The good assertion still works after all that (nothing was consumed).
    let (status, _, body) = h.exchange_basic(("shop", SHOP_SECRET), &good).await;
    assert_eq!(status, 200, "{body}");

    // Repeated authentication failures are throttled.
    let mut throttled = false;
    for _ in 0..8 {
        let (status, headers, _) =
            h.exchange_basic(("delivery", "bad-secret-0123456789abcdef0123456789"), &good).await;
        if status == 429 {
            assert!(headers.contains_key("retry-after"));
            throttled = true;
            break;
        }
    }
    assert!(throttled);
}

#[tokio::test]
async fn metadata_admin_api_and_health() {
    let h = Harness::start().await;
    let (status, m) = h.get_json("/.well-known/oauth-authorization-server", false).await;
    assert_eq!(status, 200);
    assert_eq!(m["issuer"], h.base);
    assert_eq!(m["token_endpoint"], h.token_endpoint());
    assert_eq!(m["grant_types_supported"][0], GRANT_TYPE_SAML2_BEARER);
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        h.get_json("/healthz", false).await,
        (200, serde_json::json!({"status": "ok", "refused_unauthenticated": 0}))
    );
    assert_eq!(h.get_json("/nope", false).await.0, 404);

    // Admin: token required.
    assert_eq!(h.get_json("/admin/clients", false).await.0, 401);
    let (status, list) = h.get_json("/admin/clients", true).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains("argon2"));

    let admin =
        |m: reqwest::Method, path: &str| h.http.request(m, format!("{}{path}", h.base)).bearer_auth(ADMIN);
    let created = admin(reqwest::Method::POST, "/admin/clients")
        .json(&serde_json::json!({
            "client_id": "partner",
            "purposes": ["purpose:contact", "ppurpose:delivery"],
            "may_exchange_for": ["shop"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    let again = admin(reqwest::Method::POST, "/admin/clients")
        .json(&serde_json::json!({"client_id": "partner", "purposes": ["purpose:contact"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let bad = admin(reqwest::Method::POST, "/admin/clients")
        .json(&serde_json::json!({"client_id": "x", "purposes": ["domain:salesforce"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    // The new client can use its secret at once.
    let (status, _, body) = h.exchange_basic(("partner", &secret), &h.assertion("_s-partner")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "ppurpose:delivery purpose:contact");
    // Replace without a secret keeps it; delete.
    let put = admin(reqwest::Method::PUT, "/admin/clients/partner")
        .json(&serde_json::json!({"client_id": "partner", "purposes": ["purpose:contact"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let (status, got) = h.get_json("/admin/clients/partner", true).await;
    assert_eq!((status, got["purposes"].clone()), (200, serde_json::json!(["purpose:contact"])));
    assert_eq!(admin(reqwest::Method::DELETE, "/admin/clients/partner").send().await.unwrap().status(), 204);
    assert_eq!(admin(reqwest::Method::DELETE, "/admin/clients/partner").send().await.unwrap().status(), 404);
    let (status, _, body) = h.exchange_basic(("partner", &secret), &h.assertion("_s-partner2")).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

/// Issue 17: two instances of the visitor IdP on one PostgreSQL database, behind one public URL
/// (as a load balancer without sticky sessions would spread requests): an assertion exchanged
/// at one is refused at the other, and both see the same audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_exchange_an_assertion_once() {
    use idp_visitor::store::pg::PgStore;
    let cluster = service_kit::pg::testing::Cluster::start().expect("a throwaway PostgreSQL cluster");
    cluster.create_database("idaas").unwrap();
    let url = cluster.url("idaas");
    let a = Harness::start_with(Arc::new(PgStore::open(&url).unwrap()), None).await;
    let b = Harness::start_with(Arc::new(PgStore::open(&url).unwrap()), Some(&a.base)).await;
    assert_ne!(a.addr, b.addr);
    let assertion = a.assertion("_s-two");
    let (status, _, body) = a.exchange_basic(("shop", SHOP_SECRET), &assertion).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = b.exchange_basic(("shop", SHOP_SECRET), &assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "replayed at the other instance"
    );
    let other = a.assertion("_s-two-b");
    let (status, _, body) = b.exchange_basic(("shop", SHOP_SECRET), &other).await;
    assert_eq!(status, 200, "the other instance grants a fresh assertion: {body}");
    let (status, _, body) = a.exchange_basic(("shop", SHOP_SECRET), &other).await;
    assert_eq!(status, 400, "{body}");
    let counts = (a.store.counts().unwrap(), b.store.counts().unwrap());
    assert_eq!(counts.0, counts.1);
    assert_eq!((counts.0.tokens, counts.0.used), (2, 2), "2 grants");
    assert!(counts.0.audit >= 4, "2 grants and 2 refusals audited in the one log");
    // The client-authentication throttle counts failures at both instances together: the
    // free failures spread over A and B, the next attempt waits at either.
    // Throttle counts are in-memory-class state: their connections do not wait for the WAL
    // flush (docs/operations.md, durability), unlike the records' own pool.
    let pool = a.store.pg_pool().expect("a PostgreSQL store shares its throttle");
    let setting = pool
        .run(|c| async move {
            let row = c.query_one("SHOW synchronous_commit", &[]).await?;
            Ok::<_, service_kit::pg::PgError>(row.get::<_, String>(0))
        })
        .unwrap();
    assert_eq!(setting, "off");
    let free = idp_visitor::throttle::params().free_failures;
    for i in 0..free {
        let h = if i % 2 == 0 { &a } else { &b };
        let (status, _, body) = h.exchange_basic(("shop", "wrong-secret"), &a.assertion("_s-guess")).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{i}");
    }
    for h in [&a, &b] {
        let (status, headers, _) = h.exchange_basic(("shop", "wrong-secret"), &a.assertion("_s-guess")).await;
        assert_eq!(status, 429, "throttled at either instance");
        assert!(headers.contains_key("retry-after"));
    }
}
