//! Throttling of failed client authentications, per client ID and per client address, with
//! [`service_kit::throttle`]: from the 5th failure of a key on, each attempt waits 1 s, 2 s,
//! 4 s, … up to 5 minutes; after 20 the key is locked for 15 minutes; counts are forgotten 15
//! minutes after the last failure, and a client ID's count after a success. Unknown client IDs
//! are counted like known ones. In memory: a restart forgets it.

pub use service_kit::throttle::{addr_key, Throttle, ThrottleParams};

/// The visitor IdP's parameters (client secrets are high-entropy, so a few more free
/// failures than for passwords: misconfigured clients retry).
pub fn params() -> ThrottleParams {
    ThrottleParams {
        free_failures: 5,
        max_delay: 300,
        lock_after: 20,
        lock_seconds: 15 * 60,
        ..ThrottleParams::default()
    }
}

/// The throttle key of a client ID.
pub fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_after_the_free_failures() {
        let t = Throttle::new(params());
        let k = [client_key("shop"), addr_key(Some("10.0.0.1".parse().unwrap()))];
        let k: Vec<&str> = k.iter().map(String::as_str).collect();
        for _ in 0..4 {
            t.failure(&k, 100);
            assert_eq!(t.check(&k, 100), Ok(()));
        }
        t.failure(&k, 100);
        assert_eq!(t.check(&k, 100), Err(1));
        t.success("client:shop");
        assert_eq!(t.check(&["client:shop"], 100), Ok(()));
        assert_eq!(t.check(&["ip:10.0.0.1"], 100), Err(1));
    }
}
