//! The home IdP's configuration file (TOML), documented key by key in `docs/home-idp.md`.
//!
//! Unknown keys are errors (`deny_unknown_fields`), every value is validated at load time with
//! an error naming the key, and secrets can come from the environment instead of the file
//! (`IDAAS_HOME_ADMIN_TOKEN`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pbe_core::SuiteId;
use serde::{Deserialize, Serialize};
use service_kit::config::{check_base_url, check_entity_id, check_range, invalid, parse_toml, read_toml};
pub use service_kit::config::{ConfigError, MAX_URL_LEN};
pub use service_kit::secret::Secret;

use crate::model::ServiceProvider;

mod checks;
mod sp;
pub use checks::{check_http_url, check_visitor_authority, is_identifier, validate_service_provider};
pub use sp::{PbeConfig, SpConfig};

/// Environment variable that overrides `admin_token`.
pub const ADMIN_TOKEN_ENV: &str = "IDAAS_HOME_ADMIN_TOKEN";
/// Minimum length of the admin token, in bytes.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;
/// Maximum number of ACS URLs per service provider.
pub const MAX_ACS_URLS: usize = 16;
/// Most entries of `disallowed_networks`.
pub const MAX_DISALLOWED_NETWORKS: usize = 256;

/// The home IdP configuration. See `docs/home-idp.md` for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Public base URL (scheme, host, port, optional path; no trailing slash after load).
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// SAML entity ID; set to `public_url` at load time when absent (or empty).
    #[serde(default)]
    pub entity_id: String,
    /// The name people see on the IdP's pages (sign-in form, account page). Default
    /// `"idaas home IdP"`; at most 80 characters.
    #[serde(default = "default_display_name")]
    pub display_name: String,
    /// An image shown before `display_name` on the IdP's pages (PNG, JPEG, WebP or SVG, at
    /// most 256 KiB), served by the IdP itself at `/.idaas/logo`. None by default.
    #[serde(default)]
    pub logo_file: Option<PathBuf>,
    /// The groups every newly registered user gets (at most 32 names); none by default, so
    /// an administrator decides (`PUT /admin/users/{uid}/groups`).
    #[serde(default)]
    pub default_groups: Vec<String>,
    /// Data directory (sled database, keys, outbox).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where the persistent records live: `sled:PATH` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`; `sled:<data_dir>/db` when unset.
    /// `IDAAS_STORE_URL` overrides it. Redacted when printed (it may carry a password).
    #[serde(default)]
    pub store_url: Option<Secret>,
    /// This IdP's ABE authority name.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The pairing suite.
    #[serde(default = "default_suite", with = "service_kit::config::suite_name")]
    pub suite: SuiteId,
    /// Lifetime of the IdP (SAML) session, minutes.
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime_minutes: u32,
    /// Validity of an assertion (Conditions NotBefore/NotOnOrAfter window), seconds.
    #[serde(default = "default_assertion_lifetime")]
    pub assertion_lifetime_seconds: u32,
    /// Lifetime of a data-owner API bearer token, minutes.
    #[serde(default = "default_api_token_lifetime")]
    pub api_token_lifetime_minutes: u32,
    /// Lifetime of an upload token (issue 20: uploading or deleting PII needs one, obtained
    /// with a fresh authentication), minutes.
    #[serde(default = "default_upload_token_minutes")]
    pub upload_token_minutes: u32,
    /// Lifetime of an e-mail verification link, hours.
    #[serde(default = "default_verification_lifetime")]
    pub verification_lifetime_hours: u32,
    /// Bearer token for `/admin/*`; the admin API is disabled when unset.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// Directory the verification e-mails are written to; `<data_dir>/outbox` when unset.
    #[serde(default)]
    pub outbox_dir: Option<PathBuf>,
    /// `From:` of outgoing e-mail; `idaas home IdP <no-reply@HOST>` when unset.
    #[serde(default)]
    pub mail_from: Option<String>,
    /// SMTP server the outbox is delivered to (`smtp://host:25`, `smtp://host:587?tls=required`,
    /// `smtps://host:465`); credentials from `IDAAS_SMTP_USERNAME` / `IDAAS_SMTP_PASSWORD`.
    /// Unset: messages stay in the outbox.
    #[serde(default)]
    pub smtp_url: Option<String>,
    /// Largest accepted request body, bytes.
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
    /// Seconds between publishing the next SAML signing key (`idaas home keys rotate`) and
    /// signing with it; SPs must refresh the metadata within it. 0 - 7776000 (90 days),
    /// default 86400.
    #[serde(default = "default_signing_key_overlap")]
    pub signing_key_overlap_secs: u64,
    /// Serve `/metrics` to every client, not only to loopback ones (put a proxy with
    /// authentication in front when the scraper is on another host). Default false.
    #[serde(default)]
    pub metrics_public: bool,
    /// At shutdown, how long requests in flight may still run, seconds; then every
    /// connection is dropped. 0 - 3600, default 10.
    #[serde(default = "service_kit::config::defaults::shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Most argon2id password hashes computed at once (each holds 19 MiB); `0` (the default)
    /// means one per CPU core. Requests beyond it queue for `hash_queue_timeout_ms`, then get
    /// 503 with `Retry-After` (issue 15).
    #[serde(default)]
    pub max_concurrent_hashes: usize,
    /// How long a sign-in or registration waits for a free hashing slot, milliseconds.
    #[serde(default = "default_hash_queue_timeout")]
    pub hash_queue_timeout_ms: u64,
    /// Statically registered service providers (upserted into the store at every start).
    #[serde(default)]
    pub service_providers: Vec<SpConfig>,
    /// The federation's other ABE authorities (visitor IdPs).
    #[serde(default)]
    pub visitor_authorities: Vec<VisitorAuthority>,
    /// Client networks (CIDR, e.g. `"10.0.0.0/8"`) a sign-in from which asks for the second
    /// factor even on a known device (issue 20). Empty by default.
    #[serde(default)]
    pub disallowed_networks: Vec<String>,
}

/// Another ABE authority of the federation.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VisitorAuthority {
    /// The authority name (must equal the name inside `public_key`).
    pub name: String,
    /// The pinned pbe-core authority public key, base64url text.
    #[serde(default)]
    pub public_key: Option<String>,
    /// The authority's `/pbe/authority` URL. Not fetched yet: setting it is an error for now.
    #[serde(default)]
    pub url: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn default_signing_key_overlap() -> u64 {
    crate::signing_keys::DEFAULT_OVERLAP_SECS
}

fn default_public_url() -> String {
    "http://127.0.0.1:8081".into()
}
fn default_display_name() -> String {
    "idaas home IdP".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data/home")
}
fn default_authority() -> String {
    "telekom".into()
}
fn default_suite() -> SuiteId {
    SuiteId::Bls12_381
}
fn default_session_lifetime() -> u32 {
    480
}
fn default_assertion_lifetime() -> u32 {
    300
}
fn default_api_token_lifetime() -> u32 {
    15
}
fn default_upload_token_minutes() -> u32 {
    10
}
fn default_verification_lifetime() -> u32 {
    48
}
fn default_max_body() -> usize {
    1024 * 1024
}

fn default_hash_queue_timeout() -> u64 {
    2000
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            public_url: default_public_url(),
            entity_id: default_public_url(),
            display_name: default_display_name(),
            logo_file: None,
            default_groups: Vec::new(),
            data_dir: default_data_dir(),
            store_url: None,
            authority: default_authority(),
            suite: default_suite(),
            session_lifetime_minutes: default_session_lifetime(),
            assertion_lifetime_seconds: default_assertion_lifetime(),
            api_token_lifetime_minutes: default_api_token_lifetime(),
            upload_token_minutes: default_upload_token_minutes(),
            verification_lifetime_hours: default_verification_lifetime(),
            admin_token: None,
            outbox_dir: None,
            mail_from: None,
            smtp_url: None,
            max_body_bytes: default_max_body(),
            header_read_timeout_secs: service_kit::config::defaults::header_read_timeout_secs(),
            idle_timeout_secs: service_kit::config::defaults::idle_timeout_secs(),
            request_timeout_secs: service_kit::config::defaults::request_timeout_secs(),
            metrics_public: false,
            signing_key_overlap_secs: default_signing_key_overlap(),
            tls_cert: None,
            tls_key: None,
            tls_ca_file: None,
            shutdown_grace_secs: service_kit::config::defaults::shutdown_grace_secs(),
            max_concurrent_hashes: 0,
            hash_queue_timeout_ms: default_hash_queue_timeout(),
            service_providers: Vec::new(),
            visitor_authorities: Vec::new(),
            disallowed_networks: Vec::new(),
        }
    }
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
    /// Reads, parses and validates the file at `path`, then applies environment overrides
    /// (`IDAAS_HOME_ADMIN_TOKEN`) and validates again.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut config = read_toml::<Config>(path)?.normalised();
        config.apply_env(|k| std::env::var(k).ok());
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates TOML text (no environment overrides).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config = parse_toml::<Config>(text, Path::new("<string>"))?.normalised();
        config.validate()?;
        Ok(config)
    }

    /// Drops a trailing slash from `public_url` and defaults `entity_id` to it.
    fn normalised(mut self) -> Config {
        self.public_url = self.public_url.trim_end_matches('/').to_owned();
        if self.entity_id.is_empty() {
            self.entity_id = self.public_url.clone();
        }
        self
    }

    /// Applies overrides from the environment, read through `lookup` (testable).
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(url) = lookup(service_kit::pg::STORE_URL_ENV).filter(|u| !u.is_empty()) {
            self.store_url = Some(Secret::new(url));
        }
        if let Some(token) = lookup(ADMIN_TOKEN_ENV).filter(|t| !t.is_empty()) {
            self.admin_token = Some(Secret::new(token));
        }
    }

    /// The SAML entity ID.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// The outbox directory (`outbox_dir`, else `<data_dir>/outbox`).
    pub fn outbox_dir(&self) -> PathBuf {
        self.outbox_dir.clone().unwrap_or_else(|| self.data_dir.join("outbox"))
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

    /// The `From:` header of outgoing mail.
    pub fn mail_from(&self) -> String {
        if let Some(from) = &self.mail_from {
            return from.clone();
        }
        let host = url::Url::parse(&self.public_url)
            .ok()
            .and_then(|u| match u.host() {
                Some(url::Host::Domain(d)) => Some(d.to_owned()),
                _ => None,
            })
            .unwrap_or_else(|| "localhost".to_owned());
        format!("idaas home IdP <no-reply@{host}>")
    }

    /// The parsed `disallowed_networks`; the error names the entry that is not a CIDR.
    pub fn disallowed_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        if self.disallowed_networks.len() > MAX_DISALLOWED_NETWORKS {
            return Err(invalid(
                "disallowed_networks",
                format!("at most {MAX_DISALLOWED_NETWORKS} networks"),
            ));
        }
        self.disallowed_networks
            .iter()
            .enumerate()
            .map(|(i, n)| {
                n.trim().parse::<ipnet::IpNet>().map(|net| net.trunc()).map_err(|_| {
                    invalid(
                        format!("disallowed_networks[{i}]"),
                        format!(
                            "'{}' is not a network in CIDR form (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")",
                            n.escape_debug()
                        ),
                    )
                })
            })
            .collect()
    }

    /// Checks every value; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.disallowed_networks()?;
        check_base_url("public_url", &self.public_url)?;
        self.tls_files()?;
        check_range("signing_key_overlap_secs", self.signing_key_overlap_secs, 0, 90 * 86_400)?;
        check_entity_id("entity_id", &self.entity_id)?;
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 80 {
            return Err(invalid("display_name", "must be 1-80 characters"));
        }
        if self.logo_file.as_deref().is_some_and(|p| crate::logo::content_type(p).is_none()) {
            return Err(invalid("logo_file", "must end in .png, .jpg, .jpeg, .webp or .svg"));
        }
        if self.default_groups.len() > 32
            || self.default_groups.iter().any(|g| !is_identifier(g, crate::service::groups::MAX_GROUP_LEN))
        {
            return Err(invalid("default_groups", "at most 32 valid group names"));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        self.store_url()?;
        if !is_identifier(&self.authority, pbe_core::attribute::MAX_AUTHORITY_LEN) {
            return Err(invalid("authority", "must be 1-64 characters of [a-z0-9_.-]"));
        }
        check_range("session_lifetime_minutes", self.session_lifetime_minutes.into(), 1, 7 * 24 * 60)?;
        check_range("assertion_lifetime_seconds", self.assertion_lifetime_seconds.into(), 10, 3600)?;
        check_range("api_token_lifetime_minutes", self.api_token_lifetime_minutes.into(), 1, 24 * 60)?;
        check_range("upload_token_minutes", self.upload_token_minutes.into(), 1, 60)?;
        check_range("verification_lifetime_hours", self.verification_lifetime_hours.into(), 1, 30 * 24)?;
        if let Some(url) = &self.smtp_url {
            crate::smtp::transport(url).map_err(|e| invalid("smtp_url", e.to_string()))?;
        }
        check_range("max_body_bytes", self.max_body_bytes as u64, 4096, 64 * 1024 * 1024)?;
        service_kit::config::check_time_bounds(
            self.header_read_timeout_secs,
            self.idle_timeout_secs,
            self.request_timeout_secs,
            self.shutdown_grace_secs,
        )?;
        check_range("max_concurrent_hashes", self.max_concurrent_hashes as u64, 0, 256)?;
        check_range("hash_queue_timeout_ms", self.hash_queue_timeout_ms, 1, 60_000)?;
        if let Some(token) = &self.admin_token {
            if token.expose().len() < MIN_ADMIN_TOKEN_LEN {
                return Err(invalid(
                    "admin_token",
                    format!(
                        "must be at least {MIN_ADMIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
                    ),
                ));
            }
            if token.expose().chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid("admin_token", "must not contain spaces or control characters"));
            }
        }
        if let Some(from) = &self.mail_from {
            if from.is_empty() || from.len() > 320 || from.chars().any(char::is_control) {
                return Err(invalid(
                    "mail_from",
                    "must be a non-empty header value without control characters",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, sp) in self.service_providers.iter().enumerate() {
            let key = format!("service_providers[{i}]");
            validate_service_provider(&ServiceProvider::from(sp.clone()), self.suite)
                .map_err(|(field, reason)| invalid(format!("{key}.{field}"), reason))?;
            if !seen.insert(sp.entity_id.as_str()) {
                return Err(invalid(
                    format!("{key}.entity_id"),
                    format!("duplicate entity ID '{}'", sp.entity_id),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::from([self.authority.as_str()]);
        for (i, va) in self.visitor_authorities.iter().enumerate() {
            let key = format!("visitor_authorities[{i}]");
            check_visitor_authority(self.suite, va).map_err(|(f, r)| invalid(format!("{key}.{f}"), r))?;
            if !names.insert(va.name.as_str()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("authority '{}' is listed twice (or is this IdP's own authority)", va.name),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.entity_id(), "http://127.0.0.1:8081");
        assert_eq!(c.outbox_dir(), PathBuf::from("./data/home/outbox"));
        assert_eq!(c.suite, SuiteId::Bls12_381);
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn example_file_is_valid() {
        let c = Config::from_toml(include_str!("../../docs/examples/home.toml")).unwrap();
        assert_eq!(c.authority, "telekom");
    }

    #[test]
    fn env_overrides_admin_token_and_is_redacted() {
        let mut c = Config::from_toml("").unwrap();
        c.apply_env(|k| (k == ADMIN_TOKEN_ENV).then(|| "x".repeat(40)));
        assert_eq!(c.admin_token.as_ref().unwrap().expose(), "x".repeat(40));
        assert!(!format!("{c:?}").contains("xxxx"));
        c.validate().unwrap();
        c.apply_env(|k| (k == ADMIN_TOKEN_ENV).then(|| "short".into()));
        assert!(c.validate().unwrap_err().to_string().contains("admin_token"));
    }

    #[test]
    fn store_url_defaults_to_sled_and_comes_from_the_environment_redacted() {
        use service_kit::pg::{StoreUrl, STORE_URL_ENV};
        let mut c = Config::from_toml("").unwrap();
        assert_eq!(c.store_url().unwrap(), StoreUrl::Sled(c.db_dir()));
        c.apply_env(|k| (k == STORE_URL_ENV).then(|| "postgres://u:pw-123456@db:5432/idaas".into()));
        c.validate().unwrap();
        assert!(matches!(c.store_url().unwrap(), StoreUrl::Postgres(_)));
        assert!(!format!("{c:?}").contains("pw-123456"));
        assert!(!format!("{}", c.store_url().unwrap()).contains("pw-123456"));
        c.store_url = Some(Secret::new("mysql://u:pw-123456@db/x"));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("store_url") && !e.contains("pw-123456"), "{e}");
        assert!(Config::from_toml("store_url = \"sled:/var/lib/idaas/home\"").is_ok());
    }

    #[test]
    fn trailing_slash_of_public_url_is_dropped() {
        let c = Config::from_toml("public_url = \"https://idp.example/\"").unwrap();
        assert_eq!(c.public_url, "https://idp.example");
    }
}
