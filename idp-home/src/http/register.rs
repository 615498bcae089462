//! Registration in the browser (issue 18): `GET /register` (the form, linked from every sign-in
//! form) and `POST /register` (the same [`accounts::register`] as `POST /api/users`, then a
//! page saying where the verification link went). The form's CSRF token is bound to the same
//! nonce cookie as the account sign-in form's ([`super::account::NONCE_COOKIE`]).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use service_kit::html::{escape, links};

use super::account::{nonce_cookie_name, FORM_LIFETIME};
use super::sso::{cookie, set_cookie};
use crate::saml::html;
use crate::service::accounts::{self, RegisterError};
use crate::service::passwords::Password;
use crate::state::AppState;

/// The purpose label of the registration form's token.
const PURPOSE: &str = "register";

/// The routes (merged into [`super::app`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/register", get(form).post(register))
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// The form, with `uid` and `email` filled in again after a refusal.
fn page(
    state: &AppState,
    headers: &HeaderMap,
    uid: &str,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let name = nonce_cookie_name(state);
    let nonce = cookie(headers, &name, 128).unwrap_or_else(crate::sso_sessions::random_token);
    let csrf = state.sso.form_token(PURPOSE, &nonce);
    let alert = error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let first = if uid.is_empty() { " autofocus" } else { "" };
    let body = format!(
        "<p class=\"lead\">Create your account at {idp}. We send a link to your e-mail address; open it \
         before you sign in.</p>{alert}<form method=\"post\" action=\"/register\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"uid\">User name</label><br><input id=\"uid\" name=\"uid\" value=\"{uid}\" autocomplete=\"username\" \
         autocapitalize=\"none\" required maxlength=\"64\" pattern=\"[a-zA-Z0-9_.-]+\"{first}>\
         <br><span class=\"muted\">Letters, digits, '_', '.', '-'.</span></p>\
         <p><label for=\"email\">E-mail address</label><br><input id=\"email\" name=\"email\" type=\"email\" value=\"{email}\" \
         autocomplete=\"email\" required></p>\
         <p><label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"new-password\" required minlength=\"{min}\"{pw_focus}><br><span class=\"muted\">At least {min} characters.</span></p>\
         <p><button type=\"submit\">Create account</button></p></form>{more}",
        idp = escape(&state.config.display_name),
        csrf = escape(&csrf),
        uid = escape(uid),
        email = escape(email),
        min = crate::service::passwords::MIN_PASSWORD_CHARS,
        pw_focus = if uid.is_empty() { "" } else { " autofocus" },
        more = links(&[("/account", "I have an account: sign in")]),
    );
    let mut resp = html::idp_page(state, status, "Create an account", &body);
    set_cookie(&mut resp, state, &name, &nonce, "/", FORM_LIFETIME);
    resp
}

async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state, &headers, "", "", None, StatusCode::OK)
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<RegisterForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return html::error_page_titled(
            StatusCode::BAD_REQUEST,
            "Create an account",
            "The form is missing or malformed.",
        );
    };
    let nonce_ok = cookie(&headers, &nonce_cookie_name(&state), 128)
        .is_some_and(|n| state.sso.check_form_token(PURPOSE, &n, &form.csrf));
    if !nonce_ok {
        return html::error_page_titled(
            StatusCode::FORBIDDEN,
            "Create an account",
            "The form's security token is missing or wrong. Open the registration page and try again.",
        );
    }
    let uid: String = form.uid.chars().take(64).collect();
    let email: String = form.email.chars().take(254).collect();
    match accounts::register(&state, &form.uid, &form.email, Password::new(form.password)).await {
        Ok(registered) => {
            let waiting = if registered.user.groups.is_empty() {
                " Until an administrator gives your account its groups, services may show you a \
                 page saying you have no access yet."
            } else {
                ""
            };
            let body = format!(
                "<p role=\"status\">We sent a verification link to <strong>{}</strong>. Open it, then sign in \
                 as <strong>{}</strong>.{waiting}</p>{}",
                escape(&registered.user.email),
                escape(&registered.user.uid),
                links(&[("/account", "Sign in")])
            );
            html::idp_page(&state, StatusCode::CREATED, "Check your e-mail", &body)
        }
        Err(
            e @ (RegisterError::InvalidUid | RegisterError::InvalidEmail(_) | RegisterError::InvalidPassword),
        ) => {
            page(&state, &headers, &uid, &email, Some(&capitalised(&e.to_string())), StatusCode::BAD_REQUEST)
        }
        Err(RegisterError::UidTaken) => page(
            &state,
            &headers,
            "",
            &email,
            Some("This user name is taken. Choose another one."),
            StatusCode::CONFLICT,
        ),
        Err(RegisterError::Busy { retry_after }) => {
            let mut resp = page(
                &state,
                &headers,
                &uid,
                &email,
                Some("Too many registrations at once; try again shortly."),
                StatusCode::SERVICE_UNAVAILABLE,
            );
            service_kit::problem::set_retry_after(&mut resp, retry_after);
            resp
        }
        Err(e) => super::error::SsoError::SignInUnavailable(format!("registration: {e}")).into_response(),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
