//! The service and data-owner commands with bad input: missing, garbage, truncated and hostile
//! configuration files, bad dates, unreachable servers, bad attribute names. Each must exit 2
//! with a message naming the problem, never panic (101) and never start serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_idaas"));
    c.args(args).env_remove("IDAAS_PASSWORD").env_remove("IDAAS_AGENT_CLIENT_SECRET");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn fails_with(o: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn service_configs_that_cannot_work_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let missing = dir.path().join("missing.toml").to_str().unwrap().to_owned();
    let garbage = write("garbage.toml", b"\x00\xff not toml [[[");
    let unknown = write("unknown.toml", b"listen = \"127.0.0.1:0\"\nfrobnicate = 1\n");
    let truncated = write("truncated.toml", b"public_url = \"http://127.0.0.1:1");
    for service in ["home", "visitor", "agent"] {
        for (file, needle) in
            [(&missing, "missing.toml"), (&garbage, "garbage.toml"), (&truncated, "truncated.toml")]
        {
            fails_with(&run(&[service, "--config", file, "--check"], &[]), 2, needle);
        }
        fails_with(&run(&[service, "--config", &unknown, "--check"], &[]), 2, "frobnicate");
    }
    // An agent whose IdP metadata has no signing certificate is refused (samael would skip
    // signature checks).
    let md = write(
        "md.xml",
        b"<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://idp\">\
          <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
          <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"https://idp/sso\"/>\
          </md:IDPSSODescriptor></md:EntityDescriptor>",
    );
    let agent = write(
        "agent.toml",
        format!(
            "public_url = \"http://127.0.0.1:1\"\nbackend_url = \"http://127.0.0.1:2\"\ndata_dir = \"{}\"\n[home_idp]\nmetadata_file = \"{md}\"\n",
            dir.path().join("agent").display()
        )
        .as_bytes(),
    );
    fails_with(&run(&["agent", "--config", &agent, "--check"], &[]), 2, "certificate");
}

#[test]
fn data_owner_commands_check_their_input() {
    let env = [("IDAAS_PASSWORD", "correct horse battery staple")];
    // Nothing listens on port 9: a clear error, exit 2.
    let o = run(&["pii", "list", "--home", "http://127.0.0.1:9", "--user", "bob"], &env);
    fails_with(&o, 2, "home IdP");
    let o = run(
        &[
            "pii",
            "put",
            "--home",
            "http://127.0.0.1:9",
            "--user",
            "bob",
            "--attr",
            "x",
            "--value",
            "v",
            "--policy",
            "(((",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(
        &["pii", "put", "--user", "bob", "--attr", "x", "--value", "v", "--disclosure", "/nonexistent.json"],
        &env,
    );
    fails_with(&o, 2, "nonexistent.json");
    // clap's own usage errors.
    assert_eq!(run(&["pii", "put", "--user", "bob", "--attr", "x"], &env).status.code(), Some(2));
    assert_eq!(run(&["quickstart", "--base-port", "70000"], &[]).status.code(), Some(2));
    fails_with(&run(&["quickstart", "--now", "2026-13-45", "--data-dir", "/nonexistent/x"], &[]), 2, "--now");
}
