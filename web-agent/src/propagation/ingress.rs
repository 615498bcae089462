//! `/.idaas/call/<path>`: a partner agent calls this service on a user's behalf. The
//! caller checks come first (direct trust: a configured caller's signature, the window, the
//! nonce, its allowed paths), then the assertion, then [`crate::unlock`] with the PAT from
//! the propagation memory or a fresh exchange; the access rules decide and the call goes to
//! the backend with identity headers. No session is created.

use std::sync::PoisonError;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, Method, Request};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use federation::verify::UnverifiedAssertion;

use super::{
    is_plain_path, parse_public_key, read_body, tat_info, CallParts, PropagationError, INGRESS_PREFIX, WINDOW,
};
use crate::headers::{
    self, ASSERTION_HEADER, CALLER_HEADER, KEY_HEADER, NONCE_HEADER, PII_HEADER, SIGNATURE_HEADER,
    TAT_HEADER, TIMESTAMP_HEADER,
};
use crate::session::Session;
// The ingress is the body of its route and uses most of the state (configuration, trusted
// IdP, keys, clients, memory, rules): no cycle, the state does not know it.
use crate::state::AppState;
use crate::unlock::{PatSource, PiiFrom, Sealed, TatFrom};

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
) -> Result<Checked, PropagationError> {
    let path_and_query = pq
        .strip_prefix(INGRESS_PREFIX)
        .filter(|p| is_plain_path(p))
        .ok_or(PropagationError::Malformed("path"))?;
    let get = |n: &'static str| headers::text(headers, n).ok_or(PropagationError::Malformed(n));
    let key = get(KEY_HEADER)?;
    let caller = state
        .config
        .callers
        .iter()
        .find(|c| c.public_key.trim() == key.trim())
        .ok_or(PropagationError::UnknownCaller)?;
    let verifying = parse_public_key(&caller.public_key).ok_or(PropagationError::UnknownCaller)?;
    let timestamp: i64 =
        get(TIMESTAMP_HEADER)?.parse().map_err(|_| PropagationError::Malformed(TIMESTAMP_HEADER))?;
    let nonce = get(NONCE_HEADER)?;
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PropagationError::Malformed(NONCE_HEADER));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(get(SIGNATURE_HEADER)?)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or(PropagationError::Malformed(SIGNATURE_HEADER))?;
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
        sealed_pii: get(PII_HEADER)?,
    };
    verifying.verify_strict(&parts.message(), &signature).map_err(|_| PropagationError::BadSignature)?;
    let now = state.clock.now();
    if (now - timestamp).abs() > WINDOW {
        return Err(PropagationError::Stale);
    }
    // Recorded only after the signature verified, so strangers cannot burn nonces.
    if !state.propagation.fresh_nonce(&caller.name, nonce, now, timestamp + WINDOW + 1) {
        return Err(PropagationError::Replayed);
    }
    let path = path_and_query.split('?').next().unwrap_or_default();
    if !caller.allowed_prefixes.iter().any(|p| crate::rbac::covers(p, path)) {
        return Err(PropagationError::PathNotAllowed);
    }
    Ok(Checked { caller: caller.name.clone(), path_and_query: path_and_query.to_owned() })
}

/// `/.idaas/call/<path>`: a partner agent calls this service on a user's behalf.
pub async fn ingress(state: AppState, client: Option<std::net::IpAddr>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let caller_key = headers::text(&parts.headers, KEY_HEADER).map(service_kit::redact::log_id);
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
) -> Result<Response, PropagationError> {
    let body = read_body(body).await?;
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let checked = check_caller(state, &parts.method, &pq, &parts.headers, &body)?;
    let assertion_b64 = headers::text(&parts.headers, ASSERTION_HEADER).unwrap_or_default();
    if assertion_b64.len() > crate::acs::MAX_ENCODED {
        return Err(PropagationError::Malformed("assertion too large"));
    }
    let xml = URL_SAFE_NO_PAD
        .decode(assertion_b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(PropagationError::Malformed(ASSERTION_HEADER))?;
    let started = std::time::Instant::now();
    let assertion = {
        let trust = state.idp().trust.clone();
        let xml = xml.clone();
        tokio::task::spawn_blocking(move || {
            UnverifiedAssertion::parse(&xml, crate::acs::MAX_XML).and_then(|u| u.verify(&trust))
        })
        .await
        .map_err(|_| PropagationError::Assertion("verification failed".into()))?
        .map_err(|e| PropagationError::Assertion(e.to_string()))?
    };
    if assertion.issuer() != state.idp().entity_id {
        return Err(PropagationError::Assertion("unknown issuer".into()));
    }
    let now = state.clock.now();
    let skew = i64::from(state.config.clock_skew_seconds);
    assertion.check_not_before(now, skew).map_err(|e| PropagationError::Assertion(e.to_string()))?;
    let visitor = state.config.visitor.as_ref().ok_or(PropagationError::Pat)?;
    let (user, groups) = crate::acs::identity(&state.config, &assertion)
        .map_err(|e| PropagationError::Assertion(e.to_string()))?;
    let session_index = assertion.session_index().ok_or(PropagationError::Tat)?.to_owned();
    tracing::debug!(verified_us = started.elapsed().as_micros() as u64, "propagated call verified");
    let info = tat_info(&state.config.entity_id, &session_index, assertion.id());
    let pii_info = crate::pii::propagated_info(&state.config.entity_id, &session_index, assertion.id());
    // Each client may exchange an assertion once: later calls with the same assertion reuse
    // the PAT, for as long as the caller's sign-in could last.
    let lifetime = i64::from(state.config.session_lifetime_minutes) * 60;
    let until = assertion.session_not_on_or_after().map_or(now + lifetime, |e| e.min(now + lifetime));
    let pat_source = PatSource::Remembered { memory: &state.propagation, until: until.max(now + 60) };
    let sealed = Sealed {
        assertion_xml: &xml,
        // A missing header is an empty one, which does not open either.
        tat: TatFrom::Propagated(headers::text(&parts.headers, TAT_HEADER).unwrap_or_default()),
        tat_info: &info,
        // Checked against the assertion's signed digests inside `unlock`.
        pii: PiiFrom::Propagated {
            sealed: headers::text(&parts.headers, PII_HEADER).unwrap_or_default(),
            info: &pii_info,
        },
    };
    let keys = crate::unlock::Keys { key: &state.key, http: &state.http, visitor };
    let opened = crate::unlock::unlock(keys, &assertion, sealed, pat_source, now).await?.opened;

    let path = checked.path_and_query.split('?').next().unwrap_or_default();
    crate::paths::record_decision("ingress", path);
    let (decision, sensitive) = {
        let rules = state.rules.read().unwrap_or_else(PoisonError::into_inner);
        // The propagated assertion was issued for the calling service: no approval in it
        // can be for this one's sensitive paths, so those stay closed to propagated calls.
        (rules.check(&parts.method, path, &groups), rules.missing_approval(path, &[], now).is_some())
    };
    if sensitive || matches!(decision, crate::rbac::Decision::Deny { .. }) {
        return Err(PropagationError::Forbidden);
    }
    tracing::info!(
        caller = %checked.caller,
        user = %service_kit::redact::log_id(&user),
        opened = opened.values.len(),
        "propagated call accepted"
    );
    // A transient view for the identity headers; nothing is stored.
    let view = Session {
        user,
        name_id: String::new(),
        groups,
        pii: opened.values,
        session_index,
        expires: now,
        closed: opened.closed,
        missing: opened.missing,
        approvals: Vec::new(),
        handle: String::new(),
        propagation: None,
    };
    let mut identity = crate::proxy::identity_headers(&state.config, &view);
    identity.push((HeaderName::from_static(CALLER_HEADER), headers::header_value(&checked.caller)));
    let mut builder = Request::builder().method(parts.method).uri(checked.path_and_query.as_str());
    if let Some(h) = builder.headers_mut() {
        *h = parts.headers;
    }
    let req = builder.body(Body::from(body)).map_err(|_| PropagationError::Malformed("path"))?;
    Ok(crate::proxy::forward(&state.config, &state.backend, req, client, identity).await)
}
