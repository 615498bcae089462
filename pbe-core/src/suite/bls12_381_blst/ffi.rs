//! The only `unsafe` code in pbe-core: safe wrappers over the blst C functions the BLS12-381
//! blst backend needs.
//!
//! blst's safe Rust API covers signatures (`min_pk`, `min_sig`), pairings and Miller loops,
//! but not generic group arithmetic (addition, constant-time scalar multiplication of an
//! arbitrary point, point codecs for an arbitrary point, GT arithmetic). Those are the C
//! functions re-exported by the `blst` crate as `unsafe extern "C"`; each is wrapped here once.
//!
//! Every wrapper follows the same pattern, which is what makes it sound:
//! - outputs are initialised Rust values (`Default`, i.e. all-zero limbs, or a copy) before
//!   the call, so nothing is read uninitialised whatever the C function does;
//! - every pointer comes from a Rust reference or a slice of the exact length the C function
//!   reads or writes (fixed-size arrays: 48/96/192-byte encodings, 32-byte scalars), so
//!   nothing is read or written out of bounds;
//! - blst does not retain pointers past the call and is thread-safe for these functions (no
//!   global mutable state), and input and output may alias only where blst documents it.
//!
//! The workspace denies `unsafe_code`; this module alone allows it (checked by a test in
//! `suite::bls12_381_blst`).
#![allow(unsafe_code)]

use blst::{blst_fp, blst_fp12, blst_p1, blst_p1_affine, blst_p2, blst_p2_affine, BLST_ERROR};

/// Defines the point wrappers of one group (G1 or G2): the two groups have the same C API
/// with `p1`/`p2` in the names and different encoding sizes.
macro_rules! point_ffi {
    (
        $(#[$doc:meta])*
        mod $m:ident {
            point: $p:ty, affine: $a:ty, compressed: $clen:literal,
            generator: $gen:path, add: $add:path, add_affine: $add_aff:path,
            double: $dbl:path, cneg: $cneg:path, cneg_y: $cneg_y:path,
            mult: $mult:path, to_affine: $to_aff:path, from_affine: $from_aff:path,
            batch_to_affine: $batch:path, is_inf: $is_inf:path, in_group: $in_group:path,
            compress: $compress:path, serialize: $serialize:path,
            uncompress: $uncompress:path, deserialize: $deserialize:path $(,)?
        }
    ) => {
        $(#[$doc])*
        pub(crate) mod $m {
            use super::*;

            /// Size of the compressed encoding; the uncompressed one is twice this.
            pub(crate) const COMPRESSED: usize = $clen;

            /// The standard generator.
            pub(crate) fn generator() -> $p {
                // SAFETY: blst returns a pointer to a static, initialised generator.
                unsafe { *$gen() }
            }

            /// `a + b` (complete: handles equal inputs and the point at infinity).
            pub(crate) fn add(a: &$p, b: &$p) -> $p {
                let mut out = <$p>::default();
                // SAFETY: three valid references to initialised points (see the module doc).
                unsafe { $add(&mut out, a, b) };
                out
            }

            /// `a + b` for an affine `b` (mixed addition; complete: equal inputs and either
            /// input at infinity, the affine one as all-zero coordinates, are handled with
            /// masked selections, not branches).
            pub(crate) fn add_affine(a: &$p, b: &$a) -> $p {
                let mut out = <$p>::default();
                // SAFETY: three valid references to initialised points (see the module doc).
                unsafe { $add_aff(&mut out, a, b) };
                out
            }

            /// `−a` for an affine `a` (y negated; blst's negation of zero is zero, so the
            /// all-zero point at infinity stays itself).
            pub(crate) fn neg_affine(a: &$a) -> $a {
                let mut out = *a;
                // SAFETY: valid references to initialised coordinates; blst allows the
                // output to alias the input, but here they are distinct anyway.
                unsafe { $cneg_y(&mut out.y, &a.y, true) };
                out
            }

            /// `2 · a`.
            pub(crate) fn double(a: &$p) -> $p {
                let mut out = <$p>::default();
                // SAFETY: valid references to initialised points.
                unsafe { $dbl(&mut out, a) };
                out
            }

            /// `−a`.
            pub(crate) fn neg(a: &$p) -> $p {
                let mut out = *a;
                // SAFETY: a valid, exclusive reference to an initialised point.
                unsafe { $cneg(&mut out, true) };
                out
            }

            /// `a · k` for the 255-bit little-endian scalar `k`, with blst's constant-time
            /// multiplication (GLV/GLS with fixed windows and constant-time table lookups).
            pub(crate) fn mult(a: &$p, k: &[u8; 32]) -> $p {
                let mut out = <$p>::default();
                // SAFETY: `k` is 32 bytes, of which blst reads ⌈255/8⌉ = 32.
                unsafe { $mult(&mut out, a, k.as_ptr(), 255) };
                out
            }

            /// The affine form (the identity maps to all-zero coordinates).
            #[allow(dead_code)] // G1 is converted in batches only
            pub(crate) fn to_affine(a: &$p) -> $a {
                let mut out = <$a>::default();
                // SAFETY: valid references.
                unsafe { $to_aff(&mut out, a) };
                out
            }

            /// The projective form of an affine point (z = 1).
            pub(crate) fn from_affine(a: &$a) -> $p {
                let mut out = <$p>::default();
                // SAFETY: valid references.
                unsafe { $from_aff(&mut out, a) };
                out
            }

            /// Affine forms of all `points`, with one shared inversion.
            pub(crate) fn batch_to_affine(points: &[$p]) -> Vec<$a> {
                let mut out = vec![<$a>::default(); points.len()];
                if points.is_empty() {
                    return out;
                }
                // blst takes a null-terminated-or-contiguous array of pointers: one pointer to
                // the first of `points.len()` contiguous points is its documented contiguous form.
                let ptrs: [*const $p; 2] = [points.as_ptr(), core::ptr::null()];
                // SAFETY: `out` has room for exactly `points.len()` affine points and `ptrs[0]`
                // points at that many contiguous initialised points.
                unsafe { $batch(out.as_mut_ptr(), ptrs.as_ptr(), points.len()) };
                out
            }

            /// Whether `a` is the point at infinity.
            pub(crate) fn is_inf(a: &$p) -> bool {
                // SAFETY: valid reference.
                unsafe { $is_inf(a) }
            }

            /// Whether the affine point `a` is in the prime-order subgroup.
            pub(crate) fn in_group(a: &$a) -> bool {
                // SAFETY: valid reference.
                unsafe { $in_group(a) }
            }

            /// The ZCash-format compressed encoding (what arkworks writes for BLS12-381).
            pub(crate) fn compress(a: &$p) -> [u8; $clen] {
                let mut out = [0u8; $clen];
                // SAFETY: `out` is exactly the compressed size.
                unsafe { $compress(out.as_mut_ptr(), a) };
                out
            }

            /// The ZCash-format uncompressed encoding.
            pub(crate) fn serialize(a: &$p) -> [u8; 2 * $clen] {
                let mut out = [0u8; 2 * $clen];
                // SAFETY: `out` is exactly the uncompressed size.
                unsafe { $serialize(out.as_mut_ptr(), a) };
                out
            }

            /// Reads a compressed encoding: canonical x, on the curve; not checked for the
            /// subgroup. The compression flag must be set.
            pub(crate) fn uncompress(bytes: &[u8; $clen]) -> Option<$a> {
                let mut out = <$a>::default();
                // SAFETY: `bytes` is exactly the compressed size blst reads.
                let err = unsafe { $uncompress(&mut out, bytes.as_ptr()) };
                (err == BLST_ERROR::BLST_SUCCESS).then_some(out)
            }

            /// Reads an encoding whose first byte selects the form: blst reads all 2·48/96
            /// bytes only when the compression flag is clear (callers check it first).
            pub(crate) fn deserialize(bytes: &[u8; 2 * $clen]) -> Option<$a> {
                let mut out = <$a>::default();
                // SAFETY: `bytes` is the largest size blst reads for this group.
                let err = unsafe { $deserialize(&mut out, bytes.as_ptr()) };
                (err == BLST_ERROR::BLST_SUCCESS).then_some(out)
            }
        }
    };
}

point_ffi! {
    /// G1 (points over `F_p`).
    mod g1 {
        point: blst_p1, affine: blst_p1_affine, compressed: 48,
        generator: blst::blst_p1_generator, add: blst::blst_p1_add_or_double,
        add_affine: blst::blst_p1_add_or_double_affine,
        double: blst::blst_p1_double, cneg: blst::blst_p1_cneg, cneg_y: blst::blst_fp_cneg,
        mult: blst::blst_p1_mult,
        to_affine: blst::blst_p1_to_affine, from_affine: blst::blst_p1_from_affine,
        batch_to_affine: blst::blst_p1s_to_affine, is_inf: blst::blst_p1_is_inf,
        in_group: blst::blst_p1_affine_in_g1, compress: blst::blst_p1_compress,
        serialize: blst::blst_p1_serialize, uncompress: blst::blst_p1_uncompress,
        deserialize: blst::blst_p1_deserialize,
    }
}

point_ffi! {
    /// G2 (points over `F_p²`).
    mod g2 {
        point: blst_p2, affine: blst_p2_affine, compressed: 96,
        generator: blst::blst_p2_generator, add: blst::blst_p2_add_or_double,
        add_affine: blst::blst_p2_add_or_double_affine,
        double: blst::blst_p2_double, cneg: blst::blst_p2_cneg, cneg_y: blst::blst_fp2_cneg,
        mult: blst::blst_p2_mult,
        to_affine: blst::blst_p2_to_affine, from_affine: blst::blst_p2_from_affine,
        batch_to_affine: blst::blst_p2s_to_affine, is_inf: blst::blst_p2_is_inf,
        in_group: blst::blst_p2_affine_in_g2, compress: blst::blst_p2_compress,
        serialize: blst::blst_p2_serialize, uncompress: blst::blst_p2_uncompress,
        deserialize: blst::blst_p2_deserialize,
    }
}

/// Views of a blst value as the flat array of its 64-bit limbs, for the constant-time table
/// scan (`super::ct_select`), which the compiler vectorises over a flat `[u64; N]` but not
/// over the nested coordinate arrays.
macro_rules! flat_limbs {
    ($(#[$doc:meta])* $t:ty, $n:literal, $view:ident, $view_mut:ident) => {
        // blst's types are `#[repr(C)]` nests of `[u64; 6]` (`blst_fp`) and nothing else, so
        // they have the size and alignment of `[u64; N]` and no padding: checked here at
        // compile time.
        const _: () = assert!(
            std::mem::size_of::<$t>() == 8 * $n && std::mem::align_of::<$t>() == std::mem::align_of::<u64>()
        );

        $(#[$doc])*
        pub(crate) fn $view(x: &$t) -> &[u64; $n] {
            // SAFETY: same size, alignment and (all-`u64`, padding-free) layout, checked
            // above; every bit pattern is a valid `u64`; the borrow is carried over.
            unsafe { &*(x as *const $t).cast::<[u64; $n]>() }
        }

        $(#[$doc])*
        pub(crate) fn $view_mut(x: &mut $t) -> &mut [u64; $n] {
            // SAFETY: as above, and every bit pattern is a valid `$t` (limbs are plain
            // integers), so any write through the view leaves a valid value.
            unsafe { &mut *(x as *mut $t).cast::<[u64; $n]>() }
        }
    };
}

flat_limbs!(
    /// An affine G1 point's 12 limbs (x, then y).
    blst_p1_affine, 12, p1_affine_limbs, p1_affine_limbs_mut
);
flat_limbs!(
    /// An affine G2 point's 24 limbs (x, then y, each `F_p²`).
    blst_p2_affine, 24, p2_affine_limbs, p2_affine_limbs_mut
);
flat_limbs!(
    /// An `F_p¹²` element's 72 limbs, in blst's tower order.
    blst_fp12, 72, fp12_limbs, fp12_limbs_mut
);

/// RFC 9380 `BLS12381G1_XMD:SHA-256_SSWU_RO_` of `msg` under `dst` (no augmentation).
pub(crate) fn hash_to_g1(msg: &[u8], dst: &[u8]) -> blst_p1 {
    let mut out = blst_p1::default();
    // SAFETY: every pointer comes with the length of its slice; the `aug` pointer is read for
    // zero bytes.
    unsafe {
        blst::blst_hash_to_g1(
            &mut out,
            msg.as_ptr(),
            msg.len(),
            dst.as_ptr(),
            dst.len(),
            [0u8; 0].as_ptr(),
            0,
        )
    };
    out
}

/// `Π f(p[i], q[i])`: one multi-Miller loop (shared squarings), no final exponentiation.
/// `None` when the slices differ in length; one for empty slices.
pub(crate) fn miller_loop(p: &[blst_p1_affine], q: &[blst_p2_affine]) -> Option<blst_fp12> {
    if p.len() != q.len() {
        return None;
    }
    let mut miller = fp12_one();
    if p.is_empty() {
        return Some(miller);
    }
    let ps: [*const blst_p1_affine; 2] = [p.as_ptr(), core::ptr::null()];
    let qs: [*const blst_p2_affine; 2] = [q.as_ptr(), core::ptr::null()];
    // SAFETY: `ps[0]` and `qs[0]` point at `p.len()` contiguous initialised points each (blst's
    // contiguous-array form), and the output is an initialised `blst_fp12`.
    unsafe { blst::blst_miller_loop_n(&mut miller, qs.as_ptr(), ps.as_ptr(), p.len()) };
    Some(miller)
}

/// The final exponentiation of a Miller value.
pub(crate) fn final_exp(miller: &blst_fp12) -> blst_fp12 {
    let mut out = fp12_one();
    // SAFETY: valid references.
    unsafe { blst::blst_final_exp(&mut out, miller) };
    out
}

/// The multiplicative identity of `F_p¹²`.
pub(crate) fn fp12_one() -> blst_fp12 {
    // SAFETY: blst returns a pointer to a static, initialised constant.
    unsafe { *blst::blst_fp12_one() }
}

/// `a · b` in `F_p¹²`.
pub(crate) fn fp12_mul(a: &blst_fp12, b: &blst_fp12) -> blst_fp12 {
    let mut out = fp12_one();
    // SAFETY: valid references.
    unsafe { blst::blst_fp12_mul(&mut out, a, b) };
    out
}

/// `a²` for `a` in the cyclotomic subgroup (Granger–Scott squaring).
pub(crate) fn fp12_cyclotomic_sqr(a: &blst_fp12) -> blst_fp12 {
    let mut out = fp12_one();
    // SAFETY: valid references.
    unsafe { blst::blst_fp12_cyclotomic_sqr(&mut out, a) };
    out
}

/// The conjugate (the inverse of a unitary element).
pub(crate) fn fp12_conjugate(a: &blst_fp12) -> blst_fp12 {
    let mut out = *a;
    // SAFETY: a valid, exclusive reference.
    unsafe { blst::blst_fp12_conjugate(&mut out) };
    out
}

/// Whether `a = 1`.
pub(crate) fn fp12_is_one(a: &blst_fp12) -> bool {
    // SAFETY: valid reference.
    unsafe { blst::blst_fp12_is_one(a) }
}

/// Whether `a` is in the order-`r` subgroup GT (zero and non-cyclotomic elements are not).
pub(crate) fn fp12_in_group(a: &blst_fp12) -> bool {
    // SAFETY: valid reference.
    unsafe { blst::blst_fp12_in_group(a) }
}

/// `F_p` element from 48 little-endian bytes (reduced modulo `p`; callers check canonicity).
pub(crate) fn fp_from_le(bytes: &[u8; 48]) -> blst_fp {
    let mut out = blst_fp::default();
    // SAFETY: `bytes` is the 48 bytes blst reads.
    unsafe { blst::blst_fp_from_lendian(&mut out, bytes.as_ptr()) };
    out
}

/// The 48 little-endian bytes of an `F_p` element (out of Montgomery form).
pub(crate) fn fp_to_le(a: &blst_fp) -> [u8; 48] {
    let mut out = [0u8; 48];
    // SAFETY: `out` is the 48 bytes blst writes.
    unsafe { blst::blst_lendian_from_fp(out.as_mut_ptr(), a) };
    out
}
