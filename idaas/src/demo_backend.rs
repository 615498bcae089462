//! The demo backends of the quickstart: every request is answered with what the backend
//! learnt about the user from the agent's identity headers —
//! `{"service", "user", "groups", "pii": {...}}` as JSON, or a small HTML page when the
//! client asks for `text/html`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use serde_json::json;

/// The PII header prefix the agents use by default.
pub const PII_PREFIX: &str = "x-idaas-pii-";

/// Percent-decodes a header value written by the agent.
pub fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the backend saw.
pub fn seen(service: &str, headers: &HeaderMap) -> serde_json::Value {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(decode);
    let mut pii = BTreeMap::new();
    for (name, value) in headers {
        if let (Some(attr), Ok(v)) = (name.as_str().strip_prefix(PII_PREFIX), value.to_str()) {
            pii.insert(attr.to_owned(), decode(v));
        }
    }
    let groups: Vec<String> = get("x-idaas-groups")
        .map(|g| g.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    json!({"service": service, "user": get("x-idaas-user"), "groups": groups, "pii": pii})
}

/// The backend app for `service`.
pub fn app(service: &'static str) -> Router {
    Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| async move {
        answer(service, &method, &uri, &headers)
    })
}

fn answer(service: &str, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
    let mut body = seen(service, headers);
    body["request"] = json!({"method": method.as_str(), "path": uri.path()});
    let wants_html =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return axum::Json(body).into_response();
    }
    let esc =
        |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut rows = String::new();
    if let Some(pii) = body["pii"].as_object() {
        for (k, v) in pii {
            rows.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                esc(k),
                esc(v.as_str().unwrap_or(""))
            ));
        }
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"2\">(no personal data was disclosed to this service)</td></tr>");
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{s}</title></head><body><main>\
         <h1>The {s} service</h1><p>Signed in as <strong>{u}</strong> (groups: {g}).</p>\
         <table><caption>What bob's disclosure rules let this service see</caption>{rows}</table>\
         <p><a href=\"/saml/logout\">Sign out</a></p></main></body></html>",
        s = esc(service),
        u = esc(body["user"].as_str().unwrap_or("-")),
        g = esc(&body["groups"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()),
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_agent_encodes() {
        assert_eq!(decode("M%C3%BCller%0A%25"), "Müller\n%");
        assert_eq!(decode("plain"), "plain");
        assert_eq!(decode("bad%zz%"), "bad%zz%");
    }
}
