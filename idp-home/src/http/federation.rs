//! What the federation reads from this IdP: its own ABE authority key (`/pbe/authority`), every
//! authority it knows (`/pbe/authorities`), and the operator's probes: `/healthz` (alive),
//! `/readyz` (the store answers) and `/metrics` (Prometheus, loopback clients only unless
//! `metrics_public`). The SAML metadata is served by [`super::sso`].

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};

use federation::api::{Authorities, AuthorityEntry, AuthorityKey, Health};

use super::extract::ClientAddr;
use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/pbe/authority", get(authority))
        .route("/pbe/authorities", get(authorities))
}

async fn authority(State(state): State<AppState>) -> Json<AuthorityKey> {
    Json(AuthorityKey {
        suite: state.keys.suite().name().to_owned(),
        authority: state.keys.authority_name().to_owned(),
        public_key: state.keys.authority_public_key_text(),
    })
}

async fn authorities(State(state): State<AppState>) -> Json<Authorities> {
    let own = state.keys.authority_name();
    let authorities = state
        .federation
        .iter()
        .map(|(name, key)| AuthorityEntry {
            authority: name.clone(),
            public_key: key.clone(),
            own: name == own,
        })
        .collect();
    Json(Authorities { suite: state.keys.suite().name().to_owned(), authorities })
}

async fn healthz() -> Json<Health> {
    Json(Health::ok())
}

async fn readyz(State(state): State<AppState>) -> Response {
    // A read that touches the store (an entity ID no SP can have); the keys were loaded at start.
    let store =
        tokio::task::spawn_blocking(move || state.store.get_sp("").map(|_| ()).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
    service_kit::health::readiness(vec![("store", store), ("keys", Ok(()))])
}

async fn metrics(State(state): State<AppState>, ClientAddr(client): ClientAddr) -> Response {
    service_kit::metrics::exposition(&state.metrics, client, state.config.metrics_public)
}
