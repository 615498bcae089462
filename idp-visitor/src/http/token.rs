//! `POST /oauth2/token`: the RFC 7522 grant. Thin: read the form, authenticate the client,
//! hand the assertion to [`crate::grant`]; one audit entry for every answer to an authenticated
//! client, only an in-memory count for the others.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand_core::OsRng;
use serde::Serialize;
use service_kit::metrics::timed;

use super::error::no_store;
use super::extract::{authenticate_client, blocking, client_ip, read_form};
use crate::audit::{AuditEntry, Outcome};
use crate::grant;
use crate::oauth::OAuthError;
use crate::state::AppState;

/// The route of this endpoint (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/oauth2/token", post(token))
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
    scope: String,
    #[serde(flatten)]
    pat: federation::pat::PatFields,
}

/// `POST /oauth2/token`: the RFC 7522 grant.
async fn token(State(state): State<AppState>, req: Request) -> Response {
    let mut audit = AuditEntry::new(state.now(), Outcome::Refused);
    match token_inner(&state, req, &mut audit).await {
        Ok(grant) => {
            state.metrics.pat_issued();
            tracing::info!(client_id = ?audit.client_id, purposes = ?audit.purposes, "PAT issued");
            let body = TokenResponse {
                access_token: grant.access_token,
                token_type: "Bearer",
                expires_in: grant.expires_in,
                scope: grant.scope,
                pat: grant.fields,
            };
            let mut res = (StatusCode::OK, Json(body)).into_response();
            no_store(&mut res);
            res
        }
        Err(e) => {
            state.metrics.refusal(e.code());
            if matches!(e, OAuthError::Throttled { .. }) {
                state.metrics.throttled("client_authentication");
            }
            audit.error = Some(e.code().to_owned());
            audit.reason = Some(match &e {
                OAuthError::ServerError(_) => "server error".to_owned(),
                other => other.description(),
            });
            if !audit.client_authenticated {
                // Anonymous: counted in memory only (shown by /healthz), so junk traffic cannot
                // grow the database. Logged at debug level for the same reason.
                state.refused_unauthenticated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(error = e.code(), "token request refused before client authentication");
                return e.into_response();
            }
            tracing::info!(client_id = ?audit.client_id, error = e.code(), "token request refused");
            if let Err(store_err) = state.store.append_audit(&audit) {
                tracing::error!(error = %store_err, "could not write the audit entry");
                return OAuthError::ServerError("audit".into()).into_response();
            }
            e.into_response()
        }
    }
}

async fn token_inner(
    state: &AppState,
    req: Request,
    audit: &mut AuditEntry,
) -> Result<grant::Grant, OAuthError> {
    let ip = client_ip(&req);
    let authorization =
        req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let params = read_form(state, req).await?;
    grant::check_grant_type(&params)?;
    let started = std::time::Instant::now();
    let client = authenticate_client(state, authorization.as_deref(), &params, ip, audit).await?;
    service_kit::metrics::observe_phase("token_client_auth", started.elapsed().as_secs_f64());
    let assertion = params
        .get("assertion")
        .ok_or_else(|| OAuthError::InvalidRequest("the assertion parameter is missing".into()))?;
    let scope = params.get("scope").map(str::to_owned);
    let assertion = assertion.to_owned();
    let st = state.clone();
    let mut a = audit.clone();
    let (result, a) = blocking(move || {
        let now = st.now();
        let r = timed("token_verify", || grant::verify_assertion(&st, &assertion)).and_then(|verified| {
            grant::exchange(&st, &client, &verified, scope.as_deref(), now, &mut a, &mut OsRng)
        });
        (r, a)
    })
    .await?;
    *audit = a;
    result
}
