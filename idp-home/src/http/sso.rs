//! The SAML endpoints (`/saml/metadata`, `/saml/sso` in both bindings, `/saml/login`): read
//! the request and the cookies, call [`crate::saml`], [`crate::sso_sessions`] and
//! [`crate::service::accounts`], and answer with a page. Refusals go through
//! [`SsoError`] (an HTML error page, never a redirect to an unverified URL).

use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use service_kit::metrics::{observe_phase, timed};

use super::error::SsoError;
use super::extract::ClientAddr;
use crate::saml::request::{self, AcceptedRequest, Binding, RequestError};
use crate::saml::status::Refusal;
use crate::saml::{html, metadata, response, status};
use crate::service::accounts::{self, AuthError};
use crate::service::passwords::Password;
use crate::sso_sessions::{self, IdpSession, Participant};
use crate::state::AppState;

/// Cookie of the IdP session (sign in once, SSO to every SP); `__Host-idaas_idp_session`
/// when the IdP is served over https.
pub const SESSION_COOKIE: &str = "idaas_idp_session";
/// Cookie carrying the browser's pending sign-in (MAC'd; the form's CSRF token is bound to
/// it, see [`crate::sso_sessions`]); `__Host-idaas_login` over https.
pub const LOGIN_COOKIE: &str = "idaas_login";

/// The cookie names and path of this IdP: over https the `__Host-` prefix (the browser then
/// insists on `Secure`, `Path=/` and no `Domain`, so no other host or port can set or shadow
/// them), over plain http the bare names, also on `/` (the IdP's `/logout` must see the
/// session; the web agents never forward `idaas_` cookies to a backend).
pub fn cookie_names(state: &AppState) -> (String, String, &'static str) {
    if state.config.public_url.starts_with("https://") {
        (format!("__Host-{SESSION_COOKIE}"), format!("__Host-{LOGIN_COOKIE}"), "/")
    } else {
        (SESSION_COOKIE.to_owned(), LOGIN_COOKIE.to_owned(), "/")
    }
}

/// The SAML routes (merged into [`super::app`]).
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
    let xml = metadata::metadata_xml(&state);
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
            return SsoError::BadRelayState.into_response();
        }
        other => other,
    };
    let encoded = match params.saml_request {
        Some(e) => e,
        None => return SsoError::Request(RequestError::Missing).into_response(),
    };
    let store = state.store.clone();
    let accepted = timed("sso_accept", || {
        request::decode(&encoded, binding)
            .and_then(|xml| request::accept(&xml, binding, raw_query, &|id| store.get_sp(id).ok().flatten()))
    });
    let accepted = match accepted {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(error = %e, "AuthnRequest refused");
            return SsoError::Request(e).into_response();
        }
    };
    let now = state.clock.now();
    let (session_name, login_name, path) = cookie_names(state);
    if accepted.flags.unsupported_name_id_format {
        return refuse(state, &accepted, relay_state.as_deref(), Refusal::InvalidNameIdPolicy).await;
    }
    // ForceAuthn: a live session does not count, the password is asked again.
    let session = (!accepted.flags.force_authn)
        .then(|| cookie(headers, &session_name, 128).and_then(|c| state.sso.session(&c, now).map(|s| (c, s))))
        .flatten();
    if let Some((session_cookie, session)) = session {
        return super::consent::continue_sign_in(
            state,
            &accepted,
            relay_state.as_deref(),
            &session,
            &session_cookie,
        )
        .await;
    }
    // IsPassive: the user would have to interact (or ForceAuthn asked them to): refuse.
    if accepted.flags.is_passive {
        return refuse(state, &accepted, relay_state.as_deref(), Refusal::NoPassive).await;
    }
    // The pending request goes into this browser's cookie, not into a server-side table.
    let Some((pending_cookie, csrf)) = state.sso.begin(&accepted, relay_state, now) else {
        return SsoError::TooLargeForCookie.into_response();
    };
    let sp_name = sp_display_name(state, &accepted.sp_entity_id);
    let view = html::LoginView {
        idp: &state.config.display_name,
        logo: state.logo.is_some(),
        sp: sp_name.as_deref(),
        action: "/saml/login",
        csrf: &csrf,
        uid: "",
        error: None,
        passkey: state.webauthn.is_some(),
    };
    let mut resp = html::login_form(&view, StatusCode::OK);
    set_cookie(&mut resp, state, &login_name, &pending_cookie, path, sso_sessions::PENDING_LIFETIME);
    resp
}

/// The display name of the SP `entity_id`, if it is registered.
pub(super) fn sp_display_name(state: &AppState, entity_id: &str) -> Option<String> {
    state.store.get_sp(entity_id).ok().flatten().map(|sp| sp.shown_name())
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    pub(super) csrf: String,
    pub(super) uid: String,
    pub(super) password: String,
    /// "Stay signed in" ticked: the IdP session cookie outlives the browser session.
    #[serde(default)]
    pub(super) remember: Option<String>,
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
    let Some(pending_cookie) = cookie(&headers, &login_name, sso_sessions::MAX_PENDING_COOKIE) else {
        return SsoError::FormExpired.into_response();
    };
    let store = state.store.clone();
    let acs_url =
        move |sp: &str, i: usize| store.get_sp(sp).ok().flatten().and_then(|sp| sp.acs_urls.get(i).cloned());
    let Some(pending) = state.sso.pending(&pending_cookie, &form.csrf, now, &acs_url) else {
        return SsoError::BadCsrf.into_response();
    };
    let LoginForm { uid, password, remember, .. } = form;
    let typed_uid: String = uid.chars().take(64).collect();
    let user = match accounts::authenticate_async(&state, uid, Password::new(password), client).await {
        Ok(u) => u,
        Err(e @ (AuthError::Failed(_) | AuthError::Throttled { .. } | AuthError::Busy { .. })) => {
            let (status, retry_after) = match e {
                AuthError::Throttled { retry_after } => (StatusCode::TOO_MANY_REQUESTS, Some(retry_after)),
                AuthError::Busy { retry_after } => (StatusCode::SERVICE_UNAVAILABLE, Some(retry_after)),
                _ => (StatusCode::UNAUTHORIZED, None),
            };
            let sp_name = sp_display_name(&state, &pending.request.sp_entity_id);
            let message = html::sign_in_failure(&e);
            let view = html::LoginView {
                idp: &state.config.display_name,
                logo: state.logo.is_some(),
                sp: sp_name.as_deref(),
                action: "/saml/login",
                csrf: &pending.csrf,
                uid: &typed_uid,
                error: Some(&message),
                passkey: state.webauthn.is_some(),
            };
            let mut page = html::login_form(&view, status);
            if let Some(s) = retry_after {
                service_kit::problem::set_retry_after(&mut page, s);
            }
            return page;
        }
        // Store or hash failures are the operator's problem, not the user's: logged, with a
        // generic page.
        Err(e) => return SsoError::SignInUnavailable(e.to_string()).into_response(),
    };
    // A user with an authenticator gives its code before any session exists, when the
    // device is new or the network disallowed (issue 20).
    let seen = super::devices::check(&state, &headers, &user, client);
    if crate::service::devices::asks_second_factor(&user, &seen) {
        let ask = super::mfa::Ask {
            uid: &user.uid,
            remember: remember.is_some(),
            step_up: None,
            login: Some((&pending_cookie, &pending.csrf)),
            sp: sp_display_name(&state, &pending.request.sp_entity_id),
        };
        return super::mfa::ask(&state, ask);
    }
    let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
    let (cookie_value, session) = state.sso.create_session(&user.uid, now, lifetime);
    let mut resp = super::consent::continue_sign_in(
        &state,
        &pending.request,
        pending.relay_state.as_deref(),
        &session,
        &cookie_value,
    )
    .await;
    set_session_cookie(
        &mut resp,
        &state,
        &session_name,
        &cookie_value,
        remember.is_some().then_some(lifetime),
    );
    super::devices::remember(&mut resp, &state, &headers, &user.uid, client);
    // The pending sign-in is used up: the browser forgets it.
    set_cookie(&mut resp, &state, &login_name, "", path, 0);
    resp
}

/// Sets the IdP session cookie: with `max_age` ("stay signed in" ticked) it outlives the
/// browser session, without it the browser forgets it when it closes (the session itself
/// still ends after `session_lifetime_minutes` at the IdP).
pub(super) fn set_session_cookie(
    resp: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    write_cookie(resp, state, name, value, "/", max_age);
}

/// Sets a cookie: HttpOnly, SameSite=Lax, Secure when the IdP is served over https.
pub(super) fn set_cookie(
    resp: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) {
    write_cookie(resp, state, name, value, path, Some(max_age));
}

fn write_cookie(
    resp: &mut Response,
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
) {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let max_age = max_age.map(|m| format!("; Max-Age={m}")).unwrap_or_default();
    let cookie = format!("{name}={value}; Path={path}{max_age}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Reads one cookie from the request (values longer than `max` are ignored).
pub fn cookie(headers: &HeaderMap, name: &str, max: usize) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= max)
        .map(|(_, v)| v.to_owned())
}

/// Answers `request` without signing anyone in: a signed status Response, auto-posted to the
/// registered ACS.
pub(super) async fn refuse(
    state: &AppState,
    request: &AcceptedRequest,
    relay_state: Option<&str>,
    refusal: Refusal,
) -> Response {
    tracing::info!(?refusal, "AuthnRequest answered without a sign-in");
    let (state2, request2) = (state.clone(), request.clone());
    match tokio::task::spawn_blocking(move || status::build(&state2, &request2, refusal)).await {
        Ok(Ok(xml)) => html::auto_post(&request.acs_url, &STANDARD.encode(xml.as_bytes()), relay_state),
        Ok(Err(e)) => SsoError::ResponseFailed(e.to_string()).into_response(),
        Err(e) => SsoError::ResponseFailed(format!("worker task: {e}")).into_response(),
    }
}

/// Answers `request` for the signed-in `session` with an auto-posting form, releasing as
/// `release` says (consent is decided before: [`super::consent::continue_sign_in`]).
pub async fn respond(
    state: &AppState,
    request: &AcceptedRequest,
    relay_state: Option<&str>,
    session: &IdpSession,
    release: response::Release,
) -> Response {
    let state2 = state.clone();
    let request2 = request.clone();
    let session2 = session.clone();
    // Key generation and XML signing are CPU work: keep them off the async workers.
    let queued = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || {
        observe_phase("sso_blocking_queue", queued.elapsed().as_secs_f64());
        timed("sso_build", || response::build(&state2, &request2, &session2, release))
    })
    .await;
    match built {
        Ok(Ok(signed)) => {
            state.metrics.assertion_issued();
            // Single logout will name this assertion's SessionIndex.
            let participant = Participant {
                sp: request.sp_entity_id.clone(),
                name_id: session.uid.clone(),
                session_index: signed.session_index.clone(),
            };
            state.sso.record_participant(&session.id, participant);
            timed("sso_post_form", || {
                html::auto_post(&request.acs_url, &STANDARD.encode(signed.xml.as_bytes()), relay_state)
            })
        }
        Ok(Err(e)) => SsoError::ResponseFailed(e.to_string()).into_response(),
        Err(e) => SsoError::ResponseFailed(format!("worker task: {e}")).into_response(),
    }
}
