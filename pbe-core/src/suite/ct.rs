//! Constant-time conditional assignment for arkworks field elements.
//!
//! The fixed-base tables and the secret-scalar multiplication (`crate::fixed_base`) select
//! table entries by secret digits. They scan every entry and keep the wanted one with a
//! masked move on the raw Montgomery limbs, so the memory access pattern and the control
//! flow do not depend on the digit. arkworks offers no such operation, so it is written here
//! for its prime fields and (recursively) for the quadratic and cubic extensions that make
//! up G2 coordinates and the target group.

use ark_ff::fields::models::cubic_extension::{CubicExtConfig, CubicExtField};
use ark_ff::fields::models::quadratic_extension::{QuadExtConfig, QuadExtField};
use ark_ff::{Fp, FpConfig};
use subtle::{Choice, ConditionallySelectable};

/// `self ← other` when `choice` is 1, with no branch and no data-dependent memory access.
pub trait CtAssign {
    /// Conditionally overwrites `self` with `other`.
    fn ct_assign(&mut self, other: &Self, choice: Choice);
}

impl<P: FpConfig<N>, const N: usize> CtAssign for Fp<P, N> {
    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        for (a, b) in self.0 .0.iter_mut().zip(other.0 .0.iter()) {
            a.conditional_assign(b, choice);
        }
    }
}

impl<P: QuadExtConfig> CtAssign for QuadExtField<P>
where
    P::BaseField: CtAssign,
{
    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        self.c0.ct_assign(&other.c0, choice);
        self.c1.ct_assign(&other.c1, choice);
    }
}

impl<P: CubicExtConfig> CtAssign for CubicExtField<P>
where
    P::BaseField: CtAssign,
{
    fn ct_assign(&mut self, other: &Self, choice: Choice) {
        self.c0.ct_assign(&other.c0, choice);
        self.c1.ct_assign(&other.c1, choice);
        self.c2.ct_assign(&other.c2, choice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;

    #[test]
    fn assigns_only_when_chosen() {
        let mut rng = ark_std::test_rng();
        let a = ark_bls12_381::Fq12::rand(&mut rng);
        let b = ark_bls12_381::Fq12::rand(&mut rng);
        let mut x = a;
        x.ct_assign(&b, Choice::from(0));
        assert_eq!(x, a);
        x.ct_assign(&b, Choice::from(1));
        assert_eq!(x, b);
        let mut y = ark_bn254::Fq2::rand(&mut rng);
        let z = ark_bn254::Fq2::rand(&mut rng);
        y.ct_assign(&z, Choice::from(1));
        assert_eq!(y, z);
    }
}
