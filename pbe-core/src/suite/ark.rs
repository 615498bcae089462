//! The group seam for arkworks curves (BN254, BLS12-381).
//!
//! Points are kept in projective form (arithmetic without inversions); encoding goes through
//! the affine form and arkworks' canonical serialization, whose validating decoder checks
//! the curve equation and prime-order subgroup membership.
//!
//! Decoding also refuses the neutral element of every group (a correct encoder produces it
//! with negligible probability, and the MIRACL suites never accepted it), and in the target
//! group every element that is zero or not unitary (`conj(x)·x ≠ 1`), even where the costly
//! subgroup check is skipped: arkworks' GT negation and exponentiation unwrap the inverse of
//! their input and panic on zero, so no decoded value may reach them unless it is invertible
//! with inverse `conj(x)` (issue 23, item 0).

use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::CurveGroup;
use ark_ff::{CyclotomicMultSubgroup, One, PrimeField, Zero};
use subtle::Choice;

use super::ct::CtAssign;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};

use super::Group;

/// Per-curve scalar multiplication: lets a curve use its GLV endomorphism where arkworks'
/// generic `*` does not.
pub(crate) trait ArkCurve: SWCurveConfig
where
    Self::ScalarField: PrimeField,
{
    /// `p · k`.
    fn scalar_mul(p: &Projective<Self>, k: &Self::ScalarField) -> Projective<Self> {
        *p * k
    }
}

/// Decodes exactly `bytes` as one canonically serialized arkworks value.
fn decode_exact<T: CanonicalDeserialize>(bytes: &[u8], form: Compress, check: Validate) -> Option<T> {
    let mut slice = bytes;
    let value = T::deserialize_with_mode(&mut slice, form, check).ok()?;
    slice.is_empty().then_some(value)
}

impl<P: ArkCurve> Group for Projective<P>
where
    P::ScalarField: PrimeField,
    P::BaseField: CtAssign,
{
    type Scalar = P::ScalarField;

    fn identity() -> Self {
        Projective::zero()
    }

    fn add(&self, other: &Self) -> Self {
        *self + other
    }

    fn neg(&self) -> Self {
        -*self
    }

    fn double(&self) -> Self {
        ark_ec::AdditiveGroup::double(self)
    }

    fn mul(&self, k: &Self::Scalar) -> Self {
        P::scalar_mul(self, k)
    }

    /// Affine entries: arkworks' mixed addition (`Projective + &Affine`) saves the
    /// multiplications by the entry's z, and an entry is 2/3 of a projective point to scan.
    type TableEntry = Affine<P>;

    fn table_entries(points: Vec<Self>) -> Vec<Affine<P>> {
        <Projective<P> as CurveGroup>::normalize_batch(&points)
    }

    fn add_entry(&self, entry: &Affine<P>) -> Self {
        *self + entry
    }

    fn ct_assign_entry(entry: &mut Affine<P>, other: &Affine<P>, choice: Choice) {
        use ark_ec::AffineRepr;
        // Every entry of one table is the identity (a table of the identity) or none is, so
        // the coordinates are all that differ. Should a caller mix them, the projective
        // forms are selected instead (no branch on `choice`, but not in a table's scan).
        if entry.is_zero() != other.is_zero() {
            let mut p: Projective<P> = (*entry).into();
            p.ct_assign(&(*other).into(), choice);
            *entry = p.into_affine();
            return;
        }
        entry.x.ct_assign(&other.x, choice);
        entry.y.ct_assign(&other.y, choice);
    }

    fn ct_neg_entry(entry: &mut Affine<P>, choice: Choice) {
        let negated = -*entry;
        entry.y.ct_assign(&negated.y, choice);
    }

    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        self.x.ct_assign(&other.x, choice);
        self.y.ct_assign(&other.y, choice);
        self.z.ct_assign(&other.z, choice);
    }

    fn normalize_batch(points: &mut [Self]) {
        let mut affine = <Projective<P> as CurveGroup>::normalize_batch(points);
        for (p, a) in points.iter_mut().zip(&affine) {
            // z = 1 afterwards, so the affine conversion at encoding needs no inversion.
            *p = (*a).into();
        }
        // The points may be secret (key components): the affine copies are wiped.
        zeroize::Zeroize::zeroize(&mut affine);
    }

    fn encoded_len(form: Compress) -> usize {
        Affine::<P>::default().serialized_size(form)
    }

    fn encode(&self, form: Compress, out: &mut Vec<u8>) {
        // Serializing into a Vec cannot fail: the writer never errors.
        let _ = self.into_affine().serialize_with_mode(&mut *out, form);
    }

    fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
        let p = decode_exact::<Affine<P>>(bytes, form, check)?;
        // ark-bls12-381 reads an uncompressed point without checking the curve equation (its
        // validation is the endomorphism subgroup test "assuming on curve"): check it here,
        // as the blst backend does, so no off-curve point reaches the arithmetic.
        (!ark_ec::AffineRepr::is_zero(&p) && p.is_on_curve()).then(|| p.into())
    }
}

/// Whether a target-group candidate is unitary: `conj(x) · x = 1`. Every element of GT (in
/// the cyclotomic subgroup, order dividing `p^(k/2) + 1`) is; zero is not. One `F_p^12`
/// multiplication, against ≈1.2 ms for the full subgroup check.
fn is_unitary<F: CyclotomicMultSubgroup>(x: &F) -> bool {
    x.cyclotomic_inverse().is_some_and(|c| (c * x).is_one())
}

impl<E: Pairing> Group for PairingOutput<E>
where
    E::TargetField: CtAssign,
{
    type Scalar = E::ScalarField;

    fn identity() -> Self {
        PairingOutput::zero()
    }

    fn add(&self, other: &Self) -> Self {
        *self + other
    }

    fn neg(&self) -> Self {
        -*self
    }

    fn double(&self) -> Self {
        ark_ec::AdditiveGroup::double(self)
    }

    fn mul(&self, k: &Self::Scalar) -> Self {
        *self * k
    }

    entries_as_self!();

    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        self.0.ct_assign(&other.0, choice);
    }

    fn encoded_len(form: Compress) -> usize {
        PairingOutput::<E>::default().serialized_size(form)
    }

    fn encode(&self, form: Compress, out: &mut Vec<u8>) {
        let _ = self.serialize_with_mode(&mut *out, form);
    }

    fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
        let v: Self = decode_exact(bytes, form, check)?;
        (is_unitary(&v.0) && !v.0.is_one()).then_some(v)
    }
}

/// `Π f(g1[i], g2[i])`: one multi-Miller loop, no final exponentiation.
pub(crate) fn multi_miller_loop<E: Pairing>(g1: &[E::G1], g2: &[E::G2Prepared]) -> Option<E::TargetField> {
    if g1.len() != g2.len() {
        return None;
    }
    let mut g1 = E::G1::normalize_batch(g1);
    // The G1 inputs include key components raised to coefficients: the affine copies are
    // wiped; arkworks' own prepared copies inside the Miller loop cannot be.
    let miller = E::multi_miller_loop(g1.iter().map(|p| E::G1Prepared::from(*p)), g2.iter().cloned());
    zeroize::Zeroize::zeroize(&mut g1);
    Some(miller.0)
}

/// The final exponentiation of a Miller value (`None` for zero).
pub(crate) fn final_exponentiation<E: Pairing>(m: &E::TargetField) -> Option<PairingOutput<E>> {
    E::final_exponentiation(ark_ec::pairing::MillerLoopOutput(*m))
}

/// Instantiates an arkworks suite in the calling module (BN254 and BLS12-381 differ only in
/// their curve crate, hash-to-curve map, DST tag and names), as `miracl_suite!` does for the
/// MIRACL curves: the adapter is written once.
macro_rules! ark_suite {
    (
        $(#[$doc:meta])*
        suite: $suite:ident,
        id: $id:ident,
        curve: $curve:ident,
        engine: $engine:ident,
        $(#[$hash_doc:meta])*
        map: $map:ident (dst tag $map_tag:literal, failure $failure:literal),
        aead_key_len: $aead:literal $(,)?
    ) => {
        use std::sync::OnceLock;

        use $curve::{g1, g2, $engine, G1Projective, G2Projective};
        use ark_ec::pairing::{Pairing, PairingOutput};
        use ark_ec::scalar_mul::glv::GLVConfig;
        use ark_ec::PrimeGroup;

        use $crate::suite::ark::ArkCurve;
        use $crate::suite::{dst, GeneratorTables, Suite, SuiteId, G1};

        impl ArkCurve for g1::Config {}

        impl ArkCurve for g2::Config {
            // arkworks' generic G2 multiplication does not use the endomorphism; GLV halves it.
            fn scalar_mul(p: &G2Projective, k: &$curve::Fr) -> G2Projective {
                g2::Config::glv_mul_projective(*p, *k)
            }
        }

        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $suite;

        fn dsts() -> &'static (Vec<u8>, Vec<u8>) {
            static DSTS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
            DSTS.get_or_init(|| (dst(SuiteId::$id, "GID", $map_tag), dst(SuiteId::$id, "ATTR", $map_tag)))
        }

        #[allow(clippy::panic)]
        fn unreachable_hash() -> G1<$suite> {
            panic!($failure)
        }

        $(#[$hash_doc])*
        fn hash_with(dst: &[u8], msg: &[u8]) -> G1<$suite> {
            // The map is total and the DST and output lengths are fixed and valid, so hashing
            // cannot fail for any message.
            $crate::suite::h2c::hash_to_curve::<g1::Config, $map<g1::Config>>(msg, dst)
                .unwrap_or_else(unreachable_hash)
        }

        impl Suite for $suite {
            type Scalar = $curve::Fr;
            type G1 = G1Projective;
            type G2 = G2Projective;
            type Gt = PairingOutput<$engine>;
            type G2Prepared = <$engine as Pairing>::G2Prepared;
            const ID: SuiteId = SuiteId::$id;
            const AEAD_KEY_LEN: usize = $aead;
            const TABLE_WINDOW: usize = $crate::fixed_base::DEFAULT_WINDOW;
            const PARALLEL_DECRYPT: bool = false;

            fn g1_generator() -> G1Projective {
                G1Projective::generator()
            }

            fn g2_generator() -> G2Projective {
                G2Projective::generator()
            }

            fn prepare_g2(p: &G2Projective) -> Self::G2Prepared {
                (*p).into()
            }

            type MillerValue = <$engine as Pairing>::TargetField;

            fn multi_miller_loop(g1: &[G1Projective], g2: &[Self::G2Prepared]) -> Option<Self::MillerValue> {
                $crate::suite::ark::multi_miller_loop::<$engine>(g1, g2)
            }

            fn miller_product(a: &Self::MillerValue, b: &Self::MillerValue) -> Self::MillerValue {
                *a * b
            }

            fn final_exponentiation(m: &Self::MillerValue) -> Option<Self::Gt> {
                $crate::suite::ark::final_exponentiation::<$engine>(m)
            }

            fn hash_gid(encoded_gid: &[u8]) -> G1<Self> {
                hash_with(&dsts().0, encoded_gid)
            }

            fn hash_attribute(attribute: &str) -> G1<Self> {
                hash_with(&dsts().1, attribute.as_bytes())
            }

            fn tables() -> &'static GeneratorTables<Self> {
                static TABLES: OnceLock<GeneratorTables<$suite>> = OnceLock::new();
                TABLES.get_or_init(GeneratorTables::build)
            }
        }

        #[cfg(test)]
        mod tests {
            use super::*;

            #[test]
            fn gid_and_attribute_hashes_are_domain_separated() {
                assert_ne!($suite::hash_gid(b"x"), $suite::hash_attribute("x"));
                assert_eq!($suite::hash_attribute("a:b@c"), $suite::hash_attribute("a:b@c"));
            }
        }
    };
}

pub(crate) use ark_suite;
