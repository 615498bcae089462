//! Every header name the agent owns (`X-Idaas-*`) and the rules for which headers cross the
//! agent, in one place. What is filtered where is described in [`crate::proxy`]; the
//! constants and predicates here are what it, the propagation routes and the configuration
//! defaults use, so one list decides.

use axum::http::{header, HeaderMap, HeaderValue};

// The one loop between files of this crate, and a trivial one: the configuration takes its
// header-name defaults (constants) from here, and the identity-header rules here read the
// configured names. Constants cannot form an initialisation cycle; moving them into `config`
// would split the one list of header names this module exists to be.
use crate::config::Config;

/// The prefix of every header the agent owns (lower-case). A client or backend never gets
/// to send one through the agent.
pub const IDAAS_PREFIX: &str = "x-idaas-";

/// Default header carrying the user's NameID to the backend.
pub const DEFAULT_USER: &str = "X-Idaas-User";
/// Default header carrying the user's groups (comma-separated).
pub const DEFAULT_GROUPS: &str = "X-Idaas-Groups";
/// Default prefix of the PII headers (`X-Idaas-Pii-Lastname`).
pub const DEFAULT_PII_PREFIX: &str = "X-Idaas-Pii-";

/// The session handle header the backend receives and presents on egress.
pub const SESSION_HEADER: &str = "x-idaas-session";
/// Why PII values stayed closed, to the backend: `name=reason; …` ([`crate::explain`]).
pub const MISSING_HEADER: &str = "x-idaas-missing";
/// The caller's name, passed to the partner's backend.
pub const CALLER_HEADER: &str = "x-idaas-caller";
/// The caller agent's Ed25519 public key (unpadded base64url).
pub const KEY_HEADER: &str = "x-idaas-call-key";
/// The Ed25519 signature over the call's signed message (unpadded base64url).
pub const SIGNATURE_HEADER: &str = "x-idaas-call-signature";
/// Unix seconds when the call was signed.
pub const TIMESTAMP_HEADER: &str = "x-idaas-call-timestamp";
/// 16 random bytes, hex.
pub const NONCE_HEADER: &str = "x-idaas-call-nonce";
/// The signed SAML assertion, unpadded base64url.
pub const ASSERTION_HEADER: &str = "x-idaas-call-assertion";
/// The TAT sealed for the partner.
pub const TAT_HEADER: &str = "x-idaas-call-tat";
/// The PII bundle (the assertion's ciphertexts, fetched from the home IdP) sealed for the
/// partner.
pub const PII_HEADER: &str = "x-idaas-call-pii";

/// The forwarding headers the agent sets itself (the client's are dropped).
pub const FORWARDED_FOR: &str = "x-forwarded-for";
/// See [`FORWARDED_FOR`].
pub const FORWARDED_PROTO: &str = "x-forwarded-proto";
/// See [`FORWARDED_FOR`].
pub const FORWARDED_HOST: &str = "x-forwarded-host";

/// Hop-by-hop headers (RFC 9110 §7.6.1) and others a proxy must not forward.
pub const HOP_BY_HOP: &[&str] = &[
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

/// Forwarding headers a client could forge besides every `x-forwarded-*`.
pub const FORWARDING: &[&str] = &["forwarded", "x-real-ip", "x-client-ip", "true-client-ip"];

/// Headers of the backend's request that never go on to a partner (credentials of this
/// service's own users).
pub const NOT_TO_PARTNERS: &[&str] = &["cookie", "authorization"];

/// Whether `name` (lower-case) is a hop-by-hop header a proxy must not forward.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// Forwarding headers a client could forge; the agent sets its own `X-Forwarded-*`.
pub fn is_forwarding_header(name: &str) -> bool {
    name.starts_with("x-forwarded-") || FORWARDING.contains(&name)
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

/// Whether a header from a client (or a backend calling a partner) must not be forwarded:
/// hop-by-hop, named in `Connection`, containing `_`, an identity or forwarding header.
pub fn is_dropped_request_header(config: &Config, name: &str, connection: &[String]) -> bool {
    is_hop_by_hop(name)
        || connection.iter().any(|c| c == name)
        || name.contains('_')
        || is_identity_header(config, name)
        || is_forwarding_header(name)
}

/// Whether `name` is an identity header the agent controls (any `X-Idaas-*`, and every
/// configured header name).
pub fn is_identity_header(config: &Config, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with(IDAAS_PREFIX)
        || lower.starts_with(&config.headers.pii_prefix.to_ascii_lowercase())
        || lower == config.headers.user.to_ascii_lowercase()
        || lower == config.headers.groups.to_ascii_lowercase()
        || config.claims_mapping.values().any(|h| h.eq_ignore_ascii_case(&lower))
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

/// The value of header `name` when it is text.
pub fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
    fn every_owned_name_is_under_the_idaas_prefix() {
        for n in [
            SESSION_HEADER,
            CALLER_HEADER,
            KEY_HEADER,
            SIGNATURE_HEADER,
            TIMESTAMP_HEADER,
            NONCE_HEADER,
            ASSERTION_HEADER,
            TAT_HEADER,
            PII_HEADER,
        ] {
            assert!(n.starts_with(IDAAS_PREFIX), "{n}");
        }
        for n in [DEFAULT_USER, DEFAULT_GROUPS, DEFAULT_PII_PREFIX] {
            assert!(n.to_ascii_lowercase().starts_with(IDAAS_PREFIX), "{n}");
        }
        for n in [FORWARDED_FOR, FORWARDED_PROTO, FORWARDED_HOST, "forwarded", "x-real-ip"] {
            assert!(is_forwarding_header(n), "{n}");
        }
    }
}
