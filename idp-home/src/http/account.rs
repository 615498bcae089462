//! The account page for people (issue 18): `GET /account` (the sign-in form first when this
//! browser has no IdP session, reusing the session the SAML sign-in made), `POST
//! /account/login`, `POST /account/pii/delete`, `POST /account/consent/revoke`. "Sign out everywhere" posts to `/logout`
//! ([`super::slo`]) with `everywhere=1`.
//!
//! Every POST carries a CSRF token bound to a cookie only this browser holds (the IdP session
//! cookie, or for the sign-in form a random nonce cookie); a missing or wrong token is a 403
//! page and changes nothing. The page itself is computed by
//! [`crate::service::disclosure_view`] (no HTTP there).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::account_page;
use super::extract::ClientAddr;
use super::sso::{cookie, cookie_names, set_cookie, set_session_cookie, LoginForm};
use crate::saml::html;
use crate::service::accounts::{self, AuthError};
use crate::service::passwords::Password;
use crate::service::vault;
use crate::state::AppState;

/// Cookie with the nonce the account sign-in form's CSRF token is bound to
/// (`__Host-idaas_account` over https).
pub const NONCE_COOKIE: &str = "idaas_account";
/// How long the account sign-in form stays usable, seconds.
pub const FORM_LIFETIME: i64 = 1800;
/// The purpose label of the sign-in form's token.
const LOGIN_PURPOSE: &str = "account-login";
/// The purpose label of the account page's forms' token.
pub(super) const PAGE_PURPOSE: &str = "account";

/// The routes of the account area (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route("/account/login", post(login))
        .route("/account/pii/delete", post(delete_pii))
        .route("/account/consent/revoke", post(revoke_consent))
}

pub(super) fn nonce_cookie_name(state: &AppState) -> String {
    if state.config.public_url.starts_with("https://") {
        format!("__Host-{NONCE_COOKIE}")
    } else {
        NONCE_COOKIE.to_owned()
    }
}

/// The signed-in session of this browser: (cookie value, session).
pub(super) fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<(String, crate::sso_sessions::IdpSession)> {
    let (session_name, _, _) = cookie_names(state);
    let c = cookie(headers, &session_name, 128)?;
    let s = state.sso.session(&c, state.clock.now())?;
    Some((c, s))
}

/// Form fields posted from the account page, carrying its CSRF token.
pub(super) trait WithCsrf {
    /// The posted token (empty when missing).
    fn csrf(&self) -> &str;
}

/// A form posted by a signed-in browser from one of the account page's forms, its CSRF token
/// checked against this browser's session cookie. A request that is not signed in (401), whose
/// form is missing or malformed (400) or whose token is wrong (403) is answered with a page
/// saying so before the handler runs, so it changes nothing.
pub(super) struct AccountForm<T> {
    /// The browser's IdP session.
    pub session: crate::sso_sessions::IdpSession,
    /// The posted fields.
    pub fields: T,
}

impl<T: serde::de::DeserializeOwned + WithCsrf + Send> axum::extract::FromRequest<AppState>
    for AccountForm<T>
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let Some((cookie_value, session)) = signed_in(state, req.headers()) else {
            return Err(account_error(
                StatusCode::UNAUTHORIZED,
                "You are not signed in here. Open the account page and sign in, then try again.",
            ));
        };
        let Ok(Form(fields)) = Form::<T>::from_request(req, state).await else {
            return Err(account_error(StatusCode::BAD_REQUEST, "The form is missing or malformed."));
        };
        if !state.sso.check_form_token(PAGE_PURPOSE, &cookie_value, fields.csrf()) {
            return Err(account_error(
                StatusCode::FORBIDDEN,
                "The form's security token is missing or wrong. Open the account page and try again.",
            ));
        }
        Ok(AccountForm { session, fields })
    }
}

/// The nonce cookie of this browser's account sign-in form, if `csrf` is that form's token.
pub(super) fn login_nonce(state: &AppState, headers: &HeaderMap, csrf: &str) -> Option<String> {
    cookie(headers, &nonce_cookie_name(state), 128)
        .filter(|n| state.sso.check_form_token(LOGIN_PURPOSE, n, csrf))
}

/// The account sign-in form, with a fresh nonce cookie (or the one the browser has).
fn sign_in_form(
    state: &AppState,
    headers: &HeaderMap,
    uid: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let name = nonce_cookie_name(state);
    let nonce = cookie(headers, &name, 128).unwrap_or_else(crate::sso_sessions::random_token);
    let csrf = state.sso.form_token(LOGIN_PURPOSE, &nonce);
    let view = html::LoginView {
        idp: &state.config.display_name,
        logo: state.logo.is_some(),
        sp: None,
        action: "/account/login",
        csrf: &csrf,
        uid,
        error,
        passkey: state.webauthn.is_some(),
    };
    let mut resp = html::login_form(&view, status);
    set_cookie(&mut resp, state, &name, &nonce, "/", FORM_LIFETIME);
    resp
}

async fn account(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some((cookie_value, session)) = signed_in(&state, &headers) else {
        return sign_in_form(&state, &headers, "", None, StatusCode::OK);
    };
    let csrf = state.sso.form_token(PAGE_PURPOSE, &cookie_value);
    let logout_csrf = state.sso.logout_token(&cookie_value);
    match account_page::render(&state, &session, &csrf, &logout_csrf) {
        Ok(resp) => resp,
        Err(e) => super::error::SsoError::SignInUnavailable(format!("account page: {e}")).into_response(),
    }
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return account_error(StatusCode::BAD_REQUEST, "The sign-in form is missing or malformed.");
    };
    let name = nonce_cookie_name(&state);
    let nonce_ok = cookie(&headers, &name, 128)
        .is_some_and(|n| state.sso.check_form_token(LOGIN_PURPOSE, &n, &form.csrf));
    if !nonce_ok {
        return account_error(
            StatusCode::FORBIDDEN,
            "The sign-in form's security token is missing or wrong. Open the account page and try again.",
        );
    }
    let LoginForm { uid, password, remember, .. } = form;
    let typed_uid: String = uid.chars().take(64).collect();
    match accounts::authenticate_async(&state, uid, Password::new(password), client).await {
        Ok(user)
            if crate::service::devices::asks_second_factor(
                &user,
                &super::devices::check(&state, &headers, &user, client),
            ) =>
        {
            let ask = super::mfa::Ask {
                uid: &user.uid,
                remember: remember.is_some(),
                step_up: None,
                login: None,
                sp: None,
            };
            super::mfa::ask(&state, ask)
        }
        Ok(user) => {
            let now = state.clock.now();
            let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
            let (cookie_value, _) = state.sso.create_session(&user.uid, now, lifetime);
            let mut resp = Redirect::to("/account").into_response();
            let (session_name, _, _) = cookie_names(&state);
            set_session_cookie(
                &mut resp,
                &state,
                &session_name,
                &cookie_value,
                remember.is_some().then_some(lifetime),
            );
            super::devices::remember(&mut resp, &state, &headers, &user.uid, client);
            set_cookie(&mut resp, &state, &name, "", "/", 0);
            resp
        }
        Err(e @ (AuthError::Failed(_) | AuthError::Throttled { .. } | AuthError::Busy { .. })) => {
            let (status, retry_after) = match e {
                AuthError::Throttled { retry_after } => (StatusCode::TOO_MANY_REQUESTS, Some(retry_after)),
                AuthError::Busy { retry_after } => (StatusCode::SERVICE_UNAVAILABLE, Some(retry_after)),
                _ => (StatusCode::UNAUTHORIZED, None),
            };
            let mut page =
                sign_in_form(&state, &headers, &typed_uid, Some(&html::sign_in_failure(&e)), status);
            if let Some(s) = retry_after {
                service_kit::problem::set_retry_after(&mut page, s);
            }
            page
        }
        Err(e) => super::error::SsoError::SignInUnavailable(e.to_string()).into_response(),
    }
}

/// An error page of the account area, with the way back to it.
pub(super) fn account_error(status: StatusCode, message: &str) -> Response {
    html::error_page_titled(status, "Account", message)
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    attribute: String,
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sp: String,
}

impl WithCsrf for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl WithCsrf for RevokeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn revoke_consent(
    State(state): State<AppState>,
    AccountForm { session, fields: form }: AccountForm<RevokeForm>,
) -> Response {
    match crate::service::consent::revoke(&state, &session.uid, &form.sp) {
        Ok(true) => Redirect::to("/account#consents").into_response(),
        Ok(false) => account_error(StatusCode::NOT_FOUND, "You have not allowed that service anything."),
        Err(e) => super::error::SsoError::SignInUnavailable(format!("revoke: {e}")).into_response(),
    }
}

async fn delete_pii(
    State(state): State<AppState>,
    AccountForm { session, fields: form }: AccountForm<DeleteForm>,
) -> Response {
    match vault::delete_pii(&state, &session.uid, &form.attribute) {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(vault::PiiError::NotFound(_) | vault::PiiError::InvalidAttribute) => {
            account_error(StatusCode::NOT_FOUND, "There is no such value in your account.")
        }
        Err(e) => super::error::SsoError::SignInUnavailable(format!("delete: {e}")).into_response(),
    }
}
