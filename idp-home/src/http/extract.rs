//! What the JSON handlers share: the extractors that turn rejections into problem documents
//! and read the body limit from the configuration ([`ApiJson`], [`ApiBody`], [`ApiPath`],
//! [`ApiQuery`]), the client address ([`ClientAddr`]), the bearer-token authentications
//! ([`UserAuth`]: a data owner's API or upload token, for reads; [`UploadAuth`]: an upload
//! token, for writes to the vault; [`AdminAuth`]: the configured admin token), and
//! two small response helpers.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;

use super::error::ApiError;
use crate::service::{api_tokens, upload_tokens};
use crate::state::AppState;
use crate::store::token_hash;

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
        json_body(req, state.config.max_body_bytes).await.map(ApiJson)
    }
}

/// A JSON body as [`ApiJson`], at most [`SMALL_JSON_LIMIT`] bytes whatever `max_body_bytes`
/// says: for endpoints whose requests are small by nature (`POST /pbe/pii/fetch`), so a
/// large body is refused before it is buffered.
#[derive(Debug)]
pub struct SmallJson<T>(pub T);

/// The body limit of [`SmallJson`], bytes.
pub const SMALL_JSON_LIMIT: usize = 16 * 1024;

impl<T: DeserializeOwned> FromRequest<AppState> for SmallJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(req, SMALL_JSON_LIMIT.min(state.config.max_body_bytes)).await.map(SmallJson)
    }
}

async fn json_body<T: DeserializeOwned>(req: Request, limit: usize) -> Result<T, ApiError> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || (v.starts_with("application/") && v.ends_with("+json")));
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let bytes = read_body(req, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidInput(format!("malformed JSON body: {e}")))
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

/// The signed-in data owner, for reads: a valid API bearer token or upload token.
#[derive(Debug, Clone)]
pub struct UserAuth(pub String);

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)
            .ok_or(ApiError::Unauthorized("an API bearer token is required (POST /api/token)"))?;
        let now = state.now();
        if let Some(user) = api_tokens::user_for_api_token(state, token, now)? {
            return Ok(UserAuth(user.uid));
        }
        match upload_tokens::user_for_upload_token(state, token, now)? {
            Some(user) => Ok(UserAuth(user.uid)),
            None => Err(ApiError::Unauthorized("the bearer token is invalid or expired")),
        }
    }
}

/// The data owner, for writes to their PII vault (issue 20): a valid upload token, issued by
/// `POST /api/upload-token` after a fresh authentication. A long-lived API token is refused
/// with 403 `upload-token-required`.
#[derive(Debug, Clone)]
pub struct UploadAuth(pub String);

impl FromRequestParts<AppState> for UploadAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)
            .ok_or(ApiError::Unauthorized("an upload token is required (POST /api/upload-token)"))?;
        let now = state.now();
        if let Some(user) = upload_tokens::user_for_upload_token(state, token, now)? {
            return Ok(UploadAuth(user.uid));
        }
        if api_tokens::user_for_api_token(state, token, now)?.is_some() {
            return Err(ApiError::UploadTokenRequired);
        }
        Err(ApiError::Unauthorized(
            "the upload token is invalid or expired: get a new one (POST /api/upload-token)",
        ))
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

/// Runs blocking work (argon2, group-element validation) off the async workers.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("worker task: {e}")))
}

/// A response that caches must not keep (tokens, ciphertexts, one-time pages).
pub fn no_store<T: IntoResponse>(status: StatusCode, body: T) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
