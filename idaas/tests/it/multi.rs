//! Many instances acting as one (issue 17): the quickstart scenario twice on one throwaway
//! PostgreSQL database — two home IdPs, two visitor IdPs, two shopping and two delivery agents,
//! each pair sharing its key files — behind load balancers without sticky sessions (each TCP
//! connection to the next instance in turn). The browser then addresses the instances one after
//! the other, as such a balancer would send it:
//!
//! - a sign-in started at one shopping agent completes at the other; SSO started at one home
//!   IdP instance continues at the other; the response replayed at the other agent is refused;
//! - proxied requests alternate between both shopping agents, and both see bob's PII (the
//!   second opens the shared session record once);
//! - an assertion exchanged at one visitor instance cannot be exchanged again at the other;
//! - sign-out at one agent ends the session at the other;
//! - the client-authentication throttle counts at both visitor instances together;
//! - `kill -9` of a home instance (a real `idaas home` process) during concurrent PII uploads
//!   loses no acknowledged upload: each one is readable from another instance;
//! - and a `pg_dump` of the database holds none of Table 1's plaintexts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use idaas::browser::{form_input as input, location};
use idaas::owner::{HomeClient, PolicySource};
use idaas::stack::{self, Options, PublicUrls, Stack};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::pg::testing::Cluster;

use crate::e2e::{form_action, pii_names};
use crate::postgres::occurs_as_token;

/// A load balancer without sticky sessions: each new TCP connection goes to the next instance
/// in turn; an instance that refuses the connection is skipped (as a health-checking balancer
/// does).
struct Lb {
    url: String,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Lb {
    async fn start() -> Lb {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let backends: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let list = backends.clone();
        let next = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = l.accept().await else { continue };
                let list = list.lock().unwrap().clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    for i in 0..list.len() {
                        if let Ok(mut out) =
                            tokio::net::TcpStream::connect(list[(first + i) % list.len()]).await
                        {
                            let _ = (inbound.set_nodelay(true), out.set_nodelay(true));
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            return;
                        }
                    }
                });
            }
        });
        Lb { url, backends }
    }

    /// Sends new connections to these instances (base URLs), in turn.
    fn route_to(&self, instances: &[&String]) {
        *self.backends.lock().unwrap() = instances.iter().map(|u| addr(u)).collect();
    }
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// `url`, a public URL behind `lb`, sent to the instance `to` instead.
fn via(url: &str, lb: &Lb, to: &str) -> String {
    let rest = url.strip_prefix(&lb.url).unwrap_or_else(|| panic!("{url} is not behind {}", lb.url));
    format!("{to}{rest}")
}

async fn start(dir: &std::path::Path, url: &str, public: &PublicUrls) -> Stack {
    stack::start(Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock: Arc::new(service_kit::SystemClock),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: Some(url.to_owned()),
        public: Some(public.clone()),
    })
    .await
    .unwrap()
}

/// The auto-post page's SAMLResponse and RelayState.
fn auto_post(page: &str) -> [(&'static str, String); 2] {
    [
        ("SAMLResponse", input(page, "SAMLResponse").unwrap_or_else(|| panic!("an auto-post form: {page}"))),
        ("RelayState", input(page, "RelayState").unwrap_or_default()),
    ]
}

/// The signed assertion inside a base64 SAMLResponse.
fn assertion_of(saml_response: &str) -> String {
    let xml = String::from_utf8(STANDARD.decode(saml_response).unwrap()).unwrap();
    let at = xml.find("<saml:Assertion").unwrap();
    let id_at = at + xml[at..].find(" ID=\"").unwrap() + 5;
    let id = &xml[id_at..id_at + xml[id_at..].find('"').unwrap()];
    web_agent::acs::signed_assertion(&xml, id).unwrap().to_owned()
}

async fn exchange(visitor: &str, client: (&str, &str), assertion: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{visitor}/oauth2/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:saml2-bearer"),
            ("assertion", URL_SAFE_NO_PAD.encode(assertion).as_str()),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_instance_two_of_each_service_on_one_database() {
    let cluster = Cluster::start().expect("a throwaway PostgreSQL cluster (scripts/install-deps.sh)");
    cluster.create_database("idaas").unwrap();
    let url = cluster.url("idaas");
    let dir = tempfile::tempdir().unwrap();
    let (home, visitor, shop, delivery) =
        (Lb::start().await, Lb::start().await, Lb::start().await, Lb::start().await);
    let public = PublicUrls {
        home: home.url.clone(),
        visitor: visitor.url.clone(),
        agents: vec![shop.url.clone(), delivery.url.clone()],
    };
    // The first instances create the keys and records; the second ones find them.
    let s1 = start(dir.path(), url.expose(), &public).await;
    let route = |s: &[&Stack]| {
        home.route_to(&s.iter().map(|s| &s.instances.home).collect::<Vec<_>>());
        visitor.route_to(&s.iter().map(|s| &s.instances.visitor).collect::<Vec<_>>());
        shop.route_to(&s.iter().map(|s| &s.instances.agents[0]).collect::<Vec<_>>());
        delivery.route_to(&s.iter().map(|s| &s.instances.agents[1]).collect::<Vec<_>>());
    };
    route(&[&s1]);
    let s2 = start(dir.path(), url.expose(), &public).await;
    assert!(!s2.created, "the second instances find everything in the database and the key files");
    route(&[&s1, &s2]);
    let (home_a, home_b) = (&s1.instances.home, &s2.instances.home);
    let (visitor_a, visitor_b) = (&s1.instances.visitor, &s2.instances.visitor);
    let (shop_a, shop_b) = (&s1.instances.agents[0], &s2.instances.agents[0]);
    let (delivery_a, delivery_b) = (&s1.instances.agents[1], &s2.instances.agents[1]);

    // Sign-in started at shopping A; the IdP's form from home A, posted to home B; the
    // consent at home A; the response posted to shopping B.
    let b = idaas::browser::client().unwrap();
    let r = b.get(format!("{shop_a}/cart?item=42")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let signin_cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("signin"))
        .and_then(|c| c.split(';').next())
        .expect("the sign-in cookie")
        .to_owned();
    let sso = location(&r).unwrap();
    let page = b.get(via(&sso, &home, home_a)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("action=\"/saml/login\""), "{page}");
    let csrf = input(&page, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("uid", stack::USER), ("password", s1.password.as_str())];
    let r = b.post(format!("{home_b}/saml/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = idaas::browser::through_consent(&b, home_a, r.text().await.unwrap()).await.unwrap();
    assert_eq!(form_action(&page), format!("{}/saml/acs", shop.url));
    let response = auto_post(&page);
    let r = b.post(format!("{shop_b}/saml/acs")).form(&response).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert_eq!(location(&r).unwrap(), "/cart?item=42");
    // The same response, with the sign-in cookie as it was, replayed at shopping A: refused.
    let r = reqwest::Client::new()
        .post(format!("{shop_a}/saml/acs"))
        .header(reqwest::header::COOKIE, &signin_cookie)
        .form(&response)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "replayed at the other instance");

    // Proxied requests alternate between the two shopping agents: both see bob's PII.
    for agent in [shop_a, shop_b, shop_a, shop_b] {
        let r = b.get(format!("{agent}/cart?item=42")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let seen: Value = r.json().await.unwrap();
        assert_eq!(seen["user"], "bob");
        assert_eq!(pii_names(&seen), ["dob", "lastname"]);
        assert_eq!(seen["pii"]["lastname"], "Tri");
    }

    // SSO started at home B continues at home A: delivery signs bob in without a password.
    let r = b.get(format!("{delivery_a}/ship")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let page = b.get(via(&location(&r).unwrap(), &home, home_a)).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("action=\"/saml/login\""), "single sign-on at the other instance");
    let page = idaas::browser::through_consent(&b, home_b, page).await.unwrap();
    let r = b.post(format!("{delivery_b}/saml/acs")).form(&auto_post(&page)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = b.get(format!("{delivery_a}/ship")).send().await.unwrap();
    let seen: Value = r.json().await.unwrap();
    assert_eq!(pii_names(&seen), ["addresses", "lastname"]);

    // An assertion exchanged at visitor A cannot be exchanged again at visitor B.
    let other = idaas::browser::client().unwrap();
    let r = other.get(format!("{shop_b}/x")).send().await.unwrap();
    let page =
        other.get(via(&location(&r).unwrap(), &home, home_b)).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let form = [("csrf", csrf.as_str()), ("uid", stack::USER), ("password", s1.password.as_str())];
    let r = other.post(format!("{home_a}/saml/login")).form(&form).send().await.unwrap();
    let page = idaas::browser::through_consent(&other, home_b, r.text().await.unwrap()).await.unwrap();
    let assertion = assertion_of(&auto_post(&page)[0].1);
    let secret = s1.client_secret("shopping").unwrap();
    let (status, grant) = exchange(visitor_a, ("shopping", &secret), &assertion).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    let (status, refused) = exchange(visitor_b, ("shopping", &secret), &assertion).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));

    // Sign-out at shopping B ends the session at shopping A too.
    let page = b.get(format!("{shop_b}/saml/logout")).send().await.unwrap().text().await.unwrap();
    let csrf = input(&page, "csrf").unwrap();
    let r = b.post(format!("{shop_b}/saml/logout")).form(&[("csrf", csrf)]).send().await.unwrap();
    assert!(r.status().is_redirection() || r.status() == StatusCode::OK, "{}", r.status());
    for agent in [shop_a, shop_b] {
        let r = b.get(format!("{agent}/cart")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "signed out at every instance");
    }

    // The throttle counts failures at both visitor instances together.
    let free = idp_visitor::throttle::params().free_failures;
    for i in 0..free {
        let at = if i % 2 == 0 { visitor_a } else { visitor_b };
        let (status, _) = exchange(at, ("delivery", "wrong-secret"), &assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // The next attempt waits (1 s) at either instance. Counted per instance, neither would
    // reach its free failures within the next four attempts; a stall of more than the 1 s
    // wait on a busy machine may let one attempt through, hence "one of the next four".
    let mut throttled = false;
    for at in [visitor_b, visitor_a, visitor_b, visitor_a] {
        let (status, _) = exchange(at, ("delivery", "wrong-secret"), &assertion).await;
        throttled |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(throttled, "the failures at both instances count together");

    kill_during_uploads(&s1, url.expose(), home_a).await;

    // Nothing decrypted in the database: the agents' session records hold ciphertexts only.
    let dump = cluster.dump("idaas").unwrap();
    let delivery_schema = web_agent::shared::schema_for(&format!("{}/saml/metadata", delivery.url));
    assert!(dump.contains(&format!("COPY {delivery_schema}.sessions ")), "agent sessions in the dump");
    let rows = cluster.psql("idaas", &format!("SELECT count(*) FROM {delivery_schema}.sessions")).unwrap();
    assert!(rows.trim().parse::<u64>().unwrap() >= 1, "delivery's session is in the database");
    for (name, value, _) in pbe_core::disclosure::table1() {
        assert!(!occurs_as_token(&dump, value), "the plaintext of {name} is in the database dump");
    }
    s2.stop().await;
    s1.stop().await;
}

/// A third home instance as a real `idaas home` process, killed (SIGKILL) while four clients
/// upload PII to it: every upload it acknowledged is readable at `other` afterwards.
async fn kill_during_uploads(s1: &Stack, store_url: &str, other: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = s1.home_config.clone();
    config.listen = SocketAddr::from(([127, 0, 0, 1], port));
    (config.store_url, config.admin_token) = (None, None);
    let path = s1.data_dir.join("home-third.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let log = std::fs::File::create(s1.data_dir.join("home-third.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idaas"))
        .args(["home", "--config", path.to_str().unwrap()])
        .env(service_kit::pg::STORE_URL_ENV, store_url)
        .env(idp_home::config::ADMIN_TOKEN_ENV, s1.home_admin.token.expose())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let third = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let up = reqwest::get(format!("{third}/healthz")).await.is_ok_and(|r| r.status().is_success());
        if up {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "idaas home exited: see home-third.log");
        assert!(std::time::Instant::now() < deadline, "idaas home did not start in 180 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let at_other = HomeClient::new(other).unwrap();
    let (ct, _) =
        at_other.encrypt(&PolicySource::Text("purpose:current@salesforce".into()), b"upload").await.unwrap();
    let client = Arc::new(HomeClient::new(&third).unwrap());
    let token = Arc::new(client.upload_token(stack::USER, &s1.password, None).await.unwrap().token);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let (client, token, acked, ct) = (client.clone(), token.clone(), acked.clone(), ct.clone());
            tokio::spawn(async move {
                for i in 0..12 {
                    let name = format!("up{t}n{i}");
                    if client.put(&token, &name, &ct).await.is_ok() {
                        acked.lock().unwrap().push(name);
                    }
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while acked.lock().unwrap().len() < 12 {
        assert!(std::time::Instant::now() < deadline, "no uploads acknowledged in 180 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let token = at_other.token(stack::USER, &s1.password).await.unwrap();
    let held: Vec<String> = at_other.list(&token).await.unwrap().into_iter().map(|s| s.attribute).collect();
    for name in &acked {
        assert!(held.contains(name), "{name} was acknowledged by the killed instance but is lost");
    }
    eprintln!("kill -9 during uploads: {} acknowledged, all readable at another instance", acked.len());
}
