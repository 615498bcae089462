//! # web-agent — the idaas web agent
//!
//! A SAML 2.0 service provider and reverse proxy in front of one backend (DESIGN.md §1, §5).
//! It signs users in at the home IdP, exchanges the assertion at the visitor IdP for a
//! Purpose Access Token (RFC 7522), combines it with the Time Access Token from the assertion,
//! decrypts the PII they open, and passes identity, groups and PII to the backend as headers,
//! after role-based access control.
//!
//! The module map (module → job) is in `docs/architecture.md`, "web-agent modules":
//! [`routes`] holds the router and thin handlers, [`state`] what they reach, [`error`] one
//! error type per area, [`unlock`] the one "assertion + TAT + PAT → PII" pipeline.
#![warn(missing_docs)]

pub mod acs;
pub mod approval;
pub mod config;
pub mod cookies;
pub mod decrypt;
pub mod error;
pub mod exchange;
pub mod explain;
pub mod headers;
pub mod html;
pub mod keys;
pub mod paths;
pub mod pii;
pub mod propagation;
pub mod proxy;
pub mod rbac;
pub mod routes;
pub mod seal_keys;
pub mod session;
pub mod shared;
pub mod shared_sessions;
pub mod signin;
pub mod slo;
pub mod sp;
pub mod state;
pub mod unlock;

use std::future::Future;

pub use config::Config;
pub use cookies::{cookie_name, session_cookie_name};
pub use routes::{app, self_check, MAX_CALL_HEADER_BYTES, MAX_HEADER_BYTES, MAX_TARGET};
pub use state::{AppState, StartError, BACKEND_CONNECT_TIMEOUT, BACKEND_READ_TIMEOUT};

/// Serves the agent on `listener` until `shutdown` (then requests in flight get at most
/// `shutdown_grace_secs`); expired sessions are swept every minute.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let options = state.config.serve_options();
    let tls =
        state.config.tls_files().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let refresher = match state.config.home_idp.metadata_refresh_secs {
        0 => None,
        secs => {
            let state = state.clone();
            Some(tokio::spawn(async move {
                let every = std::time::Duration::from_secs(secs);
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    if let Err(e) = state.refresh_metadata().await {
                        tracing::warn!(error = %e, "refreshing the home IdP metadata failed; the previous trust stays");
                    }
                }
            }))
        }
    };
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.sessions.sweep(state.clock.now());
                state.propagation.sweep(state.clock.now());
                if let Some(shared) = state.shared.clone() {
                    let now = state.clock.now();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || shared.purge(now)).await {
                        tracing::warn!(error = %e, "purging the agent's shared state failed");
                    }
                }
            }
        })
    };
    // HPKE key rollover steps (`idaas agent keys rotate|activate`) are file changes; every
    // instance sharing the directory picks them up (seal_keys).
    let key_watch = {
        let keys = state.key.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(seal_keys::RELOAD_INTERVAL);
            loop {
                tick.tick().await;
                match keys.reload() {
                    Ok(true) => tracing::info!("HPKE key files changed: keys reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "HPKE key files unreadable; the keys in use stay"),
                }
            }
        })
    };
    // No Nagle (a streamed response's later chunks would otherwise wait for the peer's
    // delayed ACK on a kept-alive connection — propagated calls reuse them), connect info,
    // header-read and idle timeouts, a bounded shutdown grace: `service_kit::serve`.
    let result = service_kit::serve_configured(app(state), listener, options, tls, shutdown).await;
    sweeper.abort();
    key_watch.abort();
    if let Some(r) = refresher {
        r.abort();
    }
    result
}
