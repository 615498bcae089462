//! Pairing suites: the one seam between the generic scheme and a concrete curve.
//!
//! The scheme (`crate::scheme`) is written once against [`Suite`]; each suite supplies the
//! pairing, the two hash-to-G1 functions of DESIGN.md §3 (with its own domain-separation
//! tags), the AEAD key length for its security level, and its wire identifier. A suite id
//! travels in every public key, key bundle and ciphertext, so mixing suites is a decode
//! error rather than garbage.

/// Implements the table-entry methods of [`Group`] with entries of the group's own type (for
/// groups with no cheaper mixed addition: the target groups, and the arkworks and MIRACL
/// points, whose tables keep normalised projective points as before).
macro_rules! entries_as_self {
    () => {
        type TableEntry = Self;

        fn table_entries(mut points: Vec<Self>) -> Vec<Self> {
            <Self as $crate::suite::Group>::normalize_batch(&mut points);
            points
        }

        fn add_entry(&self, entry: &Self) -> Self {
            <Self as $crate::suite::Group>::add(self, entry)
        }

        fn ct_assign_entry(entry: &mut Self, other: &Self, choice: ::subtle::Choice) {
            <Self as $crate::suite::Group>::ct_assign(entry, other, choice);
        }

        fn ct_neg_entry(entry: &mut Self, choice: ::subtle::Choice) {
            let negated = <Self as $crate::suite::Group>::neg(entry);
            <Self as $crate::suite::Group>::ct_assign(entry, &negated, choice);
        }
    };
}

mod ark;
mod bls12_381;
mod bls12_381_blst;
mod bls24_479;
mod bls48_581;
mod bn254;
pub(crate) mod ct;
mod h2c;
#[cfg(test)]
mod kat;
mod miracl;
mod svdw;

pub use self::bls12_381::Bls12_381Arkworks;
pub use self::bls12_381_blst::{Bls12_381Blst, BlstG1, BlstG2, BlstG2Prepared, BlstGt};
pub use self::bls24_479::Bls24_479Suite;
pub use self::bls48_581::Bls48_581Suite;
pub use self::bn254::Bn254Suite;

/// The BLS12-381 suite every other crate uses (`SuiteId::Bls12_381`): the blst backend,
/// which is faster than arkworks in every operation the scheme uses (docs/performance.md,
/// "BLS12-381 backends"). Both backends read and write the same bytes, so the choice is a
/// build option only: the cargo feature `arkworks-bls12-381` of pbe-core selects
/// [`Bls12_381Arkworks`] instead.
#[cfg(not(feature = "arkworks-bls12-381"))]
pub type Bls12_381Suite = Bls12_381Blst;
/// The BLS12-381 suite every other crate uses (`SuiteId::Bls12_381`): arkworks, selected by
/// the cargo feature `arkworks-bls12-381` (the default build uses [`Bls12_381Blst`]).
#[cfg(feature = "arkworks-bls12-381")]
pub type Bls12_381Suite = Bls12_381Arkworks;

use ark_ff::PrimeField;
use ark_serialize::{Compress, Validate};
use std::fmt;
use zeroize::Zeroize;

use crate::fixed_base::FixedBaseTable;

/// The wire identifier of a pairing suite (one byte in every encoded object).
///
/// Not `#[non_exhaustive]`: services dispatch on it with [`crate::with_suite!`], which must
/// name every suite so that adding one is a compile error wherever it is not handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SuiteId {
    /// BLS12-381, ≈128-bit security. The default. Two wire-compatible backends: blst
    /// ([`Bls12_381Blst`], the default) and arkworks ([`Bls12_381Arkworks`]).
    Bls12_381,
    /// BN254 (arkworks), ≈100-bit security after the Kim–Barbulescu NFS improvements. Legacy:
    /// offered for comparison with earlier implementations (Charm, rabe), not for new data.
    Bn254,
    /// BLS24-479 (MIRACL Core), ≈192-bit security.
    Bls24_479,
    /// BLS48-581 (MIRACL Core), ≈256-bit security.
    Bls48_581,
}

impl SuiteId {
    /// The byte that identifies this suite on the wire.
    pub const fn to_byte(self) -> u8 {
        match self {
            SuiteId::Bls12_381 => 1,
            SuiteId::Bn254 => 2,
            SuiteId::Bls24_479 => 3,
            SuiteId::Bls48_581 => 4,
        }
    }

    /// Reads a suite byte; `None` for an id this build does not know.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(SuiteId::Bls12_381),
            2 => Some(SuiteId::Bn254),
            3 => Some(SuiteId::Bls24_479),
            4 => Some(SuiteId::Bls48_581),
            _ => None,
        }
    }

    /// The suite's configuration name (`bn254`, `bls12-381`, `bls24-479`, `bls48-581`).
    pub const fn name(self) -> &'static str {
        match self {
            SuiteId::Bls12_381 => "bls12-381",
            SuiteId::Bn254 => "bn254",
            SuiteId::Bls24_479 => "bls24-479",
            SuiteId::Bls48_581 => "bls48-581",
        }
    }

    /// Parses a configuration name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "bls12-381" | "bls12_381" | "bls12381" => Some(SuiteId::Bls12_381),
            "bn254" | "bn-254" | "bn_254" => Some(SuiteId::Bn254),
            "bls24-479" | "bls24_479" | "bls24479" => Some(SuiteId::Bls24_479),
            "bls48-581" | "bls48_581" | "bls48581" => Some(SuiteId::Bls48_581),
            _ => None,
        }
    }

    /// Every suite this build supports, in order of security level.
    pub const ALL: [SuiteId; 4] =
        [SuiteId::Bn254, SuiteId::Bls12_381, SuiteId::Bls24_479, SuiteId::Bls48_581];

    /// Approximate security level in bits.
    pub const fn security_bits(self) -> u32 {
        match self {
            SuiteId::Bls12_381 => 128,
            SuiteId::Bn254 => 100,
            SuiteId::Bls24_479 => 192,
            SuiteId::Bls48_581 => 256,
        }
    }
}

impl fmt::Display for SuiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A prime-order group as the scheme sees it: written additively (the target group's
/// "addition" is multiplication in `F_p^k`), with scalar multiplication by the suite's
/// scalar field and a validating byte encoding.
///
/// This trait and [`Suite`] are the whole seam between the scheme and a curve library:
/// arkworks implements them for BN254 and BLS12-381 (`suite::ark`), blst for BLS12-381
/// (`suite::bls12_381_blst`, wire-compatible with the arkworks one), MIRACL Core for
/// BLS24-479 and BLS48-581 (`suite::miracl`).
pub trait Group: Clone + PartialEq + Eq + Send + Sync + Zeroize + 'static {
    /// The scalar field (an arkworks prime field for every suite, so the LSSS and the
    /// scalar arithmetic are shared).
    type Scalar: PrimeField;

    /// The neutral element.
    fn identity() -> Self;

    /// `self + other`.
    fn add(&self, other: &Self) -> Self;

    /// `−self`.
    fn neg(&self) -> Self;

    /// `self − other`.
    fn sub(&self, other: &Self) -> Self {
        self.add(&other.neg())
    }

    /// `2 · self`.
    fn double(&self) -> Self {
        self.add(self)
    }

    /// `self · k`, with the curve's endomorphism-accelerated method where it has one.
    /// **Variable time** in `k` on the arkworks suites: only for public scalars (the LSSS
    /// reconstruction coefficients at decryption). Secret scalars go through
    /// [`Group::mul_secret`] or a [`FixedBaseTable`].
    fn mul(&self, k: &Self::Scalar) -> Self;

    /// `self · k` for a secret `k`, with no branch or memory access that depends on `k`
    /// (fixed 4-bit windows, every table entry scanned, an addition in every window; see
    /// `crate::fixed_base::ct_mul`). The MIRACL suites use MIRACL's own multiplication,
    /// which is written to be constant-time.
    fn mul_secret(&self, k: &Self::Scalar) -> Self {
        crate::fixed_base::ct_mul(self, k)
    }

    /// `self ← other` when `choice` is 1, in constant time (masked moves, no branch).
    fn ct_assign(&mut self, other: &Self, choice: subtle::Choice);

    /// Brings points into the representation that encodes fastest (affine), with one shared
    /// inversion. Purely an optimisation: the default does nothing.
    fn normalize_batch(_points: &mut [Self]) {}

    /// The form a [`FixedBaseTable`] (and `ct_mul`) keeps its entries in: the affine form
    /// where the library has a mixed (projective + affine) addition, which is cheaper and
    /// whose entries are 2/3 the size to scan (blst's G1 and G2); the group's own type
    /// elsewhere (`entries_as_self!`).
    type TableEntry: Clone + Send + Sync + Zeroize + 'static;

    /// The table entries for `points` (with one shared inversion where they become affine).
    fn table_entries(points: Vec<Self>) -> Vec<Self::TableEntry>;

    /// `self + entry`, complete (equal points, the identity) and without a branch on the
    /// values where the library's addition has none.
    fn add_entry(&self, entry: &Self::TableEntry) -> Self;

    /// `entry ← other` when `choice` is 1, in constant time (masked moves, no branch).
    fn ct_assign_entry(entry: &mut Self::TableEntry, other: &Self::TableEntry, choice: subtle::Choice);

    /// `entry ← −entry` when `choice` is 1, in constant time: the negation is computed either
    /// way and kept by a masked move.
    fn ct_neg_entry(entry: &mut Self::TableEntry, choice: subtle::Choice);

    /// The entry of one window's row for the digit `d` (`entries[j]` stands for `d = j + 1`),
    /// reading every entry, with no branch and no address that depends on `d`. For `d = 0`,
    /// or a `d` past the row, the first entry (a dummy the caller discards). `None` for an
    /// empty row.
    ///
    /// The default keeps the wanted entry with [`Group::ct_assign_entry`], entry by entry.
    /// The blst backend overrides it with one masked select over each entry's limbs as flat
    /// arrays (one mask, and one optimisation barrier, per entry), which the compiler
    /// vectorises (issue 22).
    fn ct_select_entry(entries: &[Self::TableEntry], d: u64) -> Option<Self::TableEntry> {
        let mut out = entries.first()?.clone();
        for (j, e) in entries.iter().enumerate().skip(1) {
            Self::ct_assign_entry(&mut out, e, subtle::ConstantTimeEq::ct_eq(&(j as u64 + 1), &d));
        }
        Some(out)
    }

    /// Size of the encoding in `form`.
    fn encoded_len(form: Compress) -> usize;

    /// Appends the canonical encoding in `form`.
    fn encode(&self, form: Compress, out: &mut Vec<u8>);

    /// Decodes exactly `bytes`; `None` for a wrong length, a non-canonical encoding, a point
    /// off the curve, or (with `Validate::Yes`) an element outside the prime-order subgroup.
    /// Never panics.
    fn decode(bytes: &[u8], form: Compress, check: Validate) -> Option<Self>;
}

/// Shorthand for a suite's scalar field.
pub type Fr<S> = <S as Suite>::Scalar;
/// Shorthand for a suite's G1.
pub type G1<S> = <S as Suite>::G1;
/// Shorthand for a suite's G2.
pub type G2<S> = <S as Suite>::G2;
/// Shorthand for a suite's target group.
pub type Gt<S> = <S as Suite>::Gt;

/// Fixed-base tables for the two global generators, built once per process and suite.
pub struct GeneratorTables<S: Suite> {
    /// `gt = e(g1, g2)`.
    pub gt: Gt<S>,
    /// Table for `gt^x`.
    pub gt_table: FixedBaseTable<Gt<S>>,
    /// Table for `g2^x`.
    pub g2_table: FixedBaseTable<G2<S>>,
}

impl<S: Suite> GeneratorTables<S> {
    /// Builds the tables (tens of milliseconds; done once per suite via [`Suite::tables`]).
    pub fn build() -> Self {
        let g2 = S::g2_generator();
        let gt =
            S::multi_pairing(&[S::g1_generator()], &[S::prepare_g2(&g2)]).unwrap_or_else(Gt::<S>::identity);
        GeneratorTables {
            gt_table: FixedBaseTable::new(gt.clone(), S::TABLE_WINDOW),
            g2_table: FixedBaseTable::new(g2, S::TABLE_WINDOW),
            gt,
        }
    }
}

/// A pairing suite: everything the generic scheme needs from a concrete curve.
pub trait Suite: Sized + Send + Sync + 'static {
    /// The scalar field `Z_r`.
    type Scalar: PrimeField;
    /// G1 (keys `K`, `H(GID)`, `F(u)`, ciphertext `C4`).
    type G1: Group<Scalar = Self::Scalar>;
    /// G2 (keys `K'`, public keys `g2^y`, ciphertext `C2`, `C3`).
    type G2: Group<Scalar = Self::Scalar>;
    /// The target group GT (public keys `gt^α`, ciphertext `C0`, `C1`).
    type Gt: Group<Scalar = Self::Scalar>;
    /// A G2 point prepared for repeated pairing (precomputed line functions where the
    /// library offers them; a key component's `K'` is prepared once).
    type G2Prepared: Clone + Send + Sync;

    /// Wire identifier.
    const ID: SuiteId;

    /// AES-GCM key length in bytes: 16 up to 128-bit security, 32 above.
    const AEAD_KEY_LEN: usize;

    /// Window width of the fixed-base tables for long-lived bases. The tables are scanned in
    /// full at every (constant-time) multiplication, so the best width balances additions
    /// against masked moves: 6 bits at 128-bit (measured: 8 bits is slower once every entry
    /// is read), 5 at BLS24-479 and 4 at BLS48-581, whose GT elements are 1.4–3.5 KB.
    const TABLE_WINDOW: usize;

    /// Whether one decryption spreads its work over two threads: the rows' point decoding,
    /// and the multi-Miller loop as two halves whose outputs are multiplied before ONE final
    /// exponentiation ([`Suite::multi_miller_loop`]). On for blst (BLS12-381) and the
    /// 192/256-bit suites, where it is measured to pay (docs/performance.md, "Decryption on
    /// both cores").
    const PARALLEL_DECRYPT: bool;

    /// The G1 generator `g1`.
    fn g1_generator() -> Self::G1;

    /// The G2 generator `g2`.
    fn g2_generator() -> Self::G2;

    /// `H(GID)`: hashes an encoded global identifier to G1 (DESIGN.md §3).
    fn hash_gid(encoded_gid: &[u8]) -> Self::G1;

    /// `F(u)`: hashes a canonical attribute string to G1.
    fn hash_attribute(attribute: &str) -> Self::G1;

    /// Prepares a G2 point for one pairing.
    fn prepare_g2(p: &Self::G2) -> Self::G2Prepared;

    /// Prepares a G2 point that will be paired many times (a key component's `K'`): a suite
    /// may precompute more here. The default is [`Suite::prepare_g2`].
    fn prepare_g2_for_reuse(p: &Self::G2) -> Self::G2Prepared {
        Self::prepare_g2(p)
    }

    /// `Π e(g1[i], g2[i])`: one multi-Miller loop and ONE final exponentiation. `None` when
    /// the slices differ in length or the product is degenerate.
    fn multi_pairing(g1: &[Self::G1], g2: &[Self::G2Prepared]) -> Option<Self::Gt> {
        let mut miller = Self::multi_miller_loop(g1, g2)?;
        let out = Self::final_exponentiation(&miller);
        miller.zeroize();
        out
    }

    /// An unreduced pairing value: an element of the pairing's extension field after the
    /// Miller loop, before the final exponentiation. Miller values multiply, so a
    /// multi-pairing splits into parts computed apart (on two threads, DESIGN.md §3) and ONE
    /// final exponentiation of their product. It can carry secrets (a decryption's loop over
    /// key components): callers wipe it.
    type MillerValue: Send + Zeroize;

    /// `Π f(g1[i], g2[i])`: the multi-Miller loop of [`Suite::multi_pairing`] alone. `None`
    /// when the slices differ in length. An empty product is the field's one.
    fn multi_miller_loop(g1: &[Self::G1], g2: &[Self::G2Prepared]) -> Option<Self::MillerValue>;

    /// The product of two Miller values (`final_exponentiation(a · b) = e_a · e_b`).
    fn miller_product(a: &Self::MillerValue, b: &Self::MillerValue) -> Self::MillerValue;

    /// The final exponentiation, mapping a Miller value into GT. `None` where the library
    /// reports a degenerate value.
    fn final_exponentiation(m: &Self::MillerValue) -> Option<Self::Gt>;

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
