//! Real third-party peers against the quickstart (issue 16): two SAML SP libraries that nobody
//! on this project wrote (pysaml2 with its defaults, python3-saml in strict mode) sign bob in
//! through the home IdP after being registered from their own metadata with
//! `idaas home sps import`, and an OAuth client library (Authlib) validates the visitor IdP's
//! RFC 8414 document and runs the RFC 7522 grant and RFC 7662 introspection. pysaml2 also
//! completes single logout at the home IdP, and plays a third-party IdP for the web agent.
//!
//! The peers live in a virtual environment that `make test` installs
//! (scripts/install-peers.sh → target/peers-venv); the drivers are scripts/peers/*.py.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use idaas::stack::{self, Options, Stack};
use serde_json::Value;
use service_kit::SystemClock;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The peers' Python: `IDAAS_PEERS_PYTHON`, else the virtual environment `make test` creates.
fn python() -> PathBuf {
    let python = std::env::var_os("IDAAS_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/peers-venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/install-peers.sh` (make test does it)",
        python.display()
    );
    python
}

/// Runs a peer script; its stdout on success, its stderr on failure.
async fn peer(script: &str, args: Vec<String>, env: Vec<(&'static str, String)>) -> Result<String, String> {
    let script = workspace().join("scripts/peers").join(script);
    tokio::task::spawn_blocking(move || {
        let out = Command::new(python()).arg(script).args(args).envs(env).output().expect("run the peer");
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    })
    .await
    .unwrap()
}

async fn start(dir: &Path) -> Stack {
    stack::start(Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        // The peers check times against the real clock.
        clock: Arc::new(SystemClock),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap()
}

/// One SP library's identity: where its files are and how it is named.
struct SpPeer {
    lib: &'static str,
    workdir: PathBuf,
    entity_id: String,
}

impl SpPeer {
    fn new(lib: &'static str, dir: &Path) -> Self {
        SpPeer { lib, workdir: dir.join(lib), entity_id: format!("https://{lib}.peer.example/sp") }
    }

    fn args(&self, command: &str) -> Vec<String> {
        // The ACS is never contacted: the driver hands the library the form the IdP would post.
        let acs = format!("http://127.0.0.1:9/{}/acs", self.lib);
        let slo = format!("http://127.0.0.1:9/{}/slo", self.lib);
        [command, "--lib", self.lib, "--workdir"]
            .into_iter()
            .map(str::to_owned)
            .chain([self.workdir.display().to_string(), "--entity-id".into(), self.entity_id.clone()])
            .chain(["--acs".into(), acs, "--slo".into(), slo])
            .collect()
    }

    async fn metadata(&self) -> String {
        peer("saml_sp.py", self.args("metadata"), vec![]).await.unwrap()
    }

    async fn login(&self, s: &Stack) -> Result<Value, String> {
        let mut args = self.args("login");
        args.extend(["--idp-metadata".into(), format!("{}/saml/metadata", s.home_url)]);
        args.extend(["--user".into(), stack::USER.into()]);
        let out = peer("saml_sp.py", args, vec![("IDAAS_PEER_PASSWORD", s.password.clone())]).await?;
        Ok(serde_json::from_str(out.trim()).unwrap())
    }
}

/// `idaas home sps import FILE` against the running home IdP, as an operator runs it.
fn import(s: &Stack, file: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_idaas"))
        .args(["home", "sps", "import"])
        .arg(file)
        .args(["--home", &s.home_url, "--admin-token-file"])
        .arg(s.data_dir.join("home.admin-token"))
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_saml_sp_libraries_sign_bob_in_and_receive_mail_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    for lib in ["pysaml2", "onelogin"] {
        let sp = SpPeer::new(lib, dir.path());
        let file = dir.path().join(format!("{lib}-metadata.xml"));
        std::fs::write(&file, sp.metadata().await).unwrap();
        let out = import(&s, &file, &[]);
        assert!(out.status.success(), "{lib}: {}", String::from_utf8_lossy(&out.stderr));
        let registered: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(registered["entity_id"], sp.entity_id.as_str());
        assert_eq!(
            registered["release"],
            serde_json::json!(["email", "groups"]),
            "{lib}: from RequestedAttribute"
        );
        assert!(registered["authn_request_cert_pem"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
        // A second import of the same SP is a conflict, unless asked to replace.
        let again = import(&s, &file, &[]);
        assert_eq!(again.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&again.stderr).contains("--replace"));
        assert!(import(&s, &file, &["--replace"]).status.success());

        let seen = sp.login(&s).await.unwrap_or_else(|e| panic!("{lib} refused the sign-in: {e}"));
        assert_eq!(seen["name_id"], stack::USER, "{lib}: {seen}");
        assert_eq!(seen["relay_state"], "/peer", "{lib}");
        assert!(seen["session_index"].as_str().is_some_and(|i| !i.is_empty()), "{lib}: {seen}");
        // Each library maps the standard names its own way: pysaml2 through its saml_uri
        // attribute map, python3-saml by FriendlyName.
        let attrs = if lib == "pysaml2" { &seen["attributes"] } else { &seen["friendly_attributes"] };
        assert_eq!(attrs["mail"], serde_json::json!(["bob@example.org"]), "{lib}: {seen}");
        assert_eq!(attrs["isMemberOf"], serde_json::json!([stack::GROUP]), "{lib}: {seen}");
    }

    // The test can fail: registered to get only the Assertion signed, pysaml2's default
    // (a signed Response) refuses the same sign-in.
    let pysaml2 = SpPeer::new("pysaml2", dir.path());
    let http = reqwest::Client::new();
    let url = |id: &str| format!("{}/admin/sps/{}", s.home_url, url_segment(id));
    let token = s.home_admin.token.expose().to_owned();
    let mut sp: Value =
        http.get(url(&pysaml2.entity_id)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    sp["sign"] = "assertion".into();
    let r = http.put(url(&pysaml2.entity_id)).bearer_auth(&token).json(&sp).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let refused = pysaml2.login(&s).await.expect_err("pysaml2 requires a signed Response by default");
    assert!(refused.to_lowercase().contains("sign"), "{refused}");
    s.stop().await;
}

fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_client_library_discovers_exchanges_and_introspects_at_the_visitor_idp() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    // Authlib accepts plain http on loopback only (elsewhere AUTHLIB_INSECURE_TRANSPORT).
    let md =
        peer("oauth_client.py", vec!["discover".into(), "--issuer".into(), s.visitor_url.clone()], vec![])
            .await
            .unwrap_or_else(|e| panic!("Authlib's RFC 8414 validator refused the metadata: {e}"));
    let md: Value = serde_json::from_str(md.trim()).unwrap();
    assert_eq!(md["response_types_supported"], serde_json::json!(["none"]));

    // A real assertion for the shopping service, exchanged by Authlib instead of the agent.
    let (page, _) = super::e2e::to_auto_post(&s, &super::e2e::browser(), 0, "/peer").await;
    let response = String::from_utf8(
        STANDARD.decode(idaas::browser::form_input(&page, "SAMLResponse").unwrap()).unwrap(),
    )
    .unwrap();
    let id_at = response.find("<saml:Assertion").unwrap();
    let id_at = id_at + response[id_at..].find(" ID=\"").unwrap() + 5;
    let assertion_id = &response[id_at..id_at + response[id_at..].find('"').unwrap()];
    let assertion = web_agent::acs::signed_assertion(&response, assertion_id).unwrap();
    let file = dir.path().join("assertion.b64");
    std::fs::write(&file, URL_SAFE_NO_PAD.encode(assertion)).unwrap();
    let env = vec![("IDAAS_PEER_CLIENT_SECRET", s.client_secret("shopping").unwrap().trim().to_owned())];
    let args = ["exchange", "--issuer", &s.visitor_url, "--client-id", "shopping", "--assertion-file"]
        .into_iter()
        .map(str::to_owned)
        .chain([file.display().to_string()])
        .collect();
    let out = peer("oauth_client.py", args, env).await.unwrap_or_else(|e| panic!("Authlib: {e}"));
    let out: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(out["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("bearer"), "{out}");
    assert!(out["scope"].as_str().unwrap().contains("ppurpose:purchase"), "{out}");
    assert!(out["token_fields"].as_array().unwrap().contains(&"access_token".into()), "{out}");
    assert_eq!(out["introspection"]["active"], true, "{out}");
    assert_eq!(out["bogus_introspection"], serde_json::json!({"active": false}), "{out}");
    assert_eq!(out["replayed_error"], "invalid_grant", "one exchange per assertion: {out}");
    assert_eq!(out["broken_error"], "invalid_grant", "{out}");
    assert_eq!(out["bad_client_error"], "invalid_client", "{out}");
    s.stop().await;
}

#[test]
fn sps_import_reports_bad_input_before_contacting_the_idp() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef").unwrap();
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<md:EntityDescriptor").unwrap();
    let huge = dir.path().join("huge.xml");
    std::fs::write(&huge, vec![b' '; 600 * 1024]).unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_idaas"))
            .args(args)
            .env_remove("IDAAS_HOME_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let t = token.to_str().unwrap();
    let home = ["--home", "http://127.0.0.1:9"];
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["home"], vec![], "--config"),
        (vec!["home", "sps", "import", "/nonexistent.xml"], vec![], "IDAAS_HOME_ADMIN_TOKEN"),
        (
            vec!["home", "sps", "import", "/nonexistent.xml", "--admin-token-file", t],
            vec![],
            "/nonexistent.xml",
        ),
        (
            vec!["home", "sps", "import", broken.to_str().unwrap(), "--admin-token-file", t],
            vec![],
            "SP metadata",
        ),
        (
            vec!["home", "sps", "import", huge.to_str().unwrap(), "--admin-token-file", t],
            vec![],
            "larger than",
        ),
        (
            vec!["home", "sps", "import", "/x.xml", "--admin-token-file", "/nonexistent-token"],
            vec![],
            "nonexistent-token",
        ),
        (vec!["home", "sps", "import", "/x.xml"], vec![("IDAAS_HOME_ADMIN_TOKEN", "  ")], "empty"),
    ];
    for (mut args, env, expected) in cases {
        if args.len() > 2 {
            args.extend(home);
        }
        let (code, err) = run(&args, &env);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A well-formed document for an IdP that is not there: the connection error, exit 2.
    let good = dir.path().join("good.xml");
    std::fs::write(&good, include_str!("../../../federation/tests/data/sp-metadata-pysaml2.xml")).unwrap();
    let (code, err) = run(
        &[
            "home",
            "sps",
            "import",
            good.to_str().unwrap(),
            "--admin-token-file",
            t,
            "--home",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

/// A web agent (plain SAML: no visitor IdP) in front of the demo backend, trusting the IdP
/// whose metadata is `idp_metadata`; `extra` adds top-level configuration lines.
async fn agent_behind(
    idp_metadata: &str,
    dir: &Path,
    extra: &str,
) -> (String, Vec<tokio::task::JoinHandle<()>>) {
    let backend_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (backend, agent) = (
        format!("http://{}", backend_l.local_addr().unwrap()),
        format!("http://{}", agent_l.local_addr().unwrap()),
    );
    let md_file = dir.join("idp-metadata.xml");
    std::fs::write(&md_file, idp_metadata).unwrap();
    let toml = format!(
        "public_url = \"{agent}\"\nbackend_url = \"{backend}\"\ndata_dir = \"{data}\"\n{extra}\n\
         [home_idp]\nmetadata_file = \"{md}\"\n\
         [access]\ndefault_level = \"none\"\n[[access.rules]]\nprefix = \"/\"\ngroups = {{ staff = \"read_write\" }}\n",
        data = dir.join("agent").display(),
        md = md_file.display(),
    );
    let config = web_agent::Config::from_toml(&toml).unwrap();
    let state = web_agent::AppState::new(config, idp_metadata, Arc::new(SystemClock))
        .unwrap_or_else(|e| panic!("the agent refused the third-party IdP's metadata: {e}"));
    let app = idaas::demo_backend::app("peer").unwrap();
    let tasks = vec![
        tokio::spawn(async move {
            let _ = web_agent::serve(state, agent_l, std::future::pending()).await;
        }),
        tokio::spawn(async move {
            let opts = service_kit::ServeOptions::default();
            let _ = service_kit::serve(app, backend_l, opts, std::future::pending()).await;
        }),
    ];
    (agent, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_signs_in_through_a_third_party_idp_in_every_signing_shape() {
    let dir = tempfile::tempdir().unwrap();
    let idp_dir = dir.path().join("idp");
    let idp = |command: &str| -> Vec<String> {
        [command, "--workdir", idp_dir.to_str().unwrap(), "--entity-id", "https://idp.peer.example"]
            .into_iter()
            .chain(["--sso", "http://127.0.0.1:9/sso"])
            .map(str::to_owned)
            .collect()
    };
    let metadata = peer("saml_idp.py", idp("metadata"), vec![]).await.unwrap();
    // Behind another IdP: the user is the mail attribute, the groups come from isMemberOf
    // (the default), and the IdP's group names are mapped to the agent's.
    let extra =
        "user_from = \"urn:oid:0.9.2342.19200300.100.1.3\"\n[group_mapping]\nengineering = \"staff\"\n";
    let (agent, tasks) = agent_behind(&metadata, dir.path(), extra).await;
    let sp_metadata = dir.path().join("agent-metadata.xml");
    let md = reqwest::get(format!("{agent}/saml/metadata")).await.unwrap().text().await.unwrap();
    std::fs::write(&sp_metadata, md).unwrap();

    for (shape, accepted) in [("both", true), ("response", true), ("assertion", true)] {
        let browser = super::e2e::browser();
        let r = browser.get(format!("{agent}/report?x=1")).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::FOUND, "{shape}");
        let location = idaas::browser::location(&r).unwrap();
        assert!(location.starts_with("http://127.0.0.1:9/sso?SAMLRequest="), "{location}");
        let mut args = idp("respond");
        args.extend([
            "--sp-metadata".into(),
            sp_metadata.display().to_string(),
            "--request-url".into(),
            location,
        ]);
        args.extend(
            ["--user", "bob", "--mail", "bob@peer.example", "--groups", "engineering,alumni"]
                .map(String::from),
        );
        args.extend(["--sign".into(), shape.into()]);
        let answer: Value =
            serde_json::from_str(peer("saml_idp.py", args, vec![]).await.unwrap().trim()).unwrap();
        assert_eq!(answer["acs"], format!("{agent}/saml/acs"));
        let r = browser
            .post(format!("{agent}/saml/acs"))
            .form(&[
                ("SAMLResponse", answer["saml_response"].as_str().unwrap()),
                ("RelayState", answer["relay_state"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(
            status == reqwest::StatusCode::SEE_OTHER,
            accepted,
            "{shape}: {}",
            r.text().await.unwrap()
        );
        let back = idaas::browser::location(&r).unwrap();
        assert_eq!(back, "/report?x=1", "{shape}");
        let seen: Value = browser.get(format!("{agent}{back}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(seen["user"], "bob@peer.example", "{shape}: {seen}");
        assert_eq!(seen["groups"], serde_json::json!(["alumni", "staff"]), "{shape}: {seen}");
    }

    // A response the IdP signed, altered on the way: refused, no session.
    let browser = super::e2e::browser();
    let r = browser.get(format!("{agent}/y")).send().await.unwrap();
    let mut args = idp("respond");
    args.extend(["--sp-metadata".into(), sp_metadata.display().to_string(), "--request-url".into()]);
    args.push(idaas::browser::location(&r).unwrap());
    args.extend(["--user", "bob", "--mail", "bob@peer.example", "--groups", "alumni"].map(String::from));
    let answer: Value =
        serde_json::from_str(peer("saml_idp.py", args, vec![]).await.unwrap().trim()).unwrap();
    let xml = String::from_utf8(STANDARD.decode(answer["saml_response"].as_str().unwrap()).unwrap()).unwrap();
    let forged = STANDARD.encode(xml.replacen(">alumni<", ">staff<", 1));
    let r = browser
        .post(format!("{agent}/saml/acs"))
        .form(&[("SAMLResponse", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = browser.get(format!("{agent}/y")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FOUND, "no session came of it");
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saml_sp_library_completes_single_logout_at_the_home_idp() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let sp = SpPeer::new("pysaml2", dir.path());
    let file = dir.path().join("pysaml2-metadata.xml");
    std::fs::write(&file, sp.metadata().await).unwrap();
    let out = import(&s, &file, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let registered: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(registered["slo"]["url"], "http://127.0.0.1:9/pysaml2/slo", "{registered}");

    let mut args = sp.args("login-logout");
    args.extend(["--idp-metadata".into(), format!("{}/saml/metadata", s.home_url)]);
    args.extend(["--user".into(), stack::USER.into()]);
    let out = peer("saml_sp.py", args, vec![("IDAAS_PEER_PASSWORD", s.password.clone())])
        .await
        .unwrap_or_else(|e| panic!("pysaml2's single logout failed: {e}"));
    let out: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(out["status"], "urn:oasis:names:tc:SAML:2.0:status:Success", "{out}");
    assert_eq!(out["signed_query"], true, "the IdP signs its LogoutResponse: {out}");
    assert_eq!(out["in_response_to_matches"], true, "{out}");
    assert_eq!(out["local_session_left"], false, "{out}");
    assert_eq!(out["asks_password_again"], true, "the IdP session is over: {out}");
    s.stop().await;
}
