#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ark_ff::{One, PrimeField};

use super::*;
use crate::suite::{Bls12_381Arkworks, Bls12_381Blst, Bn254Suite};

/// 0, 1, −1 (= r − 1), 2, low- and high-weight scalars, and random ones.
fn scalars<F: PrimeField>() -> Vec<F> {
    let mut rng = ark_std::test_rng();
    let two = F::from(2u64);
    let mut out = vec![
        F::zero(),
        F::one(),
        -F::one(),
        two,
        two.pow([200u64]),
        -two.pow([100u64]),
        // All ones in the low 250 bits: high Hamming weight.
        two.pow([250u64]) - F::one(),
    ];
    out.extend((0..4).map(|_| F::rand(&mut rng)));
    out
}

/// Before and after its table is built, `F(u)^t` equals the plain multiplication of `F(u)`.
fn table_agrees<S: Suite>(window: usize) {
    let memo = AttributeHashes::<S>::with_window(window);
    let attribute = "time:2026-12-02@telekom";
    let hash = S::hash_attribute(attribute);
    let mut uses = 0u32;
    for k in scalars::<Fr<S>>() {
        assert!(memo.mul_secret(attribute, &k) == hash.mul(&k), "window {window}, use {uses}");
        uses += 1;
    }
    assert!(uses > TABLE_AFTER_USES);
    assert!(memo.has_table(attribute), "a table after {TABLE_AFTER_USES} uses");
    for k in scalars::<Fr<S>>() {
        assert!(memo.mul_secret(attribute, &k) == hash.mul(&k), "window {window}, with the table");
    }
    assert!(memo.get(attribute) == hash);
}

#[test]
fn attribute_tables_agree_with_plain_multiplication() {
    table_agrees::<Bls12_381Blst>(6);
    table_agrees::<Bls12_381Blst>(4);
    table_agrees::<Bls12_381Arkworks>(5);
    table_agrees::<Bn254Suite>(6);
}

#[test]
fn no_table_before_enough_uses() {
    let memo = AttributeHashes::<Bls12_381Blst>::with_window(3);
    let t = Fr::<Bls12_381Blst>::one();
    for _ in 1..TABLE_AFTER_USES {
        memo.mul_secret("a:x@h", &t);
    }
    assert!(!memo.has_table("a:x@h"));
    assert_eq!(memo.table_count(), (0, 0));
    memo.mul_secret("a:x@h", &t);
    assert!(memo.has_table("a:x@h"));
    let (count, bytes) = memo.table_count();
    assert_eq!(count, 1);
    assert!(bytes > 0);
}

/// More hot attributes than the bound: the count stays at the bound, the least recently used
/// table goes first, and every result stays correct.
#[test]
fn tables_are_bounded_and_evicted_least_recently_used() {
    type S = Bls12_381Blst;
    let memo = AttributeHashes::<S>::with_window(2);
    let names: Vec<String> = (0..MAX_ATTRIBUTE_TABLES + 3).map(|i| format!("a:v{i}@h")).collect();
    let t = Fr::<S>::from(12_345u64);
    for name in &names[..MAX_ATTRIBUTE_TABLES] {
        for _ in 0..TABLE_AFTER_USES {
            memo.mul_secret(name, &t);
        }
    }
    assert_eq!(memo.table_count().0, MAX_ATTRIBUTE_TABLES);
    // Attribute 0 is used again, so attribute 1 is now the least recently used table.
    memo.mul_secret(&names[0], &t);
    for name in &names[MAX_ATTRIBUTE_TABLES..] {
        for _ in 0..TABLE_AFTER_USES {
            let got = memo.mul_secret(name, &t);
            assert!(got == S::hash_attribute(name).mul(&t));
        }
        assert!(memo.has_table(name), "{name}");
    }
    assert_eq!(memo.table_count().0, MAX_ATTRIBUTE_TABLES);
    assert!(memo.has_table(&names[0]), "recently used: kept");
    assert!(!memo.has_table(&names[1]), "least recently used: evicted");
    assert!(!memo.has_table(&names[2]));
    assert!(!memo.has_table(&names[3]));
    assert!(memo.has_table(&names[4]));
    // An evicted attribute still multiplies correctly (from its memoised hash), and earns a
    // table again only after as many fresh uses.
    for i in 0..TABLE_AFTER_USES {
        assert!(memo.mul_secret(&names[1], &t) == S::hash_attribute(&names[1]).mul(&t));
        assert_eq!(memo.has_table(&names[1]), i + 1 >= TABLE_AFTER_USES);
    }
    assert_eq!(memo.table_count().0, MAX_ATTRIBUTE_TABLES);
    let (_, bytes) = memo.table_count();
    assert!(bytes <= MAX_TABLE_BYTES);
}

/// The byte bound: tables too large for the budget are built, used once, and not kept.
#[test]
fn byte_bound_holds_and_the_window_sets_the_size() {
    type S = Bls12_381Blst;
    let table = FixedBaseTable::new(S::g1_generator(), 6);
    // 43 windows × 32 affine entries × 96 bytes.
    assert_eq!(table.bytes(), 43 * 32 * 96);
    assert!(MAX_ATTRIBUTE_TABLES * table.bytes() <= MAX_TABLE_BYTES);
}

/// Many threads on the same few attributes: one table each, and correct values throughout.
#[test]
fn concurrent_uses_build_one_table_per_attribute() {
    type S = Bls12_381Blst;
    let memo = AttributeHashes::<S>::with_window(4);
    let t = Fr::<S>::from(7u64);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for i in 0..3 * TABLE_AFTER_USES {
                    let name = format!("a:v{}@h", i % 3);
                    assert!(memo.mul_secret(&name, &t) == S::hash_attribute(&name).mul(&t));
                }
            });
        }
    });
    assert_eq!(memo.table_count().0, 3);
}
