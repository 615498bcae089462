//! The quickstart in a real browser (issue 18), as a newcomer walks it: headless Chromium,
//! driven over WebDriver (`browser_kit.rs`), with a screenshot of every page in
//! `target/browser-shots/` and axe-core's accessibility check on each.
//!
//! carol registers at `/register` (from the sign-in form), opens the verification link from
//! the mail outbox, fails one sign-in (her user name stays), signs in to her account page —
//! her values with their rules in plain words, who can see what — signs in to shopping and
//! delivery, allowing each after seeing what it will read, asks for shopping's reports (a
//! sensitive path) and gets in once bob, the group's owner, approves, signs out everywhere, and then Back
//! and every service ask for the password again. Then she signs in with the keyboard only,
//! Back after a sign-in returns to the service's page, unknown addresses at the IdP and at an
//! agent are pages with a way on, she sets up an authenticator app on her account page
//! (issue 20), and the pages fit a phone's width.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use fantoccini::key::Key;
use idaas::owner::{HomeClient, PolicySource};
use idaas::stack::Stack;

use super::browser_kit::Browser;

const UID: &str = "carol";
const EMAIL: &str = "carol@example.org";
const PASSWORD: &str = "a long passphrase of carol";

/// The verification link the IdP mailed to `email` (its outbox file).
fn verification_link(stack: &Stack, email: &str) -> String {
    let outbox = stack.data_dir.join("home/outbox");
    for entry in std::fs::read_dir(&outbox).unwrap() {
        let path = entry.unwrap().path();
        let Ok(mail) = std::fs::read_to_string(&path) else { continue };
        if !mail.contains(&format!("To: {email}\r\n")) {
            continue;
        }
        let line = mail.lines().find(|l| l.contains("/api/users/verify?token=")).unwrap();
        return line[line.find("http").unwrap()..].trim().to_owned();
    }
    panic!("no mail to {email} in {}", outbox.display())
}

/// What carol's data-owner tool does after she verified: Table 1's values, encrypted on her
/// device under its rules, uploaded to her vault.
async fn store_her_data(stack: &Stack, today: u64) {
    let client = HomeClient::new(&stack.home_url).unwrap();
    let token = client.upload_token(UID, PASSWORD, None).await.unwrap().token;
    for (name, value, disclosure) in pbe_core::disclosure::table1() {
        let (ct, _) = client
            .encrypt(&PolicySource::Disclosure(Box::new(disclosure), today), value.as_bytes())
            .await
            .unwrap();
        client.put(&token, name, &ct).await.unwrap();
    }
}

/// RFC 4648 base32 without padding, decoded (the key an authenticator app is given).
fn base32_decode(text: &str) -> Vec<u8> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The quickstart's bob becomes the owner of the group that approves shopping's reports.
async fn make_bob_an_owner(stack: &Stack) {
    let r = reqwest::Client::new()
        .put(format!("{}/admin/groups/{}/owners", stack.home_url, idaas::stack::REPORTS_APPROVERS))
        .bearer_auth(stack.home_admin.token.expose())
        .json(&[idaas::stack::USER])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// bob signs in to his account page (an HTTP client, not the browser) and approves the first
/// waiting request.
async fn bob_approves(stack: &Stack) {
    use idaas::browser::form_input as input;
    let bob = idaas::browser::client().unwrap();
    let home = &stack.home_url;
    let form = bob.get(format!("{home}/account")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&form, "csrf").unwrap();
    let fields =
        [("csrf", csrf.as_str()), ("uid", idaas::stack::USER), ("password", stack.password.as_str())];
    bob.post(format!("{home}/account/login")).form(&fields).send().await.unwrap();
    let page = bob.get(format!("{home}/account")).send().await.unwrap().text().await.unwrap();
    let at = page.find("action=\"/account/access/decide\"").unwrap_or_else(|| panic!("{page}"));
    let (id, csrf) = (input(&page[at..], "id").unwrap(), input(&page[at..], "csrf").unwrap());
    let r = bob
        .post(format!("{home}/account/access/decide"))
        .form(&[("csrf", csrf.as_str()), ("id", id.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_registers_allows_reads_her_rules_and_signs_out_for_real_in_chromium() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (stack, clock) = super::browser_kit::start_stack(dir.path()).await;
    let (home, shop, delivery) = (&stack.home_url, &stack.agent_urls[0], &stack.agent_urls[1]);
    let mut b = Browser::start().await;

    // A service sends the newcomer to the IdP's sign-in form, which names both.
    b.goto(&format!("{shop}/")).await;
    b.wait_for("form[action='/saml/login']").await;
    b.wait_text("Shopping service asks you to sign in with idaas home IdP").await;
    b.page("01-sign-in-form").await;

    // Registration, linked from the form.
    b.follow("Create an account").await;
    b.wait_title("Create an account").await;
    b.page("02-register").await;
    b.fill("#uid", UID).await;
    b.fill("#email", EMAIL).await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/register'] button[type=submit]").await;
    b.wait_title("Check your e-mail").await;
    b.wait_text(EMAIL).await;
    b.page("03-check-your-email").await;

    // The link from the mail, then a way to sign in.
    b.goto(&verification_link(&stack, EMAIL)).await;
    b.wait_text("Sign in").await;
    b.page("04-verified").await;
    store_her_data(&stack, clock.today().unwrap()).await;

    // A wrong password: the user name stays, the password field has the focus.
    b.follow("Sign in").await;
    b.wait_title("Sign in").await;
    b.fill("#uid", UID).await;
    b.fill("#password", "not her password").await;
    b.click("button[type=submit]").await;
    b.wait_for("[role=alert]").await;
    let uid = b.wait_for("#uid").await.prop("value").await.unwrap();
    assert_eq!(uid.as_deref(), Some(UID), "the user name is kept after a failed attempt");
    assert_eq!(b.focused_id().await, "password");
    b.page("05-wrong-password").await;

    // Her account: each value with its rules in plain words, and who can see what today.
    b.fill("#password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_title("Your account").await;
    let text = b.wait_text("Who can see what today").await;
    assert!(
        text.contains("Services of salesforce may read this for contact, primarily for delivery"),
        "{text}"
    );
    let who = b.wait_for("#who + table").await.text().await.unwrap();
    assert!(who.contains("Shopping service"), "{who}");
    b.page("06-account").await;

    // Shopping: single sign-on, then consent showing exactly what it will read.
    b.goto(&format!("{shop}/")).await;
    b.wait_for("form[action='/saml/consent']").await;
    let text = b.wait_text("Shopping service asks to read").await;
    assert!(text.contains("dob") && text.contains("lastname"), "{text}");
    b.page("07-consent-shopping").await;
    b.click("button[value=allow]").await;
    b.wait_title("The shopping service").await;
    let text = b.wait_text("Signed in as carol").await;
    assert!(text.contains("not shown"), "missing data is explained: {text}");
    b.page("08-shopping").await;

    // Shopping's sales reports need an owner's approval (issue 20): carol asks, bob (owner of
    // shop-managers) approves on his account page, and after signing in again she is in.
    b.goto(&format!("{shop}/reports")).await;
    b.wait_title("Approval needed").await;
    b.wait_text("shop-managers").await;
    b.page("08a-approval-needed").await;
    make_bob_an_owner(&stack).await;
    b.follow("Ask for access").await;
    b.wait_title("Access request").await;
    b.wait_text("for 1 hour").await;
    b.page("08b-ask-for-access").await;
    b.click("form[action='/account/access/request'] button[type=submit]").await;
    b.wait_text("Your request was sent").await;
    b.page("08c-request-sent").await;
    bob_approves(&stack).await;
    b.follow("Back to Shopping service").await;
    b.wait_title("The shopping service").await;
    assert!(b.url().await.ends_with("/reports"), "{}", b.url().await);
    b.page("08d-reports-approved").await;

    // Delivery: no password, its own consent.
    b.goto(&format!("{delivery}/")).await;
    b.wait_for("form[action='/saml/consent']").await;
    b.wait_text("Delivery service asks to read").await;
    b.page("09-consent-delivery").await;
    b.click("button[value=allow]").await;
    b.wait_title("The delivery service").await;
    b.wait_text("Berlin").await;
    b.page("10-delivery").await;

    // The account page now lists both consents and where she is signed in; sign out everywhere.
    b.goto(&format!("{home}/")).await;
    b.wait_title("Your account").await;
    let consents = b.wait_for("#consents + table").await.text().await.unwrap();
    assert!(consents.contains("Shopping service") && consents.contains("Delivery service"), "{consents}");
    b.page("11-account-signed-in-to-both").await;
    b.click("form[action='/logout'] button[type=submit]").await;
    b.wait_title("Signed out").await;
    b.page("12-signed-out-everywhere").await;

    // Back shows no account page, and every service asks for the password again.
    b.c.back().await.unwrap();
    b.wait_for("input[type=password]").await;
    b.page("13-back-after-sign-out").await;
    for (service, name) in [(delivery, "Delivery"), (shop, "Shopping")] {
        b.goto(&format!("{service}/")).await;
        b.wait_for("input[type=password]").await;
        b.wait_text(&format!("{name} service asks you to sign in")).await;
    }
    b.page("14-services-ask-the-password").await;

    // Keyboard only: the user name field has the focus; Tab to the password, Enter signs in
    // (her consent stands, so the service's page follows).
    assert_eq!(b.focused_id().await, "uid", "the first field is focused");
    b.keyboard(&format!("{UID}{}{PASSWORD}{}", char::from(Key::Tab), char::from(Key::Enter))).await;
    b.wait_title("The shopping service").await;
    b.wait_text("Signed in as carol").await;
    b.page("15-keyboard-sign-in").await;

    // Back after a sign-in returns to the service's page (its agent has a session), never to
    // a "Sign-in failed" page.
    b.c.back().await.unwrap();
    b.wait_title("The shopping service").await;
    b.page("16-back-after-sign-in").await;
    // The same after single sign-on at delivery (Chromium's Back skips the pages that moved on
    // by themselves, the auto-posted response, and shows shopping).
    b.goto(&format!("{delivery}/")).await;
    b.wait_title("The delivery service").await;
    b.c.back().await.unwrap();
    b.wait_title("The shopping service").await;

    // Unknown addresses are pages with a way on, at the IdP and at an agent.
    b.goto(&format!("{home}/no-such-page")).await;
    b.wait_title("Page not found").await;
    b.wait_for("nav.actions a").await;
    b.page("17-idp-not-found").await;
    b.goto(&format!("{shop}/.idaas/no-such-page")).await;
    b.wait_title("Page not found").await;
    b.wait_for("nav.actions a").await;
    b.page("18-agent-not-found").await;

    // A second factor from her account page (issue 20): an authenticator app set up with the
    // key the page shows (the code computed here, as the app would), confirmed with a code;
    // the recovery codes are shown once.
    b.goto(&format!("{home}/account/security")).await;
    b.wait_title("Sign-in security").await;
    b.click("form[action='/account/security/totp/start'] button[type=submit]").await;
    b.wait_text("Scan this code with your authenticator app").await;
    b.page("18a-authenticator-setup").await;
    let key = b.wait_for("p code").await.text().await.unwrap();
    let code = idp_home::service::mfa::code_at(&base32_decode(&key), clock.now()).unwrap();
    b.fill("#code", &code).await;
    b.click("form[action='/account/security/totp/confirm'] button[type=submit]").await;
    b.wait_text("Your authenticator app is set up").await;
    b.wait_for("ul.recovery li code").await;
    b.page("18b-recovery-codes").await;

    // A phone-sized window: the pages fit its width (a viewport meta on every page), none
    // scrolls sideways.
    b.c.set_window_size(390, 844).await.unwrap();
    for (url, step) in
        [(format!("{shop}/"), "19-phone-shopping"), (format!("{home}/account"), "20-phone-account")]
    {
        b.goto(&url).await;
        b.wait_for("h1").await;
        // How far the page is wider than the window, and the elements sticking out.
        // (clientWidth: the window without its scroll bar.)
        let script = "const w = document.documentElement.clientWidth;\
            return [document.documentElement.scrollWidth - w, \
            Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > w)\
            .map(e => e.tagName + ' ' + e.textContent.slice(0, 30)).slice(0, 5)]";
        let overflow = b.c.execute(script, vec![]).await.unwrap();
        assert_eq!(overflow[0], 0, "{url} scrolls sideways on a phone: {}", overflow[1]);
        b.page(step).await;
    }

    b.assert_accessible();
    b.close().await;
    stack.stop().await;
    eprintln!("browser walk: {:.1} s", started.elapsed().as_secs_f64());
}
