//! Grant-receipt verification (compact JWS, EdDSA): header (`alg`, `typ`, `crit`), signature,
//! claims. Seeds are receipts signed by the fixture key.
#![no_main]
use federation::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = std::str::from_utf8(data) else { return };
    let key = fuzzing::receipt_signer().public_bytes();
    let _ = federation::pat::verify_receipt(jws, &key);
});
