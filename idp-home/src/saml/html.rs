//! The few HTML pages of the IdP: plain, accessible, no scripts except the auto-post.

use axum::http::StatusCode;
use axum::response::Response;
pub use service_kit::html::escape;

/// The IdP's pages post the SAML response to the SP's ACS on another origin (`form-action *`)
/// and run one inline script, the auto-post.
const CSP_IDP: &str = "default-src 'none'; form-action *; script-src 'unsafe-inline'; frame-ancestors 'none'";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    service_kit::html::page(status, title, body, CSP_IDP)
}

/// An error page (never a redirect to an unverified URL).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "Sign-in failed", &format!("<p role=\"alert\">{}</p>", escape(message)))
}

/// The sign-in form.
pub fn login_form(csrf: &str, error: Option<&str>, status: StatusCode) -> Response {
    let alert = error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{alert}<form method=\"post\" action=\"/saml/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"uid\">User name</label><br><input id=\"uid\" name=\"uid\" autocomplete=\"username\" required></p>\
         <p><label for=\"password\">Password</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
         <p><button type=\"submit\">Sign in</button></p></form>",
        csrf = escape(csrf)
    );
    page(status, "Sign in", &body)
}

/// The HTTP-POST binding: a form that posts the response to the ACS URL.
pub fn auto_post(acs_url: &str, saml_response_b64: &str, relay_state: Option<&str>) -> Response {
    let relay = relay_state
        .map(|r| format!("<input type=\"hidden\" name=\"RelayState\" value=\"{}\">", escape(r)))
        .unwrap_or_default();
    let body = format!(
        "<form method=\"post\" action=\"{acs}\" id=\"saml\">\
         <input type=\"hidden\" name=\"SAMLResponse\" value=\"{resp}\">{relay}\
         <noscript><p>Your browser does not run scripts: press the button to continue.</p></noscript>\
         <button type=\"submit\">Continue</button></form>\
         <script>document.getElementById('saml').submit()</script>",
        acs = escape(acs_url),
        resp = escape(saml_response_b64)
    );
    page(StatusCode::OK, "Signing you in", &body)
}
