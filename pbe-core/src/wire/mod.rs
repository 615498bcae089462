//! Versioned binary wire formats and their base64url text form.
//!
//! Every object starts with a five-byte header (STYLE.md §3.3):
//!
//! ```text
//! magic "IDPB" (4) ‖ version (1) ‖ kind (1) ‖ suite id (1)
//! ```
//!
//! and decoders match the version explicitly. The bodies are documented on each type
//! (`AuthorityPublicKey`, `AuthoritySecretKey`, `UserKey`, `Ciphertext`) and in
//! `docs/wire-format.md`.

// Private: the byte reader/writers behind every `to_bytes`/`from_bytes`.
pub(crate) mod codec;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::DecodeError;
use crate::suite::SuiteId;
use codec::Reader;

/// The magic bytes that open every pbe-core object.
pub const MAGIC: [u8; 4] = *b"IDPB";
/// The current (and only) format version.
pub const VERSION_1: u8 = 1;
/// Size of the common header.
pub const HEADER_LEN: usize = 7;

/// What an encoded object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// An authority's public key.
    AuthorityPublicKey,
    /// An authority's master secret key.
    AuthoritySecretKey,
    /// A user's key bundle (a TAT or PAT).
    UserKey,
    /// A ciphertext (ABE header + AES-GCM payload).
    Ciphertext,
}

impl Kind {
    const fn to_byte(self) -> u8 {
        match self {
            Kind::AuthorityPublicKey => 1,
            Kind::AuthoritySecretKey => 2,
            Kind::UserKey => 3,
            Kind::Ciphertext => 4,
        }
    }

    const fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Kind::AuthorityPublicKey),
            2 => Some(Kind::AuthoritySecretKey),
            3 => Some(Kind::UserKey),
            4 => Some(Kind::Ciphertext),
            _ => None,
        }
    }

    /// Human-readable name, used in errors and `idaas pbe inspect`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::AuthorityPublicKey => "authority public key",
            Kind::AuthoritySecretKey => "authority secret key",
            Kind::UserKey => "user key bundle",
            Kind::Ciphertext => "ciphertext",
        }
    }
}

/// The decoded common header of any object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The object kind.
    pub kind: Kind,
    /// The pairing suite.
    pub suite: SuiteId,
}

impl Header {
    /// Writes the header.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION_1);
        out.push(self.kind.to_byte());
        out.push(self.suite.to_byte());
    }

    /// Reads a header without expectations (for dispatch and `inspect`).
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let magic = r.take(4, "header").map_err(|_| DecodeError::BadMagic)?;
        if magic != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        match r.u8("header")? {
            VERSION_1 => {}
            v => return Err(DecodeError::UnknownVersion(v)),
        }
        let kind_byte = r.u8("header")?;
        let kind = Kind::from_byte(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
        let suite_byte = r.u8("header")?;
        let suite = SuiteId::from_byte(suite_byte).ok_or(DecodeError::UnknownSuite(suite_byte))?;
        Ok(Header { kind, suite })
    }

    /// Reads a header and checks it names `kind` in `suite`.
    pub(crate) fn expect(r: &mut Reader<'_>, kind: Kind, suite: SuiteId) -> Result<(), DecodeError> {
        let h = Header::read(r)?;
        if h.kind != kind {
            return Err(DecodeError::UnexpectedKind { expected: kind.name(), found: h.kind.name() });
        }
        if h.suite != suite {
            return Err(DecodeError::SuiteMismatch { expected: suite, found: h.suite });
        }
        Ok(())
    }
}

/// Reads just the header of `bytes`: what the object is and which suite it belongs to.
pub fn peek(bytes: &[u8]) -> Result<Header, DecodeError> {
    Header::read(&mut Reader::new(bytes))
}

/// The text form of an object: unpadded base64url of its bytes.
pub fn to_text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses the text form (surrounding whitespace is ignored; padding is refused).
pub fn from_text(text: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(text.trim().as_bytes()).map_err(|_| DecodeError::InvalidBase64)
}

/// Accepts either the binary form or its text form (files written by the CLI are binary;
/// APIs carry text). Binary is recognised by the magic bytes.
pub fn from_binary_or_text(input: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if input.starts_with(&MAGIC) {
        return Ok(input.to_vec());
    }
    let text = std::str::from_utf8(input).map_err(|_| DecodeError::BadMagic)?;
    let bytes = from_text(text)?;
    if bytes.starts_with(&MAGIC) {
        Ok(bytes)
    } else {
        Err(DecodeError::BadMagic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrips() {
        let h = Header { kind: Kind::Ciphertext, suite: SuiteId::Bn254 };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(peek(&out), Ok(h));
    }

    #[test]
    fn rejects_bad_magic_unknown_version_kind_and_suite() {
        assert_eq!(peek(b"XXXX\x01\x04\x01"), Err(DecodeError::BadMagic));
        assert_eq!(peek(b"IDPB\x09\x04\x01"), Err(DecodeError::UnknownVersion(9)));
        assert_eq!(peek(b"IDPB\x01\x09\x01"), Err(DecodeError::UnknownKind(9)));
        assert_eq!(peek(b"IDPB\x01\x04\x09"), Err(DecodeError::UnknownSuite(9)));
        assert_eq!(peek(b"IDP"), Err(DecodeError::BadMagic));
        assert_eq!(peek(b"IDPB\x01"), Err(DecodeError::Truncated("header")));
    }

    #[test]
    fn rejects_padded_or_invalid_base64() {
        assert_eq!(from_text("aGk="), Err(DecodeError::InvalidBase64));
        assert_eq!(from_text("a+b/"), Err(DecodeError::InvalidBase64));
        assert_eq!(from_binary_or_text(b"aGk"), Err(DecodeError::BadMagic));
    }
}
