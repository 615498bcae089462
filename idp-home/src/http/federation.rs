//! What the federation reads from this IdP: its own ABE authority key (`/pbe/authority`), every
//! authority it knows (`/pbe/authorities`), and `/healthz`. The SAML metadata is served by
//! [`super::sso`].

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use federation::api::{Authorities, AuthorityEntry, AuthorityKey, Health};

use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
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
