//! The checks of every configuration value (`Config::validate`) and the compiled access
//! rules. Errors name the key.

use federation::claims::is_pii_name;

use super::{invalid, Config, ConfigError, Level, CLIENT_SECRET_ENV};
use crate::rbac::AccessRules;
// The services' one URL check: absolute http(s) with a host, no query, fragment or credentials.
use service_kit::config::check_base_url as check_url;

impl Config {
    /// Checks every value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("public_url", &self.public_url)?;
        self.tls_files()?;
        self.shared_store()?;
        service_kit::config::check_range(
            "home_idp.metadata_refresh_secs",
            self.home_idp.metadata_refresh_secs,
            0,
            7 * 86_400,
        )?;
        check_url("backend_url", &self.backend_url)?;
        // Requests are appended to backend_url's path as they are; that base must itself be
        // plain and written in the form the URL library sends, so nothing can climb out of it.
        if let Ok(u) = url::Url::parse(&self.backend_url) {
            if !crate::paths::is_canonical(u.path()) || u.as_str().trim_end_matches('/') != self.backend_url {
                return Err(invalid(
                    "backend_url",
                    format!(
                        "write it in plain, normal form ('{}', no '.', '..', '//', ';' or encoded '/')",
                        u.as_str().trim_end_matches('/')
                    ),
                ));
            }
        }
        if self.entity_id.len() > 1024 || self.entity_id.chars().any(char::is_whitespace) {
            return Err(invalid("entity_id", "at most 1024 characters, no spaces"));
        }
        for (key, value) in [("groups_attribute", &self.groups_attribute), ("user_from", &self.user_from)] {
            if value.is_empty()
                || value.len() > 256
                || value.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(key, "must be a SAML attribute name: 1 - 256 characters, no spaces"));
            }
        }
        if self.session_check_seconds > 60 {
            return Err(invalid("session_check_seconds", "must be 0 - 60"));
        }
        if !(1..=65_536).contains(&self.session_memory_limit_mib) {
            return Err(invalid("session_memory_limit_mib", "must be 1 - 65536"));
        }
        if !(1..=10_080).contains(&self.session_lifetime_minutes) {
            return Err(invalid("session_lifetime_minutes", "must be 1 - 10080"));
        }
        service_kit::config::check_time_bounds(
            self.header_read_timeout_secs,
            self.idle_timeout_secs,
            self.request_timeout_secs,
            self.shutdown_grace_secs,
        )?;
        if self.clock_skew_seconds > 600 {
            return Err(invalid("clock_skew_seconds", "must be at most 600"));
        }
        match (&self.home_idp.metadata_file, &self.home_idp.metadata_url) {
            (Some(_), None) => {}
            (None, Some(u)) => check_url("home_idp.metadata_url", u)?,
            _ => return Err(invalid("home_idp", "set exactly one of metadata_file and metadata_url")),
        }
        if let Some(v) = &self.visitor {
            check_url("visitor.token_endpoint", &v.token_endpoint)?;
            if v.client_id.is_empty() || v.client_id.len() > 256 || v.client_id.contains(':') {
                return Err(invalid("visitor.client_id", "1-256 characters, no ':'"));
            }
            if v.client_secret.expose().is_empty() {
                return Err(invalid(
                    "visitor.client_secret",
                    format!("missing: set it in the file or in {CLIENT_SECRET_ENV}"),
                ));
            }
        }
        for p in &self.public_paths {
            check_prefix("public_paths", p)?;
        }
        for (attr, header) in &self.claims_mapping {
            if !is_pii_name(attr) {
                return Err(invalid(format!("claims_mapping.{attr}"), "not a PII attribute name"));
            }
            check_header(&format!("claims_mapping.{attr}"), header)?;
        }
        check_header("headers.user", &self.headers.user)?;
        check_header("headers.groups", &self.headers.groups)?;
        check_header("headers.pii_prefix", &format!("{}x", self.headers.pii_prefix))?;
        self.access_rules()?;
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.partners.iter().enumerate() {
            let key = format!("partners[{i}]");
            if !is_peer_name(&p.name) || !names.insert(p.name.as_str()) {
                return Err(invalid(format!("{key}.name"), "unique, [a-z0-9_-]{1,64}"));
            }
            check_url(&format!("{key}.url"), p.url.trim_end_matches('/'))?;
            let seal_suite = self.seal_suite();
            federation::seal::check_public_key(seal_suite, &p.tat_key).map_err(|e| {
                invalid(
                    format!("{key}.tat_key"),
                    format!(
                        "must be an HPKE {seal_suite} public key for suite {} (unpadded base64url): {e}",
                        self.suite
                    ),
                )
            })?;
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, c) in self.callers.iter().enumerate() {
            let key = format!("callers[{i}]");
            if !is_peer_name(&c.name) || !names.insert(c.name.as_str()) {
                return Err(invalid(format!("{key}.name"), "unique, [a-z0-9_-]{1,64}"));
            }
            crate::propagation::parse_public_key(&c.public_key).ok_or_else(|| {
                invalid(format!("{key}.public_key"), "not an Ed25519 public key (base64url)")
            })?;
            if c.allowed_prefixes.is_empty() {
                return Err(invalid(format!("{key}.allowed_prefixes"), "name at least one path prefix"));
            }
            for p in &c.allowed_prefixes {
                check_prefix(&format!("{key}.allowed_prefixes"), p)?;
            }
        }
        Ok(())
    }

    /// The compiled access rules.
    pub fn access_rules(&self) -> Result<AccessRules, ConfigError> {
        for p in &self.access.admin_paths {
            check_prefix("access.admin_paths", p)?;
        }
        let mut sensitive = Vec::new();
        for (i, r) in self.access.rules.iter().enumerate() {
            check_prefix(&format!("access.rules[{i}].prefix"), &r.prefix)?;
            if let Some(s) = &r.sensitive {
                let key = format!("access.rules[{i}].sensitive");
                if !federation::approvals::is_prefix(&r.prefix) {
                    return Err(invalid(key.as_str(), "a sensitive prefix must be at most 512 bytes"));
                }
                let group = crate::approval::parse_approvers(&s.approvers).ok_or_else(|| {
                    invalid(
                        format!("{key}.approvers"),
                        "must be \"owner of <group>\" (a-z, 0-9, '_', '.', '-')",
                    )
                })?;
                let valid_for = crate::approval::parse_duration(&s.valid_for).ok_or_else(|| {
                    invalid(
                        format!("{key}.valid_for"),
                        "must be <n>s, <n>m, <n>h or <n>d, from 1 second to 30 days",
                    )
                })?;
                sensitive.push(crate::approval::Sensitive { prefix: r.prefix.clone(), group, valid_for });
            }
        }
        Ok(AccessRules::new(
            self.access.default_level.unwrap_or(Level::ReadWrite),
            self.access.admin_paths.clone(),
            self.access.rules.iter().map(|r| (r.prefix.clone(), r.groups.clone())).collect(),
        )
        .with_sensitive(sensitive))
    }
}

fn is_peer_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
}

fn check_prefix(key: &str, p: &str) -> Result<(), ConfigError> {
    if !p.starts_with('/') || p.len() > 1024 || p.contains(['?', '#', ' ']) {
        return Err(invalid(key, format!("'{p}' must be a path starting with '/'")));
    }
    Ok(())
}

fn check_header(key: &str, name: &str) -> Result<(), ConfigError> {
    axum::http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| invalid(key, format!("'{name}' is not a valid header name")))
}
