//! `POST /oauth2/introspect` (RFC 7662).

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use federation::api::oauth::{ActiveToken, Introspection};

use super::error::no_store;
use super::extract::{authenticate_client, client_ip, read_form};
use crate::audit::{AuditEntry, Outcome};
use crate::grant::token_hash;
use crate::oauth::OAuthError;
use crate::state::AppState;

/// The route of this endpoint (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/oauth2/introspect", post(introspect))
}

/// `POST /oauth2/introspect` (RFC 7662): client-authenticated; a client sees only its own
/// tokens as active.
async fn introspect(State(state): State<AppState>, req: Request) -> Response {
    let ip = client_ip(&req);
    let authorization =
        req.headers().get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let result = async {
        let params = read_form(&state, req).await?;
        let mut audit = AuditEntry::new(state.now(), Outcome::Refused);
        let client = authenticate_client(&state, authorization.as_deref(), &params, ip, &mut audit)
            .await
            .inspect_err(|_| {
                state.refused_unauthenticated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            })?;
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::InvalidRequest("the token parameter is missing".into()))?;
        let now = state.now();
        let record = state
            .store
            .get_token(&token_hash(token))?
            .filter(|t| t.exp > now && t.client_id == client.client_id);
        Ok::<_, OAuthError>(match record {
            Some(t) => Introspection::active(ActiveToken {
                scope: t.scope.join(" "),
                client_id: t.client_id,
                token_type: "Bearer".into(),
                exp: t.exp,
                iat: t.iat,
                sub: t.sub,
                iss: state.config.entity_id.clone(),
                idp: t.idp,
            }),
            None => Introspection::inactive(),
        })
    }
    .await;
    match result {
        Ok(v) => {
            let mut res = Json(v).into_response();
            no_store(&mut res);
            res
        }
        Err(e) => e.into_response(),
    }
}
