//! Starting the home IdP from its configuration: fetching the visitor authorities' keys
//! ([`fetch_authorities`]), opening the data directory, the store and the keys
//! ([`AppState::open`]), and writing the SAML metadata to `<data_dir>/metadata.xml` for relying
//! parties configured with a file. `idaas home` runs these in this order; tests build an
//! [`AppState`] directly with [`AppState::new`] instead.

use std::sync::Arc;

use federation::api::AuthorityKey;
use service_kit::Clock;

use crate::config::{check_visitor_authority, Config, ConfigError};
use crate::keys::{io, Keys};
use crate::saml::metadata::metadata_xml;
use crate::state::{AppState, StateError};

/// Opening is here rather than in `state.rs` so that the state type stays free of files and of
/// the SAML metadata (issue 13).
impl AppState {
    /// Opens the store of `store_url` (by default sled in `<data_dir>/db`) and loads (or creates) the keys in `data_dir`,
    /// then calls [`AppState::new`]. This is what `idaas home` does.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StateError> {
        config.validate()?;
        service_kit::files::ensure_private_dir(&config.data_dir).map_err(io(&config.data_dir))?;
        let keys = Keys::load_with_overlap(
            &config.data_dir,
            &config.authority,
            config.suite,
            config.signing_key_overlap_secs,
        )?;
        let store = crate::store::open(&config.store_url()?)?;
        tracing::info!(store = %config.store_url()?, "store opened");
        let state = AppState::new(config, store, clock, Arc::new(keys))?;
        // The metadata as a file too, for relying parties that are configured with a file
        // (the visitor IdP's `metadata_file`, the web agent's `[home_idp] metadata_file`).
        let md_path = state.config.data_dir.join("metadata.xml");
        service_kit::files::write_private(&md_path, metadata_xml(&state).as_bytes(), 0o644)
            .map_err(io(&md_path))?;
        Ok(state)
    }
}

/// Fetches the public key of every visitor authority configured by `url` (its
/// `GET /pbe/authority`: no redirects, 10 s, at most 64 KiB) and pins it as `public_key`, after
/// checking that the answer names the configured authority and suite. `idaas home` calls this
/// before [`AppState::open`]; a failure names the entry and stops the start.
pub async fn fetch_authorities(config: &mut Config) -> Result<(), StateError> {
    const MAX: usize = 64 * 1024;
    let http = service_kit::tls::client_builder(config.tls_ca_file.as_deref())?
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
        let v: AuthorityKey =
            serde_json::from_slice(&body).map_err(|e| fail(format!("not an authority document: {e}")))?;
        if v.suite != suite.name() {
            return Err(fail(format!("the authority uses suite {:?}, this IdP {}", v.suite, suite.name())));
        }
        if v.authority != va.name {
            return Err(fail(format!(
                "the authority is {:?}, the configuration says '{}'",
                v.authority, va.name
            )));
        }
        va.public_key = Some(v.public_key);
        va.url = None;
        check_visitor_authority(suite, va).map_err(|(_, reason)| fail(reason))?;
    }
    Ok(())
}
