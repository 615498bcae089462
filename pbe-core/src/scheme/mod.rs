//! The Rouselakis–Waters (FC 2015) multi-authority CP-ABE scheme, generic over the suite.
//!
//! - [`AuthoritySecretKey::setup`]: `AuthSetup`;
//! - [`AuthoritySecretKey::keygen`]: `KeyGen`, bound to a [`Gid`];
//! - [`Encryptor::encrypt`]: `Encrypt` + the AES-GCM envelope;
//! - [`Ciphertext::decrypt`]: `Decrypt` with one multi-pairing.

mod authority;
mod ciphertext;
mod decrypt;
mod encrypt;
mod gid;
mod user_key;

pub use authority::{AuthorityPublicKey, AuthoritySecretKey, MAX_AUTHORITY_NAME};
pub use ciphertext::{Ciphertext, MAX_POLICY_TEXT, MAX_ROWS};
pub use encrypt::Encryptor;
pub use gid::{Gid, MAX_GID_PART};
pub use user_key::{UserKey, MAX_ATTRIBUTE_TEXT, MAX_KEY_ATTRIBUTES};
