//! SAML 2.0 SSO: metadata, the SSO endpoint (HTTP-Redirect and HTTP-POST bindings), the
//! sign-in form with CSRF protection, the IdP session, and the signed response that carries
//! the user's PII ciphertexts and a Time Access Token sealed for the service.

pub mod html;
pub mod request;
pub mod response;
pub mod session;

use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

pub use session::SsoState;

use crate::api::ClientAddr;
use crate::state::AppState;
use crate::users::{self, AuthError};
use request::{Binding, RequestError};

/// Cookie of the IdP session (sign in once, SSO to every SP); `__Host-idaas_idp_session`
/// when the IdP is served over https.
pub const SESSION_COOKIE: &str = "idaas_idp_session";
/// Cookie carrying the browser's pending sign-in (MAC'd; the form's CSRF token is bound to
/// it, see [`session`]); `__Host-idaas_login` over https.
pub const LOGIN_COOKIE: &str = "idaas_login";

/// The cookie names and path of this IdP: over https the `__Host-` prefix (the browser then
/// insists on `Secure`, `Path=/` and no `Domain`, so no other host or port can set or shadow
/// them), over plain http the bare names on `/saml`.
pub fn cookie_names(state: &AppState) -> (String, String, &'static str) {
    if state.config.public_url.starts_with("https://") {
        (format!("__Host-{SESSION_COOKIE}"), format!("__Host-{LOGIN_COOKIE}"), "/")
    } else {
        (SESSION_COOKIE.to_owned(), LOGIN_COOKIE.to_owned(), "/saml")
    }
}

/// The SAML routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml/metadata", get(metadata))
        .route("/saml/sso", get(sso_redirect).post(sso_post))
        .route("/saml/login", post(login))
}

#[derive(Debug, Deserialize)]
struct SsoParams {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn metadata(State(state): State<AppState>) -> Response {
    let xml = response::metadata_xml(&state);
    ([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response()
}

async fn sso_redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    Query(params): Query<SsoParams>,
) -> Response {
    handle_sso(&state, &headers, Binding::Redirect, params, raw.as_deref()).await
}

async fn sso_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(params): Form<SsoParams>,
) -> Response {
    handle_sso(&state, &headers, Binding::Post, params, None).await
}

async fn handle_sso(
    state: &AppState,
    headers: &HeaderMap,
    binding: Binding,
    params: SsoParams,
    raw_query: Option<&str>,
) -> Response {
    let relay_state = match params.relay_state {
        Some(r) if r.len() > 1024 || federation::xml::check_chars("RelayState", &r).is_err() => {
            return html::error_page(StatusCode::BAD_REQUEST, "The RelayState is too long or malformed.");
        }
        other => other,
    };
    let encoded = match params.saml_request {
        Some(e) => e,
        None => return html::error_page(StatusCode::BAD_REQUEST, &RequestError::Missing.to_string()),
    };
    let store = state.store.clone();
    let accepted = request::decode(&encoded, binding)
        .and_then(|xml| request::accept(&xml, binding, raw_query, &|id| store.get_sp(id).ok().flatten()));
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(error = %e, "AuthnRequest refused");
            return html::error_page(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let now = state.clock.now();
    let (session_name, login_name, path) = cookie_names(state);
    if let Some(session) =
        session::cookie(headers, &session_name, 128).and_then(|c| state.sso.session(&c, now))
    {
        return response::respond(state, &accepted, relay_state.as_deref(), &session).await;
    }
    // The pending request goes into this browser's cookie, not into a server-side table.
    let Some((pending_cookie, csrf)) = state.sso.begin(&accepted, relay_state, now) else {
        return html::error_page(StatusCode::BAD_REQUEST, "The sign-in request is too large.");
    };
    let mut resp = html::login_form(&csrf, None, StatusCode::OK);
    set_cookie(&mut resp, state, &login_name, &pending_cookie, path, session::PENDING_LIFETIME);
    resp
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    uid: String,
    password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginForm([redacted])")
    }
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = state.clock.now();
    let (session_name, login_name, path) = cookie_names(&state);
    let Some(pending_cookie) = session::cookie(&headers, &login_name, session::MAX_PENDING_COOKIE) else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in form has expired. Go back to the service and try again.",
        );
    };
    let store = state.store.clone();
    let acs_url =
        move |sp: &str, i: usize| store.get_sp(sp).ok().flatten().and_then(|sp| sp.acs_urls.get(i).cloned());
    let Some(pending) = state.sso.pending(&pending_cookie, &form.csrf, now, &acs_url) else {
        return html::error_page(
            StatusCode::FORBIDDEN,
            "The sign-in form's security token is missing or wrong. Go back to the service and try again.",
        );
    };
    let LoginForm { uid, password, .. } = form;
    let user = match users::authenticate_async(&state, uid, users::Password::new(password), client).await {
        Ok(u) => u,
        Err(e @ (AuthError::Failed(_) | AuthError::Throttled { .. })) => {
            let status = if matches!(e, AuthError::Throttled { .. }) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            return html::login_form(&pending.csrf, Some(&e.to_string()), status);
        }
        Err(e) => {
            // Store or hash failures are the operator's problem, not the user's: log them, show
            // a generic page.
            tracing::error!(error = %e, "sign-in could not be checked");
            return html::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is unavailable right now. Try again later.",
            );
        }
    };
    let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
    let (cookie_value, session) = state.sso.create_session(&user.uid, now, lifetime);
    let mut resp =
        response::respond(&state, &pending.request, pending.relay_state.as_deref(), &session).await;
    set_cookie(&mut resp, &state, &session_name, &cookie_value, path, lifetime);
    // The pending sign-in is used up: the browser forgets it.
    set_cookie(&mut resp, &state, &login_name, "", path, 0);
    resp
}

/// Sets a cookie: HttpOnly, SameSite=Lax, Secure when the IdP is served over https.
fn set_cookie(resp: &mut Response, state: &AppState, name: &str, value: &str, path: &str, max_age: i64) {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}
