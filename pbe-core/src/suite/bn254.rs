//! BN254 (≈100-bit, legacy): kept for comparison with Charm and rabe, which use it.

use std::sync::OnceLock;

use ark_bn254::{g1, g2, Bn254, G1Projective, G2Projective};
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::HashToCurve;
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::PrimeGroup;
use ark_ff::field_hashers::DefaultFieldHasher;
use sha2::Sha256;

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

type Hasher =
    MapToCurveBasedHasher<G1Projective, DefaultFieldHasher<Sha256, 128>, SvdwMap<ark_bn254::g1::Config>>;

/// The BN254 suite (arkworks), AES-128-GCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bn254Suite;

struct Hashers {
    gid: Hasher,
    attribute: Hasher,
}

fn hashers() -> &'static Hashers {
    static HASHERS: OnceLock<Hashers> = OnceLock::new();
    HASHERS.get_or_init(|| Hashers {
        gid: Hasher::new(&dst(SuiteId::Bn254, "GID", "SVDW")).unwrap_or_else(|_| broken()),
        attribute: Hasher::new(&dst(SuiteId::Bn254, "ATTR", "SVDW")).unwrap_or_else(|_| broken()),
    })
}

#[allow(clippy::panic)]
fn broken<T>() -> T {
    panic!("BN254 SvdW map parameters are invalid: checked by the svdw module's tests")
}

fn hash_with(h: &Hasher, msg: &[u8]) -> G1<Bn254Suite> {
    // The SvdW map is total, so hashing cannot fail for any message.
    h.hash(msg).map(Into::into).unwrap_or_else(|_| broken())
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
        hash_with(&hashers().gid, encoded_gid)
    }

    fn hash_attribute(attribute: &str) -> G1<Self> {
        hash_with(&hashers().attribute, attribute.as_bytes())
    }

    fn tables() -> &'static GeneratorTables<Self> {
        static TABLES: OnceLock<GeneratorTables<Bn254Suite>> = OnceLock::new();
        TABLES.get_or_init(GeneratorTables::build)
    }
}
