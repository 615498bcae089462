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

/// All ones when `a = b`, zero otherwise: computed with arithmetic only (no comparison the
/// compiler could turn into a branch) and passed through one optimisation barrier, so the
/// masked moves that use it stay masked moves. The fixed-base tables compare every entry's
/// digit with the secret one through this (`Group::ct_select_entry`).
#[inline(always)]
pub(crate) fn eq_mask(a: u64, b: u64) -> u64 {
    let x = a ^ b;
    // The top bit of x | −x is set exactly when x ≠ 0.
    let ne = (x | x.wrapping_neg()) >> 63;
    std::hint::black_box(ne.wrapping_sub(1))
}

/// All ones when `choice` is 1, zero when it is 0 (a `Choice` already went through subtle's
/// barrier when it was made).
#[inline(always)]
pub(crate) fn choice_mask(choice: Choice) -> u64 {
    0u64.wrapping_sub(u64::from(choice.unwrap_u8()))
}

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

    #[test]
    fn masks_are_all_ones_exactly_on_equality() {
        for a in [0u64, 1, 2, 31, 32, 1 << 63, u64::MAX] {
            for b in [0u64, 1, 2, 31, 32, 1 << 63, u64::MAX] {
                assert_eq!(eq_mask(a, b), if a == b { u64::MAX } else { 0 }, "{a} {b}");
            }
        }
        assert_eq!(choice_mask(Choice::from(1)), u64::MAX);
        assert_eq!(choice_mask(Choice::from(0)), 0);
    }
}
