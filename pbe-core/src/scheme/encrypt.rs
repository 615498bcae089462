//! `Encrypt` (DESIGN.md §3) with fixed-base tables for every long-lived base.

use std::collections::BTreeMap;

use ark_ff::{UniformRand, Zero};
use ark_serialize::Compress;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::error::{Error, Result, SchemeError};
use crate::fixed_base::{FixedBaseTable, DEFAULT_WINDOW};
use crate::lsss::{Lsss, LsssRow};
use crate::policy::Policy;
use crate::scheme::attribute_hashes::AttributeHashes;
use crate::scheme::authority::AuthorityPublicKey;
use crate::scheme::ciphertext::{Ciphertext, MAX_POLICY_TEXT, MAX_ROWS, POINTS};
use crate::scheme::column_powers::ColumnPowers;
use crate::suite::{Fr, GeneratorTables, Group, Gt, Suite, G1, G2};
use crate::wire::codec::{put_point, put_string, put_u16};
use crate::wire::{Header, Kind};

/// One authority's public key with its exponentiation tables.
struct PreparedAuthority<S: Suite> {
    e_alpha: FixedBaseTable<Gt<S>>,
    g2_y: FixedBaseTable<G2<S>>,
}

/// Encrypts under policies over a fixed set of authorities.
///
/// Building one costs a few tens of milliseconds per authority (the tables); reuse it for
/// many encryptions. [`Encryptor::with_window`] trades table size for speed.
pub struct Encryptor<S: Suite> {
    authorities: BTreeMap<String, PreparedAuthority<S>>,
    /// `F(u)` of the attributes policies named before (C4 of every row needs one), with
    /// tables for the hot ones.
    attribute_hashes: AttributeHashes<S>,
}

impl<S: Suite> std::fmt::Debug for Encryptor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("suite", &S::ID)
            .field("authorities", &self.authorities.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<S: Suite> Encryptor<S> {
    /// Prepares the given public keys with [`DEFAULT_WINDOW`]-bit windows (6 bits, ≈0.8 MB of
    /// tables per authority at BLS12-381; the fastest choice for a long-running service now
    /// that every table multiplication scans its whole window).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a AuthorityPublicKey<S>>) -> Result<Self> {
        Self::with_window(keys, DEFAULT_WINDOW)
    }

    /// Prepares the given public keys with `window`-bit tables (4 suits one-shot CLI use).
    /// The window is capped at the suite's [`Suite::TABLE_WINDOW`] (the large suites'
    /// target-group elements make wide tables too big).
    pub fn with_window<'a>(
        keys: impl IntoIterator<Item = &'a AuthorityPublicKey<S>>,
        window: usize,
    ) -> Result<Self> {
        let mut authorities = BTreeMap::new();
        let window = window.min(S::TABLE_WINDOW);
        let mut seen: BTreeMap<String, &AuthorityPublicKey<S>> = BTreeMap::new();
        for pk in keys {
            if let Some(previous) = seen.get(pk.name()) {
                if *previous != pk {
                    return Err(SchemeError::DuplicateAuthority(pk.name().to_owned()).into());
                }
                continue;
            }
            seen.insert(pk.name().to_owned(), pk);
            let prepared = PreparedAuthority {
                e_alpha: FixedBaseTable::new(pk.e_alpha().clone(), window),
                g2_y: FixedBaseTable::new(pk.g2_y().clone(), window),
            };
            authorities.insert(pk.name().to_owned(), prepared);
        }
        if authorities.is_empty() {
            return Err(Error::Misuse("an encryptor needs at least one authority public key"));
        }
        Ok(Encryptor { authorities, attribute_hashes: AttributeHashes::default() })
    }

    /// Names of the prepared authorities.
    pub fn authorities(&self) -> impl Iterator<Item = &str> {
        self.authorities.keys().map(String::as_str)
    }

    /// Encrypts `plaintext` under `policy`.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        policy: &Policy,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Ciphertext<S>> {
        let text = policy.to_string();
        if text.len() > MAX_POLICY_TEXT {
            return Err(crate::error::PolicyError::TooLong { len: text.len(), max: MAX_POLICY_TEXT }.into());
        }
        let lsss = Lsss::<Fr<S>>::from_policy(policy)?;
        let rows = lsss.rows();
        if rows.len() > MAX_ROWS {
            return Err(crate::error::PolicyError::TooManyRows { position: None, max: MAX_ROWS }.into());
        }
        let mut prepared = Vec::with_capacity(rows.len());
        for row in rows {
            let auth = self
                .authorities
                .get(row.attribute.authority())
                .ok_or_else(|| SchemeError::UnknownAuthority(row.attribute.authority().to_owned()))?;
            prepared.push(auth);
        }

        let tables = S::tables();
        // v = (z, r2, …) shares the secret z; w = (0, s2, …) shares zero (binds rows to GID).
        let columns = lsss.columns();
        let mut v: Vec<Fr<S>> = (0..columns).map(|_| Fr::<S>::rand(rng)).collect();
        let mut w: Vec<Fr<S>> = (0..columns).map(|_| Fr::<S>::rand(rng)).collect();
        if let Some(first) = w.first_mut() {
            *first = Fr::<S>::zero();
        }
        let mut z = v.first().copied().unwrap_or_default();

        // The per-row randomness and then the session key's exponent m are drawn here, in
        // this order, on this thread; the group work is independent and runs in parallel
        // (crate::parallel).
        let mut ts: Vec<Fr<S>> = (0..rows.len()).map(|_| Fr::<S>::rand(rng)).collect();
        let mut m = Fr::<S>::rand(rng);
        let mut m_plus_z = m + z;
        // gt^λx and g2^ωx from the columns' powers when the matrix allows (see `ColumnPowers`);
        // otherwise one table multiplication of the dot product per row.
        let mut by_columns = ColumnPowers::<S>::new(&lsss, &v, &w);
        // The session key M = gt^m, and C0 = M · gt^z = gt^(m+z): with the columns' powers
        // gt^z is the first one (v_1 = z), so C0 costs one GT product after the parallel
        // section; otherwise gt^(m+z) is one more job in it.
        let mut gt_z = by_columns.as_ref().and_then(ColumnPowers::gt_z);
        let mut jobs = vec![Job::Power(&m)];
        if gt_z.is_none() {
            jobs.push(Job::Power(&m_plus_z));
        }
        // Each row is two jobs of similar cost (C1 in GT; C2, C3, C4 in G2 and G1), so the
        // threads' shares differ by at most one small job.
        for (((x, row), auth), t) in rows.iter().enumerate().zip(&prepared).zip(&ts) {
            jobs.push(Job::C1 { x, vector: &row.vector, auth, t });
            jobs.push(Job::Points { x, row, auth, t });
        }
        // Every scalar here is secret: the tables are constant-time, C4 uses the attribute's
        // table or `mul_secret`, and the shares and the partial products (each alone a
        // function of the secrets) are wiped (issue 23, items 1 and 4). The results are
        // written in place (`parallel::fill`), so the session key leaves no copy behind.
        let mut parts: Vec<Part<S>> = (0..jobs.len()).map(|_| Part::Empty).collect();
        crate::parallel::fill(&jobs, &mut parts, |job, slot| {
            *slot = job.run(self, tables, by_columns.as_ref(), &v, &w);
        });
        drop(jobs);
        ts.zeroize();
        let mut powers = Vec::with_capacity(2);
        let mut c1 = Vec::with_capacity(rows.len());
        let mut g2_points = Vec::with_capacity(2 * rows.len());
        let mut c4 = Vec::with_capacity(rows.len());
        for part in &mut parts {
            match part {
                Part::Power(p) => powers.push(p.clone()),
                Part::C1(a) => c1.push(a.clone()),
                Part::Points(b, c, d) => {
                    g2_points.push(b.clone());
                    g2_points.push(c.clone());
                    c4.push(d.clone());
                }
                Part::Empty => {}
            }
            part.zeroize();
        }
        drop(parts);
        let mut session_key = powers.first().cloned().unwrap_or_else(Gt::<S>::identity);
        let c0 = match (&gt_z, powers.get(1)) {
            (Some(gt_z), _) => session_key.add(gt_z),
            (None, Some(c0)) => c0.clone(),
            (None, None) => tables.gt_table.mul(&m_plus_z),
        };
        powers.zeroize();
        if let Some(gt_z) = gt_z.as_mut() {
            gt_z.zeroize();
        }
        if let Some(powers) = by_columns.as_mut() {
            powers.zeroize();
        }
        G2::<S>::normalize_batch(&mut g2_points);
        G1::<S>::normalize_batch(&mut c4);
        let g2_affine = g2_points;
        m.zeroize();
        m_plus_z.zeroize();
        z.zeroize();
        v.zeroize();
        w.zeroize();

        let sizes = super::ciphertext::Sizes::of::<S>();
        let mut out =
            Vec::with_capacity(64 + text.len() + rows.len() * sizes.row() + sizes.gt + plaintext.len() + 16);
        Header { kind: Kind::Ciphertext, suite: S::ID }.encode(&mut out);
        put_string(&mut out, &text);
        put_u16(&mut out, rows.len() as u16);
        let rows_start = out.len();
        for (i, (c1, c4)) in c1.iter().zip(&c4).enumerate() {
            put_point(&mut out, c1, Compress::Yes);
            if let (Some(c2), Some(c3)) = (g2_affine.get(2 * i), g2_affine.get(2 * i + 1)) {
                put_point(&mut out, c2, POINTS);
                put_point(&mut out, c3, POINTS);
            }
            put_point(&mut out, c4, POINTS);
        }
        let c0_start = out.len();
        put_point(&mut out, &c0, Compress::Yes);
        out.extend_from_slice(&(plaintext.len() as u64).to_be_bytes());
        let payload_start = out.len();

        // Sized up front so the encoding never reallocates (a reallocation would leave a copy
        // of M in the freed buffer).
        let mut m_bytes = Vec::with_capacity(Gt::<S>::encoded_len(Compress::Yes));
        session_key.encode(Compress::Yes, &mut m_bytes);
        session_key.zeroize();
        let sealed = crate::envelope::seal_appending(S::ID, S::AEAD_KEY_LEN, &m_bytes, &mut out, plaintext);
        m_bytes.zeroize();
        sealed?;
        Ok(Ciphertext::assemble(out, policy.clone(), lsss, rows_start, c0_start, payload_start))
    }
}

/// One unit of encryption's parallel work.
enum Job<'a, S: Suite> {
    /// `gt^k` for a secret `k` (the session key's `m`, or `m + z` for C0).
    Power(&'a Fr<S>),
    /// Row `x`'s `C1 = gt^λx · (gt^α)^t`.
    C1 { x: usize, vector: &'a [Fr<S>], auth: &'a PreparedAuthority<S>, t: &'a Fr<S> },
    /// Row `x`'s `C2 = g2^−t`, `C3 = (g2^y)^t · g2^ωx` and `C4 = F(u)^t`.
    Points { x: usize, row: &'a LsssRow<Fr<S>>, auth: &'a PreparedAuthority<S>, t: &'a Fr<S> },
}

/// The result of one [`Job`], in the slot of the job.
enum Part<S: Suite> {
    Empty,
    Power(Gt<S>),
    C1(Gt<S>),
    Points(G2<S>, G2<S>, G1<S>),
}

impl<S: Suite> Part<S> {
    /// Wipes the group elements (the session key is one of them).
    fn zeroize(&mut self) {
        match self {
            Part::Empty => {}
            Part::Power(p) | Part::C1(p) => p.zeroize(),
            Part::Points(a, b, c) => {
                a.zeroize();
                b.zeroize();
                c.zeroize();
            }
        }
    }
}

impl<S: Suite> Job<'_, S> {
    /// Computes this job's part; every secret intermediate is wiped.
    fn run(
        &self,
        encryptor: &Encryptor<S>,
        tables: &GeneratorTables<S>,
        by_columns: Option<&ColumnPowers<S>>,
        v: &[Fr<S>],
        w: &[Fr<S>],
    ) -> Part<S> {
        match *self {
            Job::Power(k) => Part::Power(tables.gt_table.mul(k)),
            Job::C1 { x, vector, auth, t } => {
                let mut gt_lambda = match by_columns {
                    Some(powers) => powers.row_gt(x),
                    None => {
                        let mut lambda = dot(vector, v);
                        let share = tables.gt_table.mul(&lambda);
                        lambda.zeroize();
                        share
                    }
                };
                let mut e_alpha_t = auth.e_alpha.mul(t);
                let c1 = gt_lambda.add(&e_alpha_t);
                gt_lambda.zeroize();
                e_alpha_t.zeroize();
                Part::C1(c1)
            }
            Job::Points { x, row, auth, t } => {
                let mut g2_omega = match by_columns {
                    Some(powers) => powers.row_g2(x),
                    None => {
                        let mut omega = dot(&row.vector, w);
                        let share = tables.g2_table.mul(&omega);
                        omega.zeroize();
                        share
                    }
                };
                let mut neg_t = -*t;
                let c2 = tables.g2_table.mul(&neg_t);
                let mut g2_y_t = auth.g2_y.mul(t);
                let c3 = g2_y_t.add(&g2_omega);
                let c4 = encryptor.attribute_hashes.mul_secret(&row.attribute.to_string(), t);
                neg_t.zeroize();
                g2_y_t.zeroize();
                g2_omega.zeroize();
                Part::Points(c2, c3, c4)
            }
        }
    }
}

fn dot<F: ark_ff::Field>(a: &[F], b: &[F]) -> F {
    a.iter().zip(b).fold(F::zero(), |acc, (x, y)| acc + *x * y)
}
