//! What every handler can reach ([`AppState`]) and how it is built from the configuration
//! at start-up: the trusted IdP's metadata, the agent's keys (HPKE, SAML signing, call signing), the HTTP clients (each with
//! connect and read timeouts and no redirects), the access rules.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::seal_keys::SealKeys;
use federation::signing_key::SigningKey;
use federation::verify::ReplayCache;
use service_kit::Clock;

use crate::config::{self, Config};
use crate::cookies::{cookie_name, SESSION_KIND, SIGNIN_KIND, SLO_KIND};
use crate::propagation::{CallSigner, Memory};
use crate::rbac::AccessRules;
use crate::session::{self, Sessions};
use crate::sp::TrustedIdp;
use crate::{exchange, keys, signin};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The key file.
    #[error(transparent)]
    Key(#[from] keys::KeyFileError),
    /// The SAML signing key or its certificate.
    #[error(transparent)]
    SigningKey(#[from] federation::signing_key::SigningKeyError),
    /// The IdP metadata.
    #[error("home_idp metadata: {0}")]
    Metadata(String),
    /// An HTTP client could not be built (TLS back end). The default client would silently
    /// drop the timeouts and the no-redirect policy, so this stops the start instead.
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// The TLS trust of outbound clients (`tls_ca_file`).
    #[error(transparent)]
    Tls(#[from] service_kit::tls::TlsError),
    /// The shared state's database (`store_url`) could not be opened or migrated.
    #[error("store_url: {0}")]
    Store(String),
}

/// How long the agent waits for a backend or partner to accept a connection.
pub const BACKEND_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long the agent waits for the next bytes of a backend's or partner's answer.
pub const BACKEND_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What every handler can reach (all `Arc`s: cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The trusted home IdP, replaced when its metadata is refreshed
    /// ([`AppState::refresh_metadata`]); read it with [`AppState::idp`].
    idp: Arc<RwLock<Arc<TrustedIdp>>>,
    /// The agent's HPKE key (TATs and PATs are sealed to it).
    pub key: Arc<SealKeys>,
    /// The agent's SAML signing key (AuthnRequests, logout messages) and its certificate.
    pub saml_key: Arc<SigningKey>,
    /// Sessions and pending requests.
    pub sessions: Arc<Sessions>,
    /// Used assertion IDs.
    pub replay: Arc<ReplayCache>,
    /// Access rules (replaced on reload).
    pub rules: Arc<RwLock<AccessRules>>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Client for the visitor IdP.
    pub http: reqwest::Client,
    /// Client for the backend.
    pub backend: reqwest::Client,
    /// The session cookie's name.
    pub cookie_name: Arc<str>,
    /// The sign-in cookie's name (pending AuthnRequests of this browser).
    pub signin_cookie: Arc<str>,
    /// The sign-out cookie's name (the LogoutRequest this browser carries to the IdP).
    pub slo_cookie: Arc<str>,
    /// The MAC key of sign-in cookies and sign-out forms.
    pub signin: Arc<signin::Keys>,
    /// Addresses the egress route (`/.idaas/partners/…`) accepts calls from.
    pub egress_sources: Arc<Vec<IpAddr>>,
    /// The Ed25519 key that signs propagated calls.
    pub signer: Arc<CallSigner>,
    /// Nonces of received propagated calls and PATs exchanged for them.
    pub propagation: Arc<Memory>,
    /// The tables shared with the other instances of this agent (`store_url` in PostgreSQL);
    /// `None`: everything is in this process's memory.
    pub shared: Option<Arc<crate::shared::Shared>>,
    /// Prometheus metrics (`/metrics`).
    pub metrics: service_kit::metrics::Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("entity_id", &self.config.entity_id).finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state from a validated configuration and the IdP metadata text.
    pub fn new(config: Config, idp_metadata: &str, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
        config.validate()?;
        let idp = TrustedIdp::from_metadata(idp_metadata).map_err(|e| StartError::Metadata(e.to_string()))?;
        let key = SealKeys::load(&config.data_dir, config.seal_suite())?;
        let signer = CallSigner::load_or_create(&config.data_dir)?;
        let saml_key = SigningKey::load_or_create(
            &config.data_dir,
            &format!("idaas web agent {} SAML signing", config.entity_id),
        )?;
        if !config.partners.is_empty() || !config.callers.is_empty() {
            tracing::info!(
                public_key = %signer.public_text(),
                partners = config.partners.len(),
                callers = config.callers.len(),
                "identity propagation: this agent's call-signing key"
            );
        }
        let rules = config.access_rules()?;
        let egress_sources = config.egress_sources();
        if egress_sources.is_empty() && !config.partners.is_empty() {
            tracing::warn!("backend_url's host resolves to no address: the partner route refuses every call");
        }
        let backend = backend_client(config.tls_ca_file.as_deref())?;
        let shared = crate::shared::open(&config)?;
        let signin = signin::Keys::load_or_create(&config.data_dir)?;
        Ok(AppState {
            idp: Arc::new(RwLock::new(Arc::new(idp))),
            key: Arc::new(key),
            saml_key: Arc::new(saml_key),
            sessions: Arc::new(Sessions::with_memory_limit(config.session_memory_limit_bytes())),
            replay: Arc::new(ReplayCache::new(session::MAX_ANSWERED)),
            rules: Arc::new(RwLock::new(rules)),
            clock,
            http: exchange::http_client(config.tls_ca_file.as_deref())?,
            backend,
            cookie_name: cookie_name(&config, SESSION_KIND).into(),
            signin_cookie: cookie_name(&config, SIGNIN_KIND).into(),
            slo_cookie: cookie_name(&config, SLO_KIND).into(),
            signin: Arc::new(signin),
            egress_sources: Arc::new(egress_sources),
            signer: Arc::new(signer),
            propagation: Arc::new(Memory::new(shared.clone())),
            shared,
            metrics: service_kit::metrics::Metrics::new("agent"),
            config: Arc::new(config),
        })
    }

    /// The trusted home IdP as its metadata last said.
    pub fn idp(&self) -> Arc<TrustedIdp> {
        self.idp.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the IdP metadata again (file or URL, as configured) and trusts what it says from
    /// now on — the signing certificates of a key rollover, a moved endpoint. Metadata for
    /// another entity ID, or unusable metadata, is refused and the previous trust stays.
    pub async fn refresh_metadata(&self) -> Result<(), StartError> {
        let xml = Self::load_metadata(&self.config).await?;
        let fresh = TrustedIdp::from_metadata(&xml).map_err(|e| StartError::Metadata(e.to_string()))?;
        let current = self.idp();
        if fresh.entity_id != current.entity_id {
            return Err(StartError::Metadata(format!(
                "the refreshed metadata is for {}, not {}",
                fresh.entity_id, current.entity_id
            )));
        }
        *self.idp.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }

    /// Reads the IdP metadata named by the configuration (file, or URL fetched now).
    pub async fn load_metadata(config: &Config) -> Result<String, StartError> {
        if let Some(path) = &config.home_idp.metadata_file {
            return std::fs::read_to_string(path)
                .map_err(|e| StartError::Metadata(format!("{}: {e}", path.display())));
        }
        let url = config.home_idp.metadata_url.as_deref().unwrap_or_default();
        let resp = exchange::http_client(config.tls_ca_file.as_deref())?
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| StartError::Metadata(format!("{url}: {e}")))?;
        resp.text().await.map_err(|e| StartError::Metadata(format!("{url}: {e}")))
    }

    /// Re-reads the access rules from `path` (SIGHUP). Sessions are kept. On error the old
    /// rules stay and the error is returned.
    pub fn reload_rules(&self, path: &Path) -> Result<(), config::ConfigError> {
        let fresh = Config::load(path)?.access_rules()?;
        *self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// The client for the backend and partner agents. No whole-request timeout: a backend may
/// stream a long answer. A backend that does not accept the connection, or stops sending, is
/// cut off instead; no redirects (the browser, not the agent, follows the backend's).
pub fn backend_client(extra_ca: Option<&std::path::Path>) -> Result<reqwest::Client, StartError> {
    Ok(service_kit::tls::client_builder(extra_ca)?
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(BACKEND_CONNECT_TIMEOUT)
        .read_timeout(BACKEND_READ_TIMEOUT)
        .build()?)
}
