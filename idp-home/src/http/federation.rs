//! What the federation reads from this IdP: its own ABE authority key (`/pbe/authority`), every
//! authority it knows (`/pbe/authorities`), and `/healthz`. The SAML metadata is served by
//! [`super::sso`].

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/pbe/authority", get(authority))
        .route("/pbe/authorities", get(authorities))
}

async fn authority(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "suite": state.keys.suite().name(),
        "authority": state.keys.authority_name(),
        "public_key": state.keys.authority_public_key_text(),
    }))
}

async fn authorities(State(state): State<AppState>) -> Json<serde_json::Value> {
    let own = state.keys.authority_name();
    let list: Vec<_> = state
        .federation
        .iter()
        .map(|(name, key)| serde_json::json!({"authority": name, "public_key": key, "own": name == own}))
        .collect();
    Json(serde_json::json!({"suite": state.keys.suite().name(), "authorities": list}))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}
