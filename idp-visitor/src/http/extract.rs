//! What the handlers share: reading a bounded body, the OAuth form, client authentication
//! with throttling (token and introspection endpoints), the admin token ([`AdminAuth`]) and the
//! admin API's JSON body ([`ApiJson`]).

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;

use super::error::ApiError;
use crate::audit::AuditEntry;
use crate::clients::Client;
use crate::grant::{self, token_hash, AuthMethod, Params};
use crate::oauth::OAuthError;
use crate::state::AppState;
use crate::throttle::{addr_key, client_key};

/// The body, at most `limit` bytes: `Err(true)` if larger, `Err(false)` if unreadable.
pub(super) async fn read_body(req: Request, limit: usize) -> Result<Bytes, bool> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(true);
    }
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit exceeded") {
                return true;
            }
            source = s.source();
        }
        false
    })
}

pub(super) fn content_type_is(headers: &HeaderMap, want: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

pub(super) fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, OAuthError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| OAuthError::ServerError(format!("worker task: {e}")))
}

/// Reads the form of an OAuth endpoint: content type, size, parameters.
pub(super) async fn read_form(state: &AppState, req: Request) -> Result<Params, OAuthError> {
    if !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
        return Err(OAuthError::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        ));
    }
    let limit = state.config.max_body_bytes;
    let body = read_body(req, limit).await.map_err(|too_large| {
        if too_large {
            OAuthError::PayloadTooLarge { limit }
        } else {
            OAuthError::InvalidRequest("the request body could not be read".into())
        }
    })?;
    Params::parse(&body)
}

/// Authenticates the client of an OAuth request, with throttling.
pub(super) async fn authenticate_client(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    ip: Option<IpAddr>,
    audit: &mut AuditEntry,
) -> Result<Client, OAuthError> {
    let creds = grant::credentials(authorization, params)?.ok_or(OAuthError::InvalidClient)?;
    audit.client_id = Some(creds.client_id.chars().take(128).collect());
    let method = creds.method;
    // A secret verified before is recognised by its HMAC without argon2 and without the
    // throttle: no guess can match it, and a client locked by someone else's guesses keeps
    // working with its real secret.
    if let Some(client) = state.store.get_client(&creds.client_id)? {
        if state.secrets.remembered(&client, &creds.secret) {
            audit.client_authenticated = true;
            return Ok(client);
        }
    }
    let now = state.now();
    let (ck, ak) = (client_key(&creds.client_id), addr_key(ip));
    let params = state.throttle.params();
    // Reserve before hashing: parallel guesses cannot all pass a check that has not counted
    // them yet (service_kit::throttle).
    let reservation = state
        .throttle
        .reserve(&[(&ck, params), (&ak, params)], now)
        .map_err(|retry_after| OAuthError::Throttled { retry_after })?;
    let st = state.clone();
    let result = blocking(move || grant::authenticate(&st, &creds)).await?;
    match result {
        Ok(client) => {
            reservation.succeeded(&[&ck]);
            audit.client_authenticated = true;
            tracing::debug!(client_id = %client.client_id, basic = method == AuthMethod::Basic, "client authenticated");
            Ok(client)
        }
        Err(e) => {
            reservation.failed();
            Err(e)
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
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or(ApiError::Unauthorized("the admin bearer token is required"))?;
        if bool::from(token_hash(given).ct_eq(&token_hash(expected.expose()))) {
            Ok(AdminAuth)
        } else {
            tracing::warn!("admin request with a wrong token");
            Err(ApiError::Unauthorized("the admin bearer token is wrong"))
        }
    }
}

/// A JSON body of at most `max_body_bytes`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !content_type_is(req.headers(), "application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config.max_body_bytes;
        let bytes = read_body(req, limit).await.map_err(|too_large| {
            if too_large {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::InvalidInput("the request body could not be read".into())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::InvalidInput(format!("malformed JSON body: {e}")))
    }
}
