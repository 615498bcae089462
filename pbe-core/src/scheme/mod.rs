//! The Rouselakis–Waters (FC 2015) multi-authority CP-ABE scheme, generic over the suite.
//!
//! - `AuthSetup` is [`AuthoritySecretKey::setup`];
//! - `KeyGen` is [`AuthoritySecretKey::keygen`], bound to a [`Gid`];
//! - `Encrypt` is [`Encryptor::encrypt`], with the AES-GCM envelope;
//! - `Decrypt` is [`Ciphertext::decrypt`], with one multi-pairing.

mod attribute_hashes;
mod authority;
mod ciphertext;
mod column_powers;
mod decrypt;
mod encrypt;
mod gid;
mod user_key;

pub use authority::{AuthorityPublicKey, AuthoritySecretKey, MAX_AUTHORITY_NAME};
pub use ciphertext::{Ciphertext, MAX_POLICY_TEXT, MAX_ROWS};
pub use encrypt::Encryptor;
pub use gid::{Gid, MAX_GID_PART};
pub use user_key::{UserKey, MAX_ATTRIBUTE_TEXT, MAX_KEY_ATTRIBUTES};
