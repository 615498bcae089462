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
pub mod envelope;
pub mod error;
pub mod fixed_base;
pub mod lsss;
pub mod policy;
pub mod scheme;
pub mod segtree;
pub mod suite;
pub mod wire;

pub use attribute::Attribute;
pub use disclosure::DisclosurePolicy;
pub use error::{DecodeError, EnvelopeError, Error, PolicyError, Result, SchemeError};
pub use policy::Policy;
pub use scheme::{AuthorityPublicKey, AuthoritySecretKey, Ciphertext, Encryptor, Gid, UserKey};
pub use suite::{Bls12_381Suite, Bn254Suite, Suite, SuiteId};
