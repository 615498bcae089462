//! The Shallue–van de Woestijne map to curve (RFC 9380 §6.6.1), for curves such as BN254 G1
//! where `A = 0` rules out simplified SWU and arkworks ships no isogeny.
//!
//! Straight-line, exception-free: every field element maps to a point. The constants are
//! derived from `Z` at first use (RFC 9380 §H.1 conditions are checked in the tests).

use std::marker::PhantomData;

use ark_ec::hashing::curve_maps::parity;
use ark_ec::hashing::map_to_curve_hasher::MapToCurve;
use ark_ec::hashing::HashToCurveError;
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ff::{Field, One, Zero};

/// Per-curve choice of `Z` (RFC 9380 §6.6.1).
pub trait SvdwConfig: SWCurveConfig {
    /// The map's `Z` constant.
    fn z() -> Self::BaseField;
}

impl SvdwConfig for ark_bn254::g1::Config {
    /// RFC 9380 draft suite `BN254G1_XMD:SHA-256_SVDW_RO_` uses `Z = 1`.
    fn z() -> Self::BaseField {
        Self::BaseField::one()
    }
}

/// The SvdW map for curve `P`.
pub struct SvdwMap<P: SvdwConfig>(PhantomData<P>);

struct Constants<F> {
    z: F,
    c1: F,
    c2: F,
    c3: F,
    c4: F,
}

fn g<P: SWCurveConfig>(x: P::BaseField) -> P::BaseField {
    x * x * x + P::COEFF_A * x + P::COEFF_B
}

fn constants<P: SvdwConfig>() -> Option<Constants<P::BaseField>> {
    let z = P::z();
    let gz = g::<P>(z);
    let two = P::BaseField::from(2u64);
    let three = P::BaseField::from(3u64);
    let four = P::BaseField::from(4u64);
    let h = three * z * z + four * P::COEFF_A; // 3Z² + 4A
    let c1 = gz;
    let c2 = -(z * two.inverse()?);
    let mut c3 = (-(gz * h)).sqrt()?;
    // sgn0(c3) must be 0.
    if parity(&c3) {
        c3 = -c3;
    }
    let c4 = -(four * gz) * h.inverse()?;
    Some(Constants { z, c1, c2, c3, c4 })
}

impl<P: SvdwConfig> MapToCurve<Projective<P>> for SvdwMap<P> {
    fn check_parameters() -> Result<(), HashToCurveError> {
        constants::<P>().map(|_| ()).ok_or_else(|| HashToCurveError::MapToCurveError("invalid SvdW Z".into()))
    }

    fn map_to_curve(u: P::BaseField) -> Result<Affine<P>, HashToCurveError> {
        let c = constants::<P>().ok_or_else(|| HashToCurveError::MapToCurveError("invalid SvdW Z".into()))?;
        let one = P::BaseField::one();
        let mut tv1 = u.square() * c.c1;
        let tv2 = one + tv1;
        tv1 = one - tv1;
        let tv3 = (tv1 * tv2).inverse().unwrap_or_else(P::BaseField::zero); // inv0
        let tv4 = u * tv1 * tv3 * c.c3;
        let x1 = c.c2 - tv4;
        let e1 = g::<P>(x1).legendre().is_qr();
        let x2 = c.c2 + tv4;
        let e2 = g::<P>(x2).legendre().is_qr() && !e1;
        let mut x3 = tv2.square() * tv3;
        x3 = x3.square() * c.c4 + c.z;
        let x = if e1 {
            x1
        } else if e2 {
            x2
        } else {
            x3
        };
        let mut y = g::<P>(x)
            .sqrt()
            .ok_or_else(|| HashToCurveError::MapToCurveError("SvdW: g(x) not square".into()))?;
        if parity(&u) != parity(&y) {
            y = -y;
        }
        let p = Affine::<P>::new_unchecked(x, y);
        if p.is_on_curve() {
            Ok(p)
        } else {
            Err(HashToCurveError::MapToCurveError("SvdW produced an off-curve point".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{g1::Config, Fq};
    use ark_ff::UniformRand;

    #[test]
    fn z_satisfies_rfc9380_conditions() {
        let z = Config::z();
        let gz = g::<Config>(z);
        assert!(!gz.is_zero());
        let h = Fq::from(3u64) * z * z;
        let t = -(h * (Fq::from(4u64) * gz).inverse().unwrap());
        assert!(!t.is_zero() && t.legendre().is_qr());
        let half = -(z * Fq::from(2u64).inverse().unwrap());
        assert!(gz.legendre().is_qr() || g::<Config>(half).legendre().is_qr());
        SvdwMap::<Config>::check_parameters().unwrap();
    }

    #[test]
    fn maps_every_input_onto_the_curve() {
        let mut rng = ark_std::test_rng();
        let mut inputs = vec![Fq::zero(), Fq::one(), -Fq::one()];
        inputs.extend((0..200).map(|_| Fq::rand(&mut rng)));
        for u in inputs {
            let p = SvdwMap::<Config>::map_to_curve(u).unwrap();
            assert!(p.is_on_curve());
            assert!(p.is_in_correct_subgroup_assuming_on_curve());
            assert_eq!(parity(&p.y), parity(&u));
        }
    }
}
