//! SAML 2.0 SSO end to end over a real listener, with reqwest as browser and SP: registration
//! and e-mail verification, PII upload through the API, sign-in over the HTTP-Redirect
//! binding, SSO to a second SP over the HTTP-POST binding without a password, a plain SAML SP
//! without PBE, the signature checked by the `xmlsec1` command-line tool against the metadata
//! certificate, the sealed TAT opened with the SP's key and combined with a pbe-core PAT to
//! decrypt the paper's Table 1 — and every kind of bad input at the browser endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::seal::RecipientKey;
use idp_home::config::{Config, PbeConfig, Secret, SpConfig, VisitorAuthority};
use idp_home::keys::Keys;
use idp_home::state::AppState;
use idp_home::store::SledStore;
use pbe_core::disclosure::table1;
use pbe_core::{
    Attribute, AuthorityPublicKey, AuthoritySecretKey, Bls12_381Suite, Ciphertext, Encryptor, Gid, UserKey,
};
use rand_chacha::rand_core::SeedableRng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use service_kit::ManualClock;

type S = Bls12_381Suite;

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;
pub(crate) const ADMIN: &str = "0123456789abcdef0123456789abcdef-admin";
pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const SHOP: &str = "https://shop.example/saml/metadata";
pub(crate) const SHOP_ACS: &str = "https://shop.example/saml/acs";
const DELIVERY: &str = "https://delivery.example/saml/metadata";
const DELIVERY_ACS: &str = "https://delivery.example/saml/acs";
const WIKI: &str = "https://wiki.example/saml/metadata";
const WIKI_ACS: &str = "https://wiki.example/saml/acs";
const VISITOR_ID: &str = "https://salesforce.example";
const TOKEN_ENDPOINT: &str = "https://salesforce.example/oauth2/token";
/// An e-mail address `check_email` accepts that XML must escape.
const AWKWARD_EMAIL: &str = "o'neil&co/x=1?@shop.example";

fn key_files() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        Keys::load_or_create(dir.path(), "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
        dir
    })
    .path()
}

fn authority(name: &'static str, seed: u64) -> AuthoritySecretKey<S> {
    AuthoritySecretKey::setup(name, &mut rand_chacha::ChaCha20Rng::seed_from_u64(seed)).unwrap()
}

/// The visitor IdP's authority (issues PATs) and the second domain of Table 1.
fn salesforce() -> &'static AuthoritySecretKey<S> {
    static K: OnceLock<AuthoritySecretKey<S>> = OnceLock::new();
    K.get_or_init(|| authority("salesforce", 11))
}

fn amazon() -> &'static AuthoritySecretKey<S> {
    static K: OnceLock<AuthoritySecretKey<S>> = OnceLock::new();
    K.get_or_init(|| authority("amazon", 12))
}

fn sp_key(seed: u64) -> RecipientKey {
    RecipientKey::generate(
        federation::seal::SealSuite::X25519Aes128,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(seed),
    )
}

fn pbe_sp(entity_id: &str, acs: &str, key: &RecipientKey) -> SpConfig {
    SpConfig {
        entity_id: entity_id.into(),
        acs_urls: vec![acs.into()],
        authn_request_cert_pem: None,
        release: vec!["groups".into()],
        // The PBE services are registered for the short names (`groups`); the wiki below
        // gets the standard ones.
        attribute_names: idp_home::model::AttributeNames::Short,
        sign: Default::default(),
        authn_requests_signed: true,
        display_name: None,
        purposes: vec!["purpose:current".into(), "ppurpose:purchase".into()],
        slo: None,
        consent: Some(idp_home::model::ConsentMode::Implied),
        require_mfa: false,
        pbe: Some(PbeConfig {
            tat_public_key: key.public_text(),
            visitor_entity_id: VISITOR_ID.into(),
            visitor_token_endpoint: TOKEN_ENDPOINT.into(),
            domain: "salesforce".into(),
            country: "eu".into(),
        }),
    }
}

/// A home IdP served on an ephemeral port.
pub(crate) struct Stack {
    _dir: tempfile::TempDir,
    data: PathBuf,
    pub(crate) base: String,
    clock: Arc<ManualClock>,
    shop_key: RecipientKey,
    delivery_key: RecipientKey,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Stack {
    pub(crate) async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    /// [`Stack::start`] with the configuration changed by `change` first.
    pub(crate) async fn start_with(change: impl FnOnce(&mut Config)) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("home");
        std::fs::create_dir_all(&data).unwrap();
        for name in ["saml-signing.key", "saml-signing.crt.pem", "abe-telekom.msk"] {
            std::fs::copy(key_files().join(name), data.join(name)).unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shop_key, delivery_key) = (sp_key(21), sp_key(22));
        let visitor_authority = |k: &AuthoritySecretKey<S>| VisitorAuthority {
            name: k.name().to_owned(),
            public_key: Some(pbe_core::wire::to_text(&k.public_key().to_bytes())),
            url: None,
        };
        let config = Config {
            data_dir: data.clone(),
            public_url: base.clone(),
            entity_id: base.clone(),
            admin_token: Some(Secret::new(ADMIN)),
            service_providers: vec![
                pbe_sp(SHOP, SHOP_ACS, &shop_key),
                // Registered to have the Response signed too (a PBE SP's default is the
                // Assertion only).
                SpConfig {
                    sign: Some(federation::assertion::SignedParts::Both),
                    ..pbe_sp(DELIVERY, DELIVERY_ACS, &delivery_key)
                },
                SpConfig {
                    entity_id: WIKI.into(),
                    acs_urls: vec![WIKI_ACS.into()],
                    authn_request_cert_pem: None,
                    pbe: None,
                    // The wiki is registered for the e-mail address as well.
                    release: vec!["groups".into(), "email".into()],
                    attribute_names: Default::default(),
                    sign: Default::default(),
                    authn_requests_signed: true,
                    display_name: None,
                    purposes: Vec::new(),
                    slo: None,
                    // The SSO tests look at what is released; consent has its own tests.
                    consent: Some(idp_home::model::ConsentMode::Implied),
                    require_mfa: false,
                },
            ],
            visitor_authorities: vec![visitor_authority(salesforce()), visitor_authority(amazon())],
            ..Config::default()
        };
        let mut config = config;
        change(&mut config);
        let clock = Arc::new(ManualClock::new(T0));
        let keys = Keys::load_or_create(&data, "telekom", pbe_core::SuiteId::Bls12_381).unwrap();
        let store = SledStore::open(&data.join("db")).unwrap();
        let state = AppState::new(config, Arc::new(store), clock.clone(), Arc::new(keys)).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(idp_home::serve(state.clone(), listener, async {
            let _ = rx.await;
        }));
        Stack {
            _dir: dir,
            data,
            base,
            clock,
            shop_key,
            delivery_key,
            state,
            stop: Some(tx),
            server: Some(server),
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data
    }

    pub(crate) fn verification_link_for(&self, uid: &str) -> String {
        self.verification_link(uid)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers `uid`, follows the verification link from the outbox, returns an upload token.
    pub(crate) async fn verified_user(&self, http: &reqwest::Client, uid: &str, email: &str) -> String {
        let r = http
            .post(self.url("/api/users"))
            .json(&json!({"uid": uid, "email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        let link = self.verification_link(uid);
        let r = http.get(link).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        self.upload_token(http, uid).await
    }

    /// An upload token (issue 20): it writes the vault, and reads it too.
    async fn upload_token(&self, http: &reqwest::Client, uid: &str) -> String {
        let r = http
            .post(self.url("/api/upload-token"))
            .json(&json!({"uid": uid, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    fn verification_link(&self, uid: &str) -> String {
        let prefix = self.url("/api/users/verify?token=");
        for entry in std::fs::read_dir(self.data.join("outbox")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            if let (true, Some(start)) = (text.contains(&format!("Hello {uid},")), text.find(&prefix)) {
                return text[start..].lines().next().unwrap().trim().to_owned();
            }
        }
        panic!("no verification mail for {uid}");
    }
}

/// A browser: cookies kept, redirects not followed (the test reads each hop).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub(crate) fn authn_request(issuer: &str, acs: Option<&str>, id: &str) -> String {
    let acs = acs.map(|a| format!(" AssertionConsumerServiceURL=\"{a}\"")).unwrap_or_default();
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"2025-10-09T12:00:00Z\"{acs}><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"
    )
}

pub(crate) fn deflate_b64(xml: &[u8]) -> String {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml).unwrap();
    STANDARD.encode(e.finish().unwrap())
}

pub(crate) fn redirect_query(encoded: &str, relay: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("SAMLRequest", encoded);
    if let Some(r) = relay {
        q.append_pair("RelayState", r);
    }
    q.finish()
}

/// The value of `<input ... name="NAME" value="...">` in an HTML page, HTML-unescaped.
pub(crate) fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// What the test reads from a response (parsed with quick-xml, independent of the IdP).
#[derive(Debug, Default)]
struct Parsed {
    assertion_id: String,
    name_id: String,
    session_index: String,
    audiences: Vec<String>,
    recipients: Vec<String>,
    attributes: BTreeMap<String, Vec<String>>,
    signatures: usize,
    assertions: usize,
}

fn parse(xml: &str) -> Parsed {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut p = Parsed::default();
    let mut path: Vec<String> = Vec::new();
    let mut current_attr = String::new();
    let attr = |e: &quick_xml::events::BytesStart, name: &[u8]| -> Option<String> {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.unescape_value().unwrap().into_owned())
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let local = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                match local.as_str() {
                    "Attribute" => current_attr = attr(&e, b"Name").unwrap(),
                    "AuthnStatement" => p.session_index = attr(&e, b"SessionIndex").unwrap(),
                    "Assertion" => {
                        p.assertions += 1;
                        p.assertion_id = attr(&e, b"ID").unwrap();
                    }
                    "Signature" => p.signatures += 1,
                    _ => {}
                }
                path.push(local);
            }
            Event::Empty(e) => {
                let local = String::from_utf8(e.local_name().as_ref().to_vec()).unwrap();
                if local == "SubjectConfirmationData" {
                    p.recipients.push(attr(&e, b"Recipient").unwrap());
                }
                if local == "AttributeValue" {
                    p.attributes.entry(current_attr.clone()).or_default().push(String::new());
                }
            }
            Event::Text(t) => {
                let text = t.unescape().unwrap().into_owned();
                match path.last().map(String::as_str) {
                    Some("NameID") => p.name_id = text,
                    Some("Audience") => p.audiences.push(text),
                    Some("AttributeValue") => {
                        p.attributes.entry(current_attr.clone()).or_default().push(text)
                    }
                    _ => {}
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    p
}

use federation::assertion::{ATTR_IS_MEMBER_OF, ATTR_MAIL};
use federation::testing::{xmlsec1_verifies, xmlsec1_verifies_element};

/// The signing certificate from the IdP's metadata, as PEM.
async fn metadata_cert(stack: &Stack, http: &reqwest::Client) -> String {
    let md = http.get(stack.url("/saml/metadata")).send().await.unwrap().text().await.unwrap();
    assert!(md.contains(&format!("entityID=\"{}\"", stack.base)));
    assert!(md.contains("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"));
    assert!(md.contains("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));
    let start = md.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = md.find("</ds:X509Certificate>").unwrap();
    let b64 = &md[start..end];
    let lines: Vec<String> =
        b64.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// Stores Table 1 (DESIGN.md §4) for `uid`, encrypted here with keys from `/pbe/authorities`.
pub(crate) async fn upload_table1(stack: &Stack, http: &reqwest::Client, token: &str) {
    let list: Value = http.get(stack.url("/pbe/authorities")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["suite"], "bls12-381");
    let keys: Vec<AuthorityPublicKey<S>> = list["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            AuthorityPublicKey::from_bytes(
                &pbe_core::wire::from_text(a["public_key"].as_str().unwrap()).unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(keys.len(), 3, "telekom, salesforce and amazon");
    let encryptor = Encryptor::with_window(keys.iter(), 4).unwrap();
    let today = (T0 / 86_400) as u64;
    let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(5);
    for (name, value, disclosure) in table1() {
        let policy = disclosure.compile("telekom", today).unwrap();
        let ct = encryptor.encrypt(&policy, value.as_bytes(), rng).unwrap();
        let r = http
            .put(stack.url(&format!("/api/pii/{name}")))
            .bearer_auth(token)
            .body(ct.to_text())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{name}: {}", r.text().await.unwrap());
    }
}

/// Signs in through the login form the IdP answered with; returns the auto-post page.
pub(crate) async fn sign_in(
    stack: &Stack,
    http: &reqwest::Client,
    login_page: &str,
    uid: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = input_value(login_page, "csrf").expect("a CSRF token in the form");
    http.post(stack.url("/saml/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", uid), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The decoded SAMLResponse of an auto-post page, after checking it posts to `acs`.
fn saml_response(page: &str, acs: &str) -> String {
    assert!(page.contains(&format!("action=\"{acs}\"")), "posts to the registered ACS: {page}");
    let b64 = input_value(page, "SAMLResponse").expect("an auto-post form");
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

/// The fetch request for `parsed` as `sp`'s agent sends it.
fn fetch_request(parsed: &Parsed, sp: &str) -> federation::api::PiiFetchRequest {
    federation::api::PiiFetchRequest {
        pii_ref: parsed.attributes["idaas:pii-ref"][0].clone(),
        uid: parsed.name_id.clone(),
        sp: sp.into(),
        session_index: parsed.session_index.clone(),
        assertion_id: parsed.assertion_id.clone(),
        names: parsed.attributes.keys().filter_map(|n| n.strip_prefix("pii:")).map(str::to_owned).collect(),
    }
}

async fn post_fetch(stack: &Stack, body: &Value) -> (StatusCode, Value) {
    let r =
        reqwest::Client::new().post(stack.url(federation::pii::FETCH_PATH)).json(body).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// `POST /pbe/pii/fetch` for `parsed` as `sp`; the sealed answer opened with `key` and checked
/// against the assertion's digests (all must match).
async fn fetch_ciphertexts(
    stack: &Stack,
    parsed: &Parsed,
    sp: &str,
    key: &RecipientKey,
) -> federation::pii::Bundle {
    let (status, answer) = post_fetch(stack, &serde_json::to_value(fetch_request(parsed, sp)).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let answer: federation::api::PiiFetchResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(answer.suite, "bls12-381");
    let info = federation::pii::pii_info(sp, &parsed.session_index, &parsed.assertion_id);
    let bundle = key.open_limited(&answer.sealed, &info, federation::pii::MAX_SEALED).unwrap();
    let digests: BTreeMap<String, String> = parsed
        .attributes
        .iter()
        .filter_map(|(n, v)| n.strip_prefix("pii:").map(|n| (n.to_owned(), v[0].clone())))
        .collect();
    let checked = federation::pii::check_digests(&digests, federation::pii::decode_bundle(&bundle).unwrap());
    assert_eq!((checked.absent, checked.mismatched), (0, 0));
    checked.ciphertexts.into_iter().collect()
}

/// Opens the TAT of `parsed` with `key`, fetches the ciphertexts the assertion's digests name,
/// issues the service's PAT with pbe-core and decrypts every PII attribute; returns name →
/// plaintext for those that opened.
async fn decrypt_all(
    stack: &Stack,
    parsed: &Parsed,
    sp: &str,
    key: &RecipientKey,
    purposes: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let sealed = &parsed.attributes["idaas:tat"][0];
    let info = federation::seal::tat_info(sp, &parsed.session_index);
    let tat = UserKey::<S>::from_bytes(&key.open(sealed, &info).unwrap()).unwrap();
    assert_eq!(tat.gid(), &Gid::new(&parsed.name_id, &parsed.session_index).unwrap());
    // The TAT is sealed to this SP and bound to this session: nobody else opens it.
    assert!(key
        .open(sealed, &federation::seal::tat_info("https://other.example", &parsed.session_index))
        .is_err());
    let gid = Gid::new(&parsed.name_id, &parsed.session_index).unwrap();
    let attrs: Vec<Attribute> =
        purposes.iter().map(|(n, v)| Attribute::new(n, v, "salesforce").unwrap()).collect();
    let pat = salesforce().keygen(&gid, &attrs, &mut rand_chacha::ChaCha20Rng::seed_from_u64(9)).unwrap();
    let mut opened = BTreeMap::new();
    for (attr, bytes) in fetch_ciphertexts(stack, parsed, sp, key).await {
        let ct = Ciphertext::<S>::from_bytes(&bytes).unwrap();
        match ct.decrypt(&[&tat, &pat]) {
            Ok(plain) => {
                opened.insert(attr.to_owned(), String::from_utf8(plain.to_vec()).unwrap());
            }
            Err(pbe_core::Error::Scheme(pbe_core::SchemeError::NotSatisfied { .. })) => {}
            Err(e) => panic!("{attr}: {e}"),
        }
    }
    opened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_once_then_sso_to_three_service_providers() {
    let stack = Stack::start().await;
    let http = browser();
    let token = stack.verified_user(&http, "bob", AWKWARD_EMAIL).await;
    upload_table1(&stack, &http, &token).await;
    let r = http
        .put(stack.url("/admin/users/bob/groups"))
        .bearer_auth(ADMIN)
        .json(&json!(["customers", "staff"]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let cert = metadata_cert(&stack, &http).await;

    // (1) The shopping service sends bob over the HTTP-Redirect binding; RelayState is kept.
    let query = redirect_query(
        &deflate_b64(authn_request(SHOP, Some(SHOP_ACS), "_req1").as_bytes()),
        Some("/cart?x=<1>"),
    );
    let r = http.get(stack.url(&format!("/saml/sso?{query}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let login = r.text().await.unwrap();
    assert!(login.contains("<form method=\"post\" action=\"/saml/login\">"));
    // A wrong password keeps the form, with a message that does not say which part was wrong.
    let r = sign_in(&stack, &http, &login, "bob", "wrong password, long enough").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let retry = r.text().await.unwrap();
    assert!(retry.contains("Wrong user name or password"));
    let r = sign_in(&stack, &http, &retry, "bob", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert_eq!(input_value(&page, "RelayState").as_deref(), Some("/cart?x=<1>"));
    assert!(!page.contains("x=<1>"), "RelayState is HTML-escaped in the page");
    let xml = saml_response(&page, SHOP_ACS);
    assert!(xmlsec1_verifies(&xml, &cert), "xmlsec1 verifies the response against the metadata certificate");
    let shop = parse(&xml);
    assert_eq!(
        (shop.assertions, shop.signatures),
        (1, 1),
        "one Assertion, signed; a PBE SP's agent reads nothing else, so the Response is not signed by default"
    );
    assert_eq!(shop.name_id, "bob");
    assert_eq!(shop.audiences, [SHOP, VISITOR_ID]);
    assert_eq!(shop.recipients, [SHOP_ACS, TOKEN_ENDPOINT]);
    assert_eq!(shop.attributes["groups"], ["customers", "staff"]);
    // Attribute release (issue 14, item 8): shop is registered for `groups` only, so the
    // e-mail address is not in its (verified) assertion at all.
    assert!(!shop.attributes.contains_key("email"), "e-mail released to an SP not registered for it");
    assert!(!xml.contains("neil"), "the e-mail address appears nowhere in shop's response");
    assert_eq!(shop.attributes["idaas:suite"], ["bls12-381"]);
    let opened = decrypt_all(
        &stack,
        &shop,
        SHOP,
        &stack.shop_key,
        &[("purpose", "current"), ("ppurpose", "purchase")],
    )
    .await;
    assert_eq!(
        opened.keys().collect::<Vec<_>>(),
        ["dob", "lastname"],
        "Table 1: shopping opens lastname and dob"
    );
    assert_eq!(opened["lastname"], "Tri");
    // The delivery service's key cannot open the shopping service's TAT.
    assert!(stack
        .delivery_key
        .open(&shop.attributes["idaas:tat"][0], &federation::seal::tat_info(SHOP, &shop.session_index))
        .is_err());

    // (2) The delivery service, HTTP-POST binding: no password asked, a fresh SessionIndex.
    let encoded = STANDARD.encode(authn_request(DELIVERY, None, "_req2"));
    let r =
        http.post(stack.url("/saml/sso")).form(&[("SAMLRequest", encoded.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let xml = saml_response(&r.text().await.unwrap(), DELIVERY_ACS);
    assert!(xmlsec1_verifies(&xml, &cert));
    let delivery = parse(&xml);
    assert_eq!((delivery.assertions, delivery.signatures), (1, 2), "registered with sign = \"both\"");
    assert_ne!(delivery.session_index, shop.session_index, "each assertion has its own linchpin");
    let opened = decrypt_all(
        &stack,
        &delivery,
        DELIVERY,
        &stack.delivery_key,
        &[("purpose", "current"), ("purpose", "contact"), ("ppurpose", "delivery")],
    )
    .await;
    assert_eq!(
        opened.keys().collect::<Vec<_>>(),
        ["addresses", "lastname"],
        "Table 1: delivery opens lastname and addresses"
    );

    // The assertion carries digests and a reference, not ciphertexts.
    for (name, values) in delivery.attributes.iter().filter(|(n, _)| n.starts_with("pii:")) {
        assert!(federation::claims::is_pii_digest(&values[0]), "{name}: {}", values[0]);
    }
    fetch_refusals(&stack, &shop, &delivery).await;

    // (3) A plain SAML SP: groups and e-mail, no TAT, no ciphertexts, only its own audience.
    let query = redirect_query(&deflate_b64(authn_request(WIKI, None, "_req3").as_bytes()), None);
    let r = http.get(stack.url(&format!("/saml/sso?{query}"))).send().await.unwrap();
    let xml = saml_response(&r.text().await.unwrap(), WIKI_ACS);
    assert!(xmlsec1_verifies(&xml, &cert));
    let wiki = parse(&xml);
    // The wiki is registered with `release = ["groups", "email"]`: it gets the address, under
    // the standard names (mail, isMemberOf) by default.
    assert_eq!(wiki.attributes.keys().collect::<Vec<_>>(), [ATTR_MAIL, ATTR_IS_MEMBER_OF]);
    assert_eq!(
        wiki.attributes[ATTR_MAIL],
        [AWKWARD_EMAIL],
        "the e-mail arrives as text, escaped on the wire"
    );
    assert!(
        xml.contains(r#"FriendlyName="mail" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri""#)
    );
    // A plain SP's Response and Assertion are both signed by default, each verifiable alone.
    assert!(
        xmlsec1_verifies_element(&xml, &cert, federation::testing::RESPONSE_NODE),
        "the Response signature"
    );
    assert!(xml.contains("o&apos;neil&amp;co") || xml.contains("o'neil&amp;co"));
    assert_eq!(wiki.audiences, [WIKI]);
    assert_eq!(wiki.recipients, [WIKI_ACS]);

    // (4) Tampering with the signed response breaks the signature.
    let tampered = xml.replacen("<saml:AttributeValue>staff", "<saml:AttributeValue>admin", 1);
    assert_ne!(tampered, xml);
    assert!(!xmlsec1_verifies(&tampered, &cert));

    // (5) The IdP session ends with its lifetime: the next request asks for the password.
    stack.clock.advance(8 * 3600 + 1);
    let query = redirect_query(&deflate_b64(authn_request(WIKI, None, "_req4").as_bytes()), None);
    let r = http.get(stack.url(&format!("/saml/sso?{query}"))).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("action=\"/saml/login\""));
    stack.stop().await;
}

/// `POST /pbe/pii/fetch` answers only the SP, session and assertion a reference was issued
/// for, until it expires, sealed so only that SP opens it; every refusal is a problem document
/// without data. `shop` and `delivery` are two fresh assertions of the same user.
async fn fetch_refusals(stack: &Stack, shop: &Parsed, delivery: &Parsed) {
    let good = fetch_request(shop, SHOP);
    let as_json = |r: &federation::api::PiiFetchRequest| serde_json::to_value(r).unwrap();
    let refused = |(status, body): (StatusCode, Value), why: &str| {
        assert!(status.is_client_error(), "{why}: {status} {body}");
        assert!(body.get("sealed").is_none(), "{why}: no data in a refusal");
        assert!(body["type"].as_str().unwrap().starts_with("urn:idaas:problem:"), "{why}: {body}");
        status
    };
    // The answer is sealed to shop's key for this assertion: delivery's key does not open it,
    // nor does shop's key under another assertion's info.
    let (status, answer) = post_fetch(stack, &as_json(&good)).await;
    assert_eq!(status, StatusCode::OK);
    let sealed = answer["sealed"].as_str().unwrap();
    let info = federation::pii::pii_info(SHOP, &shop.session_index, &shop.assertion_id);
    let max = federation::pii::MAX_SEALED;
    assert!(stack.shop_key.open_limited(sealed, &info, max).is_ok());
    assert!(stack.delivery_key.open_limited(sealed, &info, max).is_err(), "another SP's key");
    let other_info = federation::pii::pii_info(SHOP, &delivery.session_index, &delivery.assertion_id);
    assert!(stack.shop_key.open_limited(sealed, &other_info, max).is_err(), "another assertion's info");

    // A reference moved to another SP, session, assertion or user; forged; malformed.
    let mut forged = federation::pii::PiiRef::parse(&good.pii_ref).unwrap();
    forged.mac[0] ^= 1;
    let mut later = federation::pii::PiiRef::parse(&good.pii_ref).unwrap();
    later.expires += 86_400;
    for (why, bad) in [
        ("other SP", federation::api::PiiFetchRequest { sp: DELIVERY.into(), ..good.clone() }),
        (
            "other session",
            federation::api::PiiFetchRequest {
                session_index: delivery.session_index.clone(),
                ..good.clone()
            },
        ),
        (
            "other assertion",
            federation::api::PiiFetchRequest { assertion_id: delivery.assertion_id.clone(), ..good.clone() },
        ),
        ("other user", federation::api::PiiFetchRequest { uid: "alice".into(), ..good.clone() }),
        (
            "delivery's reference for shop",
            federation::api::PiiFetchRequest {
                pii_ref: delivery.attributes["idaas:pii-ref"][0].clone(),
                ..good.clone()
            },
        ),
        ("forged MAC", federation::api::PiiFetchRequest { pii_ref: forged.to_text(), ..good.clone() }),
        ("extended expiry", federation::api::PiiFetchRequest { pii_ref: later.to_text(), ..good.clone() }),
        ("malformed reference", federation::api::PiiFetchRequest { pii_ref: "x".into(), ..good.clone() }),
    ] {
        assert_eq!(refused(post_fetch(stack, &as_json(&bad)).await, why), StatusCode::UNAUTHORIZED, "{why}");
    }
    // Hostile bodies: 400/413/415 before any reference is checked.
    let many: Vec<String> = (0..65).map(|i| format!("a{i}")).collect();
    let twice = vec!["lastname".to_owned(), "lastname".to_owned()];
    for (why, bad) in [
        ("65 names", as_json(&federation::api::PiiFetchRequest { names: many, ..good.clone() })),
        ("a name twice", as_json(&federation::api::PiiFetchRequest { names: twice, ..good.clone() })),
        (
            "a bad name",
            as_json(&federation::api::PiiFetchRequest { names: vec!["../x".into()], ..good.clone() }),
        ),
        ("an empty uid", as_json(&federation::api::PiiFetchRequest { uid: String::new(), ..good.clone() })),
        ("an unknown field", {
            let mut v = as_json(&good);
            v["extra"] = json!(1);
            v
        }),
        ("a missing field", {
            let mut v = as_json(&good);
            v.as_object_mut().unwrap().remove("names");
            v
        }),
        ("not an object", json!(["ref"])),
    ] {
        assert_eq!(refused(post_fetch(stack, &bad).await, why), StatusCode::BAD_REQUEST, "{why}");
    }
    let http = reqwest::Client::new();
    let big = format!("{{\"ref\":\"{}\"}}", "a".repeat(20_000));
    let r = http
        .post(stack.url(federation::pii::FETCH_PATH))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "the fetch body limit is 16 KiB");
    let r = http.post(stack.url(federation::pii::FETCH_PATH)).body("ref=x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Expired: the reference ends with the IdP session (8 h).
    stack.clock.advance(8 * 3600 + 1);
    assert_eq!(refused(post_fetch(stack, &as_json(&good)).await, "expired"), StatusCode::UNAUTHORIZED);
    stack.clock.advance(-(8 * 3600 + 1));
    assert_eq!(post_fetch(stack, &as_json(&good)).await.0, StatusCode::OK, "good again before expiry");

    // Good references never count against the address (nothing is written for them); refused
    // ones do, and past the free failures the address waits, with a good reference too.
    for i in 0..30 {
        assert_eq!(post_fetch(stack, &as_json(&good)).await.0, StatusCode::OK, "good fetch {i}");
    }
    let guess = as_json(&federation::api::PiiFetchRequest { pii_ref: forged.to_text(), ..good.clone() });
    let mut waited = None;
    for i in 0..40 {
        let (status, body) = post_fetch(stack, &guess).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            waited = Some(i);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}: {body}");
    }
    let waited = waited.expect("refused references are counted: the address waits at last");
    assert!(waited >= 5, "the free failures come first ({waited} guesses)");
    let (status, body) = post_fetch(stack, &as_json(&good)).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a waiting address waits for good references too: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_an_error_page_and_change_nothing() {
    let stack = Stack::start().await;
    let http = browser();
    stack.verified_user(&http, "alice", "alice@example.org").await;

    let get = |query: String| {
        let http = http.clone();
        let url = stack.url(&format!("/saml/sso?{query}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status();
            let cookies = r.headers().get_all(reqwest::header::SET_COOKIE).iter().count();
            let location = r.headers().get(reqwest::header::LOCATION).is_some();
            (status, cookies, location, r.text().await.unwrap())
        }
    };
    let bomb = {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b"<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"a\">")
            .unwrap();
        e.write_all(&vec![b' '; 30 << 20]).unwrap();
        STANDARD.encode(e.finish().unwrap())
    };
    let doctype = format!("<!DOCTYPE x [<!ENTITY e \"{SHOP}\">]>{}", authn_request("&e;", None, "_d"));
    let cases: Vec<(&str, String, &str)> = vec![
        ("no SAMLRequest", "RelayState=x".into(), "no SAMLRequest"),
        ("bad base64", redirect_query("%%%not base64%%%", None), "base64"),
        ("not DEFLATE", redirect_query(&STANDARD.encode(b"plain text"), None), "DEFLATE"),
        ("DEFLATE bomb", redirect_query(&bomb, None), "too large"),
        ("DOCTYPE", redirect_query(&deflate_b64(doctype.as_bytes()), None), "DOCTYPE"),
        ("not XML", redirect_query(&deflate_b64(b"<samlp:AuthnRequest"), None), "well-formed"),
        (
            "unknown SP",
            redirect_query(&deflate_b64(authn_request("https://evil.example", None, "_u").as_bytes()), None),
            "not registered",
        ),
        (
            "unregistered ACS",
            redirect_query(
                &deflate_b64(authn_request(SHOP, Some("https://evil.example/acs"), "_w").as_bytes()),
                None,
            ),
            "AssertionConsumerServiceURL",
        ),
        (
            "bad RelayState",
            redirect_query(&deflate_b64(authn_request(SHOP, None, "_r").as_bytes()), Some(&"r".repeat(2000))),
            "RelayState",
        ),
    ];
    for (what, query, message) in cases {
        let (status, cookies, location, body) = get(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(cookies, 0, "{what}: no sign-in is started");
        assert!(!location, "{what}: never a redirect");
        assert!(body.contains(message), "{what}: {body}");
        assert!(!body.contains("evil.example"), "{what}: the page does not echo the request");
    }

    // Larger than any URL carries: the HTTP-POST binding.
    let huge = "A".repeat(70 * 1024);
    let r = http.post(stack.url("/saml/sso")).form(&[("SAMLRequest", huge.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("too large"));

    // A forged wrapper that names another ACS around a request: the ACS must be registered.
    let wrapped = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_evil\" Version=\"2.0\" \
         IssueInstant=\"2025-10-09T12:00:00Z\" AssertionConsumerServiceURL=\"https://evil.example/acs\">\
         <saml:Issuer xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">{SHOP}</saml:Issuer>\
         <samlp:Extensions>{}</samlp:Extensions></samlp:AuthnRequest>",
        authn_request(SHOP, Some(SHOP_ACS), "_inner")
    );
    let (status, _, _, _) = get(redirect_query(&deflate_b64(wrapped.as_bytes()), None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the forged ACS is never followed");

    // The sign-in form: no login cookie, a wrong CSRF token, an unverified user, hostile input.
    let query = redirect_query(&deflate_b64(authn_request(SHOP, None, "_ok").as_bytes()), None);
    let fresh = browser();
    let r = fresh
        .post(stack.url("/saml/login"))
        .form(&[("csrf", "x"), ("uid", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let login =
        fresh.get(stack.url(&format!("/saml/sso?{query}"))).send().await.unwrap().text().await.unwrap();
    let r = fresh
        .post(stack.url("/saml/login"))
        .form(&[("csrf", "forged-token"), ("uid", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(reqwest::header::SET_COOKIE).is_none(), "no IdP session from a forged form");
    let r = fresh
        .post(stack.url("/saml/login"))
        .body("csrf=%ZZ&uid")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let r = sign_in(&stack, &fresh, &login, "<saml:NameID>admin</saml:NameID>", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!r.text().await.unwrap().contains("<saml:NameID>"), "hostile input is not echoed");

    // Registered but unverified: cannot sign in, and the message is the generic one.
    let r = http
        .post(stack.url("/api/users"))
        .json(&json!({"uid": "carol", "email": "carol@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = sign_in(&stack, &fresh, &login, "carol", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Wrong user name or password"));

    // Hostile uids never become users.
    for uid in ["</saml:NameID><saml:NameID>admin", "bob\"", "a b", ""] {
        let r = http
            .post(stack.url("/api/users"))
            .json(&json!({"uid": uid, "email": "x@example.org", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{uid:?}");
    }

    // Oversized bodies are refused before they are read: a 413, or — when the server has
    // answered and closed before the client finished sending — a broken connection.
    let r = http
        .post(stack.url("/saml/sso"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 2 << 20])
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(!e.is_timeout() && !e.is_status(), "{e}"),
    }

    // After all that, alice still signs in normally.
    let login =
        http.get(stack.url(&format!("/saml/sso?{query}"))).send().await.unwrap().text().await.unwrap();
    let r = sign_in(&stack, &http, &login, "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let _ = saml_response(&r.text().await.unwrap(), SHOP_ACS);
    stack.stop().await;
}

// ---- edge hardening (issue 14) ----

/// The `idaas_login` cookie a response sets (its value), if any.
fn login_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("idaas_login="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .filter(|v| !v.is_empty())
}

/// Item 4: the pending sign-in is carried by the browser that started it. 10 000 anonymous
/// SSO requests — before, and while, two browsers sign in — displace nothing; a form posted
/// without the browser's cookie, or with another browser's, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_pending_sign_in_survives_a_flood_and_is_bound_to_the_browser() {
    let stack = Stack::start().await;
    let http = browser();
    stack.verified_user(&http, "alice", "alice@example.org").await;
    let query = |id: &str| redirect_query(&deflate_b64(authn_request(SHOP, None, id).as_bytes()), None);

    // Browser A starts before the flood.
    let a = browser();
    let login_a = a.get(stack.url(&format!("/saml/sso?{}", query("_a")))).send().await.unwrap();
    assert_eq!(login_a.status(), StatusCode::OK);
    let login_a = login_a.text().await.unwrap();

    // The flood: 10 000 anonymous AuthnRequests from cookie-less clients, 16 at a time. Browser
    // B starts in the middle of it.
    let anon = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let flood = {
        let (anon, base, q) = (anon.clone(), stack.base.clone(), query("_flood"));
        tokio::spawn(async move {
            let mut set = tokio::task::JoinSet::new();
            let mut ok = 0usize;
            for i in 0..10_000usize {
                if set.len() >= 16 {
                    if let Some(Ok(true)) = set.join_next().await {
                        ok += 1;
                    }
                }
                let (anon, url) = (anon.clone(), format!("{base}/saml/sso?{q}&RelayState=f{i}"));
                set.spawn(
                    async move { anon.get(url).send().await.is_ok_and(|r| r.status() == StatusCode::OK) },
                );
            }
            while let Some(r) = set.join_next().await {
                ok += usize::from(r.unwrap_or(false));
            }
            ok
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let b = browser();
    let login_b = b.get(stack.url(&format!("/saml/sso?{}", query("_b")))).send().await.unwrap();
    assert_eq!(login_b.status(), StatusCode::OK);
    let login_b = login_b.text().await.unwrap();
    let r = sign_in(&stack, &b, &login_b, "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK, "B signs in while the flood runs");
    let xml = saml_response(&r.text().await.unwrap(), SHOP_ACS);
    assert!(xml.contains("InResponseTo=\"_b\""));
    assert_eq!(flood.await.unwrap(), 10_000, "every flood request got a form (nothing is refused)");

    // A completes after the flood: its pending request was not displaced.
    let r = sign_in(&stack, &a, &login_a, "alice", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let xml = saml_response(&r.text().await.unwrap(), SHOP_ACS);
    assert!(xml.contains("InResponseTo=\"_a\""), "A gets the answer to its own request");

    // Binding: C's form without any cookie, and with D's cookie, is refused.
    let c = anon.get(stack.url(&format!("/saml/sso?{}", query("_c")))).send().await.unwrap();
    let c_cookie = login_cookie(&c).expect("a login cookie");
    let c_page = c.text().await.unwrap();
    let c_csrf = input_value(&c_page, "csrf").unwrap();
    let d = anon.get(stack.url(&format!("/saml/sso?{}", query("_d")))).send().await.unwrap();
    let d_cookie = login_cookie(&d).expect("a login cookie");
    assert_ne!(c_cookie, d_cookie);
    let post = |cookie: Option<String>| {
        let mut req = anon.post(stack.url("/saml/login")).form(&[
            ("csrf", c_csrf.as_str()),
            ("uid", "alice"),
            ("password", PASSWORD),
        ]);
        if let Some(c) = cookie {
            req = req.header(reqwest::header::COOKIE, format!("idaas_login={c}"));
        }
        req.send()
    };
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no cookie: refused");
    let r = post(Some(d_cookie.clone())).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another browser's cookie: refused");
    assert!(r.headers().get(reqwest::header::SET_COOKIE).is_none(), "no session from it");
    // A tampered cookie (one byte of the payload changed) is refused too.
    let mut tampered = c_cookie.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let r = post(Some(String::from_utf8(tampered).unwrap())).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a tampered cookie: refused");
    // With its own cookie the form goes through, once the form's lifetime has not passed.
    let r = post(Some(c_cookie.clone())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    stack.clock.advance(idp_home::sso_sessions::PENDING_LIFETIME);
    let r = post(Some(c_cookie)).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an expired pending sign-in: refused");
    stack.stop().await;
}

/// Item 5: 40 parallel guesses for one user over real HTTP — each attempt is reserved before
/// the password is hashed, so at most the free failures are evaluated; the rest wait (429).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_parallel_guesses_are_reserved_before_hashing() {
    let stack = Stack::start().await;
    let http = browser();
    stack.verified_user(&http, "alice", "alice@example.org").await;
    let mut set = tokio::task::JoinSet::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    for i in 0..40 {
        let (http, url, barrier) = (reqwest::Client::new(), stack.url("/api/token"), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            let r =
                http.post(url).json(&json!({"uid": "alice", "password": format!("wrong password {i:04}")}));
            r.send().await.unwrap().status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    let evaluated = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let waited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(evaluated + waited, 40, "{statuses:?}");
    let free = idp_home::throttle::ThrottleParams::default().free_failures as usize;
    assert!(evaluated <= free, "{evaluated} guesses were evaluated, at most {free} may be");
    stack.stop().await;
}

/// Item 7: an unverified registration is purged when its verification window ends (lazily on
/// a new registration of the uid, and by the periodic purge), and the uid is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_unverified_registrations_are_purged_and_the_uid_is_free_again() {
    let stack = Stack::start().await;
    let http = browser();
    let register = |uid: &'static str, email: &'static str| {
        http.post(stack.url("/api/users"))
            .json(&json!({"uid": uid, "email": email, "password": PASSWORD}))
            .send()
    };
    // Eve squats "bob" and "carol" with addresses she does not own.
    assert_eq!(register("bob", "bob@example.org").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(register("carol", "carol@example.org").await.unwrap().status(), StatusCode::CREATED);
    let eves_link = stack.verification_link("bob");
    // Within the window the uid is taken.
    stack.clock.advance(48 * 3600 - 1);
    assert_eq!(register("bob", "real-bob@example.org").await.unwrap().status(), StatusCode::CONFLICT);
    // When the window ends, registering again frees it (lazy purge)...
    stack.clock.advance(1);
    assert_eq!(register("bob", "real-bob@example.org").await.unwrap().status(), StatusCode::CREATED);
    let users = stack.state.store.list_users().unwrap();
    let bob = users.iter().find(|u| u.uid == "bob").unwrap();
    assert_eq!(bob.email, "real-bob@example.org");
    // ... Eve's old link does nothing to the new registration ...
    assert_eq!(http.get(eves_link).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert!(!stack.state.store.get_user("bob").unwrap().unwrap().verified);
    // ... and the periodic purge removes the other squatted uid.
    use service_kit::Clock as _;
    let purged = idp_home::service::accounts::purge_unverified(&stack.state, stack.clock.now()).unwrap();
    assert_eq!(purged, 1);
    assert!(stack.state.store.get_user("carol").unwrap().is_none());
    assert!(stack.state.store.get_user("bob").unwrap().is_some(), "the fresh registration stays");
    // A verified user is never purged, however old.
    stack.verified_user(&http, "dave", "dave@example.org").await;
    stack.clock.advance(365 * 86_400);
    assert_eq!(
        idp_home::service::accounts::purge_unverified(&stack.state, stack.clock.now()).unwrap(),
        1,
        "only bob"
    );
    assert!(stack.state.store.get_user("dave").unwrap().is_some());
    stack.stop().await;
}

/// "Also": every public endpoint of the home IdP answers empty, huge, wrongly typed, non-UTF-8
/// and oversized-header input with a clean 4xx — never a 5xx, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_every_public_endpoint_answers_bad_input_with_a_clean_4xx() {
    use reqwest::Method;
    let stack = Stack::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    // (method, path, takes a body)
    let endpoints: &[(Method, &str, bool)] = &[
        (Method::GET, "/healthz", false),
        (Method::POST, "/api/users", true),
        (Method::GET, "/api/users/verify", false),
        (Method::POST, "/api/token", true),
        (Method::POST, "/api/upload-token", true),
        (Method::GET, "/api/pii", false),
        (Method::PUT, "/api/pii/lastname", true),
        (Method::GET, "/api/pii/lastname", false),
        (Method::DELETE, "/api/pii/lastname", false),
        (Method::GET, "/pbe/authority", false),
        (Method::GET, "/pbe/authorities", false),
        (Method::GET, "/saml/metadata", false),
        (Method::GET, "/saml/sso", false),
        (Method::POST, "/saml/sso", true),
        (Method::POST, "/saml/login", true),
        (Method::GET, "/admin/sps", false),
        (Method::POST, "/admin/sps", true),
        (Method::PUT, "/admin/users/bob/groups", true),
        (Method::GET, "/no/such/endpoint", false),
    ];
    federation::testing_bad_input::BadInputSweep {
        endpoints,
        untyped_body: b"{\"uid\":\"bob\"}",
        invalid_utf8: b"\xff\xfe\xc3(uid=\x80",
        long_cookies: &["idaas_login", "idaas_idp_session"],
        long_auth_schemes: &["Bearer"],
        long_query_params: ["SAMLRequest", "token"],
        invalid_utf8_query: "SAMLRequest=%FF%FE&token=%C3%28&RelayState=%80",
    }
    .run(&http, &stack.url(""))
    .await;
    // Still serving.
    assert_eq!(http.get(stack.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    stack.stop().await;
}
