//! Sealing a key bundle (TAT or PAT) for exactly one recipient: HPKE (RFC 9180) base mode,
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
//!
//! The HPKE `info` binds the context — for a TAT, the service provider's entity ID and the
//! SAML `SessionIndex` — so a sealed token lifted into another service's or another session's
//! assertion does not open.
//!
//! Wire form: `"IDSL" ‖ version 1 ‖ encapsulated key (32) ‖ AES-GCM ciphertext ‖ tag`,
//! carried as unpadded base64url.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"IDSL";
const VERSION: u8 = 1;
const ENC_LEN: usize = 32;
/// Largest sealed object accepted (a TAT is ≈ 3.3 KB; this leaves room for bigger suites).
pub const MAX_SEALED: usize = 64 * 1024;

/// Why a sealed token could not be opened or built.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// Not base64url, wrong magic or version, or too short / too long.
    #[error("malformed sealed token")]
    Malformed,
    /// A public or private key is not 32 bytes of X25519.
    #[error("invalid X25519 key")]
    InvalidKey,
    /// Decryption failed: sealed for another recipient, another context, or modified.
    #[error("the sealed token does not open with this key and context")]
    OpenFailed,
}

/// An X25519 key pair for receiving sealed tokens (a web agent's TAT key).
pub struct RecipientKey {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey")
            .field("public", &self.public_text())
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl RecipientKey {
    /// A fresh key pair.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let (sk, pk) = X25519HkdfSha256::gen_keypair(rng);
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&sk.to_bytes());
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        RecipientKey { secret, public }
    }

    /// Rebuilds a key pair from its 32 secret bytes.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| SealError::InvalidKey)?;
        let pk = X25519HkdfSha256::sk_to_pk(&sk);
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&sk.to_bytes());
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Ok(RecipientKey { secret, public })
    }

    /// The 32 secret bytes (store with mode 0600).
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The public key, unpadded base64url (what the home IdP registers for the SP).
    pub fn public_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    /// Opens a sealed token (text form) bound to `info`.
    pub fn open(&self, sealed_text: &str, info: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed_text.len() > MAX_SEALED * 4 / 3 + 4 {
            return Err(SealError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed_text.trim()).map_err(|_| SealError::Malformed)?;
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .and_then(|r| r.strip_prefix(&[VERSION]))
            .ok_or(SealError::Malformed)?;
        if rest.len() < ENC_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (enc, ct) = rest.split_at(ENC_LEN);
        let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc)
            .map_err(|_| SealError::Malformed)?;
        let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(self.secret.as_slice())
            .map_err(|_| SealError::InvalidKey)?;
        hpke::single_shot_open::<AesGcm128, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk,
            &enc,
            info,
            ct,
            MAGIC,
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::OpenFailed)
    }
}

/// Seals `plaintext` for the holder of `recipient_public` (unpadded base64url, 32 bytes),
/// bound to `info`. Returns the text form.
pub fn seal<R: RngCore + CryptoRng>(
    recipient_public: &str,
    info: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<String, SealError> {
    let pk_bytes = URL_SAFE_NO_PAD.decode(recipient_public.trim()).map_err(|_| SealError::InvalidKey)?;
    let pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&pk_bytes)
        .map_err(|_| SealError::InvalidKey)?;
    let (enc, ct) = hpke::single_shot_seal::<AesGcm128, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        MAGIC,
        rng,
    )
    .map_err(|_| SealError::InvalidKey)?;
    let mut out = Vec::with_capacity(5 + ENC_LEN + ct.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Validates that `text` is an X25519 public key in unpadded base64url.
pub fn check_public_key(text: &str) -> Result<(), SealError> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| SealError::InvalidKey)?;
    <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&bytes)
        .map(|_| ())
        .map_err(|_| SealError::InvalidKey)
}

/// The HPKE `info` of a TAT: length-prefixed (entity ID, SessionIndex), so neither part can
/// bleed into the other.
pub fn tat_info(sp_entity_id: &str, session_index: &str) -> Vec<u8> {
    let mut info = b"idaas TAT v1".to_vec();
    for part in [sp_entity_id, session_index] {
        info.extend_from_slice(&(part.len() as u32).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn seals_for_one_recipient_and_context_only() {
        let r = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let sp = RecipientKey::generate(r);
        let other = RecipientKey::generate(r);
        let info = tat_info("https://shop.example", "s-1");
        let sealed = seal(&sp.public_text(), &info, b"tat bytes", r).unwrap();
        assert_eq!(sp.open(&sealed, &info).unwrap().as_slice(), b"tat bytes");
        assert_eq!(other.open(&sealed, &info).unwrap_err(), SealError::OpenFailed);
        assert_eq!(
            sp.open(&sealed, &tat_info("https://shop.example", "s-2")).unwrap_err(),
            SealError::OpenFailed
        );
        assert_eq!(
            sp.open(&sealed, &tat_info("https://shop.example/", "s-1")).unwrap_err(),
            SealError::OpenFailed
        );
        let restored = RecipientKey::from_secret_bytes(sp.secret_bytes()).unwrap();
        assert_eq!(restored.public_text(), sp.public_text());
    }

    #[test]
    fn rejects_malformed_sealed_tokens_and_keys() {
        let r = &mut rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let sp = RecipientKey::generate(r);
        for bad in ["", "!!", "SURTTAE", &"A".repeat(200_000)] {
            assert!(sp.open(bad, b"i").is_err());
        }
        let sealed = seal(&sp.public_text(), b"i", b"x", r).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            assert!(sp.open(&URL_SAFE_NO_PAD.encode(&bytes), b"i").is_err(), "byte {i}");
            bytes[i] ^= 1;
        }
        assert_eq!(seal("short", b"i", b"x", r).unwrap_err(), SealError::InvalidKey);
        assert!(check_public_key(&sp.public_text()).is_ok());
        assert!(check_public_key("AAAA").is_err());
        assert!(format!("{sp:?}").contains("redacted"));
    }
}
