//! The shared state of every handler: cheap to clone, all `Arc`s (STYLE.md §7.4).

use std::sync::Arc;

use federation::verify::TrustStore;
use service_kit::Clock;

use crate::audit::{AuditEntry, Outcome};
use crate::clients::{hash_secret, normalize_purposes, Client, SecretCache};
use crate::config::{Config, ConfigError, TrustedIdpConfig};
use crate::keys::{Keys, KeysError};
use crate::store::{Store, StoreError};
use crate::throttle::Throttle;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keys do not match the configuration.
    #[error("key material: {0}")]
    KeysMismatch(String),
    /// Key material could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A trusted IdP entry could not be loaded.
    #[error("trusted_idps[{index}]: {reason}")]
    Trust {
        /// Index in `trusted_idps`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A static client's secret could not be hashed.
    #[error("hashing the secret of client '{0}'")]
    Hash(String),
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Persistent records.
    pub store: Arc<dyn Store>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Key material.
    pub keys: Arc<Keys>,
    /// The trusted home IdPs, replaced by a metadata refresh ([`AppState::refresh_trust`]);
    /// read it with [`AppState::trust`].
    trust: Arc<std::sync::RwLock<Arc<TrustStore>>>,
    /// Failed client-authentication counters.
    pub throttle: Arc<Throttle>,
    /// Remembered client-secret verifications.
    pub secrets: Arc<SecretCache>,
    /// Token and introspection requests refused before the client authenticated: counted
    /// here, never written to the audit log (anonymous traffic must not grow the store).
    pub refused_unauthenticated: Arc<std::sync::atomic::AtomicU64>,
    /// Prometheus metrics (`/metrics`).
    pub metrics: service_kit::metrics::Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("entity_id", &self.config.entity_id)
            .field("authority", &self.keys.authority_name())
            .field("trusted_idps", &self.trust())
            .finish_non_exhaustive()
    }
}

/// Builds the trust store from the configuration's `trusted_idps` (files are read here).
pub fn load_trust(config: &Config) -> Result<TrustStore, StateError> {
    let mut trust = TrustStore::new();
    for (index, idp) in config.trusted_idps.iter().enumerate() {
        add_trusted(&mut trust, idp).map_err(|reason| StateError::Trust { index, reason })?;
    }
    Ok(trust)
}

/// Largest metadata document fetched, bytes.
pub const MAX_METADATA_BYTES: usize = 512 * 1024;

/// Fetches every `metadata_url` of `config.trusted_idps` (no redirects, 10 s, at most
/// [`MAX_METADATA_BYTES`]) and keeps the document as inline `metadata`, so the trust store is
/// built from what was fetched at start-up. `idaas visitor` calls this before
/// [`AppState::open`]; a failure names the entry and stops the start.
pub async fn fetch_metadata(config: &mut Config) -> Result<(), StateError> {
    let http = service_kit::tls::client_builder(config.tls_ca_file.as_deref())
        .map_err(|e| StateError::Trust { index: 0, reason: e.to_string() })?
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| StateError::Trust { index: 0, reason: e.to_string() })?;
    for (index, idp) in config.trusted_idps.iter_mut().enumerate() {
        let Some(url) = idp.metadata_url.clone() else { continue };
        let fail = |reason: String| StateError::Trust { index, reason: format!("{url}: {reason}") };
        let mut resp = http.get(&url).send().await.map_err(|e| fail(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.without_url().to_string()))? {
            if body.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err(fail(format!("larger than {MAX_METADATA_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| fail("not UTF-8".into()))?;
        idp.metadata = Some(text);
        idp.metadata_url = None;
        idp.fetched_from = Some(url);
    }
    Ok(())
}

/// The trust store from the trusted IdPs' metadata as it is now: URLs fetched again, files
/// read again (what a refresh does). An error leaves nothing half-built: the caller keeps its
/// old store.
pub async fn reload_trust(config: &Config) -> Result<TrustStore, StateError> {
    let mut config = config.clone();
    for idp in &mut config.trusted_idps {
        if let Some(url) = idp.fetched_from.take() {
            idp.metadata_url = Some(url);
            idp.metadata = None;
        }
    }
    fetch_metadata(&mut config).await?;
    load_trust(&config)
}

fn add_trusted(trust: &mut TrustStore, idp: &TrustedIdpConfig) -> Result<(), String> {
    if idp.metadata_url.is_some() {
        return Err("metadata_url has not been fetched (call state::fetch_metadata first)".into());
    }
    let expected = idp.entity_id.as_deref();
    if let Some(path) = &idp.metadata_file {
        let xml = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        trust.insert_metadata(&xml, expected).map_err(|e| format!("{}: {e}", path.display()))?;
    } else if let Some(xml) = &idp.metadata {
        trust.insert_metadata(xml, expected).map_err(|e| e.to_string())?;
    } else if let (Some(pem), Some(entity_id)) = (&idp.certificate_pem, expected) {
        let certs = pem_certificates(pem);
        trust.insert(entity_id, certs).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The DER of every `CERTIFICATE` block in `pem`.
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = body.take() {
                out.push(base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default());
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}

impl AppState {
    /// The trusted home IdPs as their metadata last said.
    pub fn trust(&self) -> Arc<TrustStore> {
        self.trust.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads every trusted IdP's metadata again ([`reload_trust`]) and trusts it from now on;
    /// on error the previous trust stays.
    pub async fn refresh_trust(&self) -> Result<(), StateError> {
        let fresh = reload_trust(&self.config).await?;
        *self.trust.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

impl AppState {
    /// Builds the state: validates `config`, checks that `keys` belong to the configured
    /// authority and suite, and upserts the configured clients into `store` (a secret is
    /// re-hashed only when it changed).
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: Arc<Keys>,
        trust: TrustStore,
    ) -> Result<AppState, StateError> {
        config.validate()?;
        if keys.authority_name() != config.authority || keys.suite() != config.suite {
            return Err(StateError::KeysMismatch(format!(
                "the keys are for authority '{}' ({}), the configuration says '{}' ({})",
                keys.authority_name(),
                keys.suite().name(),
                config.authority,
                config.suite.name()
            )));
        }
        let secrets = SecretCache::default();
        let now = clock.now();
        for c in &config.clients {
            let secret =
                c.client_secret.as_ref().map(|s| s.expose()).ok_or_else(|| ConfigError::Invalid {
                    key: format!("client '{}'.client_secret", c.client_id),
                    reason: "is required".into(),
                })?;
            let existing = store.get_client(&c.client_id)?;
            let secret_hash = match &existing {
                Some(e) if secrets.verify(e, secret) => e.secret_hash.clone(),
                _ => hash_secret(secret).map_err(|_| StateError::Hash(c.client_id.clone()))?,
            };
            let client = Client {
                client_id: c.client_id.clone(),
                name: c.name.clone(),
                secret_hash,
                purposes: normalize_purposes(&c.purposes),
                pat_public_key: c.pat_public_key.clone(),
                created: existing.as_ref().map_or(now, |e| e.created),
                entity_id: c.entity_id.clone(),
                may_exchange_for: c.may_exchange_for.clone(),
            };
            if existing.as_ref() != Some(&client) {
                store.put_client(&client)?;
                let mut entry = AuditEntry::new(now, Outcome::ClientStored);
                entry.client_id = Some(client.client_id.clone());
                entry.purposes = client.purposes.clone();
                entry.reason = Some("static client from the configuration".into());
                store.append_audit(&entry)?;
            }
        }
        let throttle = match store.pg_pool() {
            Some(pool) => Throttle::shared(crate::throttle::params(), pool, crate::store::pg::SCHEMA),
            None => Throttle::new(crate::throttle::params()),
        };
        Ok(AppState {
            config: Arc::new(config),
            store,
            clock,
            keys,
            trust: Arc::new(std::sync::RwLock::new(Arc::new(trust))),
            throttle: Arc::new(throttle),
            secrets: Arc::new(secrets),
            refused_unauthenticated: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            metrics: service_kit::metrics::Metrics::new("visitor"),
        })
    }

    /// Opens the store of `store_url` (by default sled in `<data_dir>/db`), loads (or creates) the keys in `data_dir`,
    /// reads the trusted IdPs, then calls [`AppState::new`]. This is what `idaas visitor` does.
    pub fn open(mut config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StateError> {
        config.validate()?;
        let trust = load_trust(&config)?;
        let keys = Keys::load_or_create(&config.data_dir, &config.authority, config.suite)?;
        for c in config.clients.iter_mut().filter(|c| c.client_secret.is_none()) {
            let path = config.data_dir.join("client-secrets").join(&c.client_id);
            let secret = crate::keys::load_or_create_text(&path, crate::clients::generate_secret)?;
            tracing::info!(client_id = %c.client_id, file = %path.display(), "client secret read from the data directory");
            c.client_secret = Some(crate::config::Secret::new(secret));
        }
        let store = crate::store::open(&config.store_url()?)?;
        tracing::info!(store = %config.store_url()?, "store opened");
        AppState::new(config, store, clock, Arc::new(keys), trust)
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
