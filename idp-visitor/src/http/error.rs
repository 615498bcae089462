//! The HTTP errors of the visitor IdP, one type per area, each with one `IntoResponse`
//! (STYLE.md §2.4, §2.5). [`OAuthError`] itself is defined without HTTP in [`crate::oauth`], so
//! [`crate::grant`] needs no axum.
//!
//! - [`OAuthError`]: the token and introspection endpoints answer as RFC 6749 §5.2 says —
//!   JSON `{"error": …, "error_description": …}`, `Cache-Control: no-store`,
//!   `Pragma: no-cache`; 400, except `invalid_client` (401 with
//!   `WWW-Authenticate: Basic realm="idaas visitor IdP"`), an oversized body (413), throttling
//!   (429 with `Retry-After`) and `server_error` (500, generic description; cause logged).
//! - [`ApiError`]: the admin API's RFC 7807 problem documents.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use federation::api::oauth::OAuthErrorBody;

use crate::oauth::OAuthError;
use crate::store::StoreError;

/// The realm of the `WWW-Authenticate: Basic` challenge.
pub const REALM: &str = "idaas visitor IdP";
/// The content type of problem documents (rendered by `service_kit::problem`).
pub use service_kit::problem::PROBLEM_JSON;

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The HTTP status of an OAuth error (RFC 6749 §5.2; 401, 413, 429 and 500 as described above).
pub fn oauth_status(e: &OAuthError) -> StatusCode {
    match e {
        OAuthError::InvalidClient => StatusCode::UNAUTHORIZED,
        OAuthError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        OAuthError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let OAuthError::ServerError(cause) = &self {
            tracing::error!(%cause, "token endpoint failure");
        }
        let body = OAuthErrorBody { error: self.code().to_owned(), error_description: self.description() };
        let mut res = (oauth_status(&self), axum::Json(body)).into_response();
        no_store(&mut res);
        match &self {
            OAuthError::InvalidClient => {
                let challenge = format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"");
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            OAuthError::Throttled { retry_after } => {
                service_kit::problem::set_retry_after(&mut res, *retry_after)
            }
            _ => {}
        }
        res
    }
}

/// An admin-API error; a problem document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Malformed input. 400.
    #[error("{0}")]
    InvalidInput(String),
    /// Missing or wrong admin token. 401 with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No `admin_token` configured. 404.
    #[error("the admin API is disabled: set admin_token (or IDAAS_VISITOR_ADMIN_TOKEN) to enable it")]
    AdminDisabled,
    /// No such resource. 404.
    #[error("{0}")]
    NotFound(String),
    /// The resource exists. 409.
    #[error("{0}")]
    Conflict(String),
    /// Body too large. 413.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not JSON. 415.
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    /// Too slow. 408.
    #[error("the request took too long")]
    Timeout,
    /// Server-side failure (logged). 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Status, problem type slug and title.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid-input", "Invalid input"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::AdminDisabled => (StatusCode::NOT_FOUND, "admin-disabled", "Admin API disabled"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large")
            }
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            }
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout", "Request timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let detail = match &self {
            ApiError::Internal(cause) => service_kit::problem::internal_detail(cause),
            other => other.to_string(),
        };
        let mut res = service_kit::problem::response(status, slug, title, &detail);
        if matches!(self, ApiError::Unauthorized(_)) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(format!("store: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_oauth_error_maps_to_its_code_status_and_headers() {
        let cases = [
            (OAuthError::InvalidRequest("x".into()), 400, "invalid_request"),
            (OAuthError::InvalidClient, 401, "invalid_client"),
            (OAuthError::InvalidGrant("x".into()), 400, "invalid_grant"),
            (OAuthError::UnauthorizedClient("x".into()), 400, "unauthorized_client"),
            (OAuthError::UnsupportedGrantType, 400, "unsupported_grant_type"),
            (OAuthError::InvalidScope("x".into()), 400, "invalid_scope"),
            (OAuthError::Throttled { retry_after: 3 }, 429, "invalid_client"),
            (OAuthError::PayloadTooLarge { limit: 9 }, 413, "invalid_request"),
            (OAuthError::ServerError("secret cause".into()), 500, "server_error"),
        ];
        for (err, status, code) in cases {
            let res = err.clone().into_response();
            assert_eq!(res.status().as_u16(), status, "{err:?}");
            assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
            assert_eq!(res.headers()[header::PRAGMA], "no-cache");
            assert_eq!(res.headers().contains_key(header::WWW_AUTHENTICATE), status == 401);
            if status == 429 {
                assert_eq!(res.headers()[header::RETRY_AFTER], "3");
            }
            let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"], code);
            assert!(!v["error_description"].as_str().unwrap().contains("secret cause"));
        }
    }

    #[tokio::test]
    async fn api_errors_are_problem_documents() {
        for (err, status) in [
            (ApiError::InvalidInput("x".into()), 400),
            (ApiError::Unauthorized("x"), 401),
            (ApiError::AdminDisabled, 404),
            (ApiError::NotFound("x".into()), 404),
            (ApiError::Conflict("x".into()), 409),
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType, 415),
            (ApiError::Timeout, 408),
            (ApiError::Internal("secret cause".into()), 500),
        ] {
            let res = err.into_response();
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
            let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
            assert!(!String::from_utf8_lossy(&body).contains("secret cause"));
        }
    }
}
