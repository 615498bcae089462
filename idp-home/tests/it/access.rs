//! Approval of sensitive paths by a group's owner (issue 20) over a real listener: group
//! owners set by the admin API, a request made from the link a web agent shows (checked, then
//! confirmed with the account page's CSRF token), the owner mailed and deciding on the account
//! page, the approval stated in the next assertion for that SP until it expires, refusal,
//! withdrawal, one decision per request, the bound on pending requests, and the audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use federation::approvals::ATTR_APPROVED_ACCESS;
use reqwest::StatusCode;

use super::mfa::{
    account_sign_in, browser, input, posted, request, sso, start, Idp, ADMIN, T0, WIKI, WIKI_ACS,
};

fn ask_query(path: &str, group: &str, valid_for: &str, back: &str) -> Vec<(&'static str, String)> {
    vec![
        ("sp", WIKI.to_owned()),
        ("path", path.to_owned()),
        ("group", group.to_owned()),
        ("valid_for", valid_for.to_owned()),
        ("return", back.to_owned()),
    ]
}

/// Asks (GET the agent's link, then POST the confirmation) as the person signed in in `b`;
/// returns the status and page of the POST.
async fn ask(
    idp: &Idp,
    b: &reqwest::Client,
    path: &str,
    valid_for: &str,
    back: &str,
) -> (StatusCode, String) {
    let q = ask_query(path, "finance", valid_for, back);
    let r = b.get(idp.url("/account/access/request")).query(&q).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("finance") && page.contains(path), "{page}");
    let csrf = input(&page, "csrf").unwrap();
    let mut form = q.clone();
    form.push(("csrf", csrf));
    let r = b.post(idp.url("/account/access/request")).form(&form).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The account page's pending decisions: (request id, csrf) of the first.
async fn first_waiting(idp: &Idp, b: &reqwest::Client) -> Option<(String, String)> {
    let page = b.get(idp.url("/account")).send().await.unwrap().text().await.unwrap();
    let at = page.find("action=\"/account/access/decide\"")?;
    let form = &page[at..];
    Some((input(form, "id")?, input(form, "csrf")?))
}

async fn decide(idp: &Idp, b: &reqwest::Client, id: &str, csrf: &str, decision: &str) -> StatusCode {
    let r = b
        .post(idp.url("/account/access/decide"))
        .form(&[("csrf", csrf), ("id", id), ("decision", decision)])
        .send()
        .await
        .unwrap();
    r.status()
}

/// The approvals the next assertion for the wiki states for the person signed in in `b`.
async fn approvals_in_assertion(idp: &Idp, b: &reqwest::Client, id: &str) -> Vec<String> {
    let page = sso(idp, b, &request(WIKI, WIKI_ACS, id, "")).await;
    let xml = posted(&page).unwrap_or_else(|| panic!("an auto-post: {page}"));
    let Some(at) = xml.find(ATTR_APPROVED_ACCESS) else { return Vec::new() };
    let attr = &xml[at..xml[at..].find("</saml:Attribute>").unwrap() + at];
    attr.match_indices("<saml:AttributeValue")
        .map(|(i, _)| {
            let rest = &attr[i..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..rest.find("</saml:AttributeValue>").unwrap()].to_owned()
        })
        .collect()
}

/// The mails to `to` with `subject` in the outbox (other mails, such as "new sign-in"
/// notices, are left out).
fn outbox_mails_to(idp: &Idp, to: &str, subject: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(idp.state.config.outbox_dir()) else { return Vec::new() };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains(&format!("Subject: {subject}")))
        .collect()
}

#[tokio::test]
async fn an_owner_approves_a_sensitive_path_until_it_expires() {
    let idp = start().await;
    let admin = reqwest::Client::new();
    let owners = |body: serde_json::Value, token: &'static str| {
        admin.put(idp.url("/admin/groups/finance/owners")).bearer_auth(token).json(&body).send()
    };
    // Owners by the admin API: checked, and only with the admin token.
    assert_eq!(
        owners(serde_json::json!(["carol"]), "wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(owners(serde_json::json!(["nobody"]), ADMIN).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(owners(serde_json::json!("carol"), ADMIN).await.unwrap().status(), StatusCode::BAD_REQUEST);
    let r = admin
        .put(idp.url("/admin/groups/Fin%20ance/owners"))
        .bearer_auth(ADMIN)
        .json(&["carol"])
        .send()
        .await;
    assert_eq!(r.unwrap().status(), StatusCode::BAD_REQUEST);
    let r = owners(serde_json::json!(["carol", "CAROL"]), ADMIN).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Vec<String>>().await.unwrap(), ["carol"]);

    let bob = browser();
    let back = "https://wiki.example/saml/login?return_to=%2Freports%2Fq3";
    // Not signed in: nothing to ask with.
    let r = bob
        .get(idp.url("/account/access/request"))
        .query(&ask_query("/reports", "finance", "60", back))
        .send();
    assert_eq!(r.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    account_sign_in(&idp, &bob, "bob").await;
    // Links that cannot be asked: each a clear 400, nothing stored.
    for (q, why) in [
        (ask_query("/reports", "ops", "60", back), "no owner"),
        (ask_query("reports", "finance", "60", back), "absolute path"),
        (ask_query("/a b", "finance", "60", back), "absolute path"),
        (ask_query("/reports", "finance", "0", back), "duration"),
        (ask_query("/reports", "finance", "99999999999", back), "duration"),
        (ask_query("/reports", "finance", "sixty", back), "duration"),
        (ask_query("/reports", "Fin ance", "60", back), "group names"),
    ] {
        let r = bob.get(idp.url("/account/access/request")).query(&q).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q:?}");
        assert!(r.text().await.unwrap().contains(why), "{q:?}");
    }
    let mut unknown_sp = ask_query("/reports", "finance", "60", back);
    unknown_sp[0].1 = "https://evil.example".into();
    let r = bob.get(idp.url("/account/access/request")).query(&unknown_sp).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A forged confirmation changes nothing.
    let mut forged = ask_query("/reports", "finance", "60", back);
    forged.push(("csrf", "forged".into()));
    let r = bob.post(idp.url("/account/access/request")).form(&forged).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(idp.state.store.list_access_requests(idp_home::store::Requests::All).unwrap().is_empty());

    // bob asks; carol is mailed; asking twice is one request.
    let (status, page) = ask(&idp, &bob, "/reports", "60", back).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("was sent") && page.contains("href=\"https://wiki.example/saml/login"), "{page}");
    let (_, page) = ask(&idp, &bob, "/reports", "60", "https://evil.example/x").await;
    assert!(!page.contains("evil.example"), "a way back only to the SP's own origin: {page}");
    assert_eq!(idp.state.store.list_access_requests(idp_home::store::Requests::All).unwrap().len(), 1);
    let mails = outbox_mails_to(&idp, "carol@example.org", "An access request waits for your decision");
    assert_eq!(mails.len(), 1, "one mail to the owner");
    assert!(mails[0].contains("bob asks to use /reports") && mails[0].contains("1 minute"), "{}", mails[0]);
    assert!(approvals_in_assertion(&idp, &bob, "_a0").await.is_empty(), "nothing before a decision");

    // bob cannot decide his own request, even as an owner (another owner must); carol sees
    // and approves it.
    assert!(first_waiting(&idp, &bob).await.is_none(), "bob owns no group");
    let carol = browser();
    account_sign_in(&idp, &carol, "carol").await;
    let (id, csrf) = first_waiting(&idp, &carol).await.expect("carol's account page lists the request");
    let bob_csrf = {
        let page = bob.get(idp.url("/account")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Your requests") && page.contains("pending"), "{page}");
        input(&page, "csrf").unwrap()
    };
    assert_eq!(decide(&idp, &bob, &id, &bob_csrf, "approve").await, StatusCode::FORBIDDEN, "not an owner");
    owners(serde_json::json!(["bob", "carol"]), ADMIN).await.unwrap();
    assert_eq!(decide(&idp, &bob, &id, &bob_csrf, "approve").await, StatusCode::FORBIDDEN, "his own request");
    owners(serde_json::json!(["carol"]), ADMIN).await.unwrap();
    assert_eq!(decide(&idp, &carol, &id, "forged", "approve").await, StatusCode::FORBIDDEN);
    assert_eq!(decide(&idp, &carol, &id, &csrf, "maybe").await, StatusCode::BAD_REQUEST);
    idp.clock.set(T0 + 10);
    assert_eq!(decide(&idp, &carol, &id, &csrf, "approve").await, StatusCode::SEE_OTHER);
    assert_eq!(decide(&idp, &carol, &id, &csrf, "refuse").await, StatusCode::CONFLICT, "decided once");
    assert_eq!(
        outbox_mails_to(&idp, "bob@example.org", "Your access request was answered").len(),
        1,
        "bob is told"
    );

    // The next assertion for the wiki states it, with its end; not after the end.
    assert_eq!(approvals_in_assertion(&idp, &bob, "_a1").await, [format!("{} /reports", T0 + 70)]);
    idp.clock.set(T0 + 70);
    assert!(approvals_in_assertion(&idp, &bob, "_a2").await.is_empty(), "expired");

    // A refusal grants nothing; a withdrawal takes an approval back.
    let (status, _) = ask(&idp, &bob, "/payroll", "3600", back).await;
    assert_eq!(status, StatusCode::OK);
    let (id2, csrf) = first_waiting(&idp, &carol).await.unwrap();
    assert_eq!(decide(&idp, &carol, &id2, &csrf, "refuse").await, StatusCode::SEE_OTHER);
    let (status, _) = ask(&idp, &bob, "/reports", "3600", back).await;
    assert_eq!(status, StatusCode::OK);
    let (id3, csrf) = first_waiting(&idp, &carol).await.unwrap();
    assert_eq!(decide(&idp, &carol, &id3, &csrf, "approve").await, StatusCode::SEE_OTHER);
    assert_eq!(approvals_in_assertion(&idp, &bob, "_a3").await, [format!("{} /reports", T0 + 70 + 3600)]);
    let r = bob
        .post(idp.url("/account/access/withdraw"))
        .form(&[("csrf", bob_csrf.as_str()), ("id", id3.as_str())]);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::SEE_OTHER);
    assert!(approvals_in_assertion(&idp, &bob, "_a4").await.is_empty(), "withdrawn");
    assert!(idp.state.store.get_user("bob").unwrap().unwrap().grants.is_empty());

    // At most MAX_PENDING waiting requests per person.
    for i in 0..idp_home::service::access::MAX_PENDING {
        let (status, page) = ask(&idp, &bob, &format!("/p{i}"), "60", back).await;
        assert_eq!(status, StatusCode::OK, "{page}");
    }
    let (status, page) = ask(&idp, &bob, "/one-more", "60", back).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");

    // The audit trail: who asked, who decided, when.
    let r = admin.get(idp.url("/admin/access-requests")).bearer_auth(ADMIN).send().await.unwrap();
    let trail: Vec<serde_json::Value> = r.json().await.unwrap();
    let first = trail.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(
        (&first["uid"], &first["status"], &first["decided_by"], &first["decided_at"]),
        (
            &serde_json::json!("bob"),
            &serde_json::json!("approved"),
            &serde_json::json!("carol"),
            &serde_json::json!(T0 + 10)
        )
    );
    assert!(trail.iter().any(|r| r["id"] == id2.as_str() && r["status"] == "refused"));
    assert!(trail.iter().any(|r| r["id"] == id3.as_str() && r["status"] == "withdrawn"));
}
