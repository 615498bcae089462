//! The few pages the agent itself answers with (errors, 403, sign-out), in the shared page
//! shell of `service_kit::html` (every dynamic value escaped, never cached or framed).

use axum::http::StatusCode;
use axum::response::Response;
use service_kit::html::{escape, links, message_page, message_page_with, Link, CSP_FORMS_SELF};

/// Where "Sign in again" goes: a fresh sign-in back to this service's start page.
pub const SIGN_IN_AGAIN: Link<'static> = ("/saml/login", "Sign in again");

/// A page with a title and one paragraph of text, and a link to the start page.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    message_page(status, title, message)
}

/// A page with a title, one paragraph of text and its own links.
pub fn page_with(status: StatusCode, title: &str, message: &str, more: &[Link<'_>]) -> Response {
    message_page_with(status, title, message, more)
}

/// The end of a sign-out: the message and "Sign in again".
pub fn signed_out(message: &str) -> Response {
    message_page_with(StatusCode::OK, "Signed out", message, &[SIGN_IN_AGAIN])
}

/// The sign-out confirmation: `GET /saml/logout` changes nothing, this form POSTs the
/// sign-out with a CSRF token bound to the session. No script and no framing (the button must
/// not be clicked through a frame); the form posts only to this origin.
pub fn confirm_logout(csrf: &str) -> Response {
    let body = format!(
        "<p>Sign out of this service?</p>\
         <form method=\"post\" action=\"/saml/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" autofocus>Sign out</button>\
         </form><p class=\"muted\">This also signs you out of your identity provider and of the other \
         services you signed in to with it.</p>{}",
        escape(csrf),
        links(&[("/", "Stay signed in and go back")])
    );
    service_kit::html::page(StatusCode::OK, "Sign out", &body, CSP_FORMS_SELF)
}
