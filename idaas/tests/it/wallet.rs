//! The data owner's wallet (issue 19) over real HTTP, against the quickstart stack's home IdP:
//! the one-time token (single use) for the session cookie, refusal without it, refusal of a
//! foreign Host (DNS rebinding) and of a foreign Origin and a missing CSRF token on forms;
//! preview, add, edit the rules without retyping (the local vault), edit without the vault
//! (the value is asked for again), delete — and what the home IdP holds is ciphertext only:
//! the plaintexts appear in no file of its data directory. Delivery reads the phone number,
//! shopping does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use idaas::browser::form_input as input;
use idaas::owner::HomeClient;
use idaas::wallet::{self, vault::Vault, Wallet, WalletOptions};
use reqwest::header::{HOST, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;
use service_kit::secret::Secret;
use service_kit::ManualClock;

use super::e2e::{browser, pii_names, visit};
use super::slo::{start, T0};

const PHONE: &str = "+49 30 5550199";

async fn open_wallet(stack: &idaas::stack::Stack, clock: Arc<ManualClock>, vault: Option<Vault>) -> Wallet {
    wallet::start(WalletOptions {
        home: stack.home_url.clone(),
        user: "bob".into(),
        password: Secret::new(stack.password.clone()),
        port: 0,
        vault,
        extra_ca: None,
        clock,
    })
    .await
    .unwrap()
}

fn base(w: &Wallet) -> String {
    format!("http://127.0.0.1:{}", w.addr.port())
}

/// A browser holding the wallet's cookie, and the forms' CSRF token.
async fn signed_in(w: &Wallet) -> (reqwest::Client, String) {
    let b = browser();
    let r = b.get(&w.open_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let page = b.get(format!("{}/edit", base(w))).send().await.unwrap().text().await.unwrap();
    (b, input(&page, "csrf").expect("a CSRF token in the form"))
}

fn phone_form<'a>(csrf: &'a str, value: &'a str, rules: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![("csrf", csrf), ("attr", "phone"), ("value", value)];
    f.extend_from_slice(rules);
    f
}

const DELIVERY_WEEK: [(&str, &str); 5] = [
    ("domain", "salesforce"),
    ("purpose", "contact"),
    ("primary", "delivery"),
    ("life", "days"),
    ("days", "7"),
];
const SHOPPING_MONTH: [(&str, &str); 5] = [
    ("domain", "salesforce"),
    ("purpose", "current"),
    ("primary", "purchase"),
    ("life", "days"),
    ("days", "30"),
];

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_adds_edits_and_deletes_and_the_home_idp_only_sees_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = start(dir.path(), clock.clone()).await;
    let vault_dir = tempfile::tempdir().unwrap();
    let vault_path = vault_dir.path().join("wallet-bob.vault");
    let w = open_wallet(&stack, clock.clone(), Some(Vault::open(&vault_path, "a long passphrase").unwrap()))
        .await;
    let url = base(&w);

    // Without the one-time token: nothing.
    let stranger = browser();
    assert_eq!(stranger.get(format!("{url}/")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let wrong = format!("{url}/open?token=not-the-token");
    assert_eq!(stranger.get(&wrong).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let (b, csrf) = signed_in(&w).await;
    // The token is single use.
    assert_eq!(stranger.get(&w.open_url).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(stranger.get(format!("{url}/")).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    // DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host.
    let port = w.addr.port();
    let r = b.get(format!("{url}/")).header(HOST, format!("evil.example:{port}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = b.get(format!("{url}/")).header(HOST, format!("localhost:{port}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("lastname") && page.contains("Who can open it today"), "{page}");
    // A foreign Origin, or no CSRF token, changes nothing.
    let form = phone_form(&csrf, PHONE, &DELIVERY_WEEK);
    let r =
        b.post(format!("{url}/save")).header(ORIGIN, "http://evil.example").form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let forged = phone_form("forged", PHONE, &DELIVERY_WEEK);
    assert_eq!(
        b.post(format!("{url}/save")).form(&forged).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // Preview: the short form, and delivery (not shopping) could open it.
    let r = b.post(format!("{url}/preview")).header(ORIGIN, url.as_str()).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("domain=salesforce purposes=contact primary=delivery for=7d"), "{page}");
    assert!(page.contains("<strong id=\"preview-readers\">Delivery service</strong>"), "{page}");

    // Add.
    let r = b.post(format!("{url}/save")).header(ORIGIN, url.as_str()).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let page = b.get(format!("{url}/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<th scope=\"row\">phone</th>"), "{page}");
    let delivery = visit(&stack, &browser(), 1, "/ship").await;
    assert_eq!(delivery.seen["pii"]["phone"], PHONE, "{}", delivery.seen);
    let shopping = visit(&stack, &browser(), 0, "/cart").await;
    assert!(!pii_names(&shopping.seen).contains(&"phone".to_owned()), "{}", shopping.seen);

    // Edit the rules without retyping: the vault keeps the value.
    let edit = b.get(format!("{url}/edit?attr=phone")).send().await.unwrap().text().await.unwrap();
    assert!(edit.contains("value=\"delivery\" checked"), "the stored rules pre-fill the form: {edit}");
    let form = phone_form(&csrf, "", &SHOPPING_MONTH);
    let r = b.post(format!("{url}/save")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let shopping = visit(&stack, &browser(), 0, "/cart").await;
    assert_eq!(shopping.seen["pii"]["phone"], PHONE, "{}", shopping.seen);
    assert_eq!(Vault::open(&vault_path, "a long passphrase").unwrap().get("phone"), Some(PHONE.as_bytes()));
    assert!(!contains(&std::fs::read(&vault_path).unwrap(), PHONE.as_bytes()), "the vault file is encrypted");

    // What the home IdP holds: ciphertext only, in its API and in every file it wrote.
    let home = HomeClient::new(&stack.home_url).unwrap();
    let token = home.token("bob", &stack.password).await.unwrap();
    let list = home.list(&token).await.unwrap();
    assert!(list.iter().any(|p| p.attribute == "phone" && p.policy.contains("ppurpose:purchase@salesforce")));
    let mut files = Vec::new();
    files_under(&stack.data_dir.join("home"), &mut files);
    assert!(!files.is_empty());
    // (Values of 8 bytes and more: a shorter one could turn up in random bytes by chance.)
    let plaintexts: Vec<&str> = pbe_core::disclosure::table1()
        .iter()
        .map(|(_, v, _)| *v)
        .chain([PHONE])
        .filter(|v| v.len() >= 8)
        .collect();
    for (path, bytes) in &files {
        for p in &plaintexts {
            assert!(!contains(bytes, p.as_bytes()), "{} holds the plaintext {p}", path.display());
        }
    }

    // Without a vault, changing rules asks for the value again.
    let w2 = open_wallet(&stack, clock.clone(), None).await;
    let (b2, csrf2) = signed_in(&w2).await;
    let r = b2
        .post(format!("{}/save", base(&w2)))
        .form(&phone_form(&csrf2, "", &DELIVERY_WEEK))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Type the value again"));
    w2.stop().await.unwrap();

    // Delete: gone at the home IdP and from the vault.
    let r = b
        .post(format!("{url}/delete"))
        .form(&[("csrf", csrf.as_str()), ("attr", "phone")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!home.list(&token).await.unwrap().iter().any(|p| p.attribute == "phone"));
    assert_eq!(Vault::open(&vault_path, "a long passphrase").unwrap().get("phone"), None);
    let r = b.post(format!("{url}/delete")).form(&[("attr", "lastname")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token, no delete");

    w.stop().await.unwrap();
    stack.stop().await;
}
