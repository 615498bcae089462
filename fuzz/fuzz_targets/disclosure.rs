//! Disclosure-policy compilation: JSON (as the data-owner API and CLI take it) to a policy,
//! for any "today". The compiled policy must validate and round-trip like a parsed one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbe_core::{DisclosurePolicy, Policy};

fuzz_target!(|data: &[u8]| {
    let (today, json) = match data.split_first_chunk::<2>() {
        Some((day, rest)) => (u64::from(u16::from_le_bytes(*day)), rest),
        None => return,
    };
    let Ok(disclosure) = serde_json::from_slice::<DisclosurePolicy>(json) else { return };
    let _ = disclosure.validity(today);
    for home in ["home", "Bad Authority"] {
        if let Ok(policy) = disclosure.compile(home, today) {
            if policy.validate().is_ok() {
                let printed = policy.to_string();
                assert_eq!(Policy::parse(&printed).as_ref(), Ok(&policy), "{printed}");
            }
        }
    }
});
