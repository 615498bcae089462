//! Every sample configuration shipped in `docs/examples/` and `docker/config/` parses and
//! validates with the parser of the service (or the data-owner command) it is written for. An
//! operator copies these files first; a sample that drifted from the code would be the first
//! thing to fail them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap in a test is a failed test

use std::path::{Path, PathBuf};

use pbe_core::disclosure::DisclosurePolicy;

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "json")))
        .collect();
    out.sort();
    out
}

/// Which parser a sample is for, from its file name; `None` means "a disclosure policy".
enum Kind {
    Home,
    Visitor,
    Agent,
    Disclosure,
}

fn kind(path: &Path) -> Kind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.starts_with("home") {
        Kind::Home
    } else if name.starts_with("visitor") {
        Kind::Visitor
    } else if name.starts_with("agent") {
        Kind::Agent
    } else {
        Kind::Disclosure
    }
}

fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let json = path.extension().and_then(|e| e.to_str()) == Some("json");
    match kind(path) {
        Kind::Home => idp_home::config::Config::from_toml(&text).map(drop).map_err(|e| e.to_string()),
        Kind::Visitor => idp_visitor::config::Config::from_toml(&text).map(drop).map_err(|e| e.to_string()),
        // The agent's client secret comes from the environment in a deployment.
        Kind::Agent => web_agent::config::Config::from_toml_with_secret(&text, "sample-secret")
            .map(drop)
            .map_err(|e| e.to_string()),
        Kind::Disclosure => {
            let policy: DisclosurePolicy = if json {
                serde_json::from_str(&text).map_err(|e| e.to_string())?
            } else {
                toml::from_str(&text).map_err(|e| e.to_string())?
            };
            policy.compile("telekom", 20_000).map(drop).map_err(|e| e.to_string())
        }
    }
}

#[test]
fn every_sample_config_parses_and_validates() {
    let samples: Vec<PathBuf> = files("docs/examples").into_iter().chain(files("docker/config")).collect();
    assert!(samples.len() >= 10, "expected the shipped samples, found {samples:?}");
    let failures: Vec<String> =
        samples.iter().filter_map(|p| check(p).err().map(|e| format!("{}: {e}", p.display()))).collect();
    assert!(failures.is_empty(), "samples that no longer parse:\n{}", failures.join("\n"));
}

#[test]
fn the_check_refuses_a_broken_sample() {
    // The test above must be able to fail: a sample with an unknown key is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("visitor.toml");
    std::fs::write(&broken, "this_key_does_not_exist = 1\n").expect("write");
    assert!(check(&broken).is_err());
}
