//! Everything HTTP of the home IdP: the router and its layers (here), the JSON APIs
//! (registration and verification, API tokens, the PII vault, the federation's authority keys,
//! the admin API, `/healthz`; documented in `docs/home-idp.md`) and the SAML endpoints.
//!
//! Handlers are thin: extract ([`extract`]), call [`crate::service`] (or the store for plain
//! reads), map the result. Every JSON error goes through [`error::ApiError`], every SAML error
//! page through [`error::SsoError`]. Submodules import [`extract`] and [`error`] and never
//! this file, so the router depends on the handlers and not the other way round.

pub mod accounts;
pub mod admin;
pub mod error;
pub mod extract;
pub mod federation;
pub mod sso;
pub mod vault;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use error::{ApiError, SsoError, PROBLEM_JSON};
pub use extract::{bearer, AdminAuth, ApiBody, ApiJson, ApiPath, ApiQuery, ClientAddr, UserAuth};

use crate::state::AppState;

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The JSON API routes (without layers; see [`app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(accounts::routes())
        .merge(vault::routes())
        .merge(federation::routes())
        .merge(admin::routes())
}

/// The whole home IdP app: these routes, the SAML routes, a problem-document 404 fallback, a
/// request-body limit of `max_body_bytes`, a request timeout and request tracing (method and
/// path only: query strings can carry verification tokens).
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(router())
        .merge(sso::router())
        .fallback(fallback)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::map_response(
            move |res: Response| async move { problem_for_bare(res, limit) },
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(state)
}

/// Gives the bare 413/408 answers of the tower layers a problem-document body.
fn problem_for_bare(res: Response, limit: usize) -> Response {
    let is_problem =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_problem => ApiError::PayloadTooLarge { limit }.into_response(),
        StatusCode::REQUEST_TIMEOUT if !is_problem => ApiError::Timeout.into_response(),
        _ => res,
    }
}

async fn fallback() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}
