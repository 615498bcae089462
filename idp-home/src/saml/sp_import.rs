//! An SP registration from the SP's SAML metadata (`POST /admin/sps` with an XML body,
//! `idaas home sps import`): [`federation::sp_metadata`] reads the document, this module maps
//! it onto [`SpConfig`], which is then validated like any other registration.
//!
//! The mapping, for an operator who has never seen the code (docs/home-idp.md):
//! - `entityID` → `entity_id`; HTTP-POST `AssertionConsumerService`s → `acs_urls`, the default
//!   first;
//! - the first signing certificate → `authn_request_cert_pem` (it verifies the SP's single
//!   logout messages), and `AuthnRequestsSigned` → `authn_requests_signed` (absent means false,
//!   as the metadata schema says: the SP's AuthnRequests are then accepted unsigned);
//! - `RequestedAttribute`s → `release`: isMemberOf (`urn:oid:1.3.6.1.4.1.5923.1.5.1.1`) or
//!   `groups` releases groups, mail (`urn:oid:0.9.2342.19200300.100.1.3`) or `email` the
//!   address; when the SP asks for the short names, it is registered for them
//!   (`attribute_names = "short"`); no requested attributes means the default (`groups`);
//! - the HTTP-Redirect `SingleLogoutService` (else the HTTP-POST one) → `slo` (`url`,
//!   `binding`, `response_url` from `ResponseLocation`);
//! - Response and Assertion are both signed (`sign = "both"`), whatever `WantAssertionsSigned`
//!   says: both signatures satisfy every SP.
//!
//! A metadata document cannot make an SP a PBE service (its domain and country are the
//! operator's decision): register those with JSON.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::assertion::{ATTR_IS_MEMBER_OF, ATTR_MAIL};
use federation::sp_metadata::{
    read_sp_metadata, SloEndpoint, SpMetadataError, BINDING_POST, BINDING_REDIRECT,
};

use crate::config::SpConfig;
use crate::model::{AttributeNames, SloBinding, SloConfig};

/// The registration the metadata describes.
pub fn sp_config_from_metadata(xml: &str) -> Result<SpConfig, SpMetadataError> {
    let md = read_sp_metadata(xml)?;
    let mut release = Vec::new();
    let mut short = false;
    for name in &md.requested_attributes {
        let (released, is_short) = match name.as_str() {
            ATTR_IS_MEMBER_OF => ("groups", false),
            "groups" => ("groups", true),
            ATTR_MAIL => ("email", false),
            "email" => ("email", true),
            _ => continue,
        };
        short |= is_short;
        if !release.iter().any(|r| r == released) {
            release.push(released.to_owned());
        }
    }
    if md.requested_attributes.is_empty() {
        release = crate::model::default_release();
    }
    Ok(SpConfig {
        entity_id: md.entity_id,
        acs_urls: md.acs_urls,
        authn_request_cert_pem: md.signing_certificates.first().map(|der| certificate_pem(der)),
        pbe: None,
        release,
        attribute_names: if short { AttributeNames::Short } else { AttributeNames::Standard },
        sign: Default::default(),
        authn_requests_signed: md.authn_requests_signed,
        display_name: None,
        purposes: Vec::new(),
        slo: slo_from(&md.single_logout),
        consent: None,
        require_mfa: false,
    })
}

/// The SP's logout endpoint: its HTTP-Redirect `SingleLogoutService` if it has one, else its
/// HTTP-POST one; other bindings (SOAP, Artifact) are not spoken here.
fn slo_from(endpoints: &[SloEndpoint]) -> Option<SloConfig> {
    [(BINDING_REDIRECT, SloBinding::Redirect), (BINDING_POST, SloBinding::Post)].into_iter().find_map(
        |(uri, binding)| {
            endpoints.iter().find(|e| e.binding == uri).map(|e| SloConfig {
                url: e.location.clone(),
                binding,
                response_url: e.response_location.clone(),
            })
        },
    )
}

/// A DER certificate as PEM (64-character lines).
fn certificate_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
