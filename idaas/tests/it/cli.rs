//! The `idaas pbe` command line, driven as a user would: real binary, real files.
//! Exit codes: 0 success, 1 keys do not satisfy the policy, 2 bad input or usage; never a
//! panic (101), whatever the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn idaas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_idaas"))
}

fn run(args: &[&str]) -> Output {
    idaas().args(args).output().unwrap()
}

fn run_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = idaas()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert_eq!(code(&o), 0, "stderr: {}", stderr(&o));
    o
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for a in ["telekom", "salesforce", "amazon"] {
            ok(run(&["pbe", "setup", "--authority", a, "--out", s(dir.path())]));
        }
        Setup { dir }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pks(&self) -> Vec<String> {
        ["telekom", "salesforce", "amazon"]
            .iter()
            .map(|a| s(&self.p(&format!("{a}.pk"))).to_owned())
            .collect()
    }

    fn encrypt_disclosure(&self, attr: &str, value: &str) -> PathBuf {
        let input = self.p(&format!("{attr}.txt"));
        std::fs::write(&input, value).unwrap();
        let out = self.p(&format!("{attr}.ct"));
        let disclosure = examples().join(format!("{attr}.json"));
        let mut args = vec![
            "pbe",
            "encrypt",
            "--disclosure",
            s(&disclosure),
            "--home",
            "telekom",
            "--today",
            "2026-11-23",
        ];
        args.extend(["--in", s(&input), "--out", s(&out), "--pk"]);
        let pks = self.pks();
        args.extend(pks.iter().map(String::as_str));
        ok(run(&args));
        out
    }

    fn keygen(&self, authority: &str, session: &str, attrs: &[&str], out: &str) -> PathBuf {
        let out = self.p(out);
        let msk = self.p(&format!("{authority}.msk"));
        let mut args =
            vec!["pbe", "keygen", "--msk", s(&msk), "--uid", "bob", "--session", session, "--out", s(&out)];
        args.push("--attr");
        args.extend(attrs);
        ok(run(&args));
        out
    }

    fn decrypt(&self, ct: &Path, keys: &[&Path]) -> Output {
        let mut args = vec!["pbe", "decrypt", "--in", s(ct), "--key"];
        args.extend(keys.iter().map(|k| s(k)));
        run(&args)
    }
}

#[test]
fn table1_lifecycle_through_the_cli() {
    let w = Setup::new();
    let lastname = w.encrypt_disclosure("lastname", "Tri");
    let dob = w.encrypt_disclosure("dob", "1980-01-01");
    let addresses = w.encrypt_disclosure("addresses", "Berlin, Germany");
    let tat =
        w.keygen("telekom", "s1", &["access_time=2026-11-23", "domain:salesforce", "country:eu"], "tat");
    let later =
        w.keygen("telekom", "s1", &["access_time=2026-12-08", "domain:salesforce", "country:eu"], "tat15");
    let shopping = w.keygen("salesforce", "s1", &["purpose:current", "ppurpose:purchase"], "shop");
    let delivery =
        w.keygen("salesforce", "s1", &["purpose:current", "purpose:contact", "ppurpose:delivery"], "deliv");
    let expired = w.keygen("salesforce", "s1", &["ppurpose:purchase"], "expired");

    let expect = |ct: &Path, keys: &[&Path], value: Option<&str>| {
        let o = w.decrypt(ct, keys);
        match value {
            Some(v) => {
                assert_eq!(code(&o), 0, "{}", stderr(&o));
                assert_eq!(String::from_utf8_lossy(&o.stdout), v);
            }
            None => {
                assert_eq!(code(&o), 1, "{}", stderr(&o));
                assert!(stderr(&o).contains("do not satisfy the policy"), "{}", stderr(&o));
                assert!(o.stdout.is_empty());
            }
        }
    };
    expect(&lastname, &[&tat, &shopping], Some("Tri"));
    expect(&dob, &[&tat, &shopping], Some("1980-01-01"));
    expect(&addresses, &[&tat, &shopping], None);
    expect(&lastname, &[&tat, &delivery], Some("Tri"));
    expect(&dob, &[&tat, &delivery], None);
    expect(&addresses, &[&tat, &delivery], Some("Berlin, Germany"));
    expect(&lastname, &[&tat, &expired], None);
    expect(&dob, &[&tat, &expired], None);
    expect(&lastname, &[&later, &delivery], Some("Tri"));
    expect(&addresses, &[&later, &delivery], None);
}

#[test]
fn keys_of_another_session_are_refused() {
    let w = Setup::new();
    let ct = w.encrypt_disclosure("lastname", "Tri");
    let tat =
        w.keygen("telekom", "s1", &["access_time=2026-11-23", "domain:salesforce", "country:eu"], "tat");
    let pat = w.keygen("salesforce", "s2", &["purpose:current", "ppurpose:purchase"], "pat");
    let o = w.decrypt(&ct, &[&tat, &pat]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("different users or sessions"), "{}", stderr(&o));
}

#[test]
fn secret_keys_are_written_with_mode_0600_and_never_overwritten_silently() {
    use std::os::unix::fs::PermissionsExt;
    let w = Setup::new();
    let mode = std::fs::metadata(w.p("telekom.msk")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let o = run(&["pbe", "setup", "--authority", "telekom", "--out", s(w.dir.path())]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("already exists"));
    let key = w.keygen("telekom", "s1", &["domain:x"], "k");
    assert_eq!(std::fs::metadata(key).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn policy_text_stdin_stdout_and_text_form() {
    let w = Setup::new();
    let pk = w.p("telekom.pk");
    let o = ok(run_stdin(
        &["pbe", "encrypt", "--pk", s(&pk), "--policy", "domain:x@telekom or country:eu@telekom", "--text"],
        b"hello",
    ));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.trim().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    let key = w.keygen("telekom", "s", &["country:eu"], "k");
    let o = ok(run_stdin(&["pbe", "decrypt", "--key", s(&key)], text.as_bytes()));
    assert_eq!(o.stdout, b"hello");
}

#[test]
fn inspect_describes_every_kind() {
    let w = Setup::new();
    let ct = w.encrypt_disclosure("addresses", "Berlin");
    let key = w.keygen("telekom", "s1", &["access_time=2026-11-23"], "k");
    let o = ok(run(&["pbe", "inspect", "--json", s(&ct)]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "ciphertext");
    assert_eq!(v["suite"], "bls12-381");
    assert!(v["policy"].as_str().unwrap().contains("access_time@telekom in [2026-11-23, 2026-12-06]"));
    assert_eq!(v["payload_size"], 6);
    let o = ok(run(&["pbe", "inspect", "--json", s(&key)]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["attributes"].as_array().unwrap().len(), 17);
    for f in ["telekom.pk", "telekom.msk"] {
        let o = ok(run(&["pbe", "inspect", s(&w.p(f))]));
        assert!(String::from_utf8_lossy(&o.stdout).contains("telekom"));
    }
}

#[test]
fn bad_input_exits_2_with_a_message_and_never_panics() {
    let w = Setup::new();
    let ct = w.encrypt_disclosure("dob", "1980-01-01");
    let key = w.keygen("telekom", "s1", &["domain:salesforce"], "k");
    let bytes = std::fs::read(&ct).unwrap();
    let garbage = w.p("garbage");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("random", (0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("header only", bytes[..7].to_vec()),
        ("bad version", [&bytes[..4], &[9u8], &bytes[5..]].concat()),
        ("text garbage", b"!!!not base64!!!".to_vec()),
        ("huge count", [&bytes[..7], &[0xff, 0xff]].concat()),
    ];
    for (label, data) in cases {
        std::fs::write(&garbage, &data).unwrap();
        for args in [
            vec!["pbe", "decrypt", "--in", s(&garbage), "--key", s(&key)],
            vec!["pbe", "decrypt", "--in", s(&ct), "--key", s(&garbage)],
            vec!["pbe", "inspect", s(&garbage)],
            vec!["pbe", "encrypt", "--pk", s(&garbage), "--policy", "a:b@c", "--in", s(&ct)],
            vec![
                "pbe",
                "keygen",
                "--msk",
                s(&garbage),
                "--uid",
                "u",
                "--session",
                "s",
                "--attr",
                "a:b",
                "--out",
                s(&w.p("x")),
            ],
        ] {
            let o = run(&args);
            assert_eq!(code(&o), 2, "{label}: {args:?}: {}", stderr(&o));
            assert!(!stderr(&o).is_empty() && !stderr(&o).contains("panicked"), "{label}");
        }
    }
    // Usage errors and bad values name what is wrong.
    let pk = w.p("telekom.pk");
    let msk_path = w.p("telekom.msk");
    let msk = s(&msk_path);
    let y_path = w.p("y");
    let y = s(&y_path);
    let checks: Vec<(Vec<&str>, &str)> = vec![
        (vec!["pbe", "encrypt", "--pk", s(&pk), "--policy", "a:b@telekom and (c:d@telekom"], "expected"),
        (
            vec!["pbe", "encrypt", "--pk", s(&pk), "--policy", "a:b@amazon"],
            "no public key for authority 'amazon'",
        ),
        (vec!["pbe", "setup", "--authority", "Bad Name!", "--out", s(w.dir.path())], "authority"),
        (
            vec!["pbe", "setup", "--authority", "x", "--out", s(w.dir.path()), "--suite", "p-256"],
            "unknown suite",
        ),
        (
            vec![
                "pbe",
                "keygen",
                "--msk",
                msk,
                "--uid",
                "u",
                "--session",
                "s",
                "--attr",
                "a:b@amazon",
                "--out",
                y,
            ],
            "not this key's authority",
        ),
        (
            vec![
                "pbe",
                "keygen",
                "--msk",
                msk,
                "--uid",
                "u",
                "--session",
                "s",
                "--attr",
                "access_time=2026-02-30",
                "--out",
                y,
            ],
            "access_time",
        ),
        (
            vec![
                "pbe",
                "keygen",
                "--msk",
                s(&pk),
                "--uid",
                "u",
                "--session",
                "s",
                "--attr",
                "a:b",
                "--out",
                y,
            ],
            "expected a authority secret key",
        ),
        (vec!["pbe", "decrypt", "--in", s(&ct), "--key", s(&pk)], "expected a user key bundle"),
        (vec!["pbe", "encrypt", "--pk", s(&pk)], "--policy"),
        (vec!["pbe", "inspect", "/nonexistent/file"], "/nonexistent/file"),
    ];
    for (args, needle) in checks {
        let o = run_stdin(&args, b"x");
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    let bad_disclosure = w.p("bad.json");
    std::fs::write(&bad_disclosure, br#"{"purposes": [], "domains": ["salesforce"], "lifetime_days": 3}"#)
        .unwrap();
    let o = run_stdin(&["pbe", "encrypt", "--pk", s(&pk), "--disclosure", s(&bad_disclosure)], b"x");
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.json"));
    // With several candidate home authorities, the CLI asks rather than guesses.
    let pks = w.pks();
    let addresses = examples().join("addresses.json");
    let mut args = vec!["pbe", "encrypt", "--disclosure", s(&addresses), "--pk"];
    args.extend(pks.iter().map(String::as_str));
    let o = run_stdin(&args, b"x");
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--home"), "{}", stderr(&o));
}

#[test]
fn toml_disclosure_policies_work_too() {
    let w = Setup::new();
    let out = w.p("a.ct");
    let toml = examples().join("addresses.toml");
    let pks = w.pks();
    let mut args =
        vec!["pbe", "encrypt", "--disclosure", s(&toml), "--home", "telekom", "--out", s(&out), "--pk"];
    args.extend(pks.iter().map(String::as_str));
    ok(run_stdin(&args, b"Berlin"));
}

#[test]
fn demo_prints_the_table1_lifecycle() {
    let o = ok(run(&["pbe", "demo", "--today", "2026-11-23"]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.matches("as expected").count(), 4, "{text}");
    assert!(!text.contains("MISMATCH"));
    assert!(text.contains("Berlin, Germany") && text.contains("1980-01-01"));
}

#[test]
fn pii_put_refuses_malformed_rules_before_asking_for_a_password() {
    for rules in [
        "domain=salesforce",
        "domain=a purposes=b for=0d",
        "colour=red",
        "domain=a purposes=b for=7d for=8d",
        "domain=a purposes@b=c for=7d",
    ] {
        let o = run_stdin(
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
                "--rules",
                rules,
            ],
            b"",
        );
        assert_eq!(code(&o), 2, "{rules}: {}", stderr(&o));
        assert!(stderr(&o).contains("rules:") && !stderr(&o).contains("password"), "{rules}: {}", stderr(&o));
    }
    let o = run(&[
        "pii", "put", "--user", "bob", "--attr", "x", "--value", "v", "--rules", "r", "--policy", "a:b@c",
    ]);
    assert_eq!(code(&o), 2, "--rules and --policy conflict");
    let o = ok(run(&["wallet", "--help"]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--no-browser"));
}
