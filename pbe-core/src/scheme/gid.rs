//! The linchpin: the global identifier `GID = (UID, SESSIONID)` every key is bound to.

use crate::error::{Error, Result};

/// Maximum length in bytes of the UID and of the session id.
pub const MAX_GID_PART: usize = 512;

/// A `(UID, SESSIONID)` pair. Keys issued for one `Gid` cannot be combined with keys of
/// another: `H(GID)` is part of every key component (DESIGN.md §3).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Gid {
    uid: String,
    session: String,
}

impl Gid {
    /// Builds a GID; both parts must be non-empty and at most [`MAX_GID_PART`] bytes.
    pub fn new(uid: &str, session: &str) -> Result<Self> {
        if uid.is_empty() || session.is_empty() {
            return Err(Error::Misuse("a GID needs a non-empty uid and session id"));
        }
        if uid.len() > MAX_GID_PART || session.len() > MAX_GID_PART {
            return Err(Error::Misuse("uid or session id longer than 512 bytes"));
        }
        Ok(Gid { uid: uid.to_owned(), session: session.to_owned() })
    }

    /// The user id.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The session id (the SAML `SessionIndex`).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The unambiguous encoding hashed by `H`: each part is length-prefixed, so
    /// `("ab", "c")` and `("a", "bc")` encode differently (plain concatenation would not).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.uid.len() + self.session.len());
        for part in [&self.uid, &self.session] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The uid and session id are personal data: never printed by `Debug`.
impl std::fmt::Debug for Gid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gid([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_unambiguous() {
        assert_ne!(Gid::new("ab", "c").unwrap().encode(), Gid::new("a", "bc").unwrap().encode());
    }

    #[test]
    fn rejects_empty_or_oversized_parts() {
        assert!(Gid::new("", "s").is_err());
        assert!(Gid::new("u", "").is_err());
        assert!(Gid::new(&"u".repeat(513), "s").is_err());
    }

    #[test]
    fn debug_does_not_print_the_uid() {
        assert!(!format!("{:?}", Gid::new("bob", "s1").unwrap()).contains("bob"));
    }
}
