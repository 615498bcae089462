//! The RFC 6749 §5.2 errors of the token and introspection endpoints, without HTTP: the grant
//! logic ([`crate::grant`]) returns them, [`crate::http::error`] maps them to responses (status,
//! `WWW-Authenticate`, `Retry-After`, `no-store`).

use crate::store::StoreError;

/// An RFC 6749 §5.2 error of the token or introspection endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// Missing, repeated or malformed parameter, unsupported content type, several client
    /// authentication methods. 400 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(String),
    /// Client authentication failed (unknown client, wrong secret, none given). 401
    /// `invalid_client`.
    #[error("client authentication failed")]
    InvalidClient,
    /// The assertion is invalid, expired, too old, replayed, or not for this IdP. 400
    /// `invalid_grant`.
    #[error("{0}")]
    InvalidGrant(String),
    /// The client may not use this grant (no purposes registered). 400 `unauthorized_client`.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// A `grant_type` other than RFC 7522's. 400 `unsupported_grant_type`.
    #[error("only grant_type=urn:ietf:params:oauth:grant-type:saml2-bearer is supported")]
    UnsupportedGrantType,
    /// `scope` names purposes the client is not registered for. 400 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(String),
    /// Too many failed client authentications. 429 `invalid_client` with `Retry-After`.
    #[error("too many failed client authentications; retry in {retry_after} s")]
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The body is larger than `max_body_bytes`. 413 `invalid_request`.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A server-side failure (logged). 500 `server_error`.
    #[error("internal: {0}")]
    ServerError(String),
}

impl OAuthError {
    /// The RFC 6749 error code.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) | OAuthError::PayloadTooLarge { .. } => "invalid_request",
            OAuthError::InvalidClient | OAuthError::Throttled { .. } => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::ServerError(_) => "server_error",
        }
    }

    /// The `error_description` (never an internal cause).
    pub fn description(&self) -> String {
        match self {
            OAuthError::ServerError(_) => "the server could not complete the request".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::ServerError(format!("store: {e}"))
    }
}
