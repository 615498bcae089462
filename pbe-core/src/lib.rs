//! # pbe-core — purpose-based encryption
//!
//! The cryptography of idaas: the Rouselakis–Waters 2015 multi-authority ciphertext-policy
//! attribute-based encryption scheme over a Type-3 pairing, a disclosure-policy language
//! with segment-tree ranges for time, a hybrid AES-GCM envelope, and versioned wire formats.
//! No I/O, no async.
//!
//! ```
//! use pbe_core::{AuthoritySecretKey, Bls12_381Suite, Encryptor, Gid, Policy};
//! # fn main() -> Result<(), pbe_core::Error> {
//! let mut rng = rand_core::OsRng;
//! let home = AuthoritySecretKey::<Bls12_381Suite>::setup("telekom", &mut rng)?;
//! let policy = Policy::parse("domain:salesforce@telekom and country:eu@telekom")?;
//! let ct = Encryptor::with_window([home.public_key()], 4)?.encrypt(&policy, b"Tri", &mut rng)?;
//!
//! let gid = Gid::new("bob", "session-1")?;
//! let attrs = ["domain:salesforce@telekom".parse()?, "country:eu@telekom".parse()?];
//! let tat = home.keygen(&gid, &attrs, &mut rng)?;
//! assert_eq!(ct.decrypt(&[&tat])?.as_slice(), b"Tri");
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod attribute;
pub mod disclosure;
pub mod disclosure_view;
// Private: the scheme's building blocks. What other crates need is re-exported by name below,
// so the public surface is the list here, not every helper those modules hold.
mod envelope;
pub mod error;
mod fixed_base;
mod lsss;
mod parallel;
pub mod policy;
mod scheme;
pub mod segtree;
pub mod suite;
pub mod wire;

pub use attribute::Attribute;
pub use disclosure::{DisclosurePolicy, DomainPurposes};
pub use envelope::Plaintext;
pub use error::{DecodeError, EnvelopeError, Error, PolicyError, Result, SchemeError};
/// The constant-time fixed-base table (benchmarked beside its variable-time lookup).
pub use fixed_base::FixedBaseTable;
/// The policy → LSSS matrix conversion (fuzzed on its own).
pub use lsss::{Lsss, LsssRow};
pub use policy::Policy;
pub use scheme::{
    AuthorityPublicKey, AuthoritySecretKey, Ciphertext, Encryptor, Gid, UserKey, MAX_ATTRIBUTE_TEXT,
    MAX_AUTHORITY_NAME, MAX_GID_PART, MAX_KEY_ATTRIBUTES, MAX_POLICY_TEXT, MAX_ROWS,
};
/// Runs generic code with the suite named at run time: `with_suite!(id, S => f::<S>(x))`
/// binds the type alias `S` to the [`Suite`] of `id` and evaluates the expression. This is
/// the one place a run-time [`SuiteId`] becomes a type; every service uses it.
///
/// ```
/// use pbe_core::{with_suite, Suite, SuiteId};
/// fn aead_bits<S: Suite>() -> usize { S::AEAD_KEY_LEN * 8 }
/// assert_eq!(with_suite!(SuiteId::Bls48_581, S => aead_bits::<S>()), 256);
/// ```
#[macro_export]
macro_rules! with_suite {
    ($id:expr, $S:ident => $body:expr) => {
        match $id {
            $crate::SuiteId::Bn254 => {
                type $S = $crate::Bn254Suite;
                $body
            }
            $crate::SuiteId::Bls12_381 => {
                type $S = $crate::Bls12_381Suite;
                $body
            }
            $crate::SuiteId::Bls24_479 => {
                type $S = $crate::Bls24_479Suite;
                $body
            }
            $crate::SuiteId::Bls48_581 => {
                type $S = $crate::Bls48_581Suite;
                $body
            }
        }
    };
}

pub use suite::{
    Bls12_381Arkworks, Bls12_381Blst, Bls12_381Suite, Bls24_479Suite, Bls48_581Suite, Bn254Suite, Suite,
    SuiteId,
};
