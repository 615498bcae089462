//! # idp-home — the idaas home IdP
//!
//! A SAML 2.0 identity provider whose assertions carry the user's PII ciphertexts and a
//! Time Access Token sealed for the service (DESIGN.md §1, §5). Also the data owner's PII
//! vault and an ABE authority for time, domain and country attributes.
//!
//! The module map (one line each; `docs/architecture.md` has the table): [`http`] the router,
//! extractors, thin handlers and error mapping; [`service`] accounts, passwords, API tokens,
//! the PII vault and groups without HTTP; [`saml`] AuthnRequests, the signed response,
//! metadata and pages; [`sso_sessions`] the IdP session table; [`startup`] opening the state
//! from a configuration; [`state`] the handlers' shared state; [`store`], [`keys`], [`config`],
//! [`mail`], [`model`], [`pbe`], [`throttle`] the pieces underneath.

pub mod config;
pub mod http;
pub mod keys;
pub mod logo;
pub mod mail;
pub mod model;
pub mod pbe;
pub mod pii_ref;
pub mod saml;
pub mod service;
pub mod signing_keys;
pub mod slo;
pub mod slo_chains;
pub mod smtp;
pub mod sso_sessions;
pub mod startup;
pub mod state;
pub mod store;
pub mod throttle;

use std::future::Future;

pub use config::Config;
pub use startup::fetch_authorities;
pub use state::AppState;

/// How often expired unverified registrations and tokens are purged while serving.
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Serves the home IdP on `listener` until `shutdown` completes, then finishes the requests
/// in flight for at most `shutdown_grace_secs` (`service_kit::serve`: header-read and idle
/// timeouts on every connection, no Nagle). Connect info is recorded so sign-in throttling
/// can count per client address.
/// Expired unverified registrations (and expired tokens) are purged at start and every
/// [`PURGE_INTERVAL`].
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _backup_socket = backup_socket(&state);
    let purger = tokio::spawn(purge_periodically(state.clone()));
    // Validated at start-up (`Config::validate`): a URL that fails here was checked already.
    let mailer = match state.config.smtp_url.as_deref().map(smtp::transport) {
        Some(Ok(transport)) => {
            Some(tokio::spawn(smtp::deliver_forever(transport, state.config.outbox_dir())))
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "SMTP delivery is off");
            None
        }
        None => None,
    };
    let result = serve_app(state, listener, shutdown).await;
    purger.abort();
    if let Some(m) = mailer {
        m.abort();
    }
    result
}

/// The backup socket beside a sled store (`idaas backup`, [`service_kit::backup`]); none for
/// PostgreSQL. Removed when serving ends.
fn backup_socket(state: &AppState) -> Option<service_kit::backup::ControlSocket> {
    let url = state.config.store_url().ok()?;
    let store = state.store.clone();
    service_kit::backup::ControlSocket::for_store(
        &url,
        std::sync::Arc::new(move |out| Ok(store.snapshot(out)?)),
    )
}

async fn purge_periodically(state: AppState) {
    let mut tick = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tick.tick().await;
        let st = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            let now = st.now();
            let _ = st.store.purge_expired(now);
            st.throttle.purge(now);
            st.sso.purge(now);
            st.slo.purge(now);
            service::accounts::purge_unverified(&st, now)
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "purging unverified registrations failed");
        }
    }
}

async fn serve_app(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = state.config.serve_options();
    let tls =
        state.config.tls_files().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    service_kit::serve_configured(http::app(state), listener, options, tls, shutdown).await
}
