//! Pieces every service's TOML configuration shares (home IdP, visitor IdP, web agent): the
//! error type whose messages name the file or the key, TOML loading, checks of common values
//! (URLs, entity IDs, secrets, ranges, the listener time bounds). The configuration structs
//! themselves stay in each service.

use std::path::PathBuf;

/// Why a configuration could not be loaded. Messages name the file, or the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML, or an unknown key or wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file (`<string>` when parsed from memory).
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("configuration key `{key}`: {reason}")]
    Invalid {
        /// The key, e.g. `clients[1].purposes[0]`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// A [`ConfigError::Invalid`].
pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), reason: reason.into() }
}

/// Parses TOML `text` (read from `path`, for messages) into `T`; unknown keys are refused when
/// `T` says `deny_unknown_fields`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &std::path::Path,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
}

/// Reads the file at `path` and parses it with [`parse_toml`].
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
    parse_toml(&text, path)
}

/// Longest URL or entity ID accepted.
pub const MAX_URL_LEN: usize = 1024;

/// `min ≤ value ≤ max`.
pub fn check_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(invalid(key, format!("{value} is out of range {min}..={max}")));
    }
    Ok(())
}

/// 1 – [`MAX_URL_LEN`] characters without spaces or control characters.
pub fn check_entity_id(key: &str, id: &str) -> Result<(), ConfigError> {
    if id.is_empty() || id.len() > MAX_URL_LEN || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(key, format!("must be 1-{MAX_URL_LEN} characters without spaces")));
    }
    Ok(())
}

/// An absolute `http`/`https` URL with a host and without query, fragment or credentials.
pub fn check_base_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.len() > MAX_URL_LEN {
        return Err(invalid(key, format!("longer than {MAX_URL_LEN} characters")));
    }
    let url =
        url::Url::parse(value).map_err(|e| invalid(key, format!("'{value}' is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(key, format!("'{value}' must be an http or https URL with a host")));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid(key, format!("'{value}' must not have a query, fragment or credentials")));
    }
    Ok(())
}

/// The listener's TLS files from `tls_cert` and `tls_key`: both or neither, and a service
/// that speaks https itself must say so in its `public_url` (the cookies' `Secure` and
/// `__Host-` and HSTS follow from it).
pub fn check_tls(
    public_url: &str,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
    let files = crate::tls::TlsFiles::from_config(cert, key).map_err(|e| invalid("tls_cert", e))?;
    if files.is_some() && !public_url.starts_with("https://") {
        return Err(invalid("public_url", "must be an https URL when tls_cert and tls_key are set"));
    }
    Ok(files)
}

/// A secret of at least `min_len` and at most 512 characters, without spaces or control
/// characters (admin tokens, client secrets).
pub fn check_secret(key: &str, secret: &str, min_len: usize) -> Result<(), ConfigError> {
    if secret.len() < min_len {
        return Err(invalid(
            key,
            format!("must be at least {min_len} characters (e.g. `openssl rand -hex 32`)"),
        ));
    }
    if secret.len() > 512 || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(key, "must be at most 512 characters without spaces or control characters"));
    }
    Ok(())
}

/// The listener time bounds every service's configuration has (see [`crate::serve`]): the
/// header-read, idle and request timeouts 1 s – 1 h, the shutdown grace 0 – 1 h (0: drop the
/// connections at once).
pub fn check_time_bounds(
    header_read_timeout_secs: u64,
    idle_timeout_secs: u64,
    request_timeout_secs: u64,
    shutdown_grace_secs: u64,
) -> Result<(), ConfigError> {
    let max = crate::serve::MAX_TIMEOUT_SECS;
    check_range("header_read_timeout_secs", header_read_timeout_secs, 1, max)?;
    check_range("idle_timeout_secs", idle_timeout_secs, 1, max)?;
    check_range("request_timeout_secs", request_timeout_secs, 1, max)?;
    check_range("shutdown_grace_secs", shutdown_grace_secs, 0, max)
}

/// `#[serde(default = …)]` functions of the time bounds.
pub mod defaults {
    use crate::serve;

    /// [`serve::DEFAULT_HEADER_READ_TIMEOUT_SECS`].
    pub fn header_read_timeout_secs() -> u64 {
        serve::DEFAULT_HEADER_READ_TIMEOUT_SECS
    }
    /// [`serve::DEFAULT_IDLE_TIMEOUT_SECS`].
    pub fn idle_timeout_secs() -> u64 {
        serve::DEFAULT_IDLE_TIMEOUT_SECS
    }
    /// [`serve::DEFAULT_REQUEST_TIMEOUT_SECS`].
    pub fn request_timeout_secs() -> u64 {
        serve::DEFAULT_REQUEST_TIMEOUT_SECS
    }
    /// [`serve::DEFAULT_SHUTDOWN_GRACE_SECS`].
    pub fn shutdown_grace_secs() -> u64 {
        serve::DEFAULT_SHUTDOWN_GRACE_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_are_checked_by_key() {
        assert!(check_time_bounds(10, 60, 30, 10).is_ok());
        assert!(check_time_bounds(10, 60, 30, 0).is_ok(), "no grace is allowed");
        assert!(check_time_bounds(0, 60, 30, 10)
            .unwrap_err()
            .to_string()
            .contains("header_read_timeout_secs"));
        assert!(check_time_bounds(10, 0, 30, 10).unwrap_err().to_string().contains("idle_timeout_secs"));
        assert!(check_time_bounds(10, 60, 3601, 10)
            .unwrap_err()
            .to_string()
            .contains("request_timeout_secs"));
        assert!(check_time_bounds(10, 60, 30, 3601).unwrap_err().to_string().contains("shutdown_grace_secs"));
    }

    #[test]
    fn checks_name_the_key() {
        assert!(check_range("n", 5, 1, 10).is_ok());
        assert!(check_range("n", 11, 1, 10).unwrap_err().to_string().contains("`n`"));
        assert!(check_entity_id("e", "https://idp.example").is_ok());
        assert!(check_entity_id("e", "a b").is_err() && check_entity_id("e", "").is_err());
        assert!(check_base_url("u", "https://idp.example/base").is_ok());
        for bad in ["ftp://x", "/relative", "https://u:p@x", "https://x/?q", "https://x/#f"] {
            assert!(check_base_url("u", bad).is_err(), "{bad}");
        }
        assert!(check_secret("s", &"x".repeat(32), 32).is_ok());
        assert!(check_secret("s", "short", 32).is_err());
        assert!(check_secret("s", &format!("{} ", "x".repeat(32)), 32).is_err());
    }
}

/// `#[serde(with = "service_kit::config::suite_name")]`: a pairing suite written by its name
/// (`"bls12-381"`, `"bn254"`) in configuration files, with an error listing the names.
pub mod suite_name {
    use pbe_core::SuiteId;
    use serde::{Deserialize as _, Deserializer, Serializer};

    /// Writes the suite's name.
    pub fn serialize<S: Serializer>(suite: &SuiteId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(suite.name())
    }

    /// Reads a suite name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SuiteId, D::Error> {
        let name = String::deserialize(d)?;
        SuiteId::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown suite '{name}' (expected \"bls12-381\" or \"bn254\")"))
        })
    }
}
