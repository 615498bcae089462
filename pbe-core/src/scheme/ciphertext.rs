//! The ciphertext: ABE header (policy text + one row per LSSS row + `C0`) and the AES-GCM
//! payload.
//!
//! ```text
//! header(7) ‖ policy text (u16 len) ‖ rows (u16 count) ‖ row* ‖ C0 ‖ plaintext length (u64)
//!           ‖ AES-GCM(ct ‖ tag)
//! row = C1 (GT) ‖ C2 (G2) ‖ C3 (G2) ‖ C4 (G1)        points uncompressed
//! ```
//! Points are stored uncompressed: decompression costs a square root per point, which on
//! BLS12-381 is about half the cost of decoding a validated G2 point, and decryption decodes
//! `3·|I|` of them; the extra bytes (240 per row at BLS12-381) are cheap by comparison.
//! Everything before the payload is the AEAD's associated data. Decoding checks the framing,
//! re-derives the LSSS from the policy text and checks the row count; group elements are
//! decoded (and validated) only for the rows a decryption uses, because decoding costs more
//! than the pairing work saved by not doing it (DESIGN.md §9: decode only the rows used).

use std::fmt;

use ark_serialize::{Compress, Validate};

use crate::error::{DecodeError, Result};
use crate::lsss::Lsss;
use crate::policy::Policy;
use crate::suite::{Fr, Group, Gt, Suite, G1, G2};
use crate::wire::codec::Reader;
use crate::wire::{Header, Kind};

/// How ciphertext points are encoded (see the module documentation).
pub(crate) const POINTS: Compress = Compress::No;

/// Longest policy text a ciphertext may carry (bytes).
pub const MAX_POLICY_TEXT: usize = 16 * 1024;
/// Most rows a ciphertext may carry.
pub const MAX_ROWS: usize = 512;

/// One decoded ciphertext row.
pub(crate) struct Row<S: Suite> {
    pub(crate) c1: Gt<S>,
    pub(crate) c2: G2<S>,
    pub(crate) c3: G2<S>,
    pub(crate) c4: G1<S>,
}

/// Sizes of the encoded elements of one suite.
#[derive(Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) gt: usize,
    pub(crate) g1: usize,
    pub(crate) g2: usize,
}

impl Sizes {
    pub(crate) fn of<S: Suite>() -> Self {
        Sizes {
            gt: Gt::<S>::encoded_len(Compress::Yes),
            g1: G1::<S>::encoded_len(POINTS),
            g2: G2::<S>::encoded_len(POINTS),
        }
    }

    pub(crate) fn row(&self) -> usize {
        self.gt + 2 * self.g2 + self.g1
    }
}

/// A pbe-core ciphertext. Obtained only from encryption or a validating decode.
pub struct Ciphertext<S: Suite> {
    bytes: Vec<u8>,
    policy: Policy,
    lsss: Lsss<Fr<S>>,
    rows_start: usize,
    c0_start: usize,
    payload_start: usize,
    sizes: Sizes,
}

impl<S: Suite> Clone for Ciphertext<S> {
    fn clone(&self) -> Self {
        Ciphertext {
            bytes: self.bytes.clone(),
            policy: self.policy.clone(),
            lsss: self.lsss.clone(),
            rows_start: self.rows_start,
            c0_start: self.c0_start,
            payload_start: self.payload_start,
            sizes: self.sizes,
        }
    }
}

impl<S: Suite> fmt::Debug for Ciphertext<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ciphertext")
            .field("suite", &S::ID)
            .field("policy", &self.policy.to_string())
            .field("rows", &self.row_count())
            .field("payload_len", &self.payload_len())
            .finish()
    }
}

impl<S: Suite> Ciphertext<S> {
    /// Decodes a ciphertext, taking ownership of the buffer (no copy of a large payload).
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self> {
        let sizes = Sizes::of::<S>();
        let mut r = Reader::new(&bytes);
        Header::expect(&mut r, Kind::Ciphertext, S::ID)?;
        let text = r.string("policy text", MAX_POLICY_TEXT)?;
        let policy = Policy::parse(text).map_err(DecodeError::InvalidPolicy)?;
        let lsss = Lsss::from_policy(&policy).map_err(DecodeError::InvalidPolicy)?;
        let n = r.count("ciphertext rows", MAX_ROWS)?;
        if n != lsss.rows().len() {
            return Err(DecodeError::RowCountMismatch { expected: lsss.rows().len(), found: n }.into());
        }
        let rows_start = r.position();
        r.take(n * sizes.row(), "ciphertext rows")?;
        let c0_start = r.position();
        r.take(sizes.gt, "ciphertext C0")?;
        let declared = r.u64("payload length")?;
        let payload_start = r.position();
        let actual = r.rest().len();
        // The explicit length makes a truncated (or extended) file a decode error rather
        // than an AEAD failure, so the message can say what is wrong.
        match usize::try_from(declared).ok().and_then(|d| d.checked_add(crate::envelope::TAG_LEN)) {
            Some(expected) if expected == actual => {}
            Some(expected) if expected > actual => {
                return Err(DecodeError::Truncated("AES-GCM payload").into())
            }
            _ => return Err(DecodeError::TrailingData("AES-GCM payload").into()),
        }
        Ok(Ciphertext { bytes, policy, lsss, rows_start, c0_start, payload_start, sizes })
    }

    /// Decodes a ciphertext from a borrowed buffer.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_vec(bytes.to_vec())
    }

    /// Decodes the text form (unpadded base64url).
    pub fn from_text(text: &str) -> Result<Self> {
        Self::from_vec(crate::wire::from_text(text)?)
    }

    pub(crate) fn assemble(
        bytes: Vec<u8>,
        policy: Policy,
        lsss: Lsss<Fr<S>>,
        rows_start: usize,
        c0_start: usize,
        payload_start: usize,
    ) -> Self {
        Ciphertext { bytes, policy, lsss, rows_start, c0_start, payload_start, sizes: Sizes::of::<S>() }
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the ciphertext, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The text form (unpadded base64url), as carried in SAML attributes and APIs.
    pub fn to_text(&self) -> String {
        crate::wire::to_text(&self.bytes)
    }

    /// The disclosure policy the data was encrypted under (a public index).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn lsss(&self) -> &Lsss<Fr<S>> {
        &self.lsss
    }

    /// Number of ABE rows.
    pub fn row_count(&self) -> usize {
        self.lsss.rows().len()
    }

    /// Size of the ABE header (everything but the AES-GCM payload), in bytes.
    pub fn header_len(&self) -> usize {
        self.payload_start
    }

    /// Size of the encrypted payload without its tag (= plaintext length).
    pub fn payload_len(&self) -> usize {
        self.bytes.len().saturating_sub(self.payload_start + crate::envelope::TAG_LEN)
    }

    pub(crate) fn aad(&self) -> &[u8] {
        self.bytes.get(..self.payload_start).unwrap_or_default()
    }

    pub(crate) fn payload(&self) -> &[u8] {
        self.bytes.get(self.payload_start..).unwrap_or_default()
    }

    /// `C0`, decoded without the (costly) GT subgroup check: it is only divided out of the
    /// pairing result, never paired with a secret; a wrong value fails the AEAD tag.
    pub(crate) fn c0(&self) -> Result<Gt<S>> {
        let bytes = self.bytes.get(self.c0_start..self.c0_start + self.sizes.gt).unwrap_or_default();
        Ok(Gt::<S>::decode(bytes, Compress::Yes, Validate::No)
            .ok_or(DecodeError::InvalidGroupElement("ciphertext C0"))?)
    }

    /// Decodes row `i`. `C2`, `C3`, `C4` are paired with key material, so they are fully
    /// validated (on curve, in the prime-order subgroup); `C1` is validated only when
    /// `strict` (see [`Self::c0`]).
    pub(crate) fn row(&self, i: usize, strict: bool) -> Result<Row<S>> {
        let s = self.sizes;
        let start = self.rows_start + i * s.row();
        let bytes =
            self.bytes.get(start..start + s.row()).ok_or(DecodeError::Truncated("ciphertext rows"))?;
        let mut r = Reader::new(bytes);
        let gt_check = if strict { Validate::Yes } else { Validate::No };
        Ok(Row {
            c1: r.point(Compress::Yes, gt_check, "ciphertext C1")?,
            c2: r.point(POINTS, Validate::Yes, "ciphertext C2")?,
            c3: r.point(POINTS, Validate::Yes, "ciphertext C3")?,
            c4: r.point(POINTS, Validate::Yes, "ciphertext C4")?,
        })
    }

    /// Fully validates every group element of every row and `C0` (including the GT subgroup
    /// checks skipped on the decryption path). Used where a service accepts ciphertexts for
    /// storage, so it never stores one that cannot decrypt.
    pub fn validate(&self) -> Result<()> {
        for i in 0..self.row_count() {
            self.row(i, true)?;
        }
        let bytes = self.bytes.get(self.c0_start..self.c0_start + self.sizes.gt).unwrap_or_default();
        Gt::<S>::decode(bytes, Compress::Yes, Validate::Yes)
            .ok_or(DecodeError::InvalidGroupElement("ciphertext C0"))?;
        Ok(())
    }
}
