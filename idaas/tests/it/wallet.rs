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
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;
use service_kit::secret::Secret;
use service_kit::ManualClock;

use super::e2e::{browser, pii_names, visit};
use super::slo::{start, T0};

const PHONE: &str = "+49 30 5550199";
const NOTE: &str = "Leave parcels with the neighbour at no. 12";
const EMAIL: &str = "bob.the.builder@example.org";

/// A multipart body as the add/edit form posts it: `fields`, then the value file when given.
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----idaas-wallet-test-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    if let Some((name, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"value_file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

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

    // Purposes per domain: salesforce on the general purposes (shopping's), amazon only for
    // delivery; then salesforce given its own (delivery's), which replace the general ones.
    let mut email = vec![("csrf", csrf.as_str()), ("attr", "email"), ("value", EMAIL)];
    email.extend_from_slice(&[
        ("domain", "salesforce"),
        ("domain", "amazon"),
        ("purpose", "current"),
        ("primary", "purchase"),
        ("purpose@amazon", "delivery"),
        ("life", "days"),
        ("days", "7"),
    ]);
    let r = b.post(format!("{url}/preview")).form(&email).send().await.unwrap();
    let page = r.text().await.unwrap();
    assert!(
        page.contains(
            "domain=salesforce,amazon purposes=current primary=purchase purposes@amazon=delivery for=7d"
        ),
        "{page}"
    );
    assert!(page.contains("services of amazon may read it for delivery"), "{page}");
    let r = b.post(format!("{url}/save")).form(&email).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let shopping = visit(&stack, &browser(), 0, "/cart").await;
    assert_eq!(shopping.seen["pii"]["email"], EMAIL, "{}", shopping.seen);
    let delivery = visit(&stack, &browser(), 1, "/ship").await;
    assert!(!pii_names(&delivery.seen).contains(&"email".to_owned()), "{}", delivery.seen);
    let edit = b.get(format!("{url}/edit?attr=email")).send().await.unwrap().text().await.unwrap();
    assert!(
        edit.contains("<details class=\"own-purposes\" open><summary>Purposes for amazon only"),
        "{edit}"
    );
    assert!(edit.contains("name=\"purpose@amazon\" value=\"delivery\" checked"), "{edit}");
    email.extend_from_slice(&[("purposes_other@salesforce", "contact"), ("primary@salesforce", "delivery")]);
    let r = b.post(format!("{url}/save")).form(&email).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let delivery = visit(&stack, &browser(), 1, "/ship").await;
    assert_eq!(delivery.seen["pii"]["email"], EMAIL, "{}", delivery.seen);
    let shopping = visit(&stack, &browser(), 0, "/cart").await;
    assert!(!pii_names(&shopping.seen).contains(&"email".to_owned()), "{}", shopping.seen);
    // Purposes for a domain not chosen are refused with the reason, and change nothing.
    email.push(("purpose@ebay", "contact"));
    let r = b.post(format!("{url}/save")).form(&email).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("did not choose ebay"));

    // A value from a file (multipart, as the form posts it): the same bytes reach delivery and
    // the vault. A file over 64 KiB is refused, and nothing is stored.
    let mut fields = vec![("csrf", csrf.as_str()), ("attr", "note"), ("value", "")];
    fields.extend_from_slice(&DELIVERY_WEEK);
    let (kind, body) = multipart(&fields, Some(("note.txt", NOTE.as_bytes())));
    let r = b
        .post(format!("{url}/save"))
        .header(ORIGIN, url.as_str())
        .header(CONTENT_TYPE, kind)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert_eq!(Vault::open(&vault_path, "a long passphrase").unwrap().get("note"), Some(NOTE.as_bytes()));
    let delivery = visit(&stack, &browser(), 1, "/ship").await;
    assert_eq!(delivery.seen["pii"]["note"], NOTE, "{}", delivery.seen);
    fields[1] = ("attr", "big");
    let big = vec![b'x'; wallet::body::MAX_FILE + 1];
    let (kind, body) = multipart(&fields, Some(("big.bin", &big)));
    let r = b.post(format!("{url}/save")).header(CONTENT_TYPE, kind).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("at most 64 KiB"));
    assert_eq!(Vault::open(&vault_path, "a long passphrase").unwrap().get("big"), None);
    // The form posts multipart and offers the file; the live preview's script is served.
    let form_page = b.get(format!("{url}/edit")).send().await.unwrap().text().await.unwrap();
    assert!(form_page.contains("enctype=\"multipart/form-data\"") && form_page.contains("type=\"file\""));
    assert!(form_page.contains("<script src=\"/wallet.js\"></script>"), "{form_page}");
    let r = b.get(format!("{url}/wallet.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));

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
        .chain([PHONE, NOTE, EMAIL])
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

/// RFC 4648 base32 (the authenticator key the account page shows), spaces ignored.
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c.to_ascii_uppercase()).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Enrols an authenticator app for bob on the home IdP's account page; returns its secret.
async fn enrol_bob(stack: &idaas::stack::Stack, clock: &ManualClock) -> Vec<u8> {
    let home = &stack.home_url;
    let b = browser();
    let page = b.get(format!("{home}/account")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let r = b
        .post(format!("{home}/account/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", stack.password.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    let page = b.get(format!("{home}/account/security")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap_or_else(|| panic!("{page}"));
    let r =
        b.post(format!("{home}/account/security/totp/start")).form(&[("csrf", csrf.as_str())]).send().await;
    let page = r.unwrap().text().await.unwrap();
    let start =
        page.find("type this key into the app: <code>").unwrap() + "type this key into the app: <code>".len();
    let secret = base32_decode(&page[start..start + page[start..].find('<').unwrap()]);
    let code = idp_home::service::mfa::code_at(&secret, service_kit::Clock::now(clock)).unwrap();
    let r = b
        .post(format!("{home}/account/security/totp/confirm"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    secret
}

/// Issue 20, item 3: uploads need a short-lived upload token. Without an authenticator app
/// the wallet gets it by itself (the test above); with one, it starts all the same, and the
/// form asks for a code when it saves (a wrong code is refused); once it has a token, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_asks_for_the_authenticator_code_when_an_upload_token_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = start(dir.path(), clock.clone()).await;
    let secret = enrol_bob(&stack, &clock).await;
    clock.advance(30);
    let w = open_wallet(&stack, clock.clone(), None).await;
    let url = base(&w);
    let (b, csrf) = signed_in(&w).await;
    let page = b.get(format!("{url}/edit")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Code from your authenticator app"), "{page}");
    let index = b.get(format!("{url}/")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("id=\"code-lastname\""), "deleting asks for it too: {index}");

    let mut form = phone_form(&csrf, PHONE, &DELIVERY_WEEK);
    let r = b.post(format!("{url}/save")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Type the code from your authenticator app"));
    form.push(("code", "000000"));
    let r = b.post(format!("{url}/save")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("the code is wrong"));
    clock.advance(30);
    let code = idp_home::service::mfa::code_at(&secret, service_kit::Clock::now(&*clock)).unwrap();
    form.pop();
    form.push(("code", code.as_str()));
    let r = b.post(format!("{url}/save")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let home = HomeClient::new(&stack.home_url).unwrap();
    let token = home.token("bob", &stack.password).await.unwrap();
    assert!(home.list(&token).await.unwrap().iter().any(|p| p.attribute == "phone"));

    // The token holds for a while: deleting needs no code now.
    let page = b.get(format!("{url}/edit")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("Code from your authenticator app"), "{page}");
    let r = b.post(format!("{url}/delete")).form(&[("csrf", csrf.as_str()), ("attr", "phone")]).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::SEE_OTHER);
    assert!(!home.list(&token).await.unwrap().iter().any(|p| p.attribute == "phone"));
    w.stop().await.unwrap();

    // `idaas pii put` and `rm` get the upload token too: the code from --code or asked for
    // (here piped on stdin); none given and none typed: refused.
    let pii = |args: Vec<String>, stdin: Vec<u8>| {
        let password = stack.password.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idaas"))
                .args(&args)
                .env("IDAAS_PASSWORD", password)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(&stdin).unwrap();
            child.wait_with_output().unwrap()
        })
    };
    let account = |cmd: &str| -> Vec<String> {
        ["pii", cmd, "--home", stack.home_url.as_str(), "--user", "bob", "--attr", "cli_note"]
            .map(str::to_owned)
            .to_vec()
    };
    let mut put = account("put");
    put.extend(
        [
            "--value",
            "from the CLI",
            "--rules",
            "domain=salesforce,amazon purposes=contact purposes@amazon=delivery for=7d",
        ]
        .map(str::to_owned),
    );
    let o = pii(put.clone(), Vec::new()).await.unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("give --code"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    clock.advance(30);
    let code = idp_home::service::mfa::code_at(&secret, service_kit::Clock::now(&*clock)).unwrap();
    put.extend(["--code".to_owned(), code]);
    let o = pii(put, Vec::new()).await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stored = home.list(&token).await.unwrap();
    let note = stored.iter().find(|p| p.attribute == "cli_note").expect("cli_note stored");
    assert!(
        note.policy.contains("domain:amazon@telekom and purpose:delivery@amazon"),
        "a domain's own purposes: {}",
        note.policy
    );
    clock.advance(30);
    let code = idp_home::service::mfa::code_at(&secret, service_kit::Clock::now(&*clock)).unwrap();
    let o = pii(account("rm"), format!("{code}\n").into_bytes()).await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!home.list(&token).await.unwrap().iter().any(|p| p.attribute == "cli_note"));

    stack.stop().await;
}
