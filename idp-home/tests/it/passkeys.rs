//! Passkeys (issue 20 item 4) over a real listener, with a software authenticator built here:
//! a P-256 key (OpenSSL), "none" attestation, authenticator data (RP ID hash, UP/UV flags,
//! signature counter, attested credential data with the COSE key) and client data with the
//! challenge, all posted as the page's script would. Registration from `/account/security`,
//! the passkey as the second step, passwordless sign-in (service and account page), and what
//! is refused: a wrong origin, a wrong challenge, a counter that did not grow, a replayed
//! ceremony; removal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::mfa::{account_sign_in, class_ref, input, password, posted, request, sso, start, start_with, Idp};
use super::mfa::{PPT, REFEDS_MFA, WIKI, WIKI_ACS};

// ---- a tiny CBOR writer (what an authenticator emits) ----

fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
        _ => {
            let mut v = vec![m | 26];
            v.extend_from_slice(&(n as u32).to_be_bytes());
            v
        }
    }
}

fn int(i: i64) -> Vec<u8> {
    if i >= 0 {
        head(0, i as u64)
    } else {
        head(1, (-1 - i) as u64)
    }
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut v = head(2, b.len() as u64);
    v.extend_from_slice(b);
    v
}

fn text(s: &str) -> Vec<u8> {
    let mut v = head(3, s.len() as u64);
    v.extend_from_slice(s.as_bytes());
    v
}

fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut v = head(5, entries.len() as u64);
    for (k, val) in entries {
        v.extend_from_slice(k);
        v.extend_from_slice(val);
    }
    v
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// A software passkey: one P-256 credential with a signature counter.
struct Authenticator {
    key: PKey<Private>,
    ec: EcKey<Private>,
    id: Vec<u8>,
    counter: u32,
    rp_id: String,
    origin: String,
}

impl Authenticator {
    fn new(idp: &Idp) -> Authenticator {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let mut id = vec![0u8; 32];
        openssl::rand::rand_bytes(&mut id).unwrap();
        let url = url::Url::parse(&idp.base).unwrap();
        Authenticator {
            key: PKey::from_ec_key(ec.clone()).unwrap(),
            ec,
            id,
            counter: 0,
            rp_id: url.host_str().unwrap().to_owned(),
            origin: idp.base.clone(),
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        let mut ctx = BigNumContext::new().unwrap();
        self.ec.public_key().affine_coordinates_gfp(&group, &mut x, &mut y, &mut ctx).unwrap();
        map(&[
            (int(1), int(2)),  // kty: EC2
            (int(3), int(-7)), // alg: ES256
            (int(-1), int(1)), // crv: P-256
            (int(-2), bytes(&x.to_vec_padded(32).unwrap())),
            (int(-3), bytes(&y.to_vec_padded(32).unwrap())),
        ])
    }

    fn auth_data(&self, flags: u8, attested: bool) -> Vec<u8> {
        let mut d = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        d.push(flags);
        d.extend_from_slice(&self.counter.to_be_bytes());
        if attested {
            d.extend_from_slice(&[0u8; 16]); // AAGUID
            d.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
            d.extend_from_slice(&self.id);
            d.extend_from_slice(&self.cose_key());
        }
        d
    }

    fn client_data(&self, kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        serde_json::to_vec(
            &json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false }),
        )
        .unwrap()
    }

    /// The answer to creation `options`, as the page's script posts it.
    fn register(&mut self, options: &Value, origin: Option<&str>) -> String {
        let pk = &options["publicKey"];
        assert_eq!(pk["rp"]["id"], self.rp_id.as_str());
        let challenge = pk["challenge"].as_str().unwrap();
        let client = self.client_data("webauthn.create", challenge, origin.unwrap_or(&self.origin));
        let object = map(&[
            (text("fmt"), text("none")),
            (text("attStmt"), map(&[])),
            (text("authData"), bytes(&self.auth_data(UP | UV | AT, true))),
        ]);
        let id = URL_SAFE_NO_PAD.encode(&self.id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": { "attestationObject": URL_SAFE_NO_PAD.encode(object), "clientDataJSON": URL_SAFE_NO_PAD.encode(client) },
            "extensions": {}
        })
        .to_string()
    }

    /// An assertion for request `options`; `challenge` and `origin` may be forged.
    fn assert(&mut self, options: &Value, challenge: Option<&str>, origin: Option<&str>) -> String {
        let pk = &options["publicKey"];
        let allowed: Vec<&str> =
            pk["allowCredentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
        let id = URL_SAFE_NO_PAD.encode(&self.id);
        assert!(allowed.contains(&id.as_str()), "{allowed:?}");
        self.counter += 1;
        let challenge = challenge.unwrap_or_else(|| pk["challenge"].as_str().unwrap());
        let client = self.client_data("webauthn.get", challenge, origin.unwrap_or(&self.origin));
        let data = self.auth_data(UP | UV, false);
        let mut signed = data.clone();
        signed.extend_from_slice(&Sha256::digest(&client));
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.key).unwrap();
        signer.update(&signed).unwrap();
        let signature = signer.sign_to_vec().unwrap();
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client),
                "signature": URL_SAFE_NO_PAD.encode(signature),
                "userHandle": null
            },
            "extensions": {}
        })
        .to_string()
    }
}

// ---- the browser side ----

fn browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (b, jar)
}

/// The IdP under a domain name (WebAuthn has no RP ID for an IP address).
async fn start_named() -> Idp {
    start_with(|c| {
        c.public_url = c.public_url.replace("127.0.0.1", "localhost");
        c.entity_id = c.public_url.clone();
    })
    .await
}

async fn json_post(b: &reqwest::Client, url: String, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = b.post(url).form(form).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Registers `auth` for the account signed in in `b`; returns the status of the finish.
async fn register(
    idp: &Idp,
    b: &reqwest::Client,
    auth: &mut Authenticator,
    origin: Option<&str>,
) -> StatusCode {
    let page = b.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"idaas-passkey\"") && page.contains("/.idaas/passkey.js"), "{page}");
    let csrf = input(&page, "csrf").unwrap();
    let (status, options) =
        json_post(b, idp.url("/account/security/passkey/start"), &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = auth.register(&options, origin);
    let r = b
        .post(idp.url("/account/security/passkey/finish"))
        .form(&[
            ("csrf", options["csrf"].as_str().unwrap()),
            ("name", "Laptop <b>"),
            ("credential", credential.as_str()),
        ])
        .send()
        .await
        .unwrap();
    r.status()
}

/// From a new browser: the service sign-in up to the second step, then the passkey's answer
/// (made by `answer` from the options) posted as the step; returns the response.
async fn second_step_with_passkey(
    idp: &Idp,
    uid: &str,
    answer: impl FnOnce(&Value) -> String,
) -> reqwest::Response {
    let (b, _) = browser();
    let form = sso(idp, &b, &request(WIKI, WIKI_ACS, "_p", "")).await;
    let (_, page) = password(idp, &b, &form, uid).await;
    assert!(page.contains("action=\"/login/mfa\"") && page.contains("data-flow=\"mfa\""), "{page}");
    let csrf = input(&page, "csrf").unwrap();
    let login_csrf = input(&page, "login_csrf").unwrap();
    let (status, options) =
        json_post(&b, idp.url("/login/passkey/start"), &[("flow", "mfa"), ("csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = answer(&options);
    b.post(idp.url("/login/mfa"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("login_csrf", login_csrf.as_str()),
            ("code", ""),
            ("passkey", credential.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn passkey_registration_second_factor_passwordless_refusals_and_removal() {
    let idp = start_named().await;
    let mut auth = Authenticator::new(&idp);
    let (b1, _) = browser();
    assert_eq!(account_sign_in(&idp, &b1, "bob").await.status(), StatusCode::SEE_OTHER);

    // A registration answered for another origin is refused; then the right one is stored.
    assert_eq!(register(&idp, &b1, &mut auth, Some("https://evil.example")).await, StatusCode::BAD_REQUEST);
    assert!(idp.state.store.get_user("bob").unwrap().unwrap().security.passkeys.is_empty());
    assert_eq!(register(&idp, &b1, &mut auth, None).await, StatusCode::SEE_OTHER);
    let stored = idp.state.store.get_user("bob").unwrap().unwrap().security.passkeys;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, URL_SAFE_NO_PAD.encode(&auth.id));
    let page = b1.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Laptop &lt;b&gt;") && page.contains("Remove this passkey"), "{page}");
    // Registering the same credential again is refused.
    assert_eq!(register(&idp, &b1, &mut auth, None).await, StatusCode::BAD_REQUEST);

    // The passkey is bob's second factor now: a new device asks for it, and it works.
    let r = second_step_with_passkey(&idp, "bob", |o| auth.assert(o, None, None)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(class_ref(&posted(&r.text().await.unwrap()).unwrap()), REFEDS_MFA);
    let counter = auth.counter;

    // Refused: another origin, another challenge, a counter that did not grow.
    let r =
        second_step_with_passkey(&idp, "bob", |o| auth.assert(o, None, Some("http://evil.example"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "wrong origin");
    let forged = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let r = second_step_with_passkey(&idp, "bob", |o| auth.assert(o, Some(&forged), None)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "wrong challenge");
    auth.counter = counter - 1; // the next assertion repeats the last accepted counter
    let r = second_step_with_passkey(&idp, "bob", |o| auth.assert(o, None, None)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "replayed counter");
    auth.counter = counter + 5;

    // Passwordless, for a service: the user name, then the passkey; the session is MFA.
    let (b2, jar2) = browser();
    let form = sso(&idp, &b2, &request(WIKI, WIKI_ACS, "_pl", "")).await;
    assert!(form.contains("Sign in with a passkey") && form.contains("data-flow=\"saml\""), "{form}");
    let csrf = input(&form, "csrf").unwrap();
    let (status, options) = json_post(
        &b2,
        idp.url("/login/passkey/start"),
        &[("flow", "saml"), ("csrf", csrf.as_str()), ("uid", "bob")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = auth.assert(&options, None, None);
    let fields = [
        ("csrf", options["csrf"].as_str().unwrap()),
        ("login_csrf", csrf.as_str()),
        ("credential", credential.as_str()),
    ];
    // The browser's cookies as they are now, to replay the same answer afterwards.
    let cookies = jar2.cookies(&idp.base.parse().unwrap()).unwrap();
    let r = b2.post(idp.url("/login/passkey")).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let xml = posted(&r.text().await.unwrap()).unwrap();
    assert_eq!(class_ref(&xml), REFEDS_MFA);
    assert!(xml.contains("InResponseTo=\"_pl\""));
    let replay = reqwest::Client::new()
        .post(idp.url("/login/passkey"))
        .header(reqwest::header::COOKIE, cookies)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_ne!(replay.status(), StatusCode::OK, "a replayed ceremony and answer");

    // Passwordless to the account page.
    let (b3, _) = browser();
    let form = b3.get(idp.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("data-flow=\"account\""), "{form}");
    let csrf = input(&form, "csrf").unwrap();
    let (status, options) = json_post(
        &b3,
        idp.url("/login/passkey/start"),
        &[("flow", "account"), ("csrf", csrf.as_str()), ("uid", "bob")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{options}");
    let credential = auth.assert(&options, None, None);
    let r = b3
        .post(idp.url("/login/passkey"))
        .form(&[
            ("csrf", options["csrf"].as_str().unwrap()),
            ("login_csrf", csrf.as_str()),
            ("credential", credential.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/account");
    // A user without passkeys gets no options.
    let (status, _) = json_post(
        &b3,
        idp.url("/login/passkey/start"),
        &[("flow", "account"), ("csrf", csrf.as_str()), ("uid", "carol")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Removal (CSRF checked): the passkey is gone, and no second step is asked any more.
    let page = b3.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let id = URL_SAFE_NO_PAD.encode(&auth.id);
    let remove = |csrf: String| {
        b3.post(idp.url("/account/security/passkey/remove"))
            .form(&[("csrf", csrf), ("id", id.clone())])
            .send()
    };
    assert_eq!(remove("forged".into()).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(remove(csrf.clone()).await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(remove(csrf).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(idp.state.store.get_user("bob").unwrap().unwrap().security.passkeys.is_empty());
    let (b4, _) = browser();
    let form = sso(&idp, &b4, &request(WIKI, WIKI_ACS, "_after", "")).await;
    let (_, page) = password(&idp, &b4, &form, "bob").await;
    assert_eq!(class_ref(&posted(&page).unwrap()), PPT);
}

#[tokio::test]
async fn passkeys_need_a_domain_name() {
    let idp = start().await; // http://127.0.0.1:PORT
    let (b, _) = browser();
    assert_eq!(account_sign_in(&idp, &b, "bob").await.status(), StatusCode::SEE_OTHER);
    let page = b.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("id=\"idaas-passkey\""), "{page}");
    let csrf = input(&page, "csrf").unwrap();
    let (status, problem) =
        json_post(&b, idp.url("/account/security/passkey/start"), &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("domain name"));
    // The script is served, as JavaScript.
    let r = b.get(idp.url("/.idaas/passkey.js")).send().await.unwrap();
    assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "text/javascript; charset=utf-8");
}
