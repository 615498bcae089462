//! BLS12-381 on blst (supranational's assembly-optimised library), wire-compatible with the
//! arkworks suite [`super::Bls12_381Arkworks`]: the same [`SuiteId`], the same scalar field
//! type (arkworks' `Fr`, so the LSSS and scalar arithmetic are shared), the same encodings and
//! the same hashes. A key or ciphertext written by one backend is read by the other, byte
//! for byte (`tests/it/blst_cross.rs`).
//!
//! - **Encodings.** G1 and G2 use the ZCash format (big-endian, flags in the top three bits of
//!   the first byte: compressed, infinity, sign of y), which is what `ark-bls12-381` writes.
//!   GT is written as arkworks writes `Fq12`: the twelve `F_p` coefficients in the order
//!   `c0.c0.c0, c0.c0.c1, c0.c1.c0, …, c1.c2.c1` (blst's `fp6[i].fp2[j].fp[k]`, the same
//!   tower), each 48 bytes little-endian (blst's own `to_bendian` is big-endian and reversed).
//! - **Validation** matches the arkworks suite: canonical coordinates, on the curve, the
//!   prime-order subgroup with `Validate::Yes` (blst's `in_g1`/`in_g2`, the endomorphism
//!   tests); never the identity; in GT, canonical, unitary and not 1, and with
//!   `Validate::Yes` in the order-`r` subgroup (`blst_fp12_in_group`, which equals arkworks'
//!   `x^r = 1` on the cyclotomic subgroup). One difference, on a path the scheme never takes:
//!   with `Validate::No` an uncompressed point off the curve is still refused here (blst
//!   always checks the curve equation), where arkworks accepts it.
//! - **Hashing.** `blst_hash_to_g1` is RFC 9380 `BLS12381G1_XMD:SHA-256_SSWU_RO_`; with the
//!   suite's DSTs it gives the arkworks suite's `H` and `F` (pinned in `suite::kat`).
//! - **Constant time.** G1 and G2 multiplications go through `blst_p1_mult`/`blst_p2_mult`
//!   (GLV/GLS, fixed windows, constant-time table gathers) for every scalar, secret or public;
//!   GT keeps the generic constant-time [`crate::fixed_base`] code for secrets.
//! - **Pairing.** One `blst_miller_loop_n` over all pairs (shared squarings), one final
//!   exponentiation; `G2Prepared` is the affine point (blst computes lines on the fly).

mod ffi;
mod gt;

use std::sync::OnceLock;

use ark_ff::PrimeField;
use ark_serialize::{Compress, Validate};
use blst::{blst_fp, blst_p1, blst_p1_affine, blst_p2, blst_p2_affine};
use subtle::Choice;
use zeroize::{Zeroize, Zeroizing};

use super::ct::{choice_mask, eq_mask};
use super::{dst, GeneratorTables, Group, Suite, SuiteId};

pub use self::gt::BlstGt;

/// The scalar field, shared with the arkworks suite.
type Fr = ark_bls12_381::Fr;

/// The scalar's canonical 32 little-endian bytes, wiped on drop (they may be secret).
fn scalar_bytes(k: &Fr) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let mut big = k.into_bigint();
    for (chunk, limb) in out.chunks_exact_mut(8).zip(big.as_ref()) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    big.0.zeroize();
    out
}

/// A blst field element (`F_p` or an extension) or affine point, handled limb by limb.
///
/// Every blst type here is a nest of fixed-size `u64` arrays; with [`Limbs::masked_copy`]
/// inlined all the way down, a select is one straight run of `x ^ (mask & (x ^ y))` over the
/// limbs, which the compiler unrolls and vectorises (no call and no barrier per limb).
trait Limbs: Copy {
    /// `self ← other` where `mask` is all ones, unchanged where it is zero (any other mask
    /// mixes the two bit by bit).
    fn masked_copy(&mut self, other: &Self, mask: u64);

    /// `self ← other` when `choice` is 1, with masked moves.
    #[inline(always)]
    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        self.masked_copy(other, choice_mask(choice));
    }

    /// Overwrites every limb with zero.
    fn wipe(&mut self);
}

impl Limbs for blst_fp {
    #[inline(always)]
    fn masked_copy(&mut self, other: &Self, mask: u64) {
        for (x, y) in self.l.iter_mut().zip(other.l.iter()) {
            *x ^= mask & (*x ^ *y);
        }
    }

    fn wipe(&mut self) {
        self.l.zeroize();
    }
}

/// Implements [`Limbs`] for an extension field from its coefficient array.
macro_rules! limbs_via {
    ($t:ty, $field:ident) => {
        impl Limbs for $t {
            #[inline(always)]
            fn masked_copy(&mut self, other: &Self, mask: u64) {
                for (x, y) in self.$field.iter_mut().zip(other.$field.iter()) {
                    x.masked_copy(y, mask);
                }
            }

            fn wipe(&mut self) {
                self.$field.iter_mut().for_each(Limbs::wipe);
            }
        }
    };
}

limbs_via!(blst::blst_fp2, fp);
limbs_via!(blst::blst_fp6, fp2);

/// A blst type with a flat view of its limbs (`ffi::flat_limbs!`): [`Limbs`] works on the
/// flat array, and [`ct_select`] scans entries through it.
trait Flat: Limbs {
    /// The number of 64-bit limbs.
    const N: usize;
    /// The limbs, as one array.
    fn limbs(&self) -> &[u64];
    /// The limbs, as one mutable array.
    fn limbs_mut(&mut self) -> &mut [u64];
}

/// Implements [`Flat`] and [`Limbs`] for a type with a flat view in `ffi`.
macro_rules! flat {
    ($t:ty, $n:literal, $view:ident, $view_mut:ident) => {
        impl Flat for $t {
            const N: usize = $n;

            #[inline(always)]
            fn limbs(&self) -> &[u64] {
                ffi::$view(self)
            }

            #[inline(always)]
            fn limbs_mut(&mut self) -> &mut [u64] {
                ffi::$view_mut(self)
            }
        }

        impl Limbs for $t {
            #[inline(always)]
            fn masked_copy(&mut self, other: &Self, mask: u64) {
                let (x, y) = (ffi::$view_mut(self), ffi::$view(other));
                for (x, y) in x.iter_mut().zip(y.iter()) {
                    *x ^= mask & (*x ^ *y);
                }
            }

            fn wipe(&mut self) {
                ffi::$view_mut(self).zeroize();
            }
        }
    };
}

flat!(blst::blst_fp12, 72, fp12_limbs, fp12_limbs_mut);
flat!(blst_p1_affine, 12, p1_affine_limbs, p1_affine_limbs_mut);
flat!(blst_p2_affine, 24, p2_affine_limbs, p2_affine_limbs_mut);

/// The entry for digit `d` (`entries[j]` stands for `d = j + 1`; the first entry for `d = 0`
/// or a `d` past the row), in constant time (`Group::ct_select_entry`): every entry is read
/// in full and in order; entry `j`'s limbs are ANDed with a mask that is all ones exactly
/// when `j + 1 = d` ([`eq_mask`]: arithmetic, one optimisation barrier per entry) and ORed
/// into the result; the first entry is added under the complement of all those masks. No
/// branch and no address depends on `d`, and over the flat limb arrays the loop is a run of
/// SIMD AND/OR that the compiler vectorises (issue 22).
#[inline(always)]
fn ct_select<T: Flat>(entries: &[T], d: u64) -> Option<T> {
    let first = entries.first()?;
    let mut acc = [0u64; 72];
    let acc_n = acc.get_mut(..T::N)?;
    let mut any = 0u64;
    for (j, e) in entries.iter().enumerate().skip(1) {
        let mask = eq_mask(j as u64 + 1, d);
        for (a, x) in acc_n.iter_mut().zip(e.limbs()) {
            *a |= x & mask;
        }
        any |= mask;
    }
    for (a, x) in acc_n.iter_mut().zip(first.limbs()) {
        *a |= x & !any;
    }
    let mut out = *first;
    out.limbs_mut().copy_from_slice(acc_n);
    acc.zeroize();
    Some(out)
}

/// Defines a point group over `ffi::$m` (G1 or G2 differ in the coordinate field only).
macro_rules! blst_point {
    ($(#[$doc:meta])* $name:ident, $m:ident, $p:ty, $entry:ident, $a:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct $name($p);

        /// A fixed-base table entry of this group: an affine point (all-zero coordinates for
        /// the point at infinity), added with blst's mixed addition.
        #[derive(Clone, Copy)]
        pub struct $entry($a);

        impl Zeroize for $entry {
            fn zeroize(&mut self) {
                self.0.wipe();
            }
        }

        impl Limbs for $entry {
            #[inline(always)]
            fn masked_copy(&mut self, other: &Self, mask: u64) {
                self.0.masked_copy(&other.0, mask);
            }

            fn wipe(&mut self) {
                self.0.wipe();
            }
        }

        impl Flat for $entry {
            const N: usize = <$a as Flat>::N;

            #[inline(always)]
            fn limbs(&self) -> &[u64] {
                self.0.limbs()
            }

            #[inline(always)]
            fn limbs_mut(&mut self) -> &mut [u64] {
                self.0.limbs_mut()
            }
        }

        impl std::fmt::Debug for $name {
            /// The compressed encoding, as arkworks' points print their coordinates.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))?;
                f.write_str("(")?;
                for b in ffi::$m::compress(&self.0) {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(")")
            }
        }

        impl Zeroize for $name {
            fn zeroize(&mut self) {
                self.0.x.wipe();
                self.0.y.wipe();
                self.0.z.wipe();
            }
        }

        impl Group for $name {
            type Scalar = Fr;

            fn identity() -> Self {
                // All-zero coordinates: z = 0 is blst's point at infinity.
                $name(<$p>::default())
            }

            fn add(&self, other: &Self) -> Self {
                $name(ffi::$m::add(&self.0, &other.0))
            }

            fn neg(&self) -> Self {
                $name(ffi::$m::neg(&self.0))
            }

            fn double(&self) -> Self {
                $name(ffi::$m::double(&self.0))
            }

            fn mul(&self, k: &Fr) -> Self {
                // blst's multiplication is constant-time, and faster than the variable-time
                // alternatives for one scalar: one path serves public and secret scalars.
                $name(ffi::$m::mult(&self.0, &scalar_bytes(k)))
            }

            fn mul_secret(&self, k: &Fr) -> Self {
                $name(ffi::$m::mult(&self.0, &scalar_bytes(k)))
            }

            fn ct_assign(&mut self, other: &Self, choice: Choice) {
                self.0.x.ct_assign(&other.0.x, choice);
                self.0.y.ct_assign(&other.0.y, choice);
                self.0.z.ct_assign(&other.0.z, choice);
            }

            type TableEntry = $entry;

            fn table_entries(points: Vec<Self>) -> Vec<$entry> {
                let raw: Vec<$p> = points.iter().map(|p| p.0).collect();
                ffi::$m::batch_to_affine(&raw).into_iter().map($entry).collect()
            }

            fn add_entry(&self, entry: &$entry) -> Self {
                $name(ffi::$m::add_affine(&self.0, &entry.0))
            }

            fn ct_assign_entry(entry: &mut $entry, other: &$entry, choice: Choice) {
                entry.0.x.ct_assign(&other.0.x, choice);
                entry.0.y.ct_assign(&other.0.y, choice);
            }

            fn ct_neg_entry(entry: &mut $entry, choice: Choice) {
                let negated = ffi::$m::neg_affine(&entry.0);
                entry.0.y.ct_assign(&negated.y, choice);
            }

            fn ct_select_entry(entries: &[$entry], d: u64) -> Option<$entry> {
                ct_select(entries, d)
            }

            fn normalize_batch(points: &mut [Self]) {
                let raw: Vec<$p> = points.iter().map(|p| p.0).collect();
                let mut affine = ffi::$m::batch_to_affine(&raw);
                for (p, a) in points.iter_mut().zip(&affine) {
                    p.0 = ffi::$m::from_affine(a);
                }
                // The points may be secret (key components): the copies are wiped.
                let mut raw: Vec<$name> = raw.into_iter().map($name).collect();
                raw.zeroize();
                for a in affine.iter_mut() {
                    a.x.wipe();
                    a.y.wipe();
                }
            }

            fn encoded_len(form: Compress) -> usize {
                match form {
                    Compress::Yes => ffi::$m::COMPRESSED,
                    Compress::No => 2 * ffi::$m::COMPRESSED,
                }
            }

            fn encode(&self, form: Compress, out: &mut Vec<u8>) {
                match form {
                    Compress::Yes => out.extend_from_slice(&ffi::$m::compress(&self.0)),
                    Compress::No => out.extend_from_slice(&ffi::$m::serialize(&self.0)),
                }
            }

            fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
                let affine = match form {
                    // blst refuses a clear compression flag, as arkworks does.
                    Compress::Yes => ffi::$m::uncompress(bytes.try_into().ok()?)?,
                    Compress::No => {
                        let bytes: &[u8; 2 * ffi::$m::COMPRESSED] = bytes.try_into().ok()?;
                        // blst's deserializer would read a compressed point from the first
                        // half and ignore the rest; arkworks refuses the flag here.
                        if bytes[0] & 0x80 != 0 {
                            return None;
                        }
                        ffi::$m::deserialize(bytes)?
                    }
                };
                if check == Validate::Yes && !ffi::$m::in_group(&affine) {
                    return None;
                }
                let p = ffi::$m::from_affine(&affine);
                (!ffi::$m::is_inf(&p)).then_some($name(p))
            }
        }
    };
}

blst_point!(
    /// A G1 point of the blst backend (Jacobian coordinates).
    BlstG1, g1, blst_p1, BlstG1Entry, blst_p1_affine
);

blst_point!(
    /// A G2 point of the blst backend (Jacobian coordinates).
    BlstG2, g2, blst_p2, BlstG2Entry, blst_p2_affine
);

/// A G2 point prepared for pairing: its affine form.
#[derive(Clone, Copy)]
pub struct BlstG2Prepared(blst_p2_affine);

/// The BLS12-381 suite on blst, AES-128-GCM. Wire-compatible with
/// [`super::Bls12_381Arkworks`] (same [`SuiteId::Bls12_381`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bls12_381Blst;

/// The GID and attribute DSTs: the arkworks suite's, so both backends hash alike.
fn dsts() -> &'static (Vec<u8>, Vec<u8>) {
    static DSTS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    DSTS.get_or_init(|| (dst(SuiteId::Bls12_381, "GID", "SSWU"), dst(SuiteId::Bls12_381, "ATTR", "SSWU")))
}

impl Suite for Bls12_381Blst {
    type Scalar = Fr;
    type G1 = BlstG1;
    type G2 = BlstG2;
    type Gt = BlstGt;
    type G2Prepared = BlstG2Prepared;
    const ID: SuiteId = SuiteId::Bls12_381;
    const AEAD_KEY_LEN: usize = 16;
    const TABLE_WINDOW: usize = crate::fixed_base::DEFAULT_WINDOW;
    const PARALLEL_DECRYPT: bool = true;

    fn g1_generator() -> BlstG1 {
        BlstG1(ffi::g1::generator())
    }

    fn g2_generator() -> BlstG2 {
        BlstG2(ffi::g2::generator())
    }

    fn hash_gid(encoded_gid: &[u8]) -> BlstG1 {
        BlstG1(ffi::hash_to_g1(encoded_gid, &dsts().0))
    }

    fn hash_attribute(attribute: &str) -> BlstG1 {
        BlstG1(ffi::hash_to_g1(attribute.as_bytes(), &dsts().1))
    }

    fn prepare_g2(p: &BlstG2) -> BlstG2Prepared {
        BlstG2Prepared(ffi::g2::to_affine(&p.0))
    }

    /// An `F_p¹²` element, as GT's (the wrapper wipes it).
    type MillerValue = BlstGt;

    fn multi_miller_loop(g1: &[BlstG1], g2: &[BlstG2Prepared]) -> Option<BlstGt> {
        if g1.len() != g2.len() {
            return None;
        }
        // e(O, Q) = e(P, O) = 1: pairs with the identity are dropped (blst's Miller loop would
        // evaluate lines at the all-zero affine "point" instead), as arkworks skips them.
        let o2 = blst_p2_affine::default();
        let (raw, q): (Vec<blst_p1>, Vec<blst_p2_affine>) = g1
            .iter()
            .zip(g2)
            .filter(|(p, q)| !ffi::g1::is_inf(&p.0) && q.0 != o2)
            .map(|(p, q)| (p.0, q.0))
            .unzip();
        let mut affine = ffi::g1::batch_to_affine(&raw);
        let mut raw: Vec<BlstG1> = raw.into_iter().map(BlstG1).collect();
        raw.zeroize();
        let out = ffi::miller_loop(&affine, &q);
        // The G1 inputs include key components raised to coefficients: their copies are wiped.
        for a in affine.iter_mut() {
            a.x.wipe();
            a.y.wipe();
        }
        out.map(BlstGt)
    }

    fn miller_product(a: &BlstGt, b: &BlstGt) -> BlstGt {
        BlstGt(ffi::fp12_mul(&a.0, &b.0))
    }

    fn final_exponentiation(m: &BlstGt) -> Option<BlstGt> {
        Some(BlstGt(ffi::final_exp(&m.0)))
    }

    fn tables() -> &'static GeneratorTables<Self> {
        static TABLES: OnceLock<GeneratorTables<Bls12_381Blst>> = OnceLock::new();
        TABLES.get_or_init(GeneratorTables::build)
    }
}

#[cfg(test)]
mod tests;
