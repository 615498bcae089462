//! The PII vault: a data owner's attribute ciphertexts, checked on upload (well formed in this
//! IdP's suite, only known authorities), capped per user, and named so that no two of a
//! user's names become the same HTTP header at a service.

use federation::claims::{fold_header_name, is_pii_name};

use crate::model::PiiRecord;
use crate::state::AppState;
use crate::store::StoreError;

/// Longest PII attribute name, bytes (the rule is `federation::claims::is_pii_name`).
pub const MAX_ATTRIBUTE_LEN: usize = federation::claims::MAX_PII_NAME_LEN;
/// Most PII ciphertexts per user (each one travels in every SAML assertion, whose readers
/// refuse more than `federation::claims::MAX_PII`).
pub const MAX_PII_PER_USER: usize = federation::claims::MAX_PII;

/// Why a PII operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PiiError {
    /// The attribute name is not `[a-z0-9_.-]{1,64}`.
    #[error("attribute name must be 1-64 characters of a-z, 0-9, '_', '.', '-'")]
    InvalidAttribute,
    /// The body is not an acceptable ciphertext.
    #[error("not an acceptable ciphertext: {0}")]
    InvalidCiphertext(pbe_core::Error),
    /// The user already has the maximum number of attributes.
    #[error("at most {MAX_PII_PER_USER} PII attributes per user")]
    TooMany,
    /// No such attribute.
    #[error("no PII attribute '{0}'")]
    NotFound(String),
    /// Another stored attribute differs from this one only in `_` versus `-`: web agents pass
    /// each attribute as an HTTP header, where the two names are the same header (and CGI-style
    /// backends fold `-` and `_` anyway), so one value would be lost.
    #[error("attribute '{new}' collides with the stored attribute '{stored}': names that differ only in '_' and '-' become the same header at a service; use '{stored}' or delete it first")]
    Collides {
        /// The name being stored.
        new: String,
        /// The stored name it collides with.
        stored: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a PII attribute name (`[a-z0-9_.-]{1,64}`, not `.` or `..`; no lower-casing):
/// federation's rule, the one the agents read assertions with.
pub fn valid_attribute(name: &str) -> bool {
    is_pii_name(name)
}

/// What the vault lists about one PII ciphertext (never the ciphertext itself): the wire type
/// the data-owner client reads.
pub use federation::api::PiiSummary;

pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

impl From<&PiiRecord> for PiiSummary {
    fn from(r: &PiiRecord) -> Self {
        PiiSummary {
            attribute: r.attribute.clone(),
            policy: r.policy.clone(),
            authorities: r.authorities.clone(),
            size: r.ciphertext.len(),
            updated: rfc3339(r.updated),
        }
    }
}

/// Stores a PII ciphertext (binary or base64url text) after checking that it is well formed
/// in this IdP's suite and names only known authorities. Returns the summary and whether the
/// attribute was created (rather than replaced). Blocking (group-element validation).
pub fn put_pii(
    state: &AppState,
    uid: &str,
    attribute: &str,
    body: &[u8],
    now: i64,
) -> Result<(PiiSummary, bool), PiiError> {
    if !valid_attribute(attribute) {
        return Err(PiiError::InvalidAttribute);
    }
    let info = crate::pbe::check_ciphertext(state.keys.suite(), body, &state.authority_names())
        .map_err(PiiError::InvalidCiphertext)?;
    // The cap and the name check read the user's list, then insert: without one writer at a
    // time, parallel uploads would all pass the check (65 stored under a race). The costly
    // ciphertext validation above stays outside the lock.
    let _one_writer = state.pii_writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let stored = state.store.list_pii(uid)?;
    let folded = fold_header_name(attribute);
    if let Some(other) =
        stored.iter().find(|r| r.attribute != attribute && fold_header_name(&r.attribute) == folded)
    {
        return Err(PiiError::Collides { new: attribute.to_owned(), stored: other.attribute.clone() });
    }
    if !stored.iter().any(|r| r.attribute == attribute) && stored.len() >= MAX_PII_PER_USER {
        return Err(PiiError::TooMany);
    }
    let record = PiiRecord {
        attribute: attribute.to_owned(),
        ciphertext: info.bytes,
        policy: info.policy,
        authorities: info.authorities,
        updated: now,
    };
    let created = state.store.put_pii(uid, &record)?;
    tracing::info!(user = %service_kit::redact::log_id(uid), attribute, size = record.ciphertext.len(), created, "stored a PII ciphertext");
    Ok((PiiSummary::from(&record), created))
}

/// Lists a user's PII ciphertexts.
pub fn list_pii(state: &AppState, uid: &str) -> Result<Vec<PiiSummary>, StoreError> {
    Ok(state.store.list_pii(uid)?.iter().map(PiiSummary::from).collect())
}

/// One PII ciphertext of a user (the owner may read back their own ciphertext).
pub fn get_pii(state: &AppState, uid: &str, attribute: &str) -> Result<PiiRecord, PiiError> {
    if !valid_attribute(attribute) {
        return Err(PiiError::InvalidAttribute);
    }
    state.store.get_pii(uid, attribute)?.ok_or_else(|| PiiError::NotFound(attribute.to_owned()))
}

/// Deletes one PII ciphertext.
pub fn delete_pii(state: &AppState, uid: &str, attribute: &str) -> Result<(), PiiError> {
    if !valid_attribute(attribute) {
        return Err(PiiError::InvalidAttribute);
    }
    if state.store.delete_pii(uid, attribute)? {
        tracing::info!(user = %service_kit::redact::log_id(uid), attribute, "deleted a PII ciphertext");
        Ok(())
    } else {
        Err(PiiError::NotFound(attribute.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        assert!(valid_attribute("lastname") && valid_attribute("addr.home-1"));
        for bad in ["", "..", "../x", "<x>", "LastName", &"a".repeat(65), "a b", "a\0"] {
            assert!(!valid_attribute(bad), "{bad:?}");
        }
    }

    #[test]
    fn header_folding_joins_underscore_and_dash_only() {
        assert_eq!(fold_header_name("home_addr"), fold_header_name("home-addr"));
        assert_ne!(fold_header_name("home.addr"), fold_header_name("home-addr"));
    }
}
