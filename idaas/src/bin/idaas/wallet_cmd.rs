//! `idaas wallet`: starts the data owner's local web app ([`idaas::wallet`]) and prints (and
//! opens, when a browser is found) the one-time URL.

use std::path::PathBuf;

use clap::Args;
use idaas::wallet::{self, vault::Vault, WalletOptions};
use service_kit::secret::Secret;

use crate::error::CliError;

/// The environment variable holding the vault's passphrase (else it is asked for).
pub const PASSPHRASE_ENV: &str = "IDAAS_WALLET_PASSPHRASE";

/// `idaas wallet`.
#[derive(Debug, Args)]
pub struct WalletArgs {
    /// The home IdP's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub home: String,
    /// Your user id (default: $USER). The password comes from IDAAS_PASSWORD or a prompt.
    #[arg(long)]
    pub user: Option<String>,
    /// The port on 127.0.0.1 (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not try to open a browser; only print the URL.
    #[arg(long)]
    pub no_browser: bool,
    /// Keep your values in a local vault (argon2id → AES-GCM, 0600) so rules can be changed
    /// without typing a value again. The passphrase comes from IDAAS_WALLET_PASSPHRASE or a
    /// prompt.
    #[arg(long)]
    pub vault: bool,
    /// The vault file (default: ~/.config/idaas/wallet-<user>.vault); implies --vault.
    #[arg(long)]
    pub vault_file: Option<PathBuf>,
    /// A PEM CA file to trust for the home IdP besides the system's roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

fn passphrase() -> Result<String, CliError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    let p = crate::pii::ask_secret("vault passphrase")?.unwrap_or_default();
    if p.chars().count() < 8 {
        return Err(CliError::input("the vault passphrase needs at least 8 characters"));
    }
    Ok(p)
}

/// Tries to open `url` in the person's browser; never fails (the URL is printed anyway).
fn open_browser(url: &str) {
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(b) if !b.is_empty() => vec![b],
        _ if cfg!(target_os = "macos") => vec!["open".into()],
        _ => vec!["xdg-open".into()],
    };
    for c in candidates {
        let started = std::process::Command::new(&c)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if started.is_ok() {
            return;
        }
    }
}

/// Runs `idaas wallet` until Ctrl-C.
pub fn run(a: WalletArgs) -> Result<(), CliError> {
    let user = a
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .ok_or_else(|| CliError::input("give --user"))?;
    let vault = if a.vault || a.vault_file.is_some() {
        let path = match &a.vault_file {
            Some(p) => p.clone(),
            None => wallet::vault::default_path(&user)
                .ok_or_else(|| CliError::input("no config directory (set HOME or give --vault-file)"))?,
        };
        let v = Vault::open(&path, &passphrase()?).map_err(|e| CliError::input(e.to_string()))?;
        eprintln!("idaas wallet: vault {}", path.display());
        Some(v)
    } else {
        None
    };
    let password = Secret::new(crate::pii::password()?);
    crate::pii::runtime()?.block_on(async move {
        let w = wallet::start(WalletOptions {
            home: a.home.clone(),
            user,
            password,
            port: a.port,
            vault,
            extra_ca: a.ca_file.clone(),
            clock: std::sync::Arc::new(service_kit::clock::SystemClock),
        })
        .await
        .map_err(|e| CliError::input(e.to_string()))?;
        println!("Your wallet is open at (one use only):\n  {}\nPress Ctrl-C to close it.", w.open_url);
        if !a.no_browser {
            open_browser(&w.open_url);
        }
        let _ = tokio::signal::ctrl_c().await;
        w.stop().await.map_err(|e| CliError::input(e.to_string()))
    })
}
