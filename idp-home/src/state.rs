//! The shared state of every handler: cheap to clone, all `Arc`s (STYLE.md §7.4). Building it
//! ([`AppState::new`]) touches no files; opening the data directory, fetching visitor
//! authorities and writing `metadata.xml` are [`crate::startup`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use service_kit::Clock;

use crate::config::{Config, ConfigError};
use crate::keys::{Keys, KeysError};
use crate::service::hashing::HashPool;
use crate::service::passwords;
use crate::slo_chains::Chains;
use crate::sso_sessions::SsoState;
use crate::store::{Store, StoreError};
use crate::throttle::Throttle;

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keys do not match the configuration (authority name or suite).
    #[error("key material: {0}")]
    KeysMismatch(String),
    /// Key material could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An HTTP client could not be built (TLS back end). The default client would silently
    /// drop the timeout and the no-redirect policy, so this stops the start instead.
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// The TLS trust of outbound clients (`tls_ca_file`).
    #[error(transparent)]
    Tls(#[from] service_kit::tls::TlsError),
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
    /// This IdP's key material.
    pub keys: Arc<Keys>,
    /// ABE authority name → public key text: this IdP's own authority and the visitor ones.
    pub federation: Arc<BTreeMap<String, String>>,
    /// Failed sign-in counters.
    pub throttle: Arc<Throttle>,
    /// The bound on concurrent argon2id hashes and their reused memory (issue 15).
    pub hashes: Arc<HashPool>,
    /// SAML SSO state (sessions, pending requests).
    pub sso: Arc<SsoState>,
    /// Single-logout chains under way and LogoutRequest IDs seen.
    pub slo: Arc<Chains>,
    /// One PII writer at a time: the per-user cap and the name-collision check are
    /// read-then-insert (`service::vault::put_pii`).
    pub pii_writes: Arc<std::sync::Mutex<()>>,
    /// Prometheus metrics (`/metrics`).
    pub metrics: service_kit::metrics::Metrics,
    /// The logo of the IdP's pages (`logo_file`), when configured.
    pub logo: Option<Arc<crate::logo::Logo>>,
    /// The parsed `disallowed_networks` (issue 20).
    pub disallowed_networks: Arc<Vec<ipnet::IpNet>>,
    /// The WebAuthn relying party (issue 20); `None` when `public_url` has no domain name.
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Passkey challenges already answered (this instance).
    pub used_challenges: Arc<crate::service::passkeys::UsedChallenges>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("entity_id", &self.config.entity_id())
            .field("authorities", &self.federation.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state: validates `config`, checks that `keys` belong to the configured
    /// authority and suite, upserts the configured service providers into `store`, and builds
    /// the federation map (each visitor key checked with `pbe::check_authority_public_key`).
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: Arc<Keys>,
    ) -> Result<AppState, StateError> {
        config.validate()?;
        if keys.authority_name() != config.authority {
            return Err(StateError::KeysMismatch(format!(
                "the keys are for authority '{}', the configuration says '{}'",
                keys.authority_name(),
                config.authority
            )));
        }
        if keys.suite() != config.suite {
            return Err(StateError::KeysMismatch(format!(
                "the keys are for suite {}, the configuration says {}",
                keys.suite().name(),
                config.suite.name()
            )));
        }
        let mut federation = BTreeMap::new();
        federation.insert(keys.authority_name().to_owned(), keys.authority_public_key_text());
        for (i, va) in config.visitor_authorities.iter().enumerate() {
            let key =
                crate::config::check_visitor_authority(config.suite, va).map_err(|(field, reason)| {
                    ConfigError::Invalid { key: format!("visitor_authorities[{i}].{field}"), reason }
                })?;
            if va.public_key.is_none() {
                return Err(ConfigError::Invalid {
                    key: format!("visitor_authorities[{i}].url"),
                    reason: "has not been fetched (call startup::fetch_authorities first)".into(),
                }
                .into());
            }
            federation.insert(va.name.clone(), key.to_owned());
        }
        for sp in &config.service_providers {
            store.put_sp(&sp.clone().into())?;
        }
        passwords::warm_up();
        let hashes = HashPool::new(
            config.max_concurrent_hashes,
            std::time::Duration::from_millis(config.hash_queue_timeout_ms),
            passwords::BLOCK_COUNT,
        );
        // With a PostgreSQL store, the state the instances must share is there too.
        let (throttle, sessions): (Throttle, Box<dyn crate::sso_sessions::SessionTable>) = match store
            .pg_pool()
        {
            Some(pool) => (
                Throttle::shared(
                    crate::throttle::ThrottleParams::default(),
                    pool.clone(),
                    crate::store::pg::SCHEMA,
                ),
                Box::new(crate::sso_sessions::pg::PgSessions::new(pool)),
            ),
            None => (Throttle::default(), Box::new(crate::sso_sessions::memory::MemorySessions::default())),
        };
        let sso = SsoState::new(keys.pii_ref_key().derive("sso cookies"), sessions);
        let slo = store.pg_pool().map_or_else(Chains::default, Chains::shared);
        let logo = match &config.logo_file {
            Some(path) => Some(Arc::new(crate::logo::Logo::load(path).map_err(|reason| {
                StateError::Config(ConfigError::Invalid { key: "logo_file".into(), reason })
            })?)),
            None => None,
        };
        let disallowed_networks = Arc::new(config.disallowed_networks()?);
        let webauthn =
            crate::service::passkeys::relying_party(&config.public_url, &config.display_name).map(Arc::new);
        Ok(AppState {
            logo,
            disallowed_networks,
            webauthn,
            used_challenges: Arc::default(),
            hashes: Arc::new(hashes),
            config: Arc::new(config),
            store,
            clock,
            keys,
            federation: Arc::new(federation),
            throttle: Arc::new(throttle),
            sso: Arc::new(sso),
            slo: Arc::new(slo),
            pii_writes: Arc::new(std::sync::Mutex::new(())),
            metrics: service_kit::metrics::Metrics::new("home"),
        })
    }

    /// The names of all known ABE authorities.
    pub fn authority_names(&self) -> BTreeSet<String> {
        self.federation.keys().cloned().collect()
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
