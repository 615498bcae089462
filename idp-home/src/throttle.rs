//! Throttling of failed sign-ins, with [`service_kit::throttle`]. Three keys per attempt:
//!
//! - **(uid, client address)** with the default parameters: from the 3rd failure on, each
//!   attempt waits 1 s, 2 s, 4 s, … up to 60 s; after 10 the pair is locked for 15 minutes.
//!   Someone guessing bob's password from one address locks only *that address* out of bob's
//!   account, not bob on his own devices.
//! - **uid**, a global ceiling over all addresses ([`uid_ceiling`]): from the 30th failure on,
//!   waits; after 100 locked for 15 minutes. It bounds a distributed guessing attack (at most
//!   100 guesses per 15 minutes, whatever the number of addresses), at the price that someone
//!   with many addresses can still lock the account for everyone (the documented trade-off,
//!   docs/security-model.md).
//! - **client address**, its own ceiling ([`addr_ceiling`]): one address guessing many uids
//!   waits from the 20th failure on and is locked after 100. Not the per-pair limit: many
//!   people share one address (an office behind NAT, a campus proxy), and since an attempt in
//!   flight counts until its outcome is known, a limit of 3 would refuse the 4th colleague
//!   signing in at the same moment with the right password (found by the load harness's
//!   sign-in storm). Guessing one account from one address is still bounded by the pair key.
//!
//! Every attempt is reserved (checked and counted) atomically before the password is hashed
//! ([`service_kit::throttle::Throttle::reserve`]), so parallel guesses cannot all slip past the
//! check. Counts are forgotten 15 minutes after the last failure; a success clears the uid and
//! (uid, address) keys and gives the address its provisional count back (an attacker must not
//! reset their address by signing in to their own account). Unknown uids are throttled
//! exactly like known ones, so the throttle does not reveal which uids exist.
//!
//! State is in memory: a restart forgets it (documented in `docs/home-idp.md`).

pub use service_kit::throttle::{addr_key, Reservation, Throttle, ThrottleParams};

/// The throttle key of a user id (the global ceiling).
pub fn uid_key(uid: &str) -> String {
    format!("uid:{}", uid.to_ascii_lowercase())
}

/// The throttle key of a (user id, client address) pair; `addr` is an [`addr_key`].
pub fn pair_key(uid: &str, addr: &str) -> String {
    format!("pair:{}|{addr}", uid.to_ascii_lowercase())
}

/// The parameters of the per-address ceiling (see the module documentation).
pub fn addr_ceiling() -> ThrottleParams {
    ThrottleParams { free_failures: 20, lock_after: 100, ..ThrottleParams::default() }
}

/// The parameters of the global per-uid ceiling.
pub fn uid_ceiling() -> ThrottleParams {
    ThrottleParams { free_failures: 30, lock_after: 100, ..ThrottleParams::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_uses_the_documented_parameters() {
        let p = ThrottleParams::default();
        assert_eq!(
            (p.free_failures, p.max_delay, p.lock_after, p.lock_seconds, p.forget_after),
            (3, 60, 10, 15 * 60, 15 * 60)
        );
    }

    #[test]
    fn the_ceiling_is_above_the_per_address_limit() {
        let (c, p) = (uid_ceiling(), ThrottleParams::default());
        assert!(c.free_failures > p.lock_after && c.lock_after > c.free_failures);
        assert_eq!(c.forget_after, p.forget_after);
        assert_eq!(pair_key("Bob", "ip:1.2.3.4"), "pair:bob|ip:1.2.3.4");
    }

    #[test]
    fn colleagues_behind_one_address_sign_in_at_once_while_one_account_stays_bounded() {
        let t = Throttle::default();
        let addr = addr_key(Some("192.0.2.7".parse().unwrap()));
        let p = ThrottleParams::default();
        // 15 people behind one NAT address sign in at the same moment: all are reserved.
        let mut held = Vec::new();
        for i in 0..15 {
            let (pair, uid) = (pair_key(&format!("u{i}"), &addr), uid_key(&format!("u{i}")));
            let keys = [(pair.as_str(), p), (uid.as_str(), uid_ceiling()), (addr.as_str(), addr_ceiling())];
            held.push(t.reserve(&keys, 1_000).expect("a colleague is not refused"));
        }
        drop(held);
        // One account guessed from that address is refused after the pair's free failures.
        let (pair, uid) = (pair_key("bob", &addr), uid_key("bob"));
        let keys = [(pair.as_str(), p), (uid.as_str(), uid_ceiling()), (addr.as_str(), addr_ceiling())];
        let mut refused = false;
        for _ in 0..4 {
            match t.reserve(&keys, 2_000) {
                Ok(r) => r.failed(),
                Err(_) => refused = true,
            }
        }
        assert!(refused, "the pair key bounds guessing one account");
    }

    #[test]
    fn uid_keys_ignore_case() {
        assert_eq!(uid_key("Bob"), uid_key("bob"));
        assert_eq!(uid_key("bob"), "uid:bob");
    }
}
