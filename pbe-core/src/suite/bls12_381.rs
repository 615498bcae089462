//! BLS12-381 (≈128-bit): the default suite.

use std::sync::OnceLock;

use ark_bls12_381::{g1, g2, Bls12_381, G1Projective, G2Projective};
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::PrimeGroup;

use super::ark::ArkCurve;
use super::{dst, GeneratorTables, Suite, SuiteId, G1};

impl ArkCurve for g1::Config {}

impl ArkCurve for g2::Config {
    // arkworks' generic G2 multiplication does not use the endomorphism; GLV halves it.
    fn scalar_mul(p: &G2Projective, k: &ark_bls12_381::Fr) -> G2Projective {
        g2::Config::glv_mul_projective(*p, *k)
    }
}

/// The BLS12-381 suite (arkworks), AES-128-GCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bls12_381Suite;

fn dsts() -> &'static (Vec<u8>, Vec<u8>) {
    static DSTS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    DSTS.get_or_init(|| (dst(SuiteId::Bls12_381, "GID", "SSWU"), dst(SuiteId::Bls12_381, "ATTR", "SSWU")))
}

/// RFC 9380 `BLS12381G1_XMD:SHA-256_SSWU_RO_` under our DST, through `suite::h2c` (whose
/// `expand_message_xmd` does not depend on arkworks' field hasher) and arkworks' WB map.
fn hash_with(dst: &[u8], msg: &[u8]) -> G1<Bls12_381Suite> {
    // The SSWU map is total and the DST and output lengths are fixed and valid, so hashing
    // cannot fail for any message.
    super::h2c::hash_to_curve::<g1::Config, WBMap<g1::Config>>(msg, dst).unwrap_or_else(unreachable_hash)
}

#[allow(clippy::panic)]
fn unreachable_hash() -> G1<Bls12_381Suite> {
    panic!("BLS12-381 hash-to-curve failed: the SSWU map is total")
}

impl Suite for Bls12_381Suite {
    type Scalar = ark_bls12_381::Fr;
    type G1 = G1Projective;
    type G2 = G2Projective;
    type Gt = PairingOutput<Bls12_381>;
    type G2Prepared = <Bls12_381 as Pairing>::G2Prepared;
    const ID: SuiteId = SuiteId::Bls12_381;
    const AEAD_KEY_LEN: usize = 16;
    const TABLE_WINDOW: usize = crate::fixed_base::DEFAULT_WINDOW;
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

    fn multi_pairing(g1: &[G1Projective], g2: &[Self::G2Prepared]) -> Option<Self::Gt> {
        super::ark::multi_pairing::<Bls12_381>(g1, g2)
    }

    fn hash_gid(encoded_gid: &[u8]) -> G1<Self> {
        hash_with(&dsts().0, encoded_gid)
    }

    fn hash_attribute(attribute: &str) -> G1<Self> {
        hash_with(&dsts().1, attribute.as_bytes())
    }

    fn tables() -> &'static GeneratorTables<Self> {
        static TABLES: OnceLock<GeneratorTables<Bls12_381Suite>> = OnceLock::new();
        TABLES.get_or_init(GeneratorTables::build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gid_and_attribute_hashes_are_domain_separated() {
        assert_ne!(Bls12_381Suite::hash_gid(b"x"), Bls12_381Suite::hash_attribute("x"));
        assert_eq!(Bls12_381Suite::hash_attribute("a:b@c"), Bls12_381Suite::hash_attribute("a:b@c"));
    }
}
