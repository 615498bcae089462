//! `POST /pbe/pii/fetch` (docs/home-idp.md, docs/wire-format.md): a web agent fetches the
//! ciphertexts of one assertion, sealed to its SP's key. The rule is
//! [`crate::service::pii_fetch`]; the body is at most 16 KiB ([`SmallJson`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use federation::api::PiiFetchRequest;

use super::error::ApiError;
use super::extract::{blocking, no_store, ClientAddr, SmallJson};
use crate::service::pii_fetch::{self, FetchError};
use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(federation::pii::FETCH_PATH, post(fetch))
}

impl From<FetchError> for ApiError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Invalid(m) => ApiError::InvalidInput(m.into()),
            FetchError::Refused => {
                ApiError::Unauthorized("the PII reference is invalid, expired or not for this assertion")
            }
            FetchError::Throttled(retry_after) => ApiError::Throttled { retry_after },
            FetchError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

async fn fetch(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    SmallJson(req): SmallJson<PiiFetchRequest>,
) -> Result<Response, ApiError> {
    let now = state.now();
    let answer = blocking(move || pii_fetch::fetch(&state, &req, client, now)).await??;
    Ok(no_store(StatusCode::OK, Json(answer)))
}
