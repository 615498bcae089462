//! Throttling of failed authentications (sign-ins, client authentication), per account key
//! and per client address — shared by the services.
//!
//! Each key (e.g. `uid:<uid>`, `client:<client_id>`, `ip:<address>`) counts consecutive
//! failures. The first [`ThrottleParams::free_failures`] cost nothing; after that every failure
//! imposes an exponentially growing wait (1 s, 2 s, 4 s, … up to [`ThrottleParams::max_delay`]);
//! at [`ThrottleParams::lock_after`] failures the key is locked for
//! [`ThrottleParams::lock_seconds`]. A key is forgotten after a success (callers clear account
//! keys only: an attacker must not reset their address by authenticating as themselves) or
//! after [`ThrottleParams::forget_after`] seconds without failures. Callers count unknown
//! accounts exactly like known ones, so the throttle does not reveal which exist.
//!
//! # Reserve first, then evaluate
//!
//! Checking the counters and counting a failure must not be two steps: 40 parallel guesses
//! would all pass the check before the first one is counted. [`Throttle::reserve`] therefore
//! checks *and* counts the attempt as a failure under one lock, before the caller hashes
//! anything; the caller then either keeps that count ([`Reservation::failed`]) or, on success,
//! clears the account keys and gives the provisional count back on the others
//! ([`Reservation::succeeded`]). An attempt in flight thus counts as a failure until it is
//! known to be one, so at most as many attempts as the free failures allow are ever evaluated
//! at once for one key.
//!
//! # Where the counts are
//!
//! In memory ([`Throttle::new`]: a restart forgets them, each instance counts for itself), or
//! in PostgreSQL when the service's store is ([`Throttle::shared`]: every instance of the
//! service counts in one table, see [`pg`]). One type, the same arithmetic, two places. A
//! shared throttle whose database fails refuses the attempt (wait 1 s) rather than letting it
//! through uncounted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub mod pg;

/// Tunables of the [`Throttle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleParams {
    /// Failures allowed before any delay.
    pub free_failures: u32,
    /// Longest back-off delay, seconds.
    pub max_delay: i64,
    /// Failures after which the key is locked.
    pub lock_after: u32,
    /// Duration of the lock, seconds.
    pub lock_seconds: i64,
    /// Seconds without a failure after which a key's count is forgotten.
    pub forget_after: i64,
    /// Entries kept before stale ones are pruned.
    pub prune_at: usize,
}

impl Default for ThrottleParams {
    fn default() -> Self {
        ThrottleParams {
            free_failures: 3,
            max_delay: 60,
            lock_after: 10,
            lock_seconds: 15 * 60,
            forget_after: 15 * 60,
            prune_at: 100_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    failures: u32,
    blocked_until: i64,
    last_failure: i64,
}

/// Failure counters, in memory or shared in PostgreSQL.
#[derive(Debug, Default)]
pub struct Throttle {
    params: ThrottleParams,
    entries: Mutex<HashMap<String, Entry>>,
    shared: Option<pg::Shared>,
}

/// The wait imposed when the shared counters cannot be read or written.
const DB_FAILURE_WAIT: u64 = 1;

fn db_failed(e: &crate::pg::PgError) {
    tracing::warn!(error = %e, "throttle: the shared counters failed; refusing the attempt");
}

/// The throttle key of a client address (IPv6 by /64, since one host usually owns a /64);
/// `ip:unknown` when the address is not known.
pub fn addr_key(addr: Option<IpAddr>) -> String {
    match addr {
        Some(IpAddr::V4(a)) => format!("ip:{a}"),
        Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = a.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "ip:unknown".to_owned(),
    }
}

impl Throttle {
    /// A throttle with the given parameters.
    pub fn new(params: ThrottleParams) -> Self {
        Throttle { params, entries: Mutex::new(HashMap::new()), shared: None }
    }

    /// A throttle whose counts are in `schema`'s `throttle` table ([`pg::TABLE_SQL`]), shared
    /// by every instance on that database.
    pub fn shared(params: ThrottleParams, pool: Arc<crate::pg::PgPool>, schema: &str) -> Self {
        Throttle { params, entries: Mutex::new(HashMap::new()), shared: Some(pg::Shared::new(pool, schema)) }
    }

    /// Whether the counts are shared in PostgreSQL.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Forgets what would be forgotten by `now` (the periodic purge; the in-memory table also
    /// prunes itself when it grows). Returns how many keys went.
    pub fn purge(&self, now: i64) -> usize {
        if let Some(s) = &self.shared {
            return s.purge(now).map_or_else(
                |e| {
                    tracing::warn!(error = %e, "throttle purge failed");
                    0
                },
                |n| usize::try_from(n).unwrap_or(usize::MAX),
            );
        }
        let p = self.params;
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, e| e.blocked_until > now || now - e.last_failure < p.forget_after);
        before - map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned map is still a valid map of counters.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Atomically: refuses with `Err(seconds)` if any of `keys` must wait, and otherwise
    /// counts this attempt as a failure against every key (each with its own parameters), all
    /// under one lock. The returned [`Reservation`] settles the attempt once its outcome is
    /// known; dropping it keeps the failure.
    pub fn reserve<'t>(&'t self, keys: &[(&str, ThrottleParams)], now: i64) -> Result<Reservation<'t>, u64> {
        if let Some(s) = &self.shared {
            return match s.reserve(keys, now) {
                Ok(Ok(taken)) => Ok(Reservation { throttle: self, taken }),
                Ok(Err(wait)) => Err(wait),
                Err(e) => {
                    db_failed(&e);
                    Err(DB_FAILURE_WAIT)
                }
            };
        }
        let mut map = self.lock();
        let wait = keys
            .iter()
            .filter_map(|(k, _)| map.get(*k))
            .map(|e| e.blocked_until.saturating_sub(now))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            return Err(u64::try_from(wait).unwrap_or(u64::MAX));
        }
        self.prune(&mut map, now);
        let mut taken = Vec::with_capacity(keys.len());
        for (key, params) in keys {
            let e = map.entry((*key).to_owned()).or_default();
            let before = *e;
            count_failure(e, params, now);
            taken.push(((*key).to_owned(), before, *e));
        }
        Ok(Reservation { throttle: self, taken })
    }

    fn prune(&self, map: &mut HashMap<String, Entry>, now: i64) {
        let p = self.params;
        if map.len() >= p.prune_at {
            map.retain(|_, e| e.blocked_until > now || now - e.last_failure < p.forget_after);
        }
    }

    /// `Err(seconds)` if any of `keys` must wait before the next attempt.
    pub fn check(&self, keys: &[&str], now: i64) -> Result<(), u64> {
        if let Some(s) = &self.shared {
            return match s.wait(keys, now) {
                Ok(0) => Ok(()),
                Ok(w) => Err(u64::try_from(w).unwrap_or(u64::MAX)),
                Err(e) => {
                    db_failed(&e);
                    Err(DB_FAILURE_WAIT)
                }
            };
        }
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

    /// Records a failed attempt against each of `keys`.
    pub fn failure(&self, keys: &[&str], now: i64) {
        let p = self.params;
        if let Some(s) = &self.shared {
            if let Err(e) = s.failure(keys, p, now) {
                db_failed(&e);
            }
            return;
        }
        let mut map = self.lock();
        self.prune(&mut map, now);
        for key in keys {
            count_failure(map.entry((*key).to_owned()).or_default(), &p, now);
        }
    }

    /// The throttle's own parameters.
    pub fn params(&self) -> ThrottleParams {
        self.params
    }

    /// Forgets the failures of `key` (after a successful sign-in).
    pub fn success(&self, key: &str) {
        if let Some(s) = &self.shared {
            if let Err(e) = s.forget(key) {
                db_failed(&e);
            }
            return;
        }
        self.lock().remove(key);
    }

    /// Number of failures currently counted for `key`.
    pub fn failures(&self, key: &str) -> u32 {
        if let Some(s) = &self.shared {
            return s.failures(key).unwrap_or_else(|e| {
                db_failed(&e);
                0
            });
        }
        self.lock().get(key).map_or(0, |e| e.failures)
    }
}

fn count_failure(e: &mut Entry, p: &ThrottleParams, now: i64) {
    let stale = now - e.last_failure >= p.forget_after && e.blocked_until <= now;
    let lock_over = e.failures >= p.lock_after && e.blocked_until <= now;
    if stale || lock_over {
        *e = Entry::default();
    }
    e.failures = e.failures.saturating_add(1);
    e.last_failure = now;
    if e.failures >= p.lock_after {
        e.blocked_until = now.saturating_add(p.lock_seconds);
    } else if e.failures >= p.free_failures {
        let exp = (e.failures - p.free_failures).min(30);
        e.blocked_until = now.saturating_add((1i64 << exp).min(p.max_delay));
    }
}

/// An attempt counted in advance by [`Throttle::reserve`]. Dropping it (or
/// [`Reservation::failed`]) keeps the failure; [`Reservation::succeeded`] undoes it.
#[derive(Debug)]
#[must_use = "settle the reservation with failed() or succeeded()"]
pub struct Reservation<'t> {
    throttle: &'t Throttle,
    /// (key, entry before, entry right after this reservation).
    taken: Vec<(String, Entry, Entry)>,
}

impl Reservation<'_> {
    /// The attempt failed: the provisional failure stays counted.
    pub fn failed(self) {}

    /// The attempt succeeded: `clear` (account keys) are forgotten; every other key gets the
    /// provisional failure back (exactly restored if nothing else counted on it meanwhile,
    /// otherwise one failure less, its wait left as is — erring on the side of waiting).
    pub fn succeeded(self, clear: &[&str]) {
        if let Some(s) = &self.throttle.shared {
            let clear = clear.iter().map(|k| (*k).to_owned()).collect();
            if let Err(e) = s.settle_success(self.taken, clear, self.throttle.params.forget_after) {
                db_failed(&e);
            }
            return;
        }
        let mut map = self.throttle.lock();
        for (key, before, after) in &self.taken {
            if clear.contains(&key.as_str()) {
                map.remove(key);
                continue;
            }
            let Some(e) = map.get_mut(key) else { continue };
            if e == after {
                if *before == Entry::default() {
                    map.remove(key);
                } else {
                    *e = *before;
                }
            } else {
                e.failures = e.failures.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_then_locks_then_releases() {
        let t = Throttle::default();
        let k = ["uid:bob"];
        let mut now = 1000;
        for _ in 0..2 {
            t.failure(&k, now);
            assert_eq!(t.check(&k, now), Ok(()));
        }
        let mut expected = 1;
        for _ in 3..10 {
            t.failure(&k, now);
            assert_eq!(t.check(&k, now), Err(expected));
            now += expected as i64;
            assert_eq!(t.check(&k, now), Ok(()));
            expected = (expected * 2).min(60);
        }
        t.failure(&k, now);
        assert_eq!(t.check(&k, now), Err(900));
        now += 900;
        assert_eq!(t.check(&k, now), Ok(()));
        // After the lock the count starts again.
        t.failure(&k, now);
        assert_eq!(t.failures("uid:bob"), 1);
    }

    #[test]
    fn success_and_time_forget() {
        let t = Throttle::default();
        for _ in 0..5 {
            t.failure(&["uid:a", "ip:1.2.3.4"], 0);
        }
        assert!(t.check(&["uid:b", "ip:1.2.3.4"], 0).is_err());
        t.success("uid:a");
        assert_eq!(t.failures("uid:a"), 0);
        t.failure(&["ip:1.2.3.4"], 2000);
        assert_eq!(t.failures("ip:1.2.3.4"), 1);
    }

    #[test]
    fn reservations_count_before_the_outcome_and_successes_give_back() {
        let t = Throttle::default();
        let p = ThrottleParams::default();
        let keys = [("uid:bob", p), ("ip:1.2.3.4", p)];
        // In flight at once: the first `free_failures` pass, the next one waits.
        let r: Vec<_> = (0..p.free_failures).map(|_| t.reserve(&keys, 10).unwrap()).collect();
        assert_eq!(t.failures("uid:bob"), p.free_failures);
        assert!(t.reserve(&keys, 10).is_err(), "a 4th parallel attempt is not evaluated");
        for r in r {
            r.succeeded(&["uid:bob"]);
        }
        assert_eq!(t.failures("uid:bob"), 0);
        assert_eq!(t.failures("ip:1.2.3.4"), 0, "successes give the address its count back");
        // A failure keeps its count.
        t.reserve(&keys, 20).unwrap().failed();
        assert_eq!(t.failures("ip:1.2.3.4"), 1);
        // Per-key parameters: a higher ceiling on one key.
        let lenient = ThrottleParams { free_failures: 100, lock_after: 200, ..p };
        for _ in 0..50 {
            t.reserve(&[("uid:alice", lenient)], 30).unwrap().failed();
        }
        assert_eq!(t.check(&["uid:alice"], 30), Ok(()));
    }

    #[test]
    fn ipv6_is_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(addr_key(Some(a)), addr_key(Some(b)));
        assert_eq!(addr_key(Some("::ffff:10.0.0.1".parse().unwrap())), "ip:10.0.0.1");
    }
}
