//! The shares' group elements `gt^λx` and `g2^ωx` of every row from one power per column.
//!
//! Encryption needs, for each row `x` with vector `A_x`, `gt^(A_x·v)` and `g2^(A_x·w)`. Done
//! row by row that is two constant-time table multiplications per row. But the matrix of a
//! policy built from AND/OR gates has entries 0 and ±1 only (thresholds add small Vandermonde
//! entries), and it is public: so `gt^(A_x·v) = Π_j (gt^(v_j))^(A_xj)` costs one table
//! multiplication per *column* and a few group additions per row. Policies have fewer columns
//! than rows (an OR adds rows, not columns), so this saves about one GT and one G2 table
//! multiplication per row. The values are the same group elements either way, so the
//! ciphertext is bit-for-bit what the row-by-row computation gives for the same randomness.
//!
//! Branching on the entries is safe: they are the public policy's matrix. The powers are
//! secret (functions of `v` and `w`) and are wiped by [`ColumnPowers::zeroize`].

use ark_ff::Zero;
use zeroize::Zeroize;

use crate::lsss::Lsss;
use crate::suite::{Fr, Group, Gt, Suite, G2};

/// Largest |entry| combined by repeated addition; larger entries use the row's dot product.
const SMALL_ENTRY: i8 = 8;

/// `gt^(v_j)` and `g2^(w_j)` for every column `j`, and each row's small integer entries.
pub(crate) struct ColumnPowers<S: Suite> {
    gt_v: Vec<Gt<S>>,
    g2_w: Vec<G2<S>>,
    entries: Vec<Vec<i8>>,
}

impl<S: Suite> ColumnPowers<S> {
    /// The powers for `lsss` with secret vectors `v` (sharing the secret) and `w` (sharing
    /// zero), or `None` when the per-row computation is as cheap or some entry is not small.
    pub(crate) fn new(lsss: &Lsss<Fr<S>>, v: &[Fr<S>], w: &[Fr<S>]) -> Option<Self> {
        let rows = lsss.rows();
        if lsss.columns() >= rows.len() {
            return None;
        }
        let entries = rows
            .iter()
            .map(|row| row.vector.iter().map(small_entry).collect::<Option<Vec<i8>>>())
            .collect::<Option<Vec<_>>>()?;
        let tables = S::tables();
        let columns: Vec<(&Fr<S>, &Fr<S>)> = v.iter().zip(w).collect();
        let mut powers = vec![(Gt::<S>::identity(), G2::<S>::identity()); columns.len()];
        crate::parallel::fill(&columns, &mut powers, |(vj, wj), (gt, g2)| {
            *gt = tables.gt_table.mul(vj);
            // w_1 = 0 by construction: its power is the identity, no table scan needed.
            *g2 = if wj.is_zero() { G2::<S>::identity() } else { tables.g2_table.mul(wj) };
        });
        let mut gt_v = Vec::with_capacity(powers.len());
        let mut g2_w = Vec::with_capacity(powers.len());
        for (gt, g2) in &mut powers {
            gt_v.push(gt.clone());
            g2_w.push(g2.clone());
            gt.zeroize();
            g2.zeroize();
        }
        Some(ColumnPowers { gt_v, g2_w, entries })
    }

    /// `gt^λx` of row `x` (the identity for a row that does not exist).
    pub(crate) fn row_gt(&self, x: usize) -> Gt<S> {
        self.entries.get(x).map_or_else(Gt::<S>::identity, |entries| combine(entries, &self.gt_v))
    }

    /// `g2^ωx` of row `x` (the identity for a row that does not exist).
    pub(crate) fn row_g2(&self, x: usize) -> G2<S> {
        self.entries.get(x).map_or_else(G2::<S>::identity, |entries| combine(entries, &self.g2_w))
    }

    /// `gt^z`, the first column's power (`v_1 = z`, the shared secret), which gives
    /// `C0 = gt^m · gt^z` for one GT product; `None` only for a matrix without columns.
    pub(crate) fn gt_z(&self) -> Option<Gt<S>> {
        self.gt_v.first().cloned()
    }

    /// Wipes the powers.
    pub(crate) fn zeroize(&mut self) {
        self.gt_v.zeroize();
        self.g2_w.zeroize();
    }
}

/// `Σ_j entries_j · powers_j` by additions (the group written additively).
fn combine<G: Group>(entries: &[i8], powers: &[G]) -> G {
    let mut acc = G::identity();
    for (&e, p) in entries.iter().zip(powers) {
        for _ in 0..e.unsigned_abs() {
            acc = if e > 0 { acc.add(p) } else { acc.sub(p) };
        }
    }
    acc
}

/// `a` as a small integer `k` with |k| ≤ [`SMALL_ENTRY`], if it is one.
fn small_entry<F: ark_ff::PrimeField>(a: &F) -> Option<i8> {
    let mut k = F::zero();
    for i in 0..=SMALL_ENTRY {
        if *a == k {
            return Some(i);
        }
        if *a == -k {
            return Some(-i);
        }
        k += F::one();
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::suite::Bn254Suite;
    use ark_ff::UniformRand;

    type S = Bn254Suite;

    #[test]
    fn small_entries_are_recognised_and_large_ones_refused() {
        for k in -8i64..=8 {
            let f = if k >= 0 { Fr::<S>::from(k as u64) } else { -Fr::<S>::from((-k) as u64) };
            assert_eq!(small_entry(&f), Some(k as i8));
        }
        assert_eq!(small_entry(&Fr::<S>::from(9u64)), None);
        assert_eq!(small_entry(&-Fr::<S>::from(9u64)), None);
        assert_eq!(small_entry(&Fr::<S>::from(1u64 << 40)), None);
    }

    /// Every row's powers equal the row-by-row table multiplications, for AND/OR policies and
    /// for thresholds (whose larger entries must fall back).
    #[test]
    fn rows_match_the_dot_products() {
        let rng = &mut <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(7);
        let tables = S::tables();
        for text in [
            "(a:x@h or a:y@h or a:z@h) and (b:x@h or b:y@h) and c:x@h",
            "a:x@h and (b:x@h or (c:x@h and d:x@h)) and (e:x@h or e:y@h or e:z@h or e:w@h)",
            "2 of (a:x@h, b:x@h, c:x@h) and (d:x@h or d:y@h or d:z@h or d:w@h or d:v@h)",
        ] {
            let policy: crate::policy::Policy = text.parse().unwrap();
            let lsss = Lsss::<Fr<S>>::from_policy(&policy).unwrap();
            let v: Vec<Fr<S>> = (0..lsss.columns()).map(|_| Fr::<S>::rand(rng)).collect();
            let mut w: Vec<Fr<S>> = (0..lsss.columns()).map(|_| Fr::<S>::rand(rng)).collect();
            w[0] = Fr::<S>::zero();
            let Some(powers) = ColumnPowers::<S>::new(&lsss, &v, &w) else {
                assert!(lsss.columns() >= lsss.rows().len() || text.contains(" of "), "{text}");
                continue;
            };
            assert!(powers.gt_z() == Some(tables.gt_table.mul(&v[0])), "{text}");
            for (x, row) in lsss.rows().iter().enumerate() {
                let lambda: Fr<S> = row.vector.iter().zip(&v).map(|(a, b)| *a * b).sum();
                let omega: Fr<S> = row.vector.iter().zip(&w).map(|(a, b)| *a * b).sum();
                assert!(powers.row_gt(x) == tables.gt_table.mul(&lambda), "{text} row {x}");
                assert!(powers.row_g2(x) == tables.g2_table.mul(&omega), "{text} row {x}");
            }
        }
    }
}
