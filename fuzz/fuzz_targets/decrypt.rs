//! Key and ciphertext decoding followed by decryption with valid counterparts (BLS12-381,
//! the default suite; the fixtures are `federation::fuzzing`'s). The first byte picks what
//! the rest is:
//! - 0: a ciphertext (binary), decrypted with a valid key of the fixture's identity;
//! - 1: a user key (binary), used to decrypt a valid ciphertext;
//! - 2: a ciphertext in text form; 3: a user key in text form;
//! - 4: a ciphertext, validated (`Ciphertext::validate`) before decryption, as the vault does.
//!
//! Any input must give a result or an error, never a panic.
#![no_main]
use std::sync::OnceLock;

use federation::fuzzing;
use libfuzzer_sys::fuzz_target;
use pbe_core::{Bls12_381Suite, Ciphertext, UserKey};

type S = Bls12_381Suite;

struct Fixture {
    key: UserKey<S>,
    ciphertext: Ciphertext<S>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        key: fuzzing::user_key(),
        ciphertext: fuzzing::ciphertext("domain:salesforce@home and country:eu@home", b"Tri", 1),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = || std::str::from_utf8(rest).ok();
    match mode % 5 {
        0 => {
            if let Ok(ct) = Ciphertext::<S>::from_bytes(rest) {
                let _ = ct.decrypt(&[&f.key]);
            }
        }
        1 => {
            if let Ok(key) = UserKey::<S>::from_bytes(rest) {
                let _ = f.ciphertext.decrypt(&[&key]);
                let _ = f.ciphertext.decrypt(&[&key, &f.key]);
            }
        }
        2 => {
            if let Some(ct) = text().and_then(|t| Ciphertext::<S>::from_text(t).ok()) {
                let _ = ct.decrypt(&[&f.key]);
            }
        }
        3 => {
            let bytes = text().and_then(|t| pbe_core::wire::from_text(t).ok());
            if let Some(key) = bytes.and_then(|b| UserKey::<S>::from_bytes(&b).ok()) {
                let _ = f.ciphertext.decrypt(&[&key]);
            }
        }
        _ => {
            if let Ok(ct) = Ciphertext::<S>::from_bytes(rest) {
                if ct.validate().is_ok() {
                    let _ = ct.decrypt(&[&f.key]);
                }
            }
        }
    }
});
