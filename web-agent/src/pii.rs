//! Combining a TAT and a PAT and decrypting what they open. Generic over the pairing suite;
//! the suite is named by the assertion (`idaas:suite`) and by the token response, and both
//! must agree.

use std::collections::BTreeMap;

use pbe_core::{Bls12_381Suite, Bn254Suite, Ciphertext, Gid, Suite, UserKey};
use zeroize::Zeroizing;

/// Why the keys could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Unknown or mismatched suite.
    #[error("the TAT and PAT are for an unsupported or different pairing suite")]
    Suite,
    /// A key bundle does not decode.
    #[error("the {0} is not a valid key bundle")]
    Malformed(&'static str),
    /// A key bundle is for another (uid, session) than the assertion.
    #[error("the {0} is bound to another user or session than the assertion")]
    WrongSession(&'static str),
}

/// What decryption produced.
#[derive(Debug, Default)]
pub struct Opened {
    /// Attribute → plaintext (UTF-8; other bytes are replaced).
    pub values: BTreeMap<String, Zeroizing<String>>,
    /// Ciphertexts the keys do not satisfy.
    pub closed: usize,
    /// Ciphertexts that were malformed or failed to authenticate.
    pub broken: usize,
}

/// Decodes both bundles in `suite`, checks they are for `(uid, session_index)`, and decrypts
/// every `(attribute, ciphertext text)`.
pub fn open(
    suite: &str,
    tat: &[u8],
    pat: &[u8],
    uid: &str,
    session_index: &str,
    ciphertexts: &[(String, String)],
) -> Result<Opened, KeyError> {
    match suite {
        "bls12-381" => open_with::<Bls12_381Suite>(tat, pat, uid, session_index, ciphertexts),
        "bn254" => open_with::<Bn254Suite>(tat, pat, uid, session_index, ciphertexts),
        _ => Err(KeyError::Suite),
    }
}

fn open_with<S: Suite>(
    tat: &[u8],
    pat: &[u8],
    uid: &str,
    session_index: &str,
    ciphertexts: &[(String, String)],
) -> Result<Opened, KeyError> {
    let tat = UserKey::<S>::from_bytes(tat).map_err(|_| KeyError::Malformed("TAT"))?;
    let pat = UserKey::<S>::from_bytes(pat).map_err(|_| KeyError::Malformed("PAT"))?;
    // The linchpin: both bundles must be for the assertion's (NameID, SessionIndex). The
    // scheme would refuse to combine mismatched keys anyway; checking here gives a clear error.
    let gid = Gid::new(uid, session_index).map_err(|_| KeyError::WrongSession("TAT"))?;
    if tat.gid() != &gid {
        return Err(KeyError::WrongSession("TAT"));
    }
    if pat.gid() != &gid {
        return Err(KeyError::WrongSession("PAT"));
    }
    let mut opened = Opened::default();
    for (name, text) in ciphertexts {
        let Ok(ct) = Ciphertext::<S>::from_text(text) else {
            opened.broken += 1;
            continue;
        };
        match ct.decrypt(&[&tat, &pat]) {
            Ok(plain) => {
                let value = Zeroizing::new(String::from_utf8_lossy(&plain).into_owned());
                opened.values.insert(name.clone(), value);
            }
            Err(pbe_core::Error::Scheme(pbe_core::SchemeError::NotSatisfied { .. })) => opened.closed += 1,
            Err(_) => opened.broken += 1,
        }
    }
    Ok(opened)
}
