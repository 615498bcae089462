//! Sealing a key bundle (TAT or PAT) for exactly one recipient with HPKE (RFC 9180) base mode,
//! in the HPKE suite that matches the pairing suite's security level ([`SealSuite`]):
//!
//! | pairing suite | KEM | KDF | AEAD |
//! |---|---|---|---|
//! | bn254, bls12-381 (≤128-bit) | DHKEM(X25519, HKDF-SHA256) | HKDF-SHA256 | AES-128-GCM |
//! | bls24-479 (192-bit) | DHKEM(P-384, HKDF-SHA384) | HKDF-SHA384 | AES-256-GCM |
//! | bls48-581 (256-bit) | DHKEM(P-521, HKDF-SHA512) | HKDF-SHA512 | AES-256-GCM |
//!
//! A token sealed with X25519 at 192 or 256 bits would be the weakest link (≈128-bit), so the
//! suite is never chosen by the sender alone: every party derives it from its configured pairing
//! suite, a public key of another kind is refused at registration and at sealing
//! ([`SealError::WrongKeyKind`]), and a sealed token of another suite is refused at opening.
//!
//! The HPKE `info` binds the context — for a TAT, the service provider's entity ID and the
//! SAML `SessionIndex` — so a sealed token lifted into another service's or another session's
//! assertion does not open.
//!
//! Wire forms, carried as unpadded base64url:
//! - X25519 (unchanged since version 1): `"IDSL" ‖ 1 ‖ enc (32) ‖ AES-GCM ciphertext ‖ tag`,
//!   AEAD associated data `"IDSL"` (as before);
//! - P-384 / P-521: `"IDSL" ‖ 2 ‖ HPKE KEM id (u16 BE: 0x0011, 0x0012) ‖ enc (97 / 133,
//!   SEC1 uncompressed) ‖ ciphertext ‖ tag`, associated data the 7 header bytes.
//!
//! Public keys are the HPKE serialisation (`SerializePublicKey`) in unpadded base64url: 32 bytes
//! for X25519, 97 / 133 bytes (SEC1 uncompressed) for P-384 / P-521. Their lengths differ, so a
//! key of the wrong kind is recognised and named in the error.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hpke::aead::{Aead, AesGcm128, AesGcm256};
use hpke::kdf::{HkdfSha256, HkdfSha384, HkdfSha512, Kdf};
use hpke::kem::{DhP384HkdfSha384, DhP521HkdfSha512, Kem, X25519HkdfSha256};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use pbe_core::SuiteId;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"IDSL";
/// Version byte of the X25519 form (the only form before per-level suites).
const VERSION_X25519: u8 = 1;
/// Version byte of the forms that name their KEM.
const VERSION_KEM_ID: u8 = 2;
/// Largest sealed object accepted (a TAT is ≈ 3.3 KB at 128 bits, ≈ 12 KB at 256 bits).
pub const MAX_SEALED: usize = 64 * 1024;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// The HPKE suite TATs and PATs are sealed with; one per security level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealSuite {
    /// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: the 128-bit levels (bn254,
    /// bls12-381). Wire-compatible with tokens sealed before per-level suites.
    X25519Aes128,
    /// DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM: the 192-bit level (bls24-479).
    P384Aes256,
    /// DHKEM(P-521, HKDF-SHA512), HKDF-SHA512, AES-256-GCM: the 256-bit level (bls48-581).
    P521Aes256,
}

impl SealSuite {
    /// Every suite, in order of strength.
    pub const ALL: [SealSuite; 3] = [SealSuite::X25519Aes128, SealSuite::P384Aes256, SealSuite::P521Aes256];

    /// The sealing suite of a pairing suite: the weakest HPKE suite that is at least as strong.
    pub const fn for_suite(suite: SuiteId) -> Self {
        match suite {
            SuiteId::Bn254 | SuiteId::Bls12_381 => SealSuite::X25519Aes128,
            SuiteId::Bls24_479 => SealSuite::P384Aes256,
            SuiteId::Bls48_581 => SealSuite::P521Aes256,
        }
    }

    /// The KEM's name, as written in SP metadata (`<idaas:TatKey Algorithm="…">`): `X25519`,
    /// `P-384`, `P-521`.
    pub const fn kem_name(self) -> &'static str {
        match self {
            SealSuite::X25519Aes128 => "X25519",
            SealSuite::P384Aes256 => "P-384",
            SealSuite::P521Aes256 => "P-521",
        }
    }

    /// Reads a [`Self::kem_name`] (case-insensitive).
    pub fn from_kem_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.kem_name().eq_ignore_ascii_case(name))
    }

    /// The whole HPKE suite in words (for documentation and errors).
    pub const fn description(self) -> &'static str {
        match self {
            SealSuite::X25519Aes128 => "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM",
            SealSuite::P384Aes256 => "DHKEM(P-384, HKDF-SHA384), HKDF-SHA384, AES-256-GCM",
            SealSuite::P521Aes256 => "DHKEM(P-521, HKDF-SHA512), HKDF-SHA512, AES-256-GCM",
        }
    }

    /// Length of a serialised public key, bytes.
    pub const fn public_key_len(self) -> usize {
        match self {
            SealSuite::X25519Aes128 => 32,
            SealSuite::P384Aes256 => 97,
            SealSuite::P521Aes256 => 133,
        }
    }

    /// Length of a serialised secret key, bytes (what a key file holds).
    pub const fn secret_key_len(self) -> usize {
        match self {
            SealSuite::X25519Aes128 => 32,
            SealSuite::P384Aes256 => 48,
            SealSuite::P521Aes256 => 66,
        }
    }

    /// The HPKE KEM identifier (RFC 9180 §7.1).
    pub const fn kem_id(self) -> u16 {
        match self {
            SealSuite::X25519Aes128 => X25519HkdfSha256::KEM_ID,
            SealSuite::P384Aes256 => DhP384HkdfSha384::KEM_ID,
            SealSuite::P521Aes256 => DhP521HkdfSha512::KEM_ID,
        }
    }

    fn from_kem_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.kem_id() == id)
    }

    /// The suite whose public keys have `len` bytes, if any.
    fn by_public_key_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.public_key_len() == len)
    }

    /// The wire header of a token sealed with this suite (see [`Self::aad`] for what it authenticates).
    fn header(self) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        match self {
            SealSuite::X25519Aes128 => h.push(VERSION_X25519),
            _ => {
                h.push(VERSION_KEM_ID);
                h.extend_from_slice(&self.kem_id().to_be_bytes());
            }
        }
        h
    }

    /// The AEAD associated data: the header, except for the X25519 form, which has always
    /// used the magic alone (kept so tokens stay wire-compatible; its one version byte
    /// selects the only suite that form can carry).
    fn aad(self) -> &'static [u8] {
        match self {
            SealSuite::X25519Aes128 => MAGIC,
            SealSuite::P384Aes256 => b"IDSL\x02\x00\x11",
            SealSuite::P521Aes256 => b"IDSL\x02\x00\x12",
        }
    }

    /// Length of the encapsulated key (the ephemeral public key).
    const fn enc_len(self) -> usize {
        self.public_key_len()
    }
}

impl std::fmt::Display for SealSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kem_name())
    }
}

/// Why a sealed token could not be opened or built, or a key not accepted.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// Not base64url, wrong magic or version, or too short / too long.
    #[error("malformed sealed token")]
    Malformed,
    /// A public or private key is not a valid key (bad base64url, not a point / scalar).
    #[error("invalid public or private key")]
    InvalidKey,
    /// A key of another kind (length) than the security level's suite expects.
    #[error(
        "expected {} bytes of {expected} key{}, got {got} bytes{}",
        if *.public { expected.public_key_len() } else { expected.secret_key_len() },
        if *.public { " (public, unpadded base64url)" } else { " (secret)" },
        match .looks_like { Some(k) => format!(" (that is the size of a {k} key: the parties are configured for different security levels)"), None => String::new() },
    )]
    WrongKeyKind {
        /// The suite the configured security level requires.
        expected: SealSuite,
        /// The length of what was given, bytes.
        got: usize,
        /// Whether it was a public key (else a secret key).
        public: bool,
        /// The suite whose keys have that length, if any.
        looks_like: Option<SealSuite>,
    },
    /// The token was sealed with another suite than the recipient's key.
    #[error("the token is sealed with {found}, this recipient's key is {expected}")]
    WrongSuite {
        /// The recipient key's suite.
        expected: SealSuite,
        /// The token's suite.
        found: SealSuite,
    },
    /// Decryption failed: sealed for another recipient, another context, or modified.
    #[error("the sealed token does not open with this key and context")]
    OpenFailed,
}

/// Checks the length of a decoded public key against `suite`.
fn check_public_len(suite: SealSuite, bytes: &[u8]) -> Result<(), SealError> {
    if bytes.len() == suite.public_key_len() {
        return Ok(());
    }
    Err(SealError::WrongKeyKind {
        expected: suite,
        got: bytes.len(),
        public: true,
        looks_like: SealSuite::by_public_key_len(bytes.len()),
    })
}

// The HPKE operations, generic over the suite; each public function picks the types with one
// `match` on the suite.
// Keys cross this boundary as bytes so that `RecipientKey` stays one type for every level.

/// `(secret, public)` of a fresh key pair. The input keying material is drawn into a wiped
/// buffer (hpke's own `gen_keypair` leaves its copy on the stack).
fn gen_keypair<M: Kem, R: RngCore + CryptoRng>(rng: &mut R) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    let mut ikm = Zeroizing::new(vec![0u8; <M::PrivateKey as Serializable>::size()]);
    rng.fill_bytes(&mut ikm);
    let (sk, pk) = M::derive_keypair(&ikm);
    (Zeroizing::new(sk.to_bytes().to_vec()), pk.to_bytes().to_vec())
}

fn public_of<M: Kem>(secret: &[u8]) -> Result<Vec<u8>, SealError> {
    let sk = M::PrivateKey::from_bytes(secret).map_err(|_| SealError::InvalidKey)?;
    Ok(M::sk_to_pk(&sk).to_bytes().to_vec())
}

fn check_public<M: Kem>(public: &[u8]) -> Result<(), SealError> {
    M::PublicKey::from_bytes(public).map(|_| ()).map_err(|_| SealError::InvalidKey)
}

fn seal_with<A: Aead, K: Kdf, M: Kem, R: RngCore + CryptoRng>(
    public: &[u8],
    info: &[u8],
    plaintext: &[u8],
    aad: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, Vec<u8>), SealError> {
    let pk = M::PublicKey::from_bytes(public).map_err(|_| SealError::InvalidKey)?;
    let (enc, ct) = hpke::single_shot_seal::<A, K, M, R>(&OpModeS::Base, &pk, info, plaintext, aad, rng)
        .map_err(|_| SealError::InvalidKey)?;
    Ok((enc.to_bytes().to_vec(), ct))
}

fn open_with<A: Aead, K: Kdf, M: Kem>(
    secret: &[u8],
    enc: &[u8],
    info: &[u8],
    ct: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    // A malformed encapsulated key (off-curve, identity) is a malformed token, not a bad key.
    let enc = M::EncappedKey::from_bytes(enc).map_err(|_| SealError::Malformed)?;
    let sk = M::PrivateKey::from_bytes(secret).map_err(|_| SealError::InvalidKey)?;
    hpke::single_shot_open::<A, K, M>(&OpModeR::Base, &sk, &enc, info, ct, aad)
        .map(Zeroizing::new)
        .map_err(|_| SealError::OpenFailed)
}

/// An HPKE key pair for receiving sealed tokens (a web agent's TAT and PAT key).
pub struct RecipientKey {
    suite: SealSuite,
    secret: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey")
            .field("suite", &self.suite)
            .field("public", &self.public_text())
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl RecipientKey {
    /// A fresh key pair of `suite`.
    pub fn generate<R: RngCore + CryptoRng>(suite: SealSuite, rng: &mut R) -> Self {
        let (secret, public) = match suite {
            SealSuite::X25519Aes128 => gen_keypair::<X25519HkdfSha256, R>(rng),
            SealSuite::P384Aes256 => gen_keypair::<DhP384HkdfSha384, R>(rng),
            SealSuite::P521Aes256 => gen_keypair::<DhP521HkdfSha512, R>(rng),
        };
        RecipientKey { suite, secret, public }
    }

    /// Rebuilds a key pair of `suite` from its secret bytes (32 for X25519, 48 for P-384, 66
    /// for P-521); another length is refused with [`SealError::WrongKeyKind`], so a key file
    /// of another level is never taken for this one.
    pub fn from_secret_bytes(suite: SealSuite, bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != suite.secret_key_len() {
            return Err(SealError::WrongKeyKind {
                expected: suite,
                got: bytes.len(),
                public: false,
                looks_like: SealSuite::ALL.into_iter().find(|s| s.secret_key_len() == bytes.len()),
            });
        }
        let public = match suite {
            SealSuite::X25519Aes128 => public_of::<X25519HkdfSha256>(bytes),
            SealSuite::P384Aes256 => public_of::<DhP384HkdfSha384>(bytes),
            SealSuite::P521Aes256 => public_of::<DhP521HkdfSha512>(bytes),
        }?;
        Ok(RecipientKey { suite, secret: Zeroizing::new(bytes.to_vec()), public })
    }

    /// The suite of this key.
    pub fn suite(&self) -> SealSuite {
        self.suite
    }

    /// The secret bytes (store with mode 0600).
    pub fn secret_bytes(&self) -> &[u8] {
        &self.secret
    }

    /// The public key, unpadded base64url (what the home IdP registers for the SP).
    pub fn public_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.public)
    }

    /// Opens a sealed token (text form) bound to `info`.
    pub fn open(&self, sealed_text: &str, info: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_limited(sealed_text, info, MAX_SEALED)
    }

    /// [`RecipientKey::open`] for objects up to `max` bytes rather than [`MAX_SEALED`] (a PII
    /// bundle, `crate::pii`, is far larger than a key bundle).
    pub fn open_limited(
        &self,
        sealed_text: &str,
        info: &[u8],
        max: usize,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed_text.len() > max.saturating_mul(4) / 3 + 4 {
            return Err(SealError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed_text.trim()).map_err(|_| SealError::Malformed)?;
        let (found, body) = parse_header(&bytes)?;
        if found != self.suite {
            return Err(SealError::WrongSuite { expected: self.suite, found });
        }
        let aad = found.aad();
        if body.len() < found.enc_len() + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (enc, ct) = body.split_at(found.enc_len());
        let s = self.secret.as_slice();
        match found {
            SealSuite::X25519Aes128 => {
                open_with::<AesGcm128, HkdfSha256, X25519HkdfSha256>(s, enc, info, ct, aad)
            }
            SealSuite::P384Aes256 => {
                open_with::<AesGcm256, HkdfSha384, DhP384HkdfSha384>(s, enc, info, ct, aad)
            }
            SealSuite::P521Aes256 => {
                open_with::<AesGcm256, HkdfSha512, DhP521HkdfSha512>(s, enc, info, ct, aad)
            }
        }
    }
}

/// Splits a decoded sealed token into its suite and what follows the header.
fn parse_header(bytes: &[u8]) -> Result<(SealSuite, &[u8]), SealError> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(SealError::Malformed)?;
    match rest.split_first() {
        Some((&VERSION_X25519, body)) => Ok((SealSuite::X25519Aes128, body)),
        Some((&VERSION_KEM_ID, [hi, lo, body @ ..])) => {
            let suite = SealSuite::from_kem_id(u16::from_be_bytes([*hi, *lo]))
                // The X25519 suite has its own version byte; one form per suite.
                .filter(|s| *s != SealSuite::X25519Aes128)
                .ok_or(SealError::Malformed)?;
            Ok((suite, body))
        }
        _ => Err(SealError::Malformed),
    }
}

/// The suite a sealed token (text form) names in its header, without opening it.
pub fn sealed_suite(sealed_text: &str) -> Result<SealSuite, SealError> {
    if sealed_text.len() > MAX_SEALED * 4 / 3 + 4 {
        return Err(SealError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD.decode(sealed_text.trim()).map_err(|_| SealError::Malformed)?;
    parse_header(&bytes).map(|(s, _)| s)
}

/// Seals `plaintext` with `suite` for the holder of `recipient_public` (unpadded base64url),
/// bound to `info`. Returns the text form. A public key of another suite is refused with
/// [`SealError::WrongKeyKind`]: the sender never downgrades to the recipient's kind of key.
pub fn seal<R: RngCore + CryptoRng>(
    suite: SealSuite,
    recipient_public: &str,
    info: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<String, SealError> {
    let pk = URL_SAFE_NO_PAD.decode(recipient_public.trim()).map_err(|_| SealError::InvalidKey)?;
    check_public_len(suite, &pk)?;
    let header = suite.header();
    let aad = suite.aad();
    let (enc, ct) = match suite {
        SealSuite::X25519Aes128 => {
            seal_with::<AesGcm128, HkdfSha256, X25519HkdfSha256, R>(&pk, info, plaintext, aad, rng)
        }
        SealSuite::P384Aes256 => {
            seal_with::<AesGcm256, HkdfSha384, DhP384HkdfSha384, R>(&pk, info, plaintext, aad, rng)
        }
        SealSuite::P521Aes256 => {
            seal_with::<AesGcm256, HkdfSha512, DhP521HkdfSha512, R>(&pk, info, plaintext, aad, rng)
        }
    }?;
    let mut out = header;
    out.extend_from_slice(&enc);
    out.extend_from_slice(&ct);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Validates that `text` is a public key of `suite` in unpadded base64url: right length
/// ([`SealError::WrongKeyKind`] names the kind it looks like otherwise) and a valid point.
pub fn check_public_key(suite: SealSuite, text: &str) -> Result<(), SealError> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| SealError::InvalidKey)?;
    check_public_len(suite, &bytes)?;
    match suite {
        SealSuite::X25519Aes128 => check_public::<X25519HkdfSha256>(&bytes),
        SealSuite::P384Aes256 => check_public::<DhP384HkdfSha384>(&bytes),
        SealSuite::P521Aes256 => check_public::<DhP521HkdfSha512>(&bytes),
    }
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

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    #[test]
    fn every_pairing_suite_maps_to_a_sealing_suite_of_its_strength() {
        for s in [SealSuite::P384Aes256, SealSuite::P521Aes256] {
            assert_eq!(s.aad(), s.header().as_slice(), "the NIST forms authenticate their whole header");
        }
        assert_eq!(SealSuite::X25519Aes128.aad(), MAGIC);
        assert_eq!(SealSuite::for_suite(SuiteId::Bn254), SealSuite::X25519Aes128);
        assert_eq!(SealSuite::for_suite(SuiteId::Bls12_381), SealSuite::X25519Aes128);
        assert_eq!(SealSuite::for_suite(SuiteId::Bls24_479), SealSuite::P384Aes256);
        assert_eq!(SealSuite::for_suite(SuiteId::Bls48_581), SealSuite::P521Aes256);
        for s in SealSuite::ALL {
            assert_eq!(SealSuite::from_kem_name(s.kem_name()), Some(s));
            assert_eq!(SealSuite::from_kem_name(&s.kem_name().to_lowercase()), Some(s));
        }
        assert_eq!(SealSuite::from_kem_name("P-256"), None);
    }

    #[test]
    fn seals_for_one_recipient_and_context_only_at_every_level() {
        for (i, suite) in SealSuite::ALL.into_iter().enumerate() {
            let r = &mut rng(10 + i as u64);
            let sp = RecipientKey::generate(suite, r);
            assert_eq!(sp.suite(), suite);
            assert_eq!(URL_SAFE_NO_PAD.decode(sp.public_text()).unwrap().len(), suite.public_key_len());
            assert_eq!(sp.secret_bytes().len(), suite.secret_key_len());
            check_public_key(suite, &sp.public_text()).unwrap();
            let other = RecipientKey::generate(suite, r);
            let info = tat_info("https://shop.example", "s-1");
            let sealed = seal(suite, &sp.public_text(), &info, b"tat bytes", r).unwrap();
            assert_eq!(sealed_suite(&sealed).unwrap(), suite);
            let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
            assert_eq!(raw.len(), suite.header().len() + suite.enc_len() + 9 + TAG_LEN, "{suite}");
            assert_eq!(sp.open(&sealed, &info).unwrap().as_slice(), b"tat bytes", "{suite}");
            assert_eq!(other.open(&sealed, &info).unwrap_err(), SealError::OpenFailed);
            assert_eq!(
                sp.open(&sealed, &tat_info("https://shop.example", "s-2")).unwrap_err(),
                SealError::OpenFailed
            );
            assert_eq!(
                sp.open(&sealed, &tat_info("https://shop.example/", "s-1")).unwrap_err(),
                SealError::OpenFailed
            );
            let restored = RecipientKey::from_secret_bytes(suite, sp.secret_bytes()).unwrap();
            assert_eq!(restored.public_text(), sp.public_text());
            assert_eq!(restored.open(&sealed, &info).unwrap().as_slice(), b"tat bytes");
        }
    }

    #[test]
    fn keys_and_tokens_of_another_level_are_refused() {
        let r = &mut rng(20);
        let keys = SealSuite::ALL.map(|s| RecipientKey::generate(s, r));
        for want in SealSuite::ALL {
            for key in &keys {
                let have = key.suite();
                if have == want {
                    continue;
                }
                let expected = SealError::WrongKeyKind {
                    expected: want,
                    got: have.public_key_len(),
                    public: true,
                    looks_like: Some(have),
                };
                // At registration …
                assert_eq!(check_public_key(want, &key.public_text()), Err(expected.clone()));
                // … and at sealing: never a downgrade to the recipient's kind of key.
                assert_eq!(seal(want, &key.public_text(), b"i", b"x", r), Err(expected.clone()));
                let msg = expected.to_string();
                assert!(msg.contains(want.kem_name()) && msg.contains(have.kem_name()), "{msg}");
                // A key file of another level.
                assert!(matches!(
                    RecipientKey::from_secret_bytes(want, key.secret_bytes()),
                    Err(SealError::WrongKeyKind { public: false, .. })
                ));
                // A token of another suite.
                let sealed = seal(have, &key.public_text(), b"i", b"x", r).unwrap();
                let opener = keys.iter().find(|k| k.suite() == want).unwrap();
                assert_eq!(
                    opener.open(&sealed, b"i"),
                    Err(SealError::WrongSuite { expected: want, found: have })
                );
            }
        }
    }

    #[test]
    fn rejects_malformed_sealed_tokens_and_keys_at_every_level() {
        for (i, suite) in SealSuite::ALL.into_iter().enumerate() {
            let r = &mut rng(30 + i as u64);
            let sp = RecipientKey::generate(suite, r);
            for bad in ["", "!!", "SURTTAE", "SURTTAI", "SURTTAIAEQ", "SURTTAIAIA", &"A".repeat(200_000)] {
                assert!(sp.open(bad, b"i").is_err(), "{suite} {bad:.20}");
            }
            let sealed = seal(suite, &sp.public_text(), b"i", b"x", r).unwrap();
            let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
            // Every byte is authenticated: header (as associated data), encapsulated key, body.
            for i in 0..bytes.len() {
                bytes[i] ^= 1;
                assert!(sp.open(&URL_SAFE_NO_PAD.encode(&bytes), b"i").is_err(), "{suite} byte {i}");
                bytes[i] ^= 1;
            }
            // Truncated at every length.
            for n in 0..bytes.len() {
                assert!(sp.open(&URL_SAFE_NO_PAD.encode(&bytes[..n]), b"i").is_err(), "{suite} len {n}");
            }
            assert_eq!(seal(suite, "short", b"i", b"x", r).unwrap_err(), SealError::InvalidKey);
            assert!(matches!(
                seal(suite, "AAAA", b"i", b"x", r).unwrap_err(),
                SealError::WrongKeyKind { got: 3, looks_like: None, .. }
            ));
            assert!(check_public_key(suite, "AAAA").is_err());
            assert!(format!("{sp:?}").contains("redacted"));
            assert!(!format!("{sp:?}").contains(&URL_SAFE_NO_PAD.encode(sp.secret_bytes())));
        }
        // NIST keys of the right length that are not points (SEC1 tag 0x04 with x = y = 0xff…,
        // the compressed and identity encodings) are refused.
        for suite in [SealSuite::P384Aes256, SealSuite::P521Aes256] {
            let n = suite.public_key_len();
            let mut off_curve = vec![0xffu8; n];
            off_curve[0] = 4;
            let mut zero = vec![0u8; n];
            zero[0] = 4;
            for bad in [off_curve, zero, vec![0u8; n], vec![2u8; n]] {
                assert_eq!(
                    check_public_key(suite, &URL_SAFE_NO_PAD.encode(&bad)),
                    Err(SealError::InvalidKey)
                );
                assert_eq!(
                    seal(suite, &URL_SAFE_NO_PAD.encode(&bad), b"i", b"x", &mut rng(1)),
                    Err(SealError::InvalidKey)
                );
            }
            // Secret scalars 0 and ≥ the group order.
            let len = suite.secret_key_len();
            for bad in [vec![0u8; len], vec![0xffu8; len]] {
                assert_eq!(RecipientKey::from_secret_bytes(suite, &bad).unwrap_err(), SealError::InvalidKey);
            }
        }
    }

    #[test]
    fn x25519_form_is_unchanged() {
        // The form before per-level suites, rebuilt here with hpke directly as that version
        // did: "IDSL" ‖ 1 ‖ enc ‖ ciphertext, associated data "IDSL". Both directions work.
        let r = &mut rng(7);
        let sp = RecipientKey::generate(SealSuite::X25519Aes128, r);
        let pk_bytes = URL_SAFE_NO_PAD.decode(sp.public_text()).unwrap();
        let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(&pk_bytes).unwrap();
        let (enc, ct) = hpke::single_shot_seal::<AesGcm128, HkdfSha256, X25519HkdfSha256, _>(
            &OpModeS::Base,
            &pk,
            b"ctx",
            b"hello",
            b"IDSL",
            r,
        )
        .unwrap();
        let old = URL_SAFE_NO_PAD.encode([&b"IDSL\x01"[..], &enc.to_bytes(), &ct].concat());
        assert_eq!(sp.open(&old, b"ctx").unwrap().as_slice(), b"hello");

        let new = URL_SAFE_NO_PAD
            .decode(seal(SealSuite::X25519Aes128, &sp.public_text(), b"ctx", b"hi", r).unwrap())
            .unwrap();
        assert_eq!(&new[..5], b"IDSL\x01");
        let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&new[5..37]).unwrap();
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(sp.secret_bytes()).unwrap();
        let opened = hpke::single_shot_open::<AesGcm128, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk,
            &enc,
            b"ctx",
            &new[37..],
            b"IDSL",
        )
        .unwrap();
        assert_eq!(opened, b"hi");
    }
}
