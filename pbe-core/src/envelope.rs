//! The hybrid layer: a random target-group element `M` becomes an AES-GCM key.
//!
//! `HKDF-SHA256(ikm = serialize(M))` yields the AES key (16 bytes at 128-bit security, 32
//! above) and the 96-bit nonce. Because `M` is fresh for every ciphertext, each key encrypts
//! exactly one message, so a derived nonce is safe. The associated data is the whole
//! ciphertext header (suite, policy text, every ABE component), so changing any of it —
//! including the policy text — makes decryption fail.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::EnvelopeError;
use crate::suite::SuiteId;

const SALT: &[u8] = b"idaas-pbe-v1 envelope";
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// The AEAD key and nonce derived from `M`, both wiped on drop.
struct DerivedKey {
    key: Zeroizing<[u8; 32]>,
    key_len: usize,
    nonce: Zeroizing<[u8; 12]>,
}

/// HKDF's output is wiped (the `Zeroizing` buffers). Its internal state (the PRK inside the
/// HMAC-SHA-256 cores) cannot be: hkdf 0.12, hmac 0.12 and sha2 0.10 implement no `Zeroize`
/// (docs/security-model.md, "Wiped temporaries"). It is dropped as soon as expansion is done.
fn derive(suite: SuiteId, key_len: usize, m_bytes: &[u8]) -> DerivedKey {
    let mut okm = Zeroizing::new([0u8; 44]);
    let info = format!("{} aes-{}-gcm key+nonce", suite.name(), key_len * 8);
    {
        let hk = Hkdf::<Sha256>::new(Some(SALT), m_bytes);
        // 44 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
        let _ = hk.expand(info.as_bytes(), okm.as_mut_slice());
    }
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = Zeroizing::new([0u8; 12]);
    key[..32].copy_from_slice(&okm[..32]);
    nonce.copy_from_slice(&okm[32..44]);
    DerivedKey { key, key_len, nonce }
}

/// Appends `plaintext` to `buf` and encrypts it in place under the key derived from
/// `m_bytes`, authenticating everything already in `buf` (the header), then appends the tag.
/// One copy of the plaintext, as with a plain AES-GCM `encrypt` call.
pub(crate) fn seal_appending(
    suite: SuiteId,
    key_len: usize,
    m_bytes: &[u8],
    buf: &mut Vec<u8>,
    plaintext: &[u8],
) -> Result<(), EnvelopeError> {
    let k = derive(suite, key_len, m_bytes);
    let header_len = buf.len();
    buf.extend_from_slice(plaintext);
    let (aad, body) = buf.split_at_mut(header_len);
    let nonce = Nonce::from_slice(k.nonce.as_slice());
    let tag = if k.key_len == 16 {
        Aes128Gcm::new_from_slice(&k.key[..16])
            .map_err(|_| EnvelopeError::PayloadTooLarge)?
            .encrypt_in_place_detached(nonce, aad, body)
    } else {
        Aes256Gcm::new_from_slice(&k.key[..])
            .map_err(|_| EnvelopeError::PayloadTooLarge)?
            .encrypt_in_place_detached(nonce, aad, body)
    }
    .map_err(|_| EnvelopeError::PayloadTooLarge)?;
    buf.extend_from_slice(&tag);
    Ok(())
}

/// A decrypted plaintext, wiped when dropped.
///
/// Not `Zeroizing<Vec<u8>>`: that wipes a `Vec` one volatile byte write at a time (≈15 ms
/// per 100 MB on the project machine, more than the whole ABE part of a decryption at
/// 128-bit); this wipes the bytes with the `zeroize` crate's bulk slice fill, which the
/// compiler cannot elide either.
pub struct Plaintext(Vec<u8>);

impl Plaintext {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for Plaintext {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Plaintext {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
    }
}

/// Plaintexts are personal data: never printed.
impl std::fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plaintext({} bytes, [redacted])", self.0.len())
    }
}

/// Decrypts ciphertext ‖ tag; fails if anything was modified or the key is wrong.
pub(crate) fn open(
    suite: SuiteId,
    key_len: usize,
    m_bytes: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Plaintext, EnvelopeError> {
    let k = derive(suite, key_len, m_bytes);
    let payload = Payload { msg: sealed, aad };
    let nonce = Nonce::from_slice(k.nonce.as_slice());
    let out = if k.key_len == 16 {
        Aes128Gcm::new_from_slice(&k.key[..16])
            .map_err(|_| EnvelopeError::AuthenticationFailed)?
            .decrypt(nonce, payload)
    } else {
        Aes256Gcm::new_from_slice(&k.key[..])
            .map_err(|_| EnvelopeError::AuthenticationFailed)?
            .decrypt(nonce, payload)
    };
    out.map(Plaintext).map_err(|_| EnvelopeError::AuthenticationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_both_key_lengths() {
        for key_len in [16, 32] {
            let mut sealed = b"aad".to_vec();
            seal_appending(SuiteId::Bls12_381, key_len, b"m", &mut sealed, b"hello").unwrap();
            let sealed = sealed.split_off(3);
            assert_eq!(sealed.len(), 5 + TAG_LEN);
            let opened = open(SuiteId::Bls12_381, key_len, b"m", b"aad", &sealed).unwrap();
            assert_eq!(opened.as_slice(), b"hello");
            assert!(!format!("{opened:?}").contains("hello"));
        }
    }

    #[test]
    fn rejects_changed_aad_key_or_ciphertext() {
        let mut sealed = b"aad".to_vec();
        seal_appending(SuiteId::Bls12_381, 16, b"m", &mut sealed, b"hello").unwrap();
        let sealed = sealed.split_off(3);
        assert!(open(SuiteId::Bls12_381, 16, b"m", b"aae", &sealed).is_err());
        assert!(open(SuiteId::Bls12_381, 16, b"n", b"aad", &sealed).is_err());
        assert!(open(SuiteId::Bn254, 16, b"m", b"aad", &sealed).is_err());
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert!(open(SuiteId::Bls12_381, 16, b"m", b"aad", &bad).is_err());
        assert!(open(SuiteId::Bls12_381, 16, b"m", b"aad", &sealed[..3]).is_err());
    }
}
