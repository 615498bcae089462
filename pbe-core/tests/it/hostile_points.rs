//! Issue 23, item 0: decoded group elements that are zero, the identity, not unitary or off
//! the curve are refused with an error at every call site, on every suite, and never reach
//! a library operation that panics on them. Before the fix, a ciphertext whose `C1` (or
//! `C0`) decoded to zero made `Ciphertext::decrypt` panic inside arkworks (the inverse of
//! zero in `PairingOutput` subtraction), because the decryption path skips the GT subgroup
//! check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use ark_serialize::{Compress, Validate};
use pbe_core::suite::{Group, Gt, G1, G2};
use pbe_core::{
    Attribute, AuthorityPublicKey, AuthoritySecretKey, Ciphertext, Encryptor, Gid, Policy, Suite, UserKey,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn enc<G: Group>(g: &G, form: Compress) -> Vec<u8> {
    let mut out = Vec::new();
    g.encode(form, &mut out);
    out
}

/// Target-group encodings that must never decode: zero, the identity, the constant 2 (not
/// unitary: 2·conj(2) = 4), and a valid element with one coefficient changed.
fn bad_gt<S: Suite>() -> Vec<(&'static str, Vec<u8>)> {
    let len = Gt::<S>::encoded_len(Compress::Yes);
    let identity = enc(&Gt::<S>::identity(), Compress::Yes);
    let one_at: Vec<usize> = identity.iter().enumerate().filter(|(_, b)| **b != 0).map(|(i, _)| i).collect();
    assert_eq!(one_at.len(), 1, "the identity encodes as a single 1 byte");
    let mut two = identity.clone();
    two[one_at[0]] = 2;
    let mut changed = enc(&S::tables().gt, Compress::Yes);
    changed[len / 2] ^= 0x01;
    vec![("zero", vec![0u8; len]), ("identity", identity), ("two", two), ("changed", changed)]
}

/// Point encodings that must never decode: zeros, the identity, coordinates that are not
/// canonical, and (uncompressed) a valid point with a coordinate byte changed.
fn bad_point<G: Group>(valid: &G, form: Compress) -> Vec<(&'static str, Vec<u8>)> {
    let len = G::encoded_len(form);
    let mut bad = vec![("zeros", vec![0u8; len]), ("identity", enc(&G::identity(), form))];
    if form == Compress::No {
        // A changed y is off the curve (a changed compressed x may land on another point,
        // which on BN254's G1, of cofactor 1, is a valid element).
        let mut changed = enc(valid, form);
        changed[len - 3] ^= 0x01;
        bad.push(("off-curve", changed));
    }
    let mut all_ones = vec![0xffu8; len];
    all_ones[0] = enc(valid, form)[0];
    bad.push(("all ones", all_ones));
    bad
}

fn patched(bytes: &[u8], at: usize, with: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at..at + with.len()].copy_from_slice(with);
    out
}

fn hostile_elements_are_errors<S: Suite>() {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let authority = AuthoritySecretKey::<S>::setup("auth", &mut rng).unwrap();
    let gid = Gid::new("alice", "session-1").unwrap();
    let attribute: Attribute = "x:y@auth".parse().unwrap();
    let key = authority.keygen(&gid, std::slice::from_ref(&attribute), &mut rng).unwrap();
    let encryptor = Encryptor::with_window([authority.public_key()], 3).unwrap();
    let policy = Policy::parse("x:y@auth").unwrap();
    let ct = encryptor.encrypt(&policy, b"secret", &mut rng).unwrap();
    assert_eq!(&*ct.decrypt(&[&key]).unwrap(), b"secret");

    // Group decoders, both validation modes and both forms.
    for (what, bytes) in bad_gt::<S>() {
        for check in [Validate::Yes, Validate::No] {
            assert!(
                Gt::<S>::decode(&bytes, Compress::Yes, check).is_none(),
                "{}: GT {what}, check {}",
                S::ID,
                check == Validate::Yes
            );
        }
    }
    for form in [Compress::Yes, Compress::No] {
        for (what, bytes) in bad_point(&S::g1_generator(), form) {
            assert!(
                G1::<S>::decode(&bytes, form, Validate::Yes).is_none(),
                "{}: G1 {what}, compressed {}",
                S::ID,
                form == Compress::Yes
            );
        }
        for (what, bytes) in bad_point(&S::g2_generator(), form) {
            assert!(
                G2::<S>::decode(&bytes, form, Validate::Yes).is_none(),
                "{}: G2 {what}, compressed {}",
                S::ID,
                form == Compress::Yes
            );
        }
    }

    // Ciphertext: header ‖ policy ‖ count ‖ row (C1 ‖ C2 ‖ C3 ‖ C4) ‖ C0 ‖ u64 ‖ payload.
    let bytes = ct.as_bytes();
    let gt_len = Gt::<S>::encoded_len(Compress::Yes);
    let g1_len = G1::<S>::encoded_len(Compress::No);
    let g2_len = G2::<S>::encoded_len(Compress::No);
    let c0_at = ct.header_len() - 8 - gt_len;
    let c1_at = c0_at - (gt_len + 2 * g2_len + g1_len);
    let c2_at = c1_at + gt_len;
    let c3_at = c2_at + g2_len;
    let c4_at = c3_at + g2_len;
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, bad) in bad_gt::<S>() {
        cases.push((format!("C1 {what}"), patched(bytes, c1_at, &bad)));
        cases.push((format!("C0 {what}"), patched(bytes, c0_at, &bad)));
    }
    let g2 = S::g2_generator();
    for (what, bad) in bad_point(&g2, Compress::No) {
        cases.push((format!("C2 {what}"), patched(bytes, c2_at, &bad)));
        cases.push((format!("C3 {what}"), patched(bytes, c3_at, &bad)));
    }
    for (what, bad) in bad_point(&S::g1_generator(), Compress::No) {
        cases.push((format!("C4 {what}"), patched(bytes, c4_at, &bad)));
    }
    for (what, hostile) in cases {
        let decoded = Ciphertext::<S>::from_bytes(&hostile).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decoded.decrypt(&[&key]).map(|p| p.to_vec())
        }));
        match result {
            Ok(r) => assert!(r.is_err(), "{}: {what} decrypted", S::ID),
            Err(_) => panic!("{}: {what} made decrypt panic", S::ID),
        }
        assert!(decoded.validate().is_err(), "{}: {what} validated", S::ID);
    }

    // Authority public key: header ‖ name ‖ gt^α ‖ g2^y (compressed).
    let pk = authority.public_key().to_bytes();
    let g2c = G2::<S>::encoded_len(Compress::Yes);
    let y_at = pk.len() - g2c;
    let alpha_at = y_at - gt_len;
    for (what, bad) in bad_gt::<S>() {
        assert!(
            AuthorityPublicKey::<S>::from_bytes(&patched(&pk, alpha_at, &bad)).is_err(),
            "pk gt^α {what}"
        );
    }
    for (what, bad) in bad_point(&g2, Compress::Yes) {
        assert!(AuthorityPublicKey::<S>::from_bytes(&patched(&pk, y_at, &bad)).is_err(), "pk g2^y {what}");
    }

    // Authority secret key: header ‖ name ‖ α ‖ y; zero scalars and scalars ≥ r are refused.
    let sk = authority.to_bytes();
    // Both keys share header and name: the secret key's scalars replace gt^α ‖ g2^y.
    let scalar_len = (sk.len() + gt_len + g2c - pk.len()) / 2;
    let y_at = sk.len() - scalar_len;
    let alpha_at = y_at - scalar_len;
    for at in [alpha_at, y_at] {
        let zero = vec![0u8; scalar_len];
        assert!(AuthoritySecretKey::<S>::from_bytes(&patched(&sk, at, &zero)).is_err(), "zero scalar");
        let big = vec![0xffu8; scalar_len];
        assert!(AuthoritySecretKey::<S>::from_bytes(&patched(&sk, at, &big)).is_err(), "scalar ≥ r");
    }
    assert!(AuthoritySecretKey::<S>::from_bytes(&sk).is_ok());

    // Key bundle: … ‖ attribute ‖ K (G1) ‖ K' (G2), compressed.
    let kb = key.to_bytes();
    let kp_at = kb.len() - g2c;
    let k_at = kp_at - G1::<S>::encoded_len(Compress::Yes);
    for (what, bad) in bad_point(&S::g1_generator(), Compress::Yes) {
        assert!(UserKey::<S>::from_bytes(&patched(&kb, k_at, &bad)).is_err(), "K {what}");
    }
    for (what, bad) in bad_point(&g2, Compress::Yes) {
        assert!(UserKey::<S>::from_bytes(&patched(&kb, kp_at, &bad)).is_err(), "K' {what}");
    }
    assert!(UserKey::<S>::from_bytes(&kb).is_ok());
}

#[test]
fn hostile_elements_are_errors_bn254() {
    hostile_elements_are_errors::<pbe_core::Bn254Suite>();
}

#[test]
fn hostile_elements_are_errors_bls12_381() {
    hostile_elements_are_errors::<pbe_core::Bls12_381Suite>();
}

#[test]
fn hostile_elements_are_errors_bls12_381_arkworks() {
    hostile_elements_are_errors::<pbe_core::Bls12_381Arkworks>();
}

#[test]
fn hostile_elements_are_errors_bls24_479() {
    hostile_elements_are_errors::<pbe_core::Bls24_479Suite>();
}

#[test]
fn hostile_elements_are_errors_bls48_581() {
    hostile_elements_are_errors::<pbe_core::Bls48_581Suite>();
}
