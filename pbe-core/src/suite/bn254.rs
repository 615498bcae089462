//! BN254 (≈100-bit, legacy): kept for comparison with Charm and rabe, which use it.

use std::sync::OnceLock;

use ark_bn254::{g1, g2, Bn254, G1Projective, G2Projective};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::PrimeGroup;

use super::ark::ArkCurve;
use super::svdw::SvdwMap;
use super::{dst, GeneratorTables, Suite, SuiteId, G1};

impl ArkCurve for g1::Config {}

impl ArkCurve for g2::Config {
    // arkworks' generic G2 multiplication does not use the endomorphism; GLV halves it.
    fn scalar_mul(p: &G2Projective, k: &ark_bn254::Fr) -> G2Projective {
        g2::Config::glv_mul_projective(*p, *k)
    }
}

/// The BN254 suite (arkworks), AES-128-GCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bn254Suite;

fn dsts() -> &'static (Vec<u8>, Vec<u8>) {
    static DSTS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    DSTS.get_or_init(|| (dst(SuiteId::Bn254, "GID", "SVDW"), dst(SuiteId::Bn254, "ATTR", "SVDW")))
}

#[allow(clippy::panic)]
fn broken<T>() -> T {
    panic!("BN254 SvdW map parameters are invalid: checked by the svdw module's tests")
}

/// RFC 9380 `BN254G1_XMD:SHA-256_SVDW_RO_` under our DST: the RFC-exact
/// `expand_message_xmd` of `suite::h2c` (arkworks' pads with 48 bytes instead of 64, so
/// hashes made before this change differ) and the SvdW map of `suite::svdw`.
fn hash_with(dst: &[u8], msg: &[u8]) -> G1<Bn254Suite> {
    // The SvdW map is total, so hashing cannot fail for any message.
    super::h2c::hash_to_curve::<g1::Config, SvdwMap<g1::Config>>(msg, dst).unwrap_or_else(broken)
}

impl Suite for Bn254Suite {
    type Scalar = ark_bn254::Fr;
    type G1 = G1Projective;
    type G2 = G2Projective;
    type Gt = PairingOutput<Bn254>;
    type G2Prepared = <Bn254 as Pairing>::G2Prepared;
    const ID: SuiteId = SuiteId::Bn254;
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
        super::ark::multi_pairing::<Bn254>(g1, g2)
    }

    fn hash_gid(encoded_gid: &[u8]) -> G1<Self> {
        hash_with(&dsts().0, encoded_gid)
    }

    fn hash_attribute(attribute: &str) -> G1<Self> {
        hash_with(&dsts().1, attribute.as_bytes())
    }

    fn tables() -> &'static GeneratorTables<Self> {
        static TABLES: OnceLock<GeneratorTables<Bn254Suite>> = OnceLock::new();
        TABLES.get_or_init(GeneratorTables::build)
    }
}
