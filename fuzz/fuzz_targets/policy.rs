//! The policy parser: any text either fails with an error, or parses to a policy whose
//! canonical text parses back to the same policy (so a ciphertext's policy text always
//! re-derives its LSSS matrix), and whose LSSS matrix can be built when it validates.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pbe_core::Lsss;
use pbe_core::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = Policy::parse(text) else { return };
    if policy.validate().is_ok() {
        let printed = policy.to_string();
        assert_eq!(Policy::parse(&printed).as_ref(), Ok(&policy), "{printed}");
        let _ = Lsss::<pbe_core::suite::Fr<pbe_core::Bls12_381Suite>>::from_policy(&policy);
    }
});
