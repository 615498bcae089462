//! BN254 (≈100-bit, legacy): kept for comparison with Charm and rabe, which use it.

use std::sync::OnceLock;

use ark_bn254::{Bn254, G1Projective};
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::HashToCurve;
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ff::field_hashers::DefaultFieldHasher;
use sha2::Sha256;

use super::svdw::SvdwMap;
use super::{dst, Fr, G2Projective, GeneratorTables, Suite, SuiteId, G1};

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
    h.hash(msg).unwrap_or_else(|_| broken())
}

impl Suite for Bn254Suite {
    type Engine = Bn254;
    const ID: SuiteId = SuiteId::Bn254;
    const AEAD_KEY_LEN: usize = 16;

    fn hash_gid(encoded_gid: &[u8]) -> G1<Self> {
        hash_with(&hashers().gid, encoded_gid)
    }

    fn hash_attribute(attribute: &str) -> G1<Self> {
        hash_with(&hashers().attribute, attribute.as_bytes())
    }

    fn g2_mul(p: G2Projective<Self>, k: Fr<Self>) -> G2Projective<Self> {
        ark_bn254::g2::Config::glv_mul_projective(p, k)
    }

    fn tables() -> &'static GeneratorTables<Self> {
        static TABLES: OnceLock<GeneratorTables<Bn254Suite>> = OnceLock::new();
        TABLES.get_or_init(GeneratorTables::build)
    }
}
