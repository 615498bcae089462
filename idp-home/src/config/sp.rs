//! A service provider's registration as written in the configuration or sent to the admin
//! API (`SpConfig`, unknown keys refused), and its mapping to and from the stored
//! [`ServiceProvider`].

use serde::{Deserialize, Serialize};

use crate::model::{AttributeNames, PbeBinding, ServiceProvider};
use federation::assertion::SignedParts;

/// A service provider as written in the configuration (the fields of
/// [`ServiceProvider`], with unknown keys refused).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpConfig {
    /// SAML entity ID.
    pub entity_id: String,
    /// The name people see on the sign-in form and the account page (at most 80
    /// characters); the ACS URL's host when unset.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The purposes the SP is registered for at its visitor IdP (`purpose:current`,
    /// `ppurpose:purchase`, …), shown on the account page; display only.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// ACS URLs; the first is the default.
    pub acs_urls: Vec<String>,
    /// PEM certificate of the AuthnRequest signing key (optional).
    #[serde(default)]
    pub authn_request_cert_pem: Option<String>,
    /// The PBE part (absent for a plain SAML 2.0 service).
    #[serde(default)]
    pub pbe: Option<PbeConfig>,
    /// The plain user attributes released to this SP: any of `groups`, `email`. Default
    /// `["groups"]`; `[]` releases none (only the NameID, and for a PBE SP the ciphertexts).
    #[serde(default = "crate::model::default_release")]
    pub release: Vec<String>,
    /// `"standard"` (default): `groups` as isMemberOf `urn:oid:1.3.6.1.4.1.5923.1.5.1.1` and
    /// `email` as mail `urn:oid:0.9.2342.19200300.100.1.3`, NameFormat uri; `"short"`: the
    /// names `groups` and `email`, NameFormat basic.
    #[serde(default)]
    pub attribute_names: AttributeNames,
    /// `"both"`, `"assertion"` or `"response"`: which parts of the Response are signed.
    /// Default: `"assertion"` for a PBE SP (its agent reads only the signed Assertion and
    /// exchanges it, RFC 7522), `"both"` for the others. A PBE SP needs the Assertion signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignedParts>,
    /// The SP's Single Logout endpoint (`url`, `binding` = `"redirect"` (default) or `"post"`,
    /// optional `response_url`); absent: the SP takes part in no single logout.
    #[serde(default)]
    pub slo: Option<crate::model::SloConfig>,
    /// With `authn_request_cert_pem`: whether AuthnRequests must be signed with it (default
    /// true). `false` for an SP whose certificate is only for single logout.
    #[serde(default = "crate::model::default_true")]
    pub authn_requests_signed: bool,
    /// `"required"`: people see what the SP will be able to read and choose Allow or Deny
    /// before their first sign-in (and when that changes); `"implied"`: signing in is
    /// consent. Default: required for an SP that gets personal data (a PBE service, or
    /// `email` released), implied for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<crate::model::ConsentMode>,
    /// `true`: every sign-in to this SP needs a second factor (TOTP); a user without one is
    /// answered `NoAuthnContext`. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
}

/// [`PbeBinding`] as written in the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PbeConfig {
    /// HPKE public key for sealing the TAT, unpadded base64url, of the kind of the IdP's suite
    /// (X25519 at 128 bits, P-384 at 192, P-521 at 256: `federation::seal::SealSuite`).
    pub tat_public_key: String,
    /// The visitor IdP's SAML entity ID.
    pub visitor_entity_id: String,
    /// The visitor IdP's token endpoint URL.
    pub visitor_token_endpoint: String,
    /// The `domain` attribute value.
    pub domain: String,
    /// The `country` attribute value.
    pub country: String,
}

impl From<SpConfig> for ServiceProvider {
    fn from(c: SpConfig) -> Self {
        ServiceProvider {
            entity_id: c.entity_id,
            display_name: c.display_name,
            purposes: c.purposes,
            acs_urls: c.acs_urls,
            authn_request_cert_pem: c.authn_request_cert_pem,
            release: c.release,
            attribute_names: c.attribute_names,
            sign: c.sign,
            authn_requests_signed: c.authn_requests_signed,
            slo: c.slo,
            consent: c.consent,
            require_mfa: c.require_mfa,
            pbe: c.pbe.map(|p| PbeBinding {
                tat_public_key: p.tat_public_key,
                visitor_entity_id: p.visitor_entity_id,
                visitor_token_endpoint: p.visitor_token_endpoint,
                domain: p.domain,
                country: p.country,
            }),
        }
    }
}

impl From<ServiceProvider> for SpConfig {
    fn from(s: ServiceProvider) -> Self {
        // The effective value, so an operator reading a registration sees what is signed.
        let sign = Some(s.signed_parts());
        SpConfig {
            entity_id: s.entity_id,
            display_name: s.display_name,
            purposes: s.purposes,
            acs_urls: s.acs_urls,
            authn_request_cert_pem: s.authn_request_cert_pem,
            release: s.release,
            attribute_names: s.attribute_names,
            sign,
            authn_requests_signed: s.authn_requests_signed,
            slo: s.slo,
            consent: s.consent,
            require_mfa: s.require_mfa,
            pbe: s.pbe.map(|p| PbeConfig {
                tat_public_key: p.tat_public_key,
                visitor_entity_id: p.visitor_entity_id,
                visitor_token_endpoint: p.visitor_token_endpoint,
                domain: p.domain,
                country: p.country,
            }),
        }
    }
}
