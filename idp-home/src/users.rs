//! Users, sign-in, API tokens, the PII vault and groups: the HTTP-free logic behind the JSON
//! API and the SAML sign-in form (STYLE.md §7.2). Time is always passed in (`now`, from the
//! state's clock).
//!
//! Password hashing (argon2id, m = 19456 KiB, t = 2, p = 1: the OWASP recommendation) takes
//! tens of milliseconds of CPU; async callers should go through [`authenticate_async`] or run
//! [`register`]/[`authenticate`] on `tokio::task::spawn_blocking`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use federation::secret::Secret;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::config::is_identifier;
use crate::mail::{MailError, Message, Outbox};
use crate::model::{PiiRecord, User};
use crate::state::AppState;
use crate::store::{token_hash, ApiToken, StoreError, Verification};
use crate::throttle::{addr_key, pair_key, uid_ceiling, uid_key, ThrottleParams};

/// Longest user id, bytes.
pub const MAX_UID_LEN: usize = 64;
/// Longest e-mail address, bytes (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Shortest password, characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password, characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest PII attribute name, bytes.
pub const MAX_ATTRIBUTE_LEN: usize = 64;
/// Most PII ciphertexts per user (each one travels in every SAML assertion).
pub const MAX_PII_PER_USER: usize = 64;
/// Longest group name, bytes.
pub const MAX_GROUP_LEN: usize = 64;
/// Most groups per user.
pub const MAX_GROUPS: usize = 64;

/// A password: zeroed on drop, redacted in `Debug`; unlike the [`Secret`] it wraps, neither
/// cloned nor serialized.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Password(Secret);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(Secret::new(s))
    }

    /// The password (never log it).
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

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
}

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

// ---- validation ----

/// Lower-cases and checks a uid (`[a-z0-9_.-]{1,64}`, not `.` or `..`).
pub fn normalize_uid(uid: &str) -> Option<String> {
    let uid = uid.trim().to_ascii_lowercase();
    (is_identifier(&uid, MAX_UID_LEN) && uid != "." && uid != "..").then_some(uid)
}

/// Checks a PII attribute name (`[a-z0-9_.-]{1,64}`, not `.` or `..`; no lower-casing).
pub fn valid_attribute(name: &str) -> bool {
    is_identifier(name, MAX_ATTRIBUTE_LEN) && name != "." && name != ".."
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

fn password_ok(p: &Password) -> bool {
    let n = p.expose().chars().count();
    (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n)
}

// ---- password hashing ----

fn argon2() -> Result<Argon2<'static>, String> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password (argon2id PHC string).
pub fn hash_password(password: &Password) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string; `Err` only if the hash itself is unusable.
pub fn verify_password(hash: &str, password: &Password) -> Result<bool, String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    match argon2()?.verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

static DUMMY_HASH: OnceLock<Option<String>> = OnceLock::new();

/// A hash of a random password, verified against for unknown uids so that their sign-in takes
/// as long as a known uid's.
fn dummy_hash() -> Option<&'static str> {
    DUMMY_HASH
        .get_or_init(|| {
            let mut random = [0u8; 24];
            OsRng.fill_bytes(&mut random);
            hash_password(&Password::new(URL_SAFE_NO_PAD.encode(random))).ok()
        })
        .as_deref()
}

/// Computes the dummy hash now (called by `AppState::new`), so the first sign-in with an
/// unknown uid is not slower than the others.
pub fn warm_up() {
    let _ = dummy_hash();
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token we issued: 43 characters of unpadded base64url.
fn token_shape_ok(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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

/// Registers an unverified user and writes the verification e-mail to the outbox.
/// Blocking (argon2): call from `spawn_blocking` in async code.
pub fn register(
    state: &AppState,
    uid: &str,
    email: &str,
    password: &Password,
    now: i64,
) -> Result<Registered, RegisterError> {
    let uid = normalize_uid(uid).ok_or(RegisterError::InvalidUid)?;
    let email = email.trim();
    check_email(email).map_err(RegisterError::InvalidEmail)?;
    if !password_ok(password) {
        return Err(RegisterError::InvalidPassword);
    }
    if let Some(existing) = state.store.get_user(&uid)? {
        // A registration never verified within its window frees the uid (squatting with
        // someone else's address must not hold it for ever).
        let window = verification_window(state);
        if !registration_expired(&existing, window, now)
            || !state.store.delete_user_if(&uid, &|u| registration_expired(u, window, now))?
        {
            return Err(RegisterError::UidTaken);
        }
        tracing::info!(user = %federation::redact::log_id(&uid), "purged an expired unverified registration");
    }
    let password_hash = hash_password(password).map_err(RegisterError::Hash)?;
    let user = User {
        uid: uid.clone(),
        email: email.to_owned(),
        password_hash,
        verified: false,
        groups: Vec::new(),
        created: now,
    };
    match state.store.insert_user(&user) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => return Err(RegisterError::UidTaken),
        Err(e) => return Err(e.into()),
    }
    let sent = send_verification(state, &user, now);
    match sent {
        Ok(mail) => {
            tracing::info!(user = %federation::redact::log_id(&user.uid), "registered a user; verification mail in the outbox");
            Ok(Registered { user, mail })
        }
        Err(e) => {
            // Roll back, so the uid can be registered again.
            if let Err(rollback) = state.store.delete_user(&user.uid) {
                tracing::error!(user = %federation::redact::log_id(&user.uid), error = %rollback, "rolling back a registration failed");
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
    tracing::info!(user = %federation::redact::log_id(&user.uid), "e-mail address verified");
    Ok(user)
}

// ---- sign-in ----

/// Checks a uid and password, throttled per uid and per client address. The error never
/// reveals whether the uid exists: unknown uids cost the same argon2 verification, count
/// against the same throttle, and yield the same [`AuthError::Failed`] message. Unverified
/// users cannot authenticate. Blocking (argon2); see [`authenticate_async`].
pub fn authenticate(
    state: &AppState,
    uid: &str,
    password: &Password,
    client: Option<IpAddr>,
    now: i64,
) -> Result<User, AuthError> {
    let normalized = normalize_uid(uid);
    let ukey = match &normalized {
        Some(u) => uid_key(u),
        None => uid_key(&uid.chars().take(MAX_UID_LEN).collect::<String>()),
    };
    let akey = addr_key(client);
    let pkey = pair_key(ukey.trim_start_matches("uid:"), &akey);
    let default = ThrottleParams::default();
    let keys = [(pkey.as_str(), default), (ukey.as_str(), uid_ceiling()), (akey.as_str(), default)];
    // Reserve (check and count) before hashing: parallel guesses cannot all pass the check.
    let reservation =
        state.throttle.reserve(&keys, now).map_err(|retry_after| AuthError::Throttled { retry_after })?;

    let user = match &normalized {
        Some(u) => state.store.get_user(u)?,
        None => None,
    };
    let outcome = if !password_ok(password) {
        Err(if user.is_some() { FailReason::WrongPassword } else { FailReason::UnknownUser })
    } else {
        match &user {
            Some(u) => match verify_password(&u.password_hash, password).map_err(AuthError::Hash)? {
                true if u.verified => Ok(()),
                true => Err(FailReason::Unverified),
                false => Err(FailReason::WrongPassword),
            },
            None => {
                if let Some(h) = dummy_hash() {
                    let _ = verify_password(h, password);
                }
                Err(FailReason::UnknownUser)
            }
        }
    };
    if let (Ok(()), Some(user)) = (outcome, user) {
        reservation.succeeded(&[&ukey, &pkey]);
        tracing::info!(user = %federation::redact::log_id(&user.uid), "sign-in succeeded");
        return Ok(user);
    }
    let reason = outcome.err().unwrap_or(FailReason::UnknownUser);
    reservation.failed();
    tracing::info!(reason = ?reason, client = %akey, "sign-in failed");
    Err(AuthError::Failed(reason))
}

/// [`authenticate`] on a blocking thread, with `now` from the state's clock.
pub async fn authenticate_async(
    state: &AppState,
    uid: String,
    password: Password,
    client: Option<IpAddr>,
) -> Result<User, AuthError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let now = state.clock.now();
        authenticate(&state, &uid, &password, client, now)
    })
    .await
    .map_err(|e| AuthError::Hash(format!("sign-in task failed: {e}")))?
}

// ---- API tokens ----

/// A freshly issued data-owner API token.
#[derive(Serialize)]
pub struct IssuedToken {
    /// The bearer token (secret).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// Issues an API bearer token for `uid` (stored as its SHA-256), purging expired tokens.
pub fn issue_api_token(state: &AppState, uid: &str, now: i64) -> Result<IssuedToken, StoreError> {
    if let Err(e) = state.store.purge_expired(now) {
        tracing::warn!(error = %e, "purging expired tokens failed");
    }
    let token = random_token();
    let lifetime = u64::from(state.config.api_token_lifetime_minutes) * 60;
    let expires = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    state.store.put_api_token(&token_hash(&token), &ApiToken { uid: uid.to_owned(), expires })?;
    Ok(IssuedToken { access_token: token, token_type: "Bearer", expires_in: lifetime })
}

/// The verified user a bearer token belongs to, if the token is known and not expired.
pub fn user_for_api_token(state: &AppState, token: &str, now: i64) -> Result<Option<User>, StoreError> {
    if !token_shape_ok(token) {
        return Ok(None);
    }
    let Some(t) = state.store.get_api_token(&token_hash(token))? else {
        return Ok(None);
    };
    if t.expires <= now {
        return Ok(None);
    }
    Ok(state.store.get_user(&t.uid)?.filter(|u| u.verified))
}

// ---- PII vault ----

/// What the vault lists about one PII ciphertext (never the ciphertext itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PiiSummary {
    /// Attribute name.
    pub attribute: String,
    /// Canonical policy text.
    pub policy: String,
    /// Authorities the policy names.
    pub authorities: Vec<String>,
    /// Ciphertext size, bytes (binary form).
    pub size: usize,
    /// Last update, RFC 3339 (UTC).
    pub updated: String,
}

fn rfc3339(t: i64) -> String {
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
    tracing::info!(user = %federation::redact::log_id(uid), attribute, size = record.ciphertext.len(), created, "stored a PII ciphertext");
    Ok((PiiSummary::from(&record), created))
}

/// The form of an attribute name as an HTTP header sees it: `_` and `-` are one character.
fn fold_header_name(attribute: &str) -> String {
    attribute.replace('_', "-")
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
        tracing::info!(user = %federation::redact::log_id(uid), attribute, "deleted a PII ciphertext");
        Ok(())
    } else {
        Err(PiiError::NotFound(attribute.to_owned()))
    }
}

// ---- groups ----

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
    tracing::info!(user = %federation::redact::log_id(&user.uid), count = user.groups.len(), "groups updated");
    Ok(user.groups)
}

/// A user's groups.
pub fn get_groups(state: &AppState, uid: &str) -> Result<Vec<String>, GroupsError> {
    let uid = normalize_uid(uid).ok_or(GroupsError::NoSuchUser)?;
    Ok(state.store.get_user(&uid)?.ok_or(GroupsError::NoSuchUser)?.groups)
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
    fn attribute_names() {
        assert!(valid_attribute("lastname") && valid_attribute("addr.home-1"));
        for bad in ["", "..", "../x", "<x>", "LastName", &"a".repeat(65), "a b", "a\0"] {
            assert!(!valid_attribute(bad), "{bad:?}");
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

    #[test]
    fn password_hash_roundtrip_and_params() {
        let p = Password::new("correct horse battery");
        let h = hash_password(&p).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(&h, &p).unwrap());
        assert!(!verify_password(&h, &Password::new("wrong horse battery")).unwrap());
        assert!(verify_password("garbage", &p).is_err());
        assert_eq!(format!("{p:?}"), "Password([redacted])");
    }
}
