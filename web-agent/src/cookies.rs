//! The agent's cookies: their names (`__Host-` over https), reading them from a request,
//! setting them on a response, and the rule that idaas cookies never cross the proxy
//! (neither forwarded to a backend nor set by one).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

use crate::config::Config;

/// Cookie-name prefixes reserved for idaas: never forwarded to a backend, never set by one.
pub const RESERVED_COOKIE_PREFIXES: &[&str] = &["idaas_", "__host-idaas_", "__secure-idaas_"];

/// The `kind` of the session cookie (see [`cookie_name`]).
pub const SESSION_KIND: &str = "agent";
/// The `kind` of the sign-in cookie (pending AuthnRequests of this browser).
pub const SIGNIN_KIND: &str = "signin";
/// The `kind` of the sign-out cookie (the LogoutRequest this browser carries to the IdP).
pub const SLO_KIND: &str = "slo";

/// The agent's session cookie name: `idaas_agent_` + 8 hex digits derived from the entity
/// ID. Browsers do not separate cookies by port, so two agents on one host (the quickstart)
/// must not share a cookie name. See [`cookie_name`] for the `__Host-` prefix.
pub fn session_cookie_name(entity_id: &str) -> String {
    format!("idaas_{SESSION_KIND}_{}", &service_kit::redact::log_id(entity_id)[..8])
}

/// The name of one of the agent's cookies (`kind`: `agent` for the session, `signin` for
/// pending sign-ins): `idaas_<kind>_<8 hex of the entity ID>`, with the `__Host-` prefix
/// when the agent is served over https (its `public_url`), so that the browser accepts it
/// only with `Secure`, `Path=/` and no `Domain`: no other host can set or shadow it.
pub fn cookie_name(config: &Config, kind: &str) -> String {
    let name = format!("idaas_{kind}_{}", &service_kit::redact::log_id(&config.entity_id)[..8]);
    if config.secure_cookies() {
        format!("__Host-{name}")
    } else {
        name
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (empty values count as none).
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_owned())
        })
}

/// Sets (or, with `max_age` 0, removes) the session cookie `name`: `HttpOnly`,
/// `SameSite=Lax`, and `Secure` over https.
pub fn set_session(resp: &mut Response, name: &str, secure: bool, value: &str, max_age: i64) {
    let secure = if secure { "; Secure" } else { "" };
    let c = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Sets (or, with `max_age` 0, removes) the sign-in cookie `name`. Over https it is
/// `SameSite=None`: the IdP's auto-posted form is a cross-site POST when the IdP is on
/// another site, and the cookie must come with it. That is safe here: the cookie only ever
/// lets a response in that this browser asked for. Over http (development, one host) it is
/// `SameSite=Lax`, which browsers require without `Secure`.
pub fn set_signin(resp: &mut Response, name: &str, secure: bool, value: &str, max_age: i64) {
    let attrs = if secure { "Secure; SameSite=None" } else { "SameSite=Lax" };
    let c = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; {attrs}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether a cookie name is reserved for idaas (case-insensitively: some frameworks fold).
pub fn is_reserved_cookie(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    RESERVED_COOKIE_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// The `Cookie` header without any idaas cookie.
pub fn without_ours(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !is_reserved_cookie(c.split('=').next().unwrap_or_default()))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Whether a `Set-Cookie` value sets an idaas cookie.
pub fn sets_reserved_cookie(value: &HeaderValue) -> bool {
    // A value that is not text cannot be checked: dropped too.
    value.to_str().map_or(true, |v| is_reserved_cookie(v.split(['=', ';']).next().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idaas_cookies_never_cross() {
        assert_eq!(
            without_ours("a=1; idaas_agent_1=s; __Host-idaas_agent_2=s; IDAAS_login=x; b=2").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without_ours("idaas_idp_session=secret"), None);
        assert!(sets_reserved_cookie(&HeaderValue::from_static("idaas_idp_session=x; Path=/")));
        assert!(sets_reserved_cookie(&HeaderValue::from_static("__Secure-idaas_x=1")));
        assert!(!sets_reserved_cookie(&HeaderValue::from_static("theme=dark; Path=/")));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; idaas_agent_x=; idaas_agent=2"));
        h.append(header::COOKIE, HeaderValue::from_static("b=3"));
        assert_eq!(read(&h, "idaas_agent").as_deref(), Some("2"));
        assert_eq!(read(&h, "b").as_deref(), Some("3"));
        assert_eq!(read(&h, "idaas_agent_x"), None, "empty is none");
        assert_eq!(read(&h, "c"), None);
        assert_eq!(session_cookie_name("https://sp").len(), "idaas_agent_".len() + 8);
    }
}
