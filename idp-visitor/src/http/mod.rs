//! The HTTP side of the visitor IdP (documented in `docs/visitor-idp.md`): the router and its
//! layers (here), the token endpoint ([`token`]), introspection ([`introspect`]), discovery
//! documents ([`discovery`]) and the admin API ([`admin`]). Handlers are thin: extract
//! ([`extract`]), call [`crate::grant`] or the store, map the result through [`error`] (RFC 6749
//! errors on the OAuth endpoints, problem documents elsewhere). Submodules import
//! [`extract`] and [`error`], never this file.

pub mod admin;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod introspect;
pub mod token;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use admin::MAX_AUDIT_PAGE;
pub use error::{no_store, ApiError, PROBLEM_JSON, REALM};
pub use extract::{AdminAuth, ApiJson};

use crate::state::AppState;

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The routes (without layers; see [`app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(token::routes())
        .merge(introspect::routes())
        .merge(discovery::routes())
        .merge(admin::routes())
}

/// The whole app: routes, a problem-document 404, a request timeout and request tracing
/// (method and path only). Body limits are applied by the handlers that read bodies, so each
/// answers an oversized body in its own error format.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(axum::middleware::map_response(|res: Response| async move {
            let bare = !res.headers().contains_key(header::CONTENT_TYPE);
            if res.status() == StatusCode::REQUEST_TIMEOUT && bare {
                ApiError::Timeout.into_response()
            } else {
                res
            }
        }))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(state)
}
