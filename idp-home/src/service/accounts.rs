//! Accounts: registration with e-mail verification, purging of registrations never
//! verified, and sign-in (throttled, timing-equal for unknown uids). The HTTP-free logic behind
//! the JSON API and the SAML sign-in form (STYLE.md §7.2). Time is always passed in (`now`,
//! from the state's clock).
//!
//! Password hashing takes tens of milliseconds of CPU and 19 MiB ([`crate::service::passwords`]);
//! [`register`] and [`authenticate_async`] run it in the state's bounded
//! [`HashPool`](crate::service::hashing::HashPool).

use std::net::IpAddr;
use std::path::PathBuf;

use crate::config::is_identifier;
use crate::mail::{MailError, Message, Outbox};
use crate::model::User;
use crate::service::api_tokens::{random_token, token_shape_ok};
use crate::service::hashing::HashFailure;
use crate::service::passwords::{
    dummy_hash, hash_password_in, verify_password_in, Password, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
use crate::state::AppState;
use crate::store::{token_hash, StoreError, Verification};
use crate::throttle::{addr_ceiling, addr_key, pair_key, uid_ceiling, uid_key, ThrottleParams};

/// Longest user id, bytes.
pub const MAX_UID_LEN: usize = 64;
/// Longest e-mail address, bytes (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The uid is not `[a-z0-9_.-]{1,64}` (after lower-casing).
    #[error("uid must be 1-64 characters of a-z, 0-9, '_', '.', '-'")]
    InvalidUid,
    /// The e-mail address is malformed.
    #[error("invalid e-mail address: {0}")]
    InvalidEmail(&'static str),
    /// The password is too short or too long.
    #[error("password must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")]
    InvalidPassword,
    /// The uid is taken (registration does reveal this; see docs/home-idp.md).
    #[error("uid is already taken")]
    UidTaken,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The verification e-mail could not be written (the registration was rolled back).
    #[error(transparent)]
    Mail(#[from] MailError),
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// Every hashing slot stayed busy for the queue timeout (503 with `Retry-After`).
    #[error("too many registrations at once; try again in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
}

/// Why an e-mail verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Unknown, already used or malformed token.
    #[error("the verification link is invalid or was already used")]
    InvalidToken,
    /// The token expired.
    #[error("the verification link has expired; register again")]
    Expired,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a sign-in failed, for logs and tests. Clients only ever see the generic
/// [`AuthError::Failed`] message, whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// No such uid (or not a valid uid).
    UnknownUser,
    /// Wrong password.
    WrongPassword,
    /// Correct password, but the e-mail address is not verified yet.
    Unverified,
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Too many failures for this uid or client address.
    #[error("too many failed sign-ins; try again in {retry_after} s")]
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Wrong credentials (the message never says which part).
    #[error("invalid user id or password")]
    Failed(FailReason),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Password hashing failed (e.g. a damaged hash in the store).
    #[error("password hashing: {0}")]
    Hash(String),
    /// Every hashing slot stayed busy for the queue timeout (503 with `Retry-After`).
    #[error("too many sign-ins at once; try again in {retry_after} s")]
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
}

// ---- validation ----

/// Lower-cases and checks a uid (`[a-z0-9_.-]{1,64}`, not `.` or `..`).
pub fn normalize_uid(uid: &str) -> Option<String> {
    let uid = uid.trim().to_ascii_lowercase();
    (is_identifier(&uid, MAX_UID_LEN) && uid != "." && uid != "..").then_some(uid)
}

/// Basic e-mail address check: one `@`, non-empty local part (≤ 64) and domain with a dot,
/// printable ASCII without spaces, quotes or angle brackets, ≤ 254 bytes.
pub fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err("must be 1-254 characters");
    }
    if !email.bytes().all(|b| b.is_ascii_graphic() && !b"<>()[]\\,;:\"".contains(&b)) {
        return Err("contains a character that is not allowed");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("missing '@'");
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err("malformed local part");
    }
    let labels_ok = domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if !domain.contains('.') || !labels_ok {
        return Err("malformed domain");
    }
    Ok(())
}

// ---- registration ----

/// A successful registration.
#[derive(Debug)]
pub struct Registered {
    /// The new (unverified) user.
    pub user: User,
    /// The `.eml` file holding the verification link.
    pub mail: PathBuf,
}

/// Registers an unverified user and writes the verification e-mail to the outbox. The input
/// is checked first; the password is hashed in the state's bounded
/// [`HashPool`](crate::service::hashing::HashPool) ([`RegisterError::Busy`] when no slot
/// frees up in time); the store and outbox work then runs on a blocking thread.
pub async fn register(
    state: &AppState,
    uid: &str,
    email: &str,
    password: Password,
) -> Result<Registered, RegisterError> {
    let uid = normalize_uid(uid).ok_or(RegisterError::InvalidUid)?;
    let email = email.trim().to_owned();
    check_email(&email).map_err(RegisterError::InvalidEmail)?;
    if !password.length_ok() {
        return Err(RegisterError::InvalidPassword);
    }
    let hash = match state.hashes.run(move |blocks| hash_password_in(blocks, &password)).await {
        Ok(hash) => hash.map_err(RegisterError::Hash)?,
        Err(HashFailure::Busy { retry_after }) => return Err(RegisterError::Busy { retry_after }),
        Err(HashFailure::Worker(cause)) => return Err(RegisterError::Hash(cause)),
    };
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let now = state.clock.now();
        register_hashed(&state, &uid, &email, hash, now)
    })
    .await
    .map_err(|e| RegisterError::Hash(format!("registration task failed: {e}")))?
}

/// The store half of [`register`]: `uid` normalized, `email` checked, the password hashed.
fn register_hashed(
    state: &AppState,
    uid: &str,
    email: &str,
    password_hash: String,
    now: i64,
) -> Result<Registered, RegisterError> {
    let uid = uid.to_owned();
    if let Some(existing) = state.store.get_user(&uid)? {
        // A registration never verified within its window frees the uid (squatting with
        // someone else's address must not hold it for ever).
        let window = verification_window(state);
        if !registration_expired(&existing, window, now)
            || !state.store.delete_user_if(&uid, &|u| registration_expired(u, window, now))?
        {
            return Err(RegisterError::UidTaken);
        }
        tracing::info!(user = %service_kit::redact::log_id(&uid), "purged an expired unverified registration");
    }
    let user = User {
        uid: uid.clone(),
        email: email.to_owned(),
        password_hash,
        verified: false,
        groups: state.config.default_groups.clone(),
        created: now,
        security: Default::default(),
        grants: Vec::new(),
    };
    match state.store.insert_user(&user) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => return Err(RegisterError::UidTaken),
        Err(e) => return Err(e.into()),
    }
    let sent = send_verification(state, &user, now);
    match sent {
        Ok(mail) => {
            tracing::info!(user = %service_kit::redact::log_id(&user.uid), "registered a user; verification mail in the outbox");
            Ok(Registered { user, mail })
        }
        Err(e) => {
            // Roll back, so the uid can be registered again.
            if let Err(rollback) = state.store.delete_user(&user.uid) {
                tracing::error!(user = %service_kit::redact::log_id(&user.uid), error = %rollback, "rolling back a registration failed");
            }
            Err(e)
        }
    }
}

fn send_verification(state: &AppState, user: &User, now: i64) -> Result<PathBuf, RegisterError> {
    let token = random_token();
    let hours = state.config.verification_lifetime_hours;
    let expires = now.saturating_add(i64::from(hours) * 3600);
    state.store.put_verification(&token_hash(&token), &Verification { uid: user.uid.clone(), expires })?;
    let link = format!("{}/api/users/verify?token={token}", state.config.public_url);
    let body = format!(
        "Hello {uid},\n\n\
         please confirm your e-mail address for the idaas home IdP {idp} by opening this link:\n\n\
         {link}\n\n\
         The link is valid for {hours} hours and can be used once.\n\
         If you did not register, ignore this message.\n",
        uid = user.uid,
        idp = state.config.entity_id(),
    );
    let msg = Message {
        from: state.config.mail_from(),
        to: user.email.clone(),
        subject: "Confirm your e-mail address".into(),
        body,
    };
    Ok(Outbox::new(state.config.outbox_dir()).send(&msg, now)?)
}

/// The verification window, seconds.
fn verification_window(state: &AppState) -> i64 {
    i64::from(state.config.verification_lifetime_hours) * 3600
}

/// Whether `u` is an unverified registration whose verification window has ended.
fn registration_expired(u: &User, window: i64, now: i64) -> bool {
    !u.verified && u.created.saturating_add(window) <= now
}

/// Deletes every unverified registration whose verification window has ended (the uid becomes
/// free again); returns how many. Run at start-up and periodically by [`crate::serve`], and
/// lazily by [`register`] for the uid being registered.
pub fn purge_unverified(state: &AppState, now: i64) -> Result<usize, StoreError> {
    let window = verification_window(state);
    let mut purged = 0;
    for u in state.store.list_users()? {
        if registration_expired(&u, window, now)
            && state.store.delete_user_if(&u.uid, &|u| registration_expired(u, window, now))?
        {
            purged += 1;
        }
    }
    if purged > 0 {
        tracing::info!(count = purged, "purged unverified registrations whose verification window ended");
    }
    Ok(purged)
}

/// Marks the user of a verification token as verified (single use).
pub fn verify_email(state: &AppState, token: &str, now: i64) -> Result<User, VerifyError> {
    if !token_shape_ok(token) {
        return Err(VerifyError::InvalidToken);
    }
    let v = state.store.take_verification(&token_hash(token))?.ok_or(VerifyError::InvalidToken)?;
    if v.expires <= now {
        return Err(VerifyError::Expired);
    }
    // The token must belong to this registration of the uid: one made after the token expired
    // (the old one was purged, someone registered the uid again) is not its.
    let user = state.store.get_user(&v.uid)?.ok_or(VerifyError::InvalidToken)?;
    if user.created >= v.expires {
        return Err(VerifyError::InvalidToken);
    }
    let user =
        state.store.update_user(&v.uid, &mut |u| u.verified = true)?.ok_or(VerifyError::InvalidToken)?;
    tracing::info!(user = %service_kit::redact::log_id(&user.uid), "e-mail address verified");
    Ok(user)
}

// ---- sign-in ----

/// Checks a uid and password, throttled per uid and per client address. The error never
/// reveals whether the uid exists: unknown uids cost the same argon2 verification, count
/// against the same throttle, and yield the same [`AuthError::Failed`] message. Unverified
/// users cannot authenticate.
///
/// Order (issue 15): the attempt is reserved in the throttle (checked and counted) first, so
/// a throttled client never waits for or takes a hashing slot; then the hash runs in the
/// state's bounded [`HashPool`](crate::service::hashing::HashPool). When no slot frees up in
/// time the answer is [`AuthError::Busy`] and the reservation is given back: no password was
/// checked, so nothing was guessed.
pub async fn authenticate_async(
    state: &AppState,
    uid: String,
    password: Password,
    client: Option<IpAddr>,
) -> Result<User, AuthError> {
    let now = state.clock.now();
    let normalized = normalize_uid(&uid);
    let ukey = match &normalized {
        Some(u) => uid_key(u),
        None => uid_key(&uid.chars().take(MAX_UID_LEN).collect::<String>()),
    };
    let akey = addr_key(client);
    let pkey = pair_key(ukey.trim_start_matches("uid:"), &akey);
    let default = ThrottleParams::default();
    let keys = [(pkey.as_str(), default), (ukey.as_str(), uid_ceiling()), (akey.as_str(), addr_ceiling())];
    // Reserve (check and count) before hashing: parallel guesses cannot all pass the check.
    let reservation = state.throttle.reserve(&keys, now).map_err(|retry_after| {
        state.metrics.sign_in("throttled");
        state.metrics.throttled("sign_in");
        AuthError::Throttled { retry_after }
    })?;

    let user = match &normalized {
        Some(u) => state.store.get_user(u)?,
        None => None,
    };
    let outcome = if !password.length_ok() {
        Err(if user.is_some() { FailReason::WrongPassword } else { FailReason::UnknownUser })
    } else {
        // Unknown uids are checked against the dummy hash: the same cost, the same slot.
        let stored = match &user {
            Some(u) => Some(u.password_hash.clone()),
            None => dummy_hash().map(str::to_owned),
        };
        let matched = match stored {
            None => false,
            Some(hash) => {
                match state.hashes.run(move |blocks| verify_password_in(blocks, &hash, &password)).await {
                    Ok(result) => result.map_err(AuthError::Hash)?,
                    Err(HashFailure::Busy { retry_after }) => {
                        reservation.succeeded(&[]);
                        state.metrics.sign_in("busy");
                        state.metrics.throttled("hashing_queue");
                        tracing::info!(client = %akey, "sign-in refused: every hashing slot is busy");
                        return Err(AuthError::Busy { retry_after });
                    }
                    Err(HashFailure::Worker(cause)) => return Err(AuthError::Hash(cause)),
                }
            }
        };
        match &user {
            Some(u) if matched && u.verified => Ok(()),
            Some(_) if matched => Err(FailReason::Unverified),
            Some(_) => Err(FailReason::WrongPassword),
            None => Err(FailReason::UnknownUser),
        }
    };
    if let (Ok(()), Some(user)) = (outcome, user) {
        reservation.succeeded(&[&ukey, &pkey]);
        state.metrics.sign_in("success");
        tracing::info!(user = %service_kit::redact::log_id(&user.uid), "sign-in succeeded");
        return Ok(user);
    }
    let reason = outcome.err().unwrap_or(FailReason::UnknownUser);
    reservation.failed();
    state.metrics.sign_in("failure");
    tracing::info!(reason = ?reason, client = %akey, "sign-in failed");
    Err(AuthError::Failed(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_lowercased_and_checked() {
        assert_eq!(normalize_uid("Bob.Smith").as_deref(), Some("bob.smith"));
        for bad in ["", ".", "..", "a/b", "<x>", "bob smith", &"a".repeat(65), "bøb"] {
            assert!(normalize_uid(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(check_email("bob@example.org").is_ok());
        for bad in
            ["", "bob", "@example.org", "bob@", "bob@localhost", "a@b@c.d", "bob@exa mple.org", "<b@c.d>"]
        {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email(&format!("{}@example.org", "a".repeat(250))).is_err());
    }
}
