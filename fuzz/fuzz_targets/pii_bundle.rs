//! The PII bundle the home IdP seals to an SP (`POST /pbe/pii/fetch`) and an agent re-seals to
//! its partner: strict decoding (framing, names, order, count, trailing bytes, size), and the
//! `idaas:pii-ref` text form. What decodes must encode back to the same bytes (one encoding
//! per bundle), and the digest check must keep only matching ciphertexts.
#![no_main]
use std::collections::BTreeMap;

use federation::claims::pii_digest;
use federation::pii::{check_digests, decode_bundle, encode_bundle, PiiRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = decode_bundle(data) {
        assert_eq!(encode_bundle(&bundle).as_deref(), Ok(data), "one encoding per bundle");
        // Sign the digest of every other entry and a wrong one for the rest.
        let digests: BTreeMap<String, String> = bundle
            .iter()
            .enumerate()
            .map(|(i, (n, ct))| (n.clone(), if i % 2 == 0 { pii_digest(ct) } else { pii_digest(b"other") }))
            .collect();
        let checked = check_digests(&digests, bundle.clone());
        assert!(checked.ciphertexts.iter().all(|(n, ct)| digests[n] == pii_digest(ct)));
        assert_eq!(checked.ciphertexts.len() + checked.mismatched + checked.absent, digests.len());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(r) = PiiRef::parse(text) {
            assert_eq!(r.to_text(), text, "one text per reference");
        }
    }
});
