//! The TOTP second factor (issue 20), without HTTP: enrolment (a secret, confirmed with a
//! code, then recovery codes shown once and stored hashed), checking a code at sign-in
//! (throttled, each time step accepted once), removal, and the policy deciding when a sign-in
//! needs it.
//!
//! Codes are RFC 6238 (HMAC-SHA-1, 6 digits, 30-second steps, `totp-rs`), accepted one step
//! either side of now for clock drift. The step of the last accepted code is kept in the user
//! record and written with a compare-and-swap ([`crate::store::Store::update_user`]): the same
//! code, or an older one, is refused even when two requests race. Wrong codes count in the
//! sign-in throttle under their own keys (`mfa:uid`, `mfa:uid|address`), with the default
//! parameters: after 3 failures each attempt waits, after 10 the account's second step is
//! locked for 15 minutes. Six digits and ten guesses per quarter hour give an attacker who
//! knows the password about one chance in 10^5 per lock period.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::model::{MfaPolicy, TotpFactor, User};
use crate::state::AppState;
use crate::store::StoreError;
use crate::throttle::{addr_key, ThrottleParams};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const STEP: u64 = 30;
/// Bytes of a TOTP secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// How long the second sign-in step waits for the code, seconds.
pub const PENDING_LIFETIME: i64 = 300;

/// Why a second-factor operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// Too many wrong codes.
    #[error("too many wrong codes; try again in {retry_after} s")]
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The code is wrong, too old, or was used already.
    #[error("the code is wrong or was used already")]
    WrongCode,
    /// The user has no confirmed factor (or no enrolment under way, for a confirmation).
    #[error("no authenticator is set up")]
    NotEnrolled,
    /// A confirmed factor exists: remove it before enrolling another.
    #[error("an authenticator is set up already")]
    AlreadyEnrolled,
    /// No such user.
    #[error("no such user")]
    NoUser,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sign-in needs, after the password, for one SP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing more.
    Nothing,
    /// A code from the user's authenticator.
    SecondFactor,
    /// A second factor the user does not have (or may not use: policy `off`): the SP is
    /// answered `NoAuthnContext`.
    Unavailable,
    /// The user's policy is `required` and no factor is set up: they must enrol first.
    MustEnrol,
}

/// Whether `user` has a confirmed factor that sign-ins use (policy not `off`).
pub fn uses_second_factor(user: &User) -> bool {
    user.security.mfa != MfaPolicy::Off && has_confirmed_factor(user)
}

/// Whether `user` has a confirmed factor, whatever the policy: a code for it proves the
/// person holds it (removing a factor under policy `off` asks for one too).
pub fn has_confirmed_factor(user: &User) -> bool {
    user.security.totp.as_ref().is_some_and(|t| t.confirmed) || !user.security.passkeys.is_empty()
}

/// What a signed-in session without a second factor still needs for an SP that requires
/// one (`sp_requires`, or a request only an MFA class satisfies: `requested_mfa_only`), or
/// under policy `required`. A password-only session of a user with a factor (a sign-in from
/// a known device, issue 20 item 2) needs nothing more where nothing asks for more.
pub fn needed(user: &User, sp_requires: bool, requested_mfa_only: bool) -> Need {
    let asked = sp_requires || requested_mfa_only || user.security.mfa == MfaPolicy::Required;
    if !asked {
        Need::Nothing
    } else if uses_second_factor(user) {
        Need::SecondFactor
    } else if sp_requires || requested_mfa_only {
        Need::Unavailable
    } else if user.security.mfa == MfaPolicy::Required {
        Need::MustEnrol
    } else {
        Need::Nothing
    }
}

fn totp(secret: &[u8]) -> Option<TOTP> {
    TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP, secret.to_vec()).ok()
}

fn secret_bytes(f: &TotpFactor) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(f.secret.as_bytes()).ok()
}

/// The time step of `code` within one step of `now`, if it matches one (constant-time
/// comparisons).
fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<u64> {
    let totp = totp(secret)?;
    let current = u64::try_from(now).ok()? / STEP;
    let code = code.as_bytes();
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| bool::from(totp.generate(step * STEP).as_bytes().ct_eq(code)))
}

/// The code of the raw `secret` at `now`, as an authenticator app computes it (tests use it).
pub fn code_at(secret: &[u8], now: i64) -> Option<String> {
    Some(totp(secret)?.generate(u64::try_from(now).ok()?))
}

/// A code as typed: spaces and dashes dropped.
fn normalize(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').take(32).collect()
}

fn hash_recovery(code: &str) -> String {
    hex::encode(Sha256::digest(normalize(code).to_ascii_lowercase().as_bytes()))
}

/// Starts (or restarts) an enrolment: a fresh secret, unconfirmed. Returns the secret.
pub fn start(state: &AppState, uid: &str, now: i64) -> Result<Vec<u8>, MfaError> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let text = URL_SAFE_NO_PAD.encode(&secret);
    let mut enrolled = false;
    let user = state.store.update_user(uid, &mut |u| {
        enrolled = u.security.totp.as_ref().is_some_and(|t| t.confirmed);
        if !enrolled {
            u.security.totp = Some(TotpFactor {
                secret: text.clone(),
                confirmed: false,
                created: now,
                last_step: 0,
                recovery: Vec::new(),
            });
        }
    })?;
    match (user, enrolled) {
        (None, _) => Err(MfaError::NoUser),
        (Some(_), true) => Err(MfaError::AlreadyEnrolled),
        (Some(_), false) => Ok(secret),
    }
}

/// The secret of the enrolment under way, if any.
pub fn pending_secret(user: &User) -> Option<Vec<u8>> {
    user.security.totp.as_ref().filter(|t| !t.confirmed).and_then(secret_bytes)
}

fn throttle_keys(uid: &str, client: Option<IpAddr>) -> [String; 2] {
    [format!("mfa:{uid}"), format!("mfa:{uid}|{}", addr_key(client))]
}

/// Runs `check` inside the throttle: a reservation first, then success clears the user's
/// keys and a failure counts.
fn throttled<T>(
    state: &AppState,
    uid: &str,
    client: Option<IpAddr>,
    now: i64,
    check: impl FnOnce() -> Result<T, MfaError>,
) -> Result<T, MfaError> {
    let keys = throttle_keys(uid, client);
    let p = ThrottleParams::default();
    let reservation = state.throttle.reserve(&[(keys[0].as_str(), p), (keys[1].as_str(), p)], now).map_err(
        |retry_after| {
            state.metrics.throttled("second_factor");
            MfaError::Throttled { retry_after }
        },
    )?;
    match check() {
        Ok(v) => {
            reservation.succeeded(&[keys[0].as_str(), keys[1].as_str()]);
            Ok(v)
        }
        Err(e) => {
            if matches!(e, MfaError::WrongCode) {
                reservation.failed();
            } else {
                reservation.succeeded(&[]);
            }
            Err(e)
        }
    }
}

/// Confirms the enrolment under way with a code from the authenticator; returns the
/// recovery codes (shown once: only their hashes are kept).
pub fn confirm(
    state: &AppState,
    uid: &str,
    code: &str,
    client: Option<IpAddr>,
    now: i64,
) -> Result<Vec<String>, MfaError> {
    throttled(state, uid, client, now, || {
        let user = state.store.get_user(uid)?.ok_or(MfaError::NoUser)?;
        let factor = user.security.totp.clone().filter(|t| !t.confirmed).ok_or(MfaError::NotEnrolled)?;
        let secret = secret_bytes(&factor).ok_or(MfaError::NotEnrolled)?;
        let step = matching_step(&secret, &normalize(code), now).ok_or(MfaError::WrongCode)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| hash_recovery(c)).collect();
        let mut done = false;
        state.store.update_user(uid, &mut |u| {
            // Only the enrolment whose secret was checked (not one restarted meanwhile).
            done = false;
            if let Some(t) = u.security.totp.as_mut().filter(|t| !t.confirmed && t.secret == factor.secret) {
                t.confirmed = true;
                t.last_step = step;
                t.recovery = hashes.clone();
                done = true;
            }
        })?;
        if done {
            tracing::info!(user = %service_kit::redact::log_id(uid), "authenticator set up");
            Ok(codes)
        } else {
            Err(MfaError::NotEnrolled)
        }
    })
}

/// A recovery code: 10 characters of a 32-letter alphabet without look-alikes (no i, l, o,
/// 1): 50 bits, in two groups of 5.
fn recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";
    let mut bytes = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// Checks a sign-in's second factor: a current code (each time step once) or an unused
/// recovery code (then used up). Throttled per user and per (user, address).
pub fn verify(
    state: &AppState,
    uid: &str,
    code: &str,
    client: Option<IpAddr>,
    now: i64,
) -> Result<(), MfaError> {
    throttled(state, uid, client, now, || {
        let user = state.store.get_user(uid)?.ok_or(MfaError::NoUser)?;
        // Whether a sign-in needs the code is decided before (the gate and `needed`); here
        // only whether there is a factor to check it against.
        if !has_confirmed_factor(&user) {
            return Err(MfaError::NotEnrolled);
        }
        let factor = user.security.totp.clone().ok_or(MfaError::NotEnrolled)?;
        let typed = normalize(code);
        let mut accepted = false;
        if typed.len() == DIGITS && typed.bytes().all(|b| b.is_ascii_digit()) {
            let secret = secret_bytes(&factor).ok_or(MfaError::NotEnrolled)?;
            let Some(step) = matching_step(&secret, &typed, now) else {
                return Err(MfaError::WrongCode);
            };
            state.store.update_user(uid, &mut |u| {
                accepted = false;
                if let Some(t) = u.security.totp.as_mut().filter(|t| t.secret == factor.secret) {
                    if step > t.last_step {
                        t.last_step = step;
                        accepted = true;
                    }
                }
            })?;
        } else {
            let hash = hash_recovery(&typed);
            state.store.update_user(uid, &mut |u| {
                accepted = false;
                if let Some(t) = u.security.totp.as_mut() {
                    let before = t.recovery.len();
                    t.recovery.retain(|h| !bool::from(h.as_bytes().ct_eq(hash.as_bytes())));
                    accepted = t.recovery.len() < before;
                }
            })?;
            if accepted {
                tracing::info!(user = %service_kit::redact::log_id(uid), "recovery code used");
            }
        }
        if accepted {
            Ok(())
        } else {
            Err(MfaError::WrongCode)
        }
    })
}

/// Removes the user's factor (enrolled or under way); `false` if there was none.
pub fn remove(state: &AppState, uid: &str) -> Result<bool, MfaError> {
    let mut had = false;
    state.store.update_user(uid, &mut |u| {
        had = u.security.totp.take().is_some();
    })?;
    Ok(had)
}

/// RFC 4648 base32 without padding (what authenticator apps take as the secret).
pub fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(A[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(A[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from the QR code (Key URI format).
pub fn otpauth_uri(issuer: &str, uid: &str, secret: &[u8]) -> String {
    let enc =
        |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(issuer),
        enc(uid),
        base32(secret),
        enc(issuer)
    )
}

/// `uri` as an inline SVG QR code.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector_and_window() {
        // RFC 6238 appendix B, SHA-1: T = 59 s gives 94287082 (8 digits); 6 digits: 287082.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59).as_deref(), Some("287082"));
        assert_eq!(matching_step(secret, "287082", 59), Some(1));
        assert_eq!(matching_step(secret, "287082", 59 + 30), Some(1), "one step late is accepted");
        assert_eq!(matching_step(secret, "287082", 59 + 90), None, "three steps late is not");
        assert_eq!(matching_step(secret, "000000", 59), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        let uri = otpauth_uri("idaas home", "bob", b"12345678901234567890");
        assert!(
            uri.starts_with("otpauth://totp/idaas%20home:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"),
            "{uri}"
        );
        assert!(qr_svg(&uri).is_some_and(|s| s.contains("<svg")));
    }

    #[test]
    fn recovery_codes_are_normalized_before_hashing() {
        let c = recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(hash_recovery(&c), hash_recovery(&c.to_uppercase().replace('-', " ")));
    }
}
