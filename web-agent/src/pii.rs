//! The agent's side of `federation::pii`: fetching an assertion's PII ciphertexts from the home
//! IdP (`POST /pbe/pii/fetch`, sealed to this agent's key), and re-sealing them for a partner
//! (identity propagation). The digest check against the signed assertion is
//! `federation::pii::check_digests`, run by [`crate::unlock`] on whatever source the bundle
//! came from.
//!
//! The client is the agent's outbound client (no redirects, connect and whole-request
//! timeouts, [`crate::exchange::http_client`]); the answer is read up to [`MAX_RESPONSE`].

use crate::seal_keys::OpenSeal;
use federation::api::{PiiFetchRequest, PiiFetchResponse};
use federation::pii::{pii_info, MAX_SEALED, MAX_SEALED_TEXT};
use zeroize::Zeroizing;

use crate::error::UnlockError;

/// Largest fetch answer read, bytes: the sealed bundle's text and the JSON around it.
pub const MAX_RESPONSE: usize = MAX_SEALED_TEXT + 4096;

/// What a fetch is bound to (the assertion's fields; the reference's MAC covers them).
#[derive(Debug, Clone, Copy)]
pub struct FetchFor<'a> {
    /// The home IdP's fetch endpoint.
    pub url: &'a str,
    /// The assertion's `idaas:pii-ref`.
    pub pii_ref: &'a str,
    /// The assertion's NameID.
    pub uid: &'a str,
    /// This agent's entity ID.
    pub sp: &'a str,
    /// The assertion's SessionIndex.
    pub session_index: &'a str,
    /// The assertion's ID.
    pub assertion_id: &'a str,
}

/// Fetches the ciphertexts of `names` and opens the seal: the bundle's bytes (decode with
/// `federation::pii::decode_bundle`, then check against the signed digests).
pub async fn fetch<'a>(
    http: &reqwest::Client,
    key: &dyn OpenSeal,
    to: FetchFor<'_>,
    names: impl Iterator<Item = &'a String>,
) -> Result<Zeroizing<Vec<u8>>, UnlockError> {
    let body = PiiFetchRequest {
        pii_ref: to.pii_ref.to_owned(),
        uid: to.uid.to_owned(),
        sp: to.sp.to_owned(),
        session_index: to.session_index.to_owned(),
        assertion_id: to.assertion_id.to_owned(),
        names: names.cloned().collect(),
    };
    let transport = |e: reqwest::Error| UnlockError::PiiFetch(e.without_url().to_string());
    let mut response = http
        .post(to.url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    if !status.is_success() {
        // The problem document is the home IdP's; its status is enough for the log.
        return Err(UnlockError::PiiFetch(format!("HTTP {status}")));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > MAX_RESPONSE {
            return Err(UnlockError::PiiFetch("answer too large".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    let answer: PiiFetchResponse = serde_json::from_slice(&bytes)
        .map_err(|e| UnlockError::PiiFetch(format!("malformed answer: {e}")))?;
    let info = pii_info(to.sp, to.session_index, to.assertion_id);
    key.open_limited(&answer.sealed, &info, MAX_SEALED).map_err(|_| UnlockError::PiiSeal)
}

/// The HPKE `info` of a bundle re-sealed for a partner: `"idaas propagated PII v1"`, then
/// the partner's entity ID, the SessionIndex and the assertion ID, each with a 4-byte
/// big-endian length. Distinct from the home IdP's [`pii_info`], so neither is taken for the
/// other, and bound to the one assertion the call carries.
pub fn propagated_info(partner_entity_id: &str, session_index: &str, assertion_id: &str) -> Vec<u8> {
    let mut info = b"idaas propagated PII v1".to_vec();
    for part in [partner_entity_id, session_index, assertion_id] {
        info.extend_from_slice(&(part.len() as u32).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    info
}

/// Opens a bundle sealed to this agent under `info` (a partner's re-sealed one).
pub fn open(key: &dyn OpenSeal, sealed: &str, info: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnlockError> {
    key.open_limited(sealed, info, MAX_SEALED).map_err(|_| UnlockError::PiiSeal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagated_info_is_distinct_and_unambiguous() {
        assert_ne!(propagated_info("a", "s", "i"), pii_info("a", "s", "i"));
        assert_ne!(propagated_info("ab", "c", "d"), propagated_info("a", "bc", "d"));
        assert_ne!(propagated_info("a", "s", "i"), crate::propagation::tat_info("a", "s", "i"));
    }
}
