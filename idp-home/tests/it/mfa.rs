//! The TOTP second factor over a real listener (issue 20): enrolment on `/account/security`
//! (QR code, confirmation with a code, recovery codes once), the second sign-in step (codes
//! computed here from the stored secret: a wrong code, a replayed code, an expired pending
//! step, the throttle, a recovery code used once), an SP with `require_mfa` (a user without a
//! factor gets `NoAuthnContext`; a password-only session steps up), `RequestedAuthnContext`
//! (exact, an unknown class answered `NoAuthnContext`) and the policy set by the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use idp_home::config::{Config, Secret, SpConfig};
use reqwest::header::{LOCATION, RETRY_AFTER};
use reqwest::StatusCode;

use super::harness::{plain_sp, user};
pub(crate) use super::harness::{Idp, PASSWORD, T0};
pub(crate) const ADMIN: &str = "0123456789abcdef0123456789abcdef-admin";
pub(crate) const WIKI: &str = "https://wiki.example/saml/metadata";
pub(crate) const WIKI_ACS: &str = "https://wiki.example/saml/acs";
pub(crate) const BANK: &str = "https://bank.example/saml/metadata";
pub(crate) const BANK_ACS: &str = "https://bank.example/saml/acs";
pub(crate) const PPT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
pub(crate) const REFEDS_MFA: &str = "https://refeds.org/profile/mfa";
const NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";

pub(super) fn sp(entity_id: &str, acs: &str, require_mfa: bool) -> SpConfig {
    SpConfig { consent: Some(idp_home::model::ConsentMode::Implied), require_mfa, ..plain_sp(entity_id, acs) }
}

pub(crate) async fn start() -> Idp {
    start_with(|_| {}).await
}

/// [`start`] with the configuration changed by `change` (`public_url` may name the listener
/// by another host name).
pub(crate) async fn start_with(change: impl FnOnce(&mut Config)) -> Idp {
    let setup = |config: &mut Config| {
        config.admin_token = Some(Secret::new(ADMIN));
        config.service_providers = vec![sp(WIKI, WIKI_ACS, false), sp(BANK, BANK_ACS, true)];
        change(config);
    };
    super::harness::start(setup, vec![user("bob", &["staff"]), user("carol", &["staff"])]).await
}

impl Idp {
    /// The current code of `uid`'s authenticator (from the stored secret, as the app would).
    pub(crate) fn code(&self, uid: &str) -> String {
        let user = self.state.store.get_user(uid).unwrap().unwrap();
        let secret = URL_SAFE_NO_PAD.decode(user.security.totp.unwrap().secret).unwrap();
        idp_home::service::mfa::code_at(&secret, service_kit::Clock::now(&*self.clock)).unwrap()
    }
}

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub(crate) fn input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].replace("&amp;", "&"))
}

pub(crate) fn request(issuer: &str, acs: &str, id: &str, context: &str) -> String {
    format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"2025-10-09T12:00:00Z\" AssertionConsumerServiceURL=\"{acs}\">\
         <saml:Issuer>{issuer}</saml:Issuer>{context}</samlp:AuthnRequest>"
    )
}

pub(crate) fn requested(class: &str) -> String {
    format!(
        "<samlp:RequestedAuthnContext Comparison=\"exact\"><saml:AuthnContextClassRef>{class}\
         </saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"
    )
}

/// The decoded SAMLResponse of an auto-post page, if it is one.
pub(crate) fn posted(page: &str) -> Option<String> {
    input(page, "SAMLResponse").map(|b64| String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap())
}

pub(crate) async fn sso(idp: &Idp, b: &reqwest::Client, xml: &str) -> String {
    let r = b.post(idp.url("/saml/sso")).form(&[("SAMLRequest", STANDARD.encode(xml))]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

/// Posts the password on the sign-in form `page`; returns (status, next page).
pub(crate) async fn password(idp: &Idp, b: &reqwest::Client, page: &str, uid: &str) -> (StatusCode, String) {
    let csrf = input(page, "csrf").unwrap_or_else(|| panic!("a sign-in form: {page}"));
    let r = b
        .post(idp.url("/saml/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", uid), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Posts `code` on the second-step page `page`.
pub(crate) async fn second_step(idp: &Idp, b: &reqwest::Client, page: &str, code: &str) -> reqwest::Response {
    assert!(page.contains("action=\"/login/mfa\""), "the second step: {page}");
    let csrf = input(page, "csrf").unwrap();
    let login_csrf = input(page, "login_csrf").unwrap();
    b.post(idp.url("/login/mfa"))
        .form(&[("csrf", csrf.as_str()), ("login_csrf", login_csrf.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
}

pub(crate) fn class_ref(xml: &str) -> &str {
    let start = xml.find("<saml:AuthnContextClassRef>").unwrap() + "<saml:AuthnContextClassRef>".len();
    &xml[start..start + xml[start..].find('<').unwrap()]
}

pub(crate) fn assert_no_authn_context(page: &str) {
    let xml = posted(page).unwrap_or_else(|| panic!("an auto-post: {page}"));
    assert!(xml.contains(NO_AUTHN_CONTEXT) && !xml.contains("Assertion"), "{xml}");
}

/// Signs `uid` in on the account page (password only) in `b`.
pub(crate) async fn account_sign_in(idp: &Idp, b: &reqwest::Client, uid: &str) -> reqwest::Response {
    let form = b.get(idp.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&form, "csrf").unwrap();
    b.post(idp.url("/account/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", uid), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
}

/// Enrols an authenticator for the account signed in in `b`; returns the recovery codes.
pub(crate) async fn enrol(idp: &Idp, b: &reqwest::Client, uid: &str) -> Vec<String> {
    let page = b.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("No authenticator app is set up"), "{page}");
    let csrf = input(&page, "csrf").unwrap();
    // A forged form changes nothing.
    let r = b.post(idp.url("/account/security/totp/start")).form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b
        .post(idp.url("/account/security/totp/start"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("<code>"), "a QR code and the key: {page}");
    // Not yet confirmed: the sign-in does not ask for it.
    assert!(!idp_home::service::mfa::uses_second_factor(&idp.state.store.get_user(uid).unwrap().unwrap()));
    let r = b
        .post(idp.url("/account/security/totp/confirm"))
        .form(&[("csrf", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a wrong code does not confirm");
    let code = idp.code(uid);
    let r = b
        .post(idp.url("/account/security/totp/confirm"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let codes: Vec<String> = page
        .match_indices("<li><code>")
        .map(|(i, m)| {
            let rest = &page[i + m.len()..];
            rest[..rest.find('<').unwrap()].to_owned()
        })
        .collect();
    assert_eq!(codes.len(), idp_home::service::mfa::RECOVERY_CODES, "{page}");
    let stored = idp.state.store.get_user(uid).unwrap().unwrap().security.totp.unwrap();
    assert!(stored.confirmed && stored.recovery.iter().all(|h| !codes.contains(h)), "stored hashed");
    codes
}

#[tokio::test]
async fn totp_enrolment_second_step_replay_expiry_and_throttle() {
    let idp = start().await;

    // Before enrolment: the bank requires MFA, bob has no factor: NoAuthnContext.
    let b0 = browser();
    let form = sso(&idp, &b0, &request(BANK, BANK_ACS, "_b0", "")).await;
    let (status, page) = password(&idp, &b0, &form, "bob").await;
    assert_eq!(status, StatusCode::OK);
    assert_no_authn_context(&page);

    // Enrolment on the account page (a password-only session).
    let b = browser();
    assert_eq!(account_sign_in(&idp, &b, "bob").await.status(), StatusCode::SEE_OTHER);
    let recovery = enrol(&idp, &b, "bob").await;
    idp.clock.advance(30);

    // That session steps up for the bank: no password, a code, then the MFA class.
    let page = sso(&idp, &b, &request(BANK, BANK_ACS, "_b1", "")).await;
    let r = second_step(&idp, &b, &page, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let xml = posted(&r.text().await.unwrap()).unwrap();
    assert_eq!(class_ref(&xml), REFEDS_MFA, "{xml}");
    // Now an MFA session: an SP asking for exactly the password class gets that class; one
    // asking for a class nobody issues gets NoAuthnContext.
    let page = sso(&idp, &b, &request(WIKI, WIKI_ACS, "_w1", &requested(PPT))).await;
    assert_eq!(class_ref(&posted(&page).unwrap()), PPT);
    let page = sso(&idp, &b, &request(WIKI, WIKI_ACS, "_w2", &requested("urn:example:smartcard"))).await;
    assert_no_authn_context(&page);

    // A fresh browser: password, then the second step; a wrong code is refused.
    idp.clock.advance(30);
    let b2 = browser();
    let form = sso(&idp, &b2, &request(WIKI, WIKI_ACS, "_w3", "")).await;
    let (status, page) = password(&idp, &b2, &form, "bob").await;
    assert_eq!(status, StatusCode::OK);
    assert!(posted(&page).is_none(), "no assertion before the code");
    let r = second_step(&idp, &b2, &page, "123456").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let retry = r.text().await.unwrap();
    let code = idp.code("bob");
    let r = second_step(&idp, &b2, &retry, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let xml = posted(&r.text().await.unwrap()).unwrap();
    assert_eq!(class_ref(&xml), REFEDS_MFA);
    assert!(xml.contains("InResponseTo=\"_w3\""));
    // The session is an MFA one: the bank answers without asking again.
    let page = sso(&idp, &b2, &request(BANK, BANK_ACS, "_b2", "")).await;
    assert_eq!(class_ref(&posted(&page).unwrap()), REFEDS_MFA);

    // The same code in another browser: replayed, refused; the next step's code works.
    let b3 = browser();
    let form = sso(&idp, &b3, &request(WIKI, WIKI_ACS, "_w4", "")).await;
    let (_, page) = password(&idp, &b3, &form, "bob").await;
    let r = second_step(&idp, &b3, &page, &code).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a replayed code");
    let retry = r.text().await.unwrap();
    idp.clock.advance(30);
    let r = second_step(&idp, &b3, &retry, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(posted(&r.text().await.unwrap()).is_some());

    // The pending second step expires.
    let b4 = browser();
    let form = sso(&idp, &b4, &request(WIKI, WIKI_ACS, "_w5", "")).await;
    let (_, page) = password(&idp, &b4, &form, "bob").await;
    idp.clock.advance(idp_home::service::mfa::PENDING_LIFETIME + 1);
    let r = second_step(&idp, &b4, &page, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "expired");
    // Nor is it accepted from another browser (the cookie is this browser's).
    let b5 = browser();
    let form = sso(&idp, &b5, &request(WIKI, WIKI_ACS, "_w6", "")).await;
    let (_, page) = password(&idp, &b5, &form, "bob").await;
    let r = second_step(&idp, &browser(), &page, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no cookie: expired form");

    // A recovery code works once.
    let r = second_step(&idp, &b5, &page, &recovery[0].to_uppercase()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(posted(&r.text().await.unwrap()).is_some());
    let b6 = browser();
    let form = sso(&idp, &b6, &request(WIKI, WIKI_ACS, "_w7", "")).await;
    let (_, page) = password(&idp, &b6, &form, "bob").await;
    let r = second_step(&idp, &b6, &page, &recovery[0]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "used already");

    // Wrong codes are throttled (after the free failures: a wait, with Retry-After).
    let mut page = r.text().await.unwrap();
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        let r = second_step(&idp, &b6, &page, "000000").await;
        last = r.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key(RETRY_AFTER));
            break;
        }
        page = r.text().await.unwrap();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn policy_off_or_required_and_the_account_page_sign_in() {
    let idp = start().await;
    let http = reqwest::Client::new();
    let b = browser();
    assert_eq!(account_sign_in(&idp, &b, "carol").await.status(), StatusCode::SEE_OTHER);
    enrol(&idp, &b, "carol").await;
    idp.clock.advance(30);

    // The account page's sign-in asks for the code too, then lands on the account page.
    let b2 = browser();
    let r = account_sign_in(&idp, &b2, "carol").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let r = b2
        .post(idp.url("/login/mfa"))
        .form(&[("csrf", csrf.as_str()), ("login_csrf", ""), ("code", idp.code("carol").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/account");
    let page = b2.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("An authenticator app is set up"), "{page}");

    // Policy off (admin API): no second step, and the bank is answered NoAuthnContext.
    let put = |uid: &str, policy: &str| {
        http.put(idp.url(&format!("/admin/users/{uid}/mfa")))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!(policy))
            .send()
    };
    let r = put("carol", "off").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let b3 = browser();
    let form = sso(&idp, &b3, &request(WIKI, WIKI_ACS, "_w1", "")).await;
    let (_, page) = password(&idp, &b3, &form, "carol").await;
    assert_eq!(class_ref(&posted(&page).unwrap()), PPT);
    let page = sso(&idp, &b3, &request(BANK, BANK_ACS, "_b1", "")).await;
    assert_no_authn_context(&page);
    // Under policy off the person can still remove the factor, with a code for it; a wrong
    // code removes nothing.
    idp.clock.advance(30);
    let page = b2.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let remove = |code: String| {
        b2.post(idp.url("/account/security/totp/remove"))
            .form(&[("csrf", csrf.clone()), ("code", code)])
            .send()
    };
    assert_eq!(remove("000000".into()).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert!(idp.state.store.get_user("carol").unwrap().unwrap().security.totp.is_some());
    let r = remove(idp.code("carol")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert!(idp.state.store.get_user("carol").unwrap().unwrap().security.totp.is_none(), "removed");

    // Policy required for bob, who has no factor: services send him to set one up.
    assert_eq!(put("bob", "required").await.unwrap().status(), StatusCode::OK);
    assert_eq!(put("nobody", "required").await.unwrap().status(), StatusCode::NOT_FOUND);
    let b4 = browser();
    let form = sso(&idp, &b4, &request(WIKI, WIKI_ACS, "_w2", "")).await;
    let (status, page) = password(&idp, &b4, &form, "bob").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("/account/security"), "{page}");
    // A request only MFA satisfies, for a user without a factor: NoAuthnContext.
    let b5 = browser();
    let form = sso(&idp, &b5, &request(WIKI, WIKI_ACS, "_w3", &requested(REFEDS_MFA))).await;
    let (_, page) = password(&idp, &b5, &form, "bob").await;
    assert_no_authn_context(&page);
}
