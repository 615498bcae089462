//! `Decrypt` (DESIGN.md §3): one multi-pairing over a minimal satisfying row set.

use std::collections::BTreeSet;

use ark_ff::One;
use ark_serialize::Compress;
use zeroize::{Zeroize, Zeroizing};

use crate::attribute::Attribute;
use crate::error::{Error, Result, SchemeError};
use crate::scheme::ciphertext::Ciphertext;
use crate::scheme::user_key::{KeyComponent, UserKey};
use crate::suite::{Fr, Group, Gt, Suite, G2};

/// One used row's contribution: `C1^c`, `(K^c, C4^c)`, `C3^c`, prepared `(C2, K')`.
type RowTerms<S> = (Gt<S>, [<S as Suite>::G1; 2], G2<S>, [<S as Suite>::G2Prepared; 2]);

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
/// Suites with `PARALLEL_DECRYPT` use both cores for ONE decryption: the used rows are decoded
/// and validated on two threads, and from [`SPLIT_PAIRS_FROM`] pairs on the multi-Miller loop
/// is split into two halves on two threads whose outputs are multiplied before the one final
/// exponentiation (issue 22).
///
/// `both_cores: false` keeps all the work on the calling thread (for callers that already
/// spread several decryptions over the cores).
pub(crate) fn recover_blinding<S: Suite>(
    ct: &Ciphertext<S>,
    keys: &[&UserKey<S>],
    both_cores: bool,
) -> Result<Gt<S>> {
    let both_cores = both_cores && S::PARALLEL_DECRYPT && crate::parallel::cores() >= 2;
    let first = keys.first().ok_or(SchemeError::NoKeys)?;
    if keys.iter().any(|k| k.gid() != first.gid()) {
        return Err(SchemeError::MixedIdentities.into());
    }
    let lsss = ct.lsss();
    let has = |a: &Attribute| find(keys, a).is_some();
    let terms = lsss.reconstruction(&has).ok_or_else(|| not_satisfied(keys))?;

    let mut work = Vec::with_capacity(terms.len());
    for (index, coefficient) in terms {
        let row_attr =
            &lsss.rows().get(index).ok_or(Error::Misuse("reconstruction row out of range"))?.attribute;
        work.push((index, coefficient, find(keys, row_attr).ok_or_else(|| not_satisfied(keys))?));
    }
    // Per row: its C1 share, its two G1 pairing inputs, its C3 share and its two prepared G2
    // inputs. Decoding and validating the row's points is most of this.
    let per_row = |(index, coefficient, key): &(usize, Fr<S>, &KeyComponent<S>)| -> Result<RowTerms<S>> {
        let row = ct.row(*index, false)?;
        let c2 = S::prepare_g2(&row.c2);
        Ok(if coefficient.is_one() {
            (row.c1, [key.k.clone(), row.c4], row.c3, [c2, key.k_prime_prepared()])
        } else {
            (
                row.c1.mul(coefficient),
                [key.k.mul(coefficient), row.c4.mul(coefficient)],
                row.c3.mul(coefficient),
                [c2, key.k_prime_prepared()],
            )
        })
    };
    let mut rows: Vec<Result<RowTerms<S>>> =
        if both_cores { crate::parallel::map(&work, per_row) } else { work.iter().map(per_row).collect() };

    // `g1s` holds each used key component raised to its coefficient (`K^c`): secret, wiped
    // below whatever the outcome.
    let mut g1s: Vec<S::G1> = Vec::with_capacity(2 * rows.len() + 1);
    let mut g2s: Vec<S::G2Prepared> = Vec::with_capacity(2 * rows.len() + 1);
    let mut c1_product = Gt::<S>::identity();
    let mut c3_sum = G2::<S>::identity();
    let mut failed = None;
    // By reference, not by value: moving `K^c` out of `rows` would leave its bytes in the
    // vector's buffer; instead it is copied out and wiped in place.
    for row in rows.iter_mut() {
        match row {
            Ok((c1, g1_pair, c3, g2_pair)) => {
                c1_product = c1_product.add(c1);
                c3_sum = c3_sum.add(c3);
                g1s.extend(g1_pair.iter().cloned());
                g1_pair.zeroize();
                g2s.extend(g2_pair.iter().cloned());
            }
            Err(e) => {
                failed.get_or_insert_with(|| std::mem::replace(e, Error::Misuse("decryption row failed")));
            }
        }
    }
    drop(rows);
    if let Some(e) = failed {
        g1s.zeroize();
        return Err(e);
    }
    g1s.push(first.h_gid().clone());
    g2s.push(S::prepare_g2(&c3_sum));
    let miller = if both_cores && g1s.len() >= SPLIT_PAIRS_FROM {
        // Π e over all pairs = FE(Π f over the first half · Π f over the second half): two
        // Miller loops on two threads, ONE final exponentiation.
        let mid = g1s.len() / 2;
        let (g1a, g1b) = g1s.split_at(mid);
        let (g2a, g2b) = g2s.split_at(mid);
        match crate::parallel::join(|| S::multi_miller_loop(g1a, g2a), || S::multi_miller_loop(g1b, g2b)) {
            (Some(Some(mut a)), Some(mut b)) => {
                let product = S::miller_product(&a, &b);
                a.zeroize();
                b.zeroize();
                Some(product)
            }
            (a, mut b) => {
                a.flatten().zeroize();
                b.zeroize();
                None
            }
        }
    } else {
        S::multi_miller_loop(&g1s, &g2s)
    };
    g1s.zeroize();
    let e = miller.map(|mut miller| {
        let e = S::final_exponentiation(&miller);
        miller.zeroize();
        e
    });
    let Some(Some(mut e)) = e else {
        c1_product.zeroize();
        return Err(Error::Misuse("degenerate pairing product"));
    };
    // e · Π C1^c = gt^z: both factors are wiped, the caller wipes the result.
    let blinding = c1_product.add(&e);
    e.zeroize();
    c1_product.zeroize();
    Ok(blinding)
}

/// Fewest pairs for which a decryption splits its multi-Miller loop over two threads (where
/// the suite has `PARALLEL_DECRYPT` and the machine two cores). Provisional: a scoped thread
/// costs tens of microseconds, a BLS12-381 Miller loop about 0.3 ms per pair; a quiet-machine
/// run is to confirm it (docs/performance.md, "Decryption on both cores").
pub(crate) const SPLIT_PAIRS_FROM: usize = 4;

impl<S: Suite> Ciphertext<S> {
    /// Decrypts with the given key bundles (e.g. a TAT and a PAT), which must all be bound to
    /// the same `(UID, SESSIONID)`.
    ///
    /// Errors: [`SchemeError::NotSatisfied`] when the keys do not satisfy the policy,
    /// [`SchemeError::MixedIdentities`] when the bundles belong to different identities,
    /// [`crate::error::EnvelopeError::AuthenticationFailed`] when the ciphertext was modified.
    ///
    /// With a suite that has [`Suite::PARALLEL_DECRYPT`] (blst, MIRACL) on a machine with two
    /// cores or more, one decryption uses two threads (docs/performance.md, "Decryption on
    /// both cores"); [`Ciphertext::decrypt_on_this_thread`] keeps it on the caller's.
    pub fn decrypt(&self, keys: &[&UserKey<S>]) -> Result<crate::envelope::Plaintext> {
        self.decrypt_threads(keys, true)
    }

    /// As [`Ciphertext::decrypt`], on the calling thread only: for callers that already
    /// decrypt several values at once, one per core. Same result.
    pub fn decrypt_on_this_thread(&self, keys: &[&UserKey<S>]) -> Result<crate::envelope::Plaintext> {
        self.decrypt_threads(keys, false)
    }

    fn decrypt_threads(&self, keys: &[&UserKey<S>], both_cores: bool) -> Result<crate::envelope::Plaintext> {
        let mut blinding = recover_blinding(self, keys, both_cores)?;
        let c0 = self.c0();
        let session_key = c0.map(|c0| c0.sub(&blinding));
        // The blinding gt^z is wiped on every path (issue 23, item 4).
        blinding.zeroize();
        let mut session_key = session_key?;
        let mut m_bytes = Zeroizing::new(Vec::with_capacity(Gt::<S>::encoded_len(Compress::Yes)));
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

#[cfg(test)]
mod tests;
