//! Passwords in the browser (issue 18): `/account/password` (change, signed in, the current
//! password required; every other session of the user ends) and `/password/reset` (a link by
//! e-mail, then `/password/reset/confirm?token=…` to choose a new one; every session ends).
//! The logic is [`crate::service::password_change`]'s. Each form's CSRF token is bound to a
//! cookie only this browser holds (the IdP session, or the nonce cookie of the sign-in form).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use service_kit::html::{escape, links};

use super::account::{nonce_cookie_name, FORM_LIFETIME};
use super::extract::ClientAddr;
use super::sso::{cookie, cookie_names, set_cookie};
use crate::saml::html;
use crate::service::accounts::AuthError;
use crate::service::password_change::{self, ChangeError};
use crate::service::passwords::{Password, MIN_PASSWORD_CHARS};
use crate::state::AppState;

/// The routes (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/password", get(change_form).post(change))
        .route("/password/reset", get(reset_form).post(reset_request))
        .route("/password/reset/confirm", get(confirm_form).post(confirm))
}

#[derive(Deserialize, Default)]
struct Fields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    token: String,
}

fn shell(state: &AppState, status: StatusCode, title: &str, body: &str) -> Response {
    html::idp_page(state, status, title, body)
}

fn alert(error: Option<&str>) -> String {
    error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default()
}

fn new_password_field() -> String {
    format!(
        "<p><label for=\"new\">New password</label><br><input id=\"new\" name=\"new\" type=\"password\" \
         autocomplete=\"new-password\" required minlength=\"{MIN_PASSWORD_CHARS}\"><br>\
         <span class=\"muted\">At least {MIN_PASSWORD_CHARS} characters.</span></p>"
    )
}

/// The session cookie and session of this browser.
fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<(String, crate::sso_sessions::IdpSession)> {
    let (name, _, _) = cookie_names(state);
    let c = cookie(headers, &name, 128)?;
    let s = state.sso.session(&c, state.clock.now())?;
    Some((c, s))
}

/// A form bound to the nonce cookie (no session): its token for `purpose`, and the cookie to
/// set on the answer.
fn nonce_token(state: &AppState, headers: &HeaderMap, purpose: &str) -> (String, String) {
    let nonce =
        cookie(headers, &nonce_cookie_name(state), 128).unwrap_or_else(crate::sso_sessions::random_token);
    (state.sso.form_token(purpose, &nonce), nonce)
}

fn nonce_ok(state: &AppState, headers: &HeaderMap, purpose: &str, csrf: &str) -> bool {
    cookie(headers, &nonce_cookie_name(state), 128)
        .is_some_and(|n| state.sso.check_form_token(purpose, &n, csrf))
}

fn forged() -> Response {
    html::error_page_titled(
        StatusCode::FORBIDDEN,
        "Password",
        "The form's security token is missing or wrong. Open the page again and retry.",
    )
}

fn change_page(state: &AppState, csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = format!(
        "{alert}<form method=\"post\" action=\"/account/password\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"current\">Current password</label><br><input id=\"current\" name=\"current\" type=\"password\" \
         autocomplete=\"current-password\" required autofocus></p>{new}\
         <p><button type=\"submit\">Change password</button></p></form>\
         <p class=\"muted\">Your other devices will be signed out.</p>{more}",
        alert = alert(error),
        csrf = escape(csrf),
        new = new_password_field(),
        more = links(&[("/account", "Back to your account")]),
    );
    shell(state, status, "Change your password", &body)
}

async fn change_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers) {
        Some((c, _)) => change_page(&state, &state.sso.form_token("password", &c), None, StatusCode::OK),
        None => Redirect::to("/account").into_response(),
    }
}

async fn change(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some((c, session)) = signed_in(&state, &headers) else {
        return html::error_page_titled(StatusCode::UNAUTHORIZED, "Password", "You are not signed in.");
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !state.sso.check_form_token("password", &c, &form.csrf) {
        return forged();
    }
    let csrf = state.sso.form_token("password", &c);
    let result = password_change::change(
        &state,
        &session.uid,
        Password::new(form.current),
        Password::new(form.new),
        client,
    )
    .await;
    match result {
        Ok(()) => {
            let ended = state.sso.end_others(&session.uid, &session.id);
            tracing::info!(ended, "other sessions ended after a password change");
            let body = format!(
                "<p role=\"status\">Your password is changed. Your other devices are signed out.</p>{}",
                links(&[("/account", "Back to your account")])
            );
            shell(&state, StatusCode::OK, "Password changed", &body)
        }
        Err(e) => change_error(&state, &csrf, e),
    }
}

fn change_error(state: &AppState, csrf: &str, e: ChangeError) -> Response {
    let (status, retry_after) = match &e {
        ChangeError::Auth(AuthError::Throttled { retry_after }) => {
            (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
        }
        ChangeError::Auth(AuthError::Busy { retry_after }) | ChangeError::Busy { retry_after } => {
            (StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
        }
        ChangeError::Auth(AuthError::Failed(_)) => (StatusCode::UNAUTHORIZED, None),
        ChangeError::InvalidPassword => (StatusCode::BAD_REQUEST, None),
        _ => {
            return super::error::SsoError::SignInUnavailable(format!("password change: {e}"))
                .into_response();
        }
    };
    let message = match &e {
        ChangeError::Auth(AuthError::Failed(_)) => "The current password is wrong.".to_owned(),
        other => other.to_string(),
    };
    let mut resp = change_page(state, csrf, Some(&message), status);
    if let Some(s) = retry_after {
        service_kit::problem::set_retry_after(&mut resp, s);
    }
    resp
}

async fn reset_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, nonce) = nonce_token(&state, &headers, "reset");
    let body = format!(
        "<p class=\"lead\">We send a link to the e-mail address of your account.</p>\
         <form method=\"post\" action=\"/password/reset\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <p><label for=\"uid\">User name</label><br><input id=\"uid\" name=\"uid\" autocomplete=\"username\" \
         autocapitalize=\"none\" required autofocus></p><p><button type=\"submit\">Send the link</button></p></form>{}",
        escape(&csrf),
        links(&[("/account", "Back to sign-in")])
    );
    let mut resp = shell(&state, StatusCode::OK, "Reset your password", &body);
    set_cookie(&mut resp, &state, &nonce_cookie_name(&state), &nonce, "/", FORM_LIFETIME);
    resp
}

async fn reset_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !nonce_ok(&state, &headers, "reset", &form.csrf) {
        return forged();
    }
    if let Err(e) = password_change::request_reset(&state, &form.uid, state.clock.now()) {
        return super::error::SsoError::SignInUnavailable(format!("password reset: {e}")).into_response();
    }
    // The same answer whether or not the account exists.
    let body = format!(
        "<p role=\"status\">If an account with this user name exists, we sent a link to its e-mail address. \
         Open it to choose a new password.</p>{}",
        links(&[("/account", "Back to sign-in")])
    );
    shell(&state, StatusCode::OK, "Check your e-mail", &body)
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn confirm_page(
    state: &AppState,
    csrf: &str,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = format!(
        "{alert}<form method=\"post\" action=\"/password/reset/confirm\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">{new}<p><button type=\"submit\">Set the new password</button></p></form>",
        alert = alert(error),
        csrf = escape(csrf),
        token = escape(token),
        new = new_password_field().replacen("required", "required autofocus", 1),
    );
    shell(state, status, "Choose a new password", &body)
}

async fn confirm_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = query.map(|Query(q)| q.token).unwrap_or_default();
    let (csrf, nonce) = nonce_token(&state, &headers, "reset-confirm");
    let token: String = token.chars().take(128).collect();
    let mut resp = confirm_page(&state, &csrf, &token, None, StatusCode::OK);
    set_cookie(&mut resp, &state, &nonce_cookie_name(&state), &nonce, "/", FORM_LIFETIME);
    resp
}

async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !nonce_ok(&state, &headers, "reset-confirm", &form.csrf) {
        return forged();
    }
    let now = state.clock.now();
    match password_change::reset(&state, &form.token, Password::new(form.new), now).await {
        Ok(uid) => {
            let ended = state.sso.end_all_of(&uid, now).len();
            tracing::info!(ended, "sessions ended after a password reset");
            let body = format!(
                "<p role=\"status\">Your password is changed. Sign in with the new one.</p>{}",
                links(&[("/account", "Sign in")])
            );
            shell(&state, StatusCode::OK, "Password changed", &body)
        }
        Err(e @ ChangeError::InvalidPassword) => {
            confirm_page(&state, &form.csrf, &form.token, Some(&e.to_string()), StatusCode::BAD_REQUEST)
        }
        Err(e @ ChangeError::InvalidToken) => {
            let body = format!(
                "<p role=\"alert\">{}</p>{}",
                escape(&e.to_string()),
                links(&[("/password/reset", "Ask for a new link")])
            );
            shell(&state, StatusCode::BAD_REQUEST, "Reset failed", &body)
        }
        Err(ChangeError::Busy { retry_after }) => {
            let mut resp = confirm_page(
                &state,
                &form.csrf,
                &form.token,
                Some("The server is busy; try again shortly."),
                StatusCode::SERVICE_UNAVAILABLE,
            );
            service_kit::problem::set_retry_after(&mut resp, retry_after);
            resp
        }
        Err(e) => super::error::SsoError::SignInUnavailable(format!("password reset: {e}")).into_response(),
    }
}
