//! `idaas pii put|list|rm`: the data owner's commands. Values are encrypted here, with the
//! public keys the home IdP lists at `/pbe/authorities`; only ciphertexts leave the machine.

use std::io::{BufRead as _, Write as _};

use idaas::owner::{HomeClient, PolicySource};

use crate::cli::{PiiAccountArgs, PiiCommand};
use crate::error::CliError;

/// The environment variable holding the password (else it is asked for).
pub const PASSWORD_ENV: &str = "IDAAS_PASSWORD";

pub(crate) fn password() -> Result<String, CliError> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(p);
    }
    // A plain prompt: the terminal echo is not switched off (no extra dependency); prefer
    // IDAAS_PASSWORD in scripts.
    eprint!("password: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::input(format!("password: {e}")))?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    if p.is_empty() {
        return Err(CliError::input(format!("no password (set {PASSWORD_ENV} or type it)")));
    }
    Ok(p)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::input(e.to_string()))
}

fn owner_err(e: idaas::owner::OwnerError) -> CliError {
    CliError::input(e.to_string())
}

async fn session(a: &PiiAccountArgs) -> Result<(HomeClient, String), CliError> {
    let client = HomeClient::new(&a.home).map_err(owner_err)?;
    let token = client.token(&a.user, &password()?).await.map_err(owner_err)?;
    Ok((client, token))
}

/// Runs one `idaas pii` command.
pub fn run(cmd: PiiCommand) -> Result<(), CliError> {
    runtime()?.block_on(async move {
        match cmd {
            PiiCommand::Put(a) => {
                let value = match (&a.value, &a.file) {
                    (Some(v), _) => v.as_bytes().to_vec(),
                    (None, Some(f)) => {
                        std::fs::read(f).map_err(|e| CliError::input(format!("{}: {e}", f.display())))?
                    }
                    (None, None) => return Err(CliError::input("give --value or --file")),
                };
                let today = || crate::pbe::parse_day("--today", a.today.as_deref());
                let policy = match (&a.policy, &a.disclosure, &a.rules) {
                    (Some(p), _, _) => PolicySource::Text(p.clone()),
                    (None, Some(path), _) => {
                        let d = crate::pbe::read_disclosure(path)?;
                        PolicySource::Disclosure(Box::new(d), today()?)
                    }
                    (None, None, Some(r)) => {
                        let d = idaas::wallet::rules::parse(r).map_err(|e| CliError::input(e.to_string()))?;
                        PolicySource::Disclosure(Box::new(d), today()?)
                    }
                    (None, None, None) => {
                        return Err(CliError::input("give --rules, --policy or --disclosure"))
                    }
                };
                let (client, token) = session(&a.account).await?;
                let (ct, policy) = client.encrypt(&policy, &value).await.map_err(owner_err)?;
                client.put(&token, &a.attr, &ct).await.map_err(owner_err)?;
                println!("stored {} ({} bytes of ciphertext) under: {policy}", a.attr, ct.len());
                Ok(())
            }
            PiiCommand::List(a) => {
                let (client, token) = session(&a).await?;
                let list = client.list(&token).await.map_err(owner_err)?;
                let (_, home, _) = client.authorities().await.map_err(owner_err)?;
                // Each summary with its rules in words and, when they have that shape, in the
                // short form `--rules` takes (as the wallet shows them).
                let shown: Vec<serde_json::Value> = list
                    .iter()
                    .map(|p| {
                        let mut v = serde_json::to_value(p).unwrap_or_default();
                        if let Some(o) = v.as_object_mut() {
                            let words = pbe_core::disclosure_view::describe(&p.policy, &home).text;
                            o.insert("rules_text".into(), words.into());
                            if let Some(r) = pbe_core::disclosure_view::recover(&p.policy, &home) {
                                o.insert("rules".into(), idaas::wallet::rules::print(&r).into());
                            }
                        }
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&shown).unwrap_or_default());
                Ok(())
            }
            PiiCommand::Rm(a) => {
                let (client, token) = session(&a.account).await?;
                client.remove(&token, &a.attr).await.map_err(owner_err)?;
                println!("deleted {}", a.attr);
                Ok(())
            }
        }
    })
}
