//! The visitor IdP's configuration file (TOML), documented key by key in
//! `docs/visitor-idp.md`.
//!
//! Unknown keys are errors, every value is validated at load time with an error naming the key,
//! and secrets can come from the environment instead of the file: `IDAAS_VISITOR_ADMIN_TOKEN`,
//! and `IDAAS_VISITOR_CLIENT_SECRET_<CLIENT_ID>` for each static client (the client ID upper-cased,
//! every character other than `A-Z0-9` replaced by `_`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pbe_core::SuiteId;
use serde::{Deserialize, Serialize};
pub use service_kit::secret::Secret;

/// Environment variable that overrides `admin_token`.
pub const ADMIN_TOKEN_ENV: &str = "IDAAS_VISITOR_ADMIN_TOKEN";
/// Prefix of the environment variables that override static client secrets.
pub const CLIENT_SECRET_ENV_PREFIX: &str = "IDAAS_VISITOR_CLIENT_SECRET_";
/// Minimum length of the admin token and of client secrets, bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// The token endpoint's path under `public_url`.
pub const TOKEN_PATH: &str = "/oauth2/token";

pub use service_kit::config::ConfigError;
use service_kit::config::{check_base_url, check_entity_id, check_range, invalid, parse_toml, read_toml};
// `check_purpose` lives with the client registrations that use it most; re-exported here so the
// configuration check and its old path keep working without `clients` importing `config`.
pub use crate::clients::check_purpose;

/// The visitor IdP configuration. See `docs/visitor-idp.md` for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Public base URL; the token endpoint is `<public_url>/oauth2/token`.
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// This IdP's entity ID (the audience home IdPs put in assertions); `public_url` if empty.
    #[serde(default)]
    pub entity_id: String,
    /// Data directory (sled database, keys).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where the persistent records live: `sled:PATH` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`; `sled:<data_dir>/db` when unset.
    /// `IDAAS_STORE_URL` overrides it. Redacted when printed (it may carry a password).
    #[serde(default)]
    pub store_url: Option<Secret>,
    /// This IdP's ABE authority name (the domain, e.g. `salesforce`).
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The pairing suite.
    #[serde(default = "default_suite", with = "service_kit::config::suite_name")]
    pub suite: SuiteId,
    /// Purposes granted only while the SAML session and the assertion are valid.
    #[serde(default = "default_transaction_purposes")]
    pub transaction_purposes: Vec<String>,
    /// Oldest assertion (by IssueInstant) exchanged for the other purposes, days.
    #[serde(default = "default_max_age_days")]
    pub max_assertion_age_days: u32,
    /// Clock-skew allowance for every time comparison, seconds.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u32,
    /// Lifetime of the opaque access token, seconds.
    #[serde(default = "default_token_lifetime")]
    pub access_token_lifetime_seconds: u32,
    /// Largest request body, bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Longest a request head may take to arrive once its first byte has, seconds; then the
    /// connection is dropped. 1 - 3600, default 10.
    #[serde(default = "service_kit::config::defaults::header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Longest a kept-alive connection may wait for its next request, seconds; then it is
    /// closed. 1 - 3600, default 60.
    #[serde(default = "service_kit::config::defaults::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Longest a request may take until its response starts (the client sending its body,
    /// the handler), seconds; longer gets 408. 1 - 3600, default 30.
    #[serde(default = "service_kit::config::defaults::request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// PEM certificate chain of the listener (leaf first); with `tls_key` the service speaks
    /// https itself (HTTP/1.1 and HTTP/2), and reloads both files on SIGHUP. Default: plain
    /// HTTP (TLS terminated by a proxy in front, or local use).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Extra CA certificates (PEM) that outbound HTTPS clients trust besides the system's and
    /// the built-in roots (a private CA, the quickstart's local CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Read every trusted IdP's metadata (`metadata_url`, `metadata_file`) again this often,
    /// seconds, so a signing-key rollover at a home IdP needs no restart; 0 = only at start.
    /// 0 - 604800, default 3600.
    #[serde(default = "default_metadata_refresh")]
    pub metadata_refresh_secs: u64,
    /// Serve `/metrics` to every client, not only to loopback ones (put a proxy with
    /// authentication in front when the scraper is on another host). Default false.
    #[serde(default)]
    pub metrics_public: bool,
    /// At shutdown, how long requests in flight may still run, seconds; then every
    /// connection is dropped. 0 - 3600, default 10.
    #[serde(default = "service_kit::config::defaults::shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Largest decoded assertion, bytes.
    #[serde(default = "default_max_assertion")]
    pub max_assertion_bytes: usize,
    /// Bearer token of `/admin/*`; the admin API is disabled when unset.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// Home IdPs whose assertions are accepted.
    #[serde(default)]
    pub trusted_idps: Vec<TrustedIdpConfig>,
    /// Statically registered clients (upserted into the store at every start).
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

/// A trusted home IdP: exactly one of `metadata_file`, `metadata` and `certificate_pem`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct TrustedIdpConfig {
    /// Its entity ID; required with `certificate_pem`, checked against the metadata otherwise.
    #[serde(default)]
    pub entity_id: Option<String>,
    /// A file holding its SAML metadata (what the home IdP serves at `/saml/metadata`).
    #[serde(default)]
    pub metadata_file: Option<PathBuf>,
    /// Its SAML metadata, inline.
    #[serde(default)]
    pub metadata: Option<String>,
    /// Its signing certificate(s), PEM, inline.
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// Its metadata URL: fetched at start-up (a failure stops the start) and again every
    /// `metadata_refresh_secs`.
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// Where the inline `metadata` was fetched from (set by `state::fetch_metadata`; not a
    /// configuration key): what a refresh fetches again.
    #[serde(skip)]
    pub fetched_from: Option<String>,
}

/// A statically configured client.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The OAuth client ID.
    pub client_id: String,
    /// Its secret (≥ 32 characters); or from `IDAAS_VISITOR_CLIENT_SECRET_<ID>`; when neither
    /// is set, generated on first start into `<data_dir>/client-secrets/<client_id>` (0600).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// A display name.
    #[serde(default)]
    pub name: String,
    /// The purpose attributes it is registered for (`purpose:current`, `ppurpose:purchase`).
    pub purposes: Vec<String>,
    /// Its HPKE public key (unpadded base64url, X25519 / P-384 / P-521 by the IdP's suite):
    /// the PAT is sealed for it when set.
    #[serde(default)]
    pub pat_public_key: Option<String>,
    /// The SAML entity ID of its service (the audience the home IdP writes for it); the
    /// client ID when unset. A client may exchange only assertions whose audience names it.
    #[serde(default)]
    pub entity_id: Option<String>,
    /// Delegations: services whose assertions it may exchange too (the propagation partner
    /// of `shopping` says `may_exchange_for = ["shopping"]`). Entity IDs or client IDs.
    #[serde(default)]
    pub may_exchange_for: Vec<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8082))
}
fn default_metadata_refresh() -> u64 {
    3600
}

fn default_public_url() -> String {
    "http://127.0.0.1:8082".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data/visitor")
}
fn default_authority() -> String {
    "salesforce".into()
}
fn default_suite() -> SuiteId {
    SuiteId::Bls12_381
}
fn default_transaction_purposes() -> Vec<String> {
    vec!["purpose:current".into()]
}
fn default_max_age_days() -> u32 {
    30
}
fn default_skew() -> u32 {
    60
}
fn default_token_lifetime() -> u32 {
    3600
}
fn default_max_body() -> usize {
    256 * 1024
}
fn default_max_assertion() -> usize {
    // ¾ of the default body limit: the base64url form must fit in the body.
    default_max_body() / 4 * 3
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            public_url: default_public_url(),
            entity_id: default_public_url(),
            data_dir: default_data_dir(),
            store_url: None,
            authority: default_authority(),
            suite: default_suite(),
            transaction_purposes: default_transaction_purposes(),
            max_assertion_age_days: default_max_age_days(),
            clock_skew_seconds: default_skew(),
            access_token_lifetime_seconds: default_token_lifetime(),
            max_body_bytes: default_max_body(),
            header_read_timeout_secs: service_kit::config::defaults::header_read_timeout_secs(),
            idle_timeout_secs: service_kit::config::defaults::idle_timeout_secs(),
            request_timeout_secs: service_kit::config::defaults::request_timeout_secs(),
            metrics_public: false,
            metadata_refresh_secs: default_metadata_refresh(),
            tls_cert: None,
            tls_key: None,
            tls_ca_file: None,
            shutdown_grace_secs: service_kit::config::defaults::shutdown_grace_secs(),
            max_assertion_bytes: default_max_assertion(),
            admin_token: None,
            trusted_idps: Vec::new(),
            clients: Vec::new(),
        }
    }
}

/// The environment variable holding the secret of static client `client_id`.
pub fn client_secret_env(client_id: &str) -> String {
    let suffix: String = client_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("{CLIENT_SECRET_ENV_PREFIX}{suffix}")
}

impl Config {
    /// The listener's TLS files, when it speaks https itself.
    pub fn tls_files(&self) -> Result<Option<service_kit::tls::TlsFiles>, ConfigError> {
        service_kit::config::check_tls(&self.public_url, self.tls_cert.as_deref(), self.tls_key.as_deref())
    }

    /// The listener's time bounds.
    pub fn serve_options(&self) -> service_kit::ServeOptions {
        service_kit::ServeOptions::from_secs(
            self.header_read_timeout_secs,
            self.idle_timeout_secs,
            self.shutdown_grace_secs,
        )
    }
    /// Reads, parses and validates the file at `path`, then applies environment overrides and
    /// validates again. Relative `metadata_file` paths are relative to the working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = read_toml(path)?;
        config.normalize();
        config.apply_env(|k| std::env::var(k).ok());
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates TOML text (no environment overrides).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = parse_toml(text, Path::new("<string>"))?;
        config.normalize();
        config.validate()?;
        Ok(config)
    }

    fn normalize(&mut self) {
        self.public_url = self.public_url.trim_end_matches('/').to_owned();
        if self.entity_id.is_empty() {
            self.entity_id = self.public_url.clone();
        }
    }

    /// Applies overrides from the environment, read through `lookup` (testable).
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(url) = lookup(service_kit::pg::STORE_URL_ENV).filter(|u| !u.is_empty()) {
            self.store_url = Some(Secret::new(url));
        }
        if let Some(token) = lookup(ADMIN_TOKEN_ENV).filter(|t| !t.is_empty()) {
            self.admin_token = Some(Secret::new(token));
        }
        for c in &mut self.clients {
            if let Some(secret) = lookup(&client_secret_env(&c.client_id)).filter(|t| !t.is_empty()) {
                c.client_secret = Some(Secret::new(secret));
            }
        }
    }

    /// The token endpoint URL (the Recipient home IdPs put in the bearer confirmation).
    pub fn token_endpoint(&self) -> String {
        format!("{}{TOKEN_PATH}", self.public_url)
    }

    /// The sled database directory, `<data_dir>/db`.
    pub fn db_dir(&self) -> PathBuf {
        self.data_dir.join("db")
    }

    /// The store this configuration names: `store_url`, else `sled:<data_dir>/db`.
    pub fn store_url(&self) -> Result<service_kit::pg::StoreUrl, ConfigError> {
        match &self.store_url {
            None => Ok(service_kit::pg::StoreUrl::Sled(self.db_dir())),
            Some(url) => url
                .expose()
                .parse()
                .map_err(|e: service_kit::pg::StoreUrlError| invalid("store_url", e.to_string())),
        }
    }

    /// Maximum assertion age, seconds.
    pub fn max_age_seconds(&self) -> i64 {
        i64::from(self.max_assertion_age_days) * 86_400
    }

    /// Checks every value; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_base_url("public_url", &self.public_url)?;
        self.tls_files()?;
        check_range("metadata_refresh_secs", self.metadata_refresh_secs, 0, 7 * 86_400)?;
        check_entity_id("entity_id", &self.entity_id)?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        self.store_url()?;
        pbe_core::attribute::validate_identifier("authority", &self.authority)
            .ok()
            .filter(|a| *a == self.authority)
            .ok_or_else(|| invalid("authority", "must be 1-64 characters of [a-z0-9_.-]"))?;
        for (i, p) in self.transaction_purposes.iter().enumerate() {
            check_purpose(p).map_err(|r| invalid(format!("transaction_purposes[{i}]"), r))?;
        }
        check_range("max_assertion_age_days", self.max_assertion_age_days.into(), 1, 366)?;
        check_range("clock_skew_seconds", self.clock_skew_seconds.into(), 0, 600)?;
        check_range("access_token_lifetime_seconds", self.access_token_lifetime_seconds.into(), 60, 86_400)?;
        service_kit::config::check_time_bounds(
            self.header_read_timeout_secs,
            self.idle_timeout_secs,
            self.request_timeout_secs,
            self.shutdown_grace_secs,
        )?;
        check_range("max_body_bytes", self.max_body_bytes as u64, 4096, 16 * 1024 * 1024)?;
        check_range("max_assertion_bytes", self.max_assertion_bytes as u64, 1024, 4 * 1024 * 1024)?;
        if let Some(token) = &self.admin_token {
            check_secret("admin_token", token.expose())?;
        }
        for (i, idp) in self.trusted_idps.iter().enumerate() {
            let key = format!("trusted_idps[{i}]");
            let sources = [
                idp.metadata_file.is_some(),
                idp.metadata.is_some(),
                idp.certificate_pem.is_some(),
                idp.metadata_url.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources != 1 {
                return Err(invalid(
                    key,
                    "set exactly one of metadata_file, metadata_url, metadata, certificate_pem",
                ));
            }
            if let Some(url) = &idp.metadata_url {
                let ok = url::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(invalid(format!("{key}.metadata_url"), "must be an http or https URL"));
                }
            }
            if let Some(e) = &idp.entity_id {
                check_entity_id(&format!("{key}.entity_id"), e)?;
            } else if idp.certificate_pem.is_some() {
                return Err(invalid(format!("{key}.entity_id"), "is required with certificate_pem"));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            crate::clients::validate_registration(
                &c.client_id,
                &c.name,
                &c.purposes,
                c.pat_public_key.as_deref(),
                self.suite,
            )
            .map_err(|(field, reason)| invalid(format!("{key}.{field}"), reason))?;
            crate::clients::validate_exchange_fields(c.entity_id.as_deref(), &c.may_exchange_for)
                .map_err(|(field, reason)| invalid(format!("{key}.{field}"), reason))?;
            // This IdP's own names are in every audience: as a client's service they would let
            // it exchange every assertion.
            let own = [self.entity_id.as_str(), self.public_url.as_str()];
            if c.entity_id.as_deref().is_some_and(|e| own.contains(&e) || e == self.token_endpoint())
                || c.may_exchange_for.iter().any(|d| own.contains(&d.as_str()) || *d == self.token_endpoint())
            {
                return Err(invalid(
                    format!("{key}.entity_id"),
                    "must name the client's service, not this visitor IdP",
                ));
            }
            // Without a secret, `AppState::open` generates one into the data directory.
            if let Some(s) = &c.client_secret {
                check_secret(&format!("{key}.client_secret"), s.expose())?;
            }
            if !ids.insert(c.client_id.as_str()) {
                return Err(invalid(
                    format!("{key}.client_id"),
                    format!("duplicate client '{}'", c.client_id),
                ));
            }
        }
        Ok(())
    }
}

fn check_secret(key: &str, s: &str) -> Result<(), ConfigError> {
    service_kit::config::check_secret(key, s, MIN_SECRET_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8082");
        assert_eq!(c.entity_id, "http://127.0.0.1:8082");
        assert_eq!(c.token_endpoint(), "http://127.0.0.1:8082/oauth2/token");
        assert_eq!(c.transaction_purposes, vec!["purpose:current"]);
        assert_eq!(c.max_age_seconds(), 30 * 86_400);
        assert_eq!(c.authority, "salesforce");
    }

    #[test]
    fn example_file_is_valid() {
        let c = Config::from_toml(include_str!("../../docs/examples/visitor.toml")).unwrap();
        assert!(!c.clients.is_empty());
    }

    #[test]
    fn env_overrides_secrets_and_they_are_redacted() {
        let toml = "[[clients]]\nclient_id = \"shop-1\"\npurposes = [\"purpose:current\"]\n";
        assert!(Config::from_toml(toml).unwrap().clients[0].client_secret.is_none());
        let mut c: Config = parse_toml(toml, Path::new("x")).unwrap();
        c.normalize();
        c.apply_env(|k| match k {
            "IDAAS_VISITOR_CLIENT_SECRET_SHOP_1" => Some("c".repeat(40)),
            ADMIN_TOKEN_ENV => Some("a".repeat(40)),
            _ => None,
        });
        c.validate().unwrap();
        assert_eq!(c.clients[0].client_secret.as_ref().unwrap().expose(), "c".repeat(40));
        let shown = format!("{c:?}");
        assert!(!shown.contains("cccc") && !shown.contains("aaaa"));
    }

    #[test]
    fn refuses_bad_values_naming_the_key() {
        for (toml, key) in [
            ("transaction_purposes = [\"current\"]", "transaction_purposes[0]"),
            ("transaction_purposes = [\"domain:x\"]", "transaction_purposes[0]"),
            ("max_assertion_age_days = 0", "max_assertion_age_days"),
            ("authority = \"Sales Force\"", "authority"),
            ("admin_token = \"short\"", "admin_token"),
            ("[[trusted_idps]]\nmetadata_url = \"ftp://x\"", "trusted_idps[0].metadata_url"),
            ("[[trusted_idps]]\nmetadata_url = \"http://x\"\nmetadata_file = \"f\"", "trusted_idps[0]"),
            ("[[trusted_idps]]\ncertificate_pem = \"x\"", "trusted_idps[0].entity_id"),
            ("[[trusted_idps]]\nentity_id = \"x\"", "trusted_idps[0]"),
        ] {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        assert!(Config::from_toml("unknown_key = 1").is_err());
    }
}
