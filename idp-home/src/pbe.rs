//! Checks on pbe-core objects that cross the home IdP's API.

use std::collections::BTreeSet;

use pbe_core::{AuthorityPublicKey, Ciphertext, SchemeError, Suite, SuiteId};

/// What the vault keeps about an accepted ciphertext.
#[derive(Debug, Clone)]
pub struct CiphertextInfo {
    /// The binary ciphertext.
    pub bytes: Vec<u8>,
    /// Its canonical policy text.
    pub policy: String,
    /// The authorities its policy names.
    pub authorities: Vec<String>,
}

/// Accepts a ciphertext (binary or base64url text) only if it is well formed in `suite`,
/// every group element validates, and every authority it names is in `known`.
pub fn check_ciphertext(
    suite: SuiteId,
    input: &[u8],
    known: &BTreeSet<String>,
) -> Result<CiphertextInfo, pbe_core::Error> {
    let bytes = pbe_core::wire::from_binary_or_text(input)?;
    pbe_core::with_suite!(suite, S => check::<S>(bytes, known))
}

fn check<S: Suite>(bytes: Vec<u8>, known: &BTreeSet<String>) -> Result<CiphertextInfo, pbe_core::Error> {
    let ct = Ciphertext::<S>::from_vec(bytes)?;
    let authorities: Vec<String> = ct.policy().authorities().into_iter().collect();
    if let Some(unknown) = authorities.iter().find(|a| !known.contains(*a)) {
        return Err(SchemeError::UnknownAuthority(unknown.clone()).into());
    }
    ct.validate()?;
    Ok(CiphertextInfo { policy: ct.policy().to_string(), authorities, bytes: ct.into_bytes() })
}

/// Checks an authority public key (text form) of `suite`; returns its authority name.
pub fn check_authority_public_key(suite: SuiteId, text: &str) -> Result<String, pbe_core::Error> {
    let bytes = pbe_core::wire::from_text(text)?;
    pbe_core::with_suite!(suite, S => Ok(AuthorityPublicKey::<S>::from_bytes(&bytes)?.name().to_owned()))
}
