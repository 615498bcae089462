//! Throttling of failed client authentications, per client ID and per client address.
//!
//! The first [`FREE_FAILURES`] failures of a key cost nothing; each further one makes the key
//! wait 2^(n−free) seconds, at most [`MAX_DELAY`]; a key is forgotten after a success (client
//! ID keys only — an attacker must not clear their address by using their own client) or
//! [`FORGET_AFTER`] seconds without failures. Unknown client IDs are throttled like known ones.
//! In memory: a restart forgets it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures allowed before any delay.
pub const FREE_FAILURES: u32 = 5;
/// Longest delay, seconds.
pub const MAX_DELAY: i64 = 300;
/// Seconds without a failure after which a key is forgotten.
pub const FORGET_AFTER: i64 = 15 * 60;
const PRUNE_AT: usize = 100_000;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    failures: u32,
    blocked_until: i64,
    last_failure: i64,
}

/// In-memory failure counters.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Entry>>,
}

/// The throttle key of a client ID.
pub fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// The throttle key of an address (IPv6 by /64); `ip:unknown` when not known.
pub fn addr_key(addr: Option<IpAddr>) -> String {
    match addr {
        Some(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => {
            let s = a.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(a)) => {
            format!("ip:{}", a.to_ipv4_mapped().map(|v| v.to_string()).unwrap_or_default())
        }
        Some(a) => format!("ip:{a}"),
        None => "ip:unknown".to_owned(),
    }
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(seconds)` if any of `keys` must wait.
    pub fn check(&self, keys: &[&str], now: i64) -> Result<(), u64> {
        let map = self.lock();
        let wait = keys
            .iter()
            .filter_map(|k| map.get(*k))
            .map(|e| e.blocked_until.saturating_sub(now))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            Err(u64::try_from(wait).unwrap_or(u64::MAX))
        } else {
            Ok(())
        }
    }

    /// Records a failure against each of `keys`.
    pub fn failure(&self, keys: &[&str], now: i64) {
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            map.retain(|_, e| e.blocked_until > now || now - e.last_failure < FORGET_AFTER);
        }
        for key in keys {
            let e = map.entry((*key).to_owned()).or_default();
            if now - e.last_failure >= FORGET_AFTER && e.blocked_until <= now {
                *e = Entry::default();
            }
            e.failures = e.failures.saturating_add(1);
            e.last_failure = now;
            if e.failures > FREE_FAILURES {
                let exp = (e.failures - FREE_FAILURES - 1).min(30);
                e.blocked_until = now.saturating_add((1i64 << exp).min(MAX_DELAY));
            }
        }
    }

    /// Forgets `key` (after a successful authentication).
    pub fn success(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_after_the_free_failures_and_forgets() {
        let t = Throttle::default();
        let k = ["client:shop", "ip:10.0.0.1"];
        for _ in 0..FREE_FAILURES {
            t.failure(&k, 100);
            assert_eq!(t.check(&k, 100), Ok(()));
        }
        t.failure(&k, 100);
        assert_eq!(t.check(&k, 100), Err(1));
        t.failure(&k, 101);
        assert_eq!(t.check(&["ip:10.0.0.1"], 101), Err(2));
        t.success("client:shop");
        assert_eq!(t.check(&["client:shop"], 101), Ok(()));
        assert_eq!(t.check(&["ip:10.0.0.1"], 103), Ok(()));
        t.failure(&["ip:10.0.0.1"], 103 + FORGET_AFTER);
        assert_eq!(t.check(&["ip:10.0.0.1"], 103 + FORGET_AFTER), Ok(()), "forgotten, counting again");
        assert_eq!(addr_key(Some("::ffff:10.0.0.1".parse().unwrap())), "ip:10.0.0.1");
        assert_eq!(addr_key(Some("2001:db8:1:2::9".parse().unwrap())), "ip:2001:db8:1:2::/64");
    }
}
