//! `idaas pii put|list|rm`: the data owner's commands. Values are encrypted here, with the
//! public keys the home IdP lists at `/pbe/authorities`; only ciphertexts leave the machine.
//! `list` signs in for an API token; `put` and `rm` for an upload token (with `--code` or a
//! prompt when the account has an authenticator app). Prompts do not echo on a terminal.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use idaas::owner::{HomeClient, OwnerError, PolicySource};

use crate::cli::{PiiAccountArgs, PiiCommand};
use crate::error::CliError;

/// The environment variable holding the password (else it is asked for).
pub const PASSWORD_ENV: &str = "IDAAS_PASSWORD";

/// Asks for a secret: on a terminal without echo (`rpassword`, through the terminal itself),
/// else one line of stdin (scripts and tests pipe it). `None` when nothing was typed.
pub(crate) fn ask_secret(label: &str) -> Result<Option<String>, CliError> {
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{label}: "))
            .map_err(|e| CliError::input(format!("{label}: {e}")))?
    } else {
        eprint!("{label}: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::input(format!("{label}: {e}")))?;
        line
    };
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    Ok(Some(p).filter(|p| !p.is_empty()))
}

pub(crate) fn password() -> Result<String, CliError> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(p);
    }
    ask_secret("password")?
        .ok_or_else(|| CliError::input(format!("no password (set {PASSWORD_ENV} or type it)")))
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

/// A client and an upload token (issue 20: uploads and deletions need a fresh
/// authentication): the password, then the code of `--code` or, when the account has an
/// authenticator app and none was given, one asked for.
async fn upload_session(a: &PiiAccountArgs) -> Result<(HomeClient, String), CliError> {
    let client = HomeClient::new(&a.home).map_err(owner_err)?;
    let password = zeroize::Zeroizing::new(password()?);
    let token = match client.upload_token(&a.user, &password, a.code.as_deref()).await {
        Err(OwnerError::CodeRequired) if a.code.is_none() => {
            let code = ask_secret("code from your authenticator app")?
                .ok_or_else(|| CliError::input("this account has an authenticator app: give --code"))?;
            client.upload_token(&a.user, &password, Some(&code)).await
        }
        other => other,
    }
    .map_err(owner_err)?;
    Ok((client, token.token))
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
                let (client, token) = upload_session(&a.account).await?;
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
                let (client, token) = upload_session(&a.account).await?;
                client.remove(&token, &a.attr).await.map_err(owner_err)?;
                println!("deleted {}", a.attr);
                Ok(())
            }
        }
    })
}
