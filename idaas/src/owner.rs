//! The data owner's client: it fetches the federation's authority public keys from the home
//! IdP (`GET /pbe/authorities`), encrypts **locally**, and uploads only ciphertexts to the PII
//! vault. The server never sees a plaintext. Reads use the API token (`POST /api/token`);
//! uploads and deletions a short-lived upload token (`POST /api/upload-token`, a fresh
//! authentication: the password and, with an authenticator app, a code). Used by `idaas pii …`,
//! the wallet and the quickstart.

use std::time::Duration;

use federation::api::{
    ApiToken, Authorities, PiiSummary, Problem, ServiceSummary, TokenRequest, UploadToken, UploadTokenRequest,
};
use pbe_core::disclosure::DisclosurePolicy;
use pbe_core::{AuthorityPublicKey, Encryptor, Policy, Suite, SuiteId};
use serde::de::DeserializeOwned;
use service_kit::secret::Secret;

/// Why a data-owner operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OwnerError {
    /// Network or protocol failure.
    #[error("home IdP: {0}")]
    Http(String),
    /// The home IdP answered with an error document.
    #[error("home IdP refused ({status}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem document's detail.
        detail: String,
    },
    /// Bad local input (policy, keys).
    #[error("{0}")]
    Input(String),
    /// The account has an authenticator app: an upload token needs a code from it.
    #[error("this account has an authenticator app: an upload token needs a code from it")]
    CodeRequired,
}

/// What to encrypt under: a policy in the policy language, or a disclosure policy.
#[derive(Debug, Clone)]
pub enum PolicySource {
    /// Policy text.
    Text(String),
    /// A disclosure policy, compiled with the home authority and `today` (days since epoch).
    Disclosure(Box<DisclosurePolicy>, u64),
}

/// A client of one home IdP.
#[derive(Debug, Clone)]
pub struct HomeClient {
    base: String,
    http: reqwest::Client,
}

/// Reads an answer of the home IdP as `T`, or its problem document as [`OwnerError::Refused`].
async fn answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, OwnerError> {
    let status = resp.status();
    let body = resp.bytes().await.map_err(http_err)?;
    if status.is_success() {
        serde_json::from_slice(&body).map_err(|e| OwnerError::Http(format!("unexpected answer: {e}")))
    } else {
        let problem = serde_json::from_slice::<Problem>(&body).ok();
        let second_factor = format!("urn:idaas:problem:{}", federation::api::PROBLEM_SECOND_FACTOR_REQUIRED);
        if problem.as_ref().is_some_and(|p| p.kind == second_factor) {
            return Err(OwnerError::CodeRequired);
        }
        let detail = problem.map(|p| p.detail).unwrap_or_else(|| "no problem document".to_owned());
        Err(OwnerError::Refused { status: status.as_u16(), detail })
    }
}

fn http_err(e: reqwest::Error) -> OwnerError {
    OwnerError::Http(e.without_url().to_string())
}

impl HomeClient {
    /// A client for the home IdP at `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Result<Self, OwnerError> {
        Self::trusting(base, None)
    }

    /// [`HomeClient::new`], trusting `extra_ca` (a PEM CA file) besides the system's roots
    /// (`SSL_CERT_FILE` names another system bundle).
    pub fn trusting(base: &str, extra_ca: Option<&std::path::Path>) -> Result<Self, OwnerError> {
        let http = service_kit::tls::client_builder(extra_ca)
            .map_err(|e| OwnerError::Http(e.to_string()))?
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OwnerError::Http(format!("HTTP client: {e}")))?;
        Ok(HomeClient { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// `POST /api/token`: a short-lived bearer token for `uid`.
    pub async fn token(&self, uid: &str, password: &str) -> Result<String, OwnerError> {
        Ok(self.api_token(uid, password).await?.access_token)
    }

    /// `POST /api/token`, the whole answer (with its lifetime).
    pub async fn api_token(&self, uid: &str, password: &str) -> Result<ApiToken, OwnerError> {
        let body = TokenRequest { uid: uid.to_owned(), password: Secret::new(password) };
        let resp =
            self.http.post(format!("{}/api/token", self.base)).json(&body).send().await.map_err(http_err)?;
        answer(resp).await
    }

    /// `POST /api/upload-token`: a short-lived token for uploads and deletions, after the
    /// password and, when the account has an authenticator app, `code`
    /// ([`OwnerError::CodeRequired`] without it).
    pub async fn upload_token(
        &self,
        uid: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<UploadToken, OwnerError> {
        let body = UploadTokenRequest {
            uid: uid.to_owned(),
            password: Secret::new(password),
            code: code.map(Secret::new),
        };
        let resp = self
            .http
            .post(format!("{}/api/upload-token", self.base))
            .json(&body)
            .send()
            .await
            .map_err(http_err)?;
        answer(resp).await
    }

    /// `GET /api/services`: the registered services, as the account page shows them.
    pub async fn services(&self, token: &str) -> Result<Vec<ServiceSummary>, OwnerError> {
        let resp = self
            .http
            .get(format!("{}/api/services", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(http_err)?;
        answer(resp).await
    }

    /// The home IdP's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /pbe/authorities`: (suite, home authority, [(authority, public key text)]).
    pub async fn authorities(&self) -> Result<(String, String, Vec<(String, String)>), OwnerError> {
        let resp = self.http.get(format!("{}/pbe/authorities", self.base)).send().await.map_err(http_err)?;
        let all: Authorities = answer(resp).await?;
        let home = all
            .own()
            .ok_or_else(|| OwnerError::Http("/pbe/authorities names no single own authority".into()))?
            .authority
            .clone();
        let keys = all.authorities.into_iter().map(|a| (a.authority, a.public_key)).collect();
        Ok((all.suite, home, keys))
    }

    /// Encrypts `value` locally under `policy` with the federation's keys; returns the
    /// ciphertext text and the canonical policy.
    pub async fn encrypt(&self, policy: &PolicySource, value: &[u8]) -> Result<(String, String), OwnerError> {
        let (suite, home, keys) = self.authorities().await?;
        let policy = match policy {
            PolicySource::Text(t) => {
                Policy::parse(t).map_err(|e| OwnerError::Input(format!("policy: {e}")))?
            }
            PolicySource::Disclosure(d, today) => {
                d.compile(&home, *today).map_err(|e| OwnerError::Input(format!("disclosure policy: {e}")))?
            }
        };
        let suite = SuiteId::from_name(&suite).ok_or_else(|| {
            OwnerError::Input(format!(
                "the home IdP uses suite '{suite}', which this client does not support"
            ))
        })?;
        let text = pbe_core::with_suite!(suite, S => encrypt_with::<S>(&keys, &policy, value)?);
        Ok((text, policy.to_string()))
    }

    /// `PUT /api/pii/{attribute}` with a ciphertext (text form), under an upload token
    /// ([`HomeClient::upload_token`]).
    pub async fn put(
        &self,
        token: &str,
        attribute: &str,
        ciphertext: &str,
    ) -> Result<PiiSummary, OwnerError> {
        let resp = self
            .http
            .put(format!("{}/api/pii/{attribute}", self.base))
            .bearer_auth(token)
            .body(ciphertext.to_owned())
            .send()
            .await
            .map_err(http_err)?;
        answer(resp).await
    }

    /// `GET /api/pii`.
    pub async fn list(&self, token: &str) -> Result<Vec<PiiSummary>, OwnerError> {
        let resp = self
            .http
            .get(format!("{}/api/pii", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(http_err)?;
        answer(resp).await
    }

    /// `DELETE /api/pii/{attribute}`, under an upload token.
    pub async fn remove(&self, token: &str, attribute: &str) -> Result<(), OwnerError> {
        let resp = self
            .http
            .delete(format!("{}/api/pii/{attribute}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(http_err)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            answer::<serde::de::IgnoredAny>(resp).await.map(|_| ())
        }
    }
}

fn encrypt_with<S: Suite>(
    keys: &[(String, String)],
    policy: &Policy,
    value: &[u8],
) -> Result<String, OwnerError> {
    let pks: Vec<AuthorityPublicKey<S>> = keys
        .iter()
        .map(|(name, text)| {
            pbe_core::wire::from_text(text)
                .map_err(pbe_core::Error::from)
                .and_then(|b| AuthorityPublicKey::<S>::from_bytes(&b))
                .map_err(|e| OwnerError::Input(format!("public key of {name}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let enc = Encryptor::new(pks.iter()).map_err(|e| OwnerError::Input(e.to_string()))?;
    let ct =
        enc.encrypt(policy, value, &mut rand_core::OsRng).map_err(|e| OwnerError::Input(e.to_string()))?;
    Ok(ct.to_text())
}
