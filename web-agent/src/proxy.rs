//! Forwarding to the backend: method, path, query, streaming body both ways, status and
//! headers. On the way in (issue 14, items 2 and 3): hop-by-hop headers and every header
//! named in `Connection` are dropped; every header whose name contains `_` is dropped (CGI,
//! WSGI and PHP fold `_` and `-` into one variable name, so `X_Idaas_User` would read as the
//! identity header); every client-sent identity header, `X-Forwarded-*`, `Forwarded` and
//! `X-Real-IP` are dropped and the agent sets its own `X-Forwarded-For/-Proto/-Host`; every
//! idaas cookie (names starting `idaas_`, `__Host-idaas_` or `__Secure-idaas_`: any agent's,
//! the IdP's, the sign-in cookies) is removed from `Cookie`. On the way out: hop-by-hop
//! headers and headers named in `Connection` are dropped, and so is a `Set-Cookie` that
//! would set an idaas cookie. The header names and predicates are in [`crate::headers`], the
//! cookie rules in [`crate::cookies`].

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use crate::config::Config;
use crate::cookies;
use crate::error::ProxyError;
// Re-exported: these lived here before `crate::headers` and `crate::cookies` held them.
pub use crate::cookies::{is_reserved_cookie, sets_reserved_cookie, RESERVED_COOKIE_PREFIXES};
pub use crate::headers::{
    connection_named, header_value, is_dropped_request_header, is_forwarding_header, is_hop_by_hop,
    is_identity_header,
};
use crate::headers::{FORWARDED_FOR, FORWARDED_HOST, FORWARDED_PROTO, MISSING_HEADER, SESSION_HEADER};
use crate::session::Session;

/// The identity headers for `session`.
pub fn identity_headers(config: &Config, session: &Session) -> Vec<(HeaderName, HeaderValue)> {
    let h = &config.headers;
    let mut out = Vec::new();
    let mut push = |name: &str, value: &str| {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            out.push((n, header_value(value)));
        }
    };
    push(&h.user, &session.user);
    if !session.handle.is_empty() {
        push(SESSION_HEADER, &session.handle);
    }
    push(&h.groups, &session.groups.join(","));
    if !session.missing.is_empty() {
        let text: Vec<String> = session.missing.iter().map(|(a, why)| format!("{a}={why}")).collect();
        push(MISSING_HEADER, &text.join("; "));
    }
    for (attr, value) in &session.pii {
        match config.claims_mapping.get(attr) {
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

/// Forwards `req` to the backend, with `identity` added.
pub async fn forward(
    config: &Config,
    backend: &reqwest::Client,
    req: Request<Body>,
    client: Option<IpAddr>,
    identity: Vec<(HeaderName, HeaderValue)>,
) -> Response {
    let (parts, body) = req.into_parts();
    // The caller passes a request whose path is canonical (crate::paths) and was decided on;
    // it is appended to the backend's base path as it is, so the base cannot be escaped.
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{}", config.backend_url, path_and_query);
    let connection = connection_named(&parts.headers);
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if is_dropped_request_header(config, name.as_str(), &connection) {
            continue;
        }
        if name == header::COOKIE {
            if let Some(v) = value.to_str().ok().and_then(cookies::without_ours) {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    headers.append(header::COOKIE, v);
                }
            }
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Some(ip) = client {
        headers.insert(FORWARDED_FOR, header_value(&ip.to_string()));
    }
    let proto = if config.secure_cookies() { "https" } else { "http" };
    headers.insert(FORWARDED_PROTO, HeaderValue::from_static(proto));
    // The public host as configured, not the client's Host header.
    if let Some(host) = url::Url::parse(&config.public_url).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
    }) {
        headers.insert(FORWARDED_HOST, header_value(&host));
    }
    for (name, value) in identity {
        headers.append(name, value);
    }
    // A failure while reading the client's body (a malformed chunk, the body limit hit while
    // streaming) also fails the upstream request; it is the client's error (400/413), not an
    // unreachable backend (502). The stream notes it on its way through.
    let client_fault = Arc::new(std::sync::Mutex::new(None::<ProxyError>));
    let noted = client_fault.clone();
    let stream = body.into_data_stream().inspect(move |chunk| {
        if let Err(e) = chunk {
            let fault =
                if is_length_limit(e) { ProxyError::ClientBodyTooLarge } else { ProxyError::ClientBody };
            *noted.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fault);
        }
    });
    let body = reqwest::Body::wrap_stream(stream);
    let upstream = backend.request(parts.method, &url).headers(headers).body(body).send().await;
    match upstream {
        Ok(resp) => stream_response(resp, None),
        Err(e) => {
            let fault = client_fault.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(fault) = fault {
                tracing::info!(error = %fault, "client request body failed");
                return fault.into_response();
            }
            tracing::warn!(error = %e.without_url(), "backend unreachable");
            ProxyError::Unreachable.into_response()
        }
    }
}

/// Whether a body error is tower-http's body limit (anywhere in its source chain).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// An upstream response streamed back, without hop-by-hop headers, headers named in its
/// `Connection`, or a `Set-Cookie` of an idaas cookie. With `identity_of` (a partner's
/// answer on its way to this agent's backend), identity headers are dropped too: only this
/// agent says who the user is.
pub fn stream_response(resp: reqwest::Response, identity_of: Option<&Config>) -> Response {
    let mut out = Response::builder().status(resp.status());
    let connection = connection_named(resp.headers());
    if let Some(h) = out.headers_mut() {
        for (name, value) in resp.headers() {
            let n = name.as_str();
            if is_hop_by_hop(n)
                || connection.iter().any(|c| c == n)
                || (name == header::SET_COOKIE && cookies::sets_reserved_cookie(value))
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
    fn pii_header_names() {
        assert_eq!(capitalise("lastname"), "Lastname");
        assert_eq!(capitalise("date_of_birth"), "Date-Of-Birth");
    }
}
