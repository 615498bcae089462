//! The agent's router, its layers, and thin handlers: each extracts what it needs from the
//! request and the state, calls the module that does the work, and answers with that
//! module's result or its area's error ([`crate::error`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Form, Router};
use federation::api::oauth::CallerKey;
use federation::api::Health;
use serde::Deserialize;

use crate::error::{AcsError, ProxyError, RequestError, SignInError};
use crate::rbac::{self, Decision};
use crate::state::AppState;
use crate::{acs, cookies, html, paths, propagation, proxy, signin, slo, sp};

/// Longest request target (path and query) accepted, bytes; longer ones get 414.
pub const MAX_TARGET: usize = 8 * 1024;
/// Most header bytes (names and values) accepted in one request; more gets 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The same for propagated calls (`/.idaas/call/…`), which carry the signed assertion (up
/// to [`acs::MAX_ENCODED`]) and the sealed TAT in headers.
pub const MAX_CALL_HEADER_BYTES: usize = acs::MAX_ENCODED + 64 * 1024;

/// Refuses over-long request targets and header sections before any handler runs, so no
/// endpoint (nor the backend behind the agent) has to cope with them.
async fn limits(req: Request<Body>, next: axum::middleware::Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET {
        return RequestError::TargetTooLong.into_response();
    }
    let header_bytes: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    let max = if req.uri().path().starts_with(propagation::INGRESS_PREFIX) {
        MAX_CALL_HEADER_BYTES
    } else {
        MAX_HEADER_BYTES
    };
    if header_bytes > max {
        return RequestError::HeadersTooLarge.into_response();
    }
    next.run(req).await
}

/// The agent's routes; everything that is not an agent endpoint goes through [`gate`].
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let routes = Router::new()
        .route("/healthz", get(|| async { axum::Json(Health::ok()) }))
        // Under /.idaas/: the agent must not shadow a backend's own /readyz or /metrics.
        .route("/.idaas/readyz", get(readyz))
        .route(service_kit::html::STYLESHEET_PATH, get(|| async { service_kit::html::stylesheet() }))
        .route("/.idaas/metrics", get(metrics))
        .route("/saml/metadata", get(metadata))
        .route("/saml/login", get(login))
        .route("/saml/acs", post(acs))
        .route("/saml/logout", get(logout_page).post(logout))
        .route("/saml/slo", get(slo_redirect).post(slo_post))
        .route("/.idaas/caller-key", get(caller_key))
        .route("/.idaas/partners/{*rest}", any(egress))
        .route("/.idaas/call/{*rest}", any(ingress))
        .fallback(gate)
        .method_not_allowed_fallback(|headers: HeaderMap| async move {
            service_kit::html::method_not_allowed(&headers)
        })
        .layer(axum::middleware::from_fn(limits));
    // Larger bodies get 413 (by Content-Length) or a cut stream (chunked); 0 = no limit.
    // The request timeout covers the whole request until the response's head: a client that
    // sends its body too slowly, or a backend that takes longer than its read timeout, gets
    // 408 (the default is longer than the backend client's connect + read timeouts, so a slow
    // backend is answered 502 by the forwarder first). A streamed response body is not cut.
    let layers = service_kit::layers::Layers {
        request_timeout: timeout,
        body_limit: match state.config.max_body_bytes {
            0 => None,
            n => Some(n),
        },
        metrics: Some(state.metrics.clone()),
        hsts: state.config.public_url.starts_with("https://"),
    };
    service_kit::layers::stack(routes, layers, |status| match status {
        StatusCode::REQUEST_TIMEOUT => RequestError::Timeout.into_response(),
        other => other.into_response(),
    })
    .with_state(state)
}

/// Readiness: the agent holds its keys and the IdP's certificates from the start, so it is
/// ready while it serves.
async fn readyz() -> Response {
    service_kit::health::readiness(vec![("keys", Ok(())), ("idp_metadata", Ok(()))])
}

/// Prometheus metrics, to loopback clients unless `metrics_public`.
async fn metrics(State(state): State<AppState>, req: Request<Body>) -> Response {
    let client = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    service_kit::metrics::exposition(&state.metrics, client, state.config.metrics_public)
}

/// The start-up self-check (the paper's "add_target" test): an unauthenticated request for a
/// protected path must be redirected to the IdP, not served. Returns the redirect target.
pub async fn self_check(state: AppState) -> Result<String, String> {
    use tower::ServiceExt as _;
    let req = Request::get("/").body(Body::empty()).map_err(|e| e.to_string())?;
    let resp = app(state.clone()).oneshot(req).await.map_err(|e| e.to_string())?;
    let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let protected = !state.config.public_paths.iter().any(|p| rbac::covers(p, "/"));
    match (protected, resp.status(), location.starts_with(&state.idp().sso_url)) {
        (true, StatusCode::FOUND, true) => Ok(location.split('?').next().unwrap_or_default().to_owned()),
        (false, _, _) => Ok("/ is a public path; nothing to check".to_owned()),
        (_, status, _) => Err(format!(
            "an unauthenticated request for / was answered with {status}, not a redirect to the IdP"
        )),
    }
}

fn set_session_cookie(resp: &mut Response, state: &AppState, value: &str, max_age: i64) {
    cookies::set_session(resp, &state.cookie_name, state.config.secure_cookies(), value, max_age);
}

fn set_signin_cookie(resp: &mut Response, state: &AppState, value: &str, max_age: i64) {
    cookies::set_signin(resp, &state.signin_cookie, state.config.secure_cookies(), value, max_age);
}

/// The client's address, when the server was started with connect info.
async fn client_ip(parts: &mut axum::http::request::Parts, state: &AppState) -> Option<IpAddr> {
    ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await.ok().map(|c| c.0.ip())
}

async fn metadata(State(state): State<AppState>) -> Response {
    let xml = sp::metadata_xml(
        &state.config.entity_id,
        &state.config.acs_url(),
        &state.key,
        &state.saml_key.cert_base64(),
        &state.config.slo_url(),
    );
    ([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response()
}

#[derive(Deserialize)]
struct LoginParams {
    #[serde(default)]
    return_to: Option<String>,
}

/// Starts a sign-in: AuthnRequest over HTTP-Redirect, RelayState = the return path. The
/// pending request goes into this browser's sign-in cookie (`signin`), not into a table.
fn start_sign_in(state: &AppState, headers: &HeaderMap, return_to: &str) -> Result<Response, SignInError> {
    service_kit::metrics::timed("agent_sign_in_start", || begin_sign_in(state, headers, return_to))
}

/// [`start_sign_in`], untimed.
fn begin_sign_in(state: &AppState, headers: &HeaderMap, return_to: &str) -> Result<Response, SignInError> {
    let return_to = sp::safe_return_path(return_to);
    let id = sp::request_id();
    let now = state.clock.now();
    let xml = sp::authn_request_xml(
        &id,
        &state.config.entity_id,
        &state.idp().sso_url,
        &state.config.acs_url(),
        now,
    );
    let existing = cookies::read(headers, &state.signin_cookie)
        .map(|v| state.signin.open(&state.signin_cookie, &v, now))
        .unwrap_or_default();
    let value = state.signin.add(
        &state.signin_cookie,
        existing,
        signin::Pending { id, return_to: return_to.clone(), expires: now + signin::PENDING_LIFETIME },
    );
    let url = sp::redirect_url(&state.idp().sso_url, &xml, &return_to, state.saml_key.key_der())
        .ok_or(SignInError::Request)?;
    let location = HeaderValue::from_str(&url).map_err(|_| SignInError::IdpUrl)?;
    // 302 Found, as SAML deployments expect for the HTTP-Redirect binding.
    let mut resp = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    set_signin_cookie(&mut resp, state, &value, signin::PENDING_LIFETIME);
    Ok(resp)
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LoginParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A query that is not form-encoded text starts a sign-in back to `/` rather than failing.
    let return_to = query.ok().and_then(|Query(p)| p.return_to);
    start_sign_in(&state, &headers, return_to.as_deref().unwrap_or("/")).into_response()
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: Option<String>,
}

async fn acs(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AcsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return AcsError::Form.into_response();
    };
    let signin_cookie = cookies::read(&headers, &state.signin_cookie);
    match acs::process(&state, &form.saml_response, signin_cookie.as_deref()).await {
        Ok(signed_in) => {
            let lifetime = (signed_in.session.expires - state.clock.now()).max(0);
            let cookie = match state.create_session(signed_in.session, signed_in.wire) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "the session could not be stored in the shared database");
                    return AcsError::SessionStore.into_response();
                }
            };
            // The return path comes from our own pending request, never from RelayState.
            let mut resp = Redirect::to(&signed_in.return_to).into_response();
            set_session_cookie(&mut resp, &state, &cookie, lifetime);
            if signed_in.still_pending.is_empty() {
                set_signin_cookie(&mut resp, &state, "", 0);
            } else {
                let value = state.signin.seal(&state.signin_cookie, &signed_in.still_pending);
                set_signin_cookie(&mut resp, &state, &value, signin::PENDING_LIFETIME);
            }
            resp
        }
        Err(e) if is_stale_replay(&e) && has_session(&state, &headers).await => {
            // Back after signing in re-posts the used response: this browser is signed in
            // already, so it goes to the page (a same-origin path) instead of an error. No
            // session is created or changed.
            tracing::debug!("used SAML response re-posted by a signed-in browser; redirected");
            Redirect::to(&sp::safe_return_path(form.relay_state.as_deref().unwrap_or("/"))).into_response()
        }
        Err(e) => {
            state.metrics.refusal(e.metric_reason());
            tracing::info!(error = %e, "SAML response refused");
            e.into_response()
        }
    }
}

/// A response that was valid once but is used up or stale (what Back re-posts).
fn is_stale_replay(e: &AcsError) -> bool {
    use federation::verify::ValidationError as V;
    matches!(e, AcsError::UnknownRequest | AcsError::Invalid(V::Replayed | V::ConfirmationExpired))
}

/// Whether the request carries a live session cookie of this agent.
async fn has_session(state: &AppState, headers: &HeaderMap) -> bool {
    match cookies::read(headers, &state.cookie_name) {
        Some(c) => state.session(&c).await.is_some(),
        None => false,
    }
}

async fn caller_key(State(state): State<AppState>) -> Response {
    axum::Json(CallerKey {
        entity_id: state.config.entity_id.clone(),
        public_key: state.signer.public_text(),
        alg: "Ed25519".into(),
    })
    .into_response()
}

async fn egress(State(state): State<AppState>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let client = client_ip(&mut parts, &state).await;
    propagation::egress(state, client, Request::from_parts(parts, body)).await
}

async fn ingress(State(state): State<AppState>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let client = client_ip(&mut parts, &state).await;
    propagation::ingress(state, client, Request::from_parts(parts, body)).await
}

/// `GET /saml/logout` changes nothing: it shows a form that POSTs the sign-out with a CSRF
/// token bound to this session (a link or image elsewhere cannot sign anyone out).
async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let cookie = cookies::read(&headers, &state.cookie_name);
    let live = match &cookie {
        Some(c) => state.session(c).await.is_some(),
        None => false,
    };
    match cookie.filter(|_| live) {
        Some(c) => html::confirm_logout(&state.signin.logout_token(&c)),
        None => html::signed_out("You are not signed in to this service."),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Whether a sign-out POST comes from this service's own pages: the confirmation form's CSRF
/// token, or — for a "Sign out" button on the backend's pages, which cannot know the token —
/// no token and an `Origin` header naming this agent's public origin (browsers send `Origin`
/// with every form POST; a page of another origin cannot forge it).
fn logout_allowed(state: &AppState, headers: &HeaderMap, session_cookie: &str, csrf: &str) -> bool {
    if !csrf.is_empty() {
        return state.signin.check_logout_token(session_cookie, csrf);
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    origin.is_some_and(|o| same_origin(o, &state.config.public_url))
}

/// Whether the `Origin` header value `origin` is the origin of `public_url` (scheme, host,
/// port; the path of `public_url` does not count).
fn same_origin(origin: &str, public_url: &str) -> bool {
    match (url::Url::parse(origin), url::Url::parse(public_url)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin() && a.origin().is_tuple(),
        _ => false,
    }
}

/// `POST /saml/logout` with the form's CSRF token ends the session (its decrypted PII is
/// wiped with it); then, when the IdP has a SingleLogoutService, the browser carries a signed
/// LogoutRequest there (single logout of every other service), else the sign-out is local.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return SignInError::LogoutForm.into_response();
    };
    let Some(c) = cookies::read(&headers, &state.cookie_name) else {
        return html::signed_out("You are not signed in to this service.");
    };
    if !logout_allowed(&state, &headers, &c, &form.csrf) {
        return SignInError::LogoutForged.into_response();
    }
    let now = state.clock.now();
    let session = state.session(&c).await;
    state.end_session(&c);
    let next = session.and_then(|s| slo::request_url(&state, &s, now));
    let mut resp = match next {
        Some((url, slo_cookie)) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
                cookies::set_signin(
                    &mut r,
                    &state.slo_cookie,
                    state.config.secure_cookies(),
                    &slo_cookie,
                    slo::PENDING_LIFETIME,
                );
                r
            }
            Err(_) => html::signed_out("You are signed out of this service."),
        },
        None => html::signed_out("You are signed out of this service."),
    };
    set_session_cookie(&mut resp, &state, "", 0);
    resp
}

/// `GET /saml/slo`: a logout message in the HTTP-Redirect binding (raw query: its signature
/// covers the bytes as sent).
async fn slo_redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let inbound = federation::logout::Inbound::from_redirect(raw.as_deref().unwrap_or_default());
    slo_answer(&state, &headers, inbound)
}

/// `POST /saml/slo`: a logout message in the HTTP-POST binding.
async fn slo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<federation::logout::PostForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let inbound = match form {
        Ok(Form(form)) => federation::logout::Inbound::from_post_form(form),
        Err(_) => Err(federation::logout::LogoutError::Malformed("not a form")),
    };
    slo_answer(&state, &headers, inbound)
}

fn slo_answer(
    state: &AppState,
    headers: &HeaderMap,
    inbound: Result<federation::logout::Inbound, federation::logout::LogoutError>,
) -> Response {
    let slo_cookie = cookies::read(headers, &state.slo_cookie);
    let outcome = match slo::receive(state, inbound, slo_cookie.as_deref()) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let mut resp = match outcome {
        slo::Outcome::SignedOut { partial: false } => {
            html::signed_out("You are signed out of this service and of your identity provider.")
        }
        slo::Outcome::SignedOut { partial: true } => html::signed_out(
            "You are signed out of this service. Some other services could not be signed out: close your browser to end their sessions.",
        ),
        slo::Outcome::Answered { url: Some(url), .. } => match HeaderValue::from_str(&url) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => html::signed_out("You are signed out of this service."),
        },
        slo::Outcome::Answered { url: None, .. } => html::signed_out("You are signed out of this service."),
    };
    // This browser's session cookie and sign-out cookie are of no further use.
    set_session_cookie(&mut resp, state, "", 0);
    cookies::set_signin(&mut resp, &state.slo_cookie, state.config.secure_cookies(), "", 0);
    resp
}

/// Every request that is not an agent endpoint: public paths go through without identity;
/// otherwise a session is needed (GET/HEAD without one start a sign-in, other methods get
/// 401), then the access rules decide, then the request is forwarded with identity headers.
async fn gate(State(state): State<AppState>, req: Request<Body>) -> Response {
    match gate_inner(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn gate_inner(state: AppState, req: Request<Body>) -> Result<Response, ProxyError> {
    let (mut parts, body) = req.into_parts();
    let client = client_ip(&mut parts, &state).await;
    // One canonical path (crate::paths): decided on, and forwarded exactly.
    let path = paths::normalise(parts.uri.path())?;
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    parts.uri = path_and_query.parse().map_err(|_| ProxyError::Target)?;
    let req = Request::from_parts(parts, body);
    let config = &state.config;
    if config.public_paths.iter().any(|p| rbac::covers(p, &path)) {
        paths::record_decision("public", &path);
        return Ok(proxy::forward(config, &state.backend, req, client, Vec::new()).await);
    }
    let session = match cookies::read(req.headers(), &state.cookie_name) {
        Some(c) => state.session(&c).await,
        None => None,
    };
    let Some(session) = session else {
        if matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
            return Ok(start_sign_in(&state, req.headers(), &path_and_query).into_response());
        }
        return Err(ProxyError::SignInRequired);
    };
    paths::record_decision("gate", &path);
    let decision = state.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner).check(
        req.method(),
        &path,
        &session.groups,
    );
    if let Decision::Deny { needed, has } = decision {
        tracing::info!(user = %service_kit::redact::log_id(&session.user), needed = needed.name(), "access denied");
        return Err(ProxyError::Denied { needed, has });
    }
    if let Some(page) = approval_needed(&state, &path, &session) {
        return Ok(page);
    }
    let identity = proxy::identity_headers(config, &session);
    let mut resp = proxy::forward(config, &state.backend, req, client, identity).await;
    // A page built for a signed-in person (it may carry decrypted PII) must not be kept by
    // the browser or any cache: Back after sign-out must not show it again.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().remove(header::EXPIRES);
    Ok(resp)
}

/// The 403 page when `path` is sensitive and the session holds no live approval for it
/// ([`crate::approval`]).
fn approval_needed(state: &AppState, path: &str, session: &crate::session::Session) -> Option<Response> {
    let rules = state.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let rule = rules.missing_approval(path, &session.approvals, state.clock.now())?;
    tracing::info!(user = %service_kit::redact::log_id(&session.user), "approval needed");
    let config = &state.config;
    let url =
        crate::approval::request_url(&state.idp().sso_url, &config.entity_id, &config.public_url, rule, path);
    Some(crate::approval::needed_page(rule, url.as_deref(), path))
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn only_the_agents_own_origin_is_the_same_origin() {
        let own = "https://shop.example:8443/base";
        assert!(same_origin("https://shop.example:8443", own));
        for other in [
            "http://shop.example:8443",
            "https://shop.example",
            "https://shop.example:8443.evil.example",
            "https://evil.example",
            "null",
            "",
        ] {
            assert!(!same_origin(other, own), "{other}");
        }
        assert!(same_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080"));
    }
}
