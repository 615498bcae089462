//! The target group of the blst backend: `F_p¹²` elements, encoded as arkworks encodes its
//! `Fq12` (see the parent module's documentation for the coefficient order).

use ark_ff::PrimeField;
use ark_serialize::{Compress, Validate};
use blst::{blst_fp, blst_fp12};
use subtle::Choice;
use zeroize::Zeroize;

use super::{ct_select, ffi, Flat, Fr, Limbs};
use crate::suite::Group;

/// Bytes of one `F_p` coefficient.
const FP_LEN: usize = 48;
/// Bytes of an encoded GT element (12 coefficients, compressed or not: arkworks writes field
/// elements the same way in both forms).
const GT_LEN: usize = 12 * FP_LEN;

/// A target-group element of the blst backend (written additively, as the seam wants:
/// `add` is the `F_p¹²` product).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlstGt(pub(super) blst_fp12);

/// The twelve coefficients in arkworks' serialization order.
fn coefficients(x: &blst_fp12) -> impl Iterator<Item = &blst_fp> {
    x.fp6.iter().flat_map(|f6| f6.fp2.iter()).flat_map(|f2| f2.fp.iter())
}

/// Mutable coefficients, same order.
fn coefficients_mut(x: &mut blst_fp12) -> impl Iterator<Item = &mut blst_fp> {
    x.fp6.iter_mut().flat_map(|f6| f6.fp2.iter_mut()).flat_map(|f2| f2.fp.iter_mut())
}

/// Whether `conj(x) · x = 1`: true for every element of GT (order dividing `p⁶ + 1`), false
/// for zero. One `F_p¹²` product, against ≈1 ms for the subgroup check (the arkworks suite's
/// `is_unitary`).
fn is_unitary(x: &blst_fp12) -> bool {
    ffi::fp12_is_one(&ffi::fp12_mul(&ffi::fp12_conjugate(x), x))
}

impl std::fmt::Debug for BlstGt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut bytes = Vec::with_capacity(GT_LEN);
        self.encode(Compress::Yes, &mut bytes);
        f.write_str("BlstGt(")?;
        for b in bytes {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Zeroize for BlstGt {
    fn zeroize(&mut self) {
        self.0.wipe();
    }
}

impl Limbs for BlstGt {
    #[inline(always)]
    fn masked_copy(&mut self, other: &Self, mask: u64) {
        self.0.masked_copy(&other.0, mask);
    }

    fn wipe(&mut self) {
        self.0.wipe();
    }
}

impl Flat for BlstGt {
    const N: usize = <blst_fp12 as Flat>::N;

    #[inline(always)]
    fn limbs(&self) -> &[u64] {
        self.0.limbs()
    }

    #[inline(always)]
    fn limbs_mut(&mut self) -> &mut [u64] {
        self.0.limbs_mut()
    }
}

impl Group for BlstGt {
    type Scalar = Fr;

    fn identity() -> Self {
        BlstGt(ffi::fp12_one())
    }

    fn add(&self, other: &Self) -> Self {
        BlstGt(ffi::fp12_mul(&self.0, &other.0))
    }

    fn neg(&self) -> Self {
        // The inverse of a unitary element is its conjugate (as in arkworks' GT).
        BlstGt(ffi::fp12_conjugate(&self.0))
    }

    fn double(&self) -> Self {
        BlstGt(ffi::fp12_cyclotomic_sqr(&self.0))
    }

    /// Variable time (public exponents only: the decryption's reconstruction coefficients):
    /// 4-bit fixed windows over cyclotomic squarings.
    fn mul(&self, k: &Fr) -> Self {
        let limbs = k.into_bigint();
        // table[j] = self^j
        let mut table = Vec::with_capacity(16);
        let mut power = ffi::fp12_one();
        table.push(power);
        for _ in 1..16 {
            power = ffi::fp12_mul(&power, &self.0);
            table.push(power);
        }
        let mut acc = ffi::fp12_one();
        for limb in limbs.as_ref().iter().rev() {
            for shift in (0..16).rev() {
                for _ in 0..4 {
                    acc = ffi::fp12_cyclotomic_sqr(&acc);
                }
                let digit = ((limb >> (4 * shift)) & 0xf) as usize;
                if digit != 0 {
                    if let Some(entry) = table.get(digit) {
                        acc = ffi::fp12_mul(&acc, entry);
                    }
                }
            }
        }
        BlstGt(acc)
    }

    entries_as_self!();

    fn ct_select_entry(entries: &[BlstGt], d: u64) -> Option<BlstGt> {
        ct_select(entries, d)
    }

    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        self.0.ct_assign(&other.0, choice);
    }

    fn encoded_len(_form: Compress) -> usize {
        GT_LEN
    }

    fn encode(&self, _form: Compress, out: &mut Vec<u8>) {
        for c in coefficients(&self.0) {
            out.extend_from_slice(&ffi::fp_to_le(c));
        }
    }

    fn decode(bytes: &[u8], _form: Compress, check: Validate) -> Option<Self> {
        if bytes.len() != GT_LEN {
            return None;
        }
        let mut x = ffi::fp12_one();
        for (c, chunk) in coefficients_mut(&mut x).zip(bytes.chunks_exact(FP_LEN)) {
            let chunk: &[u8; FP_LEN] = chunk.try_into().ok()?;
            *c = ffi::fp_from_le(chunk);
            // blst reduces modulo p; arkworks refuses a coefficient ≥ p. Reduction changed
            // the value exactly when the round trip differs.
            if ffi::fp_to_le(c) != *chunk {
                return None;
            }
        }
        if !is_unitary(&x) || ffi::fp12_is_one(&x) {
            return None;
        }
        if check == Validate::Yes && !ffi::fp12_in_group(&x) {
            return None;
        }
        Some(BlstGt(x))
    }
}
