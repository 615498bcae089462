//! The JSON APIs: registration and verification, API tokens, the PII vault, the federation's
//! authority keys, the admin API and `/healthz` (documented in `docs/home-idp.md`).
//!
//! Handlers are thin: extract, call a function of [`crate::users`] or the store, map the
//! result; every error goes through [`ApiError`]. The extractors here ([`ApiJson`],
//! [`ApiBody`], [`ApiPath`], [`ApiQuery`]) turn rejections into problem documents and read the
//! body limit from the configuration.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::config::{validate_service_provider, SpConfig};
use crate::error::{ApiError, PROBLEM_JSON};
use crate::model::ServiceProvider;
use crate::state::AppState;
use crate::store::token_hash;
use crate::users::{self, Password, PiiSummary};

/// How long one request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The API routes (without layers; see [`app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/users", post(register))
        .route("/api/users/verify", get(verify))
        .route("/api/token", post(token))
        .route("/api/pii", get(list_pii))
        .route("/api/pii/{attribute}", put(put_pii).get(get_pii).delete(delete_pii))
        .route("/pbe/authority", get(authority))
        .route("/pbe/authorities", get(authorities))
        .route("/admin/sps", get(list_sps).post(create_sp))
        .route("/admin/sps/{entity_id}", get(get_sp).put(put_sp).delete(delete_sp))
        .route("/admin/users", get(list_users))
        .route("/admin/users/{uid}/groups", get(get_groups).put(put_groups))
}

/// The whole home IdP app: these routes, the SAML routes, a problem-document 404 fallback, a
/// request-body limit of `max_body_bytes`, a request timeout and request tracing (method and
/// path only: query strings can carry verification tokens).
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(router())
        .merge(crate::saml::router())
        .fallback(fallback)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::map_response(
            move |res: Response| async move { problem_for_bare(res, limit) },
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::info_span!("request", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(state)
}

/// Gives the bare 413/408 answers of the tower layers a problem-document body.
fn problem_for_bare(res: Response, limit: usize) -> Response {
    let is_problem =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_problem => ApiError::PayloadTooLarge { limit }.into_response(),
        StatusCode::REQUEST_TIMEOUT if !is_problem => ApiError::Timeout.into_response(),
        _ => res,
    }
}

async fn fallback() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

// ---- extractors ----

/// Reads the whole body, refusing more than `limit` bytes with 413.
async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit exceeded") {
                return ApiError::PayloadTooLarge { limit };
            }
            source = s.source();
        }
        ApiError::InvalidInput("the request body could not be read".into())
    })
}

/// A JSON body (`Content-Type: application/json`), at most `max_body_bytes`; malformed JSON,
/// unknown fields and wrong types are 400 problem documents.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| {
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state.config.max_body_bytes).await?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::InvalidInput(format!("malformed JSON body: {e}")))
    }
}

/// The raw body, at most `max_body_bytes`.
#[derive(Debug)]
pub struct ApiBody(pub Bytes);

impl FromRequest<AppState> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_body(req, state.config.max_body_bytes).await.map(ApiBody)
    }
}

/// Path parameters; a rejection is a 400 problem document.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| ApiPath(t))
            .map_err(|e| ApiError::InvalidInput(format!("bad path: {}", e.body_text())))
    }
}

/// Query parameters; a rejection is a 400 problem document.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| ApiQuery(t))
            .map_err(|e| ApiError::InvalidInput(format!("bad query: {}", e.body_text())))
    }
}

/// The client's IP address, from `ConnectInfo<SocketAddr>` (absent in `oneshot` tests and when
/// the server was started without connect info).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // `ConnectInfo`'s own extractor also honours `MockConnectInfo` (tests).
        let info = ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await.ok();
        Ok(ClientAddr(info.map(|c| c.0.ip())))
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The signed-in data owner (a valid API bearer token).
#[derive(Debug, Clone)]
pub struct UserAuth(pub String);

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)
            .ok_or(ApiError::Unauthorized("an API bearer token is required (POST /api/token)"))?;
        match users::user_for_api_token(state, token, state.now())? {
            Some(user) => Ok(UserAuth(user.uid)),
            None => Err(ApiError::Unauthorized("the bearer token is invalid or expired")),
        }
    }
}

/// An admin request (the configured admin token, compared in constant time).
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.admin_token.as_ref().ok_or(ApiError::AdminDisabled)?;
        let given =
            bearer(&parts.headers).ok_or(ApiError::Unauthorized("the admin bearer token is required"))?;
        // Hash both so the comparison takes the same time whatever the lengths.
        if bool::from(token_hash(given).ct_eq(&token_hash(expected.expose()))) {
            Ok(AdminAuth)
        } else {
            let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            tracing::warn!(client = ?client, "admin request with a wrong token");
            Err(ApiError::Unauthorized("the admin bearer token is wrong"))
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("worker task: {e}")))
}

fn no_store<T: IntoResponse>(status: StatusCode, body: T) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

// ---- users ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    uid: String,
    email: String,
    password: Password,
}

#[derive(Serialize)]
struct UserView {
    uid: String,
    email: String,
    verified: bool,
    groups: Vec<String>,
    created: i64,
}

impl From<crate::model::User> for UserView {
    fn from(u: crate::model::User) -> Self {
        UserView { uid: u.uid, email: u.email, verified: u.verified, groups: u.groups, created: u.created }
    }
}

async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let now = state.now();
    let registered =
        blocking(move || users::register(&state, &req.uid, &req.email, &req.password, now)).await??;
    let view = UserView::from(registered.user);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "uid": view.uid,
            "email": view.email,
            "verified": false,
            "message": "registered; open the verification link sent to the e-mail address before signing in",
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct VerifyQuery {
    token: String,
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

fn html_page(status: StatusCode, title: &str, text: &str) -> Response {
    // Only static strings reach this page; nothing needs escaping.
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1><p>{text}</p></main></body></html>\n"
    );
    no_store(status, Html(page))
}

async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<ApiQuery<VerifyQuery>, ApiError>,
) -> Response {
    let html = wants_html(&headers);
    let result = match query {
        Ok(ApiQuery(q)) => users::verify_email(&state, &q.token, state.now()).map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match (result, html) {
        (Ok(_), true) => html_page(
            StatusCode::OK,
            "E-mail address verified",
            "Your e-mail address is verified. You can now sign in.",
        ),
        (Ok(user), false) => {
            no_store(StatusCode::OK, Json(serde_json::json!({"uid": user.uid, "verified": true})))
        }
        (Err(ApiError::InvalidInput(_)), true) => html_page(
            StatusCode::BAD_REQUEST,
            "Verification failed",
            "This verification link is invalid, expired or was already used.",
        ),
        (Err(e), _) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    uid: String,
    password: Password,
}

async fn token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response, ApiError> {
    let user = users::authenticate_async(&state, req.uid, req.password, client).await?;
    let issued = users::issue_api_token(&state, &user.uid, state.now())?;
    Ok(no_store(StatusCode::OK, Json(issued)))
}

// ---- PII vault ----

async fn put_pii(
    State(state): State<AppState>,
    UserAuth(uid): UserAuth,
    ApiPath(attribute): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let now = state.now();
    let (summary, created) = blocking(move || users::put_pii(&state, &uid, &attribute, &body, now)).await??;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(summary)).into_response())
}

async fn list_pii(
    State(state): State<AppState>,
    UserAuth(uid): UserAuth,
) -> Result<Json<Vec<PiiSummary>>, ApiError> {
    Ok(Json(users::list_pii(&state, &uid)?))
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
    let record = users::get_pii(&state, &uid, &attribute)?;
    let body = PiiWithCiphertext {
        summary: PiiSummary::from(&record),
        ciphertext: pbe_core::wire::to_text(&record.ciphertext),
    };
    Ok(no_store(StatusCode::OK, Json(body)))
}

async fn delete_pii(
    State(state): State<AppState>,
    UserAuth(uid): UserAuth,
    ApiPath(attribute): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    users::delete_pii(&state, &uid, &attribute)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- federation keys ----

async fn authority(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "suite": state.keys.suite().name(),
        "authority": state.keys.authority_name(),
        "public_key": state.keys.authority_public_key_text(),
    }))
}

async fn authorities(State(state): State<AppState>) -> Json<serde_json::Value> {
    let own = state.keys.authority_name();
    let list: Vec<_> = state
        .federation
        .iter()
        .map(|(name, key)| serde_json::json!({"authority": name, "public_key": key, "own": name == own}))
        .collect();
    Json(serde_json::json!({"suite": state.keys.suite().name(), "authorities": list}))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

// ---- admin: service providers ----

fn checked_sp(state: &AppState, body: SpConfig) -> Result<ServiceProvider, ApiError> {
    let sp = ServiceProvider::from(body);
    validate_service_provider(&sp, state.keys.suite())
        .map_err(|(field, reason)| ApiError::InvalidInput(format!("{field}: {reason}")))?;
    Ok(sp)
}

async fn list_sps(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Vec<ServiceProvider>>, ApiError> {
    Ok(Json(state.store.list_sps()?))
}

async fn create_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(body): ApiJson<SpConfig>,
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
    Ok((StatusCode::CREATED, Json(sp)).into_response())
}

async fn get_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(entity_id): ApiPath<String>,
) -> Result<Json<ServiceProvider>, ApiError> {
    state
        .store
        .get_sp(&entity_id)?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no service provider '{entity_id}'")))
}

async fn put_sp(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(entity_id): ApiPath<String>,
    ApiJson(body): ApiJson<SpConfig>,
) -> Result<Response, ApiError> {
    if body.entity_id != entity_id {
        return Err(ApiError::InvalidInput("entity_id in the body differs from the one in the path".into()));
    }
    let sp = checked_sp(&state, body)?;
    let created = state.store.put_sp(&sp)?;
    tracing::info!(entity_id = %sp.entity_id, created, "service provider stored");
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(sp)).into_response())
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
    Ok(Json(users::get_groups(&state, &uid)?))
}

async fn put_groups(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiPath(uid): ApiPath<String>,
    ApiJson(groups): ApiJson<Vec<String>>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(users::set_groups(&state, &uid, groups)?))
}
