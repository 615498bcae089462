//! The HTML every service answers with for people: one escaping function and one page shell,
//! so every page has the same head (charset, viewport, language), the same headers (never
//! cached, never framed, a content security policy) and no unescaped dynamic value.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The content security policy of a page with no script, no style source and no form.
pub const CSP_STATIC: &str = "default-src 'none'; frame-ancestors 'none'";
/// A page whose forms post back to the same origin (sign-in, sign-out confirmation).
pub const CSP_FORMS_SELF: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";

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
/// Content-Security-Policy (one of the constants above, or a stricter one of the caller's).
pub fn page(status: StatusCode, title: &str, body_html: &str, csp: &'static str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title></head><body><main><h1>{t}</h1>{body_html}</main></body></html>\n",
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

/// A page with one paragraph of text (escaped here), announced to assistive technology.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<p role=\"alert\">{}</p>", escape(message)), CSP_STATIC)
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
    }
}
