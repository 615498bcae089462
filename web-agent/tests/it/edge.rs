//! Edge hardening of the agent (issue 14), each class over real HTTP with a raw TCP client
//! (nothing normalised on the client side) and a backend that records what it received:
//! paths, identity and forwarding headers, idaas cookies, sign-in bound to the browser,
//! the SAML status, sign-out, the egress source, partner answers, and junk on every endpoint.

use crate::common::{decisions, get, request, Agent, Browser, Opts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_and_their_encodings_never_reach_another_path() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    b.sign_in(&agent).await;
    agent.backend.take();
    let cookie = b.cookie_header();
    // Signed in with read_write: /admin needs full. Before the fix `/x/../admin` reached the
    // backend as /admin, and `/pub/../admin` got past sign-in as a public path.
    for target in [
        "/x/../admin",
        "/x/./../admin",
        "/x/%2e%2e/admin",
        "/x/%2E%2E/admin",
        "/x/.%2e/admin",
        "/x%2f..%2fadmin",
        "/x/..%2fadmin",
        "/x\\..\\admin",
        "/x/%5c..%5cadmin",
        "/x/..;/admin",
        "/admin;x=1",
        "//admin",
        "/x//../admin",
        "/x/%252e%252e/admin",
        "/x/%00/../admin",
        "/../base/admin",
    ] {
        let a = get(&agent, target, &[("Cookie", &cookie)]).await;
        assert!(a.status == 400 || a.status == 0, "{target}: {}", a.status);
        assert!(agent.backend.take().is_empty(), "{target} reached the backend");
    }
    // An encoded unreserved letter means the same path: decided (403) as /admin.
    let a = get(&agent, "/%61dmin", &[("Cookie", &cookie)]).await;
    assert_eq!(a.status, 403, "/%61dmin");
    // Anonymous: the public prefix cannot be climbed out of.
    for target in ["/pub/../admin", "/pub/%2e%2e/admin", "/pub%2f..%2fadmin", "/pub/..;/admin", "/pub/.%2E/x"]
    {
        let a = get(&agent, target, &[]).await;
        assert!(a.status == 400 || a.status == 0, "{target}: {}", a.status);
        assert!(agent.backend.take().is_empty(), "{target} reached the backend");
    }
    // What is plain goes through, under the base path, byte for byte.
    let a = get(&agent, "/pub/a%7eb/c?x=../y", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(agent.backend.take()[0].target, "/base/pub/a~b/c?x=../y");
}

mod property {
    use super::*;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "/",
        "a",
        "admin",
        "pub",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%5C",
        "%41",
        "%61dmin",
        "%7e",
        "%25",
        "%00",
        ";",
        ";x=1",
        "\\",
        "~",
        "é",
        "{",
        "%zz",
        "%",
        "?q=../admin",
        "x.y",
        "ADMIN",
        "//",
        "%3b",
        "'",
        "@",
        ":",
        "*",
        "%C3%A9",
        "%3F",
    ];

    fn target() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(TOKENS), 0..8).prop_map(|t| format!("/{}", t.concat()))
    }

    /// For any request target the HTTP layer accepts, the path the access decision saw is
    /// byte for byte the path the backend (under its base path) or the partner received.
    #[test]
    fn the_decided_path_is_the_forwarded_path() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        decisions();
        let (agent, cookie, handle) = rt.block_on(async {
            let agent = Agent::start(Opts::default()).await;
            let mut b = Browser::default();
            b.sign_in(&agent).await;
            let (_, handle) = agent.propagatable_session();
            (agent, b.cookie_header(), handle)
        });
        let config = ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
        let forwarded = std::sync::atomic::AtomicUsize::new(0);
        proptest!(config, |(t in target(), egress in any::<bool>())| {
            agent.backend.take();
            agent.partner.take();
            decisions().lock().unwrap().clear();
            let (full, route, recorder, prefix) = if egress {
                (format!("/.idaas/partners/p{t}"), "egress", &agent.partner, "/.idaas/call")
            } else {
                (t.clone(), "gate", &agent.backend, "/base")
            };
            let a = rt.block_on(async {
                if egress {
                    request(&agent, None, "GET", &full, &[("X-Idaas-Session", &handle)], b"").await
                } else {
                    get(&agent, &full, &[("Cookie", &cookie)]).await
                }
            });
            prop_assert!(a.status < 500, "{full}: {}", a.status);
            let seen = recorder.take();
            let decided: Vec<String> = decisions()
                .lock()
                .unwrap()
                .iter()
                .filter(|(r, _)| r == route || (route == "gate" && r == "public"))
                .map(|(_, p)| p.clone())
                .collect();
            if seen.is_empty() {
                prop_assert!(a.status >= 400, "{full}: {} without a forwarded request", a.status);
            } else {
                forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                prop_assert_eq!(seen.len(), 1);
                prop_assert_eq!(decided.len(), 1, "{}", full);
                let got = seen[0].target.split('?').next().unwrap().to_owned();
                prop_assert_eq!(got, format!("{prefix}{}", decided[0]), "{}", full);
                if !egress {
                    prop_assert!(!web_agent::rbac::covers("/admin", &decided[0]), "{full} reached /admin");
                }
                let canonical = web_agent::paths::normalise(&decided[0]);
                prop_assert_eq!(canonical.as_deref(), Ok(decided[0].as_str()));
            }
        });
        // Not vacuous: a good share of the generated targets went through.
        let n = forwarded.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n >= 10, "only {n} of 96 targets were forwarded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_forwarding_and_hop_by_hop_headers_from_clients_are_dropped() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    b.sign_in(&agent).await;
    agent.backend.take();
    let cookie = b.cookie_header();
    let a = get(
        &agent,
        "/h",
        &[
            ("Cookie", &cookie),
            ("X_Idaas_User", "mallory"),
            ("X-Idaas_User", "mallory"),
            ("x_idaas_groups", "admins"),
            ("X-Idaas-User", "mallory"),
            ("X-Idaas-Pii-Dob", "1900-01-01"),
            ("Some_Header", "1"),
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
            ("X-Real-IP", "203.0.113.9"),
            ("Forwarded", "for=203.0.113.9;host=evil.example"),
            ("Connection", "keep-alive, X-Hop-Secret"),
            ("X-Hop-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("X-Kept", "yes"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{a:?}");
    let seen = agent.backend.take().remove(0).headers;
    for (name, _) in &seen {
        assert!(!name.as_str().contains('_'), "{name} was forwarded");
    }
    let one = |n: &str| seen.get_all(n).iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(one("x-idaas-user"), ["bob"]);
    assert_eq!(one("x-idaas-groups"), ["customers"]);
    assert!(one("x-idaas-pii-dob").is_empty());
    assert_eq!(one("x-forwarded-host"), [agent.addr.to_string()], "the agent's own public host");
    assert_eq!(one("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(one("x-forwarded-proto"), ["http"]);
    for gone in ["x-real-ip", "forwarded", "x-hop-secret", "keep-alive", "connection"] {
        assert!(one(gone).is_empty(), "{gone} was forwarded");
    }
    assert_eq!(one("x-kept"), ["yes"]);
    // The backend's answer: hop-by-hop headers it named are not passed to the client.
    assert!(a.headers("x-hop-secret").is_empty());
    assert_eq!(a.headers("x-kept"), ["yes"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idaas_cookies_never_reach_the_backend_nor_come_from_it() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    b.sign_in(&agent).await;
    let _ = b.start_sign_in(&agent, "/y").await; // a sign-in cookie too
    assert!(b.cookies.keys().any(|k| k.starts_with("idaas_signin_")), "{:?}", b.cookies);
    agent.backend.take();
    let cookies = format!(
        "{}; theme=dark; idaas_idp_session=idp-secret; idaas_login=form; idaas_agent_0badf00d=other-agent; \
         __Host-idaas_agent_12345678=x; IDAAS_IDP_SESSION=folded; lang=en",
        b.cookie_header()
    );
    let a = get(&agent, "/c", &[("Cookie", &cookies)]).await;
    assert_eq!(a.status, 200);
    let seen = agent.backend.take().remove(0).headers;
    let forwarded: Vec<&str> = seen.get_all("cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(forwarded, ["theme=dark; lang=en"]);
    // The backend tried to set the IdP's and an agent's cookie: only its own arrives.
    let set = a.headers("set-cookie");
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].starts_with("theme=light"), "{set:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_agents_cookies_are_host_prefixed() {
    let agent = Agent::start(Opts { https: true, ..Opts::default() }).await;
    let mut b = Browser::default();
    let a = b.send(&agent, "GET", "/saml/login?return_to=/x", &[], b"").await;
    let set = a.headers("set-cookie");
    assert!(set[0].starts_with("__Host-idaas_signin_"), "{set:?}");
    assert!(
        set[0].contains("; Secure") && set[0].contains("Path=/") && !set[0].contains("Domain"),
        "{set:?}"
    );
    let id = crate::common::request_id(&a.headers("location")[0]);
    let a = b.post_response(&agent, &agent.response(&id)).await;
    assert_eq!(a.status, 303, "{a:?}");
    let session = a.headers("set-cookie").into_iter().find(|c| c.contains("idaas_agent_")).unwrap();
    assert!(session.starts_with("__Host-idaas_agent_") && session.contains("; Secure"), "{session}");
    // And the __Host- cookie is stripped before the backend like every idaas cookie.
    agent.backend.take();
    let a = b.send(&agent, "GET", "/z", &[], b"").await;
    assert_eq!(a.status, 200);
    assert!(agent.backend.take()[0].headers.get("cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_is_accepted_only_in_the_browser_that_asked_for_it() {
    let agent = Agent::start(Opts::default()).await;
    // The attacker signs in as themself and keeps the genuine response.
    let mut attacker = Browser::default();
    let id = attacker.start_sign_in(&agent, "/x").await;
    let response = agent.response(&id);
    // Login CSRF: the victim's browser (its own sign-in under way, or none) posts it.
    let mut victim = Browser::default();
    victim.start_sign_in(&agent, "/mine").await;
    for mut browser in [victim.clone(), Browser::default()] {
        let a = browser.post_response(&agent, &response).await;
        assert_eq!(a.status, 400, "{a:?}");
        assert!(a.body.contains("in this browser"), "{}", a.body);
        assert!(!browser.cookies.keys().any(|k| k.starts_with("idaas_agent_")), "no session");
    }
    // The same response in the browser that asked: accepted, once.
    let mut replayed_cookie = attacker.clone();
    let a = attacker.post_response(&agent, &response).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(a.headers("location"), ["/x"]);
    // Even with the sign-in cookie as it was before the answer, a request is answered once
    // (here with a second genuine response to the same request).
    let a = replayed_cookie.post_response(&agent, &agent.response(&id)).await;
    assert_eq!(a.status, 400, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_in_starts_displaces_no_one() {
    let agent = Agent::start(Opts::default()).await;
    let mut before = Browser::default();
    let id_before = before.start_sign_in(&agent, "/before").await;
    // 10 000 unauthenticated sign-in starts, 32 at a time, over kept-alive connections.
    let flood = {
        let url = format!("{}/saml/login?return_to=/flood", agent.url);
        tokio::spawn(async move {
            let client =
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let mut done = 0;
            for _ in 0..(10_000 / 32 + 1) {
                let batch: Vec<_> = (0..32)
                    .map(|_| {
                        let (client, url) = (client.clone(), url.clone());
                        tokio::spawn(async move { client.get(&url).send().await.unwrap().status() })
                    })
                    .collect();
                for r in batch {
                    assert_eq!(r.await.unwrap(), 302);
                    done += 1;
                }
            }
            done
        })
    };
    let mut during = Browser::default();
    let id_during = during.start_sign_in(&agent, "/during").await;
    assert!(flood.await.unwrap() >= 10_000);
    // The flood left no state on the agent (before: one table entry per request, bounded at
    // 100 000 and then refusing everyone's new sign-ins).
    assert_eq!(agent.state.sessions.answered_len(), 0);
    for (b, id, back) in [(&mut before, id_before, "/before"), (&mut during, id_during, "/during")] {
        let a = b.post_response(&agent, &agent.response(&id)).await;
        assert_eq!(a.status, 303, "{a:?}");
        assert_eq!(a.headers("location"), [back]);
    }
    assert_eq!(agent.state.sessions.answered_len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_success_status_signs_no_one_in() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    let id = b.start_sign_in(&agent, "/x").await;
    // The Status is outside the signed assertion: the signature still verifies.
    let xml = agent.response(&id).replace(
        "urn:oasis:names:tc:SAML:2.0:status:Success",
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
    );
    let a = b.post_response(&agent, &xml).await;
    assert_eq!(a.status, 400, "{a:?}");
    assert!(a.body.contains("did not sign you in") && a.body.contains("Responder"), "{}", a.body);
    assert!(!b.cookies.keys().any(|k| k.starts_with("idaas_agent_")));
    // The same request, answered with success, still works (the refusal consumed nothing).
    let a = b.post_response(&agent, &agent.response(&id)).await;
    assert_eq!(a.status, 303, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_needs_a_post_with_the_sessions_token() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    b.sign_in(&agent).await;
    let mut other = Browser::default();
    other.sign_in(&agent).await;
    // GET shows a confirmation and changes nothing.
    let page = b.send(&agent, "GET", "/saml/logout", &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("method=\"post\""), "{}", page.body);
    assert_eq!(b.send(&agent, "GET", "/still", &[], b"").await.status, 200, "still signed in");
    let token = {
        let at = page.body.find("name=\"csrf\" value=\"").unwrap() + 19;
        page.body[at..at + page.body[at..].find('"').unwrap()].to_owned()
    };
    let other_token = {
        let p = other.send(&agent, "GET", "/saml/logout", &[], b"").await.body;
        let at = p.find("name=\"csrf\" value=\"").unwrap() + 19;
        p[at..at + p[at..].find('"').unwrap()].to_owned()
    };
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    for body in [String::new(), "csrf=".into(), format!("csrf={other_token}")] {
        let a = b.send(&agent, "POST", "/saml/logout", &[form], body.as_bytes()).await;
        assert_eq!(a.status, 403, "{body}: {a:?}");
    }
    assert_eq!(b.send(&agent, "GET", "/still", &[], b"").await.status, 200, "still signed in");
    let a = b.send(&agent, "POST", "/saml/logout", &[form], format!("csrf={token}").as_bytes()).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(b.send(&agent, "GET", "/gone", &[], b"").await.status, 302, "signed out");
    assert_eq!(other.send(&agent, "GET", "/other", &[], b"").await.status, 200, "the other session lives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partner_route_answers_only_the_backends_address_and_filters_the_answer() {
    // Default: backend_url's host (127.0.0.1).
    let agent = Agent::start(Opts::default()).await;
    let (_, handle) = agent.propagatable_session();
    let h = [("X-Idaas-Session", handle.as_str())];
    let a =
        request(&agent, Some("127.0.0.2".parse().unwrap()), "GET", "/.idaas/partners/p/ship", &h, b"").await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(agent.partner.take().is_empty());
    let a =
        request(&agent, Some("127.0.0.1".parse().unwrap()), "GET", "/.idaas/partners/p/ship", &h, b"").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(agent.partner.take()[0].target, "/.idaas/call/ship");
    // The partner's answer: no identity header, no idaas cookie, no named hop-by-hop header.
    for gone in ["x-idaas-user", "x-idaas-pii-dob", "x_idaas_user", "x-hop-secret"] {
        assert!(a.headers(gone).is_empty(), "{gone} passed: {}", a.head);
    }
    assert_eq!(a.headers("set-cookie").len(), 1, "{}", a.head);
    assert_eq!(a.headers("x-kept"), ["yes"]);
    // Configured: only the listed address.
    let agent =
        Agent::start(Opts { egress_sources: vec!["127.0.0.2".parse().unwrap()], ..Opts::default() }).await;
    let (_, handle) = agent.propagatable_session();
    let h = [("X-Idaas-Session", handle.as_str())];
    let a =
        request(&agent, Some("127.0.0.1".parse().unwrap()), "GET", "/.idaas/partners/p/ship", &h, b"").await;
    assert_eq!(a.status, 403);
    let a =
        request(&agent, Some("127.0.0.2".parse().unwrap()), "GET", "/.idaas/partners/p/ship", &h, b"").await;
    assert_eq!(a.status, 200);
}

/// (method, target, extra headers, body).
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_on_every_endpoint_gets_a_clean_4xx() {
    let agent = Agent::start(Opts::default()).await;
    let mut b = Browser::default();
    let session = b.sign_in(&agent).await;
    let (_, handle) = agent.propagatable_session();
    let signed_in = format!("{}={session}", agent.state.cookie_name);
    let big = vec![b'A'; 3 << 20];
    let long = "q".repeat(70_000);
    let long_cookie = format!("{signed_in}; junk={}", "c".repeat(70_000));
    let bad_utf8: &[u8] = b"SAMLResponse=\xff\xfe%FF&csrf=\xc3\x28";
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let json = ("Content-Type", "application/json");
    let cookie = ("Cookie", signed_in.as_str());
    let session_h = ("X-Idaas-Session", handle.as_str());
    // (method, target, headers, body): every answer must be a 4xx (0 = the server closed the
    // connection on an over-long head, after answering or not) and come within the timeout.
    let long_target = format!("/saml/login?return_to={long}");
    let long_proxied = format!("/x?{long}");
    let cases: Vec<Case<'_>> = vec![
        ("POST", "/saml/metadata", vec![], b""),
        ("GET", "/saml/metadata", vec![("X-Long", &long)], b""),
        ("GET", &long_target, vec![], b""),
        ("POST", "/saml/login", vec![json], b"{}"),
        ("POST", "/saml/acs", vec![], b""),
        ("POST", "/saml/acs", vec![form], b""),
        ("POST", "/saml/acs", vec![json], b"{\"SAMLResponse\":1}"),
        ("POST", "/saml/acs", vec![form], bad_utf8),
        ("POST", "/saml/acs", vec![form], &big),
        ("POST", "/saml/acs", vec![form], b"SAMLResponse=PHg%2BPC94Pg%3D%3D"),
        ("POST", "/saml/acs", vec![form, ("Cookie", &long_cookie)], b"SAMLResponse=x"),
        ("POST", "/saml/logout", vec![cookie], b""),
        ("POST", "/saml/logout", vec![cookie, json], b"{}"),
        ("POST", "/saml/logout", vec![cookie, form], bad_utf8),
        ("POST", "/saml/logout", vec![cookie, form], &big),
        ("GET", "/x/../admin", vec![cookie], b""),
        ("GET", "/x%00", vec![cookie], b""),
        ("GET", &long_proxied, vec![("Cookie", &long_cookie)], b""),
        ("POST", "/x", vec![], &big),
        ("GET", "/x", vec![cookie, ("X-Long", &long)], b""),
        ("POST", "/.idaas/call/ship", vec![], b""),
        ("POST", "/.idaas/call/ship", vec![json], &big),
        ("POST", "/.idaas/call/../admin", vec![], b""),
        ("POST", "/.idaas/call/ship", vec![("X-Idaas-Call-Key", "\u{7f}")], b"x"),
        ("GET", "/.idaas/partners/p/ship", vec![], b""),
        ("GET", "/.idaas/partners/nobody/ship", vec![session_h], b""),
        ("GET", "/.idaas/partners/p/../admin", vec![session_h], b""),
        ("POST", "/.idaas/partners/p/ship", vec![session_h], &big),
        ("GET", "/.idaas/partners/p/ship", vec![("X-Idaas-Session", &long)], b""),
    ];
    for (method, target, headers, body) in cases {
        let started = std::time::Instant::now();
        let a = request(&agent, None, method, target, &headers, body).await;
        let what = format!("{method} {} ({} body bytes)", &target[..target.len().min(60)], body.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "{what}: too slow");
        assert!(a.status == 0 || (400..500).contains(&a.status), "{what}: {} {}", a.status, a.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_another_idp_the_user_and_groups_come_from_the_configured_attributes() {
    use federation::assertion::AttributeValues;
    const MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
    const IS_MEMBER_OF: &str = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1";
    let agent = Agent::start(Opts {
        extra_toml: format!("groups_attribute = \"{IS_MEMBER_OF}\"\nuser_from = \"{MAIL}\"\n"),
        ..Opts::default()
    })
    .await;
    let attrs = |mail: &[&str]| {
        vec![
            AttributeValues::basic(MAIL, mail.iter().map(|m| m.to_string()).collect()),
            AttributeValues::basic(IS_MEMBER_OF, vec!["customers".into(), "staff".into()]),
            // The home IdP's short name is not read when another is configured.
            AttributeValues::basic("groups", vec!["admins".into()]),
        ]
    };
    let mut b = Browser::default();
    let id = b.start_sign_in(&agent, "/x").await;
    let a = b.post_response(&agent, &agent.response_with(&id, attrs(&["alice@example.org"]))).await;
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(b.send(&agent, "GET", "/y", &[], b"").await.status, 200);
    let seen = agent.backend.take();
    let last = seen.last().expect("the backend saw the request");
    assert_eq!(last.headers["x-idaas-user"], "alice@example.org");
    assert_eq!(last.headers["x-idaas-groups"], "customers,staff");

    // No user attribute, or two values: refused, nobody signed in.
    for mail in [&[][..], &["a@example.org", "b@example.org"][..]] {
        let mut b = Browser::default();
        let id = b.start_sign_in(&agent, "/x").await;
        let a = b.post_response(&agent, &agent.response_with(&id, attrs(mail))).await;
        assert_eq!(a.status, 400, "{mail:?}: {a:?}");
        assert!(!b.cookies.keys().any(|k| k.starts_with("idaas_agent_")));
    }
}

#[test]
fn the_identity_attribute_settings_are_checked() {
    let base = "public_url = \"http://127.0.0.1:1\"\nbackend_url = \"http://127.0.0.1:2\"\n";
    let tail = "[home_idp]\nmetadata_file = \"m.xml\"\n";
    for bad in ["groups_attribute = \"\"", "user_from = \"has space\"", "user_from = \"\""] {
        let err =
            web_agent::config::Config::from_toml(&format!("{base}{bad}\n{tail}")).unwrap_err().to_string();
        assert!(err.contains(bad.split(' ').next().unwrap()), "{bad}: {err}");
    }
    let ok = web_agent::config::Config::from_toml(&format!("{base}{tail}")).unwrap();
    assert_eq!(
        (ok.groups_attribute.as_str(), ok.user_from.as_str()),
        (federation::assertion::ATTR_IS_MEMBER_OF, "nameid"),
        "by default the agent reads isMemberOf, which the home IdP releases"
    );
}
