//! Pairing suites: the one seam between the generic scheme and a concrete curve.
//!
//! The scheme (`crate::scheme`) is written once against [`Suite`]; each suite supplies the
//! pairing, the two hash-to-G1 functions of DESIGN.md §3 (with its own domain-separation
//! tags), the AEAD key length for its security level, and its wire identifier. A suite id
//! travels in every public key, key bundle and ciphertext, so mixing suites is a decode
//! error rather than garbage.

mod bls12_381;
mod bn254;
mod svdw;

pub use self::bls12_381::Bls12_381Suite;
pub use self::bn254::Bn254Suite;

use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::PrimeGroup;
use std::fmt;

use crate::fixed_base::FixedBaseTable;

/// The wire identifier of a pairing suite (one byte in every encoded object).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SuiteId {
    /// BLS12-381 (arkworks), ≈128-bit security. The default.
    Bls12_381,
    /// BN254 (arkworks), ≈100-bit security after the Kim–Barbulescu NFS improvements. Legacy:
    /// offered for comparison with earlier implementations (Charm, rabe), not for new data.
    Bn254,
}

impl SuiteId {
    /// The byte that identifies this suite on the wire.
    pub const fn to_byte(self) -> u8 {
        match self {
            SuiteId::Bls12_381 => 1,
            SuiteId::Bn254 => 2,
        }
    }

    /// Reads a suite byte; `None` for an id this build does not know.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(SuiteId::Bls12_381),
            2 => Some(SuiteId::Bn254),
            _ => None,
        }
    }

    /// The suite's configuration name (`bls12-381`, `bn254`).
    pub const fn name(self) -> &'static str {
        match self {
            SuiteId::Bls12_381 => "bls12-381",
            SuiteId::Bn254 => "bn254",
        }
    }

    /// Parses a configuration name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "bls12-381" | "bls12_381" | "bls12381" => Some(SuiteId::Bls12_381),
            "bn254" | "bn-254" | "bn_254" => Some(SuiteId::Bn254),
            _ => None,
        }
    }

    /// Every suite this build supports.
    pub const ALL: [SuiteId; 2] = [SuiteId::Bls12_381, SuiteId::Bn254];

    /// Approximate security level in bits.
    pub const fn security_bits(self) -> u32 {
        match self {
            SuiteId::Bls12_381 => 128,
            SuiteId::Bn254 => 100,
        }
    }
}

impl fmt::Display for SuiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Shorthand for a suite's scalar field.
pub type Fr<S> = <<S as Suite>::Engine as Pairing>::ScalarField;
/// Shorthand for a suite's G1 affine points.
pub type G1<S> = <<S as Suite>::Engine as Pairing>::G1Affine;
/// Shorthand for a suite's G2 affine points.
pub type G2<S> = <<S as Suite>::Engine as Pairing>::G2Affine;
/// Shorthand for a suite's G2 projective points.
pub type G2Projective<S> = <<S as Suite>::Engine as Pairing>::G2;
/// Shorthand for a suite's target group.
pub type Gt<S> = PairingOutput<<S as Suite>::Engine>;

/// Fixed-base tables for the two global generators, built once per process and suite.
pub struct GeneratorTables<S: Suite> {
    /// `gt = e(g1, g2)`.
    pub gt: Gt<S>,
    /// Table for `gt^x`.
    pub gt_table: FixedBaseTable<Gt<S>>,
    /// Table for `g2^x`.
    pub g2_table: FixedBaseTable<G2Projective<S>>,
}

impl<S: Suite> GeneratorTables<S> {
    /// Builds the tables (tens of milliseconds; done once per suite via [`Suite::tables`]).
    pub fn build() -> Self {
        let g1 = <S::Engine as Pairing>::G1::generator();
        let g2 = <S::Engine as Pairing>::G2::generator();
        let gt = S::Engine::pairing(g1, g2);
        GeneratorTables {
            gt,
            gt_table: FixedBaseTable::new(gt, crate::fixed_base::DEFAULT_WINDOW),
            g2_table: FixedBaseTable::new(g2, crate::fixed_base::DEFAULT_WINDOW),
        }
    }
}

/// A pairing suite: everything the generic scheme needs from a concrete curve.
pub trait Suite: Sized + Send + Sync + 'static {
    /// The arkworks pairing engine.
    type Engine: Pairing;

    /// Wire identifier.
    const ID: SuiteId;

    /// AES-GCM key length in bytes: 16 up to 128-bit security, 32 above.
    const AEAD_KEY_LEN: usize;

    /// `H(GID)`: hashes an encoded global identifier to G1 (DESIGN.md §3).
    fn hash_gid(encoded_gid: &[u8]) -> G1<Self>;

    /// `F(u)`: hashes a canonical attribute string to G1.
    fn hash_attribute(attribute: &str) -> G1<Self>;

    /// `p · k` in G2, using the GLV endomorphism where the curve has one (arkworks' generic
    /// G2 multiplication does not).
    fn g2_mul(p: G2Projective<Self>, k: Fr<Self>) -> G2Projective<Self>;

    /// Process-wide generator tables (built on first use).
    fn tables() -> &'static GeneratorTables<Self>;
}

/// Builds the domain-separation tag for one hash of one suite.
///
/// Distinct tags make `H` and `F` independent random oracles, and keep a GID from ever
/// hashing to the same point as an attribute (DESIGN.md §3).
pub(crate) fn dst(suite: SuiteId, purpose: &str, map: &str) -> Vec<u8> {
    format!("IDAAS-PBE-V01-{}-{purpose}_XMD:SHA-256_{map}_RO_", suite.name().to_ascii_uppercase())
        .into_bytes()
}
