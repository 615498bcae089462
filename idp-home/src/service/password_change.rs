//! Changing a password (signed in, with the current one) and resetting a forgotten one by an
//! e-mail link (issue 18), without HTTP.
//!
//! A reset link carries a random token; the store keeps only its hash, in the verification
//! table under a separate domain (`token_hash("reset\0" ‖ token)`), so a reset token can never
//! be used as an e-mail verification token nor the other way round. It is valid for
//! `verification_lifetime_hours` and used once. Asking for a reset answers the same whether or
//! not the account exists (no account enumeration); only verified accounts get a mail.

use std::net::IpAddr;

use crate::mail::{Message, Outbox};
use crate::service::accounts::{self, AuthError};
use crate::service::api_tokens::{random_token, token_shape_ok};
use crate::service::hashing::HashFailure;
use crate::service::passwords::{hash_password_in, Password, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::state::AppState;
use crate::store::{token_hash, StoreError, Verification};

/// Why a change or reset failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// The current password is wrong (or throttled, busy: see the inner error).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The new password's length is out of bounds.
    #[error("the new password must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")]
    InvalidPassword,
    /// The reset link is unknown, used or expired.
    #[error("this password reset link is invalid, expired or was already used")]
    InvalidToken,
    /// Every hashing slot stayed busy.
    #[error("the server is busy; try again in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Hashing, store or mail failure (logged; a generic page for the user).
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        ChangeError::Internal(format!("store: {e}"))
    }
}

fn reset_key(token: &str) -> [u8; 32] {
    token_hash(&format!("reset\0{token}"))
}

async fn new_hash(state: &AppState, new: Password) -> Result<String, ChangeError> {
    if !new.length_ok() {
        return Err(ChangeError::InvalidPassword);
    }
    match state.hashes.run(move |blocks| hash_password_in(blocks, &new)).await {
        Ok(Ok(hash)) => Ok(hash),
        Ok(Err(e)) => Err(ChangeError::Internal(format!("hashing: {e}"))),
        Err(HashFailure::Busy { retry_after }) => Err(ChangeError::Busy { retry_after }),
        Err(e) => Err(ChangeError::Internal(format!("hashing: {e}"))),
    }
}

/// Changes `uid`'s password after checking `current` (throttled like a sign-in). The caller
/// ends the user's other sessions.
pub async fn change(
    state: &AppState,
    uid: &str,
    current: Password,
    new: Password,
    client: Option<IpAddr>,
) -> Result<(), ChangeError> {
    if !new.length_ok() {
        return Err(ChangeError::InvalidPassword);
    }
    let user = accounts::authenticate_async(state, uid.to_owned(), current, client).await?;
    let hash = new_hash(state, new).await?;
    state.store.update_user(&user.uid, &mut |u| u.password_hash = hash.clone())?;
    tracing::info!(user = %service_kit::redact::log_id(&user.uid), "password changed");
    Ok(())
}

/// Sends a reset link to `uid`'s address when the account exists and is verified; does
/// nothing otherwise (the caller answers the same either way).
pub fn request_reset(state: &AppState, uid: &str, now: i64) -> Result<(), ChangeError> {
    let Some(uid) = accounts::normalize_uid(uid) else { return Ok(()) };
    let Some(user) = state.store.get_user(&uid)?.filter(|u| u.verified) else { return Ok(()) };
    let token = random_token();
    let hours = state.config.verification_lifetime_hours;
    let expires = now.saturating_add(i64::from(hours) * 3600);
    state.store.put_verification(&reset_key(&token), &Verification { uid: user.uid.clone(), expires })?;
    let link = format!("{}/password/reset/confirm?token={token}", state.config.public_url);
    let body = format!(
        "Hello {uid},\n\n\
         someone (hopefully you) asked to reset your password at {idp}. To choose a new one, open:\n\n\
         {link}\n\n\
         The link is valid for {hours} hours and can be used once.\n\
         If you did not ask for it, ignore this message: your password stays as it is.\n",
        uid = user.uid,
        idp = state.config.display_name,
    );
    let msg = Message {
        from: state.config.mail_from(),
        to: user.email,
        subject: "Reset your password".into(),
        body,
    };
    Outbox::new(state.config.outbox_dir())
        .send(&msg, now)
        .map_err(|e| ChangeError::Internal(format!("mail: {e}")))?;
    tracing::info!(user = %service_kit::redact::log_id(&uid), "password reset link sent");
    Ok(())
}

/// Sets a new password with a reset link's `token` (used up here); returns the uid, whose
/// sessions the caller ends.
pub async fn reset(state: &AppState, token: &str, new: Password, now: i64) -> Result<String, ChangeError> {
    if !new.length_ok() {
        return Err(ChangeError::InvalidPassword);
    }
    if !token_shape_ok(token) {
        return Err(ChangeError::InvalidToken);
    }
    let v = state.store.take_verification(&reset_key(token))?.ok_or(ChangeError::InvalidToken)?;
    if v.expires <= now {
        return Err(ChangeError::InvalidToken);
    }
    let hash = new_hash(state, new).await?;
    state
        .store
        .update_user(&v.uid, &mut |u| u.password_hash = hash.clone())?
        .ok_or(ChangeError::InvalidToken)?;
    tracing::info!(user = %service_kit::redact::log_id(&v.uid), "password reset");
    Ok(v.uid)
}
