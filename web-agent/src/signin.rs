//! Sign-in state bound to the browser (issue 14, item 4).
//!
//! A pending AuthnRequest is not kept in a table on the agent: it travels in a short-lived
//! cookie of the browser that started the sign-in (`idaas_signin_<8 hex>`, `__Host-` prefixed
//! over https), MAC'd with a key the agent draws at start-up. So
//!
//! - anonymous traffic cannot displace anyone's sign-in: there is no shared table to fill,
//!   each `/saml/login` only writes to the cookie of the client that sent it;
//! - a SAML response is accepted only in the browser that asked for it: the ACS takes the
//!   `InResponseTo` of the verified assertion and requires a pending entry for exactly that
//!   ID in *this* browser's cookie (login CSRF: an attacker's own genuine response, posted by
//!   the victim's browser, finds no entry there);
//! - each request is still answered once: after a response is verified its request ID goes
//!   into a bounded table of answered IDs. Only responses the IdP signed for this SP get
//!   there, so anonymous traffic cannot fill it.
//!
//! A browser keeps up to [`MAX_PENDING`] sign-ins (several tabs); the oldest is dropped first.
//! The key is `<data_dir>/signin.key` ([`Keys::load_or_create`]), created on first start: the
//! instances of one agent share it (like its other key files), so a sign-in started at one
//! instance completes at another, and a restart keeps the sign-ins under way (issue 17).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// How long an AuthnRequest may stay unanswered, seconds (also the cookie's Max-Age).
pub const PENDING_LIFETIME: i64 = 600;
/// Most sign-ins one browser may have under way at once.
pub const MAX_PENDING: usize = 3;
/// Largest cookie value written (browsers keep at least 4096 bytes per cookie).
pub const MAX_COOKIE: usize = 3000;

/// A sign-in this browser started and the agent has not seen answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The AuthnRequest ID.
    pub id: String,
    /// Unix seconds after which the answer is refused.
    pub expires: i64,
    /// Where to send the browser afterwards (a same-origin path).
    pub return_to: String,
}

/// The MAC key of sign-in cookies and logout forms (random per process, wiped on drop).
pub struct Keys {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("signin::Keys")
    }
}

impl Default for Keys {
    fn default() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, key.as_mut_slice());
        Keys { key }
    }
}

/// File name of the sign-in cookie key in the data directory.
pub const KEY_FILE: &str = "signin.key";

impl Keys {
    /// Loads `<data_dir>/signin.key`, creating it (mode 0600) when missing.
    pub fn load_or_create(data_dir: &std::path::Path) -> Result<Keys, crate::keys::KeyFileError> {
        let path = data_dir.join(KEY_FILE);
        let err = |reason: String| crate::keys::KeyFileError { path: path.clone(), reason };
        service_kit::files::ensure_private_dir(data_dir).map_err(|e| err(e.to_string()))?;
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| err(e.to_string()))?);
            let mut key = Zeroizing::new([0u8; 32]);
            if bytes.len() != key.len() {
                return Err(err("not a 32-byte key".into()));
            }
            key.copy_from_slice(&bytes);
            return Ok(Keys { key });
        }
        let k = Keys::default();
        service_kit::files::write_private(&path, k.key.as_slice(), 0o600).map_err(|e| err(e.to_string()))?;
        Ok(k)
    }

    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
        // new_from_slice accepts every key length for HMAC.
        #[allow(clippy::expect_used)]
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_slice()).expect("HMAC takes any key length");
        for p in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        mac
    }

    /// The cookie value carrying `pending` (newest last), for the cookie named `name`.
    pub fn seal(&self, name: &str, pending: &[Pending]) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(pending).unwrap_or_default());
        let tag = self.mac("idaas signin v1", &[name.as_bytes(), payload.as_bytes()]).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The pending sign-ins in a cookie value, if its MAC verifies (expired ones dropped).
    pub fn open(&self, name: &str, value: &str, now: i64) -> Vec<Pending> {
        let Some((payload, tag)) = value.split_once('.') else { return Vec::new() };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else { return Vec::new() };
        if self.mac("idaas signin v1", &[name.as_bytes(), payload.as_bytes()]).verify_slice(&tag).is_err() {
            return Vec::new();
        }
        let list: Vec<Pending> = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        list.into_iter().filter(|p| p.expires > now).collect()
    }

    /// The cookie value after adding `new` to `existing`: at most [`MAX_PENDING`] entries and
    /// [`MAX_COOKIE`] bytes, the oldest dropped first.
    pub fn add(&self, name: &str, mut existing: Vec<Pending>, new: Pending) -> String {
        existing.push(new);
        loop {
            let drop_one = existing.len() > MAX_PENDING
                || (existing.len() > 1 && self.seal(name, &existing).len() > MAX_COOKIE);
            if !drop_one {
                return self.seal(name, &existing);
            }
            existing.remove(0);
        }
    }

    /// The CSRF token of the sign-out form for the session whose cookie is `session_cookie`:
    /// a MAC of it, so it is bound to that session and useless to anyone without the cookie.
    pub fn logout_token(&self, session_cookie: &str) -> String {
        URL_SAFE_NO_PAD
            .encode(self.mac("idaas logout v1", &[session_cookie.as_bytes()]).finalize().into_bytes())
    }

    /// The MAC of a shared session record (`crate::shared_sessions`) stored under `key`: a
    /// row written by anyone without the key files (the database alone) is refused.
    pub fn record_mac(&self, key: &[u8], record: &[u8]) -> Vec<u8> {
        self.mac("idaas session record v1", &[key, record]).finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is [`Keys::record_mac`] of (`key`, `record`) (constant time).
    pub fn check_record_mac(&self, key: &[u8], record: &[u8], tag: &[u8]) -> bool {
        self.mac("idaas session record v1", &[key, record]).verify_slice(tag).is_ok()
    }

    /// Whether `token` is the sign-out token of `session_cookie` (constant time).
    pub fn check_logout_token(&self, session_cookie: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|t| self.mac("idaas logout v1", &[session_cookie.as_bytes()]).verify_slice(&t).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, expires: i64) -> Pending {
        Pending { id: id.into(), expires, return_to: "/".into() }
    }

    #[test]
    fn cookies_round_trip_and_refuse_tampering() {
        let k = Keys::default();
        let v = k.seal("c", &[p("_a", 10)]);
        assert_eq!(k.open("c", &v, 5), [p("_a", 10)]);
        assert!(k.open("c", &v, 10).is_empty(), "expired");
        assert!(k.open("other", &v, 5).is_empty(), "bound to the cookie name");
        assert!(Keys::default().open("c", &v, 5).is_empty(), "another agent's key");
        let forged =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(b"[{\"id\":\"_b\"}]"), v.split_once('.').unwrap().1);
        assert!(k.open("c", &forged, 5).is_empty());
        assert!(k.open("c", "garbage", 5).is_empty());
    }

    #[test]
    fn a_browser_keeps_its_latest_sign_ins() {
        let k = Keys::default();
        let v = k.add("c", vec![p("_1", 9), p("_2", 9), p("_3", 9)], p("_4", 9));
        let ids: Vec<String> = k.open("c", &v, 0).into_iter().map(|p| p.id).collect();
        assert_eq!(ids, ["_2", "_3", "_4"]);
        let long = Pending { id: "_5".into(), expires: 9, return_to: format!("/{}", "x".repeat(1023)) };
        let v = k.add("c", k.open("c", &v, 0), long.clone());
        assert!(v.len() <= MAX_COOKIE);
        assert_eq!(k.open("c", &v, 0).last(), Some(&long));
    }

    #[test]
    fn logout_tokens_are_bound_to_the_session() {
        let k = Keys::default();
        let t = k.logout_token("cookie-a");
        assert!(k.check_logout_token("cookie-a", &t));
        assert!(!k.check_logout_token("cookie-b", &t));
        assert!(!k.check_logout_token("cookie-a", "x"));
    }
}
