//! Identity propagation between agents (the paper's §6.6.2; `docs/propagation.md`).
//!
//! **Egress** (`/.idaas/partners/<name>/<path>`, for this agent's backend): the backend
//! presents the opaque session handle it received on ingress (`X-Idaas-Session`); the agent
//! attaches the user's signed assertion, the TAT re-sealed (HPKE) for the partner's HPKE key
//! and an Ed25519 signature of its own over the whole call, and sends it to the partner agent's
//! `/.idaas/call/<path>`.
//!
//! **Ingress** (`/.idaas/call/<path>`): a configured caller's signature, a ±60 s window and a
//! nonce cache come first (direct trust); then the assertion's signature and issuer; the TAT is
//! opened with this agent's key; the assertion is exchanged at the visitor IdP with this
//! agent's own client credentials (indirect trust: the visitor validates the assertion and
//! grants only this service's purposes); TAT and PAT must share (NameID, SessionIndex). What
//! those keys open goes to the backend as identity headers; no session is created.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use federation::verify::UnverifiedAssertion;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::config::PartnerConfig;
use crate::keys::KeyFileError;
use crate::session::{Propagation, Session};
use crate::AppState;

/// File name of the agent's call-signing key in the data directory.
pub const SIGNING_KEY_FILE: &str = "call-ed25519.key";
/// The egress route prefix (for the backend).
pub const EGRESS_PREFIX: &str = "/.idaas/partners/";
/// The ingress route prefix (for caller agents).
pub const INGRESS_PREFIX: &str = "/.idaas/call";
/// The session handle header the backend receives and presents on egress.
pub const SESSION_HEADER: &str = "x-idaas-session";
/// The caller's name, passed to the partner's backend.
pub const CALLER_HEADER: &str = "x-idaas-caller";
/// The caller agent's Ed25519 public key (unpadded base64url).
pub const KEY_HEADER: &str = "x-idaas-call-key";
/// The Ed25519 signature over [`CallParts::message`] (unpadded base64url).
pub const SIGNATURE_HEADER: &str = "x-idaas-call-signature";
/// Unix seconds when the call was signed.
pub const TIMESTAMP_HEADER: &str = "x-idaas-call-timestamp";
/// 16 random bytes, hex.
pub const NONCE_HEADER: &str = "x-idaas-call-nonce";
/// The signed SAML assertion, unpadded base64url.
pub const ASSERTION_HEADER: &str = "x-idaas-call-assertion";
/// The TAT sealed for the partner under [`tat_info`].
pub const TAT_HEADER: &str = "x-idaas-call-tat";
/// Accepted difference between the call's timestamp and the partner's clock, seconds.
pub const WINDOW: i64 = 60;
/// Largest propagated call body, bytes.
pub const MAX_BODY: usize = 1 << 20;
/// Most nonces (and cached PATs) remembered.
pub const MAX_REMEMBERED: usize = 100_000;

/// The agent's Ed25519 key that signs propagated calls.
pub struct CallSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CallSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSigner").field("public", &self.public_text()).finish_non_exhaustive()
    }
}

impl CallSigner {
    /// A fresh key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        CallSigner { key: SigningKey::generate(rng) }
    }

    /// Loads `<data_dir>/call-ed25519.key`, creating it (mode 0600) when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<CallSigner, KeyFileError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let err = |reason: String| KeyFileError { path: path.clone(), reason };
        federation::files::ensure_private_dir(data_dir).map_err(|e| err(e.to_string()))?;
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
            let secret: [u8; 32] =
                bytes.as_slice().try_into().map_err(|_| err("not a 32-byte Ed25519 key".into()))?;
            return Ok(CallSigner { key: SigningKey::from_bytes(&secret) });
        }
        let signer = CallSigner::generate(&mut rand_core::OsRng);
        let secret = Zeroizing::new(signer.key.to_bytes());
        federation::files::write_private(&path, secret.as_slice(), 0o600).map_err(|e| err(e.to_string()))?;
        Ok(signer)
    }

    /// The public key, unpadded base64url (what partners configure in `[[callers]]`).
    pub fn public_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// Signs `parts`.
    pub fn sign(&self, parts: &CallParts<'_>) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(&parts.message()).to_bytes())
    }
}

/// Parses an Ed25519 public key in unpadded base64url.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The HPKE `info` of a TAT re-sealed for a partner: `"idaas propagated TAT v1"`, then the
/// partner's entity ID, the SessionIndex and the assertion ID, each with a 4-byte big-endian
/// length. Distinct from [`federation::seal::tat_info`], so a propagated TAT is never taken
/// for one the home IdP sealed (and vice versa), and bound to the one assertion it travels with.
pub fn tat_info(partner_entity_id: &str, session_index: &str, assertion_id: &str) -> Vec<u8> {
    let mut info = b"idaas propagated TAT v1".to_vec();
    for part in [partner_entity_id, session_index, assertion_id] {
        info.extend_from_slice(&(part.len() as u32).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    info
}

/// What a call signature covers.
#[derive(Debug, Clone)]
pub struct CallParts<'a> {
    /// The partner's entity ID (so a call cannot be replayed at another partner).
    pub audience: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The backend path and query at the partner (`/ship?x=1`).
    pub path_and_query: &'a str,
    /// Unix seconds.
    pub timestamp: i64,
    /// The nonce (hex).
    pub nonce: &'a str,
    /// The request body.
    pub body: &'a [u8],
    /// The assertion header value.
    pub assertion: &'a str,
    /// The sealed TAT header value.
    pub sealed_tat: &'a str,
}

impl CallParts<'_> {
    /// The signed message: one field per line, the large ones as SHA-256 (hex).
    pub fn message(&self) -> Vec<u8> {
        let h = |b: &[u8]| hex::encode(Sha256::digest(b));
        format!(
            "idaas-call-v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.audience,
            self.method,
            self.path_and_query,
            self.timestamp,
            self.nonce,
            h(self.body),
            h(self.assertion.as_bytes()),
            h(self.sealed_tat.as_bytes()),
        )
        .into_bytes()
    }
}

/// The headers of a propagated call for `partner`, signed by `signer`.
#[allow(clippy::too_many_arguments)] // each is one signed field
pub fn call_headers<R: RngCore + CryptoRng>(
    signer: &CallSigner,
    partner: &PartnerConfig,
    seal_suite: federation::seal::SealSuite,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    session_index: &str,
    propagation: &Propagation,
    now: i64,
    rng: &mut R,
) -> Result<Vec<(&'static str, String)>, federation::seal::SealError> {
    let audience = partner.entity_id();
    let info = tat_info(&audience, session_index, &propagation.assertion_id);
    let sealed_tat = federation::seal::seal(seal_suite, &partner.tat_key, &info, &propagation.tat, rng)?;
    let assertion = URL_SAFE_NO_PAD.encode(propagation.assertion_xml.as_bytes());
    let mut n = [0u8; 16];
    rng.fill_bytes(&mut n);
    let nonce = hex::encode(n);
    let parts = CallParts {
        audience: &audience,
        method,
        path_and_query,
        timestamp: now,
        nonce: &nonce,
        body,
        assertion: &assertion,
        sealed_tat: &sealed_tat,
    };
    let signature = signer.sign(&parts);
    Ok(vec![
        (KEY_HEADER, signer.public_text()),
        (SIGNATURE_HEADER, signature),
        (TIMESTAMP_HEADER, now.to_string()),
        (NONCE_HEADER, nonce),
        (ASSERTION_HEADER, assertion),
        (TAT_HEADER, sealed_tat),
    ])
}

/// An exchanged PAT (wiped on drop) and until when it may be reused.
type CachedPat = (Zeroizing<Vec<u8>>, i64);

/// Whether `path_and_query` is a plain absolute path: its path is in the canonical form of
/// [`crate::paths`] already (no dot-segments, no empty segments, no backslash or `;`, no
/// encoded dot, slash, backslash or percent, nothing a URL library would rewrite). The call
/// signature covers the exact text, and the path that is signed, checked against the
/// caller's prefixes and the access rules is the one the backend receives.
pub fn is_plain_path(path_and_query: &str) -> bool {
    crate::paths::is_canonical(path_and_query)
}

/// Remembered nonces and exchanged PATs.
#[derive(Default)]
pub struct Memory {
    nonces: Mutex<HashMap<[u8; 32], i64>>,
    pats: Mutex<HashMap<[u8; 32], CachedPat>>,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("propagation::Memory")
    }
}

fn memory_key(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

impl Memory {
    /// Records `nonce` of `caller` until `until`; false if it was seen (or the cache is full).
    pub fn fresh_nonce(&self, caller: &str, nonce: &str, now: i64, until: i64) -> bool {
        let mut seen = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        let k = memory_key(&[caller, nonce]);
        if seen.get(&k).is_some_and(|&u| u > now) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, u| *u > now);
            if seen.len() >= MAX_REMEMBERED {
                return false; // refusing beats forgetting a nonce inside its window
            }
        }
        seen.insert(k, until);
        true
    }

    fn pat(&self, issuer: &str, assertion_id: &str, now: i64) -> Option<Zeroizing<Vec<u8>>> {
        let pats = self.pats.lock().unwrap_or_else(PoisonError::into_inner);
        pats.get(&memory_key(&[issuer, assertion_id])).filter(|(_, u)| *u > now).map(|(p, _)| p.clone())
    }

    fn remember_pat(&self, issuer: &str, assertion_id: &str, pat: Zeroizing<Vec<u8>>, now: i64, until: i64) {
        let mut pats = self.pats.lock().unwrap_or_else(PoisonError::into_inner);
        if pats.len() >= MAX_REMEMBERED {
            pats.retain(|_, (_, u)| *u > now);
            if pats.len() >= MAX_REMEMBERED {
                return;
            }
        }
        pats.insert(memory_key(&[issuer, assertion_id]), (pat, until));
    }

    /// Drops what has expired.
    pub fn sweep(&self, now: i64) {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, u| *u > now);
        self.pats.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, (_, u)| *u > now);
    }
}

/// Why a propagated call (either side) was refused. The message is safe to show and log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No such partner configured.
    #[error("no partner named '{0}' is configured")]
    UnknownPartner(String),
    /// `X-Idaas-Session` missing, unknown or expired.
    #[error("the session handle is missing, unknown or expired")]
    Session,
    /// The session has no propagation material (not a PBE sign-in).
    #[error("this session cannot be propagated (no assertion and TAT)")]
    NotPropagatable,
    /// A required call header is missing or malformed.
    #[error("the call is malformed: {0}")]
    Malformed(&'static str),
    /// The body is too large.
    #[error("the call body is too large")]
    TooLarge,
    /// The key is not a configured caller's.
    #[error("the caller is not known to this service")]
    UnknownCaller,
    /// The signature does not verify.
    #[error("the caller's signature does not verify")]
    BadSignature,
    /// The timestamp is outside the window.
    #[error("the call's timestamp is outside the accepted window")]
    Stale,
    /// The nonce was seen.
    #[error("the call was already received (replay)")]
    Replayed,
    /// The caller may not call this path.
    #[error("the caller may not call this path")]
    PathNotAllowed,
    /// The assertion does not verify or is from another issuer / not yet valid.
    #[error("the propagated assertion was refused: {0}")]
    Assertion(String),
    /// The TAT does not open with this agent's key for this session and assertion.
    #[error("the TAT is not sealed for this service and session")]
    Tat,
    /// The visitor IdP refused the exchange.
    #[error(transparent)]
    Exchange(#[from] crate::exchange::ExchangeError),
    /// The PAT does not open or is for another session.
    #[error("the Purpose Access Token is not sealed for this service and session")]
    Pat,
    /// TAT/PAT mismatch.
    #[error(transparent)]
    Keys(#[from] crate::pii::KeyError),
    /// RBAC.
    #[error("the user's groups do not allow this request here")]
    Forbidden,
    /// The partner could not be reached.
    #[error("the partner service could not be reached")]
    Unreachable,
}

impl CallError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        use crate::exchange::ExchangeError;
        match self {
            CallError::UnknownPartner(_) => (StatusCode::NOT_FOUND, "unknown_partner"),
            CallError::Session => (StatusCode::UNAUTHORIZED, "invalid_session"),
            CallError::NotPropagatable => (StatusCode::CONFLICT, "not_propagatable"),
            CallError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_call"),
            CallError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            CallError::UnknownCaller => (StatusCode::UNAUTHORIZED, "unknown_caller"),
            CallError::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
            CallError::Stale => (StatusCode::UNAUTHORIZED, "stale_call"),
            CallError::Replayed => (StatusCode::UNAUTHORIZED, "replayed_call"),
            CallError::PathNotAllowed => (StatusCode::FORBIDDEN, "path_not_allowed"),
            CallError::Assertion(_) => (StatusCode::FORBIDDEN, "invalid_assertion"),
            CallError::Tat => (StatusCode::FORBIDDEN, "invalid_tat"),
            CallError::Exchange(ExchangeError::Transport(_)) => {
                (StatusCode::BAD_GATEWAY, "visitor_unreachable")
            }
            CallError::Exchange(_) => (StatusCode::FORBIDDEN, "exchange_refused"),
            CallError::Pat => (StatusCode::FORBIDDEN, "invalid_pat"),
            CallError::Keys(_) => (StatusCode::FORBIDDEN, "key_mismatch"),
            CallError::Forbidden => (StatusCode::FORBIDDEN, "access_denied"),
            CallError::Unreachable => (StatusCode::BAD_GATEWAY, "partner_unreachable"),
        }
    }
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        (status, axum::Json(serde_json::json!({"error": code, "error_description": self.to_string()})))
            .into_response()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn read_body(body: Body) -> Result<Bytes, CallError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| CallError::TooLarge)
}

/// Headers of the backend's request that go on to the partner: no hop-by-hop, identity,
/// forwarding, cookie or authorization header.
fn outbound_headers(state: &AppState, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let connection = crate::proxy::connection_named(headers);
    for (name, value) in headers {
        let n = name.as_str();
        if crate::proxy::is_dropped_request_header(state, n, &connection)
            || matches!(n, "cookie" | "authorization")
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// `/.idaas/partners/<name>/<path>`: the backend calls a partner on the user's behalf.
/// Accepted only from the backend's addresses ([`crate::config::Config::egress_sources`]):
/// a session handle that leaked to a browser is of no use from anywhere else.
pub async fn egress(state: AppState, client: Option<std::net::IpAddr>, req: Request<Body>) -> Response {
    let allowed = client.is_some_and(|c| {
        let c = c.to_canonical();
        state.egress_sources.contains(&c)
    });
    if !allowed {
        tracing::info!(reason = "egress_source", "outbound propagated call refused");
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "error": "egress_source",
                "error_description": "the partner route is only for this agent's backend",
            })),
        )
            .into_response();
    }
    match egress_inner(&state, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(reason = e.status_and_code().1, "outbound propagated call refused");
            e.into_response()
        }
    }
}

async fn egress_inner(state: &AppState, req: Request<Body>) -> Result<Response, CallError> {
    let (parts, body) = req.into_parts();
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if !is_plain_path(pq) {
        return Err(CallError::Malformed("path: not in plain form (docs/web-agent.md, request paths)"));
    }
    let rest = pq.strip_prefix(EGRESS_PREFIX).ok_or(CallError::Malformed("path"))?;
    let (name, path_and_query) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') && is_plain_path(&rest[i..]) => (&rest[..i], &rest[i..]),
        _ => return Err(CallError::Malformed("path: /.idaas/partners/<name>/<path>")),
    };
    let partner = state
        .config
        .partners
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| CallError::UnknownPartner(name.chars().take(64).collect()))?;
    crate::paths::record_decision("egress", path_and_query.split('?').next().unwrap_or_default());
    let now = state.clock.now();
    let session = header(&parts.headers, SESSION_HEADER)
        .and_then(|h| state.sessions.by_handle(h, now))
        .ok_or(CallError::Session)?;
    let propagation = session.propagation.as_ref().ok_or(CallError::NotPropagatable)?;
    let body = read_body(body).await?;
    let call = call_headers(
        &state.signer,
        partner,
        state.key.suite(),
        parts.method.as_str(),
        path_and_query,
        &body,
        &session.session_index,
        propagation,
        now,
        &mut rand_core::OsRng,
    )
    .map_err(|_| CallError::Malformed("the partner's tat_key"))?;
    let mut headers = outbound_headers(state, &parts.headers);
    for (n, v) in call {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(HeaderName::from_static(n), v);
        }
    }
    let url = format!("{}{INGRESS_PREFIX}{path_and_query}", partner.url.trim_end_matches('/'));
    tracing::info!(
        partner = %partner.name,
        user = %federation::redact::log_id(&session.user),
        "propagating the user's identity"
    );
    let resp =
        state.backend.request(parts.method, &url).headers(headers).body(body).send().await.map_err(|e| {
            tracing::warn!(partner = %partner.name, error = %e.without_url(), "partner unreachable");
            CallError::Unreachable
        })?;
    // The partner's answer must not tell this backend who the user is or set idaas cookies.
    Ok(crate::proxy::stream_response(resp, Some(state)))
}

/// A call that passed the caller checks.
struct Checked {
    caller: String,
    path_and_query: String,
}

fn check_caller(
    state: &AppState,
    method: &Method,
    pq: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Checked, CallError> {
    let path_and_query =
        pq.strip_prefix(INGRESS_PREFIX).filter(|p| is_plain_path(p)).ok_or(CallError::Malformed("path"))?;
    let get = |n: &'static str| header(headers, n).ok_or(CallError::Malformed(n));
    let key = get(KEY_HEADER)?;
    let caller = state
        .config
        .callers
        .iter()
        .find(|c| c.public_key.trim() == key.trim())
        .ok_or(CallError::UnknownCaller)?;
    let verifying = parse_public_key(&caller.public_key).ok_or(CallError::UnknownCaller)?;
    let timestamp: i64 =
        get(TIMESTAMP_HEADER)?.parse().map_err(|_| CallError::Malformed(TIMESTAMP_HEADER))?;
    let nonce = get(NONCE_HEADER)?;
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CallError::Malformed(NONCE_HEADER));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(get(SIGNATURE_HEADER)?)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or(CallError::Malformed(SIGNATURE_HEADER))?;
    let audience = state.config.entity_id.clone();
    let parts = CallParts {
        audience: &audience,
        method: method.as_str(),
        path_and_query,
        timestamp,
        nonce,
        body,
        assertion: get(ASSERTION_HEADER)?,
        sealed_tat: get(TAT_HEADER)?,
    };
    verifying.verify_strict(&parts.message(), &signature).map_err(|_| CallError::BadSignature)?;
    let now = state.clock.now();
    if (now - timestamp).abs() > WINDOW {
        return Err(CallError::Stale);
    }
    // Recorded only after the signature verified, so strangers cannot burn nonces.
    if !state.propagation.fresh_nonce(&caller.name, nonce, now, timestamp + WINDOW + 1) {
        return Err(CallError::Replayed);
    }
    let path = path_and_query.split('?').next().unwrap_or_default();
    if !caller.allowed_prefixes.iter().any(|p| crate::rbac::covers(p, path)) {
        return Err(CallError::PathNotAllowed);
    }
    Ok(Checked { caller: caller.name.clone(), path_and_query: path_and_query.to_owned() })
}

/// `/.idaas/call/<path>`: a partner agent calls this service on a user's behalf.
pub async fn ingress(state: AppState, client: Option<std::net::IpAddr>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let caller_key = header(&parts.headers, KEY_HEADER).map(federation::redact::log_id);
    match ingress_inner(&state, client, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(
                reason = e.status_and_code().1,
                caller_key = caller_key.as_deref().unwrap_or("-"),
                "propagated call refused"
            );
            e.into_response()
        }
    }
}

async fn ingress_inner(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    parts: axum::http::request::Parts,
    body: Body,
) -> Result<Response, CallError> {
    let body = read_body(body).await?;
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let checked = check_caller(state, &parts.method, &pq, &parts.headers, &body)?;
    let assertion_b64 = header(&parts.headers, ASSERTION_HEADER).unwrap_or_default();
    if assertion_b64.len() > crate::acs::MAX_ENCODED {
        return Err(CallError::Malformed("assertion too large"));
    }
    let xml = URL_SAFE_NO_PAD
        .decode(assertion_b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(CallError::Malformed(ASSERTION_HEADER))?;
    let started = std::time::Instant::now();
    let assertion = {
        let trust = state.idp.trust.clone();
        let xml = xml.clone();
        tokio::task::spawn_blocking(move || {
            UnverifiedAssertion::parse(&xml, crate::acs::MAX_XML).and_then(|u| u.verify(&trust))
        })
        .await
        .map_err(|_| CallError::Assertion("verification failed".into()))?
        .map_err(|e| CallError::Assertion(e.to_string()))?
    };
    if assertion.issuer() != state.idp.entity_id {
        return Err(CallError::Assertion("unknown issuer".into()));
    }
    let now = state.clock.now();
    let skew = i64::from(state.config.clock_skew_seconds);
    assertion.check_not_before(now, skew).map_err(|e| CallError::Assertion(e.to_string()))?;
    let visitor = state.config.visitor.as_ref().ok_or(CallError::Pat)?;
    let user = assertion.name_id().value.clone();
    let session_index = assertion.session_index().ok_or(CallError::Tat)?.to_owned();
    let suite = assertion
        .attribute(federation::assertion::SUITE_ATTRIBUTE)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| "bls12-381".into());
    let info = tat_info(&state.config.entity_id, &session_index, assertion.id());
    let sealed = header(&parts.headers, TAT_HEADER).unwrap_or_default();
    let tat = state.key.open(sealed, &info).map_err(|_| CallError::Tat)?;
    let ciphertexts: Vec<(String, String)> = assertion
        .attributes()
        .iter()
        .filter_map(|(name, values)| {
            let attr = name.strip_prefix(federation::assertion::PII_PREFIX)?;
            crate::config::is_pii_name(attr)
                .then(|| (attr.to_owned(), values.first().cloned().unwrap_or_default()))
        })
        .collect();
    let (tat_suite, tat_cts) = (suite.clone(), ciphertexts.clone());
    let verified_at = started.elapsed();
    let tat_job = tokio::task::spawn_blocking(move || crate::pii::Tat::decode(&tat_suite, &tat, &tat_cts));

    let pat = match state.propagation.pat(assertion.issuer(), assertion.id(), now) {
        Some(p) => p,
        None => {
            let exchanged = crate::exchange::exchange(&state.http, visitor, &xml).await?;
            if exchanged.fields.pbe_suite != suite {
                return Err(crate::pii::KeyError::Suite.into());
            }
            let text: Zeroizing<Vec<u8>> = if exchanged.fields.pat_sealed {
                let info = federation::pat::pat_info(&visitor.client_id, &session_index);
                state.key.open(&exchanged.fields.purpose_access_token, &info).map_err(|_| CallError::Pat)?
            } else {
                Zeroizing::new(exchanged.fields.purpose_access_token.as_bytes().to_vec())
            };
            let pat = Zeroizing::new(pbe_core::wire::from_binary_or_text(&text).map_err(|_| CallError::Pat)?);
            // Each client may exchange an assertion once: later calls with the same assertion
            // reuse the PAT, for as long as the caller's sign-in could last.
            let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
            let until = assertion.session_not_on_or_after().map_or(now + lifetime, |e| e.min(now + lifetime));
            state.propagation.remember_pat(
                assertion.issuer(),
                assertion.id(),
                pat.clone(),
                now,
                until.max(now + 60),
            );
            pat
        }
    };
    let pat_at = started.elapsed();
    let tat = tat_job.await.map_err(|_| CallError::Tat)?.map_err(|_| CallError::Tat)?;
    let tat_at = started.elapsed();
    let (u, s) = (user.clone(), session_index.clone());
    let opened =
        tokio::task::spawn_blocking(move || crate::pii::open_decoded(&tat, &pat, &u, &s, &ciphertexts))
            .await
            .map_err(|_| CallError::Pat)??;

    tracing::debug!(
        verified_us = verified_at.as_micros() as u64,
        pat_us = pat_at.as_micros() as u64,
        tat_us = tat_at.as_micros() as u64,
        opened_us = started.elapsed().as_micros() as u64,
        "propagated call timings"
    );
    let groups = crate::acs::map_groups(state, assertion.attribute("groups").unwrap_or_default());
    let path = checked.path_and_query.split('?').next().unwrap_or_default();
    crate::paths::record_decision("ingress", path);
    let decision =
        state.rules.read().unwrap_or_else(PoisonError::into_inner).check(&parts.method, path, &groups);
    if let crate::rbac::Decision::Deny { .. } = decision {
        return Err(CallError::Forbidden);
    }
    tracing::info!(
        caller = %checked.caller,
        user = %federation::redact::log_id(&user),
        opened = opened.values.len(),
        "propagated call accepted"
    );
    // A transient view for the identity headers; nothing is stored.
    let view = Session {
        user,
        groups,
        pii: opened.values,
        session_index,
        expires: now,
        closed: opened.closed,
        handle: String::new(),
        propagation: None,
    };
    let mut identity = crate::proxy::identity_headers(state, &view);
    identity.push((HeaderName::from_static(CALLER_HEADER), crate::proxy::header_value(&checked.caller)));
    let mut builder = Request::builder().method(parts.method).uri(checked.path_and_query.as_str());
    if let Some(h) = builder.headers_mut() {
        *h = parts.headers;
    }
    let req = builder.body(Body::from(body)).map_err(|_| CallError::Malformed("path"))?;
    Ok(crate::proxy::forward(state, req, client, identity).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn parts<'a>(body: &'a [u8]) -> CallParts<'a> {
        CallParts {
            audience: "https://delivery/saml/metadata",
            method: "POST",
            path_and_query: "/ship",
            timestamp: 100,
            nonce: "00112233445566778899aabbccddeeff",
            body,
            assertion: "a",
            sealed_tat: "t",
        }
    }

    #[test]
    fn every_field_is_signed() {
        let r = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let signer = CallSigner::generate(r);
        let key = parse_public_key(&signer.public_text()).unwrap();
        let p = parts(b"{}");
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signer.sign(&p)).unwrap()).unwrap();
        assert!(key.verify_strict(&p.message(), &sig).is_ok());
        let variants = [
            CallParts { audience: "https://other/saml/metadata", ..p.clone() },
            CallParts { method: "GET", ..p.clone() },
            CallParts { path_and_query: "/ship?x", ..p.clone() },
            CallParts { timestamp: 101, ..p.clone() },
            CallParts { nonce: "00112233445566778899aabbccddeefe", ..p.clone() },
            CallParts { body: b"{ }", ..p.clone() },
            CallParts { assertion: "b", ..p.clone() },
            CallParts { sealed_tat: "u", ..p.clone() },
        ];
        for v in variants {
            assert!(key.verify_strict(&v.message(), &sig).is_err(), "{v:?}");
        }
        let other = CallSigner::generate(r);
        assert!(parse_public_key(&other.public_text()).unwrap().verify_strict(&p.message(), &sig).is_err());
        assert!(parse_public_key("AAAA").is_none());
    }

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

    #[test]
    fn nonces_are_accepted_once_within_their_window() {
        let m = Memory::default();
        assert!(m.fresh_nonce("shop", "n", 0, 10));
        assert!(!m.fresh_nonce("shop", "n", 5, 15));
        assert!(m.fresh_nonce("other", "n", 5, 15), "per caller");
        assert!(m.fresh_nonce("shop", "n", 11, 20), "forgotten after its window");
    }

    #[test]
    fn propagated_tat_info_is_distinct_and_unambiguous() {
        assert_ne!(tat_info("a", "s", "id"), federation::seal::tat_info("a", "s"));
        assert_ne!(tat_info("ab", "c", "d"), tat_info("a", "bc", "d"));
    }

    #[test]
    fn signing_key_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = CallSigner::load_or_create(dir.path()).unwrap();
        let b = CallSigner::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_text(), b.public_text());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
