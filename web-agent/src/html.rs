//! The few pages the agent itself answers with (errors, 403, sign-out), in the shared page
//! shell of `service_kit::html` (every dynamic value escaped, never cached or framed).

use axum::http::StatusCode;
use axum::response::Response;
use service_kit::html::{escape, message_page, CSP_FORMS_SELF};

/// A page with a title and one paragraph of text.
pub fn page(status: StatusCode, title: &str, message: &str) -> Response {
    message_page(status, title, message)
}

/// The sign-out confirmation: `GET /saml/logout` changes nothing, this form POSTs the
/// sign-out with a CSRF token bound to the session. No script and no framing (the button must
/// not be clicked through a frame); the form posts only to this origin.
pub fn confirm_logout(csrf: &str) -> Response {
    let body = format!(
        "<p>Sign out of this service?</p>\
         <form method=\"post\" action=\"/saml/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button>\
         </form>",
        escape(csrf)
    );
    service_kit::html::page(StatusCode::OK, "Sign out", &body, CSP_FORMS_SELF)
}
