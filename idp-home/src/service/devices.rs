//! Known devices (issue 20 item 2), without HTTP: whether a sign-in comes from a device the
//! user signed in from before, or from a disallowed network; the "new sign-in" e-mail; and
//! remembering the device after a successful sign-in.
//!
//! A device is a browser holding the device cookie (a random id, MAC'd under the IdP's cookie
//! key: see `http::devices`). The user's list of devices is kept in the store
//! ([`crate::store::DeviceStore`]), at most [`MAX_PER_USER`] per user: remembering one more
//! evicts the least recently seen. One browser has one id whoever signs in with it; each
//! user's list says whether that user has signed in from it. Revoking a device removes it
//! from the list: its cookie then names an unknown device again.

use std::net::IpAddr;

use rand::RngCore;

use crate::mail::{Message, Outbox};
use crate::model::{KnownDevice, MfaPolicy, User};
use crate::state::AppState;
use crate::store::StoreError;

/// Most devices remembered per user (the least recently seen is evicted).
pub const MAX_PER_USER: usize = 20;
/// Longest `User-Agent` summary kept, characters.
pub const MAX_AGENT_CHARS: usize = 80;
/// Length of a device id (base64url of 16 random bytes).
pub const ID_LEN: usize = 22;

/// Where a sign-in comes from, as far as the second factor is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The device id of the browser's (valid) device cookie, if any.
    pub device: Option<String>,
    /// The device is in the user's list.
    pub known: bool,
    /// The client address is in a `disallowed_networks` entry.
    pub disallowed: bool,
}

impl Seen {
    /// A new device or a disallowed network: the second factor is asked (when enrolled) and
    /// the person is mailed.
    pub fn unusual(&self) -> bool {
        !self.known || self.disallowed
    }
}

/// A fresh device id (128 random bits).
pub fn new_id() -> String {
    use base64::Engine as _;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Whether `id` has the shape of a device id (anything else in a cookie is ignored).
pub fn is_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `client` is in one of the configured `disallowed_networks` (an IPv4-mapped IPv6
/// address counts as its IPv4 address).
pub fn disallowed(state: &AppState, client: Option<IpAddr>) -> bool {
    client.is_some_and(|ip| {
        let ip = ip.to_canonical();
        state.disallowed_networks.iter().any(|net| net.contains(&ip))
    })
}

/// A `User-Agent` reduced to printable ASCII and [`MAX_AGENT_CHARS`] characters.
pub fn summarize_agent(agent: Option<&str>) -> String {
    let s: String = agent
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_AGENT_CHARS)
        .collect();
    if s.trim().is_empty() {
        "unknown browser".to_owned()
    } else {
        s.trim().to_owned()
    }
}

/// Judges a sign-in of `uid` from the browser whose device cookie names `device` (already
/// checked) and from `client`.
pub fn assess(
    state: &AppState,
    uid: &str,
    device: Option<String>,
    client: Option<IpAddr>,
) -> Result<Seen, StoreError> {
    let known = match &device {
        Some(id) => state.store.list_devices(uid)?.iter().any(|d| d.id == *id),
        None => false,
    };
    Ok(Seen { device, known, disallowed: disallowed(state, client) })
}

/// Whether the password sign-in of `user` from where `seen` says asks for the second
/// factor: the user has one (policy not `off`), and the device is new, or the network is
/// disallowed, or the policy is `required` (then every sign-in asks).
pub fn asks_second_factor(user: &User, seen: &Seen) -> bool {
    crate::service::mfa::uses_second_factor(user)
        && (seen.unusual() || user.security.mfa == MfaPolicy::Required)
}

fn when(now: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok())
        .unwrap_or_else(|| now.to_string())
}

/// Queues the "new sign-in" e-mail to `user` (address, browser, time; nothing secret).
/// Failures are logged, not returned: the sign-in goes on.
pub fn notify(state: &AppState, user: &User, seen: &Seen, client: Option<IpAddr>, agent: &str, now: i64) {
    let address = client.map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_canonical().to_string());
    let why = match (seen.known, seen.disallowed) {
        (false, true) => "a browser we have not seen before, on a network your organisation flags",
        (false, false) => "a browser we have not seen before",
        (true, _) => "a network your organisation flags",
    };
    let body = format!(
        "Hello {uid},\n\n\
         someone signed in to your account at {idp} with your password, from {why}:\n\n\
         \x20 Address: {address}\n\
         \x20 Browser: {agent}\n\
         \x20 Time:    {time}\n\n\
         If this was you, there is nothing to do.\n\
         If it was not you, change your password now ({url}/account/password) and review the devices\n\
         on your account's security page ({url}/account/security).\n",
        uid = user.uid,
        idp = state.config.display_name,
        time = when(now),
        url = state.config.public_url,
    );
    let msg = Message {
        from: state.config.mail_from(),
        to: user.email.clone(),
        subject: format!("New sign-in to your account from {address}"),
        body,
    };
    match Outbox::new(state.config.outbox_dir()).send(&msg, now) {
        Ok(_) => tracing::info!(user = %service_kit::redact::log_id(&user.uid), "new sign-in mail queued"),
        Err(e) => tracing::error!(error = %e, "new sign-in mail not queued"),
    }
}

/// Remembers the device `id` for `uid` after a successful sign-in (first and last seen, the
/// browser, the address), evicting the least recently seen devices beyond [`MAX_PER_USER`].
pub fn remember(
    state: &AppState,
    uid: &str,
    id: &str,
    client: Option<IpAddr>,
    agent: &str,
    now: i64,
) -> Result<(), StoreError> {
    let mut devices = state.store.list_devices(uid)?;
    let first_seen = devices.iter().find(|d| d.id == id).map_or(now, |d| d.first_seen);
    devices.retain(|d| d.id != id);
    devices.sort_by_key(|d| (d.last_seen, d.first_seen));
    let excess = (devices.len() + 1).saturating_sub(MAX_PER_USER);
    for old in devices.iter().take(excess) {
        state.store.delete_device(uid, &old.id)?;
    }
    let device = KnownDevice {
        id: id.to_owned(),
        first_seen,
        last_seen: now,
        agent: agent.to_owned(),
        address: client.map(|ip| ip.to_canonical().to_string()).unwrap_or_default(),
    };
    state.store.put_device(uid, &device)
}

/// `uid`'s devices, the most recently seen first.
pub fn list(state: &AppState, uid: &str) -> Result<Vec<KnownDevice>, StoreError> {
    let mut devices = state.store.list_devices(uid)?;
    devices.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
    Ok(devices)
}

/// Forgets `uid`'s device `id`; `false` if there was none.
pub fn revoke(state: &AppState, uid: &str, id: &str) -> Result<bool, StoreError> {
    let removed = state.store.delete_device(uid, id)?;
    if removed {
        tracing::info!(user = %service_kit::redact::log_id(uid), "device revoked");
    }
    Ok(removed)
}
