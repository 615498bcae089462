//! The split decryption (issue 22): two Miller loops on two threads and one final
//! exponentiation give exactly what one thread gives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ark_ff::UniformRand;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::recover_blinding;
use crate::suite::{Bls12_381Arkworks, Bls12_381Blst, Bls24_479Suite, Bn254Suite, Group, Suite};
use crate::{Attribute, AuthoritySecretKey, Encryptor, Gid, Policy};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Every split point of 0..=7 pairs (identities included) multiplies back to the one-loop
/// multi-pairing.
fn miller_halves_multiply_back<S: Suite>(max_pairs: usize) {
    let r = &mut rng(7);
    let mut g1: Vec<S::G1> = (0..max_pairs).map(|_| S::g1_generator().mul(&S::Scalar::rand(r))).collect();
    let g2: Vec<S::G2> = (0..max_pairs).map(|_| S::g2_generator().mul(&S::Scalar::rand(r))).collect();
    if let Some(p) = g1.get_mut(2) {
        *p = S::G1::identity();
    }
    let g2: Vec<S::G2Prepared> = g2.iter().map(S::prepare_g2).collect();
    for n in 0..=max_pairs {
        let whole = S::multi_pairing(&g1[..n], &g2[..n]).unwrap();
        for mid in 0..=n {
            let a = S::multi_miller_loop(&g1[..mid], &g2[..mid]).unwrap();
            let b = S::multi_miller_loop(&g1[mid..n], &g2[mid..n]).unwrap();
            let split = S::final_exponentiation(&S::miller_product(&a, &b)).unwrap();
            assert!(split == whole, "{:?}: {n} pairs split at {mid}", S::ID);
        }
    }
    assert!(S::multi_miller_loop(&g1[..2], &g2[..1]).is_none(), "lengths must agree");
    assert!(S::multi_pairing(&[], &[]).unwrap() == S::Gt::identity());
}

#[test]
fn miller_halves_multiply_back_in_every_suite() {
    miller_halves_multiply_back::<Bls12_381Blst>(7);
    miller_halves_multiply_back::<Bls12_381Arkworks>(7);
    miller_halves_multiply_back::<Bn254Suite>(7);
    miller_halves_multiply_back::<Bls24_479Suite>(3);
}

/// Decrypts `text` with keys for the `held` attributes both ways; `false` when not satisfied.
fn split_equals_one_thread<S: Suite>(text: &str, held: &[bool], seed: u64) -> bool {
    let policy = Policy::parse(text).unwrap();
    let r = &mut rng(seed);
    let names = ["telekom", "salesforce"];
    let authorities: Vec<AuthoritySecretKey<S>> =
        names.iter().map(|n| AuthoritySecretKey::<S>::setup(n, r).unwrap()).collect();
    let ct = Encryptor::new(authorities.iter().map(|a| a.public_key()))
        .unwrap()
        .encrypt(&policy, b"value", r)
        .unwrap();
    let gid = Gid::new("u", "s").unwrap();
    let keys: Vec<_> = authorities
        .iter()
        .enumerate()
        .filter_map(|(auth, a)| {
            let attrs: Vec<Attribute> = (0..6)
                .filter(|i| held[i + 6 * auth])
                .map(|i| format!("a{i}:v@{}", names[auth]).parse().unwrap())
                .collect();
            (!attrs.is_empty()).then(|| a.keygen(&gid, &attrs, r).unwrap())
        })
        .collect();
    let refs: Vec<_> = keys.iter().collect();
    if refs.is_empty() || !ct.is_satisfied_by(&refs) {
        return false;
    }
    let one = recover_blinding(&ct, &refs, false).unwrap();
    let both = recover_blinding(&ct, &refs, true).unwrap();
    assert!(one == both, "{text}");
    assert_eq!(&*ct.decrypt(&refs).unwrap(), b"value");
    assert_eq!(&*ct.decrypt_on_this_thread(&refs).unwrap(), b"value");
    true
}

/// Random AND/OR/threshold policies over six attributes of two authorities (thresholds give
/// reconstruction coefficients other than 1).
fn policy_text() -> impl Strategy<Value = String> {
    let leaf = (0..6usize, 0..2usize).prop_map(|(i, a)| format!("a{i}:v@{}", ["telekom", "salesforce"][a]));
    leaf.prop_recursive(3, 12, 4, |inner| {
        (proptest::collection::vec(inner, 2..5), 0..3usize, any::<usize>()).prop_map(|(parts, gate, k)| {
            match gate {
                0 => format!("({})", parts.join(" and ")),
                1 => format!("({})", parts.join(" or ")),
                _ => format!("{} of ({})", 1 + k % parts.len(), parts.join(", ")),
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn split_decryption_equals_one_thread(
        text in policy_text(),
        held in proptest::collection::vec(any::<bool>(), 12),
        seed in any::<u32>(),
    ) {
        split_equals_one_thread::<Bls12_381Blst>(&text, &held, u64::from(seed));
    }
}

#[test]
fn split_decryption_equals_one_thread_for_fixed_policies() {
    let all = [true; 12];
    // 1 row (3 pairs: below the split), 2 and 3 rows, a threshold with coefficients ≠ 1.
    for text in [
        "a0:v@telekom",
        "a0:v@telekom and a1:v@salesforce",
        "a0:v@telekom and a1:v@telekom and a2:v@salesforce",
        "2 of (a0:v@telekom, a1:v@telekom, a2:v@salesforce, a3:v@salesforce)",
    ] {
        assert!(split_equals_one_thread::<Bls12_381Blst>(text, &all, 3), "{text}");
    }
    assert!(split_equals_one_thread::<Bls24_479Suite>(
        "2 of (a0:v@telekom, a1:v@telekom, a2:v@salesforce)",
        &all,
        4
    ));
}
