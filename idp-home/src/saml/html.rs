//! The few HTML pages of the IdP: plain, accessible, no scripts except the auto-post.

use axum::http::StatusCode;
use axum::response::Response;
pub use service_kit::html::escape;
use service_kit::html::{links, Link};

/// The IdP's pages post the SAML response to the SP's ACS on another origin (`form-action *`)
/// and run one inline script, the auto-post.
/// Images only from this origin (the logo).
pub const CSP_IDP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action *; \
     script-src 'unsafe-inline'; frame-ancestors 'none'";

/// The pages offering passkeys: the IdP's own script (`/.idaas/passkey.js`), which talks to
/// the IdP (`connect-src 'self'`), and no inline script.
pub const CSP_IDP_SCRIPTED: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action *; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// [`idp_page`] with the IdP's passkey script allowed ([`CSP_IDP_SCRIPTED`]).
pub fn idp_page_scripted(
    state: &crate::state::AppState,
    status: StatusCode,
    title: &str,
    body: &str,
) -> Response {
    let logo = state.logo.is_some().then_some(crate::logo::LOGO_PATH);
    service_kit::html::branded_page_with_logo(
        status,
        Some(&state.config.display_name),
        logo,
        title,
        body,
        CSP_IDP_SCRIPTED,
    )
}

/// The passkey button and its status line, for the script (`flow`: register, mfa, saml,
/// account).
pub fn passkey_button(flow: &str, label: &str, extra: &str) -> String {
    format!(
        "<p><button type=\"button\" id=\"idaas-passkey\" data-flow=\"{flow}\" {extra}>{label}</button></p>\
         <p id=\"idaas-passkey-status\" role=\"status\" class=\"muted\"></p>\
         <script src=\"/.idaas/passkey.js\" defer></script>",
        flow = escape(flow),
        label = escape(label),
    )
}

/// A page of the IdP under its name `idp` (and its logo, when `logo`).
pub fn branded(status: StatusCode, idp: &str, logo: bool, title: &str, body: &str) -> Response {
    let logo = logo.then_some(crate::logo::LOGO_PATH);
    service_kit::html::branded_page_with_logo(status, Some(idp), logo, title, body, CSP_IDP)
}

/// [`branded`] for `state`'s name and logo.
pub fn idp_page(state: &crate::state::AppState, status: StatusCode, title: &str, body: &str) -> Response {
    branded(status, &state.config.display_name, state.logo.is_some(), title, body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    service_kit::html::page(status, title, body, CSP_IDP)
}

/// The ways on under every error page of the IdP.
const ERROR_LINKS: &[Link<'static>] = &[("/account", "Your account"), ("/register", "Create an account")];

/// An error page (never a redirect to an unverified URL).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    error_page_titled(status, "Sign-in failed", message)
}

/// An error page with its title and the ways on ([`ERROR_LINKS`]).
pub fn error_page_titled(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<p role=\"alert\">{}</p>{}", escape(message), links(ERROR_LINKS)))
}

/// What the sign-in form says after a failed attempt, in people's words.
pub fn sign_in_failure(e: &crate::service::accounts::AuthError) -> String {
    use crate::service::accounts::AuthError;
    match e {
        AuthError::Failed(_) => "Wrong user name or password, or your e-mail address is not verified yet. \
             Try again."
            .to_owned(),
        AuthError::Throttled { retry_after } => {
            format!("Too many failed sign-ins. Wait {retry_after} seconds, then try again.")
        }
        AuthError::Busy { retry_after } => {
            format!("Too many sign-ins at once. Wait {retry_after} seconds, then try again.")
        }
        other => {
            let text = other.to_string();
            let mut c = text.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
    }
}

/// What the sign-in form shows.
#[derive(Debug, Clone, Copy)]
pub struct LoginView<'a> {
    /// The IdP's display name.
    pub idp: &'a str,
    /// Whether the IdP has a logo (`logo_file`) to show before its name.
    pub logo: bool,
    /// The display name of the service asking, if any.
    pub sp: Option<&'a str>,
    /// Where the form posts (`/saml/login` for a service's sign-in, `/account/login` for the
    /// account page).
    pub action: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// The user name to fill in again after a failed attempt.
    pub uid: &'a str,
    /// What went wrong last time.
    pub error: Option<&'a str>,
    /// Offer "Sign in with a passkey" (passkeys are available at this IdP).
    pub passkey: bool,
}

/// The sign-in form: names the IdP and the service asking, keeps the user name after a
/// failed attempt, focuses the first empty field, offers "stay signed in" (without it the
/// IdP session cookie ends with the browser session) and registration.
pub fn login_form(v: &LoginView<'_>, status: StatusCode) -> Response {
    let alert = v.error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let lead = match v.sp {
        Some(sp) => format!(
            "<p class=\"lead\"><strong>{}</strong> asks you to sign in with {}.</p>",
            escape(sp),
            escape(v.idp)
        ),
        None => format!("<p class=\"lead\">Sign in with {}.</p>", escape(v.idp)),
    };
    let (uid_focus, pw_focus) = if v.uid.is_empty() { (" autofocus", "") } else { ("", " autofocus") };
    let body = format!(
        "{lead}{alert}<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"uid\">User name</label><br><input id=\"uid\" name=\"uid\" value=\"{uid}\" autocomplete=\"username\" autocapitalize=\"none\" required{uid_focus}></p>\
         <p><label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{pw_focus}></p>\
         <p><label><input type=\"checkbox\" name=\"remember\" value=\"1\"> Stay signed in on this device</label></p>\
         <p><button type=\"submit\">Sign in</button></p>{passkey}</form>{more}",
        action = escape(v.action),
        csrf = escape(v.csrf),
        uid = escape(v.uid),
        passkey = if v.passkey {
            let flow = if v.action == "/saml/login" { "saml" } else { "account" };
            passkey_button(
                flow,
                "Sign in with a passkey",
                "data-start=\"/login/passkey/start\" data-finish=\"/login/passkey\"",
            )
        } else {
            String::new()
        },
        more = links(&[("/register", "Create an account"), ("/password/reset", "Forgot your password?")]),
    );
    if v.passkey {
        let logo = v.logo.then_some(crate::logo::LOGO_PATH);
        return service_kit::html::branded_page_with_logo(
            status,
            Some(v.idp),
            logo,
            "Sign in",
            &body,
            CSP_IDP_SCRIPTED,
        );
    }
    branded(status, v.idp, v.logo, "Sign in", &body)
}

/// The HTTP-POST binding: a form that posts the response to the ACS URL.
pub fn auto_post(acs_url: &str, saml_response_b64: &str, relay_state: Option<&str>) -> Response {
    post_form("Signing you in", acs_url, "SAMLResponse", saml_response_b64, relay_state)
}

/// The HTTP-POST binding for any message: a form that posts `field` = `value` (and the
/// RelayState) to `url`, by script or by the button.
pub fn post_form(title: &str, url: &str, field: &str, value: &str, relay_state: Option<&str>) -> Response {
    let relay = relay_state
        .map(|r| format!("<input type=\"hidden\" name=\"RelayState\" value=\"{}\">", escape(r)))
        .unwrap_or_default();
    let body = format!(
        "<form method=\"post\" action=\"{url}\" id=\"saml\">\
         <input type=\"hidden\" name=\"{field}\" value=\"{value}\">{relay}\
         <noscript><p>Your browser does not run scripts: press the button to continue.</p></noscript>\
         <button type=\"submit\">Continue</button></form>\
         <script>document.getElementById('saml').submit()</script>",
        url = escape(url),
        field = escape(field),
        value = escape(value)
    );
    page(StatusCode::OK, title, &body)
}

/// The sign-out confirmation at the IdP (`GET /logout`): changes nothing, the form POSTs the
/// sign-out with a CSRF token bound to the IdP session.
pub fn logout_form(csrf: &str) -> Response {
    let body = format!(
        "<p>Sign out of the identity provider and of every service you signed in to with it?</p>\
         <form method=\"post\" action=\"/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form>",
        escape(csrf)
    );
    page(StatusCode::OK, "Sign out", &body)
}

/// The end of a single logout at the IdP.
pub fn signed_out(partial: bool) -> Response {
    let message = if partial {
        "You are signed out of the identity provider, but some services could not be signed out. \
         Close your browser to end their sessions."
    } else {
        "You are signed out of all services."
    };
    page(
        StatusCode::OK,
        "Signed out",
        &format!("<p role=\"status\">{}</p>{}", escape(message), links(SIGNED_OUT_LINKS)),
    )
}

/// The ways on after signing out.
const SIGNED_OUT_LINKS: &[Link<'static>] = &[("/account", "Sign in again")];

/// Nobody is signed in here (`/logout` without a session).
pub fn not_signed_in() -> Response {
    page(
        StatusCode::OK,
        "Signed out",
        &format!("<p role=\"status\">You are not signed in.</p>{}", links(SIGNED_OUT_LINKS)),
    )
}

/// A service has not answered the sign-out yet: the page reloads itself (`Refresh`) until the
/// chain may go on without it.
pub fn logout_waiting(seconds: i64) -> Response {
    let body = format!(
        "<p role=\"status\">Waiting for a service to confirm the sign-out. This page goes on by itself in \
         {seconds} s; or <a href=\"/logout\">try again</a>.</p>"
    );
    let mut resp = page(StatusCode::OK, "Signing you out", &body);
    if let Ok(v) = axum::http::HeaderValue::from_str(&seconds.clamp(1, 60).to_string()) {
        resp.headers_mut().insert("refresh", v);
    }
    resp
}
