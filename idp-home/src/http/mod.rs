//! Everything HTTP of the home IdP: the router and its layers (here), the JSON APIs
//! (registration and verification, API tokens, the PII vault, the federation's authority keys,
//! the admin API, `/healthz`; documented in `docs/home-idp.md`) and the SAML endpoints.
//!
//! Handlers are thin: extract ([`extract`]), call [`crate::service`] (or the store for plain
//! reads), map the result. Every JSON error goes through [`error::ApiError`], every SAML error
//! page through [`error::SsoError`]. Submodules import [`extract`] and [`error`] and never
//! this file, so the router depends on the handlers and not the other way round.

pub mod access;
pub mod account;
pub mod account_page;
pub mod accounts;
pub mod admin;
pub mod consent;
pub mod devices;
pub mod error;
pub mod extract;
pub mod federation;
pub mod mfa;
pub mod passkeys;
pub mod password;
pub mod pii_fetch;
pub mod register;
pub mod security;
pub mod slo;
pub mod sso;
pub mod vault;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;

pub use error::{ApiError, SloError, SsoError, PROBLEM_JSON};
pub use extract::{bearer, AdminAuth, ApiBody, ApiJson, ApiPath, ApiQuery, ClientAddr, SmallJson, UserAuth};

use crate::state::AppState;

/// The JSON API routes (without layers; see [`app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(accounts::routes())
        .merge(vault::routes())
        .merge(pii_fetch::routes())
        .merge(federation::routes())
        .merge(admin::routes())
}

/// The whole home IdP app: these routes, the SAML routes, the people's pages (account,
/// registration, passwords), every error (404/405, 408/413, 5xx, an API's problem) as a page
/// for browsers and a problem document for API clients, and the services' layer stack (`service_kit::layers`): a request-body limit of
/// `max_body_bytes`, the request timeout `request_timeout_secs`, problem bodies for the bare
/// 408/413, request tracing (method and path only: query strings can carry verification
/// tokens).
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let layers = service_kit::layers::Layers {
        request_timeout: Duration::from_secs(state.config.request_timeout_secs),
        body_limit: Some(limit),
        metrics: Some(state.metrics.clone()),
        hsts: state.config.public_url.starts_with("https://"),
    };
    let routes = Router::new()
        .merge(router())
        .merge(sso::router())
        .merge(consent::routes())
        .merge(slo::router())
        .merge(pages_router())
        .merge(account::routes())
        .merge(access::routes())
        .merge(register::routes())
        .merge(password::routes())
        .merge(mfa::routes())
        .merge(security::routes())
        .merge(passkeys::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed);
    service_kit::layers::stack(routes, layers, move |status| match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit }.into_response(),
        _ => ApiError::Timeout.into_response(),
    })
    // Outermost: a browser gets a page for any problem document (an API opened in the
    // browser, the layers' 408 and 413, a 5xx), an API client the document.
    .layer(axum::middleware::from_fn(service_kit::html::problems_as_pages))
    .with_state(state)
}

/// The routes people open in a browser that belong to no other area: `/` (goes to the
/// account page) and the shared stylesheet.
fn pages_router() -> Router<AppState> {
    Router::new()
        .route("/", axum::routing::get(|| async { axum::response::Redirect::to("/account") }))
        .route(
            service_kit::html::STYLESHEET_PATH,
            axum::routing::get(|| async { service_kit::html::stylesheet() }),
        )
        .route(crate::logo::LOGO_PATH, axum::routing::get(logo))
}

/// The logo (`logo_file`), or the 404 of an unknown path when none is configured.
async fn logo(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    match &state.logo {
        Some(logo) => logo.response(),
        None => fallback(headers).await,
    }
}

/// An unknown path: an HTML page for a browser, a problem document for an API client.
async fn fallback(headers: axum::http::HeaderMap) -> axum::response::Response {
    service_kit::html::not_found(&headers)
}

/// A known path with another method: 405 in the client's format.
async fn method_not_allowed(headers: axum::http::HeaderMap) -> axum::response::Response {
    service_kit::html::method_not_allowed(&headers)
}
