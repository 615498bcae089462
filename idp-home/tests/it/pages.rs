//! The people's pages of the home IdP over a real listener (issue 18): the shared stylesheet,
//! HTML error pages for browsers and problem documents for API clients, the sign-in form
//! (IdP and service names, the user name kept, "stay signed in"), and the account page (its
//! sign-in, rules in plain words, who can see what, deleting a value, sign out everywhere) —
//! with hostile input: missing and wrong CSRF tokens, a form posted from another browser,
//! oversized forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;

use super::sso::{
    authn_request, browser, deflate_b64, input_value, redirect_query, upload_table1, Stack, PASSWORD, SHOP,
    SHOP_ACS,
};

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

fn session_cookie_header(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("idaas_idp_session=") && !v.starts_with("idaas_idp_session=;"))
        .map(str::to_owned)
}

#[tokio::test]
async fn browsers_get_styled_pages_with_a_way_on_and_api_clients_get_problems() {
    let stack = Stack::start().await;
    let http = browser();
    let r = http.get(stack.url("/")).send().await.unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()[LOCATION], "/account");
    let r = http.get(stack.url("/.idaas/style.css")).send().await.unwrap();
    assert_eq!(r.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(r.text().await.unwrap().contains("prefers-color-scheme"));

    let r = http.get(stack.url("/no/such/page")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let body = r.text().await.unwrap();
    assert!(body.contains("/.idaas/style.css") && body.contains("<nav class=\"actions\">"), "{body}");
    let r = http.get(stack.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/problem+json");

    // /saml/login takes only POST.
    let r = http.get(stack.url("/saml/login")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let r = http.delete(stack.url("/api/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/problem+json");
    stack.stop().await;
}

#[tokio::test]
async fn the_sign_in_form_names_both_parties_keeps_the_user_name_and_remembers_only_when_asked() {
    let stack = Stack::start().await;
    let http = browser();
    stack.verified_user(&http, "bob", "bob@example.org").await;
    let start = |id: &'static str| {
        let q =
            redirect_query(&deflate_b64(authn_request(SHOP, Some(SHOP_ACS), id).as_bytes()), Some("/cart"));
        stack.url(&format!("/saml/sso?{q}"))
    };
    let page = http.get(start("_p1")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("idaas home IdP") && page.contains("<strong>shop.example</strong> asks you"),
        "{page}"
    );
    assert!(
        page.contains("id=\"uid\" name=\"uid\" value=\"\"") && page.contains("required autofocus"),
        "{page}"
    );
    assert!(page.contains("href=\"/register\""), "registration is linked: {page}");

    // A wrong password: the user name stays, the password field gets the focus.
    let csrf = input_value(&page, "csrf").unwrap();
    let r = http
        .post(stack.url("/saml/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", "wrong password, long enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let retry = r.text().await.unwrap();
    assert!(retry.contains("name=\"uid\" value=\"bob\""), "{retry}");
    assert!(retry.contains("current-password\" required autofocus"), "{retry}");

    // Without "stay signed in" the IdP session cookie has no Max-Age (a browser-session cookie).
    let csrf = input_value(&retry, "csrf").unwrap();
    let r = http
        .post(stack.url("/saml/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = session_cookie_header(&r).unwrap();
    assert!(!cookie.contains("Max-Age"), "{cookie}");

    // With it, the cookie outlives the browser session.
    let other = browser();
    let page = other.get(start("_p2")).send().await.unwrap().text().await.unwrap();
    let csrf = input_value(&page, "csrf").unwrap();
    let r = other
        .post(stack.url("/saml/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", PASSWORD), ("remember", "1")])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie_header(&r).unwrap();
    assert!(cookie.contains("Max-Age=28800"), "{cookie}");
    stack.stop().await;
}

/// Signs in at `/account` in `http`; returns the account page.
async fn account_sign_in(stack: &Stack, http: &reqwest::Client) -> String {
    let form = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("action=\"/account/login\""), "{form}");
    let csrf = input_value(&form, "csrf").unwrap();
    let r = http
        .post(stack.url("/account/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn the_account_page_shows_rules_and_who_can_see_what_and_refuses_forged_forms() {
    let stack = Stack::start().await;
    let http = browser();
    let token = stack.verified_user(&http, "bob", "bob@example.org").await;
    upload_table1(&stack, &http, &token).await;

    // Hostile sign-ins: no token, a wrong one, a token carried to another browser.
    let form = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = input_value(&form, "csrf").unwrap();
    for fields in [
        vec![("uid", "bob"), ("password", PASSWORD)],
        vec![("csrf", "00"), ("uid", "bob"), ("password", PASSWORD)],
    ] {
        let r = http.post(stack.url("/account/login")).form(&fields).send().await.unwrap();
        // No token at all is a malformed form (400), a wrong one a forgery (403).
        assert!(matches!(r.status().as_u16(), 400 | 403), "{}", r.status());
    }
    let elsewhere = browser();
    let r = elsewhere
        .post(stack.url("/account/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the token is bound to the first browser's cookie");
    let huge = "x".repeat(2 << 20);
    let r = http
        .post(stack.url("/account/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", huge.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let page = account_sign_in(&stack, &http).await;
    assert!(page.contains("Signed in as <strong>bob</strong>"), "{page}");
    for attr in ["lastname", "dob", "addresses"] {
        assert!(page.contains(&format!("<th scope=\"row\">{attr}</th>")), "{attr}: {page}");
    }
    assert!(page.contains("Services of salesforce may read this for contact"), "{page}");
    assert!(page.contains("until 22 Oct 2025"), "addresses close after 14 days: {page}");
    // shop.example is registered for current + purchase: lastname and dob, not addresses.
    assert!(page.contains("shop.example<br><span class=\"muted\">domain salesforce, EU</span></th><td>dob, lastname</td><td>addresses</td>"), "{page}");
    assert!(
        page.contains(
            "wiki.example<br><span class=\"muted\">gets no personal data</span></th><td>nothing</td>"
        ),
        "{page}"
    );

    // Deleting: a wrong token changes nothing; the page's token deletes.
    let csrf = input_value(&page, "csrf").unwrap();
    let r = http
        .post(stack.url("/account/pii/delete"))
        .form(&[("csrf", "nope"), ("attribute", "dob")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = elsewhere
        .post(stack.url("/account/pii/delete"))
        .form(&[("csrf", csrf.as_str()), ("attribute", "dob")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "another browser has no session");
    let r = http
        .post(stack.url("/account/pii/delete"))
        .form(&[("csrf", csrf.as_str()), ("attribute", "dob")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<th scope=\"row\">dob</th>") && page.contains("<th scope=\"row\">lastname</th>"));
    let r = http
        .post(stack.url("/account/pii/delete"))
        .form(&[("csrf", csrf.as_str()), ("attribute", "dob")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Sign out everywhere: the other browser's IdP session ends as well.
    let second = browser();
    let second_page = account_sign_in(&stack, &second).await;
    assert!(second_page.contains("(this browser)"));
    let page = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("<li>Signed in ").count(), 2, "{page}");
    let logout_csrf =
        page.split("action=\"/logout\"").nth(1).and_then(|rest| input_value(rest, "csrf")).unwrap();
    let r = http
        .post(stack.url("/logout"))
        .form(&[("csrf", logout_csrf.as_str()), ("everywhere", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Sign in again"));
    for b in [&http, &second] {
        let again = b.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(again.contains("action=\"/account/login\""), "asks for the password again");
    }
    stack.stop().await;
}

#[tokio::test]
async fn throttled_account_sign_ins_say_when_to_retry() {
    let stack = Stack::start().await;
    let http = browser();
    stack.verified_user(&http, "bob", "bob@example.org").await;
    let mut page = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    for _ in 0..6 {
        let csrf = input_value(&page, "csrf").unwrap();
        let r = http
            .post(stack.url("/account/login"))
            .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", "wrong password, long enough")])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().get(RETRY_AFTER).is_some());
            assert!(r.text().await.unwrap().contains("value=\"bob\""));
            stack.stop().await;
            return;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        page = r.text().await.unwrap();
    }
    panic!("never throttled");
}

/// The newest password-reset link for `uid` in the outbox.
fn reset_link(stack: &Stack, uid: &str) -> Option<String> {
    let prefix = stack.url("/password/reset/confirm?token=");
    let mut found = None;
    for entry in std::fs::read_dir(stack.data_dir().join("outbox")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if let (true, Some(start)) = (text.contains(&format!("Hello {uid},")), text.find(&prefix)) {
            found = Some(text[start..].lines().next().unwrap().trim().to_owned());
        }
    }
    found
}

#[tokio::test]
async fn passwords_are_changed_with_the_current_one_and_reset_by_an_e_mail_link() {
    let stack = Stack::start().await;
    let http = browser();
    stack.verified_user(&http, "bob", "bob@example.org").await;
    let page = account_sign_in(&stack, &http).await;
    assert!(page.contains("href=\"/account/password\""));
    let other = browser();
    account_sign_in(&stack, &other).await;

    let form = http.get(stack.url("/account/password")).send().await.unwrap().text().await.unwrap();
    let csrf = input_value(&form, "csrf").unwrap();
    let new_pw = "a brand new passphrase";
    let post =
        |fields: Vec<(&'static str, String)>| http.post(stack.url("/account/password")).form(&fields).send();
    let r =
        post(vec![("csrf", "x".into()), ("current", PASSWORD.into()), ("new", new_pw.into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong token changes nothing");
    let r =
        post(vec![("csrf", csrf.clone()), ("current", "not the password!".into()), ("new", new_pw.into())])
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post(vec![("csrf", csrf.clone()), ("current", PASSWORD.into()), ("new", "short".into())])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(vec![("csrf", csrf), ("current", PASSWORD.into()), ("new", new_pw.into())]).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // This browser stays signed in, the other one must sign in again.
    assert!(http
        .get(stack.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("Signed in as"));
    let again = other.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("action=\"/account/login\""));

    // Reset: the same answer for an unknown user; a link for bob.
    let fresh = browser();
    let form = fresh.get(stack.url("/password/reset")).send().await.unwrap().text().await.unwrap();
    let csrf = input_value(&form, "csrf").unwrap();
    for uid in ["nobody", "bob"] {
        let r = fresh
            .post(stack.url("/password/reset"))
            .form(&[("csrf", csrf.as_str()), ("uid", uid)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.text().await.unwrap().contains("If an account with this user name exists"));
    }
    assert!(reset_link(&stack, "nobody").is_none());
    let link = reset_link(&stack, "bob").unwrap();
    let form = fresh.get(&link).send().await.unwrap().text().await.unwrap();
    let (csrf, token) = (input_value(&form, "csrf").unwrap(), input_value(&form, "token").unwrap());
    let final_pw = "the third passphrase here";
    let r = fresh
        .post(stack.url("/password/reset/confirm"))
        .form(&[("csrf", csrf.as_str()), ("token", token.as_str()), ("new", final_pw)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Used once; and every session ended.
    let r = fresh
        .post(stack.url("/password/reset/confirm"))
        .form(&[("csrf", csrf.as_str()), ("token", token.as_str()), ("new", final_pw)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let again = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("action=\"/account/login\""), "the reset signed bob out everywhere");
    // The old password no longer works, the new one does.
    let form = http.get(stack.url("/account")).send().await.unwrap().text().await.unwrap();
    let csrf = input_value(&form, "csrf").unwrap();
    let r = http
        .post(stack.url("/account/login"))
        .form(&[("csrf", csrf.as_str()), ("uid", "bob"), ("password", final_pw)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    stack.stop().await;
}

#[tokio::test]
async fn registration_in_the_browser_refuses_forged_forms_and_keeps_what_was_typed() {
    let stack = Stack::start().await;
    let http = browser();
    let form = http.get(stack.url("/register")).send().await.unwrap().text().await.unwrap();
    let csrf = input_value(&form, "csrf").unwrap();
    let r = browser()
        .post(stack.url("/register"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("uid", "carol"),
            ("email", "c@example.org"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the token is bound to this browser's cookie");
    let r = http
        .post(stack.url("/register"))
        .form(&[("csrf", csrf.as_str()), ("uid", "carol"), ("email", "c@example.org"), ("password", "short")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("value=\"carol\""));
    let r = http
        .post(stack.url("/register"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("uid", "carol"),
            ("email", "c@example.org"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let page = r.text().await.unwrap();
    assert!(page.contains("c@example.org") && page.contains("href=\"/account\""), "{page}");
    let r = http.get(stack.verification_link_for("carol")).header(ACCEPT, HTML).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("href=\"/account\">Sign in</a>"));
    stack.stop().await;
}
