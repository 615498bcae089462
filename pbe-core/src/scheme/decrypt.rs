//! `Decrypt` (DESIGN.md §3): one multi-pairing over a minimal satisfying row set.

use std::collections::BTreeSet;

use ark_ff::One;
use ark_serialize::Compress;
use zeroize::{Zeroize, Zeroizing};

use crate::attribute::Attribute;
use crate::error::{Error, Result, SchemeError};
use crate::scheme::ciphertext::Ciphertext;
use crate::scheme::user_key::{KeyComponent, UserKey};
use crate::suite::{Group, Gt, Suite, G2};

/// Which key bundle holds an attribute's key.
fn find<'k, S: Suite>(keys: &[&'k UserKey<S>], a: &Attribute) -> Option<&'k KeyComponent<S>> {
    keys.iter().find_map(|k| k.component(a))
}

fn not_satisfied<S: Suite>(keys: &[&UserKey<S>]) -> Error {
    let authorities: BTreeSet<&str> = keys.iter().flat_map(|k| k.authorities()).collect();
    SchemeError::NotSatisfied {
        attributes: keys.iter().map(|k| k.len()).sum(),
        authorities: authorities.into_iter().collect::<Vec<_>>().join(", "),
    }
    .into()
}

/// Recovers `gt^z` from the rows selected by the LSSS reconstruction.
///
/// For each used row `x` with coefficient `c_x`:
/// `C1x · e(Kx, C2x) · e(C4x, K'x) · e(H(GID), C3x) = gt^λx · e(H(GID), g2)^ωx`,
/// and `Σ c_x λx = z`, `Σ c_x ωx = 0`. All pairings go into ONE multi-Miller loop with ONE
/// final exponentiation: `2|I| + 1` Miller loops (coefficients of 1 cost nothing).
pub(crate) fn recover_blinding<S: Suite>(ct: &Ciphertext<S>, keys: &[&UserKey<S>]) -> Result<Gt<S>> {
    let first = keys.first().ok_or(SchemeError::NoKeys)?;
    if keys.iter().any(|k| k.gid() != first.gid()) {
        return Err(SchemeError::MixedIdentities.into());
    }
    let lsss = ct.lsss();
    let has = |a: &Attribute| find(keys, a).is_some();
    let terms = lsss.reconstruction(&has).ok_or_else(|| not_satisfied(keys))?;

    let mut g1s: Vec<S::G1> = Vec::with_capacity(2 * terms.len() + 1);
    let mut g2s: Vec<S::G2Prepared> = Vec::with_capacity(2 * terms.len() + 1);
    let mut c1_product = Gt::<S>::identity();
    let mut c3_sum = G2::<S>::identity();
    for (index, coefficient) in terms {
        let row_attr =
            &lsss.rows().get(index).ok_or(Error::Misuse("reconstruction row out of range"))?.attribute;
        let key = find(keys, row_attr).ok_or_else(|| not_satisfied(keys))?;
        let row = ct.row(index, false)?;
        if coefficient.is_one() {
            c1_product = c1_product.add(&row.c1);
            g1s.push(key.k.clone());
            g1s.push(row.c4);
            c3_sum = c3_sum.add(&row.c3);
        } else {
            c1_product = c1_product.add(&row.c1.mul(&coefficient));
            g1s.push(key.k.mul(&coefficient));
            g1s.push(row.c4.mul(&coefficient));
            c3_sum = c3_sum.add(&row.c3.mul(&coefficient));
        }
        g2s.push(S::prepare_g2(&row.c2));
        g2s.push(key.k_prime_prepared());
    }
    g1s.push(first.h_gid().clone());
    g2s.push(S::prepare_g2(&c3_sum));
    let e = S::multi_pairing(&g1s, &g2s).ok_or(Error::Misuse("degenerate pairing product"))?;
    Ok(c1_product.add(&e))
}

impl<S: Suite> Ciphertext<S> {
    /// Decrypts with the given key bundles (e.g. a TAT and a PAT), which must all be bound to
    /// the same `(UID, SESSIONID)`.
    ///
    /// Errors: [`SchemeError::NotSatisfied`] when the keys do not satisfy the policy,
    /// [`SchemeError::MixedIdentities`] when the bundles belong to different identities,
    /// [`crate::error::EnvelopeError::AuthenticationFailed`] when the ciphertext was modified.
    pub fn decrypt(&self, keys: &[&UserKey<S>]) -> Result<crate::envelope::Plaintext> {
        let blinding = recover_blinding(self, keys)?;
        let mut session_key = self.c0()?.sub(&blinding);
        let mut m_bytes = Zeroizing::new(Vec::new());
        session_key.encode(Compress::Yes, &mut m_bytes);
        session_key.zeroize();
        Ok(crate::envelope::open(S::ID, S::AEAD_KEY_LEN, &m_bytes, self.aad(), self.payload())?)
    }

    /// Whether `keys` satisfy the policy (no pairing is computed).
    pub fn is_satisfied_by(&self, keys: &[&UserKey<S>]) -> bool {
        let has = |a: &Attribute| find(keys, a).is_some();
        self.lsss().reconstruction(&has).is_some()
    }
}
