//! The demo backends of the quickstart: every request is answered with what the backend
//! learnt about the user from the agent's identity headers —
//! `{"service", "user", "groups", "pii": {...}}` as JSON, or a small HTML page when the
//! client asks for `text/html`.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use serde_json::json;

/// The session handle header the agent gives the backend.
pub const SESSION_HEADER: &str = "x-idaas-session";

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
    let mut out = json!({"service": service, "user": get("x-idaas-user"), "groups": groups, "pii": pii});
    // Set by the agent for a propagated call: the partner that called on the user's behalf.
    if let Some(caller) = get("x-idaas-caller") {
        out["caller"] = json!(caller);
    }
    // Set by the agent: why values it could not open stayed closed (`name=reason; …`).
    if let Some(missing) = get("x-idaas-missing") {
        let why: BTreeMap<&str, &str> = missing.split("; ").filter_map(|item| item.split_once('=')).collect();
        out["missing"] = json!(why);
    }
    out
}

/// The backend app for `service`.
pub fn app(service: &'static str) -> Result<Router, service_kit::tls::TlsError> {
    app_with_agent(service, None, None)
}

/// The backend app for `service`, which can reach partners through its agent at `agent_url`:
/// `POST /order` calls the delivery service's `/ship` on the user's behalf
/// (docs/propagation.md) and answers `{"shopping_saw": …, "delivery_saw": …}`.
/// `POST /order?smuggle=1` also sends the PII it saw in headers named like identity headers,
/// to show that the agents strip them.
/// `extra_ca`: a CA the client to the agent trusts besides the system's (the quickstart's
/// local CA with `--tls`).
pub fn app_with_agent(
    service: &'static str,
    agent_url: Option<String>,
    extra_ca: Option<&std::path::Path>,
) -> Result<Router, service_kit::tls::TlsError> {
    let http = service_kit::tls::client_builder(extra_ca)?
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(service_kit::tls::TlsError::Client)?;
    Ok(Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let (agent_url, http) = (agent_url.clone(), http.clone());
            async move {
                if method == Method::POST && uri.path() == "/order" {
                    return order(service, agent_url.as_deref(), &http, &uri, &headers, body).await;
                }
                answer(service, &method, &uri, &headers, agent_url.is_some())
            }
        },
    ))
}

/// The shopping side of an order: ship it through the agent's partner route.
async fn order(
    service: &str,
    agent_url: Option<&str>,
    http: &reqwest::Client,
    uri: &Uri,
    headers: &HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let shopping_saw = seen(service, headers);
    let err = |status: StatusCode, msg: &str| {
        (status, axum::Json(json!({"error": msg, "shopping_saw": shopping_saw.clone()}))).into_response()
    };
    let Some(agent) = agent_url else {
        return err(StatusCode::NOT_IMPLEMENTED, "this backend was started without its agent's URL");
    };
    let Some(handle) = headers.get(SESSION_HEADER).cloned() else {
        return err(StatusCode::UNAUTHORIZED, "no session handle from the agent");
    };
    let mut req = http
        .post(format!("{agent}/.idaas/partners/delivery/ship"))
        .header(SESSION_HEADER, handle)
        .header(header::CONTENT_TYPE, "application/json")
        .body(if body.is_empty() { axum::body::Bytes::from_static(b"{\"item\":\"42\"}") } else { body });
    if uri.query().is_some_and(|q| q.split('&').any(|p| p == "smuggle=1")) {
        // A misbehaving backend: everything it knows, in headers named like identity headers.
        for (name, value) in headers {
            let n = name.as_str();
            if n.starts_with(PII_PREFIX) || n == "x-idaas-user" || n == "x-idaas-groups" {
                req = req.header(name.clone(), value.clone());
            }
        }
        req = req.header("x-idaas-pii-dob", "1980-01-01").header("x-idaas-user", "mallory");
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(_) => return err(StatusCode::BAD_GATEWAY, "the agent could not be reached"),
    };
    let status = resp.status();
    let delivery_saw: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    (code, axum::Json(json!({"shopping_saw": shopping_saw, "delivery_saw": delivery_saw}))).into_response()
}

/// The demo's pages: the start page, shopping's `/cart`, `/order` and `/upload`, delivery's `/ship`,
/// the reserved `/admin` area (the quickstart's 403 example), shopping's `/reports` (open
/// only with a group owner's approval), and a few pages the end-to-end
/// tests visit. Anything else is a 404, as on a real service.
pub const PAGES: &[&str] = &[
    "/",
    "/cart",
    "/order",
    "/ship",
    "/upload",
    "/admin",
    "/report",
    "/reports",
    "/late",
    "/metrics-check",
    "/peer",
];

/// Whether `path` is one of [`PAGES`] (or below `/admin`).
pub fn is_page(path: &str) -> bool {
    PAGES.contains(&path) || path.starts_with("/admin/")
}

fn answer(service: &str, method: &Method, uri: &Uri, headers: &HeaderMap, can_order: bool) -> Response {
    if !is_page(uri.path()) {
        return service_kit::html::not_found(headers);
    }
    let mut body = seen(service, headers);
    body["request"] = json!({"method": method.as_str(), "path": uri.path()});
    let wants_html =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return axum::Json(body).into_response();
    }
    let esc = service_kit::html::escape;
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
    // What the agent could not open, and why, in the words it gives.
    if let Some(missing) = body["missing"].as_object() {
        for (k, v) in missing {
            rows.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td class=\"muted\">not shown: {}</td></tr>",
                esc(k),
                esc(v.as_str().unwrap_or(""))
            ));
        }
    }
    // The agent in front serves the shared stylesheet on this origin.
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"{css}\"><title>{s}</title></head><body><main>\
         <h1>The {s} service</h1><p>Signed in as <strong>{u}</strong> (groups: {g}).</p>\
         <table><caption>What {u}'s disclosure rules let this service see</caption>{rows}</table>\
         {order}<form method=\"post\" action=\"/saml/logout\"><p><button type=\"submit\">Sign out</button></p></form>\
         </main></body></html>",
        order = if can_order && service == "shopping" {
            "<form method=\"post\" action=\"/order\"><button>Place an order (shipped by the delivery \
             service on your behalf)</button></form>"
        } else {
            ""
        },
        css = service_kit::html::STYLESHEET_PATH,
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

    #[test]
    fn only_the_demo_pages_exist() {
        assert!(is_page("/") && is_page("/cart") && is_page("/admin/users"));
        assert!(!is_page("/nope") && !is_page("/cartx") && !is_page("/administrator"));
    }
}
