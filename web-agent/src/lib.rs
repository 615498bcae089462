//! # web-agent — the idaas web agent
//!
//! A SAML 2.0 service provider and reverse proxy in front of one backend (DESIGN.md §1, §5).
//! It signs users in at the home IdP, exchanges the assertion at the visitor IdP for a
//! Purpose Access Token (RFC 7522), combines it with the Time Access Token from the assertion,
//! decrypts the PII they open, and passes identity, groups and PII to the backend as headers,
//! after role-based access control.
#![warn(missing_docs)]

pub mod acs;
pub mod config;
pub mod exchange;
pub mod html;
pub mod keys;
pub mod paths;
pub mod pii;
pub mod propagation;
pub mod proxy;
pub mod rbac;
pub mod session;
pub mod signin;
pub mod sp;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use federation::seal::RecipientKey;
use federation::verify::ReplayCache;
use federation::Clock;
use serde::Deserialize;

pub use config::Config;
use rbac::{AccessRules, Decision};
use session::Sessions;
use sp::TrustedIdp;

/// The agent's session cookie name: `idaas_agent_` + 8 hex digits derived from the entity
/// ID. Browsers do not separate cookies by port, so two agents on one host (the quickstart)
/// must not share a cookie name. See [`cookie_name`] for the `__Host-` prefix.
pub fn session_cookie_name(entity_id: &str) -> String {
    format!("idaas_agent_{}", &federation::redact::log_id(entity_id)[..8])
}

/// The name of one of the agent's cookies (`kind`: `agent` for the session, `signin` for
/// pending sign-ins): `idaas_<kind>_<8 hex of the entity ID>`, with the `__Host-` prefix
/// when the agent is served over https (its `public_url`), so that the browser accepts it
/// only with `Secure`, `Path=/` and no `Domain`: no other host can set or shadow it.
pub fn cookie_name(config: &Config, kind: &str) -> String {
    let name = format!("idaas_{kind}_{}", &federation::redact::log_id(&config.entity_id)[..8]);
    if config.secure_cookies() {
        format!("__Host-{name}")
    } else {
        name
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The key file.
    #[error(transparent)]
    Key(#[from] keys::KeyFileError),
    /// The IdP metadata.
    #[error("home_idp metadata: {0}")]
    Metadata(String),
    /// An HTTP client could not be built (TLS back end). The default client would silently
    /// drop the timeouts and the no-redirect policy, so this stops the start instead.
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// How long the agent waits for a backend or partner to accept a connection.
pub const BACKEND_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the agent waits for the next bytes of a backend's or partner's answer.
pub const BACKEND_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What every handler can reach (all `Arc`s: cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The trusted home IdP.
    pub idp: Arc<TrustedIdp>,
    /// The agent's HPKE key (TATs and PATs are sealed to it).
    pub key: Arc<RecipientKey>,
    /// Sessions and pending requests.
    pub sessions: Arc<Sessions>,
    /// Used assertion IDs.
    pub replay: Arc<ReplayCache>,
    /// Access rules (replaced on reload).
    pub rules: Arc<RwLock<AccessRules>>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Client for the visitor IdP.
    pub http: reqwest::Client,
    /// Client for the backend.
    pub backend: reqwest::Client,
    /// The session cookie's name.
    pub cookie_name: Arc<str>,
    /// The sign-in cookie's name (pending AuthnRequests of this browser).
    pub signin_cookie: Arc<str>,
    /// The MAC key of sign-in cookies and sign-out forms.
    pub signin: Arc<signin::Keys>,
    /// Addresses the egress route (`/.idaas/partners/…`) accepts calls from.
    pub egress_sources: Arc<Vec<IpAddr>>,
    /// The Ed25519 key that signs propagated calls.
    pub signer: Arc<propagation::CallSigner>,
    /// Nonces of received propagated calls and PATs exchanged for them.
    pub propagation: Arc<propagation::Memory>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("entity_id", &self.config.entity_id).finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state from a validated configuration and the IdP metadata text.
    pub fn new(config: Config, idp_metadata: &str, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
        config.validate()?;
        let idp = TrustedIdp::from_metadata(idp_metadata).map_err(|e| StartError::Metadata(e.to_string()))?;
        let key = keys::load_or_create(&config.data_dir, config.seal_suite())?;
        let signer = propagation::CallSigner::load_or_create(&config.data_dir)?;
        if !config.partners.is_empty() || !config.callers.is_empty() {
            tracing::info!(
                public_key = %signer.public_text(),
                partners = config.partners.len(),
                callers = config.callers.len(),
                "identity propagation: this agent's call-signing key"
            );
        }
        let rules = config.access_rules()?;
        let egress_sources = config.egress_sources();
        if egress_sources.is_empty() && !config.partners.is_empty() {
            tracing::warn!("backend_url's host resolves to no address: the partner route refuses every call");
        }
        // No whole-request timeout: a backend may stream a long answer. A backend that does
        // not accept the connection, or stops sending, is cut off instead.
        let backend = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(BACKEND_CONNECT_TIMEOUT)
            .read_timeout(BACKEND_READ_TIMEOUT)
            .build()?;
        Ok(AppState {
            idp: Arc::new(idp),
            key: Arc::new(key),
            sessions: Arc::new(Sessions::default()),
            replay: Arc::new(ReplayCache::new(session::MAX_SESSIONS)),
            rules: Arc::new(RwLock::new(rules)),
            clock,
            http: exchange::http_client()?,
            backend,
            cookie_name: cookie_name(&config, "agent").into(),
            signin_cookie: cookie_name(&config, "signin").into(),
            signin: Arc::new(signin::Keys::default()),
            egress_sources: Arc::new(egress_sources),
            signer: Arc::new(signer),
            propagation: Arc::new(propagation::Memory::default()),
            config: Arc::new(config),
        })
    }

    /// Reads the IdP metadata named by the configuration (file, or URL fetched now).
    pub async fn load_metadata(config: &Config) -> Result<String, StartError> {
        if let Some(path) = &config.home_idp.metadata_file {
            return std::fs::read_to_string(path)
                .map_err(|e| StartError::Metadata(format!("{}: {e}", path.display())));
        }
        let url = config.home_idp.metadata_url.as_deref().unwrap_or_default();
        let resp = exchange::http_client()?
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| StartError::Metadata(format!("{url}: {e}")))?;
        resp.text().await.map_err(|e| StartError::Metadata(format!("{url}: {e}")))
    }

    /// Re-reads the access rules from `path` (SIGHUP). Sessions are kept. On error the old
    /// rules stay and the error is returned.
    pub fn reload_rules(&self, path: &Path) -> Result<(), config::ConfigError> {
        let fresh = Config::load(path)?.access_rules()?;
        *self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }
}

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
        return html::page(StatusCode::URI_TOO_LONG, "Request too long", "The address is too long.");
    }
    let header_bytes: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    let max = if req.uri().path().starts_with(propagation::INGRESS_PREFIX) {
        MAX_CALL_HEADER_BYTES
    } else {
        MAX_HEADER_BYTES
    };
    if header_bytes > max {
        return html::page(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request too large",
            "The request's headers (cookies included) are too large.",
        );
    }
    next.run(req).await
}

/// The agent's routes; everything that is not an agent endpoint goes through [`gate`].
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/saml/metadata", get(metadata))
        .route("/saml/login", get(login))
        .route("/saml/acs", post(acs))
        .route("/saml/logout", get(logout_page).post(logout))
        .route("/.idaas/caller-key", get(caller_key))
        .route("/.idaas/partners/{*rest}", axum::routing::any(egress))
        .route("/.idaas/call/{*rest}", axum::routing::any(ingress))
        .fallback(gate)
        .layer(axum::middleware::from_fn(limits))
        // Larger bodies get 413 (by Content-Length) or a cut stream (chunked); 0 = no limit.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(match state.config.max_body_bytes {
            0 => usize::MAX,
            n => n,
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// Serves the agent on `listener` until `shutdown`; expired sessions are swept every minute.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.sessions.sweep(state.clock.now());
                state.propagation.sweep(state.clock.now());
            }
        })
    };
    // No Nagle: a streamed response's later chunks would otherwise wait for the peer's
    // delayed ACK (≈ 40 ms) on a kept-alive connection — propagated calls reuse them.
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    result
}

/// The start-up self-check (the paper's "add_target" test): an unauthenticated request for a
/// protected path must be redirected to the IdP, not served. Returns the redirect target.
pub async fn self_check(state: AppState) -> Result<String, String> {
    use tower::ServiceExt as _;
    let req = Request::get("/").body(Body::empty()).map_err(|e| e.to_string())?;
    let resp = app(state.clone()).oneshot(req).await.map_err(|e| e.to_string())?;
    let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let protected = !state.config.public_paths.iter().any(|p| rbac::covers(p, "/"));
    match (protected, resp.status(), location.starts_with(&state.idp.sso_url)) {
        (true, StatusCode::FOUND, true) => Ok(location.split('?').next().unwrap_or_default().to_owned()),
        (false, _, _) => Ok("/ is a public path; nothing to check".to_owned()),
        (_, status, _) => Err(format!(
            "an unauthenticated request for / was answered with {status}, not a redirect to the IdP"
        )),
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_owned())
        })
}

fn set_cookie(resp: &mut Response, state: &AppState, value: &str, max_age: i64) {
    let secure = if state.config.secure_cookies() { "; Secure" } else { "" };
    let c =
        format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", state.cookie_name);
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Sets (or, with `max_age` 0, removes) the sign-in cookie. Over https it is
/// `SameSite=None`: the IdP's auto-posted form is a cross-site POST when the IdP is on
/// another site, and the cookie must come with it. That is safe here: the cookie only ever
/// lets a response in that this browser asked for. Over http (development, one host) it is
/// `SameSite=Lax`, which browsers require without `Secure`.
fn set_signin_cookie(resp: &mut Response, state: &AppState, value: &str, max_age: i64) {
    let attrs = if state.config.secure_cookies() { "Secure; SameSite=None" } else { "SameSite=Lax" };
    let c = format!("{}={value}; Path=/; Max-Age={max_age}; HttpOnly; {attrs}", state.signin_cookie);
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

async fn metadata(State(state): State<AppState>) -> Response {
    let xml = sp::metadata_xml(&state.config.entity_id, &state.config.acs_url(), &state.key);
    ([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response()
}

#[derive(Deserialize)]
struct LoginParams {
    #[serde(default)]
    return_to: Option<String>,
}

/// Starts a sign-in: AuthnRequest over HTTP-Redirect, RelayState = the return path. The
/// pending request goes into this browser's sign-in cookie (`signin`), not into a table.
fn start_sign_in(state: &AppState, headers: &HeaderMap, return_to: &str) -> Response {
    let return_to = sp::safe_return_path(return_to);
    let id = sp::request_id();
    let now = state.clock.now();
    let xml =
        sp::authn_request_xml(&id, &state.config.entity_id, &state.idp.sso_url, &state.config.acs_url(), now);
    let existing = cookie(headers, &state.signin_cookie)
        .map(|v| state.signin.open(&state.signin_cookie, &v, now))
        .unwrap_or_default();
    let value = state.signin.add(
        &state.signin_cookie,
        existing,
        signin::Pending { id, return_to: return_to.clone(), expires: now + signin::PENDING_LIFETIME },
    );
    match sp::redirect_url(&state.idp.sso_url, &xml, &return_to) {
        // 302 Found, as SAML deployments expect for the HTTP-Redirect binding.
        Some(url) => match HeaderValue::from_str(&url) {
            Ok(v) => {
                let mut resp = (StatusCode::FOUND, [(header::LOCATION, v)]).into_response();
                set_signin_cookie(&mut resp, state, &value, signin::PENDING_LIFETIME);
                resp
            }
            Err(_) => {
                html::page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "The IdP URL is not usable.")
            }
        },
        None => html::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "The sign-in request could not be built.",
        ),
    }
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LoginParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A query that is not form-encoded text starts a sign-in back to `/` rather than failing.
    let return_to = query.ok().and_then(|Query(p)| p.return_to);
    start_sign_in(&state, &headers, return_to.as_deref().unwrap_or("/"))
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    _relay_state: Option<String>,
}

async fn acs(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AcsForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in answer is missing or malformed.",
        );
    };
    let signin_cookie = cookie(&headers, &state.signin_cookie);
    match acs::process(&state, &form.saml_response, signin_cookie.as_deref()).await {
        Ok(signed_in) => {
            let lifetime = (signed_in.session.expires - state.clock.now()).max(0);
            let cookie = state.sessions.create(signed_in.session, state.clock.now());
            // The return path comes from our own pending request, never from RelayState.
            let mut resp = Redirect::to(&signed_in.return_to).into_response();
            set_cookie(&mut resp, &state, &cookie, lifetime);
            if signed_in.still_pending.is_empty() {
                set_signin_cookie(&mut resp, &state, "", 0);
            } else {
                let value = state.signin.seal(&state.signin_cookie, &signed_in.still_pending);
                set_signin_cookie(&mut resp, &state, &value, signin::PENDING_LIFETIME);
            }
            resp
        }
        Err(e) => {
            tracing::info!(error = %e, "SAML response refused");
            let status = match e {
                acs::AcsError::Exchange(crate::exchange::ExchangeError::Transport(_)) => {
                    StatusCode::BAD_GATEWAY
                }
                _ => StatusCode::BAD_REQUEST,
            };
            html::page(status, "Sign-in failed", &e.to_string())
        }
    }
}

async fn caller_key(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({
        "entity_id": state.config.entity_id,
        "public_key": state.signer.public_text(),
        "alg": "Ed25519",
    }))
    .into_response()
}

async fn egress(State(state): State<AppState>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let client: Option<IpAddr> =
        ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, &state).await.ok().map(|c| c.0.ip());
    propagation::egress(state, client, Request::from_parts(parts, body)).await
}

async fn ingress(State(state): State<AppState>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let client: Option<IpAddr> =
        ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, &state).await.ok().map(|c| c.0.ip());
    propagation::ingress(state, client, Request::from_parts(parts, body)).await
}

/// `GET /saml/logout` changes nothing: it shows a form that POSTs the sign-out with a CSRF
/// token bound to this session (a link or image elsewhere cannot sign anyone out).
async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    match cookie(&headers, &state.cookie_name).filter(|c| state.sessions.get(c, now).is_some()) {
        Some(c) => html::confirm_logout(&state.signin.logout_token(&c)),
        None => html::page(StatusCode::OK, "Signed out", "You are not signed in to this service."),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /saml/logout` with the form's CSRF token ends the session.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Sign-out failed",
            "The sign-out form is missing or malformed.",
        );
    };
    let Some(c) = cookie(&headers, &state.cookie_name) else {
        return html::page(StatusCode::OK, "Signed out", "You are not signed in to this service.");
    };
    if !state.signin.check_logout_token(&c, &form.csrf) {
        return html::page(
            StatusCode::FORBIDDEN,
            "Sign-out failed",
            "The sign-out form did not come from this service. Open /saml/logout and confirm there.",
        );
    }
    state.sessions.end(&c);
    let mut resp = html::page(StatusCode::OK, "Signed out", "You are signed out of this service.");
    set_cookie(&mut resp, &state, "", 0);
    resp
}

/// Every request that is not an agent endpoint: public paths go through without identity;
/// otherwise a session is needed (GET/HEAD without one start a sign-in, other methods get
/// 401), then the access rules decide, then the request is forwarded with identity headers.
async fn gate(State(state): State<AppState>, req: Request<Body>) -> Response {
    let (mut parts, body) = req.into_parts();
    let client: Option<IpAddr> =
        ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, &state).await.ok().map(|c| c.0.ip());
    // One canonical path (crate::paths): decided on, and forwarded exactly.
    let path = match paths::normalise(parts.uri.path()) {
        Ok(p) => p,
        Err(e) => return html::page(StatusCode::BAD_REQUEST, "Bad request", &e.to_string()),
    };
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    parts.uri = match path_and_query.parse() {
        Ok(u) => u,
        Err(_) => {
            return html::page(StatusCode::BAD_REQUEST, "Bad request", "The request target is malformed.")
        }
    };
    let req = Request::from_parts(parts, body);
    if state.config.public_paths.iter().any(|p| rbac::covers(p, &path)) {
        paths::record_decision("public", &path);
        return proxy::forward(&state, req, client, Vec::new()).await;
    }
    let now = state.clock.now();
    let session = cookie(req.headers(), &state.cookie_name).and_then(|c| state.sessions.get(&c, now));
    let Some(session) = session else {
        if matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
            return start_sign_in(&state, req.headers(), &path_and_query);
        }
        return html::page(StatusCode::UNAUTHORIZED, "Sign-in required", "Sign in to this service first.");
    };
    paths::record_decision("gate", &path);
    let decision = state.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner).check(
        req.method(),
        &path,
        &session.groups,
    );
    if let Decision::Deny { needed, has } = decision {
        tracing::info!(user = %federation::redact::log_id(&session.user), needed = needed.name(), "access denied");
        return html::page(
            StatusCode::FORBIDDEN,
            "Access denied",
            &format!(
                "This page needs the access level '{}'; your groups give you '{}' here.",
                needed.name(),
                has.name()
            ),
        );
    }
    let identity = proxy::identity_headers(&state, &session);
    proxy::forward(&state, req, client, identity).await
}
