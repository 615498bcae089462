//! Step-up on a new device (issue 20 item 2) over a real listener: the first sign-in of a
//! user with an authenticator from a new browser asks for the code, the same browser again
//! (its device cookie) does not, another browser does; a forged or tampered device cookie is
//! a new device; a `disallowed_networks` address asks even on a known device; the "new
//! sign-in" mail is queued (without secrets); a device forgotten on `/account/security` is
//! new again; the list is bounded per user; a malformed CIDR stops the start with a clear
//! error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::StatusCode;

use super::mfa::{
    account_sign_in, class_ref, enrol, input, password, posted, request, second_step, sso, start, start_with,
    Idp, PASSWORD, PPT, REFEDS_MFA, WIKI, WIKI_ACS,
};

const AGENT: &str = "DeviceTest/1.0 (X11; idaas)";

/// A browser with its own cookie jar (so that the test can copy the device cookie alone).
fn browser_with(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .user_agent(AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn fresh() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    (browser_with(jar.clone()), jar)
}

/// The value of the device cookie in `jar`.
fn device_cookie(idp: &Idp, jar: &Jar) -> String {
    let url = idp.base.parse().unwrap();
    let all = jar.cookies(&url).unwrap();
    all.to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("idaas_device="))
        .unwrap_or_else(|| panic!("a device cookie in {all:?}"))
        .to_owned()
}

/// A browser that has only this device cookie (the same device, no IdP session).
fn same_device(idp: &Idp, value: &str) -> reqwest::Client {
    let jar = Arc::new(Jar::default());
    let url = idp.base.parse().unwrap();
    jar.add_cookie_str(&format!("idaas_device={value}; Path=/"), &url);
    let sent = jar.cookies(&url).map(|h| h.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_eq!(sent, format!("idaas_device={value}"), "the jar sends the device cookie");
    browser_with(jar)
}

/// The "new sign-in" mails in the outbox.
fn new_sign_in_mails(idp: &Idp) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(idp.state.config.outbox_dir()) else {
        return Vec::new();
    };
    dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("Subject: New sign-in to your account from"))
        .collect()
}

/// A service sign-in of `uid` in `b` up to the page after the password.
async fn sign_in(idp: &Idp, b: &reqwest::Client, uid: &str, id: &str) -> String {
    let form = sso(idp, b, &request(WIKI, WIKI_ACS, id, "")).await;
    let (status, page) = password(idp, b, &form, uid).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

#[tokio::test]
async fn a_new_device_asks_for_the_code_a_known_one_does_not_and_a_forgotten_one_does_again() {
    let idp = start().await;

    // bob has no factor yet: his first sign-in goes through, is mailed, and the browser is
    // remembered.
    let (b1, jar1) = fresh();
    assert_eq!(account_sign_in(&idp, &b1, "bob").await.status(), StatusCode::SEE_OTHER);
    let mails = new_sign_in_mails(&idp);
    assert_eq!(mails.len(), 1, "a new device is mailed");
    let mail = &mails[0];
    assert!(
        mail.contains("To: bob@example.org") && mail.contains("127.0.0.1") && mail.contains(AGENT),
        "{mail}"
    );
    assert!(!mail.contains(PASSWORD) && !mail.contains("idaas_device"), "nothing secret: {mail}");
    let known = device_cookie(&idp, &jar1);
    let devices = idp.state.store.list_devices("bob").unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!((devices[0].agent.as_str(), devices[0].address.as_str()), (AGENT, "127.0.0.1"));
    enrol(&idp, &b1, "bob").await;
    idp.clock.advance(30);

    // The same device (its cookie, no session): the password is enough, nothing mailed.
    let b2 = same_device(&idp, &known);
    let page = sign_in(&idp, &b2, "bob", "_k1").await;
    let xml = posted(&page).unwrap_or_else(|| panic!("no second step on a known device: {page}"));
    assert_eq!(class_ref(&xml), PPT);
    assert_eq!(new_sign_in_mails(&idp).len(), 1);

    // Another browser: the code is asked, the sign-in is mailed; after the code that browser
    // is known too.
    let (b3, jar3) = fresh();
    let page = sign_in(&idp, &b3, "bob", "_n1").await;
    assert!(posted(&page).is_none(), "no assertion before the code");
    assert_eq!(new_sign_in_mails(&idp).len(), 2);
    let r = second_step(&idp, &b3, &page, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(class_ref(&posted(&r.text().await.unwrap()).unwrap()), REFEDS_MFA);
    let other = device_cookie(&idp, &jar3);
    assert_ne!(other, known);
    assert_eq!(idp.state.store.list_devices("bob").unwrap().len(), 2);
    idp.clock.advance(30);
    assert!(posted(&sign_in(&idp, &same_device(&idp, &other), "bob", "_n2").await).is_some());

    // A forged or tampered device cookie is a new device.
    let (payload, tag) = known.split_once('.').unwrap();
    let (other_payload, _) = other.split_once('.').unwrap();
    let mut flipped = tag.to_owned().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    for forged in [
        format!("{other_payload}.{tag}"),
        format!("{payload}.{}", String::from_utf8(flipped).unwrap()),
        "eyJkIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSJ9.AAAA".to_owned(),
        "garbage".to_owned(),
    ] {
        let page = sign_in(&idp, &same_device(&idp, &forged), "bob", "_f1").await;
        assert!(posted(&page).is_none() && page.contains("action=\"/login/mfa\""), "{forged}: {page}");
    }

    // Another user on bob's browser: new for her (the code is not asked: no factor), and
    // bob's device stays known to bob.
    let page = sign_in(&idp, &same_device(&idp, &known), "carol", "_c1").await;
    assert!(posted(&page).is_some());
    let carol = idp.state.store.list_devices("carol").unwrap();
    assert!(
        idp.state.store.list_devices("bob").unwrap().iter().any(|d| d.id == carol[0].id),
        "one id per browser"
    );

    // The security page lists bob's devices, this one marked; forgetting it makes it new.
    let page = b1.get(idp.url("/account/security")).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("Forget this device").count(), 2, "{page}");
    let this = page.find("(this device)").unwrap_or_else(|| panic!("this device marked: {page}"));
    let id = input(&page[this..], "device").unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let r = b1
        .post(idp.url("/account/security/devices/revoke"))
        .form(&[("csrf", "forged"), ("device", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "CSRF checked");
    let r = b1
        .post(idp.url("/account/security/devices/revoke"))
        .form(&[("csrf", csrf.as_str()), ("device", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(idp.state.store.list_devices("bob").unwrap().len(), 1);
    let r = b1
        .post(idp.url("/account/security/devices/revoke"))
        .form(&[("csrf", csrf.as_str()), ("device", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "gone already");
    idp.clock.advance(30);
    let b5 = same_device(&idp, &known);
    let page = sign_in(&idp, &b5, "bob", "_r1").await;
    assert!(posted(&page).is_none(), "a forgotten device asks for the code again");
    let r = second_step(&idp, &b5, &page, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(idp.state.store.list_devices("bob").unwrap().iter().any(|d| d.id == id), "known again");
}

#[tokio::test]
async fn the_device_list_is_bounded_per_user() {
    use idp_home::service::devices::{self, MAX_PER_USER};
    let idp = start().await;
    let ids: Vec<String> = (0..MAX_PER_USER + 5).map(|_| devices::new_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        devices::remember(&idp.state, "bob", id, None, "x", 1_000 + i as i64).unwrap();
    }
    // Seeing the first kept one again makes it the most recent: the next eviction spares it.
    devices::remember(&idp.state, "bob", &ids[5], None, "x", 5_000).unwrap();
    devices::remember(&idp.state, "bob", &devices::new_id(), None, "x", 5_001).unwrap();
    let kept: Vec<String> = devices::list(&idp.state, "bob").unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(kept.len(), MAX_PER_USER);
    assert!(ids[..6].iter().all(|id| *id == ids[5] || !kept.contains(id)), "the least recently seen evicted");
    assert!(kept.contains(&ids[5]) && kept.contains(&ids[MAX_PER_USER + 4]));
    assert_eq!(kept[1], ids[5], "most recent first");
}

#[tokio::test]
async fn a_disallowed_network_asks_even_on_a_known_device() {
    let idp = start_with(|c| c.disallowed_networks = vec!["192.0.2.0/24".into(), "127.0.0.0/8".into()]).await;
    let (b1, jar1) = fresh();
    assert_eq!(account_sign_in(&idp, &b1, "bob").await.status(), StatusCode::SEE_OTHER);
    let known = device_cookie(&idp, &jar1);
    enrol(&idp, &b1, "bob").await;
    idp.clock.advance(30);
    let before = new_sign_in_mails(&idp).len();
    let b2 = same_device(&idp, &known);
    let page = sign_in(&idp, &b2, "bob", "_d1").await;
    assert!(posted(&page).is_none() && page.contains("action=\"/login/mfa\""), "{page}");
    let mails = new_sign_in_mails(&idp);
    assert_eq!(mails.len(), before + 1);
    assert!(mails.iter().any(|m| m.contains("a network your organisation flags")), "{mails:?}");
    let r = second_step(&idp, &b2, &page, &idp.code("bob")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(posted(&r.text().await.unwrap()).is_some());
}

#[test]
fn a_malformed_network_is_a_clear_start_up_error() {
    use idp_home::config::Config;
    for (bad, index) in [("10.0.0.0/33", 1), ("10.0.0", 1), ("not a network", 1), ("::1/200", 1)] {
        let c = Config { disallowed_networks: vec!["10.0.0.0/8".into(), bad.into()], ..Config::default() };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(&format!("disallowed_networks[{index}]")) && e.contains(bad), "{e}");
    }
    let e = Config::from_toml("disallowed_networks = [\"10.0.0.0/8\", \"300.0.0.0/8\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("disallowed_networks[1]") && e.contains("300.0.0.0/8"), "{e}");
    let ok = Config {
        disallowed_networks: vec!["10.1.2.3/8".into(), "2001:db8::/32".into()],
        ..Config::default()
    };
    assert_eq!(ok.disallowed_networks().unwrap()[0].to_string(), "10.0.0.0/8");
}
