//! A user's groups: the plain SAML attribute `groups` that web agents use for RBAC, set by the
//! admin API.

use crate::config::is_identifier;
use crate::service::accounts::normalize_uid;
use crate::state::AppState;
use crate::store::StoreError;

/// Longest group name, bytes.
pub const MAX_GROUP_LEN: usize = 64;
/// Most groups per user.
pub const MAX_GROUPS: usize = 64;

/// Why a group update failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupsError {
    /// A group name is malformed.
    #[error("group names must be 1-64 characters of a-z, 0-9, '_', '.', '-'")]
    InvalidName,
    /// Too many groups.
    #[error("at most {MAX_GROUPS} groups")]
    TooMany,
    /// No such user.
    #[error("no such user")]
    NoSuchUser,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replaces a user's groups (deduplicated, sorted); returns the new list.
pub fn set_groups(state: &AppState, uid: &str, groups: Vec<String>) -> Result<Vec<String>, GroupsError> {
    if groups.len() > MAX_GROUPS {
        return Err(GroupsError::TooMany);
    }
    if !groups.iter().all(|g| is_identifier(g, MAX_GROUP_LEN)) {
        return Err(GroupsError::InvalidName);
    }
    let mut groups = groups;
    groups.sort();
    groups.dedup();
    let uid = normalize_uid(uid).ok_or(GroupsError::NoSuchUser)?;
    let user =
        state.store.update_user(&uid, &mut |u| u.groups = groups.clone())?.ok_or(GroupsError::NoSuchUser)?;
    tracing::info!(user = %service_kit::redact::log_id(&user.uid), count = user.groups.len(), "groups updated");
    Ok(user.groups)
}

/// A user's groups.
pub fn get_groups(state: &AppState, uid: &str) -> Result<Vec<String>, GroupsError> {
    let uid = normalize_uid(uid).ok_or(GroupsError::NoSuchUser)?;
    Ok(state.store.get_user(&uid)?.ok_or(GroupsError::NoSuchUser)?.groups)
}
