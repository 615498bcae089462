//! Passkeys in the browser (issue 20 item 4). The script `/.idaas/passkey.js` (a static file
//! of the IdP: the pages offering passkeys allow `script-src 'self'` and no inline script)
//! calls `navigator.credentials` and posts its answer as a form field:
//!
//! - **register** (signed in, `/account/security`): `POST /account/security/passkey/start`
//!   (`csrf` of the page) answers the creation options as JSON; the answer goes to
//!   `POST /account/security/passkey/finish` (`csrf` from the options, `name`, `credential`);
//!   `POST /account/security/passkey/remove` (`csrf`, `id`) removes one;
//! - **second factor** (the "Second step" page): `POST /login/passkey/start` with
//!   `flow=mfa` and the page's `csrf`; the answer goes to `POST /login/mfa` as `passkey`;
//! - **passwordless** (the sign-in form, "Sign in with a passkey"): `POST /login/passkey/start`
//!   with `flow=saml` or `flow=account`, the form's `csrf` and the typed `uid`; the answer goes
//!   to `POST /login/passkey` (`csrf` from the options, `login_csrf`, `credential`,
//!   `remember`). A user-verifying passkey is two factors: the session counts as MFA.
//!
//! The ceremony under way is the `idaas_passkey` cookie (`__Host-` over https), MAC'd under
//! the IdP's cookie key, expiring after [`passkeys::CEREMONY_LIFETIME`] seconds and bound to
//! what started it (the IdP session, the pending second step, or the pending sign-in).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use service_kit::html::links;

use super::extract::ClientAddr;
use super::sso::{cookie, cookie_names, set_cookie, set_session_cookie};
use crate::saml::html;
use crate::service::passkeys::{self, Ceremony, PasskeyError};
use crate::sso_sessions;
use crate::state::AppState;

/// Cookie of the ceremony under way (`__Host-idaas_passkey` over https).
pub const PASSKEY_COOKIE: &str = "idaas_passkey";
/// Path of the script.
pub const SCRIPT_PATH: &str = "/.idaas/passkey.js";
const SCRIPT: &str = include_str!("passkey.js");
const SEAL_LABEL: &str = "idaas passkey v1\0";
const PURPOSE: &str = "passkey";
/// Longest `idaas_passkey` value read.
const MAX_COOKIE: usize = 3072;

/// The routes (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(SCRIPT_PATH, get(script))
        .route("/account/security/passkey/start", post(register_start))
        .route("/account/security/passkey/finish", post(register_finish))
        .route("/account/security/passkey/remove", post(remove))
        .route("/login/passkey/start", post(login_start))
        .route("/login/passkey", post(login_finish))
}

/// What started a ceremony, and what it is bound to.
#[derive(Serialize, Deserialize, PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    /// Registration, bound to an IdP session (`b`: the digest of its cookie).
    Register,
    /// The second step, bound to its `idaas_mfa` nonce (`b`).
    SecondFactor,
    /// Passwordless sign-in for a service (`b`: the digest of the pending sign-in cookie).
    Saml,
    /// Passwordless sign-in to the account page (`b`: the account form's nonce cookie digest).
    Account,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// Nonce the finishing form's CSRF token is bound to.
    n: String,
    k: Kind,
    b: String,
    c: Ceremony,
}

#[derive(Deserialize, Default)]
struct Fields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login_csrf: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    remember: String,
}

fn cookie_name(state: &AppState) -> String {
    if state.config.public_url.starts_with("https://") {
        format!("__Host-{PASSKEY_COOKIE}")
    } else {
        PASSKEY_COOKIE.to_owned()
    }
}

async fn script() -> Response {
    let mut resp = SCRIPT.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

fn problem(e: &PasskeyError) -> Response {
    let status = match e {
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::NoPasskey | PasskeyError::TooMany | PasskeyError::Duplicate => StatusCode::CONFLICT,
        PasskeyError::Store(_) | PasskeyError::Internal(_) => {
            let detail = service_kit::problem::internal_detail(&e.to_string());
            return service_kit::problem::response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Passkey",
                &detail,
            );
        }
        _ => StatusCode::BAD_REQUEST,
    };
    service_kit::problem::response(status, "passkey", "Passkey", &e.to_string())
}

fn forged() -> Response {
    service_kit::problem::response(
        StatusCode::FORBIDDEN,
        "csrf",
        "Passkey",
        "The form's security token is missing or wrong. Open the page again and retry.",
    )
}

/// The JSON answer of a start: the options with the finishing form's CSRF token, and the
/// ceremony cookie.
fn started<T: Serialize>(state: &AppState, options: &T, kind: Kind, bound: String, c: Ceremony) -> Response {
    let nonce = sso_sessions::random_token();
    let csrf = state.sso.form_token(PURPOSE, &nonce);
    let claims = Claims { n: nonce, k: kind, b: bound, c };
    let sealed = state.sso.seal(SEAL_LABEL, &claims).filter(|v| v.len() <= MAX_COOKIE);
    let (Some(sealed), Ok(mut body)) = (sealed, serde_json::to_value(options)) else {
        return problem(&PasskeyError::Internal("sealing the ceremony".into()));
    };
    if let Some(o) = body.as_object_mut() {
        o.insert("csrf".into(), serde_json::Value::String(csrf));
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    set_cookie(&mut resp, state, &cookie_name(state), &sealed, "/", passkeys::CEREMONY_LIFETIME);
    resp
}

/// The ceremony of this browser of `kind`, with its binding; `None` if missing, forged or of
/// another kind.
fn ceremony(state: &AppState, headers: &HeaderMap, kind: Kind) -> Option<Claims> {
    let claims: Claims = state.sso.open(SEAL_LABEL, &cookie(headers, &cookie_name(state), MAX_COOKIE)?)?;
    (claims.k == kind).then_some(claims)
}

fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<(String, sso_sessions::IdpSession)> {
    let (name, _, _) = cookie_names(state);
    let c = cookie(headers, &name, 128)?;
    let s = state.sso.session(&c, state.clock.now())?;
    Some((c, s))
}

async fn register_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let Some((c, session)) = signed_in(&state, &headers) else {
        return service_kit::problem::response(
            StatusCode::UNAUTHORIZED,
            "signed-out",
            "Passkey",
            "You are not signed in.",
        );
    };
    if !super::security::check_token(&state, &c, &form.csrf) {
        return forged();
    }
    match passkeys::start_registration(&state, &session.uid, state.clock.now()) {
        Ok((options, cer)) => started(&state, &options, Kind::Register, sso_sessions::digest(&c), cer),
        Err(e) => problem(&e),
    }
}

fn security_error(state: &AppState, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p role=\"alert\">{}</p>{}",
        html::escape(message),
        links(&[("/account/security", "Back to sign-in security")])
    );
    html::idp_page(state, status, "Passkey", &body)
}

async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let now = state.clock.now();
    let Some((c, session)) = signed_in(&state, &headers) else {
        return security_error(&state, StatusCode::UNAUTHORIZED, "You are not signed in.");
    };
    let Some(claims) = ceremony(&state, &headers, Kind::Register)
        .filter(|cl| cl.b == sso_sessions::digest(&c) && cl.c.uid == session.uid)
    else {
        return security_error(&state, StatusCode::BAD_REQUEST, &PasskeyError::Expired.to_string());
    };
    if !state.sso.check_form_token(PURPOSE, &claims.n, &form.csrf) {
        return security_error(
            &state,
            StatusCode::FORBIDDEN,
            "The form's security token is missing or wrong.",
        );
    }
    let mut resp = match passkeys::finish_registration(&state, claims.c, &form.credential, &form.name, now) {
        Ok(_) => Redirect::to("/account/security").into_response(),
        Err(e @ (PasskeyError::Store(_) | PasskeyError::Internal(_))) => {
            super::error::SsoError::SignInUnavailable(format!("passkey: {e}")).into_response()
        }
        Err(e) => security_error(&state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    set_cookie(&mut resp, &state, &cookie_name(&state), "", "/", 0);
    resp
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let Some((c, session)) = signed_in(&state, &headers) else {
        return security_error(&state, StatusCode::UNAUTHORIZED, "You are not signed in.");
    };
    if !super::security::check_token(&state, &c, &form.csrf) {
        return security_error(
            &state,
            StatusCode::FORBIDDEN,
            "The form's security token is missing or wrong.",
        );
    }
    match passkeys::remove(&state, &session.uid, &form.id) {
        Ok(true) => Redirect::to("/account/security").into_response(),
        Ok(false) => {
            security_error(&state, StatusCode::NOT_FOUND, "That passkey is not registered (any more).")
        }
        Err(e) => super::error::SsoError::SignInUnavailable(format!("passkey: {e}")).into_response(),
    }
}

async fn login_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let now = state.clock.now();
    let (kind, uid, bound) = match form.flow.as_str() {
        "mfa" => match super::mfa::pending_step(&state, &headers, &form.csrf) {
            Some((uid, nonce)) => (Kind::SecondFactor, uid, sso_sessions::digest(&nonce)),
            None => return forged(),
        },
        "saml" => {
            let (_, login_name, _) = cookie_names(&state);
            let store = state.store.clone();
            let acs_url = move |sp: &str, i: usize| {
                store.get_sp(sp).ok().flatten().and_then(|sp| sp.acs_urls.get(i).cloned())
            };
            let Some(pending) = cookie(&headers, &login_name, sso_sessions::MAX_PENDING_COOKIE)
                .filter(|c| state.sso.pending(c, &form.csrf, now, &acs_url).is_some())
            else {
                return forged();
            };
            (Kind::Saml, form.uid.clone(), sso_sessions::digest(&pending))
        }
        "account" => match super::account::login_nonce(&state, &headers, &form.csrf) {
            Some(nonce) => (Kind::Account, form.uid.clone(), sso_sessions::digest(&nonce)),
            None => return forged(),
        },
        _ => {
            return service_kit::problem::response(
                StatusCode::BAD_REQUEST,
                "passkey",
                "Passkey",
                "unknown flow",
            )
        }
    };
    let uid: String = uid.trim().chars().take(64).collect();
    match passkeys::start_authentication(&state, &uid, now) {
        Ok((options, cer)) => started(&state, &options, kind, bound, cer),
        Err(e) => problem(&e),
    }
}

/// The second step with a passkey: `credential` answers this browser's ceremony, started
/// from the second-step page whose nonce is `nonce`, for `uid`.
pub(super) fn second_factor(
    state: &AppState,
    headers: &HeaderMap,
    uid: &str,
    nonce: &str,
    credential: &str,
) -> Result<(), PasskeyError> {
    let claims = ceremony(state, headers, Kind::SecondFactor)
        .filter(|cl| cl.b == sso_sessions::digest(nonce) && cl.c.uid == uid)
        .ok_or(PasskeyError::Expired)?;
    passkeys::finish_authentication(state, claims.c, credential, state.clock.now()).map(|_| ())
}

async fn login_finish(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let now = state.clock.now();
    let (session_name, login_name, path) = cookie_names(&state);
    let claims = ceremony(&state, &headers, Kind::Saml).or_else(|| ceremony(&state, &headers, Kind::Account));
    let Some(claims) = claims.filter(|cl| state.sso.check_form_token(PURPOSE, &cl.n, &form.csrf)) else {
        return super::error::SsoError::FormExpired.into_response();
    };
    let pending = if claims.k == Kind::Saml {
        let store = state.store.clone();
        let acs_url = move |sp: &str, i: usize| {
            store.get_sp(sp).ok().flatten().and_then(|sp| sp.acs_urls.get(i).cloned())
        };
        let found = cookie(&headers, &login_name, sso_sessions::MAX_PENDING_COOKIE)
            .filter(|c| sso_sessions::digest(c) == claims.b)
            .and_then(|c| state.sso.pending(&c, &form.login_csrf, now, &acs_url));
        match found {
            Some(p) => Some(p),
            None => return super::error::SsoError::FormExpired.into_response(),
        }
    } else {
        None
    };
    let uid = match passkeys::finish_authentication(&state, claims.c, &form.credential, now) {
        Ok(uid) => uid,
        Err(e @ (PasskeyError::Store(_) | PasskeyError::Internal(_))) => {
            return super::error::SsoError::SignInUnavailable(format!("passkey: {e}")).into_response();
        }
        Err(e) => {
            tracing::info!(reason = %e, "passwordless sign-in refused");
            return html::error_page_titled(StatusCode::UNAUTHORIZED, "Sign-in failed", &e.to_string());
        }
    };
    let user = match state.store.get_user(&uid) {
        Ok(Some(u)) if u.verified => u,
        _ => {
            return html::error_page_titled(
                StatusCode::FORBIDDEN,
                "Sign-in failed",
                "This account cannot sign in.",
            )
        }
    };
    // A passkey is the factor: the new-device mail still goes out for an unusual sign-in.
    let _ = super::devices::check(&state, &headers, &user, client);
    let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
    let (cookie_value, session) = state.sso.create_session_with(&uid, now, lifetime, true);
    let mut resp = match &pending {
        Some(p) => {
            super::consent::continue_sign_in(
                &state,
                &p.request,
                p.relay_state.as_deref(),
                &session,
                &cookie_value,
            )
            .await
        }
        None => Redirect::to("/account").into_response(),
    };
    let remember = !form.remember.is_empty();
    set_session_cookie(&mut resp, &state, &session_name, &cookie_value, remember.then_some(lifetime));
    if pending.is_some() {
        set_cookie(&mut resp, &state, &login_name, "", path, 0);
    }
    set_cookie(&mut resp, &state, &cookie_name(&state), "", "/", 0);
    super::devices::remember(&mut resp, &state, &headers, &uid, client);
    resp
}
