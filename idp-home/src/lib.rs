//! # idp-home — the idaas home IdP
//!
//! A SAML 2.0 identity provider whose assertions carry the user's PII ciphertexts and a
//! Time Access Token sealed for the service (DESIGN.md §1, §5). Also the data owner's PII
//! vault and an ABE authority for time, domain and country attributes.

pub mod api;
pub mod config;
pub mod error;
pub mod keys;
pub mod mail;
pub mod model;
pub mod pbe;
pub mod saml;
pub mod state;
pub mod store;
pub mod throttle;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;

pub use config::Config;
pub use state::AppState;

/// Serves the home IdP on `listener` until `shutdown` completes, then finishes the requests
/// in flight. Connect info is recorded so sign-in throttling can count per client address.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = api::app(state);
    // No Nagle: replies on kept-alive connections must not wait for the peer's delayed ACK.
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
