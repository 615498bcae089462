//! The device cookie (issue 20 item 2): `idaas_device` (`__Host-idaas_device` over https,
//! HttpOnly, SameSite=Lax, 400 days) carries a random device id, authenticated with
//! HMAC-SHA-256 under the IdP's cookie key like the `idaas_mfa` cookie. A missing, forged or
//! tampered cookie names no device. The sign-in handlers ask [`check`] before the second step
//! and call [`remember`] on the answer of a successful sign-in; the logic is
//! [`crate::service::devices`]'s.

use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::sso::{cookie, set_cookie};
use crate::model::User;
use crate::service::devices::{self, Seen};
use crate::state::AppState;

/// Cookie of the device id (`__Host-idaas_device` over https).
pub const DEVICE_COOKIE: &str = "idaas_device";
/// How long the browser keeps the device cookie, seconds (400 days, the most browsers allow).
pub const LIFETIME: i64 = 400 * 86_400;
const SEAL_LABEL: &str = "idaas device v1\0";
/// Longest `idaas_device` value read.
const MAX_COOKIE: usize = 256;

/// What the device cookie carries.
#[derive(Serialize, Deserialize)]
struct Claims {
    /// The device id.
    d: String,
}

fn cookie_name(state: &AppState) -> String {
    if state.config.public_url.starts_with("https://") {
        format!("__Host-{DEVICE_COOKIE}")
    } else {
        DEVICE_COOKIE.to_owned()
    }
}

/// The device id of this browser's cookie, if the cookie is there and its MAC is right.
pub(super) fn current(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let value = cookie(headers, &cookie_name(state), MAX_COOKIE)?;
    let claims: Claims = state.sso.open(SEAL_LABEL, &value)?;
    devices::is_id(&claims.d).then_some(claims.d)
}

/// The browser's `User-Agent`, summarised.
fn agent(headers: &HeaderMap) -> String {
    devices::summarize_agent(headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()))
}

/// Judges the password sign-in of `user` from this browser and address; an unusual one (new
/// device, disallowed network) is mailed to the person. A store failure counts as an
/// unknown device (the second factor is asked).
pub(super) fn check(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    client: Option<std::net::IpAddr>,
) -> Seen {
    let device = current(state, headers);
    let seen = devices::assess(state, &user.uid, device.clone(), client).unwrap_or_else(|e| {
        tracing::error!(error = %e, "known devices unavailable; treating the device as new");
        Seen { device, known: false, disallowed: devices::disallowed(state, client) }
    });
    if seen.unusual() {
        devices::notify(state, user, &seen, client, &agent(headers), state.clock.now());
    }
    seen
}

/// After a successful sign-in of `uid`: the device is remembered (a new id and cookie if the
/// browser has none). Failures are logged; the sign-in stands.
pub(super) fn remember(
    resp: &mut Response,
    state: &AppState,
    headers: &HeaderMap,
    uid: &str,
    client: Option<std::net::IpAddr>,
) {
    let (id, fresh) = match current(state, headers) {
        Some(id) => (id, false),
        None => (devices::new_id(), true),
    };
    if let Err(e) = devices::remember(state, uid, &id, client, &agent(headers), state.clock.now()) {
        tracing::error!(error = %e, "device not remembered");
        return;
    }
    if fresh {
        let Some(value) = state.sso.seal(SEAL_LABEL, &Claims { d: id }) else {
            return;
        };
        set_cookie(resp, state, &cookie_name(state), &value, "/", LIFETIME);
    }
}
