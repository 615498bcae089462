//! The checks of the configuration's entries that are also applied to what the admin API
//! registers at run time (service providers, visitor authorities, URLs, identifiers), so a
//! file and an API call are held to one rule.

use pbe_core::SuiteId;
use service_kit::config::{check_entity_id, invalid};

use super::{ConfigError, VisitorAuthority, MAX_ACS_URLS, MAX_URL_LEN};
use crate::model::ServiceProvider;

/// Checks a visitor authority entry; returns its pinned key text. Errors are `(field, reason)`.
pub fn check_visitor_authority(
    suite: SuiteId,
    va: &VisitorAuthority,
) -> Result<&str, (&'static str, String)> {
    if !is_identifier(&va.name, pbe_core::attribute::MAX_AUTHORITY_LEN) {
        return Err(("name", "must be 1-64 characters of [a-z0-9_.-]".into()));
    }
    let key = match (va.public_key.as_deref(), va.url.as_deref()) {
        (Some(key), None) => key,
        (None, Some(url)) => {
            // Fetched at start-up (`state::fetch_authorities`), which replaces it with the key.
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            return if ok { Ok("") } else { Err(("url", "must be an http or https URL".into())) };
        }
        (Some(_), Some(_)) => return Err(("url", "set either public_key or url, not both".into())),
        (None, None) => return Err(("public_key", "is required (or url, to fetch it at start-up)".into())),
    };
    let name = crate::pbe::check_authority_public_key(suite, key)
        .map_err(|e| ("public_key", format!("not a {} authority public key: {e}", suite.name())))?;
    if name != va.name {
        return Err(("public_key", format!("the key is for authority '{name}', not '{}'", va.name)));
    }
    Ok(key)
}

/// `[a-z0-9_.-]{1,max}` (lower case only).
pub fn is_identifier(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks that `value` is an absolute `http` or `https` URL with a host and no fragment.
pub fn check_http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.len() > MAX_URL_LEN {
        return Err(invalid(key, format!("longer than {MAX_URL_LEN} characters")));
    }
    let url =
        url::Url::parse(value).map_err(|e| invalid(key, format!("'{value}' is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(key, format!("'{value}' must be an http or https URL")));
    }
    if url.host().is_none() {
        return Err(invalid(key, format!("'{value}' has no host")));
    }
    if url.fragment().is_some() {
        return Err(invalid(key, format!("'{value}' must not have a fragment")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(key, format!("'{value}' must not contain credentials")));
    }
    Ok(())
}

/// Validates a service-provider registration (from the configuration or the admin API) for an
/// IdP of `suite`: the SP's sealing key must be of that level's HPKE suite.
/// The error is `(field, reason)`, e.g. `("acs_urls[0]", "… is not an absolute URL")`.
pub fn validate_service_provider(sp: &ServiceProvider, suite: SuiteId) -> Result<(), (String, String)> {
    let lift = |e: ConfigError| match e {
        ConfigError::Invalid { key, reason } => (key, reason),
        other => ("?".to_owned(), other.to_string()),
    };
    check_entity_id("entity_id", &sp.entity_id).map_err(lift)?;
    if sp.display_name.as_ref().is_some_and(|n| n.chars().count() > 80 || n.chars().any(char::is_control)) {
        return Err(("display_name".into(), "at most 80 characters, no control characters".into()));
    }
    if sp.purposes.len() > 64
        || sp
            .purposes
            .iter()
            .any(|p| p.split_once(':').is_none_or(|(n, v)| pbe_core::Attribute::new(n, v, "x").is_err()))
    {
        return Err(("purposes".into(), "at most 64 entries of the form name:value ([a-z0-9_.-])".into()));
    }
    if sp.acs_urls.is_empty() {
        return Err(("acs_urls".into(), "at least one ACS URL is required".into()));
    }
    if sp.acs_urls.len() > MAX_ACS_URLS {
        return Err(("acs_urls".into(), format!("at most {MAX_ACS_URLS} ACS URLs")));
    }
    for (i, acs) in sp.acs_urls.iter().enumerate() {
        check_http_url(&format!("acs_urls[{i}]"), acs).map_err(lift)?;
    }
    if let Some(pem) = &sp.authn_request_cert_pem {
        let ok = pem.len() <= 16 * 1024
            && pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----")
            && crate::keys::pem_to_der(pem).is_some_and(|der| !der.is_empty());
        if !ok {
            return Err(("authn_request_cert_pem".into(), "not a PEM certificate".into()));
        }
    }
    if let Some(slo) = &sp.slo {
        check_http_url("slo.url", &slo.url).map_err(lift)?;
        if let Some(r) = &slo.response_url {
            check_http_url("slo.response_url", r).map_err(lift)?;
        }
    }
    for (i, r) in sp.release.iter().enumerate() {
        if !crate::model::RELEASABLE.contains(&r.as_str()) {
            return Err((format!("release[{i}]"), "must be one of \"groups\", \"email\"".into()));
        }
        if sp.release[..i].contains(r) {
            return Err((format!("release[{i}]"), "is repeated".into()));
        }
    }
    if let Some(pbe) = &sp.pbe {
        if !sp.signed_parts().signs_assertion() {
            return Err((
                "sign".into(),
                "a PBE service exchanges its assertion at the visitor IdP (RFC 7522), which needs the \
                 Assertion signed: use \"both\" or \"assertion\""
                    .into(),
            ));
        }
        let seal = federation::seal::SealSuite::for_suite(suite);
        federation::seal::check_public_key(seal, &pbe.tat_public_key).map_err(|e| {
            (
                "pbe.tat_public_key".to_owned(),
                format!(
                    "{e} (this IdP's suite {suite} seals with {}; unpadded base64url)",
                    seal.description()
                ),
            )
        })?;
        check_entity_id("pbe.visitor_entity_id", &pbe.visitor_entity_id).map_err(lift)?;
        check_http_url("pbe.visitor_token_endpoint", &pbe.visitor_token_endpoint).map_err(lift)?;
        if !is_identifier(&pbe.domain, pbe_core::attribute::MAX_AUTHORITY_LEN) {
            return Err(("pbe.domain".into(), "must be 1-64 characters of [a-z0-9_.-]".into()));
        }
        if !is_identifier(&pbe.country, 64) {
            return Err(("pbe.country".into(), "must be 1-64 characters of [a-z0-9_.-]".into()));
        }
    }
    Ok(())
}
