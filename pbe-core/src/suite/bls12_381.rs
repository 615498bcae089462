//! BLS12-381 (≈128-bit): the default suite.

use std::sync::OnceLock;

use ark_bls12_381::{g1, g2, Bls12_381, G1Projective, G2Projective};
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::hashing::HashToCurve;
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::PrimeGroup;
use ark_ff::field_hashers::DefaultFieldHasher;
use sha2::Sha256;

use super::ark::ArkCurve;
use super::{dst, GeneratorTables, Suite, SuiteId, G1};

impl ArkCurve for g1::Config {}

impl ArkCurve for g2::Config {
    // arkworks' generic G2 multiplication does not use the endomorphism; GLV halves it.
    fn scalar_mul(p: &G2Projective, k: &ark_bls12_381::Fr) -> G2Projective {
        g2::Config::glv_mul_projective(*p, *k)
    }
}

type Hasher = MapToCurveBasedHasher<G1Projective, DefaultFieldHasher<Sha256, 128>, WBMap<g1::Config>>;

/// The BLS12-381 suite (arkworks), AES-128-GCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bls12_381Suite;

struct Hashers {
    gid: Hasher,
    attribute: Hasher,
}

fn hashers() -> &'static Hashers {
    static HASHERS: OnceLock<Hashers> = OnceLock::new();
    HASHERS.get_or_init(|| Hashers {
        gid: Hasher::new(&dst(SuiteId::Bls12_381, "GID", "SSWU")).unwrap_or_else(|_| unreachable_map()),
        attribute: Hasher::new(&dst(SuiteId::Bls12_381, "ATTR", "SSWU"))
            .unwrap_or_else(|_| unreachable_map()),
    })
}

/// `MapToCurveBasedHasher::new` only fails when the curve's map parameters are invalid, which
/// is a property of the compiled-in constants (checked by `hashes_match_rfc9380_vectors`).
#[allow(clippy::panic)]
fn unreachable_map() -> Hasher {
    panic!("BLS12-381 WB map parameters are invalid: arkworks build is broken")
}

fn hash_with(h: &Hasher, msg: &[u8]) -> G1<Bls12_381Suite> {
    // The WB map is total (no exceptional inputs), so hashing cannot fail for any message.
    match h.hash(msg) {
        Ok(p) => p.into(),
        Err(_) => unreachable_hash(),
    }
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
        hash_with(&hashers().gid, encoded_gid)
    }

    fn hash_attribute(attribute: &str) -> G1<Self> {
        hash_with(&hashers().attribute, attribute.as_bytes())
    }

    fn tables() -> &'static GeneratorTables<Self> {
        static TABLES: OnceLock<GeneratorTables<Bls12_381Suite>> = OnceLock::new();
        TABLES.get_or_init(GeneratorTables::build)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{BigInteger, PrimeField};

    fn hex(x: &ark_bls12_381::Fq) -> String {
        x.into_bigint().to_bytes_be().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Our hasher is arkworks' RFC 9380 `BLS12381G1_XMD:SHA-256_SSWU_RO_`; check it against
    /// the RFC's own vector (Appendix J.9.1, msg "abc") under the RFC's test DST.
    #[test]
    fn hashes_match_rfc9380_vectors() {
        let h = Hasher::new(b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_").unwrap();
        let p = h.hash(b"abc").unwrap();
        assert_eq!(
            hex(&p.x),
            "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903"
        );
        assert_eq!(
            hex(&p.y),
            "0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d"
        );
    }

    #[test]
    fn gid_and_attribute_hashes_are_domain_separated() {
        assert_ne!(Bls12_381Suite::hash_gid(b"x"), Bls12_381Suite::hash_attribute("x"));
        assert_eq!(Bls12_381Suite::hash_attribute("a:b@c"), Bls12_381Suite::hash_attribute("a:b@c"));
    }
}
