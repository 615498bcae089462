//! The shared state of every handler: cheap to clone, all `Arc`s (STYLE.md §7.4).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use federation::Clock;

use crate::config::{Config, ConfigError};
use crate::keys::{Keys, KeysError};
use crate::store::{SledStore, Store, StoreError};
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
    /// SAML SSO state (sessions, pending requests).
    pub sso: Arc<crate::saml::SsoState>,
    /// One PII writer at a time: the per-user cap and the name-collision check are
    /// read-then-insert (`users::put_pii`).
    pub pii_writes: Arc<std::sync::Mutex<()>>,
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
                    reason: "has not been fetched (call state::fetch_authorities first)".into(),
                }
                .into());
            }
            federation.insert(va.name.clone(), key.to_owned());
        }
        for sp in &config.service_providers {
            store.put_sp(&sp.clone().into())?;
        }
        crate::users::warm_up();
        Ok(AppState {
            config: Arc::new(config),
            store,
            clock,
            keys,
            federation: Arc::new(federation),
            throttle: Arc::new(Throttle::default()),
            sso: Arc::new(crate::saml::SsoState::default()),
            pii_writes: Arc::new(std::sync::Mutex::new(())),
        })
    }

    /// Opens the sled store in `<data_dir>/db` and loads (or creates) the keys in `data_dir`,
    /// then calls [`AppState::new`]. This is what `idaas home` does.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StateError> {
        config.validate()?;
        federation::files::ensure_private_dir(&config.data_dir).map_err(crate::keys::io(&config.data_dir))?;
        let keys = Keys::load_or_create(&config.data_dir, &config.authority, config.suite)?;
        let store = SledStore::open(&config.db_dir())?;
        let state = AppState::new(config, Arc::new(store), clock, Arc::new(keys))?;
        // The metadata as a file too, for relying parties that are configured with a file
        // (the visitor IdP's `metadata_file`, the web agent's `[home_idp] metadata_file`).
        let md_path = state.config.data_dir.join("metadata.xml");
        federation::files::write_private(
            &md_path,
            crate::saml::response::metadata_xml(&state).as_bytes(),
            0o644,
        )
        .map_err(crate::keys::io(&md_path))?;
        Ok(state)
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

/// Fetches the public key of every visitor authority configured by `url` (its
/// `GET /pbe/authority`: no redirects, 10 s, at most 64 KiB) and pins it as `public_key`, after
/// checking that the answer names the configured authority and suite. `idaas home` calls this
/// before [`AppState::open`]; a failure names the entry and stops the start.
pub async fn fetch_authorities(config: &mut Config) -> Result<(), StateError> {
    const MAX: usize = 64 * 1024;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let suite = config.suite;
    for (i, va) in config.visitor_authorities.iter_mut().enumerate() {
        let Some(url) = va.url.clone() else { continue };
        let fail = |reason: String| {
            StateError::Config(ConfigError::Invalid {
                key: format!("visitor_authorities[{i}].url"),
                reason: format!("{url}: {reason}"),
            })
        };
        let mut resp = http.get(&url).send().await.map_err(|e| fail(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.without_url().to_string()))? {
            if body.len() + chunk.len() > MAX {
                return Err(fail(format!("larger than {MAX} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| fail("not JSON".into()))?;
        if v["suite"].as_str() != Some(suite.name()) {
            return Err(fail(format!("the authority uses suite {}, this IdP {}", v["suite"], suite.name())));
        }
        if v["authority"].as_str() != Some(va.name.as_str()) {
            return Err(fail(format!(
                "the authority is {}, the configuration says '{}'",
                v["authority"], va.name
            )));
        }
        let key = v["public_key"].as_str().ok_or_else(|| fail("no public_key".into()))?;
        va.public_key = Some(key.to_owned());
        va.url = None;
        crate::config::check_visitor_authority(suite, va).map_err(|(_, reason)| fail(reason))?;
    }
    Ok(())
}
