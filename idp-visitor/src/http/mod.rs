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

use axum::response::IntoResponse;
use axum::Router;

pub use admin::MAX_AUDIT_PAGE;
pub use error::{no_store, ApiError, PROBLEM_JSON, REALM};
pub use extract::{AdminAuth, ApiJson};

use crate::state::AppState;

/// The routes (without layers; see [`app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(token::routes())
        .merge(introspect::routes())
        .merge(discovery::routes())
        .merge(admin::routes())
}

/// The whole app: routes, the stylesheet, 404/405 (a page for browsers, a problem document
/// otherwise) and the services' layer stack (`service_kit::layers`): the request timeout
/// `request_timeout_secs` with a problem body for its 408, request tracing (method and path
/// only). Body limits are applied by the handlers
/// that read bodies, so each answers an oversized body in its own error format.
pub fn app(state: AppState) -> Router {
    let layers = service_kit::layers::Layers {
        request_timeout: Duration::from_secs(state.config.request_timeout_secs),
        body_limit: None,
        metrics: Some(state.metrics.clone()),
        hsts: state.config.public_url.starts_with("https://"),
    };
    // A browser that lands here gets a page, an API client a problem document.
    let routes = Router::new()
        .merge(router())
        .route(
            service_kit::html::STYLESHEET_PATH,
            axum::routing::get(|| async { service_kit::html::stylesheet() }),
        )
        .fallback(|headers: axum::http::HeaderMap| async move {
            if service_kit::html::wants_html(&headers) {
                service_kit::html::not_found(&headers)
            } else {
                ApiError::NotFound("no such endpoint".into()).into_response()
            }
        })
        .method_not_allowed_fallback(|headers: axum::http::HeaderMap| async move {
            service_kit::html::method_not_allowed(&headers)
        });
    service_kit::layers::stack(routes, layers, |status| match status {
        axum::http::StatusCode::REQUEST_TIMEOUT => ApiError::Timeout.into_response(),
        other => other.into_response(),
    })
    // Outermost: a browser gets a page for any problem document, the layers' 408 too.
    .layer(axum::middleware::from_fn(service_kit::html::problems_as_pages))
    .with_state(state)
}
