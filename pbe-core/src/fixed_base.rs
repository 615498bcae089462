//! Fixed-base windowed exponentiation tables.
//!
//! Encryption raises the same few bases (`gt`, `g2`, and each authority's `gt^α` and `g2^y`)
//! to fresh scalars for every policy row. A table of `base · (j · 2^{w·i})` turns each such
//! exponentiation into about `⌈bits / w⌉` group additions, instead of a full
//! square-and-multiply chain (DESIGN.md §8: "fixed-base tables for `gt`, `g2` and each
//! authority's public key"). Written once over the suite seam's [`Group`], so the same code
//! serves the target group (written additively) and G2 of every suite.

use ark_ff::{BigInteger, PrimeField};

use crate::suite::Group;

/// Window width used for long-lived bases: 8 bits ⇒ 32 additions per 255-bit exponent.
pub const DEFAULT_WINDOW: usize = 8;

/// Precomputed multiples of one base.
#[derive(Clone)]
pub struct FixedBaseTable<G: Group> {
    window: usize,
    /// `rows[i][j] = base · ((j + 1) · 2^{w·i})`; the zero digit needs no entry.
    rows: Vec<Vec<G>>,
}

impl<G: Group> FixedBaseTable<G> {
    /// Builds the table for `base` with windows of `window` bits (1..=12).
    pub fn new(base: G, window: usize) -> Self {
        let window = window.clamp(1, 12);
        let bits = G::Scalar::MODULUS_BIT_SIZE as usize;
        let windows = bits.div_ceil(window);
        let per_row = (1usize << window) - 1;
        let mut rows = Vec::with_capacity(windows);
        let mut row_base = base;
        for _ in 0..windows {
            let mut row = Vec::with_capacity(per_row);
            let mut acc = row_base.clone();
            for _ in 0..per_row {
                let next = acc.add(&row_base);
                row.push(acc);
                acc = next;
            }
            // `acc` is now row_base · 2^w: the next window's base.
            row_base = acc;
            rows.push(row);
        }
        FixedBaseTable { window, rows }
    }

    /// `base · k`.
    pub fn mul(&self, k: &G::Scalar) -> G {
        let bits = k.into_bigint().to_bits_le();
        let mut acc = G::identity();
        for (row, chunk) in self.rows.iter().zip(bits.chunks(self.window)) {
            let digit = chunk.iter().enumerate().fold(0usize, |d, (i, &b)| d | (usize::from(b) << i));
            if let Some(entry) = digit.checked_sub(1).and_then(|j| row.get(j)) {
                acc = acc.add(entry);
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Bls12_381Suite, Bls24_479Suite, Suite};
    use ark_ff::{UniformRand, Zero};

    fn agrees_with_plain_multiplication<G: Group>(generator: G, window: usize) {
        let mut rng = ark_std::test_rng();
        let base = generator.mul(&G::Scalar::rand(&mut rng));
        let table = FixedBaseTable::new(base.clone(), window);
        let mut scalars = vec![G::Scalar::zero(), G::Scalar::from(1u64), -G::Scalar::from(1u64)];
        scalars.extend((0..4).map(|_| G::Scalar::rand(&mut rng)));
        for k in scalars {
            assert!(table.mul(&k) == base.mul(&k));
        }
    }

    #[test]
    fn g2_table_agrees_with_plain_multiplication() {
        agrees_with_plain_multiplication(Bls12_381Suite::g2_generator(), 5);
        agrees_with_plain_multiplication(Bls12_381Suite::g2_generator(), 8);
        agrees_with_plain_multiplication(Bls24_479Suite::g2_generator(), 4);
    }

    #[test]
    fn gt_table_agrees_with_plain_exponentiation() {
        agrees_with_plain_multiplication(Bls12_381Suite::tables().gt, 4);
        agrees_with_plain_multiplication(Bls24_479Suite::tables().gt, 3);
    }
}
