//! Fetching a user's PII ciphertexts by reference (issue 15, defect 4). The signed assertion
//! carries, per attribute, only a digest (`pii:NAME` = [`crate::claims::pii_digest`]) and one
//! reference ([`PiiRef`], claim `idaas:pii-ref`). The service's web agent posts the reference
//! and the fields it is bound to ([`crate::api::PiiFetchRequest`]) to the home IdP's
//! [`FETCH_PATH`]; the home IdP answers the user's current ciphertexts as one [`Bundle`],
//! HPKE-sealed to the SP's registered key under [`pii_info`]. The agent opens the seal and
//! keeps only the ciphertexts whose SHA-256 matches the signed digest ([`check_digests`]).
//!
//! Why this keeps "nothing readable without the keys": the ciphertexts are ABE ciphertexts as
//! before; the reference reads nothing by itself (the answer is sealed to the SP), and what
//! the agent decrypts is exactly what the home IdP signed (the digests).
//!
//! # Wire forms (docs/wire-format.md)
//!
//! - reference: unpadded base64url of `1 (version) ‖ expiry (i64 BE, Unix seconds) ‖
//!   HMAC-SHA-256(home key, ref_mac_input)` = 41 bytes, 55 characters ([`PiiRef`]);
//! - bundle (the sealed plaintext): `"IDPB" ‖ 1 ‖ count (u16 BE)`, then per entry
//!   `name length (u8) ‖ name ‖ ciphertext length (u32 BE) ‖ ciphertext (pbe-core binary)`,
//!   names strictly ascending, nothing after the last entry.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::claims::{is_pii_name, pii_digest, MAX_PII};

/// The home IdP's fetch endpoint (POST, JSON [`crate::api::PiiFetchRequest`]).
pub const FETCH_PATH: &str = "/pbe/pii/fetch";
/// Version byte of the reference.
pub const REF_VERSION: u8 = 1;
/// Length of a reference's text form (41 bytes, unpadded base64url).
pub const REF_TEXT_LEN: usize = 55;
/// Largest bundle (the sealed plaintext), bytes: 64 ciphertexts of the 256-bit suite under a
/// Table 1 policy are ≈ 7 MB.
pub const MAX_BUNDLE: usize = 16 * 1024 * 1024;
/// Largest sealed bundle in text form (base64url of the bundle, the HPKE header and tag).
pub const MAX_SEALED_TEXT: usize = MAX_SEALED * 4 / 3 + 4;
/// Largest sealed bundle, bytes (what [`crate::seal::RecipientKey::open_limited`] is given):
/// the bundle, the HPKE header, encapsulated key and tag.
pub const MAX_SEALED: usize = MAX_BUNDLE + 4096;

const BUNDLE_MAGIC: &[u8; 4] = b"IDPB";
const BUNDLE_VERSION: u8 = 1;

/// The reference a home IdP writes into the assertion: an expiry and a MAC over the user, the
/// SP, the SessionIndex, the assertion ID and the expiry ([`ref_mac_input`]). It holds no
/// state at the IdP, so any home instance holding the key can check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PiiRef {
    /// Until when the reference is good, Unix seconds.
    pub expires: i64,
    /// HMAC-SHA-256 under the home IdP's reference key.
    pub mac: [u8; 32],
}

impl PiiRef {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut b = Vec::with_capacity(41);
        b.push(REF_VERSION);
        b.extend_from_slice(&self.expires.to_be_bytes());
        b.extend_from_slice(&self.mac);
        URL_SAFE_NO_PAD.encode(b)
    }

    /// Parses the text form (version 1, exactly 41 bytes).
    pub fn parse(text: &str) -> Option<PiiRef> {
        if text.len() != REF_TEXT_LEN {
            return None;
        }
        let b = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (version, rest) = b.split_first()?;
        if *version != REF_VERSION || rest.len() != 40 {
            return None;
        }
        let (exp, mac) = rest.split_at(8);
        Some(PiiRef { expires: i64::from_be_bytes(exp.try_into().ok()?), mac: mac.try_into().ok()? })
    }

    /// Whether `text` parses.
    pub fn is_well_formed(text: &str) -> bool {
        Self::parse(text).is_some()
    }
}

fn length_prefixed(out: &mut Vec<u8>, parts: &[&str]) {
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
}

/// What the reference's MAC covers: `"idaas pii-ref v1"`, then uid, SP entity ID,
/// SessionIndex and assertion ID, each with a 4-byte big-endian length, then the expiry (i64 BE).
pub fn ref_mac_input(uid: &str, sp: &str, session_index: &str, assertion_id: &str, expires: i64) -> Vec<u8> {
    let mut out = b"idaas pii-ref v1".to_vec();
    length_prefixed(&mut out, &[uid, sp, session_index, assertion_id]);
    out.extend_from_slice(&expires.to_be_bytes());
    out
}

/// The HPKE `info` of a sealed bundle from the home IdP: `"idaas pii v1"`, then the SP's
/// entity ID, the SessionIndex and the assertion ID, each with a 4-byte big-endian length.
pub fn pii_info(sp: &str, session_index: &str, assertion_id: &str) -> Vec<u8> {
    let mut out = b"idaas pii v1".to_vec();
    length_prefixed(&mut out, &[sp, session_index, assertion_id]);
    out
}

/// Why a bundle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Bad framing, a bad or repeated name, too many entries, or trailing bytes.
    #[error("the PII bundle is malformed")]
    Malformed,
    /// Larger than [`MAX_BUNDLE`].
    #[error("the PII bundle is larger than {MAX_BUNDLE} bytes")]
    TooLarge,
}

/// Attribute name → ciphertext (pbe-core binary), at most [`MAX_PII`] entries.
pub type Bundle = BTreeMap<String, Vec<u8>>;

/// Encodes a bundle. Refuses what [`decode_bundle`] refuses.
pub fn encode_bundle(bundle: &Bundle) -> Result<Vec<u8>, BundleError> {
    if bundle.len() > MAX_PII {
        return Err(BundleError::Malformed);
    }
    let mut out = BUNDLE_MAGIC.to_vec();
    out.push(BUNDLE_VERSION);
    out.extend_from_slice(&(bundle.len() as u16).to_be_bytes());
    for (name, ct) in bundle {
        if !is_pii_name(name) {
            return Err(BundleError::Malformed);
        }
        let len = u32::try_from(ct.len()).map_err(|_| BundleError::TooLarge)?;
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(ct);
        if out.len() > MAX_BUNDLE {
            return Err(BundleError::TooLarge);
        }
    }
    Ok(out)
}

/// Decodes a bundle strictly: names as [`is_pii_name`], strictly ascending (so none repeats),
/// at most [`MAX_PII`], no byte after the last entry.
pub fn decode_bundle(bytes: &[u8]) -> Result<Bundle, BundleError> {
    if bytes.len() > MAX_BUNDLE {
        return Err(BundleError::TooLarge);
    }
    let rest = bytes.strip_prefix(BUNDLE_MAGIC.as_slice()).ok_or(BundleError::Malformed)?;
    let [BUNDLE_VERSION, c0, c1, tail @ ..] = rest else { return Err(BundleError::Malformed) };
    let count = usize::from(u16::from_be_bytes([*c0, *c1]));
    let mut rest: &[u8] = tail;
    if count > MAX_PII {
        return Err(BundleError::Malformed);
    }
    let mut out = Bundle::new();
    let mut last: Option<String> = None;
    for _ in 0..count {
        let name_len = usize::from(*take(&mut rest, 1)?.first().ok_or(BundleError::Malformed)?);
        let name =
            std::str::from_utf8(take(&mut rest, name_len)?).map_err(|_| BundleError::Malformed)?.to_owned();
        if !is_pii_name(&name) || last.as_ref().is_some_and(|l| *l >= name) {
            return Err(BundleError::Malformed);
        }
        let len: [u8; 4] = take(&mut rest, 4)?.try_into().map_err(|_| BundleError::Malformed)?;
        let ct = take(&mut rest, u32::from_be_bytes(len) as usize)?.to_vec();
        last = Some(name.clone());
        out.insert(name, ct);
    }
    if !rest.is_empty() {
        return Err(BundleError::Malformed);
    }
    Ok(out)
}

/// The first `n` bytes of `rest`, advancing it.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], BundleError> {
    if rest.len() < n {
        return Err(BundleError::Malformed);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// What survives the digest check.
#[derive(Debug, Default)]
pub struct Checked {
    /// Attribute name → ciphertext whose SHA-256 is the signed digest.
    pub ciphertexts: BTreeMap<String, Vec<u8>>,
    /// Signed attributes whose ciphertext was absent (deleted since sign-in, or not sent).
    pub absent: usize,
    /// Signed attributes whose ciphertext does not match the signed digest (replaced since
    /// sign-in, or swapped by whoever answered): refused, never decrypted.
    pub mismatched: usize,
}

/// Keeps from `bundle` exactly the ciphertexts whose digest is the one signed in `digests`
/// (name → `sha256:…`). Names the assertion does not sign are dropped.
pub fn check_digests(digests: &BTreeMap<String, String>, mut bundle: Bundle) -> Checked {
    let mut out = Checked::default();
    for (name, digest) in digests {
        match bundle.remove(name) {
            None => out.absent += 1,
            // Both are public (the digest is in the assertion); a plain comparison leaks nothing.
            Some(ct) if pii_digest(&ct) == *digest => {
                out.ciphertexts.insert(name.clone(), ct);
            }
            Some(_) => out.mismatched += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn references_round_trip_and_refuse_other_forms() {
        let r = PiiRef { expires: 1_700_000_000, mac: [7; 32] };
        let t = r.to_text();
        assert_eq!(t.len(), REF_TEXT_LEN);
        assert_eq!(PiiRef::parse(&t), Some(r));
        let mut other_version = URL_SAFE_NO_PAD.decode(&t).unwrap();
        other_version[0] = 2;
        for bad in [String::new(), "A".repeat(55), URL_SAFE_NO_PAD.encode(other_version), format!("{t}A")] {
            assert!(PiiRef::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bound_fields_are_unambiguous() {
        assert_ne!(ref_mac_input("ab", "c", "s", "i", 1), ref_mac_input("a", "bc", "s", "i", 1));
        assert_ne!(ref_mac_input("a", "b", "s", "i", 1), ref_mac_input("a", "b", "s", "i", 2));
        assert_ne!(pii_info("ab", "c", "d"), pii_info("a", "bc", "d"));
        assert_ne!(pii_info("a", "s", "i"), crate::seal::tat_info("a", "s"));
    }

    #[test]
    fn bundles_round_trip_strictly() {
        let b: Bundle = [("dob".to_owned(), vec![1, 2]), ("lastname".to_owned(), vec![3; 300])].into();
        let bytes = encode_bundle(&b).unwrap();
        assert_eq!(decode_bundle(&bytes).unwrap(), b);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_bundle(&trailing), Err(BundleError::Malformed));
        assert_eq!(decode_bundle(&bytes[..bytes.len() - 1]), Err(BundleError::Malformed));
        assert_eq!(decode_bundle(b"IDPB"), Err(BundleError::Malformed));
        // Out of order (a repeat is the same case).
        let mut swapped = b"IDPB\x01\x00\x02".to_vec();
        for name in ["lastname", "dob"] {
            swapped.push(name.len() as u8);
            swapped.extend_from_slice(name.as_bytes());
            swapped.extend_from_slice(&0u32.to_be_bytes());
        }
        assert_eq!(decode_bundle(&swapped), Err(BundleError::Malformed));
        let mut bad_name = b"IDPB\x01\x00\x01\x02..".to_vec();
        bad_name.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(decode_bundle(&bad_name), Err(BundleError::Malformed));
        let too_many: Bundle = (0..=MAX_PII).map(|i| (format!("a{i}"), vec![])).collect();
        assert_eq!(encode_bundle(&too_many), Err(BundleError::Malformed));
        let mut count_65 = b"IDPB\x01".to_vec();
        count_65.extend_from_slice(&65u16.to_be_bytes());
        assert_eq!(decode_bundle(&count_65), Err(BundleError::Malformed));
    }

    #[test]
    fn only_ciphertexts_matching_the_signed_digest_survive() {
        let digests: BTreeMap<String, String> = [
            ("a".to_owned(), pii_digest(b"ct-a")),
            ("b".to_owned(), pii_digest(b"ct-b")),
            ("c".to_owned(), pii_digest(b"ct-c")),
        ]
        .into();
        // b and c swapped by whoever answered, a kept, an unsigned d added.
        let bundle: Bundle = [
            ("a".to_owned(), b"ct-a".to_vec()),
            ("b".to_owned(), b"ct-c".to_vec()),
            ("d".to_owned(), b"ct-d".to_vec()),
        ]
        .into();
        let checked = check_digests(&digests, bundle);
        assert_eq!(checked.ciphertexts.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!((checked.absent, checked.mismatched), (1, 1));
    }
}
