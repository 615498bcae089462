//! The group seam for MIRACL Core curves (BLS24-479 at 192-bit, BLS48-581 at 256-bit).
//!
//! arkworks has no pairing-friendly curve above 128-bit security; MIRACL Core has
//! constant-time, endomorphism-accelerated arithmetic for both (GLV in G1,
//! Galbraith–Scott in G2 and GT) and cheap subgroup checks. One macro instantiates the
//! adapter for each curve, because the two MIRACL modules have the same API with different
//! extension-field types (`ECP4`/`FP24` and `ECP8`/`FP48`); the scheme itself is not copied.
//!
//! - **Scalars** are an arkworks prime field over the curve order (`ark_ff::MontConfig`),
//!   so the LSSS, random sampling, zeroization and scalar encoding are the ones every other
//!   suite uses; they are converted to MIRACL's `BIG` only at a scalar multiplication.
//! - **Encodings** are MIRACL's (SEC1-style `0x02/0x03/0x04` prefixes in G1 and G2; GT as
//!   its coefficient vector). Decoding checks the exact length and prefix before MIRACL
//!   sees the bytes, re-encodes the result and requires the same bytes (which refuses
//!   non-canonical coordinates and points off the curve, which MIRACL maps to infinity),
//!   and then checks prime-order subgroup membership with MIRACL's `g1member`/`g2member`/
//!   `gtmember`.
//! - **Hashing to G1** is RFC 9380's `hash_to_curve` (random-oracle variant): SHA-2
//!   `expand_message_xmd` to two field elements, MIRACL's Shallue–van de Woestijne
//!   `map2point` for each, addition and cofactor clearing, under our own DSTs.
//! - **Pairing** is MIRACL's multi-pairing (`initmp`/`another`/`miller`, then ONE `fexp`).
//!
//! MIRACL's `BIG` and point types are `Copy` plain data, so temporaries holding a secret
//! scalar cannot be wiped reliably; the long-lived secrets (the arkworks scalars and our
//! wrappers) are zeroized on drop as in the other suites.

/// Instantiates a MIRACL Core suite in the calling module.
macro_rules! miracl_suite {
    (
        $(#[$doc:meta])*
        suite: $suite:ident,
        id: $id:ident,
        curve: $curve:ident,
        pairing: $pair:ident,
        g2: $g2mod:ident :: $G2:ident (width $g2width:literal),
        gt: $gtmod:ident :: $Gt:ident (width $gtwidth:literal, encoder $gt_encode:path),
        lines: $linemod:ident :: $Line:ident,
        scalar: ($modulus:literal, generator $generator:literal, limbs $limbs:literal),
        aead_key_len: $aead:literal,
        table_window: $window:literal $(,)?
    ) => {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        use std::sync::OnceLock;

        use ark_ff::{BigInteger, PrimeField};
        use ark_serialize::{Compress, Validate};
        use miracl_core::$curve::big::{self, BIG};
        use miracl_core::$curve::dbig::DBIG;
        use miracl_core::$curve::ecp::{self, ECP};
        use miracl_core::$curve::fp::FP;
        use miracl_core::$curve::$g2mod::$G2;
        use miracl_core::$curve::$gtmod::$Gt;
        use miracl_core::$curve::$linemod::$Line;
        use miracl_core::$curve::{$pair, rom};
        use zeroize::Zeroize;

        use $crate::suite::{GeneratorTables, Group, Suite, SuiteId};

        /// Montgomery parameters of the scalar field `Z_r` (`r` is the curve order; the
        /// generator is a quadratic non-residue, used only by arkworks' square roots).
        #[derive(ark_ff::MontConfig)]
        #[modulus = $modulus]
        #[generator = $generator]
        pub struct FrConfig;

        /// The scalar field `Z_r`.
        pub type Fr = ark_ff::Fp<ark_ff::MontBackend<FrConfig, $limbs>, $limbs>;

        const MB: usize = big::MODBYTES;

        /// A scalar as MIRACL's `BIG` (big-endian bytes, left-padded to the field size).
        fn to_big(k: &Fr) -> BIG {
            let bytes = k.into_bigint().to_bytes_be();
            let mut buf = [0u8; MB];
            let n = bytes.len().min(MB);
            if let (Some(dst), Some(src)) = (buf.get_mut(MB - n..), bytes.get(bytes.len() - n..)) {
                dst.copy_from_slice(src);
            }
            let b = BIG::frombytes(&buf);
            buf.zeroize();
            b
        }

        /// Runs a MIRACL decoder, turning any panic inside it into a refusal. The length and
        /// prefix checks before each call make a panic unreachable; this is defence in depth
        /// for untrusted bytes.
        fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
            catch_unwind(AssertUnwindSafe(f)).ok()
        }

        /// A G1 point.
        #[derive(Clone)]
        pub struct G1(ECP);

        impl PartialEq for G1 {
            fn eq(&self, other: &Self) -> bool {
                self.0.equals(&other.0)
            }
        }
        impl Eq for G1 {}

        impl Zeroize for G1 {
            fn zeroize(&mut self) {
                self.0.inf();
            }
        }

        fn point_len(width: usize, form: Compress) -> usize {
            match form {
                Compress::Yes => 1 + width * MB,
                Compress::No => 1 + 2 * width * MB,
            }
        }

        /// The prefix byte of a point encoding: `0x02`/`0x03` compressed, `0x04` not.
        fn prefix_ok(bytes: &[u8], form: Compress) -> bool {
            match (bytes.first(), form) {
                (Some(0x02 | 0x03), Compress::Yes) | (Some(0x04), Compress::No) => true,
                _ => false,
            }
        }

        impl Group for G1 {
            type Scalar = Fr;

            fn identity() -> Self {
                G1(ECP::new())
            }

            fn add(&self, other: &Self) -> Self {
                let mut p = self.0.clone();
                p.add(&other.0);
                G1(p)
            }

            fn neg(&self) -> Self {
                let mut p = self.0.clone();
                p.neg();
                G1(p)
            }

            fn mul(&self, k: &Fr) -> Self {
                G1($pair::g1mul(&self.0, &to_big(k)))
            }

            /// MIRACL's GLV multiplication: fixed-length ladder over constant-time
            /// table selections (`ECP::mul2`/`selector`).
            fn mul_secret(&self, k: &Fr) -> Self {
                self.mul(k)
            }

            entries_as_self!();

            fn ct_assign(&mut self, other: &Self, choice: subtle::Choice) {
                self.0.cmove(&other.0, isize::from(choice.unwrap_u8()));
            }

            fn encoded_len(form: Compress) -> usize {
                point_len(1, form)
            }

            fn encode(&self, form: Compress, out: &mut Vec<u8>) {
                let mut b = vec![0u8; point_len(1, form)];
                self.0.tobytes(&mut b, form == Compress::Yes);
                out.extend_from_slice(&b);
            }

            fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
                if bytes.len() != point_len(1, form) || !prefix_ok(bytes, form) {
                    return None;
                }
                let p = guarded(|| ECP::frombytes(bytes))?;
                if p.is_infinity() {
                    return None;
                }
                let p = G1(p);
                let mut again = Vec::with_capacity(bytes.len());
                p.encode(form, &mut again);
                if again != bytes {
                    return None;
                }
                if check == Validate::Yes && !guarded(|| $pair::g1member(&p.0)).unwrap_or(false) {
                    return None;
                }
                Some(p)
            }
        }

        /// A G2 point (over the degree-`width` extension field).
        pub struct G2($G2);

        impl Clone for G2 {
            fn clone(&self) -> Self {
                let mut p = $G2::new();
                p.copy(&self.0);
                G2(p)
            }
        }

        impl PartialEq for G2 {
            fn eq(&self, other: &Self) -> bool {
                self.0.equals(&other.0)
            }
        }
        impl Eq for G2 {}

        impl Zeroize for G2 {
            fn zeroize(&mut self) {
                self.0.inf();
            }
        }

        impl Group for G2 {
            type Scalar = Fr;

            fn identity() -> Self {
                G2($G2::new())
            }

            fn add(&self, other: &Self) -> Self {
                let mut p = self.clone();
                p.0.add(&other.0);
                p
            }

            fn neg(&self) -> Self {
                let mut p = self.clone();
                p.0.neg();
                p
            }

            fn mul(&self, k: &Fr) -> Self {
                G2($pair::g2mul(&self.0, &to_big(k)))
            }

            /// MIRACL's Galbraith–Scott multiplication (`mul8` over `selector`), written to
            /// be constant-time.
            fn mul_secret(&self, k: &Fr) -> Self {
                self.mul(k)
            }

            entries_as_self!();

            fn ct_assign(&mut self, other: &Self, choice: subtle::Choice) {
                self.0.cmove(&other.0, isize::from(choice.unwrap_u8()));
            }

            fn encoded_len(form: Compress) -> usize {
                point_len($g2width, form)
            }

            fn encode(&self, form: Compress, out: &mut Vec<u8>) {
                let mut b = vec![0u8; point_len($g2width, form)];
                self.0.tobytes(&mut b, form == Compress::Yes);
                out.extend_from_slice(&b);
            }

            fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
                if bytes.len() != point_len($g2width, form) || !prefix_ok(bytes, form) {
                    return None;
                }
                let p = guarded(|| $G2::frombytes(bytes))?;
                if p.is_infinity() {
                    return None;
                }
                let p = G2(p);
                let mut again = Vec::with_capacity(bytes.len());
                p.encode(form, &mut again);
                if again != bytes {
                    return None;
                }
                if check == Validate::Yes && !guarded(|| $pair::g2member(&p.0)).unwrap_or(false) {
                    return None;
                }
                Some(p)
            }
        }

        /// An element of the target group (in `F_p^(2·width)`), written additively.
        #[derive(Clone, Copy)]
        pub struct Gt($Gt);

        impl PartialEq for Gt {
            fn eq(&self, other: &Self) -> bool {
                self.0.equals(&other.0)
            }
        }
        impl Eq for Gt {}

        impl Zeroize for Gt {
            fn zeroize(&mut self) {
                self.0.one();
            }
        }

        const GT_LEN: usize = $gtwidth * MB;

        impl Group for Gt {
            type Scalar = Fr;

            fn identity() -> Self {
                Gt($Gt::new_int(1))
            }

            fn add(&self, other: &Self) -> Self {
                let mut r = self.0;
                r.mul(&other.0);
                Gt(r)
            }

            /// The inverse of a cyclotomic element is its conjugate (as in arkworks).
            fn neg(&self) -> Self {
                let mut r = self.0;
                r.conj();
                Gt(r)
            }

            fn mul(&self, k: &Fr) -> Self {
                Gt($pair::gtpow(&self.0, &to_big(k)))
            }

            /// MIRACL's Galbraith–Scott exponentiation (`pow8` over `selector`), written to
            /// be constant-time.
            fn mul_secret(&self, k: &Fr) -> Self {
                self.mul(k)
            }

            entries_as_self!();

            fn ct_assign(&mut self, other: &Self, choice: subtle::Choice) {
                self.0.cmove(&other.0, isize::from(choice.unwrap_u8()));
            }

            fn encoded_len(_form: Compress) -> usize {
                GT_LEN
            }

            fn encode(&self, _form: Compress, out: &mut Vec<u8>) {
                let mut b = vec![0u8; GT_LEN];
                let mut v = self.0;
                $gt_encode(&mut v, &mut b);
                out.extend_from_slice(&b);
            }

            fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
                if bytes.len() != GT_LEN {
                    return None;
                }
                let v = Gt(guarded(|| $Gt::frombytes(bytes))?);
                let mut again = Vec::with_capacity(GT_LEN);
                v.encode(form, &mut again);
                if again != bytes {
                    return None;
                }
                // Even without the subgroup check: refuse zero, the identity and anything not
                // unitary (`conj(x)·x ≠ 1`), as the arkworks suites do, so no decoded value
                // that is not invertible by conjugation reaches `gtpow` or a division.
                let mut norm = v.0;
                norm.conj();
                norm.mul(&v.0);
                if !norm.isunity() || v.0.isunity() {
                    return None;
                }
                if check == Validate::Yes && !guarded(|| $pair::gtmember(&v.0)).unwrap_or(false) {
                    return None;
                }
                Some(v)
            }
        }

        /// RFC 9380 `hash_to_curve` (random oracle) into G1 under `dst`.
        fn hash_to_g1(dst: &[u8], msg: &[u8]) -> G1 {
            let q = BIG::new_ints(&rom::MODULUS);
            let nbq = q.nbits();
            // L = ceil((ceil(log2 p) + k) / 8), k = the security level in bits.
            let el = (nbq + ecp::AESKEY * 8).div_ceil(8);
            let mut okm = [0u8; 256];
            miracl_core::hmac::xmd_expand(miracl_core::hmac::MC_SHA2, ecp::HASH_TYPE, &mut okm, 2 * el, dst, msg);
            let field = |chunk: &[u8]| FP::new_big(&DBIG::frombytes(chunk).ctdmod(&q, 8 * el - nbq));
            let u0 = field(okm.get(..el).unwrap_or_default());
            let u1 = field(okm.get(el..2 * el).unwrap_or_default());
            let mut p = ECP::map2point(&u0);
            p.add(&ECP::map2point(&u1));
            p.cfp();
            p.affine();
            G1(p)
        }

        fn dst(purpose: &str) -> Vec<u8> {
            format!(
                "IDAAS-PBE-V01-{}-{purpose}_XMD:SHA-{}_SVDW_RO_",
                SuiteId::$id.name().to_ascii_uppercase(),
                ecp::HASH_TYPE * 8
            )
            .into_bytes()
        }

        fn dsts() -> &'static (Vec<u8>, Vec<u8>) {
            static DSTS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
            DSTS.get_or_init(|| (dst("GID"), dst("ATTR")))
        }

        /// A G2 point ready for pairing: the point itself (used once), or, for a key
        /// component's `K'`, MIRACL's precomputed line functions (`precomp`), which spare each
        /// later pairing the G2 arithmetic of its Miller loop.
        #[derive(Clone)]
        pub enum G2Prepared {
            /// Lines computed during the pairing.
            Point(Box<G2>),
            /// Lines computed once.
            Lines(std::sync::Arc<Vec<$Line>>),
        }

        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $suite;

        impl Suite for $suite {
            type Scalar = Fr;
            type G1 = G1;
            type G2 = G2;
            type Gt = Gt;
            type G2Prepared = G2Prepared;
            const ID: SuiteId = SuiteId::$id;
            const AEAD_KEY_LEN: usize = $aead;
            const TABLE_WINDOW: usize = $window;
            const PARALLEL_DECRYPT: bool = true;

            fn g1_generator() -> G1 {
                G1(ECP::generator())
            }

            fn g2_generator() -> G2 {
                G2($G2::generator())
            }

            fn hash_gid(encoded_gid: &[u8]) -> G1 {
                hash_to_g1(&dsts().0, encoded_gid)
            }

            fn hash_attribute(attribute: &str) -> G1 {
                hash_to_g1(&dsts().1, attribute.as_bytes())
            }

            fn prepare_g2(p: &G2) -> G2Prepared {
                G2Prepared::Point(Box::new(p.clone()))
            }

            fn prepare_g2_for_reuse(p: &G2) -> G2Prepared {
                // `precomp` reads the coordinates as they are: it needs the affine form
                // (`another` makes its own affine copy; `precomp` does not).
                let mut affine = p.clone();
                affine.0.affine();
                let mut lines = vec![$Line::new(); ecp::G2_TABLE];
                match guarded(|| $pair::precomp(&mut lines, &affine.0)) {
                    Some(()) => G2Prepared::Lines(std::sync::Arc::new(lines)),
                    None => G2Prepared::Point(Box::new(p.clone())),
                }
            }

            /// An `F_p^k` element, in GT's wrapper (which wipes it).
            type MillerValue = Gt;

            fn multi_miller_loop(g1: &[G1], g2: &[G2Prepared]) -> Option<Gt> {
                if g1.len() != g2.len() {
                    return None;
                }
                let mut lines = $pair::initmp();
                for (p, q) in g1.iter().zip(g2) {
                    match q {
                        G2Prepared::Point(q) => $pair::another(&mut lines, &q.0, &p.0),
                        G2Prepared::Lines(t) => $pair::another_pc(&mut lines, t, &p.0),
                    }
                }
                Some(Gt($pair::miller(&mut lines)))
            }

            fn miller_product(a: &Gt, b: &Gt) -> Gt {
                let mut out = a.0;
                out.mul(&b.0);
                Gt(out)
            }

            fn final_exponentiation(m: &Gt) -> Option<Gt> {
                Some(Gt($pair::fexp(&m.0)))
            }

            fn tables() -> &'static GeneratorTables<Self> {
                static TABLES: OnceLock<GeneratorTables<$suite>> = OnceLock::new();
                TABLES.get_or_init(GeneratorTables::build)
            }
        }

        #[cfg(test)]
        mod tests {
            use super::*;
            use ark_ff::UniformRand;

            #[test]
            fn pairing_is_bilinear() {
                let mut rng = ark_std::test_rng();
                let (a, b) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
                let g1 = $suite::g1_generator();
                let g2 = $suite::g2_generator();
                let lhs = $suite::multi_pairing(&[g1.mul(&a)], &[$suite::prepare_g2(&g2.mul(&b))]).unwrap();
                // A projective point (as key generation leaves K') and its affine form agree.
                let projective = g2.mul(&b).add(&g2).sub(&g2);
                let pc = $suite::multi_pairing(&[g1.mul(&a)], &[$suite::prepare_g2_for_reuse(&projective)]).unwrap();
                assert!(lhs == pc, "precomputed lines give the same pairing");
                let rhs = $suite::tables().gt.mul(&(a * b));
                assert!(lhs == rhs);
                assert!(!(lhs == Gt::identity()));
                // e(a·g1, g2) · e(−a·g1, g2) = 1 in one multi-pairing.
                let one = $suite::multi_pairing(
                    &[g1.mul(&a), g1.mul(&-a)],
                    &[$suite::prepare_g2(&g2), $suite::prepare_g2_for_reuse(&g2)],
                )
                .unwrap();
                assert!(one == Gt::identity());
            }

            #[test]
            fn scalar_field_is_the_group_order() {
                // r · g = identity in every group: the arkworks field matches MIRACL's order.
                let r = BIG::new_ints(&rom::CURVE_ORDER);
                assert!(ECP::generator().mul(&r).is_infinity());
                let minus_one = -Fr::from(1u64);
                let g1 = $suite::g1_generator();
                assert!(g1.mul(&minus_one).add(&g1) == G1::identity());
                let gt = $suite::tables().gt;
                assert!(gt.mul(&minus_one).add(&gt) == Gt::identity());
            }

            #[test]
            fn encodings_roundtrip_and_refuse_garbage() {
                let mut rng = ark_std::test_rng();
                let k = Fr::rand(&mut rng);
                let g1 = $suite::g1_generator().mul(&k);
                let g2 = $suite::g2_generator().mul(&k);
                let gt = $suite::tables().gt.mul(&k);
                for form in [Compress::Yes, Compress::No] {
                    let mut b = Vec::new();
                    g1.encode(form, &mut b);
                    assert!(G1::decode(&b, form, Validate::Yes).unwrap() == g1);
                    b[5] ^= 1;
                    assert!(G1::decode(&b, form, Validate::Yes).is_none());
                    let mut b = Vec::new();
                    g2.encode(form, &mut b);
                    assert!(G2::decode(&b, form, Validate::Yes).unwrap() == g2);
                    assert!(G2::decode(&b[1..], form, Validate::Yes).is_none());
                    b[0] = 0x07;
                    assert!(G2::decode(&b, form, Validate::Yes).is_none());
                }
                let mut b = Vec::new();
                gt.encode(Compress::Yes, &mut b);
                assert!(Gt::decode(&b, Compress::Yes, Validate::Yes).unwrap() == gt);
                b[9] ^= 1;
                assert!(Gt::decode(&b, Compress::Yes, Validate::Yes).is_none());
                // Not unitary any more: refused even without the subgroup check.
                assert!(Gt::decode(&b, Compress::Yes, Validate::No).is_none());
                // Wrong-prefix compressed G1 (0x04 at compressed length) must not panic.
                let mut c = vec![0x04u8; G1::encoded_len(Compress::Yes)];
                assert!(G1::decode(&c, Compress::Yes, Validate::Yes).is_none());
                c[0] = 0x02;
                c[1..].fill(0xff);
                assert!(G1::decode(&c, Compress::Yes, Validate::Yes).is_none());
            }

            #[test]
            fn hashes_are_domain_separated_and_in_g1() {
                let a = $suite::hash_attribute("purpose:ads@x");
                assert!(a == $suite::hash_attribute("purpose:ads@x"));
                assert!(!(a == $suite::hash_gid(b"purpose:ads@x")));
                assert!($pair::g1member(&a.0));
            }
        }
    };
}

pub(crate) use miracl_suite;
