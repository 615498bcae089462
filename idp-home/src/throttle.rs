//! Throttling of failed sign-ins, per user id and per client address, with
//! [`federation::throttle`] and its default parameters: from the 3rd failure of a key on, each
//! attempt waits 1 s, 2 s, 4 s, … up to 60 s; after 10 the key is locked for 15 minutes; counts
//! are forgotten 15 minutes after the last failure, and a uid's count after a successful
//! sign-in (uid keys only: an attacker must not reset their address by signing in to their own
//! account). Unknown uids are throttled exactly like known ones, so the throttle does not
//! reveal which uids exist.
//!
//! State is in memory: a restart forgets it (documented in `docs/home-idp.md`).

pub use federation::throttle::{addr_key, Throttle, ThrottleParams};

/// The throttle key of a user id.
pub fn uid_key(uid: &str) -> String {
    format!("uid:{}", uid.to_ascii_lowercase())
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
    fn uid_keys_ignore_case() {
        assert_eq!(uid_key("Bob"), uid_key("bob"));
        assert_eq!(uid_key("bob"), "uid:bob");
    }
}
