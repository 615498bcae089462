//! `idaas wallet`: the data owner's local web app (issue 19). It runs on the person's own
//! machine, on 127.0.0.1 only, signs in to the home IdP with their password (an API token for
//! reads, as `idaas pii` does, and a short-lived upload token for uploads and deletions,
//! renewed when it expires: with an authenticator app, the forms then ask for a code),
//! encrypts every value **here** under rules written with a form, and uploads only
//! ciphertexts. The home IdP never serves this code, so it cannot leak a value.
//!
//! - [`server`]: the router and its guard (one-time token → cookie, Host and Origin checks,
//!   CSRF, security headers), the handlers;
//! - [`pages`]: the HTML;
//! - [`body`]: the forms' bodies, URL-encoded or multipart (a value from a file, bounded);
//! - [`form`]: the rules form → [`pbe_core::DisclosurePolicy`];
//! - [`rules`]: the short form `domain=… purposes=… for=30d` shared with `idaas pii put --rules`;
//! - [`vault`]: the optional local vault of plaintexts (argon2id → AES-GCM, 0600).

pub mod body;
pub mod form;
pub mod pages;
pub mod rules;
pub mod server;
pub mod vault;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use rand_core::RngCore as _;
use service_kit::clock::Clock;
use service_kit::secret::Secret;

use crate::owner::{HomeClient, OwnerError};
use vault::Vault;

/// How to start a wallet.
pub struct WalletOptions {
    /// The home IdP's base URL.
    pub home: String,
    /// The person's user id.
    pub user: String,
    /// Their password (kept in memory to renew the API token).
    pub password: Secret,
    /// The port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// The local vault of plaintexts, when chosen.
    pub vault: Option<Vault>,
    /// A PEM CA file to trust for the home IdP besides the system's roots.
    pub extra_ca: Option<PathBuf>,
    /// The clock "today" comes from (validity starts, who can open what today).
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WalletOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletOptions")
            .field("home", &self.home)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A running wallet.
#[derive(Debug)]
pub struct Wallet {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    /// The URL to open once: it carries the one-time token.
    pub open_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Wallet {
    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }

    /// Serves until the server stops (Ctrl-C handling is the caller's).
    pub async fn wait(self) -> std::io::Result<()> {
        let Wallet { stop, task, .. } = self;
        let r = task.await.map_err(std::io::Error::other)?;
        drop(stop);
        r
    }
}

/// What the handlers share.
pub struct Inner {
    pub(crate) client: HomeClient,
    pub(crate) user: String,
    password: Secret,
    pub(crate) port: u16,
    /// The one-time token of the printed URL; taken by its first use.
    pub(crate) start_token: Mutex<Option<String>>,
    /// The session cookie's value after the exchange.
    pub(crate) session: String,
    /// The forms' CSRF token.
    pub(crate) csrf: String,
    pub(crate) vault: Mutex<Option<Vault>>,
    clock: Arc<dyn Clock>,
    api: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// The upload token (issue 20) and until when it is used.
    upload: Mutex<Option<(String, Instant)>>,
    /// Whether the account has an authenticator app: a new upload token needs a code.
    needs_code: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("user", &self.user).field("port", &self.port).finish_non_exhaustive()
    }
}

/// 32 random bytes, base64url.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

impl Inner {
    /// A valid API token for the person, renewed a minute before it expires.
    pub(crate) async fn token(&self) -> Result<String, OwnerError> {
        let mut cached = self.api.lock().await;
        if let Some((t, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let fresh = self.client.api_token(&self.user, self.password.expose()).await?;
        let life = Duration::from_secs(fresh.expires_in.saturating_sub(60).max(1));
        *cached = Some((fresh.access_token.clone(), Instant::now() + life));
        Ok(fresh.access_token)
    }

    /// A valid upload token (issue 20), renewed 30 s before it expires with the password and,
    /// when the account has an authenticator app, `code` ([`OwnerError::CodeRequired`] when it
    /// is needed and empty).
    pub(crate) async fn upload_token(&self, code: &str) -> Result<String, OwnerError> {
        if let Some(t) = self.cached_upload() {
            return Ok(t);
        }
        let code = Some(code).filter(|c| !c.is_empty());
        match self.client.upload_token(&self.user, self.password.expose(), code).await {
            Ok(fresh) => {
                self.keep_upload(&fresh);
                Ok(fresh.token)
            }
            Err(OwnerError::CodeRequired) => {
                self.needs_code.store(true, Ordering::Relaxed);
                Err(OwnerError::CodeRequired)
            }
            Err(e) => Err(e),
        }
    }

    fn cached_upload(&self) -> Option<String> {
        let cached = self.upload.lock().ok()?;
        cached.as_ref().filter(|(_, until)| Instant::now() < *until).map(|(t, _)| t.clone())
    }

    fn keep_upload(&self, fresh: &federation::api::UploadToken) {
        let until = Instant::now() + Duration::from_secs(fresh.expires_in.saturating_sub(30).max(1));
        if let Ok(mut cached) = self.upload.lock() {
            *cached = Some((fresh.token.clone(), until));
        }
    }

    /// Whether a form that uploads or deletes must ask for a code: the account has an
    /// authenticator app and the upload token is missing or expired.
    pub(crate) fn asks_code(&self) -> bool {
        self.needs_code.load(Ordering::Relaxed) && self.cached_upload().is_none()
    }

    /// Today, in days since 1970-01-01 (the wallet's clock).
    pub(crate) fn today(&self) -> u64 {
        self.clock.today().unwrap_or(0)
    }

    /// Whether the vault is on.
    pub(crate) fn has_vault(&self) -> bool {
        self.vault.lock().map(|v| v.is_some()).unwrap_or(false)
    }
}

/// Why the wallet could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// Signing in or reaching the home IdP failed.
    #[error(transparent)]
    Owner(#[from] OwnerError),
    /// The port could not be bound.
    #[error("127.0.0.1:{port}: {error}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// What happened.
        error: std::io::Error,
    },
}

/// Signs in (a wrong password fails here), binds 127.0.0.1:`port` and serves.
pub async fn start(opts: WalletOptions) -> Result<Wallet, WalletError> {
    let client = HomeClient::trusting(&opts.home, opts.extra_ca.as_deref())?;
    let first = client.api_token(&opts.user, opts.password.expose()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(|error| WalletError::Bind { port: opts.port, error })?;
    let addr = listener.local_addr().map_err(|error| WalletError::Bind { port: opts.port, error })?;
    let start_token = random_token();
    let open_url = format!("http://127.0.0.1:{}/open?token={start_token}", addr.port());
    let life = Duration::from_secs(first.expires_in.saturating_sub(60).max(1));
    let inner = Arc::new(Inner {
        client,
        user: opts.user,
        password: opts.password,
        port: addr.port(),
        start_token: Mutex::new(Some(start_token)),
        session: random_token(),
        csrf: random_token(),
        vault: Mutex::new(opts.vault),
        clock: opts.clock,
        api: tokio::sync::Mutex::new(Some((first.access_token, Instant::now() + life))),
        upload: Mutex::new(None),
        needs_code: AtomicBool::new(false),
    });
    // The first upload token at sign-in; with an authenticator app, the first save asks for
    // a code instead.
    match inner.upload_token("").await {
        Ok(_) | Err(OwnerError::CodeRequired) => {}
        Err(e) => return Err(e.into()),
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = server::router(inner);
    let task = tokio::spawn(service_kit::serve::serve(
        app,
        listener,
        service_kit::serve::ServeOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Wallet { addr, open_url, stop: Some(stop), task })
}
