//! Inbound AuthnRequests: decoding both bindings with hard limits, and deciding which ACS URL
//! to answer — always one from the SP's registration, never one taken on trust from the
//! request (DESIGN.md §9: samael's AuthnRequest verification can be wrapped).

use federation::binding::BindingError;
use samael::crypto::{AllowedSignatureAlgorithm, ReduceMode};
use samael::schema::AuthnRequest;

use crate::model::ServiceProvider;

pub use federation::binding::{MAX_ENCODED, MAX_XML};

/// Why an AuthnRequest was refused. Every variant becomes an error page, never a redirect.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// No SAMLRequest parameter.
    #[error("the request carries no SAMLRequest")]
    Missing,
    /// Larger than the limits above.
    #[error("the SAMLRequest is too large")]
    TooLarge,
    /// Not base64.
    #[error("the SAMLRequest is not valid base64")]
    Base64,
    /// Not raw DEFLATE (Redirect binding).
    #[error("the SAMLRequest is not valid DEFLATE data")]
    Deflate,
    /// Not UTF-8 XML, contains a DOCTYPE, or not an AuthnRequest.
    #[error("the SAMLRequest is not a well-formed AuthnRequest: {0}")]
    Xml(&'static str),
    /// The issuer is not a registered service provider.
    #[error("the service provider is not registered with this identity provider")]
    UnknownSp,
    /// The requested ACS URL is not one of the SP's registered ones.
    #[error("the requested AssertionConsumerServiceURL is not registered for this service provider")]
    WrongAcs,
    /// The SP signs its requests and this one is unsigned or wrongly signed.
    #[error("the AuthnRequest signature is missing or invalid")]
    BadSignature,
}

pub use federation::binding::Binding;

/// An AuthnRequest that passed every check.
#[derive(Debug, Clone)]
pub struct AcceptedRequest {
    /// The request ID (our response's InResponseTo).
    pub id: String,
    /// The SP's entity ID.
    pub sp_entity_id: String,
    /// The ACS URL to answer: a registered one.
    pub acs_url: String,
    /// Its position in the SP's registered `acs_urls`.
    pub acs_index: usize,
    /// What the request asks of the sign-in itself.
    pub flags: AuthnFlags,
}

/// The AuthnRequest attributes that change how the IdP signs the user in (SAML 2.0 core
/// §3.4.1). Read from the verified request; a pending sign-in restored from its cookie has
/// the defaults (the form it shows already honours `ForceAuthn`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthnFlags {
    /// `RequestedAuthnContext`: which sign-ins are accepted and the class each states (kept
    /// in the pending sign-in's cookie, unlike the other flags).
    pub requested: super::authn_context::RequestedContext,
    /// `ForceAuthn="true"`: ask for the password even with a live IdP session.
    pub force_authn: bool,
    /// `IsPassive="true"`: never show a form; without a usable session answer `NoPassive`.
    pub is_passive: bool,
    /// `NameIDPolicy/@Format` names a format other than persistent or unspecified: answered
    /// with `InvalidNameIDPolicy`. (`AllowCreate` needs nothing: identifiers are derived from
    /// the account, never created at sign-in.)
    pub unsupported_name_id_format: bool,
}

/// The NameID formats this IdP issues: persistent (the account's uid), and unspecified, which
/// leaves the choice to the IdP (then persistent).
pub const NAME_ID_FORMATS: [&str; 2] =
    [federation::assertion::NAMEID_PERSISTENT, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"];

impl From<BindingError> for RequestError {
    fn from(e: BindingError) -> Self {
        match e {
            BindingError::Missing => RequestError::Missing,
            BindingError::TooLarge => RequestError::TooLarge,
            BindingError::Base64 => RequestError::Base64,
            BindingError::Deflate => RequestError::Deflate,
            BindingError::Xml(why) => RequestError::Xml(why),
            _ => RequestError::BadSignature,
        }
    }
}

/// Decodes the SAMLRequest of either binding into XML text ([`federation::binding::decode`]:
/// size and DEFLATE limits, UTF-8 only, no DOCTYPE).
pub fn decode(encoded: &str, binding: Binding) -> Result<String, RequestError> {
    Ok(federation::binding::decode(encoded, binding)?)
}

/// Parses, authenticates (when the SP signs its requests) and resolves the ACS URL.
///
/// `lookup` finds a registered SP by entity ID. `raw_query` is the percent-encoded query of a
/// Redirect-binding request (its signature covers the encoded parameters).
pub fn accept(
    xml: &str,
    binding: Binding,
    raw_query: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<ServiceProvider>,
) -> Result<AcceptedRequest, RequestError> {
    let unverified: AuthnRequest = xml.parse().map_err(|_| RequestError::Xml("not an AuthnRequest"))?;
    let issuer = unverified
        .issuer
        .as_ref()
        .and_then(|i| i.value.as_deref())
        .map(str::trim)
        .ok_or(RequestError::Xml("the AuthnRequest has no Issuer"))?;
    let sp = lookup(issuer).ok_or(RequestError::UnknownSp)?;

    // When the SP registered a signing certificate, only a verified request counts, and for
    // the POST binding we continue with the signed element itself (never the unsigned root).
    let required = sp.authn_request_cert_pem.as_deref().filter(|_| sp.authn_requests_signed);
    let request = match required {
        None => unverified,
        Some(pem) => match binding {
            Binding::Redirect => {
                let query = raw_query.ok_or(RequestError::BadSignature)?;
                verify_redirect_signature(pem, query)?;
                unverified
            }
            Binding::Post => {
                let der = crate::keys::pem_to_der(pem).ok_or(RequestError::BadSignature)?;
                let signed = guarded(|| {
                    federation::verify::reduce_to_signed(
                        xml,
                        &[der.as_slice()],
                        ReduceMode::PreDigest,
                        Some(&[AllowedSignatureAlgorithm::RsaSha256, AllowedSignatureAlgorithm::EcdsaSha256]),
                    )
                    .ok()
                })
                .flatten()
                .ok_or(RequestError::BadSignature)?;
                signed.parse().map_err(|_| RequestError::BadSignature)?
            }
        },
    };
    let signed_issuer = request.issuer.as_ref().and_then(|i| i.value.as_deref()).map(str::trim);
    if signed_issuer != Some(sp.entity_id.as_str()) {
        return Err(RequestError::UnknownSp);
    }
    let acs_index = match request.assertion_consumer_service_url.as_deref() {
        Some(url) => sp.acs_urls.iter().position(|u| u.as_str() == url).ok_or(RequestError::WrongAcs)?,
        None => request.assertion_consumer_service_index.unwrap_or(0),
    };
    let acs_url = sp.acs_urls.get(acs_index).cloned().ok_or(RequestError::WrongAcs)?;
    if request.id.is_empty()
        || request.id.len() > 256
        || federation::xml::check_chars("ID", &request.id).is_err()
    {
        return Err(RequestError::Xml("bad request ID"));
    }
    let flags = AuthnFlags {
        requested: super::authn_context::RequestedContext::from_request(
            request.requested_authn_context.as_ref(),
        ),
        force_authn: request.force_authn.unwrap_or(false),
        is_passive: request.is_passive.unwrap_or(false),
        unsupported_name_id_format: request
            .name_id_policy
            .as_ref()
            .and_then(|p| p.format.as_deref())
            .is_some_and(|f| !NAME_ID_FORMATS.contains(&f.trim())),
    };
    Ok(AcceptedRequest { id: request.id, sp_entity_id: sp.entity_id, acs_url, acs_index, flags })
}

/// The query signature over the raw bytes received (SAML bindings §3.4.4.1), with the SP's
/// certificate.
fn verify_redirect_signature(cert_pem: &str, raw_query: &str) -> Result<(), RequestError> {
    let der = crate::keys::pem_to_der(cert_pem).ok_or(RequestError::BadSignature)?;
    federation::binding::verify_redirect_query(raw_query, &[der]).map_err(|_| RequestError::BadSignature)
}

/// Runs library code that may `panic!` on hostile input (samael 0.0.22 does), turning a
/// panic into `None` so one request never takes a worker down.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use std::io::Write;

    fn deflate(xml: &str) -> String {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(xml.as_bytes()).unwrap();
        STANDARD.encode(e.finish().unwrap())
    }

    fn sp() -> ServiceProvider {
        ServiceProvider {
            entity_id: "https://shop.example".into(),
            acs_urls: vec!["https://shop.example/saml/acs".into(), "https://shop.example/acs2".into()],
            authn_request_cert_pem: None,
            pbe: None,
            release: crate::model::default_release(),
            attribute_names: Default::default(),
            sign: Default::default(),
            authn_requests_signed: true,
            display_name: None,
            purposes: Vec::new(),
            slo: None,
            consent: None,
            require_mfa: false,
        }
    }

    fn req(issuer: &str, acs: Option<&str>) -> String {
        let acs = acs.map(|a| format!(r#" AssertionConsumerServiceURL="{a}""#)).unwrap_or_default();
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-11-23T10:00:00Z"{acs}><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"#
        )
    }

    fn lookup(id: &str) -> Option<ServiceProvider> {
        (id == "https://shop.example").then(sp)
    }

    #[test]
    fn accepts_both_bindings_and_uses_registered_acs() {
        let xml = decode(&deflate(&req("https://shop.example", None)), Binding::Redirect).unwrap();
        let a = accept(&xml, Binding::Redirect, None, &lookup).unwrap();
        assert_eq!(a.acs_url, "https://shop.example/saml/acs");
        assert_eq!(a.id, "_r1");
        let xml = decode(
            &STANDARD.encode(req("https://shop.example", Some("https://shop.example/acs2"))),
            Binding::Post,
        )
        .unwrap();
        assert_eq!(accept(&xml, Binding::Post, None, &lookup).unwrap().acs_url, "https://shop.example/acs2");
    }

    #[test]
    fn rejects_unknown_sp_and_unregistered_acs() {
        let xml = req("https://evil.example", None);
        assert_eq!(accept(&xml, Binding::Post, None, &lookup).unwrap_err(), RequestError::UnknownSp);
        let xml = req("https://shop.example", Some("https://evil.example/acs"));
        assert_eq!(accept(&xml, Binding::Post, None, &lookup).unwrap_err(), RequestError::WrongAcs);
    }

    #[test]
    fn rejects_malformed_and_hostile_encodings() {
        assert_eq!(decode("%%%", Binding::Post).unwrap_err(), RequestError::Base64);
        assert_eq!(
            decode(&STANDARD.encode(b"not deflate at all"), Binding::Redirect).unwrap_err(),
            RequestError::Deflate
        );
        assert_eq!(decode(&"A".repeat(MAX_ENCODED + 4), Binding::Post).unwrap_err(), RequestError::TooLarge);
        // A DEFLATE bomb: 10 MB of zeros compresses to a few KB.
        let bomb = deflate(&"0".repeat(10 << 20));
        assert!(bomb.len() < MAX_ENCODED);
        assert_eq!(decode(&bomb, Binding::Redirect).unwrap_err(), RequestError::TooLarge);
        let doctype = format!("<!DOCTYPE x [<!ENTITY a 'b'>]>{}", req("https://shop.example", None));
        assert!(matches!(decode(&STANDARD.encode(doctype), Binding::Post), Err(RequestError::Xml(_))));
        assert!(matches!(accept("<x/>", Binding::Post, None, &lookup), Err(RequestError::Xml(_))));
        assert!(matches!(accept("", Binding::Post, None, &lookup), Err(RequestError::Xml(_))));
    }

    /// Issue 14, item 9: a UTF-7 declaration hides `<!DOCTYPE` from a byte filter; UTF-16 and
    /// other encodings are refused as well, in both bindings, before any other check.
    #[test]
    fn only_utf8_authn_requests_are_decoded() {
        let body = req("https://shop.example", None);
        let utf7 = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY a SYSTEM +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-{body}"
        );
        let latin1 = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{body}");
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain(body.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        for xml in [utf7.as_bytes(), latin1.as_bytes(), utf16.as_slice()] {
            let post = decode(&STANDARD.encode(xml), Binding::Post);
            assert!(matches!(post, Err(RequestError::Xml(_))), "{post:?}");
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(xml).unwrap();
            let redirect = decode(&STANDARD.encode(e.finish().unwrap()), Binding::Redirect);
            assert!(matches!(redirect, Err(RequestError::Xml(_))), "{redirect:?}");
        }
        let utf8 = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{body}");
        assert!(decode(&STANDARD.encode(&utf8), Binding::Post).is_ok());
    }

    #[test]
    fn signed_sps_need_a_signature() {
        let signed_sp = |id: &str| {
            (id == "https://shop.example").then(|| ServiceProvider {
                authn_request_cert_pem: Some(
                    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                ),
                ..sp()
            })
        };
        let xml = req("https://shop.example", None);
        assert_eq!(accept(&xml, Binding::Post, None, &signed_sp).unwrap_err(), RequestError::BadSignature);
        assert_eq!(
            accept(&xml, Binding::Redirect, Some("SAMLRequest=x"), &signed_sp).unwrap_err(),
            RequestError::BadSignature
        );
        assert_eq!(
            accept(&xml, Binding::Redirect, Some("SAMLRequest=x&SigAlg=y&Signature=z"), &signed_sp)
                .unwrap_err(),
            RequestError::BadSignature
        );
        // A certificate registered for single logout only (`authn_requests_signed = false`):
        // unsigned AuthnRequests are accepted, with the registered ACS URL.
        let slo_only =
            |id: &str| signed_sp(id).map(|sp| ServiceProvider { authn_requests_signed: false, ..sp });
        let accepted = accept(&xml, Binding::Post, None, &slo_only).unwrap();
        assert_eq!(accepted.acs_url, "https://shop.example/saml/acs");
        assert!(accept(&xml, Binding::Redirect, Some("SAMLRequest=x"), &slo_only).is_ok());
    }
}
