//! The admin API (`/admin/*`, the configured admin bearer token): service-provider
//! registrations (JSON, or the SP's SAML metadata), the user list, users' groups, groups'
//! owners and the access requests they decided (the audit trail), and the SAML signing-key
//! rollover.

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::accounts::UserView;
use super::error::ApiError;
use super::extract::{AdminAuth, ApiBody, ApiJson, ApiPath};
use crate::config::{validate_service_provider, SpConfig};
use crate::model::ServiceProvider;
use crate::saml::sp_import::sp_config_from_metadata;
use crate::service::groups;
use crate::state::AppState;

/// The routes of this area (merged into [`super::router`]).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/sps", get(list_sps).post(create_sp))
        .route("/admin/sps/{entity_id}", get(get_sp).put(put_sp).delete(delete_sp))
        .route("/admin/users", get(list_users))
        .route("/admin/users/{uid}/groups", get(get_groups).put(put_groups))
        .route("/admin/users/{uid}/mfa", get(get_mfa).put(put_mfa))
        .route("/admin/groups/{group}/owners", get(get_owners).put(put_owners))
        .route("/admin/access-requests", get(list_access_requests))
        .route("/admin/keys/signing", get(signing_status))
        .route("/admin/keys/signing/rotate", axum::routing::post(signing_rotate))
        .route("/admin/keys/signing/activate", axum::routing::post(signing_activate))
}

// ---- admin: SAML signing-key rollover (crate::signing_keys) ----

async fn signing_status(State(state): State<AppState>, _: AdminAuth) -> Json<crate::signing_keys::Status> {
    Json(state.keys.signing_keys().status(state.now()))
}

/// Publishes the next signing key (201); 409 while one is published already.
async fn signing_rotate(State(state): State<AppState>, _: AdminAuth) -> Result<Response, ApiError> {
    let status = state.keys.signing_keys().rotate(state.now()).map_err(rollover_error)?;
    Ok((StatusCode::CREATED, Json(status)).into_response())
}

/// Signs with the next key from now on, and retires the current one; 409 without a next key.
async fn signing_activate(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<crate::signing_keys::Status>, ApiError> {
    Ok(Json(state.keys.signing_keys().activate(state.now()).map_err(rollover_error)?))
}

fn rollover_error(e: crate::signing_keys::RolloverError) -> ApiError {
    use crate::signing_keys::RolloverError;
    match e {
        RolloverError::Pending { .. } | RolloverError::NoNext => ApiError::Conflict(e.to_string()),
        RolloverError::Keys(k) => ApiError::Internal(k.to_string()),
    }
}

// ---- admin: service providers ----

/// The body of `POST /admin/sps` and `PUT /admin/sps/{entity_id}`: the registration as JSON, or
/// the SP's SAML metadata (`Content-Type: application/samlmetadata+xml`, `application/xml` or
/// `text/xml`), mapped by [`crate::saml::sp_import`].
pub struct SpBody(SpConfig);

/// Whether a content type names SAML metadata or XML.
fn is_xml(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(essence.as_str(), "application/samlmetadata+xml" | "application/xml" | "text/xml")
}

impl FromRequest<AppState> for SpBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let xml = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_xml);
        if !xml {
            return ApiJson::<SpConfig>::from_request(req, state).await.map(|ApiJson(c)| SpBody(c));
        }
        let ApiBody(bytes) = ApiBody::from_request(req, state).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ApiError::InvalidInput("the SP metadata is not UTF-8".into()))?;
        sp_config_from_metadata(text).map(SpBody).map_err(|e| ApiError::InvalidInput(e.to_string()))
    }
}

fn checked_sp(state: &AppState, body: SpConfig) -> Result<ServiceProvider, ApiError> {
    let sp = ServiceProvider::from(body);
    validate_service_provider(&sp, state.keys.suite())
        .map_err(|(field, reason)| ApiError::InvalidInput(format!("{field}: {reason}")))?;
    Ok(sp)
}

async fn list_sps(State(state): State<AppState>, _: AdminAuth) -> Result<Json<Vec<SpConfig>>, ApiError> {
    // As registrations (`SpConfig`): the effective `sign` is shown, not its absence.
    Ok(Json(state.store.list_sps()?.into_iter().map(SpConfig::from).collect()))
}

async fn create_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    SpBody(body): SpBody,
) -> Result<Response, ApiError> {
    let sp = checked_sp(&state, body)?;
    if state.store.get_sp(&sp.entity_id)?.is_some() {
        return Err(ApiError::Conflict(format!(
            "service provider '{}' exists; use PUT /admin/sps/{{entity_id}} to replace it",
            sp.entity_id
        )));
    }
    state.store.put_sp(&sp)?;
    tracing::info!(entity_id = %sp.entity_id, pbe = sp.pbe.is_some(), "service provider registered");
    Ok((StatusCode::CREATED, Json(SpConfig::from(sp))).into_response())
}

async fn get_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(entity_id): ApiPath<String>,
) -> Result<Json<SpConfig>, ApiError> {
    state
        .store
        .get_sp(&entity_id)?
        .map(|sp| Json(SpConfig::from(sp)))
        .ok_or_else(|| ApiError::NotFound(format!("no service provider '{entity_id}'")))
}

async fn put_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(entity_id): ApiPath<String>,
    SpBody(body): SpBody,
) -> Result<Response, ApiError> {
    if body.entity_id != entity_id {
        return Err(ApiError::InvalidInput("entity_id in the body differs from the one in the path".into()));
    }
    let sp = checked_sp(&state, body)?;
    let created = state.store.put_sp(&sp)?;
    tracing::info!(entity_id = %sp.entity_id, created, "service provider stored");
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(SpConfig::from(sp))).into_response())
}

async fn delete_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(entity_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_sp(&entity_id)? {
        tracing::info!(entity_id = %entity_id, "service provider deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no service provider '{entity_id}'")))
    }
}

// ---- admin: users and groups ----

async fn list_users(State(state): State<AppState>, _: AdminAuth) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(state.store.list_users()?.into_iter().map(UserView::from).collect()))
}

async fn get_groups(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(uid): ApiPath<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(groups::get_groups(&state, &uid)?))
}

async fn put_groups(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(uid): ApiPath<String>,
    ApiJson(groups): ApiJson<Vec<String>>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(groups::set_groups(&state, &uid, groups)?))
}

/// A user's second-factor policy and whether a factor is set up (never the factor itself).
#[derive(serde::Serialize)]
struct MfaView {
    policy: crate::model::MfaPolicy,
    totp: bool,
}

impl From<&crate::model::User> for MfaView {
    fn from(u: &crate::model::User) -> Self {
        MfaView { policy: u.security.mfa, totp: u.security.totp.as_ref().is_some_and(|t| t.confirmed) }
    }
}

async fn get_mfa(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(uid): ApiPath<String>,
) -> Result<Json<MfaView>, ApiError> {
    let user = state.store.get_user(&uid)?.ok_or_else(|| ApiError::NotFound(format!("no user '{uid}'")))?;
    Ok(Json(MfaView::from(&user)))
}

/// Sets the policy (`"off"`, `"optional"`, `"required"`).
async fn put_mfa(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(uid): ApiPath<String>,
    ApiJson(policy): ApiJson<crate::model::MfaPolicy>,
) -> Result<Json<MfaView>, ApiError> {
    let user = state
        .store
        .update_user(&uid, &mut |u| u.security.mfa = policy)?
        .ok_or_else(|| ApiError::NotFound(format!("no user '{uid}'")))?;
    tracing::info!(user = %service_kit::redact::log_id(&uid), ?policy, "second-factor policy set");
    Ok(Json(MfaView::from(&user)))
}

// ---- admin: group owners and access requests (issue 20) ----

async fn get_owners(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(group): ApiPath<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(crate::service::access::owners(&state, &group)?))
}

/// Sets a group's owners (a JSON list of uids; `[]` removes them).
async fn put_owners(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(group): ApiPath<String>,
    ApiJson(owners): ApiJson<Vec<String>>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(crate::service::access::set_owners(&state, &group, owners)?))
}

/// Every access request kept, oldest first, with who decided and when.
async fn list_access_requests(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Vec<crate::model::AccessRequest>>, ApiError> {
    Ok(Json(state.store.list_access_requests(crate::store::Requests::All)?))
}
