//! `idaas pbe …`: the purpose-based-encryption toolkit.

mod demo;

use std::collections::BTreeSet;
use std::path::Path;

use pbe_core::segtree;
use pbe_core::wire::{self, Kind};
use pbe_core::{
    Attribute, AuthorityPublicKey, AuthoritySecretKey, Ciphertext, DisclosurePolicy, Encryptor, Gid, Policy,
    SchemeError, Suite, SuiteId, UserKey,
};
use rand_core::OsRng;
use service_kit::Clock as _;

use crate::cli::{DecryptArgs, EncryptArgs, InspectArgs, KeygenArgs, PbeCommand, SetupArgs};
use crate::error::CliError;
use crate::files;

/// Prefixes a library error with the file or field it concerns.
fn at(context: &str) -> impl Fn(pbe_core::Error) -> CliError + '_ {
    move |e| match e {
        pbe_core::Error::Scheme(SchemeError::NotSatisfied { .. }) => {
            CliError::not_satisfied(format!("{context}: {e}"))
        }
        other => CliError::input(format!("{context}: {other}")),
    }
}

fn parse_suite(name: &str) -> Result<SuiteId, CliError> {
    SuiteId::from_name(name).ok_or_else(|| {
        let known: Vec<_> = SuiteId::ALL.iter().map(|s| s.name()).collect();
        CliError::input(format!("--suite: unknown suite '{name}' (known: {})", known.join(", ")))
    })
}

/// Reads a pbe-core object (binary or text) and returns its bytes and header.
fn read_object(path: &Path) -> Result<(Vec<u8>, wire::Header), CliError> {
    let raw = files::read(path)?;
    let bytes = wire::from_binary_or_text(&raw)
        .map_err(|e| CliError::input(format!("{}: not a pbe-core file: {e}", path.display())))?;
    let header = wire::peek(&bytes).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    Ok((bytes, header))
}

fn expect_kind(path: &Path, header: &wire::Header, kind: Kind) -> Result<(), CliError> {
    if header.kind != kind {
        return Err(CliError::input(format!(
            "{}: expected a {}, found a {}",
            path.display(),
            kind.name(),
            header.kind.name()
        )));
    }
    Ok(())
}

/// Runs a generic function with the suite named at run time.
macro_rules! with_suite {
    ($suite:expr, $f:ident ( $($arg:expr),* )) => {
        pbe_core::with_suite!($suite, S => $f::<S>($($arg),*))
    };
}

/// Dispatches one `idaas pbe` command.
pub fn run(cmd: PbeCommand) -> Result<(), CliError> {
    match cmd {
        PbeCommand::Setup(a) => {
            let suite = parse_suite(&a.suite)?;
            with_suite!(suite, setup(&a))
        }
        PbeCommand::Keygen(a) => {
            let (bytes, header) = read_object(&a.msk)?;
            expect_kind(&a.msk, &header, Kind::AuthoritySecretKey)?;
            with_suite!(header.suite, keygen(&a, &bytes))
        }
        PbeCommand::Encrypt(a) => {
            let first =
                a.pks.first().ok_or_else(|| CliError::input("--pk: at least one public key is needed"))?;
            let (_, header) = read_object(first)?;
            with_suite!(header.suite, encrypt(&a))
        }
        PbeCommand::Decrypt(a) => decrypt(&a),
        PbeCommand::Inspect(a) => inspect(&a),
        PbeCommand::Demo(a) => demo::run(&a),
    }
}

fn setup<S: Suite>(a: &SetupArgs) -> Result<(), CliError> {
    let msk = AuthoritySecretKey::<S>::setup(&a.authority, &mut OsRng).map_err(at("--authority"))?;
    std::fs::create_dir_all(&a.out).map_err(|e| CliError::input(format!("{}: {e}", a.out.display())))?;
    let pk_path = a.out.join(format!("{}.pk", msk.name()));
    let msk_path = a.out.join(format!("{}.msk", msk.name()));
    if !a.force && (msk_path.exists() || pk_path.exists()) {
        return Err(CliError::input(format!(
            "{}: a key for authority '{}' already exists (use --force to replace it)",
            msk_path.display(),
            msk.name()
        )));
    }
    files::write_file(&msk_path, &msk.to_bytes(), true)?;
    files::write_file(&pk_path, &msk.public_key().to_bytes(), false)?;
    eprintln!(
        "created authority '{}' ({}): public key {}, master secret key {} (mode 0600)",
        msk.name(),
        S::ID,
        pk_path.display(),
        msk_path.display()
    );
    Ok(())
}

/// Expands one `--attr` argument into the attributes it stands for.
pub fn expand_attribute(arg: &str, authority: &str) -> Result<Vec<Attribute>, CliError> {
    let bad = |e: pbe_core::PolicyError| CliError::input(format!("--attr {arg}: {e}"));
    if let Some((name, number)) = arg.split_once('=') {
        let (value, _) = segtree::parse_number(number.trim()).map_err(bad)?;
        return segtree::path_attributes(name.trim(), authority, value).map_err(bad);
    }
    let (name, rest) = arg.split_once(':').ok_or_else(|| {
        CliError::input(format!("--attr {arg}: expected name:value or name=NUMBER|YYYY-MM-DD"))
    })?;
    let value = match rest.split_once('@') {
        Some((value, auth)) if auth.eq_ignore_ascii_case(authority) => value,
        Some((_, auth)) => {
            return Err(CliError::input(format!(
                "--attr {arg}: authority '{auth}' is not this key's authority '{authority}'"
            )))
        }
        None => rest,
    };
    Ok(vec![Attribute::new(name, value, authority).map_err(bad)?])
}

fn keygen<S: Suite>(a: &KeygenArgs, msk_bytes: &[u8]) -> Result<(), CliError> {
    let msk = AuthoritySecretKey::<S>::from_bytes(msk_bytes).map_err(at(&a.msk.display().to_string()))?;
    let gid = Gid::new(&a.uid, &a.session).map_err(at("--uid/--session"))?;
    let mut attributes = Vec::new();
    let mut seen = BTreeSet::new();
    for arg in &a.attrs {
        for attr in expand_attribute(arg, msk.name())? {
            if seen.insert(attr.clone()) {
                attributes.push(attr);
            }
        }
    }
    let key = msk.keygen(&gid, &attributes, &mut OsRng).map_err(at("--attr"))?;
    files::write_file(&a.out, &key.to_bytes(), true)?;
    eprintln!(
        "wrote a key bundle of {} attributes from '{}' to {} (mode 0600)",
        key.len(),
        msk.name(),
        a.out.display()
    );
    Ok(())
}

fn load_public_keys<S: Suite>(paths: &[std::path::PathBuf]) -> Result<Vec<AuthorityPublicKey<S>>, CliError> {
    paths
        .iter()
        .map(|p| {
            let (bytes, header) = read_object(p)?;
            expect_kind(p, &header, Kind::AuthorityPublicKey)?;
            if header.suite != S::ID {
                return Err(CliError::input(format!(
                    "{}: suite {} differs from the first public key's suite {}",
                    p.display(),
                    header.suite,
                    S::ID
                )));
            }
            AuthorityPublicKey::<S>::from_bytes(&bytes).map_err(at(&p.display().to_string()))
        })
        .collect()
}

/// Reads a disclosure policy file (JSON, or TOML when it does not start with `{`).
pub fn read_disclosure(path: &Path) -> Result<DisclosurePolicy, CliError> {
    let raw = files::read(path)?;
    let text = std::str::from_utf8(&raw)
        .map_err(|_| CliError::input(format!("{}: not UTF-8 text", path.display())))?;
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| CliError::input(format!("{}: {e}", path.display())))
    } else {
        toml::from_str(text).map_err(|e| CliError::input(format!("{}: {e}", path.display())))
    }
}

pub(crate) fn parse_day(arg: &str, text: Option<&str>) -> Result<u64, CliError> {
    match text {
        None => service_kit::clock::SystemClock.today().map_err(|e| CliError::input(format!("{arg}: {e}"))),
        Some(t) => match segtree::parse_number(t) {
            Ok((days, true)) => Ok(days),
            Ok((_, false)) => Err(CliError::input(format!("{arg} {t}: expected a date YYYY-MM-DD"))),
            Err(e) => Err(CliError::input(format!("{arg} {t}: {e}"))),
        },
    }
}

fn encrypt<S: Suite>(a: &EncryptArgs) -> Result<(), CliError> {
    let pks = load_public_keys::<S>(&a.pks)?;
    let policy = match (&a.policy, &a.disclosure) {
        (Some(text), _) => Policy::parse(text).map_err(|e| CliError::input(format!("--policy: {e}")))?,
        (None, Some(path)) => {
            let d = read_disclosure(path)?;
            let home = match &a.home {
                Some(h) => h.to_ascii_lowercase(),
                None => {
                    let candidates: Vec<&str> = pks
                        .iter()
                        .map(|pk| pk.name())
                        .filter(|n| !d.domains.iter().any(|dom| dom == n))
                        .collect();
                    match candidates.as_slice() {
                        [one] => (*one).to_owned(),
                        _ => {
                            return Err(CliError::input(
                                "--home: cannot tell the home authority from the public keys; name it with --home",
                            ))
                        }
                    }
                }
            };
            let today = parse_day("--today", a.today.as_deref())?;
            d.compile(&home, today).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?
        }
        (None, None) => return Err(CliError::input("give --policy TEXT or --disclosure FILE")),
    };
    let input = files::read_input(a.input.as_deref())?;
    // One-shot use: small tables build faster than they save (see fixed_base).
    let encryptor = Encryptor::with_window(&pks, 4).map_err(at("--pk"))?;
    let ct = encryptor.encrypt(&policy, &input, &mut OsRng).map_err(at("--policy"))?;
    if a.text {
        let mut text = ct.to_text();
        text.push('\n');
        files::write_output(a.out.as_deref(), text.as_bytes(), false)
    } else {
        files::write_output(a.out.as_deref(), ct.as_bytes(), false)
    }
}

fn decrypt(a: &DecryptArgs) -> Result<(), CliError> {
    let raw = files::read_input(a.input.as_deref())?;
    let what = a.input.as_ref().map_or("standard input".to_owned(), |p| p.display().to_string());
    let bytes = wire::from_binary_or_text(&raw)
        .map_err(|e| CliError::input(format!("{what}: not a ciphertext: {e}")))?;
    let header = wire::peek(&bytes).map_err(|e| CliError::input(format!("{what}: {e}")))?;
    if header.kind != Kind::Ciphertext {
        return Err(CliError::input(format!(
            "{what}: expected a ciphertext, found a {}",
            header.kind.name()
        )));
    }
    with_suite!(header.suite, decrypt_with(a, bytes, &what))
}

fn decrypt_with<S: Suite>(a: &DecryptArgs, bytes: Vec<u8>, what: &str) -> Result<(), CliError> {
    let ct = Ciphertext::<S>::from_vec(bytes).map_err(at(what))?;
    let mut keys = Vec::new();
    for p in &a.keys {
        let (bytes, header) = read_object(p)?;
        expect_kind(p, &header, Kind::UserKey)?;
        if header.suite != S::ID {
            return Err(CliError::input(format!(
                "{}: key of suite {} cannot decrypt a {} ciphertext",
                p.display(),
                header.suite,
                S::ID
            )));
        }
        keys.push(UserKey::<S>::from_bytes(&bytes).map_err(at(&p.display().to_string()))?);
    }
    let refs: Vec<&UserKey<S>> = keys.iter().collect();
    let plaintext = ct.decrypt(&refs).map_err(|e| {
        let names: Vec<String> = a.keys.iter().map(|p| p.display().to_string()).collect();
        at(&format!("keys {}", names.join(", ")))(e)
    })?;
    files::write_output(a.out.as_deref(), &plaintext, false)
}

fn inspect(a: &InspectArgs) -> Result<(), CliError> {
    let (bytes, header) = read_object(&a.file)?;
    with_suite!(header.suite, inspect_with(a, &bytes, header.kind))
}

fn inspect_with<S: Suite>(a: &InspectArgs, bytes: &[u8], kind: Kind) -> Result<(), CliError> {
    let ctx = a.file.display().to_string();
    let mut info = serde_json::Map::new();
    info.insert("kind".into(), kind.name().into());
    info.insert("suite".into(), S::ID.name().into());
    info.insert("security_bits".into(), S::ID.security_bits().into());
    info.insert("size".into(), bytes.len().into());
    match kind {
        Kind::AuthorityPublicKey => {
            let pk = AuthorityPublicKey::<S>::from_bytes(bytes).map_err(at(&ctx))?;
            info.insert("authority".into(), pk.name().into());
        }
        Kind::AuthoritySecretKey => {
            let msk = AuthoritySecretKey::<S>::from_bytes(bytes).map_err(at(&ctx))?;
            info.insert("authority".into(), msk.name().into());
        }
        Kind::UserKey => {
            let key = UserKey::<S>::from_bytes(bytes).map_err(at(&ctx))?;
            info.insert("uid".into(), key.gid().uid().into());
            info.insert("session".into(), key.gid().session().into());
            info.insert("authorities".into(), key.authorities().into_iter().collect::<Vec<_>>().into());
            info.insert(
                "attributes".into(),
                key.attributes().map(|a| a.to_string()).collect::<Vec<_>>().into(),
            );
        }
        Kind::Ciphertext => {
            let ct = Ciphertext::<S>::from_bytes(bytes).map_err(at(&ctx))?;
            info.insert("policy".into(), ct.policy().to_string().into());
            info.insert(
                "authorities".into(),
                ct.policy().authorities().into_iter().collect::<Vec<_>>().into(),
            );
            info.insert("rows".into(), ct.row_count().into());
            info.insert("header_size".into(), ct.header_len().into());
            info.insert("payload_size".into(), ct.payload_len().into());
        }
        _ => {}
    }
    if a.json {
        let text = serde_json::to_string_pretty(&info).map_err(|e| CliError::input(e.to_string()))?;
        println!("{text}");
    } else {
        for (k, v) in &info {
            match v {
                serde_json::Value::String(s) => println!("{k:>14}: {s}"),
                serde_json::Value::Array(items) => {
                    let items: Vec<String> = items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect();
                    println!("{k:>14}: {}", items.join(", "));
                }
                other => println!("{k:>14}: {other}"),
            }
        }
    }
    Ok(())
}
