//! Fixed-base windowed exponentiation tables, and constant-time multiplication by secret
//! scalars.
//!
//! Encryption raises the same few bases (`gt`, `g2`, and each authority's `gt^α` and `g2^y`)
//! to fresh scalars for every policy row. A table of `base · (j · 2^{w·i})` turns each such
//! exponentiation into about `⌈bits / w⌉` group additions, instead of a full
//! square-and-multiply chain (DESIGN.md §8: "fixed-base tables for `gt`, `g2` and each
//! authority's public key"). Written once over the suite seam's [`Group`], so the same code
//! serves the target group (written additively) and G2 of every suite.
//!
//! **Constant time.** Every scalar given to a table is secret (α and y at setup, each key
//! component's `t`, the encryption's `z`, shares `λ`/`ω`, row randomness and session key), so
//! [`FixedBaseTable::mul`] and [`ct_mul`] are written without secret-dependent control flow
//! or memory access (issue 23, item 1):
//! - the digits are read from the scalar's limbs with shifts and masks;
//! - every entry of a window's row is read and the wanted one kept with a masked move
//!   ([`Group::ct_assign_entry`]); no entry is indexed by the digit; the digits are signed
//!   (recoded with shifts and masks), and a negative one negates the entry, computed
//!   either way and kept by a masked move ([`Group::ct_neg_entry`]);
//! - entries are kept in the group's [`Group::TableEntry`] form: affine points for blst's and
//!   arkworks' G1 and G2 (2/3 of a projective point to scan, and a mixed addition, which
//!   blst computes without a branch), the group element itself elsewhere (issue 22);
//! - every window performs one addition: a zero digit adds a dummy entry whose sum is then
//!   discarded by a masked move, so zero digits are not skipped;
//! - the accumulator starts at a non-neutral point (the scalar is offset so that the sum
//!   comes out right), so the libraries' "is this the identity?" shortcuts in point addition
//!   are never taken for a random scalar.
//!
//! What this does not cover is the field arithmetic underneath: arkworks makes no
//! constant-time claim for its field operations (its Montgomery multiplication ends with a
//! conditional subtraction); MIRACL's are written to be constant-time. docs/security-model.md
//! "Constant time" lists exactly which paths are constant-time per suite.

use ark_ff::{Field, PrimeField};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::suite::Group;

/// Window width used for long-lived bases at 128-bit (see `Suite::TABLE_WINDOW`). With a
/// constant-time scan every multiplication reads the whole table, so the fastest width is
/// where `⌈bits/w⌉` additions balance `⌈bits/w⌉ · 2^{w−1}` masked moves (signed digits) (measured in
/// docs/performance.md).
pub const DEFAULT_WINDOW: usize = 6;

/// Window width of [`ct_mul`] (a variable base, so its table is built per call).
const VARIABLE_BASE_WINDOW: usize = 4;

/// The `w`-bit digit of `limbs` (little-endian 64-bit limbs) starting at bit `pos`. The
/// position is public; the value is read with shifts and masks only.
fn digit(limbs: &[u64], pos: usize, w: usize) -> u64 {
    let mask = (1u64 << w) - 1;
    let (limb, off) = (pos / 64, pos % 64);
    let lo = limbs.get(limb).copied().unwrap_or(0) >> off;
    let hi = if off + w > 64 { limbs.get(limb + 1).copied().unwrap_or(0) << (64 - off) } else { 0 };
    (lo | hi) & mask
}

/// Scans `entries` (entry `j` stands for digit `j + 1`) and returns the one for `d`, or the
/// first entry as a dummy when `d = 0`, reading every entry ([`Group::ct_select_entry`]).
fn select<G: Group>(entries: &[G::TableEntry], d: u64) -> Option<G::TableEntry> {
    G::ct_select_entry(entries, d)
}

/// `acc ← acc + entry` when `d ≠ 0`; the addition is computed either way.
fn add_unless_zero<G: Group>(acc: &mut G, entry: &G::TableEntry, d: u64) {
    let sum = acc.add_entry(entry);
    acc.ct_assign(&sum, !d.ct_eq(&0));
}

/// The signed `w`-bit digits of `limbs` (little-endian), in constant time: window `i` holds
/// `d_i ∈ [−2^{w−1}, 2^{w−1}]` with `Σ d_i·2^{w·i} + carry·2^{w·windows}` equal to the
/// scalar. Returned as (|d_i|, 1 if d_i < 0) pairs, and the final carry (0 or 1).
///
/// Signed digits halve the table (only `1..=2^{w−1}` times each window's base are stored,
/// a negative digit negates the entry), and so halve the constant-time scan that reads
/// every entry of every window.
fn signed_digits(limbs: &[u64], windows: usize, w: usize) -> (Vec<(u64, u64)>, u64) {
    let half = 1u64 << (w - 1);
    let mut carry = 0u64;
    let mut out = Vec::with_capacity(windows);
    for i in 0..windows {
        // raw ∈ [0, 2^w]; it becomes raw − 2^w (and carries 1) when raw ≥ 2^{w−1}.
        let raw = digit(limbs, i * w, w) + carry;
        carry = (raw + half) >> w;
        let signed = raw.wrapping_sub(carry << w);
        let negative = signed >> 63;
        // |signed| without a branch: (x ^ m) − m with m all ones when x < 0.
        let mask = negative.wrapping_neg();
        out.push(((signed ^ mask).wrapping_sub(mask), negative));
    }
    (out, carry)
}

/// Precomputed multiples of one base.
///
/// Memory: `⌈bits/w⌉ · 2^{w−1}` entries of [`Group::TableEntry`] (see [`FixedBaseTable::bytes`]).
#[derive(Clone)]
pub struct FixedBaseTable<G: Group> {
    window: usize,
    /// The base itself, where the accumulator starts.
    base: G,
    /// `rows[i][j] = base · ((j + 1) · 2^{w·i})` for `j < 2^{w−1}` (signed digits; the zero
    /// digit needs no entry), in the group's table form (affine for blst's G1 and G2).
    rows: Vec<Vec<G::TableEntry>>,
    /// `base · 2^{w·windows}`, added when the signed recoding carries out of the top window.
    carry: G,
}

impl<G: Group> FixedBaseTable<G> {
    /// Builds the table for `base` with windows of `window` bits (1..=12).
    pub fn new(base: G, window: usize) -> Self {
        let window = window.clamp(1, 12);
        let bits = G::Scalar::MODULUS_BIT_SIZE as usize;
        let windows = bits.div_ceil(window);
        let per_row = 1usize << (window - 1);
        // All rows are built first and converted together: one shared inversion where the
        // entries become affine.
        let mut all = Vec::with_capacity(windows * per_row);
        let mut row_base = base.clone();
        for _ in 0..windows {
            let mut acc = row_base.clone();
            for _ in 0..per_row {
                let next = acc.add(&row_base);
                all.push(acc);
                acc = next;
            }
            // The next window's base: row_base · 2^w.
            for _ in 0..window {
                row_base = row_base.double();
            }
        }
        let mut entries = G::table_entries(all).into_iter();
        let rows = (0..windows).map(|_| entries.by_ref().take(per_row).collect()).collect();
        FixedBaseTable { window, base, rows, carry: row_base }
    }

    /// The window width in bits.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The memory the entries take (their count times the entry size; the vectors' headers
    /// aside).
    pub fn bytes(&self) -> usize {
        self.rows.iter().map(Vec::len).sum::<usize>() * std::mem::size_of::<G::TableEntry>()
    }

    /// `base · k`, in constant time with respect to `k` (see the module documentation).
    pub fn mul(&self, k: &G::Scalar) -> G {
        // The accumulator starts at `base` (never the identity), so the digits are those of
        // k − 1: base + (k − 1)·base = k·base.
        let mut shifted = *k - G::Scalar::ONE;
        let mut limbs = shifted.into_bigint();
        let (mut digits, carry) = signed_digits(limbs.as_ref(), self.rows.len(), self.window);
        let mut acc = self.base.clone();
        for (row, &(magnitude, negative)) in self.rows.iter().zip(&digits) {
            let Some(mut entry) = select::<G>(row, magnitude) else { continue };
            G::ct_neg_entry(&mut entry, negative.ct_eq(&1));
            add_unless_zero(&mut acc, &entry, magnitude);
            entry.zeroize();
        }
        add_unless_zero_full(&mut acc, &self.carry, carry);
        shifted.zeroize();
        limbs.as_mut().zeroize();
        digits.zeroize();
        acc
    }

    /// `base · k` the plain way (variable time), for public scalars and for tests.
    pub fn mul_vartime(&self, k: &G::Scalar) -> G {
        let limbs = k.into_bigint();
        let (digits, carry) = signed_digits(limbs.as_ref(), self.rows.len(), self.window);
        let mut acc = G::identity();
        for (row, &(magnitude, negative)) in self.rows.iter().zip(&digits) {
            let Some(entry) = magnitude.checked_sub(1).and_then(|j| row.get(j as usize)) else { continue };
            let mut entry = entry.clone();
            G::ct_neg_entry(&mut entry, negative.ct_eq(&1));
            acc = acc.add_entry(&entry);
        }
        if carry == 1 {
            acc = acc.add(&self.carry);
        }
        acc
    }
}

/// `acc ← acc + p` when `d ≠ 0` (a full addition); computed either way.
fn add_unless_zero_full<G: Group>(acc: &mut G, p: &G, d: u64) {
    let sum = acc.add(p);
    acc.ct_assign(&sum, !d.ct_eq(&0));
}

/// `p · k` for a secret `k` and any base `p`: fixed 4-bit windows from the top, four
/// doublings and one (possibly dummy) addition per window, every entry of the 15-entry table
/// scanned. About 1.3× arkworks' variable-time GLV multiplication in G1.
///
/// The accumulator starts at `p` (never the identity): after all windows it holds
/// `2^{4n}·p + k'·p`, so the digits are those of `k' = k − 2^{4n} mod r`.
pub fn ct_mul<G: Group>(p: &G, k: &G::Scalar) -> G {
    let w = VARIABLE_BASE_WINDOW;
    let windows = (G::Scalar::MODULUS_BIT_SIZE as usize).div_ceil(w);
    let mut multiples = Vec::with_capacity((1 << w) - 1);
    let mut next = p.clone();
    for _ in 0..(1 << w) - 1 {
        let following = next.add(p);
        multiples.push(next);
        next = following;
    }
    let entries = G::table_entries(multiples);
    let offset = G::Scalar::from(2u64).pow([(w * windows) as u64]);
    let shifted = *k - offset;
    let limbs = shifted.into_bigint();
    let limbs = limbs.as_ref();
    let mut acc = p.clone();
    for i in (0..windows).rev() {
        for _ in 0..w {
            acc = acc.double();
        }
        let d = digit(limbs, i * w, w);
        let Some(entry) = select::<G>(&entries, d) else { continue };
        add_unless_zero(&mut acc, &entry, d);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Bls12_381Suite, Bls24_479Suite, Bls48_581Suite, Bn254Suite, Suite};
    use ark_ff::UniformRand;
    use proptest::prelude::*;

    fn edge_scalars<F: PrimeField>() -> Vec<F> {
        let two = F::from(2u64);
        vec![
            F::zero(),
            F::one(),
            -F::one(),
            two,
            // Digits of k − 1 and of k − 2^{4n} that are all zero / all ones.
            two.pow([64u64]),
            two.pow([(F::MODULUS_BIT_SIZE as usize).div_ceil(VARIABLE_BASE_WINDOW) as u64 * 4]),
            -two.pow([100u64]),
        ]
    }

    fn agrees_with_plain_multiplication<G: Group>(generator: G, window: usize) {
        let mut rng = ark_std::test_rng();
        let base = generator.mul(&G::Scalar::rand(&mut rng));
        let table = FixedBaseTable::new(base.clone(), window);
        let mut scalars = edge_scalars::<G::Scalar>();
        scalars.extend((0..4).map(|_| G::Scalar::rand(&mut rng)));
        for k in scalars {
            let plain = base.mul(&k);
            assert!(table.mul(&k) == plain, "table, window {window}");
            assert!(table.mul_vartime(&k) == plain, "vartime table, window {window}");
            assert!(ct_mul(&base, &k) == plain, "ct_mul");
        }
        assert!(ct_mul(&G::identity(), &G::Scalar::rand(&mut rng)) == G::identity());
    }

    #[test]
    fn g2_table_agrees_with_plain_multiplication() {
        agrees_with_plain_multiplication(Bls12_381Suite::g2_generator(), 5);
        agrees_with_plain_multiplication(Bls12_381Suite::g2_generator(), 8);
        agrees_with_plain_multiplication(Bn254Suite::g2_generator(), 6);
        agrees_with_plain_multiplication(Bls24_479Suite::g2_generator(), 4);
        agrees_with_plain_multiplication(Bls48_581Suite::g2_generator(), 3);
    }

    #[test]
    fn g1_ct_mul_agrees_with_plain_multiplication() {
        agrees_with_plain_multiplication(Bls12_381Suite::g1_generator(), 7);
        agrees_with_plain_multiplication(Bn254Suite::g1_generator(), 4);
        agrees_with_plain_multiplication(Bls24_479Suite::g1_generator(), 4);
        agrees_with_plain_multiplication(Bls48_581Suite::g1_generator(), 4);
    }

    #[test]
    fn gt_table_agrees_with_plain_exponentiation() {
        agrees_with_plain_multiplication(Bls12_381Suite::tables().gt, 4);
        agrees_with_plain_multiplication(Bn254Suite::tables().gt, 6);
        agrees_with_plain_multiplication(Bls24_479Suite::tables().gt, 3);
        agrees_with_plain_multiplication(Bls48_581Suite::tables().gt, 2);
    }

    /// The signed recoding gives back the scalar for every window width, on edge and random
    /// limbs (checked with i128 arithmetic on 2-limb values).
    #[test]
    fn signed_digits_reconstruct_the_scalar() {
        let mut rng = ark_std::test_rng();
        // 120-bit values: every partial sum and the carry's weight fit an i128.
        let mut values: Vec<u128> = vec![0, 1, u128::MAX >> 8, 1 << 100, (1 << 119) - 1, 0x5555_5555 << 60];
        values.extend((0..64).map(|_| ark_std::rand::Rng::gen::<u128>(&mut rng) >> 8));
        for w in 1..=12usize {
            let windows = 120usize.div_ceil(w);
            for &v in &values {
                let limbs = [v as u64, (v >> 64) as u64];
                let (digits, carry) = signed_digits(&limbs, windows, w);
                let mut sum: i128 = 0;
                for (i, &(magnitude, negative)) in digits.iter().enumerate() {
                    assert!(magnitude <= 1 << (w - 1), "w {w}: |digit| {magnitude}");
                    let d = if negative == 1 { -(magnitude as i128) } else { magnitude as i128 };
                    assert!(negative == 0 || magnitude != 0);
                    sum += d << (w * i);
                }
                if carry == 1 {
                    assert!(w * windows <= 121, "w {w}: a carry past the top bit");
                    sum += 1i128 << (w * windows);
                }
                assert_eq!(sum as u128, v, "w {w}");
            }
        }
    }

    /// `ct_select_entry` returns entry `d − 1` for every digit of a row, and the first entry
    /// (the dummy) for `d = 0` and for digits past the row, in the backend's override and in
    /// the trait's default alike.
    fn select_picks_each_index<G: Group>(generator: G) {
        let mut rng = ark_std::test_rng();
        let base = generator.mul(&G::Scalar::rand(&mut rng));
        let as_point = |e: &G::TableEntry| G::identity().add_entry(e);
        for len in [1usize, 2, 8, 32] {
            let points: Vec<G> = (1..=len as u64).map(|j| base.mul(&G::Scalar::from(j))).collect();
            let entries = G::table_entries(points.clone());
            for d in 0..=len as u64 + 2 {
                let want = match d {
                    0 => &points[0],
                    d if d as usize > len => &points[0],
                    d => &points[d as usize - 1],
                };
                let got = G::ct_select_entry(&entries, d).expect("a non-empty row");
                assert!(as_point(&got) == *want, "len {len}, digit {d}");
                // The trait's default scan, entry by entry, agrees.
                let mut reference = entries[0].clone();
                for (j, e) in entries.iter().enumerate().skip(1) {
                    G::ct_assign_entry(&mut reference, e, (j as u64 + 1).ct_eq(&d));
                }
                assert!(as_point(&reference) == *want, "default, len {len}, digit {d}");
            }
            assert!(G::ct_select_entry(&entries, u64::MAX).is_some());
        }
        assert!(G::ct_select_entry(&[], 1).is_none());
    }

    #[test]
    fn select_picks_each_index_in_every_group() {
        use crate::suite::{Bls12_381Arkworks, Bls12_381Blst};
        select_picks_each_index(Bls12_381Blst::g1_generator());
        select_picks_each_index(Bls12_381Blst::g2_generator());
        select_picks_each_index(Bls12_381Blst::tables().gt);
        select_picks_each_index(Bls12_381Arkworks::g1_generator());
        select_picks_each_index(Bls12_381Arkworks::g2_generator());
        select_picks_each_index(Bls12_381Arkworks::tables().gt);
        select_picks_each_index(Bn254Suite::g1_generator());
        select_picks_each_index(Bn254Suite::g2_generator());
        select_picks_each_index(Bn254Suite::tables().gt);
        select_picks_each_index(Bls24_479Suite::g1_generator());
        select_picks_each_index(Bls24_479Suite::g2_generator());
        select_picks_each_index(Bls48_581Suite::g1_generator());
    }

    #[test]
    fn digits_cross_limb_boundaries() {
        let limbs = [0xF000_0000_0000_0000u64, 0x0000_0000_0000_000Bu64];
        assert_eq!(digit(&limbs, 60, 6), 0b11_1111 & ((0xB << 4) | 0xF));
        assert_eq!(digit(&limbs, 64, 4), 0xB);
        assert_eq!(digit(&limbs, 200, 5), 0);
    }

    /// The suite tables (built once per process) against the plain multiplication, on random
    /// scalars, for every suite.
    fn suite_tables_agree<S: Suite>(k: S::Scalar) {
        let t = S::tables();
        assert!(t.g2_table.mul(&k) == S::g2_generator().mul(&k));
        assert!(t.gt_table.mul(&k) == t.gt.mul(&k));
        assert!(S::g1_generator().mul_secret(&k) == S::g1_generator().mul(&k));
    }

    fn scalar<F: PrimeField>() -> impl Strategy<Value = F> {
        any::<[u8; 64]>().prop_map(|b| F::from_le_bytes_mod_order(&b))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn tables_agree_bn254(k in scalar::<ark_bn254::Fr>()) { suite_tables_agree::<Bn254Suite>(k) }
        #[test]
        fn tables_agree_bls12_381(k in scalar::<ark_bls12_381::Fr>()) { suite_tables_agree::<Bls12_381Suite>(k) }
    }

    proptest! {
        // The MIRACL suites' multiplications cost milliseconds: fewer cases.
        #![proptest_config(ProptestConfig::with_cases(6))]
        #[test]
        fn tables_agree_bls24_479(k in scalar::<crate::suite::Fr<Bls24_479Suite>>()) {
            suite_tables_agree::<Bls24_479Suite>(k)
        }
        #[test]
        fn tables_agree_bls48_581(k in scalar::<crate::suite::Fr<Bls48_581Suite>>()) {
            suite_tables_agree::<Bls48_581Suite>(k)
        }
    }
}
