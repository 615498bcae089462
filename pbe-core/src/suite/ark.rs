//! The group seam for arkworks curves (BN254, BLS12-381).
//!
//! Points are kept in projective form (arithmetic without inversions); encoding goes through
//! the affine form and arkworks' canonical serialization, whose validating decoder checks
//! the curve equation and prime-order subgroup membership.

use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::CurveGroup;
use ark_ff::{PrimeField, Zero};
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

    fn mul(&self, k: &Self::Scalar) -> Self {
        P::scalar_mul(self, k)
    }

    fn normalize_batch(points: &mut [Self]) {
        let affine = <Projective<P> as CurveGroup>::normalize_batch(points);
        for (p, a) in points.iter_mut().zip(affine) {
            // z = 1 afterwards, so the affine conversion at encoding needs no inversion.
            *p = a.into();
        }
    }

    fn encoded_len(form: Compress) -> usize {
        Affine::<P>::default().serialized_size(form)
    }

    fn encode(&self, form: Compress, out: &mut Vec<u8>) {
        // Serializing into a Vec cannot fail: the writer never errors.
        let _ = self.into_affine().serialize_with_mode(&mut *out, form);
    }

    fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
        decode_exact::<Affine<P>>(bytes, form, check).map(Into::into)
    }
}

impl<E: Pairing> Group for PairingOutput<E> {
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

    fn mul(&self, k: &Self::Scalar) -> Self {
        *self * k
    }

    fn encoded_len(form: Compress) -> usize {
        PairingOutput::<E>::default().serialized_size(form)
    }

    fn encode(&self, form: Compress, out: &mut Vec<u8>) {
        let _ = self.serialize_with_mode(&mut *out, form);
    }

    fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self> {
        decode_exact(bytes, form, check)
    }
}

/// `Π e(g1[i], g2[i])` with one multi-Miller loop and one final exponentiation.
pub(crate) fn multi_pairing<E: Pairing>(g1: &[E::G1], g2: &[E::G2Prepared]) -> Option<PairingOutput<E>> {
    if g1.len() != g2.len() {
        return None;
    }
    let g1 = E::G1::normalize_batch(g1);
    let miller = E::multi_miller_loop(g1.into_iter().map(E::G1Prepared::from), g2.iter().cloned());
    E::final_exponentiation(miller)
}
