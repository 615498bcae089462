//! The HTML every service answers with for people: one escaping function, one page shell and
//! one small stylesheet, so every page has the same head (charset, viewport, language, the
//! stylesheet), the same headers (never cached, never framed, a content security policy), a
//! way forward (links under the text) and no unescaped dynamic value.
//!
//! Every service serves the stylesheet at [`STYLESHEET_PATH`] ([`stylesheet`]); it uses no web
//! fonts and no external resource, and follows the system's dark mode
//! (`prefers-color-scheme`). Browsers get HTML error pages ([`not_found`],
//! [`method_not_allowed`]), API clients problem documents ([`wants_html`] decides).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where every service serves [`STYLESHEET`] (under `/.idaas/`, so an agent never shadows a
/// backend's own paths).
pub const STYLESHEET_PATH: &str = "/.idaas/style.css";
/// The shared stylesheet (system fonts, light and dark colours).
pub const STYLESHEET: &str = include_str!("style.css");

/// The content security policy of a page with no script and no form (styles from this origin).
pub const CSP_STATIC: &str = "default-src 'none'; style-src 'self'; frame-ancestors 'none'";
/// A page whose forms post back to the same origin (sign-in, sign-out confirmation).
pub const CSP_FORMS_SELF: &str =
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'";

/// A link under a page's text: `(href, text)`; both are escaped by the shell.
pub type Link<'a> = (&'a str, &'a str);

/// Escapes text for HTML element content and for double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` (escaped here) as `<title>` and `<h1>`, then `body_html`, which the
/// caller has built with [`escape`] around every dynamic value. `csp` is the page's
/// Content-Security-Policy (one of the constants above, or a stricter one of the caller's;
/// it must allow `style-src 'self'` for the stylesheet).
pub fn page(status: StatusCode, title: &str, body_html: &str, csp: &'static str) -> Response {
    branded_page(status, None, title, body_html, csp)
}

/// [`page`] under a header naming the service (`brand`, escaped here): the IdP's display
/// name, so a person sees whom they are talking to.
pub fn branded_page(
    status: StatusCode,
    brand: Option<&str>,
    title: &str,
    body_html: &str,
    csp: &'static str,
) -> Response {
    branded_page_with_logo(status, brand, None, title, body_html, csp)
}

/// [`branded_page`] with the service's logo (`logo`: its path on this origin, escaped here)
/// before the name; `csp` must then allow `img-src 'self'`.
pub fn branded_page_with_logo(
    status: StatusCode,
    brand: Option<&str>,
    logo: Option<&str>,
    title: &str,
    body_html: &str,
    csp: &'static str,
) -> Response {
    let logo = logo.map(|l| format!("<img src=\"{}\" alt=\"\">", escape(l))).unwrap_or_default();
    let brand =
        brand.map(|b| format!("<header class=\"brand\">{logo}{}</header>", escape(b))).unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\">\
         <title>{t}</title></head><body>{brand}<main><h1>{t}</h1>{body_html}</main></body></html>\n",
        t = escape(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    resp
}

/// The links under a page's text (`<nav class="actions">`), each `(href, text)` escaped here.
/// Empty when there are none.
pub fn links(links: &[Link<'_>]) -> String {
    if links.is_empty() {
        return String::new();
    }
    let items: String = links
        .iter()
        .map(|(href, text)| format!("<a href=\"{}\">{}</a>", escape(href), escape(text)))
        .collect();
    format!("<nav class=\"actions\">{items}</nav>")
}

/// A page with one paragraph of text (escaped here), announced to assistive technology, and
/// a way on: a link to this service's start page (`/`).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    message_page_with(status, title, message, &[("/", "Go to the start page")])
}

/// [`message_page`] with its own links under the text (`(href, text)`, escaped here). An error
/// (status ≥ 400) is announced as an alert, anything else as a status.
pub fn message_page_with(status: StatusCode, title: &str, message: &str, more: &[Link<'_>]) -> Response {
    let role = if status.is_client_error() || status.is_server_error() { "alert" } else { "status" };
    let body = format!("<p role=\"{role}\">{}</p>{}", escape(message), links(more));
    page(status, title, &body, CSP_STATIC)
}

/// The stylesheet at [`STYLESHEET_PATH`]: `text/css`, cacheable for an hour.
pub fn stylesheet() -> Response {
    let mut resp = (StatusCode::OK, STYLESHEET).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// Whether the request comes from a browser showing pages (its `Accept` names `text/html`),
/// rather than an API client (which gets problem documents).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

/// A 404 for an unknown path: an HTML page with a way on for a browser, a problem document
/// (`urn:idaas:problem:not-found`) for an API client.
pub fn not_found(headers: &HeaderMap) -> Response {
    if wants_html(headers) {
        message_page(StatusCode::NOT_FOUND, "Page not found", "There is no page at this address.")
    } else {
        crate::problem::response(StatusCode::NOT_FOUND, "not-found", "Not found", "no such endpoint")
    }
}

/// A 405 for a known path asked with the wrong method, in the client's format.
pub fn method_not_allowed(headers: &HeaderMap) -> Response {
    if wants_html(headers) {
        message_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not available this way",
            "This address cannot be opened like this (wrong request method).",
        )
    } else {
        crate::problem::response(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this endpoint does not take this method",
        )
    }
}

/// A 500-class failure in the client's format (`title` and `message` are for people; the
/// cause belongs in the log, never here).
pub fn server_error(headers: &HeaderMap, status: StatusCode, title: &str, message: &str) -> Response {
    if wants_html(headers) {
        message_page(status, title, message)
    } else {
        crate::problem::response(status, "internal", title, message)
    }
}

/// For a browser (its `Accept` names `text/html`), an error answered as a problem document
/// (`application/problem+json`: an API endpoint opened in the browser, the layers' 408 and
/// 413, a 5xx) becomes a page with the problem's title and detail and a way on; API clients
/// keep the problem document. `Retry-After`, `Allow` and `WWW-Authenticate` are kept. A
/// service puts it around its own routes (`axum::middleware::from_fn`); a proxy must not (its
/// backends' answers are theirs to shape).
pub async fn problems_as_pages(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let html = wants_html(req.headers());
    let res = next.run(req).await;
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(crate::problem::PROBLEM_JSON.as_bytes()));
    if !html || !is_problem || res.status().as_u16() < 400 {
        return res;
    }
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let title = problem["title"].as_str().filter(|t| !t.is_empty()).unwrap_or("Something went wrong");
    let detail =
        problem["detail"].as_str().filter(|d| !d.is_empty()).unwrap_or("The request could not be completed.");
    let mut page = message_page(parts.status, title, &capitalise(detail));
    for name in [header::RETRY_AFTER, header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}

/// The first letter in upper case (problem details are sentence fragments).
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_markup_character_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("bob é ✓"), "bob é ✓");
    }

    #[tokio::test]
    async fn a_page_escapes_its_title_and_is_never_cached_or_framed() {
        let resp = message_page(StatusCode::FORBIDDEN, "<script>t</script>", "<b>m</b>");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let h = resp.headers().clone();
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP_STATIC);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("<script>") && !body.contains("<b>"), "{body}");
        assert!(body.contains("&lt;script&gt;t&lt;/script&gt;") && body.contains("viewport"), "{body}");
        assert!(
            body.contains(STYLESHEET_PATH) && body.contains("href=\"/\""),
            "stylesheet and a way on: {body}"
        );
    }

    #[tokio::test]
    async fn browsers_get_pages_and_api_clients_problems() {
        let mut browser = HeaderMap::new();
        browser.insert(header::ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"));
        let api = HeaderMap::new();
        for (resp, status) in [
            (not_found(&browser), 404),
            (method_not_allowed(&browser), 405),
            (server_error(&browser, StatusCode::BAD_GATEWAY, "t", "m"), 502),
        ] {
            assert_eq!(resp.status().as_u16(), status);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
            assert!(String::from_utf8_lossy(&body).contains("<nav class=\"actions\">"));
        }
        for resp in [not_found(&api), method_not_allowed(&api)] {
            assert_eq!(resp.headers()[header::CONTENT_TYPE], crate::problem::PROBLEM_JSON);
        }
        let css = stylesheet();
        assert_eq!(css.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert!(STYLESHEET.contains("prefers-color-scheme") && !STYLESHEET.contains("http"));
    }

    #[tokio::test]
    async fn problems_become_pages_for_browsers_only() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/api",
                axum::routing::get(|| async {
                    let mut r = crate::problem::response(
                        StatusCode::TOO_MANY_REQUESTS,
                        "throttled",
                        "Too many",
                        "wait <a bit>",
                    );
                    crate::problem::set_retry_after(&mut r, 7);
                    r
                }),
            )
            .layer(axum::middleware::from_fn(problems_as_pages));
        let ask = |accept: &'static str| {
            axum::http::Request::get("/api")
                .header(header::ACCEPT, accept)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let page = app.clone().oneshot(ask("text/html,*/*;q=0.8")).await.unwrap();
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(page.headers()[header::RETRY_AFTER], "7");
        let body = axum::body::to_bytes(page.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("<h1>Too many</h1>") && body.contains("Wait &lt;a bit&gt;"), "{body}");
        assert!(body.contains("<nav class=\"actions\">"), "a way on: {body}");
        let api = app.oneshot(ask("application/json")).await.unwrap();
        assert_eq!(api.headers()[header::CONTENT_TYPE], crate::problem::PROBLEM_JSON);
    }

    #[test]
    fn links_are_escaped() {
        assert_eq!(links(&[]), "");
        assert_eq!(
            links(&[("/a?x=1&y=\"", "<b>")]),
            "<nav class=\"actions\"><a href=\"/a?x=1&amp;y=&quot;\">&lt;b&gt;</a></nav>"
        );
    }
}
