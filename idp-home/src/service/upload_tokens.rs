//! Short-lived upload tokens (issue 20): uploading or deleting PII needs a token obtained
//! within the last `upload_token_minutes` with a fresh authentication, the password and, when
//! the user has a confirmed authenticator, a code from it (or a recovery code). The long-lived
//! API token ([`super::api_tokens`]) only reads.
//!
//! Wrong passwords count in the sign-in throttle ([`super::accounts::authenticate_async`]),
//! wrong codes in the second factor's ([`super::mfa::verify`], which also refuses a code used
//! before). Tokens are stored only as their SHA-256, at most [`MAX_PER_USER`] per user, expired
//! ones purged at every issue ([`crate::store::UploadTokenStore`]).

use std::net::IpAddr;

use service_kit::secret::Secret;

use super::accounts::{self, AuthError};
use super::api_tokens::{random_token, token_shape_ok};
use super::mfa::{self, MfaError};
use super::passwords::Password;
use crate::model::User;
use crate::state::AppState;
use crate::store::{token_hash, StoreError, UploadToken};

/// Upload tokens one user holds at most (a new one replaces the oldest).
pub const MAX_PER_USER: usize = 5;

/// A freshly issued upload token: the wire type the CLI and the wallet read.
pub use federation::api::UploadToken as IssuedUploadToken;

/// Why no upload token was issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadTokenError {
    /// The password was wrong, the account unknown or unverified, or the sign-in throttled.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The user has an authenticator and the request carries no code.
    #[error("this account has an authenticator app: send a code from it (or a recovery code) as `code`")]
    CodeRequired,
    /// The code was wrong, used before, or throttled.
    #[error(transparent)]
    Mfa(#[from] MfaError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Authenticates `uid` afresh (password, then the code when they have an authenticator) and
/// issues an upload token.
pub async fn issue(
    state: &AppState,
    uid: String,
    password: Password,
    code: Option<Secret>,
    client: Option<IpAddr>,
) -> Result<IssuedUploadToken, UploadTokenError> {
    let user = accounts::authenticate_async(state, uid, password, client).await?;
    if mfa::has_confirmed_factor(&user) {
        let code = code.filter(|c| !c.expose().trim().is_empty()).ok_or(UploadTokenError::CodeRequired)?;
        mfa::verify(state, &user.uid, code.expose(), client, state.now())?;
    }
    Ok(issue_for(state, &user.uid, state.now())?)
}

/// Issues an upload token for `uid` (authenticated by the caller), valid from `now` for
/// `upload_token_minutes`.
pub fn issue_for(state: &AppState, uid: &str, now: i64) -> Result<IssuedUploadToken, StoreError> {
    let token = random_token();
    let lifetime = u64::from(state.config.upload_token_minutes) * 60;
    let expires = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    let record = UploadToken { uid: uid.to_owned(), issued: now, expires };
    state.store.put_upload_token(&token_hash(&token), &record, MAX_PER_USER, now)?;
    tracing::info!(user = %service_kit::redact::log_id(uid), "upload token issued");
    Ok(IssuedUploadToken { token, expires_at: super::vault::rfc3339(expires), expires_in: lifetime })
}

/// The verified user an upload token belongs to, if the token is known and not expired.
pub fn user_for_upload_token(state: &AppState, token: &str, now: i64) -> Result<Option<User>, StoreError> {
    if !token_shape_ok(token) {
        return Ok(None);
    }
    let Some(t) = state.store.get_upload_token(&token_hash(token))? else {
        return Ok(None);
    };
    if t.expires <= now || t.issued > now {
        return Ok(None);
    }
    Ok(state.store.get_user(&t.uid)?.filter(|u| u.verified))
}
