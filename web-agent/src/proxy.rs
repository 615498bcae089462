//! Forwarding to the backend: method, path, query, streaming body both ways, status and
//! headers. On the way in (issue 14, items 2 and 3): hop-by-hop headers and every header
//! named in `Connection` are dropped; every header whose name contains `_` is dropped (CGI,
//! WSGI and PHP fold `_` and `-` into one variable name, so `X_Idaas_User` would read as the
//! identity header); every client-sent identity header, `X-Forwarded-*`, `Forwarded` and
//! `X-Real-IP` are dropped and the agent sets its own `X-Forwarded-For/-Proto/-Host`; every
//! idaas cookie (names starting `idaas_`, `__Host-idaas_` or `__Secure-idaas_`: any agent's,
//! the IdP's, the sign-in cookies) is removed from `Cookie`. On the way out: hop-by-hop
//! headers and headers named in `Connection` are dropped, and so is a `Set-Cookie` that
//! would set an idaas cookie.

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

/// Forwarding headers a client could forge; the agent sets its own `X-Forwarded-*`.
pub fn is_forwarding_header(name: &str) -> bool {
    name.starts_with("x-forwarded-")
        || matches!(name, "forwarded" | "x-real-ip" | "x-client-ip" | "true-client-ip")
}

/// The (lower-case) header names listed in the `Connection` headers of `headers`: they are
/// hop-by-hop for this message (RFC 9110 §7.6.1).
pub fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Cookie-name prefixes reserved for idaas: never forwarded to a backend, never set by one.
pub const RESERVED_COOKIE_PREFIXES: &[&str] = &["idaas_", "__host-idaas_", "__secure-idaas_"];

/// Whether a cookie name is reserved for idaas (case-insensitively: some frameworks fold).
pub fn is_reserved_cookie(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    RESERVED_COOKIE_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// Whether a header from a client (or a backend calling a partner) must not be forwarded:
/// hop-by-hop, named in `Connection`, containing `_`, an identity or forwarding header.
pub fn is_dropped_request_header(state: &AppState, name: &str, connection: &[String]) -> bool {
    is_hop_by_hop(name)
        || connection.iter().any(|c| c == name)
        || name.contains('_')
        || is_identity_header(state, name)
        || is_forwarding_header(name)
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

/// The `Cookie` header without any idaas cookie.
fn cookies_without_ours(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !is_reserved_cookie(c.split('=').next().unwrap_or_default()))
        .collect();
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
    // The caller passes a request whose path is canonical (crate::paths) and was decided on;
    // it is appended to the backend's base path as it is, so the base cannot be escaped.
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{}", state.config.backend_url, path_and_query);
    let connection = connection_named(&parts.headers);
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if is_dropped_request_header(state, name.as_str(), &connection) {
            continue;
        }
        if name == header::COOKIE {
            if let Some(v) = value.to_str().ok().and_then(cookies_without_ours) {
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
    // The public host as configured, not the client's Host header.
    if let Some(host) = url::Url::parse(&state.config.public_url).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
    }) {
        headers.insert("x-forwarded-host", header_value(&host));
    }
    for (name, value) in identity {
        headers.append(name, value);
    }
    let body = reqwest::Body::wrap_stream(body.into_data_stream());
    let upstream = state.backend.request(parts.method, &url).headers(headers).body(body).send().await;
    match upstream {
        Ok(resp) => stream_response(resp, None),
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

/// Whether a `Set-Cookie` value sets an idaas cookie.
pub fn sets_reserved_cookie(value: &HeaderValue) -> bool {
    // A value that is not text cannot be checked: dropped too.
    value.to_str().map_or(true, |v| is_reserved_cookie(v.split(['=', ';']).next().unwrap_or_default()))
}

/// An upstream response streamed back, without hop-by-hop headers, headers named in its
/// `Connection`, or a `Set-Cookie` of an idaas cookie. With `identity_of` (a partner's
/// answer on its way to this agent's backend), identity headers are dropped too: only this
/// agent says who the user is.
pub fn stream_response(resp: reqwest::Response, identity_of: Option<&AppState>) -> Response {
    let mut out = Response::builder().status(resp.status());
    let connection = connection_named(resp.headers());
    if let Some(h) = out.headers_mut() {
        for (name, value) in resp.headers() {
            let n = name.as_str();
            if HOP_BY_HOP.contains(&n)
                || connection.iter().any(|c| c == n)
                || (name == header::SET_COOKIE && sets_reserved_cookie(value))
                || identity_of.is_some_and(|s| is_identity_header(s, n) || n.contains('_'))
            {
                continue;
            }
            h.append(name.clone(), value.clone());
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
        assert_eq!(
            cookies_without_ours("a=1; idaas_agent_1=s; __Host-idaas_agent_2=s; IDAAS_login=x; b=2")
                .as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(cookies_without_ours("idaas_idp_session=secret"), None);
        assert!(sets_reserved_cookie(&HeaderValue::from_static("idaas_idp_session=x; Path=/")));
        assert!(sets_reserved_cookie(&HeaderValue::from_static("__Secure-idaas_x=1")));
        assert!(!sets_reserved_cookie(&HeaderValue::from_static("theme=dark; Path=/")));
    }
}
