//! # federation — what crosses between idaas parties
//!
//! Signed SAML 2.0 assertions that carry PII ciphertexts and a sealed Time Access Token,
//! sealing key bundles (TAT/PAT) for one recipient with HPKE. No HTTP server, no database,
//! no service plumbing (that is `service-kit`): the services build on these types (STYLE.md §7.1).
#![warn(missing_docs)]

pub mod api;
pub mod approvals;
pub mod assertion;
pub mod authority;
pub mod binding;
pub mod claims;
pub mod files;
#[cfg(feature = "test-support")]
pub mod fuzzing;
mod key_cache;
pub mod logout;
pub mod pat;
pub mod pii;
pub mod seal;
pub mod secret;
pub mod signing_key;
pub mod sp_metadata;
pub mod status;
#[cfg(feature = "test-support")]
pub mod testing;
#[cfg(feature = "test-support")]
pub mod testing_bad_input;
pub mod verify;
pub mod xml;
