//! # idp-visitor — the idaas visitor IdP
//!
//! An OAuth 2.0 authorization server with one grant: RFC 7522's SAML 2.0 bearer assertion.
//! A service's web agent presents the signed assertion its user's home IdP issued and gets a
//! **Purpose Access Token** (PAT): pbe-core attribute keys from this IdP's ABE authority for the
//! purposes the service is registered for, bound to the linchpin `GID(NameID, SessionIndex)`
//! (DESIGN.md §1, §5). The PAT comes sealed for the client when it registered a key, with a
//! signed grant receipt; every grant and refusal is audited.
//!
//! Modules: [`config`] (TOML), [`clients`] (registration, argon2id secrets), [`keys`] (ABE
//! authority, receipt and audit keys), [`store`] (sled), [`grant`] (the exchange, HTTP-free),
//! [`oauth`] (RFC 6749 errors, HTTP-free), [`http`] (router, extractors, thin handlers, the
//! error mapping), [`audit`], [`throttle`], [`state`]. `docs/architecture.md` has the table.

pub mod audit;
pub mod clients;
pub mod config;
pub mod grant;
pub mod http;
pub mod keys;
pub mod oauth;
pub mod state;
pub mod store;
pub mod throttle;

use std::future::Future;

pub use config::Config;
pub use state::AppState;

/// Serves the visitor IdP on `listener` until `shutdown` completes, then finishes the requests
/// in flight for at most `shutdown_grace_secs` (`service_kit::serve`: header-read and idle
/// timeouts on every connection, no Nagle). Connect info is recorded so client-authentication throttling can count per
/// address. Expired tokens and replay records are purged hourly.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = state.config.serve_options();
    let tls =
        state.config.tls_files().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let _backup_socket = backup_socket(&state);
    let purge_state = state.clone();
    let purger = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let st = purge_state.clone();
            let purged = tokio::task::spawn_blocking(move || {
                st.throttle.purge(st.now());
                st.store.purge_expired(st.now())
            })
            .await;
            match purged {
                Ok(Ok(n)) if n > 0 => tracing::info!(records = n, "purged expired tokens and replay records"),
                Ok(Err(e)) => tracing::warn!(error = %e, "purging expired records failed"),
                _ => {}
            }
        }
    });
    let refreshes =
        state.config.trusted_idps.iter().any(|i| i.fetched_from.is_some() || i.metadata_file.is_some());
    let refresher = match state.config.metadata_refresh_secs {
        secs if secs > 0 && refreshes => {
            let state = state.clone();
            Some(tokio::spawn(async move {
                let every = std::time::Duration::from_secs(secs);
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    if let Err(e) = state.refresh_trust().await {
                        tracing::warn!(error = %e, "refreshing trusted IdP metadata failed; the previous trust stays");
                    }
                }
            }))
        }
        _ => None,
    };
    let result = service_kit::serve_configured(http::app(state), listener, options, tls, shutdown).await;
    purger.abort();
    if let Some(r) = refresher {
        r.abort();
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
