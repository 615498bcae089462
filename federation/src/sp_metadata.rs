//! Reading a SAML service provider's metadata (SAML 2.0 metadata §2.4.4, `SPSSODescriptor`):
//! what an IdP needs to register the SP. The document is untrusted input (an operator pastes
//! it or points at a URL): it is checked by the same pre-scan as every other SAML document (no
//! DOCTYPE, size bound) before samael parses it, and samael's panics are contained.
//!
//! Only what idaas can honour is read: assertion consumer services with the HTTP-POST binding
//! (the only binding an IdP answers with here), signing certificates, `AuthnRequestsSigned`,
//! single logout endpoints, and the names of requested attributes. Anything else is ignored.

use std::panic::catch_unwind;

use crate::verify::{passes_prescan, DEFAULT_MAX_XML_BYTES};

/// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST`.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect`.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Most endpoints of one kind read from a document (more is refused, not truncated).
pub const MAX_ENDPOINTS: usize = 16;

/// A single logout endpoint of the SP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SloEndpoint {
    /// Its binding URI.
    pub binding: String,
    /// Where requests go.
    pub location: String,
    /// Where responses go, if not to `location`.
    pub response_location: Option<String>,
}

/// What an SP's metadata says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpMetadata {
    /// `entityID`.
    pub entity_id: String,
    /// HTTP-POST assertion consumer services, the default first (`isDefault`, else the lowest
    /// `index`, else document order).
    pub acs_urls: Vec<String>,
    /// Certificates (DER) of `KeyDescriptor`s for signing or without a `use`.
    pub signing_certificates: Vec<Vec<u8>>,
    /// `AuthnRequestsSigned="true"`.
    pub authn_requests_signed: bool,
    /// Single logout endpoints.
    pub single_logout: Vec<SloEndpoint>,
    /// `Name`s of the attributes the SP requests (every `AttributeConsumingService`).
    pub requested_attributes: Vec<String>,
}

/// Why SP metadata is unusable; the message names what is missing or wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("SP metadata: {0}")]
pub struct SpMetadataError(pub &'static str);

/// Reads SP metadata: an `md:EntityDescriptor` with one `SPSSODescriptor`.
pub fn read_sp_metadata(xml: &str) -> Result<SpMetadata, SpMetadataError> {
    if !passes_prescan(xml, DEFAULT_MAX_XML_BYTES) {
        return Err(SpMetadataError("not well-formed XML without DOCTYPE, or larger than 512 KiB"));
    }
    let parsed = catch_unwind(|| xml.parse::<samael::metadata::EntityDescriptor>())
        .map_err(|_| SpMetadataError("unparsable"))?
        .map_err(|_| SpMetadataError("not an md:EntityDescriptor"))?;
    let entity_id =
        parsed.entity_id.clone().filter(|e| !e.trim().is_empty()).ok_or(SpMetadataError("no entityID"))?;
    let sp = match parsed.sp_sso_descriptors.as_deref() {
        Some([one]) => one,
        Some([]) | None => return Err(SpMetadataError("no SPSSODescriptor")),
        Some(_) => return Err(SpMetadataError("more than one SPSSODescriptor")),
    };
    if sp.assertion_consumer_services.len() > MAX_ENDPOINTS {
        return Err(SpMetadataError("more than 16 AssertionConsumerService elements"));
    }
    let mut acs: Vec<_> =
        sp.assertion_consumer_services.iter().filter(|e| e.binding == BINDING_POST).collect();
    if acs.is_empty() {
        return Err(SpMetadataError("no AssertionConsumerService with the HTTP-POST binding"));
    }
    // Stable: equal keys keep document order.
    acs.sort_by_key(|e| (e.is_default != Some(true), e.index));
    let acs_urls = acs.iter().map(|e| e.location.clone()).collect();

    let mut signing_certificates = Vec::new();
    for d in sp.key_descriptors.iter().flatten() {
        if !matches!(d.key_use.as_deref(), None | Some("") | Some("signing")) {
            continue;
        }
        for c in d.key_info.x509_data.iter().flat_map(|x| x.certificates.iter()) {
            let der = samael::crypto::decode_x509_cert(c)
                .map_err(|_| SpMetadataError("a signing certificate is not base64"))?;
            signing_certificates.push(der.der_data().to_vec());
        }
    }
    let authn_requests_signed = sp.authn_requests_signed == Some(true);
    if authn_requests_signed && signing_certificates.is_empty() {
        return Err(SpMetadataError("AuthnRequestsSigned is true but there is no signing certificate"));
    }
    let slo = sp.single_logout_services.as_deref().unwrap_or_default();
    if slo.len() > MAX_ENDPOINTS {
        return Err(SpMetadataError("more than 16 SingleLogoutService elements"));
    }
    let single_logout = slo
        .iter()
        .map(|e| SloEndpoint {
            binding: e.binding.clone(),
            location: e.location.clone(),
            response_location: e.response_location.clone(),
        })
        .collect();
    let mut requested_attributes: Vec<String> = sp
        .attribute_consuming_services
        .iter()
        .flatten()
        .flat_map(|s| s.request_attributes.iter().map(|a| a.name.clone()))
        .collect();
    requested_attributes.dedup();
    Ok(SpMetadata {
        entity_id,
        acs_urls,
        signing_certificates,
        authn_requests_signed,
        single_logout,
        requested_attributes,
    })
}
