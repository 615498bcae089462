//! A sensitive path opened by a group owner's approval (issue 20), end to end over real HTTP
//! with the quickstart stack: shopping's `/reports` needs the approval of an owner of
//! `shop-managers` for an hour. bob is refused with a page linking to the home IdP's request
//! page; he asks; alice (a newly registered owner) approves on her account page; after signing
//! in again bob's `/reports` reaches the backend; an hour later the agent refuses it again
//! without any new sign-in. A forged approval in a session is impossible: the approval is an
//! attribute of the IdP's signed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use idaas::browser::form_input as input;
use idaas::stack::{Stack, REPORTS_APPROVERS};
use reqwest::header::ACCEPT;
use reqwest::StatusCode;
use service_kit::ManualClock;

use super::e2e::{browser, visit};
use super::slo::{location, start, T0};

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";
const ALICE_PASSWORD: &str = "alice's long enough password";

/// The `href` of the link labelled `label` on `page`, unescaped.
fn link(page: &str, label: &str) -> Option<String> {
    let end = page.find(&format!(">{label}</a>"))?;
    let start = page[..end].rfind("href=\"")? + "href=\"".len();
    Some(page[start..start + page[start..].find('"')?].replace("&amp;", "&"))
}

/// Registers and verifies alice (the JSON API and the link from her mail).
async fn register_alice(stack: &Stack) {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/users", stack.home_url))
        .json(&serde_json::json!({"uid": "alice", "email": "alice@example.org", "password": ALICE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let outbox = stack.data_dir.join("home/outbox");
    let mail = std::fs::read_dir(&outbox)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .find(|m| m.contains("To: alice@example.org\r\n"))
        .unwrap();
    let line = mail.lines().find(|l| l.contains("/api/users/verify?token=")).unwrap();
    let r = http.get(line[line.find("http").unwrap()..].trim()).send().await.unwrap();
    assert!(r.status().is_success());
}

/// Signs `uid` in on the home IdP's account page in `b`.
async fn account_sign_in(stack: &Stack, b: &reqwest::Client, uid: &str, password: &str) {
    let form = b.get(format!("{}/account", stack.home_url)).send().await.unwrap().text().await.unwrap();
    let csrf = input(&form, "csrf").unwrap();
    let r = b
        .post(format!("{}/account/login", stack.home_url))
        .form(&[("csrf", csrf.as_str()), ("uid", uid), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// `GET /reports` at shopping, as a browser asking for HTML.
async fn reports(stack: &Stack, b: &reqwest::Client) -> (StatusCode, String) {
    let r = b.get(format!("{}/reports", stack.agent_urls[0])).header(ACCEPT, HTML).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensitive_path_opens_with_an_owners_approval_and_closes_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let stack = start(dir.path(), clock.clone()).await;
    let bob = browser();
    let shop = stack.agent_urls[0].clone();
    visit(&stack, &bob, 0, "/cart").await;

    // Refused by the agent, with the way to ask.
    let (status, page) = reports(&stack, &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Approval needed") && page.contains(REPORTS_APPROVERS), "{page}");
    let ask = link(&page, "Ask for access").unwrap_or_else(|| panic!("a link to ask: {page}"));
    assert!(ask.starts_with(&format!("{}/account/access/request?", stack.home_url)), "{ask}");
    let again = link(&page, "Sign in again (after an approval)").unwrap();
    assert_eq!(again, "/saml/login?return_to=%2Freports");

    // No owner yet: the IdP says so. Then alice becomes one.
    let r = bob.get(&ask).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("has no owner"));
    register_alice(&stack).await;
    let r = reqwest::Client::new()
        .put(format!("{}/admin/groups/{REPORTS_APPROVERS}/owners", stack.home_url))
        .bearer_auth(stack.home_admin.token.expose())
        .json(&["alice"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // bob asks (his browser holds the IdP session of his sign-in).
    let page = bob.get(&ask).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("for <strong>1 hour</strong>"), "{page}");
    let fields: Vec<(&str, String)> = ["csrf", "sp", "path", "group", "valid_for", "return"]
        .iter()
        .map(|n| (*n, input(&page, n).unwrap()))
        .collect();
    let r =
        bob.post(format!("{}/account/access/request", stack.home_url)).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("href=\"{shop}/saml/login?return_to=%2Freports\"")),
        "the way back: {page}"
    );

    // Signing in again before a decision changes nothing.
    let (status, _) = reports(&stack, &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // alice approves on her account page.
    let alice = browser();
    account_sign_in(&stack, &alice, "alice", ALICE_PASSWORD).await;
    let page = alice.get(format!("{}/account", stack.home_url)).send().await.unwrap().text().await.unwrap();
    let form = &page[page.find("action=\"/account/access/decide\"").unwrap_or_else(|| panic!("{page}"))..];
    assert!(page.contains("<th scope=\"row\">bob</th>"), "{page}");
    let r = alice
        .post(format!("{}/account/access/decide", stack.home_url))
        .form(&[
            ("csrf", input(form, "csrf").unwrap()),
            ("id", input(form, "id").unwrap()),
            ("decision", "approve".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The session bob has still holds no approval; a fresh sign-in (no password: the IdP
    // session) brings it, and /reports reaches the backend.
    let (status, _) = reports(&stack, &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = bob.get(format!("{shop}{again}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let page = bob.get(location(&r)).send().await.unwrap().text().await.unwrap();
    let page = idaas::browser::through_consent(&bob, &stack.home_url, page).await.unwrap();
    let r = bob
        .post(format!("{shop}/saml/acs"))
        .form(&[
            ("SAMLResponse", input(&page, "SAMLResponse").unwrap_or_else(|| panic!("an auto-post: {page}"))),
            ("RelayState", input(&page, "RelayState").unwrap_or_default()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/reports");
    let r = bob.get(format!("{shop}/reports")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (&seen["user"], &seen["request"]["path"]),
        (&serde_json::json!("bob"), &serde_json::json!("/reports"))
    );
    // Other pages are as before.
    let r = bob.get(format!("{shop}/cart")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // An hour later the agent refuses it again, in the same session.
    clock.advance(3600);
    let (status, page) = reports(&stack, &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Approval needed"), "{page}");
    let r = bob.get(format!("{shop}/cart")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "still signed in");
}
