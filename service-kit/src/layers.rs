//! The layer stack every service puts around its routes, in one order: the body limit
//! (innermost), the request timeout (the whole request until the response head: a slow body or
//! a slow handler gets 408), the service's own rendering of the bare 408/413 the layers answer,
//! and request tracing (method and path only: query strings can carry tokens).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::Router;

/// What [`stack`] puts around a router.
#[derive(Debug, Clone)]
pub struct Layers {
    /// The request timeout (answered 408).
    pub request_timeout: Duration,
    /// The largest request body, when the stack limits it (answered 413); `None` when the
    /// handlers read bodies with limits of their own.
    pub body_limit: Option<usize>,
    /// The service's metrics: every request is counted and timed by route template
    /// ([`crate::metrics::track`]).
    pub metrics: Option<crate::metrics::Metrics>,
    /// Send `Strict-Transport-Security` (the service's public URL is https: browsers must
    /// never reach it over plain HTTP again, so no cookie or form can be stripped of TLS).
    pub hsts: bool,
}

/// The HSTS policy sent over https: a year, subdomains left to their own operators.
pub const HSTS: &str = "max-age=31536000";

/// Wraps `router` in the layers. `bare` renders the layers' own bare 408/413 answers (see
/// [`crate::problem::is_bare`]) in the service's format: a problem document, an HTML page.
pub fn stack<S, F>(router: Router<S>, layers: Layers, bare: F) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(StatusCode) -> Response + Clone + Send + Sync + 'static,
{
    let router = match layers.body_limit {
        Some(limit) => router.layer(tower_http::limit::RequestBodyLimitLayer::new(limit)),
        None => router,
    };
    let router = router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            layers.request_timeout,
        ))
        // Outside the timeout, so the timeout's own 408 is rendered too.
        .layer(axum::middleware::map_response(move |res: Response| {
            let bare = bare.clone();
            async move {
                if crate::problem::is_bare(&res) {
                    bare(res.status())
                } else {
                    res
                }
            }
        }));
    // Outside the timeout and the rendering: counts the status the client really got.
    let router = match layers.metrics {
        Some(m) => router.layer(axum::middleware::from_fn_with_state(m, crate::metrics::track)),
        None => router,
    };
    let router = if layers.hsts {
        router.layer(axum::middleware::map_response(|mut res: Response| async move {
            res.headers_mut().insert(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static(HSTS),
            );
            res
        }))
    } else {
        router
    };
    router
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        }))
}
