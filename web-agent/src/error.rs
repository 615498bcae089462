//! The agent's errors, one type per area, each with exactly one `IntoResponse`: what a
//! browser or a calling agent sees is decided here and nowhere else.
//!
//! | type | area | body |
//! |---|---|---|
//! | [`RequestError`] | limits on the request itself (target, headers, time) | HTML page |
//! | [`SignInError`] | starting a sign-in, signing out | HTML page |
//! | [`AcsError`] | `POST /saml/acs` | HTML page |
//! | [`ProxyError`] | the gate in front of the backend, forwarding | HTML page |
//! | [`PropagationError`] | `/.idaas/partners/…` and `/.idaas/call/…` | JSON `{error, error_description}` |
//!
//! [`ExchangeError`] (the RFC 7522 exchange), [`UnlockError`] and
//! [`crate::decrypt::KeyError`] are never answered on their own: the ACS and the
//! propagation ingress wrap them, each with its own status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use federation::api::oauth::OAuthErrorBody;
use federation::claims::ClaimsError;

use crate::decrypt::KeyError;
use crate::html;
use crate::paths::PathError;
use crate::rbac::Level;

/// Limits on the request itself, checked before any handler.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The request target is longer than [`crate::MAX_TARGET`]. 414.
    #[error("The address is too long.")]
    TargetTooLong,
    /// The header section is larger than allowed. 431.
    #[error("The request's headers (cookies included) are too large.")]
    HeadersTooLarge,
    /// The request took longer than `request_timeout_secs`. 408.
    #[error("The request took too long and was cut off.")]
    Timeout,
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let (status, title) = match self {
            RequestError::TargetTooLong => (StatusCode::URI_TOO_LONG, "Request too long"),
            RequestError::HeadersTooLarge => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Request too large")
            }
            RequestError::Timeout => (StatusCode::REQUEST_TIMEOUT, "Request timeout"),
        };
        html::page(status, title, &self.to_string())
    }
}

/// Starting a sign-in (`/saml/login`, the gate) or signing out (`/saml/logout`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInError {
    /// The redirect URL to the IdP is not a valid header value. 500.
    #[error("The IdP URL is not usable.")]
    IdpUrl,
    /// The AuthnRequest could not be encoded. 500.
    #[error("The sign-in request could not be built.")]
    Request,
    /// The sign-out form is missing or malformed. 400.
    #[error("The sign-out form is missing or malformed.")]
    LogoutForm,
    /// The sign-out form's CSRF token is not this session's. 403.
    #[error("The sign-out form did not come from this service. Open /saml/logout and confirm there.")]
    LogoutForged,
}

impl IntoResponse for SignInError {
    fn into_response(self) -> Response {
        let (status, title) = match self {
            SignInError::IdpUrl | SignInError::Request => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed")
            }
            SignInError::LogoutForm => (StatusCode::BAD_REQUEST, "Sign-out failed"),
            SignInError::LogoutForged => (StatusCode::FORBIDDEN, "Sign-out failed"),
        };
        let more: &[service_kit::html::Link<'_>] = match self {
            SignInError::LogoutForm | SignInError::LogoutForged => {
                &[("/saml/logout", "Sign out"), ("/", "Go to the start page")]
            }
            _ => &[("/", "Go to the start page")],
        };
        html::page_with(status, title, &self.to_string(), more)
    }
}

/// Why the exchange at the visitor IdP failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The endpoint could not be reached or answered garbage.
    #[error("the visitor IdP could not be reached: {0}")]
    Transport(String),
    /// An RFC 6749 §5.2 error.
    #[error("the visitor IdP refused the grant: {0}")]
    Refused(String),
}

/// Why the keys of a verified assertion did not open its PII ([`crate::unlock`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// The assertion's idaas claims (suite, TAT, `pii:*`) break `federation::claims`' rules.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    /// No TAT, no SessionIndex, or the TAT does not open with this agent's key.
    #[error("the Time Access Token is missing or not sealed for this service and session")]
    Tat,
    /// The opened TAT is not a key bundle of the assertion's suite.
    #[error(transparent)]
    TatBundle(KeyError),
    /// The visitor IdP exchange failed.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The PAT does not open, or is for another session.
    #[error("the Purpose Access Token is not sealed for this service and session")]
    Pat,
    /// TAT/PAT mismatch (suite, session, bundle).
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The home IdP did not answer the PII fetch (unreachable, refused, malformed answer).
    #[error("the PII ciphertexts could not be fetched from the home IdP: {0}")]
    PiiFetch(String),
    /// The PII bundle does not open with this agent's key under its `info`, or is malformed.
    #[error("the PII ciphertexts are not sealed for this service and assertion")]
    PiiSeal,
}

/// Why a response was refused at `POST /saml/acs`. Shown to the user on a 400 (502 when
/// the visitor IdP is unreachable) page; no secrets in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcsError {
    /// The posted form is missing or is not form-encoded.
    #[error("The sign-in answer is missing or malformed.")]
    Form,
    /// Encoding, size, or XML problems.
    #[error("the SAML response is malformed: {0}")]
    Malformed(&'static str),
    /// The Response's Destination is not this ACS.
    #[error("the SAML response is addressed to another service")]
    WrongDestination,
    /// Signature, issuer, audience, recipient, time or replay.
    #[error("the SAML assertion was refused: {0}")]
    Invalid(#[from] federation::verify::ValidationError),
    /// `InResponseTo` names no request this browser started here (or one already answered /
    /// expired).
    #[error(
        "the SAML response does not answer a sign-in this service started in this browser (or it was already used or has expired); start again from the page you wanted"
    )]
    UnknownRequest,
    /// The IdP answered with a status other than Success.
    #[error("the identity provider did not sign you in (status: {0})")]
    Status(String),
    /// No TAT, or it does not open with this agent's key for this session.
    #[error("the Time Access Token is missing or not sealed for this service and session")]
    Tat,
    /// The visitor IdP exchange failed.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The PAT does not open, or is for another session.
    #[error("the Purpose Access Token is not sealed for this service and session")]
    Pat,
    /// TAT/PAT mismatch.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The assertion's idaas claims are missing, duplicated or hostile.
    #[error("the SAML assertion's idaas claims were refused: {0}")]
    Claims(ClaimsError),
    /// The PII ciphertexts could not be fetched from the home IdP, or did not open.
    #[error("your personal data could not be fetched from your identity provider")]
    Pii,
    /// The session could not be stored where the agent's other instances find it (the shared
    /// database, `store_url`). 503.
    #[error("the sign-in could not be completed right now; try again in a moment")]
    SessionStore,
}

impl From<UnlockError> for AcsError {
    fn from(e: UnlockError) -> Self {
        match e {
            UnlockError::Claims(e) => AcsError::Claims(e),
            UnlockError::Tat => AcsError::Tat,
            UnlockError::Exchange(e) => AcsError::Exchange(e),
            UnlockError::Pat => AcsError::Pat,
            UnlockError::TatBundle(e) | UnlockError::Keys(e) => AcsError::Keys(e),
            UnlockError::PiiFetch(_) | UnlockError::PiiSeal => AcsError::Pii,
        }
    }
}

impl AcsError {
    /// The status of the error page.
    pub fn status(&self) -> StatusCode {
        match self {
            AcsError::Exchange(ExchangeError::Transport(_)) | AcsError::Pii => StatusCode::BAD_GATEWAY,
            AcsError::SessionStore => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl AcsError {
    /// The `reason` label of `idaas_refusals_total` (a fixed, bounded set).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            AcsError::Form | AcsError::Malformed(_) => "malformed_response",
            AcsError::WrongDestination => "wrong_destination",
            AcsError::Invalid(_) => "assertion_refused",
            AcsError::UnknownRequest => "unknown_request",
            AcsError::Status(_) => "idp_status",
            AcsError::Tat | AcsError::Pat | AcsError::Keys(_) | AcsError::Claims(_) => "keys_refused",
            AcsError::Exchange(_) | AcsError::Pii => "upstream_failed",
            AcsError::SessionStore => "session_store",
        }
    }
}

impl IntoResponse for AcsError {
    fn into_response(self) -> Response {
        html::page_with(self.status(), "Sign-in failed", &self.to_string(), &[html::SIGN_IN_AGAIN])
    }
}

/// Why the gate did not forward a request to the backend, or forwarding failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The path is not in plain form ([`crate::paths`]). 400.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The request target does not parse after normalising. 400.
    #[error("The request target is malformed.")]
    Target,
    /// No session, and the method cannot start a sign-in. 401.
    #[error("Sign in to this service first.")]
    SignInRequired,
    /// The access rules refuse. 403.
    #[error("This page needs the access level '{}'; your groups give you '{}' here.", .needed.name(), .has.name())]
    Denied {
        /// The level the request needs.
        needed: Level,
        /// The level the user's groups give.
        has: Level,
    },
    /// The backend did not answer. 502.
    #[error("The service behind this agent did not answer.")]
    Unreachable,
    /// The client's request body could not be read (a malformed chunk, a connection cut in
    /// the middle), so forwarding failed on our side of the proxy: the client's error. 400.
    #[error("The request body could not be read.")]
    ClientBody,
    /// The client's request body is larger than `max_body_bytes` (sent chunked, so the limit
    /// was hit while streaming). 413.
    #[error("The request body is too large.")]
    ClientBodyTooLarge,
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let (status, title) = match self {
            ProxyError::Path(_) | ProxyError::Target | ProxyError::ClientBody => {
                (StatusCode::BAD_REQUEST, "Bad request")
            }
            ProxyError::ClientBodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Request too large"),
            ProxyError::SignInRequired => (StatusCode::UNAUTHORIZED, "Sign-in required"),
            ProxyError::Denied { .. } => (StatusCode::FORBIDDEN, "Access denied"),
            ProxyError::Unreachable => (StatusCode::BAD_GATEWAY, "Service unavailable"),
        };
        let more: &[service_kit::html::Link<'_>] = match self {
            ProxyError::SignInRequired => &[html::SIGN_IN_AGAIN],
            // Another user may be needed: signing out is the way to switch.
            ProxyError::Denied { .. } => {
                &[("/", "Go to the start page"), ("/saml/logout", "Sign out to switch user")]
            }
            _ => &[("/", "Go to the start page")],
        };
        html::page_with(status, title, &self.to_string(), more)
    }
}

/// Why a propagated call (either side) was refused. The message is safe to show and log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// The egress route was called from an address that is not the backend's.
    #[error("the partner route is only for this agent's backend")]
    EgressSource,
    /// No such partner configured.
    #[error("no partner named '{0}' is configured")]
    UnknownPartner(String),
    /// `X-Idaas-Session` missing, unknown or expired.
    #[error("the session handle is missing, unknown or expired")]
    Session,
    /// The session has no propagation material (not a PBE sign-in).
    #[error("this session cannot be propagated (no assertion and TAT)")]
    NotPropagatable,
    /// A required call header is missing or malformed.
    #[error("the call is malformed: {0}")]
    Malformed(&'static str),
    /// The body is too large.
    #[error("the call body is too large")]
    TooLarge,
    /// The key is not a configured caller's.
    #[error("the caller is not known to this service")]
    UnknownCaller,
    /// The signature does not verify.
    #[error("the caller's signature does not verify")]
    BadSignature,
    /// The timestamp is outside the window.
    #[error("the call's timestamp is outside the accepted window")]
    Stale,
    /// The nonce was seen.
    #[error("the call was already received (replay)")]
    Replayed,
    /// The caller may not call this path.
    #[error("the caller may not call this path")]
    PathNotAllowed,
    /// The assertion does not verify or is from another issuer / not yet valid.
    #[error("the propagated assertion was refused: {0}")]
    Assertion(String),
    /// The TAT does not open with this agent's key for this session and assertion.
    #[error("the TAT is not sealed for this service and session")]
    Tat,
    /// The visitor IdP refused the exchange.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The PAT does not open or is for another session.
    #[error("the Purpose Access Token is not sealed for this service and session")]
    Pat,
    /// TAT/PAT mismatch.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The propagated assertion's idaas claims are missing, duplicated or hostile.
    #[error("the propagated assertion's idaas claims were refused: {0}")]
    Claims(ClaimsError),
    /// RBAC.
    #[error("the user's groups do not allow this request here")]
    Forbidden,
    /// The partner could not be reached.
    #[error("the partner service could not be reached")]
    Unreachable,
    /// The user's PII ciphertexts could not be fetched from the home IdP (egress).
    #[error("the user's PII could not be fetched from the home IdP")]
    PiiFetch,
}

impl From<UnlockError> for PropagationError {
    fn from(e: UnlockError) -> Self {
        match e {
            // A propagated TAT that opens but is no key bundle is "not sealed for us".
            UnlockError::Claims(e) => PropagationError::Claims(e),
            UnlockError::Tat | UnlockError::TatBundle(_) => PropagationError::Tat,
            UnlockError::Exchange(e) => PropagationError::Exchange(e),
            UnlockError::Pat => PropagationError::Pat,
            UnlockError::Keys(e) => PropagationError::Keys(e),
            UnlockError::PiiFetch(_) => PropagationError::PiiFetch,
            UnlockError::PiiSeal => {
                PropagationError::Malformed("x-idaas-call-pii: not sealed for this service")
            }
        }
    }
}

impl PropagationError {
    /// The status and the machine-readable `error` code (also logged as the reason).
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use PropagationError as E;
        match self {
            E::EgressSource => (StatusCode::FORBIDDEN, "egress_source"),
            E::UnknownPartner(_) => (StatusCode::NOT_FOUND, "unknown_partner"),
            E::Session => (StatusCode::UNAUTHORIZED, "invalid_session"),
            E::NotPropagatable => (StatusCode::CONFLICT, "not_propagatable"),
            E::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_call"),
            E::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            E::UnknownCaller => (StatusCode::UNAUTHORIZED, "unknown_caller"),
            E::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
            E::Stale => (StatusCode::UNAUTHORIZED, "stale_call"),
            E::Replayed => (StatusCode::UNAUTHORIZED, "replayed_call"),
            E::PathNotAllowed => (StatusCode::FORBIDDEN, "path_not_allowed"),
            E::Assertion(_) => (StatusCode::FORBIDDEN, "invalid_assertion"),
            E::Tat => (StatusCode::FORBIDDEN, "invalid_tat"),
            E::Exchange(ExchangeError::Transport(_)) => (StatusCode::BAD_GATEWAY, "visitor_unreachable"),
            E::Exchange(_) => (StatusCode::FORBIDDEN, "exchange_refused"),
            E::Pat => (StatusCode::FORBIDDEN, "invalid_pat"),
            E::Keys(_) => (StatusCode::FORBIDDEN, "key_mismatch"),
            E::Claims(_) => (StatusCode::FORBIDDEN, "invalid_claims"),
            E::Forbidden => (StatusCode::FORBIDDEN, "access_denied"),
            E::Unreachable => (StatusCode::BAD_GATEWAY, "partner_unreachable"),
            E::PiiFetch => (StatusCode::BAD_GATEWAY, "pii_unavailable"),
        }
    }
}

impl IntoResponse for PropagationError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = OAuthErrorBody { error: code.to_owned(), error_description: self.to_string() };
        (status, axum::Json(body)).into_response()
    }
}

/// A refused single-logout message: an error page, and nothing changes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SloError {
    /// Malformed, unsigned, forged, from another issuer, addressed elsewhere, or stale. 400.
    #[error("The sign-out message was refused: {0}")]
    Refused(#[from] federation::logout::LogoutError),
    /// A LogoutResponse to a request this browser did not send (or already answered). 400.
    #[error("This sign-out answer does not match a sign-out started in this browser.")]
    UnknownRequest,
    /// A LogoutRequest received before. 400.
    #[error("This sign-out request was already received.")]
    Replayed,
    /// The answer to the IdP could not be built (the key); the cause is logged. 500.
    #[error("The sign-out could not be completed.")]
    Failed(String),
}

impl SloError {
    /// The HTTP status of the page.
    pub fn status(&self) -> StatusCode {
        match self {
            SloError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for SloError {
    fn into_response(self) -> Response {
        match &self {
            SloError::Failed(cause) => tracing::error!(%cause, "single logout failed"),
            other => tracing::info!(error = %other, "single-logout message refused"),
        }
        crate::html::page(self.status(), "Sign-out failed", &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use federation::verify::ValidationError;

    fn status(r: impl IntoResponse) -> u16 {
        r.into_response().status().as_u16()
    }

    /// Fails to compile when a variant is added without a row in the table below.
    #[allow(dead_code)]
    fn every_variant_has_a_row(
        r: &RequestError,
        s: &SignInError,
        a: &AcsError,
        p: &ProxyError,
        c: &PropagationError,
    ) {
        use PropagationError as E;
        match r {
            RequestError::TargetTooLong | RequestError::HeadersTooLarge | RequestError::Timeout => {}
        }
        match s {
            SignInError::IdpUrl
            | SignInError::Request
            | SignInError::LogoutForm
            | SignInError::LogoutForged => {}
        }
        match a {
            AcsError::Form
            | AcsError::Malformed(_)
            | AcsError::WrongDestination
            | AcsError::Invalid(_)
            | AcsError::UnknownRequest
            | AcsError::Status(_)
            | AcsError::Tat
            | AcsError::Exchange(ExchangeError::Transport(_) | ExchangeError::Refused(_))
            | AcsError::Pat
            | AcsError::Keys(_)
            | AcsError::Claims(_)
            | AcsError::Pii
            | AcsError::SessionStore => {}
        }
        match p {
            ProxyError::Path(_)
            | ProxyError::Target
            | ProxyError::SignInRequired
            | ProxyError::Denied { .. }
            | ProxyError::Unreachable
            | ProxyError::ClientBody
            | ProxyError::ClientBodyTooLarge => {}
        }
        match c {
            E::EgressSource
            | E::UnknownPartner(_)
            | E::Session
            | E::NotPropagatable
            | E::Malformed(_)
            | E::TooLarge
            | E::UnknownCaller
            | E::BadSignature
            | E::Stale
            | E::Replayed
            | E::PathNotAllowed
            | E::Assertion(_)
            | E::Tat
            | E::Exchange(ExchangeError::Transport(_) | ExchangeError::Refused(_))
            | E::Pat
            | E::Keys(_)
            | E::Claims(_)
            | E::Forbidden
            | E::Unreachable
            | E::PiiFetch => {}
        }
    }

    /// Every variant of every area and the status it is answered with (today's statuses:
    /// a change here is a change of the agent's HTTP behaviour).
    #[test]
    fn every_variant_maps_to_its_status() {
        for (e, s) in [
            (RequestError::TargetTooLong, 414),
            (RequestError::HeadersTooLarge, 431),
            (RequestError::Timeout, 408),
        ] {
            assert_eq!(status(e), s);
        }
        for (e, s) in [
            (SignInError::IdpUrl, 500),
            (SignInError::Request, 500),
            (SignInError::LogoutForm, 400),
            (SignInError::LogoutForged, 403),
        ] {
            assert_eq!(status(e), s);
        }
        let acs = [
            (AcsError::Form, 400),
            (AcsError::Malformed("x"), 400),
            (AcsError::WrongDestination, 400),
            (AcsError::Invalid(ValidationError::UnknownIssuer), 400),
            (AcsError::UnknownRequest, 400),
            (AcsError::Status("Responder".into()), 400),
            (AcsError::Tat, 400),
            (AcsError::Exchange(ExchangeError::Transport("down".into())), 502),
            (AcsError::Exchange(ExchangeError::Refused("invalid_grant".into())), 400),
            (AcsError::Pat, 400),
            (AcsError::Keys(KeyError::Suite), 400),
            (AcsError::Claims(ClaimsError::BadName), 400),
            (AcsError::Pii, 502),
            (AcsError::SessionStore, 503),
        ];
        for (e, s) in acs {
            assert_eq!(status(e), s);
        }
        for (e, s) in [
            (ProxyError::Path(PathError("x")), 400),
            (ProxyError::Target, 400),
            (ProxyError::SignInRequired, 401),
            (ProxyError::Denied { needed: Level::Full, has: Level::Read }, 403),
            (ProxyError::Unreachable, 502),
            (ProxyError::ClientBody, 400),
            (ProxyError::ClientBodyTooLarge, 413),
        ] {
            assert_eq!(status(e), s);
        }
        use PropagationError as E;
        for (e, s, code) in [
            (E::EgressSource, 403, "egress_source"),
            (E::UnknownPartner("p".into()), 404, "unknown_partner"),
            (E::Session, 401, "invalid_session"),
            (E::NotPropagatable, 409, "not_propagatable"),
            (E::Malformed("x"), 400, "malformed_call"),
            (E::TooLarge, 413, "too_large"),
            (E::UnknownCaller, 401, "unknown_caller"),
            (E::BadSignature, 401, "bad_signature"),
            (E::Stale, 401, "stale_call"),
            (E::Replayed, 401, "replayed_call"),
            (E::PathNotAllowed, 403, "path_not_allowed"),
            (E::Assertion("x".into()), 403, "invalid_assertion"),
            (E::Tat, 403, "invalid_tat"),
            (E::Exchange(ExchangeError::Transport("x".into())), 502, "visitor_unreachable"),
            (E::Exchange(ExchangeError::Refused("x".into())), 403, "exchange_refused"),
            (E::Pat, 403, "invalid_pat"),
            (E::Keys(KeyError::Suite), 403, "key_mismatch"),
            (E::Claims(ClaimsError::UnknownSuite), 403, "invalid_claims"),
            (E::Forbidden, 403, "access_denied"),
            (E::Unreachable, 502, "partner_unreachable"),
            (E::PiiFetch, 502, "pii_unavailable"),
        ] {
            assert_eq!(e.status_and_code().1, code);
            assert_eq!(status(e), s);
        }
    }

    /// The unlock pipeline's errors keep each area's historical mapping.
    #[test]
    fn unlock_errors_map_per_area() {
        let tat_bundle = || UnlockError::TatBundle(KeyError::Malformed("TAT"));
        assert!(matches!(AcsError::from(tat_bundle()), AcsError::Keys(KeyError::Malformed("TAT"))));
        assert!(matches!(PropagationError::from(tat_bundle()), PropagationError::Tat));
        assert!(matches!(AcsError::from(UnlockError::Tat), AcsError::Tat));
        let claims = || UnlockError::Claims(ClaimsError::Missing("idaas:suite"));
        assert!(matches!(AcsError::from(claims()), AcsError::Claims(_)));
        assert!(matches!(PropagationError::from(claims()), PropagationError::Claims(_)));
        assert!(matches!(AcsError::from(UnlockError::Pat), AcsError::Pat));
        assert!(matches!(PropagationError::from(UnlockError::Pat), PropagationError::Pat));
        assert!(matches!(
            PropagationError::from(UnlockError::Keys(KeyError::Suite)),
            PropagationError::Keys(KeyError::Suite)
        ));
        let fetch = || UnlockError::PiiFetch("down".into());
        assert!(matches!(AcsError::from(fetch()), AcsError::Pii));
        assert!(matches!(AcsError::from(UnlockError::PiiSeal), AcsError::Pii));
        assert!(matches!(PropagationError::from(fetch()), PropagationError::PiiFetch));
        assert!(matches!(PropagationError::from(UnlockError::PiiSeal), PropagationError::Malformed(_)));
    }

    #[test]
    fn bodies_are_unchanged() {
        let denied = ProxyError::Denied { needed: Level::ReadWrite, has: Level::Read }.to_string();
        assert_eq!(
            denied,
            "This page needs the access level 'read_write'; your groups give you 'read' here."
        );
        assert_eq!(
            ProxyError::Path(PathError("dot-segment")).to_string(),
            "the request path is not in plain form: dot-segment"
        );
    }
}
