//! SAML 2.0 SSO without the HTTP routing: decoding and accepting AuthnRequests
//! ([`request`]), building the signed response that carries the user's PII ciphertexts and a
//! Time Access Token sealed for the service ([`response`]), the IdP metadata ([`metadata`]), authentication contexts ([`authn_context`]) and
//! the few HTML pages ([`html`]), and SP registrations read from SP metadata ([`sp_import`]). The `/saml/*` handlers are in [`crate::http::sso`], the
//! session table in [`crate::sso_sessions`].

pub mod authn_context;
pub mod html;
pub mod metadata;
pub mod request;
pub mod response;
pub mod sp_import;
pub mod status;
