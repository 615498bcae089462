//! What others discover about this IdP: RFC 8414 metadata, the grant-receipt key set, the ABE
//! authority key, and `/healthz`.

use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use federation::api::oauth::{Jwks, ServerMetadata};
use federation::api::{AuthorityKey, Health};
use federation::pat::GRANT_TYPE_SAML2_BEARER;

use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/pbe/authority", get(authority))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// RFC 8414 authorization server metadata.
async fn metadata(State(state): State<AppState>) -> Json<ServerMetadata> {
    let base = &state.config.public_url;
    let client_auth = || vec!["client_secret_basic".to_owned(), "client_secret_post".to_owned()];
    Json(ServerMetadata {
        issuer: base.clone(),
        token_endpoint: state.config.token_endpoint(),
        introspection_endpoint: format!("{base}/oauth2/introspect"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        grant_types_supported: vec![GRANT_TYPE_SAML2_BEARER.to_owned()],
        // RFC 8414 makes the member REQUIRED and clients refuse an empty array. There is no
        // authorization endpoint: "none" (IANA "OAuth Authorization Endpoint Response Types")
        // is the registered value that promises nothing from one.
        response_types_supported: vec!["none".to_owned()],
        token_endpoint_auth_methods_supported: client_auth(),
        introspection_endpoint_auth_methods_supported: client_auth(),
        saml2_entity_id: state.config.entity_id.clone(),
        pbe_authority: state.keys.authority_name().to_owned(),
        pbe_suite: state.keys.suite().name().to_owned(),
        pbe_authority_endpoint: format!("{base}/pbe/authority"),
        transaction_purposes: state.config.transaction_purposes.clone(),
        max_assertion_age_days: state.config.max_assertion_age_days,
    })
}

/// The grant-receipt verification key (JWK set).
async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(Jwks { keys: vec![state.keys.receipt().public_jwk()] })
}

/// The ABE authority: same shape as the home IdP's `/pbe/authority`.
async fn authority(State(state): State<AppState>) -> Json<AuthorityKey> {
    Json(AuthorityKey {
        suite: state.keys.suite().name().to_owned(),
        authority: state.keys.authority_name().to_owned(),
        public_key: state.keys.authority_public_key_text(),
    })
}

/// Readiness: the store answers (the keys were loaded at start).
async fn readyz(State(state): State<AppState>) -> Response {
    let store = tokio::task::spawn_blocking(move || {
        state.store.get_client("").map(|_| ()).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    service_kit::health::readiness(vec![("store", store), ("keys", Ok(()))])
}

/// Prometheus metrics, to loopback clients unless `metrics_public`.
async fn metrics(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let client = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    service_kit::metrics::exposition(&state.metrics, client, state.config.metrics_public)
}

/// Liveness, and the in-memory count of requests refused before client authentication.
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let refused = state.refused_unauthenticated.load(std::sync::atomic::Ordering::Relaxed);
    Json(Health { refused_unauthenticated: Some(refused), ..Health::ok() })
}
