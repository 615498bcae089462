//! Identity propagation between agents (the paper's §6.6.2; `docs/propagation.md`).
//!
//! Files: [`signing`] (the call signature and the agent's Ed25519 key), [`memory`] (nonces
//! and exchanged PATs), [`egress`] and [`ingress`] (the two routes).
//!
//! **Egress** (`/.idaas/partners/<name>/<path>`, for this agent's backend): the backend
//! presents the opaque session handle it received on ingress (`X-Idaas-Session`); the agent
//! fetches the user's PII ciphertexts again from the home IdP with the session's
//! `idaas:pii-ref` (sessions never hold ciphertexts), attaches the user's signed assertion, the
//! TAT and the ciphertexts each re-sealed (HPKE) for the partner's HPKE key, and an Ed25519
//! signature of its own over the whole call, and sends it to the partner agent's
//! `/.idaas/call/<path>`. The partner never sees the home IdP's reference.
//!
//! **Ingress** (`/.idaas/call/<path>`): a configured caller's signature, a ±60 s window and a
//! nonce cache come first (direct trust); then the assertion's signature and issuer; then
//! [`crate::unlock`]: the TAT and the PII bundle are opened with this agent's key, each
//! ciphertext checked against the assertion's signed digest; the assertion is exchanged at
//! the visitor IdP (or its PAT is taken from [`memory`]) with this agent's own client
//! credentials (indirect trust: the visitor validates the assertion and
//! grants only this service's purposes); TAT and PAT must share (NameID, SessionIndex). What
//! those keys open goes to the backend as identity headers; no session is created.

pub mod egress;
pub mod ingress;
pub mod memory;
pub mod signing;

use axum::body::{Body, Bytes};

pub use crate::error::PropagationError;
pub use crate::headers::{
    ASSERTION_HEADER, CALLER_HEADER, KEY_HEADER, NONCE_HEADER, PII_HEADER, SESSION_HEADER, SIGNATURE_HEADER,
    TAT_HEADER, TIMESTAMP_HEADER,
};
pub use egress::egress;
pub use ingress::ingress;
pub use memory::Memory;
pub use signing::{call_headers, parse_public_key, tat_info, CallParts, CallSigner, SIGNING_KEY_FILE};

/// The egress route prefix (for the backend).
pub const EGRESS_PREFIX: &str = "/.idaas/partners/";
/// The ingress route prefix (for caller agents).
pub const INGRESS_PREFIX: &str = "/.idaas/call";
/// Accepted difference between the call's timestamp and the partner's clock, seconds.
pub const WINDOW: i64 = 60;
/// Largest propagated call body, bytes.
pub const MAX_BODY: usize = 1 << 20;
/// Most nonces (and cached PATs) remembered.
pub const MAX_REMEMBERED: usize = 100_000;

/// Whether `path_and_query` is a plain absolute path: its path is in the canonical form of
/// [`crate::paths`] already (no dot-segments, no empty segments, no backslash or `;`, no
/// encoded dot, slash, backslash or percent, nothing a URL library would rewrite). The call
/// signature covers the exact text, and the path that is signed, checked against the
/// caller's prefixes and the access rules is the one the backend receives.
pub fn is_plain_path(path_and_query: &str) -> bool {
    crate::paths::is_canonical(path_and_query)
}

async fn read_body(body: Body) -> Result<Bytes, PropagationError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| PropagationError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_are_propagated() {
        for ok in ["/", "/ship", "/ship/", "/ship/42?x=../y", "/a.b/c"] {
            assert!(is_plain_path(ok), "{ok}");
        }
        for bad in [
            "ship",
            "/ship/../admin",
            "/./ship",
            "/ship/..",
            "//admin",
            "/a//b",
            "/ship/%2e%2E/admin",
            "/ship%2Fadmin",
            "/a\\b",
        ] {
            assert!(!is_plain_path(bad), "{bad}");
        }
    }
}
