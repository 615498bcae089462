//! The agent's configuration — the paper's *security topology*: which IdP it trusts, which
//! visitor IdP it exchanges assertions at, which PII goes to which header, and who may reach
//! which path. Every key is documented in `docs/web-agent.md`. The checks of every value are
//! in [`validate`].

mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::rbac::Level;

/// Environment variable overriding `[visitor].client_secret`.
pub const CLIENT_SECRET_ENV: &str = "IDAAS_AGENT_CLIENT_SECRET";

// The error type and the secret are the services' shared ones (messages name the file or
// the key; secrets never print).
pub(crate) use service_kit::config::invalid;
pub use service_kit::config::ConfigError;
pub use service_kit::Secret;

/// The whole agent configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Public base URL of the agent (what browsers see).
    pub public_url: String,
    /// The backend the agent protects (scheme, host, port, optional base path).
    pub backend_url: String,
    /// SAML entity ID of this SP; `<public_url>/saml/metadata` when empty.
    #[serde(default)]
    pub entity_id: String,
    /// Data directory (the HPKE key for TATs and PATs).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The pairing suite of the home and visitor IdPs (`bls12-381`, `bn254`, `bls24-479`,
    /// `bls48-581`). It decides the HPKE suite of the agent's sealing key
    /// ([`federation::seal::SealSuite::for_suite`]): X25519 at 128 bits, P-384 at 192, P-521
    /// at 256. The IdPs refuse a key of another kind for their level.
    #[serde(default = "default_suite", with = "service_kit::config::suite_name")]
    pub suite: pbe_core::SuiteId,
    /// Lifetime of an agent session, minutes (also capped by the IdP's SessionNotOnOrAfter).
    #[serde(default = "default_session_minutes")]
    pub session_lifetime_minutes: u32,
    /// The memory the session store may hold, MiB (1 - 65536, default 256). Each session
    /// counts its decrypted PII and what identity propagation keeps; a sign-in that would pass
    /// the bound evicts the sessions idle longest (those users sign in again through the IdP).
    #[serde(default = "default_session_memory_mib")]
    pub session_memory_limit_mib: u32,
    /// With `store_url` in PostgreSQL: how long an instance trusts its copy of a session
    /// before checking again that the session's row is still there (signed out elsewhere,
    /// ended by single logout), seconds (0 - 60, default 0: at every request).
    #[serde(default)]
    pub session_check_seconds: u32,
    /// Where the state shared by several instances of this agent lives (issue 17):
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` keeps the replay caches (answered
    /// AuthnRequest IDs, assertion IDs, propagation nonces), the exchanged PATs and the
    /// sessions' sealed records (`crate::shared_sessions`) in the schema `idaas_agent_<entity>`; unset or `sled:…`, they stay in this process's memory
    /// (bounded), as for one instance. The environment variable `IDAAS_STORE_URL` overrides it.
    #[serde(default)]
    pub store_url: Option<Secret>,
    /// Allowed clock difference with the IdPs, seconds.
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u32,
    /// Paths (prefixes) served without sign-in.
    #[serde(default)]
    pub public_paths: Vec<String>,
    /// The trusted home IdP.
    pub home_idp: HomeIdpConfig,
    /// The visitor IdP (RFC 7522 token endpoint); absent for a plain SAML SP without PBE.
    #[serde(default)]
    pub visitor: Option<VisitorConfig>,
    /// PII attribute name → header name. Default: `X-Idaas-Pii-<Name>` for every attribute.
    #[serde(default)]
    pub claims_mapping: BTreeMap<String, String>,
    /// SAML group → agent group (for access rules). Unmapped SAML groups keep their name.
    #[serde(default)]
    pub group_mapping: BTreeMap<String, String>,
    /// Header names for the user and groups.
    #[serde(default)]
    pub headers: HeaderNames,
    /// The SAML attribute the user's groups come from (multi-valued). Default
    /// `urn:oid:1.3.6.1.4.1.5923.1.5.1.1` (isMemberOf: what the home IdP releases unless an SP
    /// is registered for short names, and what most IdPs can release); `groups` for a home
    /// IdP registration with `attribute_names = "short"`.
    #[serde(default = "default_groups_attribute")]
    pub groups_attribute: String,
    /// Where the user name (the user header) comes from: `nameid` (default), or the name of a
    /// single-valued SAML attribute (e.g. `urn:oid:0.9.2342.19200300.100.1.3`, mail). The
    /// keys of PBE sign-ins stay bound to the NameID whatever this says.
    #[serde(default = "default_user_from")]
    pub user_from: String,
    /// Role-based access rules.
    #[serde(default)]
    pub access: AccessConfig,
    /// Largest request body accepted (and streamed to the backend), bytes; 0 = no limit.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Longest a request may take until its response starts (the client sending its body,
    /// the backend answering), seconds; longer gets 408. 1 - 3600, default 75.
    #[serde(default = "default_request_timeout")]
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
    /// Serve `/metrics` to every client, not only to loopback ones (put a proxy with
    /// authentication in front when the scraper is on another host). Default false.
    #[serde(default)]
    pub metrics_public: bool,
    /// Longest a request head may take to arrive once its first byte has, seconds; then the
    /// connection is dropped. 1 - 3600, default 10.
    #[serde(default = "service_kit::config::defaults::header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// Longest a kept-alive connection may wait for its next request, seconds; then it is
    /// closed. 1 - 3600, default 60.
    #[serde(default = "service_kit::config::defaults::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// At shutdown, how long requests in flight may still run, seconds; then every
    /// connection is dropped. 0 - 3600, default 10.
    #[serde(default = "service_kit::config::defaults::shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// `[[partners]]`: services this agent's backend may call on the user's behalf
    /// (identity propagation, `docs/propagation.md`).
    #[serde(default)]
    pub partners: Vec<PartnerConfig>,
    /// `[[callers]]`: agents allowed to call this service on a user's behalf.
    #[serde(default)]
    pub callers: Vec<CallerConfig>,
    /// Addresses the partner route (`/.idaas/partners/…`) accepts calls from. Empty (the
    /// default): the addresses `backend_url`'s host resolves to at start-up.
    #[serde(default)]
    pub egress_allowed_sources: Vec<std::net::IpAddr>,
}

/// A partner service, reached through its agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerConfig {
    /// Name in the egress route `/.idaas/partners/<name>/…` (`[a-z0-9_-]{1,64}`).
    pub name: String,
    /// The partner agent's base URL.
    pub url: String,
    /// The partner's SAML entity ID; `<url>/saml/metadata` when empty.
    #[serde(default)]
    pub entity_id: String,
    /// The partner agent's HPKE public key (its `/saml/metadata` key), unpadded base64url; of
    /// the kind of this agent's `suite`.
    pub tat_key: String,
}

impl PartnerConfig {
    /// The entity ID (explicit, or derived from the URL).
    pub fn entity_id(&self) -> String {
        if self.entity_id.is_empty() {
            format!("{}/saml/metadata", self.url.trim_end_matches('/'))
        } else {
            self.entity_id.clone()
        }
    }
}

/// An agent allowed to call this service on a user's behalf.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// Name (logged, and passed to the backend as `X-Idaas-Caller`).
    pub name: String,
    /// The caller agent's Ed25519 public key (`GET /.idaas/caller-key`), unpadded base64url.
    pub public_key: String,
    /// Backend path prefixes it may call (segment-aligned).
    pub allowed_prefixes: Vec<String>,
}

/// Where the home IdP's metadata comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeIdpConfig {
    /// A metadata file (as served at the IdP's `/saml/metadata`).
    #[serde(default)]
    pub metadata_file: Option<PathBuf>,
    /// Or a metadata URL, fetched at start-up.
    #[serde(default)]
    pub metadata_url: Option<String>,
    /// Read the metadata (file or URL) again every this many seconds, so a signing-key
    /// rollover at the IdP needs no restart; 0 = only at start. 0 - 604800, default 3600.
    #[serde(default = "default_metadata_refresh")]
    pub metadata_refresh_secs: u64,
}

fn default_metadata_refresh() -> u64 {
    3600
}

/// The visitor IdP and this agent's client registration there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorConfig {
    /// `POST` RFC 7522 token endpoint.
    pub token_endpoint: String,
    /// OAuth client ID.
    pub client_id: String,
    /// OAuth client secret (prefer `IDAAS_AGENT_CLIENT_SECRET`).
    #[serde(default)]
    pub client_secret: Secret,
}

/// Header names of the identity the backend receives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderNames {
    /// The NameID.
    #[serde(default = "default_user_header")]
    pub user: String,
    /// The groups, comma-separated.
    #[serde(default = "default_groups_header")]
    pub groups: String,
    /// Prefix of PII headers without an explicit `claims_mapping`.
    #[serde(default = "default_pii_prefix")]
    pub pii_prefix: String,
}

impl Default for HeaderNames {
    fn default() -> Self {
        HeaderNames {
            user: default_user_header(),
            groups: default_groups_header(),
            pii_prefix: default_pii_prefix(),
        }
    }
}

/// `[access]`: levels per path prefix and group.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Level for a signed-in user no rule names (default `read_write`, i.e. no RBAC).
    #[serde(default)]
    pub default_level: Option<Level>,
    /// Path prefixes that need `full`.
    #[serde(default)]
    pub admin_paths: Vec<String>,
    /// `[[access.rules]]`.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// One rule: at `prefix`, these groups get these levels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Path prefix (segment-aligned: `/shop` matches `/shop` and `/shop/x`, not `/shopping`).
    pub prefix: String,
    /// Group → level.
    pub groups: BTreeMap<String, Level>,
    /// This prefix also needs a group owner's approval (`crate::approval`).
    #[serde(default)]
    pub sensitive: Option<SensitiveConfig>,
}

/// `sensitive = { approvers = "owner of <group>", valid_for = "8h" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveConfig {
    /// `"owner of <group>"`, the group as the home IdP names it.
    pub approvers: String,
    /// How long an approval lasts: `<n>s`, `<n>m`, `<n>h` or `<n>d`, at most 30 days.
    pub valid_for: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_suite() -> pbe_core::SuiteId {
    pbe_core::SuiteId::Bls12_381
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data/agent")
}
fn default_session_minutes() -> u32 {
    480
}
fn default_session_memory_mib() -> u32 {
    (crate::session::DEFAULT_MEMORY_LIMIT >> 20) as u32
}
fn default_groups_attribute() -> String {
    federation::assertion::ATTR_IS_MEMBER_OF.into()
}
fn default_user_from() -> String {
    USER_FROM_NAMEID.into()
}
/// `user_from` for the NameID.
pub const USER_FROM_NAMEID: &str = "nameid";
fn default_skew() -> u32 {
    60
}
fn default_max_body() -> usize {
    16 << 20
}
fn default_user_header() -> String {
    crate::headers::DEFAULT_USER.into()
}
fn default_groups_header() -> String {
    crate::headers::DEFAULT_GROUPS.into()
}
fn default_pii_prefix() -> String {
    crate::headers::DEFAULT_PII_PREFIX.into()
}
fn default_request_timeout() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_SECS
}

/// The default of `request_timeout_secs`: longer than the backend client's connect (10 s)
/// and read (60 s) timeouts together, so a slow backend is answered by the forwarder (502)
/// rather than cut off in the middle.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 75;

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
    /// The PostgreSQL database of the shared state, when `store_url` names one.
    pub fn shared_store(&self) -> Result<Option<service_kit::pg::PgUrl>, ConfigError> {
        let Some(url) = &self.store_url else { return Ok(None) };
        match url.expose().parse::<service_kit::pg::StoreUrl>() {
            Ok(service_kit::pg::StoreUrl::Postgres(pg)) => Ok(Some(pg)),
            Ok(service_kit::pg::StoreUrl::Sled(_)) => Ok(None),
            Err(e) => Err(ConfigError::Invalid { key: "store_url".into(), reason: e.to_string() }),
        }
    }

    /// The PostgreSQL schema of this agent: `idaas_agent_` and its entity ID's letters and
    /// digits (lower case, others as `_`), cut to PostgreSQL's 63 characters with a hash of
    /// the whole entity ID at the end so that two agents never share one.
    pub fn schema(&self) -> String {
        crate::shared::schema_for(&self.entity_id)
    }

    /// `session_memory_limit_mib` in bytes.
    pub fn session_memory_limit_bytes(&self) -> usize {
        (self.session_memory_limit_mib as usize) << 20
    }

    /// The HPKE suite of the agent's sealing key and of its partners' keys.
    pub fn seal_suite(&self) -> federation::seal::SealSuite {
        federation::seal::SealSuite::for_suite(self.suite)
    }

    /// Reads, parses and validates `path`, then applies `IDAAS_AGENT_CLIENT_SECRET`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        let mut config = Config::parse(&text, path)?;
        if let Ok(url) = std::env::var(service_kit::pg::STORE_URL_ENV) {
            if !url.is_empty() {
                config.store_url = Some(Secret::new(url));
            }
        }
        if let (Some(v), Ok(secret)) = (config.visitor.as_mut(), std::env::var(CLIENT_SECRET_ENV)) {
            if !secret.is_empty() {
                v.client_secret = Secret::new(secret);
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates TOML text (no environment).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text, Path::new("<string>"))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text, sets `[visitor].client_secret` to `secret`, and validates.
    pub fn from_toml_with_secret(text: &str, secret: &str) -> Result<Config, ConfigError> {
        let mut config = Config::parse(text, Path::new("<string>"))?;
        if let Some(v) = config.visitor.as_mut() {
            v.client_secret = Secret::new(secret);
        }
        config.validate()?;
        Ok(config)
    }

    fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = service_kit::config::parse_toml(text, path)?;
        config.public_url = config.public_url.trim_end_matches('/').to_owned();
        config.backend_url = config.backend_url.trim_end_matches('/').to_owned();
        if config.entity_id.is_empty() {
            config.entity_id = format!("{}/saml/metadata", config.public_url);
        }
        Ok(config)
    }

    /// The ACS URL (`<public_url>/saml/acs`).
    pub fn acs_url(&self) -> String {
        format!("{}/saml/acs", self.public_url)
    }

    /// The agent's Single Logout endpoint, `<public_url>/saml/slo` (both bindings).
    pub fn slo_url(&self) -> String {
        format!("{}/saml/slo", self.public_url)
    }

    /// The addresses the partner route accepts calls from: `egress_allowed_sources`, or
    /// those `backend_url`'s host resolves to (resolved once, at start-up).
    pub fn egress_sources(&self) -> Vec<std::net::IpAddr> {
        if !self.egress_allowed_sources.is_empty() {
            return self.egress_allowed_sources.iter().map(|a| a.to_canonical()).collect();
        }
        let Some((host, port)) = url::Url::parse(&self.backend_url).ok().and_then(|u| {
            Some((u.host_str()?.trim_matches(['[', ']']).to_owned(), u.port_or_known_default()?))
        }) else {
            return Vec::new();
        };
        let mut out: Vec<std::net::IpAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
            .map(|addrs| addrs.map(|a| a.ip().to_canonical()).collect())
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// Whether cookies get `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
        public_url = "http://127.0.0.1:8080/"
        backend_url = "http://127.0.0.1:9000"
        [home_idp]
        metadata_file = "idp.xml"
    "#;

    #[test]
    fn defaults_and_derived_values() {
        let c = Config::from_toml(MIN).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.entity_id, "http://127.0.0.1:8080/saml/metadata");
        assert_eq!(c.acs_url(), "http://127.0.0.1:8080/saml/acs");
        assert_eq!(c.headers.user, "X-Idaas-User");
        assert!(!c.secure_cookies());
        assert_eq!(c.request_timeout_secs, 75);
    }

    #[test]
    fn the_request_timeout_is_bounded() {
        // Longer than the backend client's connect + read timeouts: a slow backend is
        // answered 502 by the forwarder before the whole request is cut with 408.
        let backend = crate::BACKEND_CONNECT_TIMEOUT + crate::BACKEND_READ_TIMEOUT;
        assert!(std::time::Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS) > backend);
        for (value, ok) in [(0, false), (1, true), (3600, true), (3601, false)] {
            let r = Config::from_toml(&format!("request_timeout_secs = {value}\n{MIN}"));
            assert_eq!(r.is_ok(), ok, "{value}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("request_timeout_secs"), "{e}");
            }
        }
    }

    #[test]
    fn partners_and_callers_are_checked() {
        use federation::seal::{RecipientKey, SealSuite};
        let x25519 = RecipientKey::generate(SealSuite::X25519Aes128, &mut rand_core::OsRng).public_text();
        let p384 = RecipientKey::generate(SealSuite::P384Aes256, &mut rand_core::OsRng).public_text();
        let ed25519 = crate::propagation::CallSigner::generate(&mut rand_core::OsRng).public_text();
        let partner = |name: &str, key: &str| {
            format!(
                "[[partners]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:8083/\"\ntat_key = \"{key}\"\n"
            )
        };
        let caller = |key: &str, prefixes: &str| {
            format!("[[callers]]\nname = \"shop\"\npublic_key = \"{key}\"\nallowed_prefixes = {prefixes}\n")
        };
        let c = Config::from_toml(&format!(
            "{MIN}\n{}{}",
            partner("delivery", &x25519),
            caller(&ed25519, "[\"/ship\"]")
        ))
        .unwrap();
        assert_eq!(c.partners[0].entity_id(), "http://127.0.0.1:8083/saml/metadata");
        assert_eq!(c.callers[0].allowed_prefixes, ["/ship"]);
        let cases = [
            (partner("Delivery", &x25519), "partners[0].name"),
            (partner("delivery", "AAAA"), "partners[0].tat_key"),
            // A partner key of another security level than this agent's suite.
            (partner("delivery", &p384), "must be an HPKE X25519 public key for suite bls12-381"),
            (format!("{}{}", partner("d", &x25519), partner("d", &x25519)), "partners[1].name"),
            (caller(&x25519[..20], "[\"/ship\"]"), "callers[0].public_key"),
            (caller(&ed25519, "[]"), "callers[0].allowed_prefixes"),
            (caller(&ed25519, "[\"ship\"]"), "callers[0].allowed_prefixes"),
        ];
        for (extra, expected) in cases {
            let err = Config::from_toml(&format!("{MIN}\n{extra}")).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        // At 192 bits the partner's key is P-384, and an X25519 one is refused with the reason.
        let at192 = MIN.replace("[home_idp]", "suite = \"bls24-479\"\n[home_idp]");
        let c = Config::from_toml(&format!("{at192}\n{}", partner("delivery", &p384))).unwrap();
        assert_eq!(c.seal_suite(), SealSuite::P384Aes256);
        let err =
            Config::from_toml(&format!("{at192}\n{}", partner("delivery", &x25519))).unwrap_err().to_string();
        assert!(err.contains("partners[0].tat_key") && err.contains("different security levels"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("unknown = 1", "unknown field"),
            ("[visitor]\ntoken_endpoint = \"http://v/t\"\nclient_id = \"shop\"", "visitor.client_secret"),
            ("[claims_mapping]\nlastname = \"bad header\"", "claims_mapping.lastname"),
            ("[access]\nadmin_paths = [\"admin\"]", "access.admin_paths"),
            ("[[access.rules]]\nprefix = \"/\"\ngroups = { customers = \"superuser\" }", "unknown variant"),
            (
                "[[access.rules]]\nprefix = \"/r\"\ngroups = {}\nsensitive = { approvers = \"finance\", valid_for = \"8h\" }",
                "access.rules[0].sensitive.approvers",
            ),
            (
                "[[access.rules]]\nprefix = \"/r\"\ngroups = {}\nsensitive = { approvers = \"owner of finance\", valid_for = \"31d\" }",
                "access.rules[0].sensitive.valid_for",
            ),
            (
                "[[access.rules]]\nprefix = \"/r\"\ngroups = {}\nsensitive = { approvers = \"owner of finance\" }",
                "missing field `valid_for`",
            ),
            (
                "[[access.rules]]\nprefix = \"/r\"\ngroups = {}\nsensitive = { approvers = \"owner of x\", valid_for = \"1h\", by = 1 }",
                "unknown field",
            ),
        ];
        for (extra, expected) in cases {
            let err = Config::from_toml(&format!("{MIN}\n{extra}")).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        let err = Config::from_toml(&MIN.replace("http://127.0.0.1:9000", "ftp://x")).unwrap_err();
        assert!(err.to_string().contains("backend_url"));
        let check = |secs: u32| {
            Config::from_toml(
                &MIN.replace("[home_idp]", &format!("session_check_seconds = {secs}\n[home_idp]")),
            )
        };
        assert_eq!(check(60).unwrap().session_check_seconds, 60);
        assert!(check(61).unwrap_err().to_string().contains("session_check_seconds"));
        for bad in
            ["http://127.0.0.1:9000/app/../x", "http://127.0.0.1:9000/a//b", "http://127.0.0.1:9000/a;b"]
        {
            let err = Config::from_toml(&MIN.replace("http://127.0.0.1:9000", bad)).unwrap_err();
            assert!(err.to_string().contains("backend_url"), "{bad}: {err}");
        }
        let c =
            Config::from_toml(&MIN.replace("http://127.0.0.1:9000", "http://127.0.0.1:9000/app")).unwrap();
        assert_eq!(c.egress_sources(), ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
        let c = Config::from_toml(&format!("egress_allowed_sources = [\"10.0.0.7\"]\n{MIN}")).unwrap();
        assert_eq!(c.egress_sources(), ["10.0.0.7".parse::<std::net::IpAddr>().unwrap()]);
    }
}
