//! The data owner's PII vault (`/api/pii`, `/api/pii/{attribute}`): upload, list, read back,
//! delete; reads under the owner's API token (or an upload token), uploads and deletions only
//! under an upload token (issue 20: a fresh authentication within `upload_token_minutes`);
//! and the registered services (`/api/services`), so
//! the owner's wallet can show who could open what.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Serialize;

use super::error::ApiError;
use super::extract::{blocking, no_store, ApiBody, ApiPath, UploadAuth, UserAuth};
use crate::service::vault::{self, PiiSummary};
use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/pii", get(list_pii))
        .route("/api/pii/{attribute}", put(put_pii).get(get_pii).delete(delete_pii))
        .route("/api/services", get(list_services))
}

/// The registered services, as the account page shows them to a signed-in person.
async fn list_services(
    State(state): State<AppState>,
    UserAuth(_uid): UserAuth,
) -> Result<Json<Vec<federation::api::ServiceSummary>>, ApiError> {
    let sps = state.store.list_sps()?;
    Ok(Json(
        sps.iter()
            .map(|sp| federation::api::ServiceSummary {
                name: sp.shown_name(),
                domain: sp.pbe.as_ref().map(|p| p.domain.clone()),
                country: sp.pbe.as_ref().map(|p| p.country.clone()),
                purposes: sp.purposes.clone(),
            })
            .collect(),
    ))
}

async fn put_pii(
    State(state): State<AppState>,
    UploadAuth(uid): UploadAuth,
    ApiPath(attribute): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let now = state.now();
    let (summary, created) = blocking(move || vault::put_pii(&state, &uid, &attribute, &body, now)).await??;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(summary)).into_response())
}

async fn list_pii(
    State(state): State<AppState>,
    UserAuth(uid): UserAuth,
) -> Result<Json<Vec<PiiSummary>>, ApiError> {
    Ok(Json(vault::list_pii(&state, &uid)?))
}

#[derive(Serialize)]
struct PiiWithCiphertext {
    #[serde(flatten)]
    summary: PiiSummary,
    ciphertext: String,
}

async fn get_pii(
    State(state): State<AppState>,
    UserAuth(uid): UserAuth,
    ApiPath(attribute): ApiPath<String>,
) -> Result<Response, ApiError> {
    let record = vault::get_pii(&state, &uid, &attribute)?;
    let body = PiiWithCiphertext {
        summary: PiiSummary::from(&record),
        ciphertext: pbe_core::wire::to_text(&record.ciphertext),
    };
    Ok(no_store(StatusCode::OK, Json(body)))
}

async fn delete_pii(
    State(state): State<AppState>,
    UploadAuth(uid): UploadAuth,
    ApiPath(attribute): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    vault::delete_pii(&state, &uid, &attribute)?;
    Ok(StatusCode::NO_CONTENT)
}
