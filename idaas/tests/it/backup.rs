//! `idaas backup` / `idaas restore` (issue 21 item 5), with the real binary against a real
//! running stack: a backup taken while the services run restores into a directory from which
//! bob signs in and reads his data; damaged and hostile archives are refused and leave nothing
//! behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use idaas::owner::{HomeClient, PolicySource};
use idaas::stack::{self, Options, Stack};
use service_kit::ManualClock;

use crate::e2e::{browser, pii_names, visit};

/// 2025-10-09, noon UTC.
const T0: i64 = 1_760_011_200;

async fn start(dir: &Path, clock: Arc<ManualClock>) -> Stack {
    stack::start(Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock,
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    })
    .await
    .unwrap()
}

fn idaas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idaas")).args(args).output().unwrap()
}

async fn idaas_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        idaas(&args)
    })
    .await
    .unwrap()
}

fn backup_args(data: &Path, out: &Path) -> Vec<String> {
    vec!["backup".into(), "--data-dir".into(), s(data), "--out".into(), s(out)]
}

fn restore_args(input: &Path, data: &Path) -> Vec<String> {
    vec!["restore".into(), "--in".into(), s(input), "--data-dir".into(), s(data)]
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn attributes(stack: &Stack) -> Vec<String> {
    let owner = HomeClient::new(&stack.home_url).unwrap();
    let token = owner.token(stack::USER, &stack.password).await.unwrap();
    owner.list(&token).await.unwrap().into_iter().map(|p| p.attribute).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_running_restores_and_signs_bob_in() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, archive) = (tmp.path().join("first"), tmp.path().join("backup.tar.gz"));
    let clock = Arc::new(ManualClock::new(T0));
    let stack = start(&first, clock.clone()).await;

    // An attribute of bob's that no start-up would put back: it proves the data came back.
    let owner = HomeClient::new(&stack.home_url).unwrap();
    let token = owner.upload_token(stack::USER, &stack.password, None).await.unwrap().token;
    let (_, _, disclosure) = pbe_core::disclosure::table1().into_iter().next().unwrap();
    let policy = PolicySource::Disclosure(Box::new(disclosure), (T0 / 86_400) as u64);
    let (ct, _) = owner.encrypt(&policy, b"Bobby").await.unwrap();
    owner.put(&token, "nickname", &ct).await.unwrap();
    let before = attributes(&stack).await;
    assert!(before.contains(&"nickname".to_owned()));

    // Online: the services hold their databases; the snapshot comes through their sockets.
    assert!(first.join("home/db").join(service_kit::backup::SOCKET_NAME).exists());
    let out = idaas_async(backup_args(&first, &archive)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&archive), 0o600, "the archive holds private keys");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2 databases"), "home and visitor stores: {said}");

    // Changed after the backup: the restore must not have it.
    owner.remove(&token, "nickname").await.unwrap();
    stack.stop().await;
    assert!(
        !first.join("home/db").join(service_kit::backup::SOCKET_NAME).exists(),
        "the socket goes with the service"
    );

    // Offline: the same command reads the stopped databases directly.
    let offline = tmp.path().join("offline.tar.gz");
    let out = idaas_async(backup_args(&first, &offline)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let second = tmp.path().join("restored");
    let out = idaas_async(restore_args(&archive, &second)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Keys come back byte for byte and as private as they were.
    for key in [
        "home/abe-telekom.msk",
        "visitor/abe-salesforce.msk",
        "home/saml-signing.key",
        "shopping/tat-x25519.key",
    ] {
        let (a, b) = (first.join(key), second.join(key));
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "{key}");
        assert_eq!(mode(&b), 0o600, "{key}");
    }
    assert_eq!(mode(&second.join("home/metadata.xml")), 0o644);

    let stack = start(&second, clock.clone()).await;
    assert!(!stack.created, "bob came back from the backup, not from a new set-up");
    assert_eq!(attributes(&stack).await, before, "the vault as it was at the backup");
    let shop = visit(&stack, &browser(), 0, "/cart").await;
    assert!(shop.asked_password, "bob's password came back with him");
    // nickname was stored under lastname's rules: shopping reads it, from the backup.
    assert_eq!(pii_names(&shop.seen), ["dob", "lastname", "nickname"]);
    assert_eq!(shop.seen["pii"]["lastname"], "Tri", "ciphertexts and authority keys restored together");
    assert_eq!(shop.seen["pii"]["nickname"], "Bobby");
    stack.stop().await;

    // The offline archive restores too.
    let third = tmp.path().join("from-offline");
    let out = idaas_async(restore_args(&offline, &third)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A small data directory with one sled database, backed up offline.
fn small_backup(root: &Path) -> (PathBuf, Vec<u8>) {
    let data = root.join("data");
    std::fs::create_dir_all(data.join("svc")).unwrap();
    std::fs::write(data.join("svc/key"), b"secret key").unwrap();
    {
        let db = sled::open(data.join("svc/db")).unwrap();
        db.insert(b"bob", b"record".as_slice()).unwrap();
        db.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let archive = root.join("ok.tar.gz");
    let out = idaas(&["backup", "--data-dir", &s(&data), "--out", &s(&archive)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&archive).unwrap();
    (archive, bytes)
}

/// The archive's entries, unpacked (path, bytes), in order.
fn entries(gz: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            (e.path().unwrap().to_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// A tar.gz of `items`; raw names are written into the header bytes, so `../x` and `/x` pass.
fn archive_of(items: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut t = tar::Builder::new(&mut gz);
        for (name, data, kind) in items {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_entry_type(*kind);
            h.set_cksum();
            t.append(&h, *data).unwrap();
        }
        t.finish().unwrap();
    }
    gz.finish().unwrap()
}

fn refused(root: &Path, name: &str, bytes: &[u8], expect: &str) {
    let archive = root.join(format!("{name}.tar.gz"));
    std::fs::File::create(&archive).unwrap().write_all(bytes).unwrap();
    let target = root.join(format!("restore-{name}"));
    let out = idaas(&["restore", "--in", &s(&archive), "--data-dir", &s(&target)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{name}: accepted");
    assert!(err.contains(expect), "{name}: {err}");
    assert!(!target.exists(), "{name}: left {}", target.display());
    let leftovers: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".idaas-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{name}: staging left behind");
    assert!(!root.join("escaped").exists(), "{name}: wrote outside the directory");
}

#[test]
fn damaged_and_hostile_archives_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (archive, good) = small_backup(root);
    let parts = entries(&good);
    let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    // In name order, the manifest last.
    assert_eq!(names, ["sled/svc/db", "files/svc/key", "manifest.json"]);

    // The good one restores, once; a second time into the same (now full) directory is refused.
    let target = root.join("restored");
    let out = idaas(&["restore", "--in", &s(&archive), "--data-dir", &s(&target)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(target.join("svc/key")).unwrap(), b"secret key");
    let db = sled::open(target.join("svc/db")).unwrap();
    assert_eq!(db.get(b"bob").unwrap().unwrap().as_ref(), b"record");
    drop(db);
    let out = idaas(&["restore", "--in", &s(&archive), "--data-dir", &s(&target)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    // Truncated anywhere: gzip or tar ends early, or the manifest is missing.
    for cut in [10, good.len() / 3, good.len() / 2, good.len() - 30] {
        refused(root, &format!("cut{cut}"), &good[..cut], "nothing was restored");
    }
    type Edit<'a> = &'a dyn Fn(&str, &[u8]) -> Option<Vec<u8>>;
    let rebuild = |f: Edit<'_>| {
        let owned: Vec<(String, Vec<u8>)> =
            parts.iter().filter_map(|(n, d)| f(n, d).map(|d| (n.clone(), d))).collect();
        let items: Vec<(&str, &[u8], tar::EntryType)> =
            owned.iter().map(|(n, d)| (n.as_str(), d.as_slice(), tar::EntryType::Regular)).collect();
        archive_of(&items)
    };
    // No manifest; an altered key; an altered snapshot.
    refused(
        root,
        "nomanifest",
        &rebuild(&|n, d| (n != "manifest.json").then(|| d.to_vec())),
        "manifest is missing",
    );
    let altered_key =
        rebuild(&|n, d| Some(if n == "files/svc/key" { b"Secret key".to_vec() } else { d.to_vec() }));
    refused(root, "altered", &altered_key, "does not match its digest");
    let altered_db = rebuild(&|n, d| {
        let mut d = d.to_vec();
        if n == "sled/svc/db" {
            let i = d.len() - 12;
            d[i] ^= 0x20;
        }
        Some(d)
    });
    refused(root, "altereddb", &altered_db, "svc/db");
    // Paths leaving the directory, links, and things other than files.
    let m = &parts[2].1;
    refused(
        root,
        "dotdot",
        &archive_of(&[("files/../../escaped", b"x", tar::EntryType::Regular)]),
        "plain relative path",
    );
    refused(
        root,
        "absolute",
        &archive_of(&[("/tmp/escaped", b"x", tar::EntryType::Regular)]),
        "plain relative path",
    );
    refused(
        root,
        "symlink",
        &archive_of(&[("files/link", b"", tar::EntryType::Symlink)]),
        "other than regular files",
    );
    refused(
        root,
        "unknown",
        &archive_of(&[
            ("other/x", b"x", tar::EntryType::Regular),
            ("manifest.json", m, tar::EntryType::Regular),
        ]),
        "unexpected entry",
    );
    refused(
        root,
        "afterend",
        &archive_of(&[
            ("manifest.json", m, tar::EntryType::Regular),
            ("files/svc/key", b"secret key", tar::EntryType::Regular),
        ]),
        "follow the manifest",
    );
    refused(
        root,
        "twice",
        &archive_of(&[
            ("files/a", b"x", tar::EntryType::Regular),
            ("files/a", b"x", tar::EntryType::Regular),
        ]),
        "twice",
    );
    refused(root, "notgzip", b"this is not an archive at all", "nothing was restored");
    refused(
        root,
        "badmanifest",
        &archive_of(&[("manifest.json", b"{\"format\":1}", tar::EntryType::Regular)]),
        "manifest",
    );
    // Usage errors: a data directory that is a file, a missing archive.
    let out = idaas(&["backup", "--data-dir", &s(&archive), "--out", &s(&root.join("x.tgz"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    let out = idaas(&["restore", "--in", &s(&root.join("missing.tgz")), "--data-dir", &s(&root.join("r"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!root.join("r").exists());
}
