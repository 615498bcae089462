//! `/.idaas/partners/<name>/<path>`: this agent's backend calls a partner service on the
//! signed-in user's behalf. The call goes out signed ([`super::signing`]), with the user's
//! assertion, and the TAT and the PII ciphertexts re-sealed for the partner. The ciphertexts
//! are fetched again from the home IdP with the session's `idaas:pii-ref` for each call
//! (a session never holds them), so the partner gets the user's current ones and never needs
//! the reference.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request};
use axum::response::{IntoResponse, Response};

use super::{call_headers, is_plain_path, read_body, PropagationError, EGRESS_PREFIX, INGRESS_PREFIX};
use crate::config::Config;
use crate::headers::{self, SESSION_HEADER};
// The egress is the body of its route and uses most of the state (configuration, sessions,
// keys, the partner client, the backend's addresses): no cycle, the state does not know it.
use crate::state::AppState;

/// Headers of the backend's request that go on to the partner: no hop-by-hop, identity,
/// forwarding, cookie or authorization header.
fn outbound_headers(config: &Config, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let connection = headers::connection_named(headers);
    for (name, value) in headers {
        let n = name.as_str();
        if headers::is_dropped_request_header(config, n, &connection) || headers::NOT_TO_PARTNERS.contains(&n)
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
    let result = if allowed { egress_inner(&state, req).await } else { Err(PropagationError::EgressSource) };
    match result {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(reason = e.status_and_code().1, "outbound propagated call refused");
            e.into_response()
        }
    }
}

async fn egress_inner(state: &AppState, req: Request<Body>) -> Result<Response, PropagationError> {
    let (parts, body) = req.into_parts();
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if !is_plain_path(pq) {
        return Err(PropagationError::Malformed(
            "path: not in plain form (docs/web-agent.md, request paths)",
        ));
    }
    let rest = pq.strip_prefix(EGRESS_PREFIX).ok_or(PropagationError::Malformed("path"))?;
    let (name, path_and_query) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') && is_plain_path(&rest[i..]) => (&rest[..i], &rest[i..]),
        _ => return Err(PropagationError::Malformed("path: /.idaas/partners/<name>/<path>")),
    };
    let partner = state
        .config
        .partners
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| PropagationError::UnknownPartner(name.chars().take(64).collect()))?;
    crate::paths::record_decision("egress", path_and_query.split('?').next().unwrap_or_default());
    let now = state.clock.now();
    let handle = headers::text(&parts.headers, SESSION_HEADER).ok_or(PropagationError::Session)?;
    let session = state.session_by_handle(handle).await.ok_or(PropagationError::Session)?;
    let propagation = session.propagation.as_ref().ok_or(PropagationError::NotPropagatable)?;
    let body = read_body(body).await?;
    let pii_bundle = if propagation.pii_names.is_empty() {
        federation::pii::encode_bundle(&federation::pii::Bundle::new())
            .map_err(|_| PropagationError::PiiFetch)?
            .into()
    } else {
        let idp = state.idp();
        let to = crate::pii::FetchFor {
            url: &idp.pii_fetch_url,
            pii_ref: &propagation.pii_ref,
            uid: &session.user,
            sp: &state.config.entity_id,
            session_index: &session.session_index,
            assertion_id: &propagation.assertion_id,
        };
        crate::pii::fetch(&state.http, &*state.key, to, propagation.pii_names.iter()).await.map_err(|e| {
            tracing::warn!(partner = %partner.name, error = %e, "PII fetch for a propagated call failed");
            PropagationError::PiiFetch
        })?
    };
    let call = call_headers(
        &state.signer,
        partner,
        state.key.suite(),
        parts.method.as_str(),
        path_and_query,
        &body,
        &session.session_index,
        propagation,
        &pii_bundle,
        now,
        &mut rand_core::OsRng,
    )
    .map_err(|_| PropagationError::Malformed("the partner's tat_key"))?;
    let mut headers = outbound_headers(&state.config, &parts.headers);
    for (n, v) in call {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(HeaderName::from_static(n), v);
        }
    }
    let url = format!("{}{INGRESS_PREFIX}{path_and_query}", partner.url.trim_end_matches('/'));
    tracing::info!(
        partner = %partner.name,
        user = %service_kit::redact::log_id(&session.user),
        "propagating the user's identity"
    );
    let resp =
        state.backend.request(parts.method, &url).headers(headers).body(body).send().await.map_err(|e| {
            tracing::warn!(partner = %partner.name, error = %e.without_url(), "partner unreachable");
            PropagationError::Unreachable
        })?;
    // The partner's answer must not tell this backend who the user is or set idaas cookies.
    Ok(crate::proxy::stream_response(resp, Some(&state.config)))
}
