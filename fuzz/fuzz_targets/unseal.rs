//! Token unsealing (TAT and PAT, HPKE at each level's suite), then — as the web agent does with
//! an opened token — decoding the key bundle. The first byte picks the recipient's suite
//! (X25519, P-384, P-521) and the HPKE `info` (TAT or PAT); the rest is the sealed text. With
//! the second bit of the first byte set, the rest is instead sealed by the target itself and
//! opened, so the decoding after unsealing is fuzzed too (an attacker cannot forge the AEAD).
#![no_main]
use std::sync::OnceLock;

use federation::fuzzing;
use federation::seal::{RecipientKey, SealSuite};
use libfuzzer_sys::fuzz_target;
use pbe_core::{Bls12_381Suite, UserKey};
use rand_core::SeedableRng as _;

fn keys() -> &'static [RecipientKey; 3] {
    static K: OnceLock<[RecipientKey; 3]> = OnceLock::new();
    K.get_or_init(|| SealSuite::ALL.map(fuzzing::recipient))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let key = &keys()[usize::from(mode % 3)];
    let info = if mode & 0x10 == 0 {
        federation::seal::tat_info(fuzzing::SP, fuzzing::SESSION)
    } else {
        federation::pat::pat_info("shop", fuzzing::SESSION)
    };
    let opened = if mode & 0x20 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let _ = federation::seal::sealed_suite(text);
        key.open(text, &info)
    } else {
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let sealed = federation::seal::seal(key.suite(), &key.public_text(), &info, rest, rng)
            .expect("sealing for a valid key of its own suite");
        let opened = key.open(&sealed, &info).expect("opening what was just sealed");
        assert_eq!(opened.as_slice(), rest);
        Ok(opened)
    };
    if let Ok(bytes) = opened {
        if let Ok(bundle) = pbe_core::wire::from_binary_or_text(&bytes) {
            let _ = UserKey::<Bls12_381Suite>::from_bytes(&bundle);
        }
    }
});
