//! The RFC 7522 exchange at the visitor IdP's token endpoint. oauth2 5.0 cannot send an
//! extension grant (it hard-codes `grant_type`, and adding it again sends it twice, which RFC
//! 6749 §3.2 forbids), so the form is sent here with reqwest. The answer is read with the
//! oauth2 crate's own types: `StandardTokenResponse` with our extra fields, and
//! `BasicErrorResponse` for RFC 6749 §5.2 errors.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use federation::pat::{PatFields, GRANT_TYPE_SAML2_BEARER};
use oauth2::basic::{BasicErrorResponse, BasicTokenType};
use oauth2::{ExtraTokenFields, StandardTokenResponse, TokenResponse as _};
use serde::{Deserialize, Serialize};

use crate::config::VisitorConfig;
pub use crate::error::ExchangeError;

/// Largest token response read, bytes.
pub const MAX_RESPONSE: usize = 256 * 1024;
/// How long the exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The PAT members of the token response, as oauth2 extra fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PatExtra(pub PatFields);

impl ExtraTokenFields for PatExtra {}

/// The token response.
pub type PatTokenResponse = StandardTokenResponse<PatExtra, BasicTokenType>;

/// What the exchange yields.
#[derive(Debug)]
pub struct Exchanged {
    /// The PAT and receipt.
    pub fields: PatFields,
    /// The purposes granted (`scope`).
    pub scopes: Vec<String>,
}

/// A client for token requests (and the start-up metadata fetch): no redirects (a token
/// endpoint never redirects), a connect timeout and a whole-request timeout.
pub fn http_client(extra_ca: Option<&std::path::Path>) -> Result<reqwest::Client, crate::StartError> {
    Ok(service_kit::tls::client_builder(extra_ca)?
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(crate::BACKEND_CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .build()?)
}

/// RFC 6749 §2.3.1: client_id and secret are form-urlencoded before HTTP Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Exchanges the signed `assertion_xml` for a PAT (`client_secret_basic`).
pub async fn exchange(
    http: &reqwest::Client,
    visitor: &VisitorConfig,
    assertion_xml: &str,
) -> Result<Exchanged, ExchangeError> {
    let assertion = URL_SAFE_NO_PAD.encode(assertion_xml.as_bytes());
    let response = http
        .post(&visitor.token_endpoint)
        .basic_auth(form_encode(&visitor.client_id), Some(form_encode(visitor.client_secret.expose())))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[("grant_type", GRANT_TYPE_SAML2_BEARER), ("assertion", assertion.as_str())])
        .send()
        .await
        .map_err(|e| ExchangeError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    let body = read_limited(response).await?;
    if status.is_success() {
        let token: PatTokenResponse = serde_json::from_slice(&body)
            .map_err(|e| ExchangeError::Transport(format!("malformed token response: {e}")))?;
        let scopes = token.scopes().map(|s| s.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
        Ok(Exchanged { fields: token.extra_fields().0.clone(), scopes })
    } else {
        match serde_json::from_slice::<BasicErrorResponse>(&body) {
            Ok(e) => Err(ExchangeError::Refused(match e.error_description() {
                Some(d) => format!("{}: {d}", e.error()),
                None => e.error().to_string(),
            })),
            Err(_) => Err(ExchangeError::Transport(format!("HTTP {status} without an OAuth error"))),
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ExchangeError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ExchangeError::Transport(e.to_string()))? {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(ExchangeError::Transport("token response too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
