//! Forwarding to the backend: method, path, query, streaming body both ways, status and
//! headers; hop-by-hop headers dropped; `X-Forwarded-*` added; every client-sent copy of an
//! identity header removed before the agent adds its own; the agent's session cookie never
//! reaches the backend.

use std::net::IpAddr;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::session::Session;
use crate::{html, AppState};

/// Hop-by-hop headers (RFC 9110 §7.6.1) and others a proxy must not forward.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Whether `name` (lower-case) is a hop-by-hop header a proxy must not forward.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// Whether `name` is an identity header the agent controls (any `X-Idaas-*`, and every
/// configured header name).
pub fn is_identity_header(state: &AppState, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("x-idaas-")
        || lower.starts_with(&state.config.headers.pii_prefix.to_ascii_lowercase())
        || lower == state.config.headers.user.to_ascii_lowercase()
        || lower == state.config.headers.groups.to_ascii_lowercase()
        || state.config.claims_mapping.values().any(|h| h.eq_ignore_ascii_case(&lower))
}

/// A header value for arbitrary UTF-8: `%` and every byte outside printable ASCII are
/// percent-encoded (the backend percent-decodes; plain ASCII values arrive unchanged).
pub fn header_value(s: &str) -> HeaderValue {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The identity headers for `session`.
pub fn identity_headers(state: &AppState, session: &Session) -> Vec<(HeaderName, HeaderValue)> {
    let h = &state.config.headers;
    let mut out = Vec::new();
    let mut push = |name: &str, value: &str| {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            out.push((n, header_value(value)));
        }
    };
    push(&h.user, &session.user);
    if !session.handle.is_empty() {
        push(crate::propagation::SESSION_HEADER, &session.handle);
    }
    push(&h.groups, &session.groups.join(","));
    for (attr, value) in &session.pii {
        match state.config.claims_mapping.get(attr) {
            Some(name) => push(name, value),
            None => push(&format!("{}{}", h.pii_prefix, capitalise(attr)), value),
        }
    }
    out
}

fn capitalise(attr: &str) -> String {
    attr.split(['_', '-', '.'])
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `Cookie` header without the agent's own cookie.
fn cookies_without_ours(value: &str, ours: &str) -> Option<String> {
    let ours = format!("{ours}=");
    let kept: Vec<&str> =
        value.split(';').map(str::trim).filter(|c| !c.is_empty() && !c.starts_with(&ours)).collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Forwards `req` to the backend, with `identity` added.
pub async fn forward(
    state: &AppState,
    req: Request<Body>,
    client: Option<IpAddr>,
    identity: Vec<(HeaderName, HeaderValue)>,
) -> Response {
    let (parts, body) = req.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{}", state.config.backend_url, path_and_query);
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || is_identity_header(state, n)
            || n.starts_with("x-forwarded-")
            || n == "forwarded"
        {
            continue;
        }
        if name == header::COOKIE {
            if let Some(v) = value.to_str().ok().and_then(|v| cookies_without_ours(v, &state.cookie_name)) {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    headers.append(header::COOKIE, v);
                }
            }
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Some(ip) = client {
        headers.insert("x-forwarded-for", header_value(&ip.to_string()));
    }
    let proto = if state.config.secure_cookies() { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    for (name, value) in identity {
        headers.append(name, value);
    }
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    let upstream = state.backend.request(parts.method, &url).headers(headers).body(body).send().await;
    match upstream {
        Ok(resp) => stream_response(resp),
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "backend unreachable");
            html::page(
                StatusCode::BAD_GATEWAY,
                "Service unavailable",
                "The service behind this agent did not answer.",
            )
        }
    }
}

/// An upstream response streamed back, without hop-by-hop headers.
pub fn stream_response(resp: reqwest::Response) -> Response {
    let mut out = Response::builder().status(resp.status());
    if let Some(h) = out.headers_mut() {
        for (name, value) in resp.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                h.append(name.clone(), value.clone());
            }
        }
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_survive_any_text() {
        assert_eq!(header_value("Tri").to_str().unwrap(), "Tri");
        assert_eq!(header_value("Müller\r\nX: 1%").to_str().unwrap(), "M%C3%BCller%0D%0AX: 1%25");
    }

    #[test]
    fn names_and_cookies() {
        assert_eq!(capitalise("lastname"), "Lastname");
        assert_eq!(capitalise("date_of_birth"), "Date-Of-Birth");
        assert_eq!(cookies_without_ours("a=1; ours=secret; b=2", "ours").as_deref(), Some("a=1; b=2"));
        assert_eq!(cookies_without_ours("ours=secret", "ours"), None);
    }
}
