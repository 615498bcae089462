//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/seed-*`) from the shared
//! fixtures (`federation::fuzzing`), so every seed is a *valid* input for its target: responses
//! signed by the key the target trusts, tokens sealed to the keys it holds, ciphertexts and keys
//! of its authority. Ignored in `make test`; `make fuzz-seeds` runs it (the AuthnRequest and
//! policy seeds are plain text, written by `scripts/fuzz-seeds.sh`).
//!
//! A second test, not ignored, checks that the checked-in seeds still verify / open / decode
//! with today's fixtures, so a change of the fixtures cannot silently turn them into noise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use federation::assertion::AttributeValues;
use federation::claims::{PII_PREFIX, SUITE_ATTRIBUTE, TAT_ATTRIBUTE};
use federation::fuzzing;
use federation::seal::{seal, tat_info, SealSuite};
use federation::verify::{UnverifiedAssertion, DEFAULT_MAX_XML_BYTES};
use rand_chacha::rand_core::SeedableRng;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target)
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

const POLICIES: [(&str, &str); 4] = [
    ("and", "domain:salesforce@home and country:eu@home"),
    ("or", "domain:amazon@home or purpose:current@home"),
    ("threshold", "2 of (domain:salesforce@home, country:eu@home, purpose:contact@home)"),
    ("range", "access_time@home in [2024-01-01, 2030-12-31] or country:eu@home"),
];

/// A signed response as the home IdP sends it: PII digests, the sealed TAT, the PII reference,
/// the suite.
fn pbe_response() -> federation::assertion::SignedResponse {
    let key = fuzzing::user_key();
    let sealed_tat = seal(
        SealSuite::X25519Aes128,
        &fuzzing::recipient(SealSuite::X25519Aes128).public_text(),
        &tat_info(fuzzing::SP, fuzzing::SESSION),
        &key.to_bytes(),
        &mut rng(2),
    )
    .unwrap();
    let ct = federation::claims::pii_digest(&fuzzing::ciphertext(POLICIES[0].1, b"Tri", 3).into_bytes());
    let pii_ref = federation::pii::PiiRef { expires: fuzzing::NOW + 3600, mac: [3; 32] }.to_text();
    fuzzing::signed_response(
        vec![
            AttributeValues::basic("groups", vec!["customers".into()]),
            AttributeValues::basic(format!("{PII_PREFIX}lastname"), vec![ct]),
            AttributeValues::basic(TAT_ATTRIBUTE, vec![sealed_tat]),
            AttributeValues::basic(federation::claims::PII_REF_ATTRIBUTE, vec![pii_ref]),
            AttributeValues::basic(SUITE_ATTRIBUTE, vec!["bls12-381".into()]),
        ],
        4,
    )
}

#[test]
#[ignore = "writes fuzz/corpus; run with `make fuzz-seeds`"]
fn write_fuzz_seeds() {
    // SAML responses: with PBE attributes, plain, and the bare assertion (RFC 7522 / propagation).
    let pbe = pbe_response();
    write("saml_response", "pbe-response", pbe.xml.as_bytes());
    let plain =
        fuzzing::signed_response(vec![AttributeValues::basic("groups", vec!["a".into(), "b<&>".into()])], 5);
    write("saml_response", "plain-response", plain.xml.as_bytes());
    let bare = federation::testing::bare_assertion(&pbe.xml);
    write("saml_response", "bare-assertion", bare.as_bytes());

    // Decryption: ciphertexts of several shapes, the key, in binary and text form.
    let key = fuzzing::user_key();
    for (i, (name, policy)) in POLICIES.iter().enumerate() {
        let ct = fuzzing::ciphertext(policy, b"Tri", 10 + i as u64);
        write("decrypt", &format!("ct-{name}"), &[&[0u8][..], ct.as_bytes()].concat());
        write("decrypt", &format!("ct-validated-{name}"), &[&[4u8][..], ct.as_bytes()].concat());
    }
    let ct_text = fuzzing::ciphertext(POLICIES[0].1, b"Tri", 20).to_text();
    write("decrypt", "ct-text", &[&[2u8][..], ct_text.as_bytes()].concat());
    write("decrypt", "key", &[&[1u8][..], key.to_bytes().as_slice()].concat());
    let key_text = pbe_core::wire::to_text(&key.to_bytes());
    write("decrypt", "key-text", &[&[3u8][..], key_text.as_bytes()].concat());

    // Unsealing: a TAT and a PAT sealed to each level's key, and a bundle to seal in-target.
    for (i, suite) in SealSuite::ALL.into_iter().enumerate() {
        let public = fuzzing::recipient(suite).public_text();
        let tat =
            seal(suite, &public, &tat_info(fuzzing::SP, fuzzing::SESSION), &key.to_bytes(), &mut rng(30))
                .unwrap();
        write("unseal", &format!("tat-{}", suite.kem_name()), &[&[i as u8][..], tat.as_bytes()].concat());
        let pat_text = pbe_core::wire::to_text(&key.to_bytes());
        let info = federation::pat::pat_info("shop", fuzzing::SESSION);
        let pat = seal(suite, &public, &info, pat_text.as_bytes(), &mut rng(31)).unwrap();
        write(
            "unseal",
            &format!("pat-{}", suite.kem_name()),
            &[&[0x10 | i as u8][..], pat.as_bytes()].concat(),
        );
    }
    write("unseal", "bundle", &[&[0x20u8][..], key.to_bytes().as_slice()].concat());

    // Grant receipts.
    let receipt = fuzzing::receipt_signer().sign(&fuzzing::receipt_claims()).unwrap();
    write("receipt", "receipt", receipt.as_bytes());

    // Disclosure policies: the paper's Table 1, each with a 2-byte "today".
    for (name, _, policy) in pbe_core::disclosure::table1() {
        let json = serde_json::to_vec(&policy).unwrap();
        write("disclosure", name, &[&20_000u16.to_le_bytes()[..], &json].concat());
    }

    // Propagated calls (signed mode): the bare assertion and the TAT as the caller holds them,
    // and the PII bundle it fetched (lastname's ciphertext, whose digest the assertion signs).
    let mut bundle = federation::pii::Bundle::new();
    bundle.insert("lastname".into(), fuzzing::ciphertext(POLICIES[0].1, b"Tri", 3).into_bytes());
    let bundle = federation::pii::encode_bundle(&bundle).unwrap();
    let fields: [&[u8]; 8] = [
        &[0],
        b"/ship?order=1",
        b"{\"item\":\"42\"}",
        fuzzing::SESSION.as_bytes(),
        bare.as_bytes(),
        pbe.assertion_id.as_bytes(),
        &key.to_bytes(),
        &bundle,
    ];
    write("propagation", "signed-call", &fields.join(&0xffu8));
    let bare_b64 = URL_SAFE_NO_PAD.encode(bare);
    let raw: [&[u8]; 10] = [
        &[1],
        b"/ship",
        b"{}",
        b"key",
        b"c2ln",
        b"1795000000",
        b"00112233445566778899aabbccddeeff",
        bare_b64.as_bytes(),
        b"SURTTAE",
        b"SURTTAE",
    ];
    write("propagation", "raw-call", &raw.join(&0xffu8));
}

/// The checked-in seeds are still valid inputs for today's fixtures.
#[test]
fn checked_in_seeds_still_reach_deep() {
    let read = |target: &str, name: &str| std::fs::read(corpus(target).join(format!("seed-{name}"))).unwrap();
    let xml = String::from_utf8(read("saml_response", "pbe-response")).unwrap();
    let verified = UnverifiedAssertion::parse_response(&xml, DEFAULT_MAX_XML_BYTES)
        .unwrap()
        .verify(&fuzzing::trust())
        .unwrap();
    let sealed = &verified.attribute(TAT_ATTRIBUTE).unwrap()[0];
    let tat = fuzzing::recipient(SealSuite::X25519Aes128)
        .open(sealed, &tat_info(fuzzing::SP, fuzzing::SESSION))
        .unwrap();
    assert_eq!(tat.as_slice(), fuzzing::user_key().to_bytes().as_slice());
    for (i, suite) in SealSuite::ALL.into_iter().enumerate() {
        let seed = read("unseal", &format!("tat-{}", suite.kem_name()));
        assert_eq!(seed[0], i as u8);
        let text = std::str::from_utf8(&seed[1..]).unwrap();
        fuzzing::recipient(suite).open(text, &tat_info(fuzzing::SP, fuzzing::SESSION)).unwrap();
    }
    let ct = read("decrypt", "ct-and");
    let ct = pbe_core::Ciphertext::<pbe_core::Bls12_381Suite>::from_bytes(&ct[1..]).unwrap();
    assert_eq!(ct.decrypt(&[&fuzzing::user_key()]).unwrap().as_slice(), b"Tri");
    let receipt = String::from_utf8(read("receipt", "receipt")).unwrap();
    federation::pat::verify_receipt(&receipt, &fuzzing::receipt_signer().public_bytes()).unwrap();
}
