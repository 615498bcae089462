//! The identity providers whose assertions are accepted, and reading their signing
//! certificates from SAML metadata.

use std::collections::BTreeMap;
use std::panic::catch_unwind;

use samael::crypto::CertificateDer;

use super::prescan::prescan;
use super::{TrustError, DEFAULT_MAX_XML_BYTES};

/// Most certificates accepted for one trusted IdP (key rollover needs two or three).
pub const MAX_CERTS_PER_IDP: usize = 8;
/// Longest entity ID accepted.
pub const MAX_ENTITY_ID_LEN: usize = 1024;

/// The identity providers whose assertions are accepted: entity ID → signing certificates.
#[derive(Clone, Default)]
pub struct TrustStore {
    idps: BTreeMap<String, Vec<CertificateDer>>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.idps.iter().map(|(k, v)| (k, v.len()))).finish()
    }
}

fn valid_entity_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ENTITY_ID_LEN
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl TrustStore {
    /// An empty store (trusts nobody).
    pub fn new() -> Self {
        TrustStore::default()
    }

    /// Trusts `entity_id` with these DER certificates (replacing earlier ones). Each
    /// certificate is loaded by libxmlsec1 once here, so a bad one fails now, not per request.
    pub fn insert(&mut self, entity_id: &str, certs_der: Vec<Vec<u8>>) -> Result<(), TrustError> {
        if !valid_entity_id(entity_id) {
            return Err(TrustError::InvalidEntityId);
        }
        if certs_der.is_empty() || certs_der.iter().any(Vec::is_empty) {
            return Err(TrustError::NoCertificate);
        }
        if certs_der.len() > MAX_CERTS_PER_IDP {
            return Err(TrustError::TooManyCertificates);
        }
        for der in &certs_der {
            if !certificate_loads(der) {
                return Err(TrustError::InvalidCertificate);
            }
        }
        self.idps.insert(entity_id.to_owned(), certs_der.into_iter().map(CertificateDer::from).collect());
        Ok(())
    }

    /// Trusts the IdP described by SAML metadata (`md:EntityDescriptor` with an
    /// `md:IDPSSODescriptor`), using its signing certificates (`KeyDescriptor use="signing"`, or
    /// without `use`). If `expected_entity_id` is given the metadata must be for it. Returns the
    /// entity ID.
    pub fn insert_metadata(
        &mut self,
        metadata_xml: &str,
        expected_entity_id: Option<&str>,
    ) -> Result<String, TrustError> {
        let (entity_id, certs) = idp_metadata_certificates(metadata_xml)?;
        if expected_entity_id.is_some_and(|e| e != entity_id) {
            return Err(TrustError::EntityIdMismatch);
        }
        self.insert(&entity_id, certs)?;
        Ok(entity_id)
    }

    /// Whether `entity_id` is trusted.
    pub fn contains(&self, entity_id: &str) -> bool {
        self.idps.contains_key(entity_id)
    }

    /// The trusted entity IDs, sorted.
    pub fn entity_ids(&self) -> impl Iterator<Item = &str> {
        self.idps.keys().map(String::as_str)
    }

    /// The DER certificates trusted for `entity_id` (empty when it is not trusted).
    pub fn certificates_der(&self, entity_id: &str) -> Vec<Vec<u8>> {
        self.certificates(entity_id).unwrap_or_default().iter().map(|c| c.der_data().to_vec()).collect()
    }

    pub(super) fn certificates(&self, entity_id: &str) -> Option<&[CertificateDer]> {
        self.idps.get(entity_id).map(Vec::as_slice).filter(|c| !c.is_empty())
    }
}

fn certificate_loads(der: &[u8]) -> bool {
    // Decoded as the verifiers decode it (and so kept for them, `crate::key_cache`): a
    // certificate xmlsec cannot load fails here, once, rather than at every request.
    matches!(catch_unwind(|| crate::key_cache::verification_key(der).is_ok()), Ok(true))
}

/// Reads the entity ID and signing certificates (DER) of an IdP from SAML metadata.
pub fn idp_metadata_certificates(metadata_xml: &str) -> Result<(String, Vec<Vec<u8>>), TrustError> {
    let bad = TrustError::InvalidMetadata;
    prescan(metadata_xml, DEFAULT_MAX_XML_BYTES).map_err(|_| bad("not well-formed XML without DOCTYPE"))?;
    let parsed = catch_unwind(|| metadata_xml.parse::<samael::metadata::EntityDescriptor>())
        .map_err(|_| bad("unparsable"))?
        .map_err(|_| bad("not an md:EntityDescriptor"))?;
    let entity_id =
        parsed.entity_id.clone().filter(|e| valid_entity_id(e)).ok_or(bad("no valid entityID"))?;
    let idp = parsed.idp_sso_descriptors.as_deref().unwrap_or_default();
    if idp.is_empty() {
        return Err(bad("no IDPSSODescriptor"));
    }
    let mut certs = Vec::new();
    for signing_only in [true, false] {
        for d in idp.iter().flat_map(|d| d.key_descriptors.iter()) {
            let usable = match d.key_use.as_deref() {
                Some("signing") => signing_only,
                None | Some("") => !signing_only,
                _ => false,
            };
            if !usable {
                continue;
            }
            for c in d.key_info.x509_data.iter().flat_map(|x| x.certificates.iter()) {
                let der =
                    samael::crypto::decode_x509_cert(c).map_err(|_| bad("a certificate is not base64"))?;
                certs.push(der.der_data().to_vec());
            }
        }
        if !certs.is_empty() {
            break;
        }
    }
    if certs.is_empty() {
        return Err(TrustError::NoCertificate);
    }
    Ok((entity_id, certs))
}
