//! The HTTP errors of the home IdP, one type per area, each with one `IntoResponse`
//! (STYLE.md §2.4, §2.5):
//!
//! - [`ApiError`], the JSON APIs: RFC 7807-style problem documents, `application/problem+json`;
//!   the service errors convert into it here (`From`), so handlers only write `?`;
//! - [`SsoError`], the SAML endpoints: an HTML error page (never a redirect).
//!
//! A problem document:
//!
//! ```json
//! {"type": "urn:idaas:problem:invalid-input", "title": "Invalid input", "status": 400,
//!  "detail": "uid must be 1-64 characters of a-z, 0-9, '_', '.', '-'"}
//! ```
//!
//! Internal errors get a generic body; their cause is logged (it never contains secrets: store,
//! I/O and hashing errors carry no passwords, tokens or PII).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::saml::html;
use crate::saml::request::RequestError;
use crate::service::access::AccessError;
use crate::service::accounts::{AuthError, RegisterError, VerifyError};
use crate::service::groups::GroupsError;
use crate::service::mfa::MfaError;
use crate::service::upload_tokens::UploadTokenError;
use crate::service::vault::PiiError;
use crate::store::StoreError;

/// The content type of problem documents (rendered by `service_kit::problem`).
pub use service_kit::problem::PROBLEM_JSON;

/// An API error; becomes a problem document in [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Malformed or invalid input: JSON, path, query, or a field value. 400.
    #[error("{0}")]
    InvalidInput(String),
    /// An uploaded ciphertext was refused. 400.
    #[error("{0}")]
    InvalidCiphertext(String),
    /// Sign-in failed; the message is the same whatever the reason. 401.
    #[error("invalid user id or password")]
    InvalidCredentials,
    /// A bearer token is missing, malformed, unknown or expired. 401 with `WWW-Authenticate`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A write to the PII vault with a long-lived API token: it needs an upload token. 403.
    #[error("uploading or deleting PII needs an upload token from POST /api/upload-token (a fresh sign-in); the API token only reads")]
    UploadTokenRequired,
    /// `POST /api/upload-token` without the code the user's authenticator gives. 401.
    #[error("this account has an authenticator app: send a code from it (or a recovery code) as `code`")]
    SecondFactorRequired,
    /// The second factor's code is wrong or was used before. 401.
    #[error("the code is wrong or was used already")]
    InvalidCode,
    /// The admin API is disabled (no `admin_token` configured). 404.
    #[error("the admin API is disabled: set admin_token (or IDAAS_HOME_ADMIN_TOKEN) to enable it")]
    AdminDisabled,
    /// No such resource. 404.
    #[error("{0}")]
    NotFound(String),
    /// The resource exists already. 409.
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than `max_body_bytes`. 413.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request's content type is not the one the endpoint takes. 415.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// Too many failed sign-ins. 429 with `Retry-After`.
    #[error("too many failed sign-ins; try again in {retry_after} s")]
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Every password-hashing slot stayed busy for `hash_queue_timeout_ms`. 503 with
    /// `Retry-After`.
    #[error("the server is busy checking passwords; try again in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The request took too long. 408.
    #[error("the request took too long")]
    Timeout,
    /// A server-side failure; the cause is logged, the client sees a generic message. 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status, the problem type slug and its title.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid-input", "Invalid input"),
            ApiError::InvalidCiphertext(_) => {
                (StatusCode::BAD_REQUEST, "invalid-ciphertext", "Ciphertext not accepted")
            }
            ApiError::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, "invalid-credentials", "Authentication failed")
            }
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::UploadTokenRequired => (
                StatusCode::FORBIDDEN,
                federation::api::PROBLEM_UPLOAD_TOKEN_REQUIRED,
                "Upload token required",
            ),
            ApiError::SecondFactorRequired => (
                StatusCode::UNAUTHORIZED,
                federation::api::PROBLEM_SECOND_FACTOR_REQUIRED,
                "Second factor required",
            ),
            ApiError::InvalidCode => (StatusCode::UNAUTHORIZED, "invalid-code", "Authentication failed"),
            ApiError::AdminDisabled => (StatusCode::NOT_FOUND, "admin-disabled", "Admin API disabled"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            }
            ApiError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled", "Too many attempts"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy", "Service busy"),
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
            other => {
                tracing::debug!(status = status.as_u16(), problem = slug, "request refused");
                other.to_string()
            }
        };
        let mut res = service_kit::problem::response(status, slug, title, &detail);
        match self {
            ApiError::Unauthorized(_) => {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Throttled { retry_after } | ApiError::Busy { retry_after } => {
                service_kit::problem::set_retry_after(&mut res, retry_after);
            }
            _ => {}
        }
        res
    }
}

/// A refused or failed SAML step; becomes an HTML error page in [`IntoResponse`]. The sign-in
/// form's own "wrong password" and "throttled" answers are the form again, not this.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// The RelayState is longer than 1024 bytes or has characters XML cannot carry. 400.
    #[error("The RelayState is too long or malformed.")]
    BadRelayState,
    /// The AuthnRequest was refused (missing, malformed, unknown SP, unregistered ACS URL, bad
    /// signature). 400.
    #[error("{0}")]
    Request(#[from] RequestError),
    /// The accepted request does not fit in the pending-sign-in cookie. 400.
    #[error("The sign-in request is too large.")]
    TooLargeForCookie,
    /// The sign-in form was posted without this browser's pending-sign-in cookie. 400.
    #[error("This sign-in form has expired. Go back to the service and try again.")]
    FormExpired,
    /// The form's CSRF token is missing, wrong, stale, or the SP's ACS URL is gone. 403.
    #[error("The sign-in form's security token is missing or wrong. Go back to the service and try again.")]
    BadCsrf,
    /// The password could not be checked (store or hash failure); the cause is logged. 500.
    #[error("Sign-in is unavailable right now. Try again later.")]
    SignInUnavailable(String),
    /// The SSO response could not be built or signed; the cause is logged. 500.
    #[error("The identity provider could not complete the sign-in.")]
    ResponseFailed(String),
}

impl SsoError {
    /// The HTTP status of the page.
    pub fn status(&self) -> StatusCode {
        match self {
            SsoError::BadRelayState
            | SsoError::Request(_)
            | SsoError::TooLargeForCookie
            | SsoError::FormExpired => StatusCode::BAD_REQUEST,
            SsoError::BadCsrf => StatusCode::FORBIDDEN,
            SsoError::SignInUnavailable(_) | SsoError::ResponseFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SsoError {
    fn into_response(self) -> Response {
        match &self {
            SsoError::SignInUnavailable(cause) => tracing::error!(%cause, "sign-in could not be checked"),
            SsoError::ResponseFailed(cause) => {
                tracing::error!(%cause, "could not build the SSO response")
            }
            _ => {}
        }
        // The Display texts are written for the user; the causes above stay in the log.
        html::error_page(self.status(), &self.to_string())
    }
}

/// A refused single-logout message or sign-out form; becomes an HTML error page (never a
/// redirect, and nothing changes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SloError {
    /// The message is malformed, unsigned, forged, stale, or addressed elsewhere. 400.
    #[error("The sign-out message was refused: {0}")]
    Refused(#[from] federation::logout::LogoutError),
    /// The issuer is not a registered service provider. 400.
    #[error("The sign-out message comes from a service that is not registered here.")]
    UnknownSp,
    /// The SP has no signing certificate registered, so its messages cannot be verified. 400.
    #[error(
        "This service has no signing certificate registered at the identity provider, so it cannot \
         use single logout. Sign out at the identity provider instead (/logout)."
    )]
    NoCertificate,
    /// The LogoutRequest was received before. 400.
    #[error("This sign-out request was already received.")]
    Replayed,
    /// A LogoutResponse that no sign-out under way waits for. 400.
    #[error("This sign-out answer does not belong to a sign-out in progress.")]
    UnknownChain,
    /// The sign-out form's CSRF token is missing or wrong. 403.
    #[error("The sign-out form's security token is missing or wrong. Open /logout and confirm there.")]
    BadCsrf,
}

impl SloError {
    /// The HTTP status of the page.
    pub fn status(&self) -> StatusCode {
        match self {
            SloError::BadCsrf => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for SloError {
    fn into_response(self) -> Response {
        tracing::info!(error = %self, "single-logout message refused");
        html::error_page_titled(self.status(), "Sign-out failed", &self.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(format!("store: {e}"))
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::InvalidUid | RegisterError::InvalidEmail(_) | RegisterError::InvalidPassword => {
                ApiError::InvalidInput(e.to_string())
            }
            RegisterError::UidTaken => ApiError::Conflict(e.to_string()),
            RegisterError::Store(s) => s.into(),
            RegisterError::Mail(m) => ApiError::Internal(format!("verification mail: {m}")),
            RegisterError::Hash(h) => ApiError::Internal(format!("password hashing: {h}")),
            RegisterError::Busy { retry_after } => ApiError::Busy { retry_after },
        }
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::InvalidToken | VerifyError::Expired => ApiError::InvalidInput(e.to_string()),
            VerifyError::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Throttled { retry_after } => ApiError::Throttled { retry_after },
            AuthError::Failed(_) => ApiError::InvalidCredentials,
            AuthError::Store(s) => s.into(),
            AuthError::Hash(h) => ApiError::Internal(format!("password verification: {h}")),
            AuthError::Busy { retry_after } => ApiError::Busy { retry_after },
        }
    }
}

impl From<PiiError> for ApiError {
    fn from(e: PiiError) -> Self {
        match e {
            PiiError::InvalidAttribute | PiiError::TooMany => ApiError::InvalidInput(e.to_string()),
            PiiError::InvalidCiphertext(_) => ApiError::InvalidCiphertext(e.to_string()),
            PiiError::NotFound(_) => ApiError::NotFound(e.to_string()),
            PiiError::Collides { .. } => ApiError::Conflict(e.to_string()),
            PiiError::Store(s) => s.into(),
        }
    }
}

impl From<GroupsError> for ApiError {
    fn from(e: GroupsError) -> Self {
        match e {
            GroupsError::InvalidName | GroupsError::TooMany => ApiError::InvalidInput(e.to_string()),
            GroupsError::NoSuchUser => ApiError::NotFound(e.to_string()),
            GroupsError::Store(s) => s.into(),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Store(s) => s.into(),
            AccessError::NotFound | AccessError::UnknownSp => ApiError::NotFound(e.to_string()),
            AccessError::AlreadyDecided | AccessError::TooManyPending => ApiError::Conflict(e.to_string()),
            other => ApiError::InvalidInput(other.to_string()),
        }
    }
}

impl From<UploadTokenError> for ApiError {
    fn from(e: UploadTokenError) -> Self {
        match e {
            UploadTokenError::Auth(a) => a.into(),
            UploadTokenError::CodeRequired => ApiError::SecondFactorRequired,
            UploadTokenError::Mfa(MfaError::Throttled { retry_after }) => ApiError::Throttled { retry_after },
            UploadTokenError::Mfa(MfaError::Store(s)) | UploadTokenError::Store(s) => s.into(),
            UploadTokenError::Mfa(MfaError::NoUser) => ApiError::InvalidCredentials,
            UploadTokenError::Mfa(_) => ApiError::InvalidCode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_variant_maps_to_its_status_and_a_problem_document() {
        let cases = [
            (ApiError::InvalidInput("x".into()), 400),
            (ApiError::InvalidCiphertext("x".into()), 400),
            (ApiError::InvalidCredentials, 401),
            (ApiError::Unauthorized("no token"), 401),
            (ApiError::UploadTokenRequired, 403),
            (ApiError::SecondFactorRequired, 401),
            (ApiError::InvalidCode, 401),
            (ApiError::AdminDisabled, 404),
            (ApiError::NotFound("x".into()), 404),
            (ApiError::Conflict("x".into()), 409),
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType("x"), 415),
            (ApiError::Throttled { retry_after: 4 }, 429),
            (ApiError::Busy { retry_after: 4 }, 503),
            (ApiError::Timeout, 408),
            (ApiError::Internal("secret cause".into()), 500),
        ];
        for (err, status) in cases {
            let res = err.into_response();
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
            if status == 429 || status == 503 {
                assert_eq!(res.headers()[header::RETRY_AFTER], "4");
            }
            let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["status"], status);
            assert!(v["type"].as_str().unwrap().starts_with("urn:idaas:problem:"));
            assert!(v["title"].is_string() && v["detail"].is_string());
            assert!(!v["detail"].as_str().unwrap().contains("secret cause"));
        }
    }

    #[test]
    fn sign_in_failures_look_the_same() {
        use crate::service::accounts::FailReason::*;
        let msgs: Vec<String> = [UnknownUser, WrongPassword, Unverified]
            .into_iter()
            .map(|r| ApiError::from(AuthError::Failed(r)).to_string())
            .collect();
        assert!(msgs.windows(2).all(|w| w[0] == w[1]));
    }

    #[tokio::test]
    async fn each_sso_variant_maps_to_its_status_and_an_error_page() {
        let cases = [
            (SsoError::BadRelayState, 400, "The RelayState is too long or malformed."),
            (SsoError::Request(RequestError::Missing), 400, "the request carries no SAMLRequest"),
            (SsoError::Request(RequestError::UnknownSp), 400, "not registered"),
            (SsoError::TooLargeForCookie, 400, "The sign-in request is too large."),
            (SsoError::FormExpired, 400, "This sign-in form has expired."),
            (SsoError::BadCsrf, 403, "security token is missing or wrong"),
            (SsoError::SignInUnavailable("secret cause".into()), 500, "Sign-in is unavailable right now."),
            (SsoError::ResponseFailed("secret cause".into()), 500, "could not complete the sign-in"),
        ];
        for (err, status, text) in cases {
            let res = err.into_response();
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(res.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
            assert!(res.headers().get(header::LOCATION).is_none(), "never a redirect");
            let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains("Sign-in failed") && body.contains("role=\"alert\""), "{body}");
            assert!(body.contains(&html::escape(text)), "{status}: {body}");
            assert!(!body.contains("secret cause"));
        }
    }
}
