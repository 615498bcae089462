//! Reading a SAML service provider's metadata (SAML 2.0 metadata §2.4.4, `SPSSODescriptor`):
//! what an IdP needs to register the SP. The document is untrusted input (an operator pastes
//! it or points at a URL): it is checked by the same pre-scan as every other SAML document (no
//! DOCTYPE, size bound, UTF-8), then read by one namespace-aware pass that keeps only bounded
//! lists.
//!
//! Only what idaas can honour is read: assertion consumer services with the HTTP-POST binding
//! (the only binding an IdP answers with here), signing certificates, `AuthnRequestsSigned`,
//! single logout endpoints, and the names of requested attributes. Anything else is ignored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

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

/// Metadata namespace.
const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML-DSig namespace.
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Longest certificate read (base64 text), bytes.
const MAX_CERT_TEXT: usize = 16 * 1024;

/// Reads SP metadata: an `md:EntityDescriptor` with one `SPSSODescriptor`.
///
/// A namespace-aware pass of its own rather than samael's typed parser: real SP libraries
/// write prefixes of their own (`ns0:`), empty `ServiceName`s and extensions samael's
/// parser refuses, and only the few elements above matter here.
pub fn read_sp_metadata(xml: &str) -> Result<SpMetadata, SpMetadataError> {
    if !passes_prescan(xml, DEFAULT_MAX_XML_BYTES) {
        return Err(SpMetadataError("not well-formed XML without DOCTYPE, or larger than 512 KiB"));
    }
    let bad = |_| SpMetadataError("not well-formed XML");
    let mut reader = NsReader::from_str(xml);
    // The (namespace, local name) of every open element, outermost first.
    let mut path: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut entity_id = None;
    let mut descriptors = 0usize;
    let mut authn_requests_signed = false;
    let mut acs: Vec<(bool, usize, usize, String)> = Vec::new(); // (not default, index, order, url)
    let mut single_logout = Vec::new();
    let mut requested_attributes: Vec<String> = Vec::new();
    let mut signing_certificates = Vec::new();
    let mut key_usable = false;
    let mut cert_text: Option<String> = None;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(bad)?;
        let in_md = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == NS_MD.as_bytes());
        let in_dsig = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == NS_DSIG.as_bytes());
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_vec();
                let attr = |name: &str| attribute(e, name);
                let parent_is = |l: &[u8]| path.last().is_some_and(|(md, p)| *md && p == l);
                match (path.len(), in_md, local.as_slice()) {
                    (0, true, b"EntityDescriptor") => entity_id = attr("entityID")?,
                    (0, true, b"EntitiesDescriptor") => {
                        return Err(SpMetadataError("an EntitiesDescriptor: import one EntityDescriptor"))
                    }
                    (0, _, _) => return Err(SpMetadataError("not an md:EntityDescriptor")),
                    (1, true, b"SPSSODescriptor") => {
                        descriptors += 1;
                        authn_requests_signed = attr("AuthnRequestsSigned")?
                            .is_some_and(|v| v.trim() == "true" || v.trim() == "1");
                    }
                    (2, true, b"AssertionConsumerService") if parent_is(b"SPSSODescriptor") => {
                        if acs.len() >= MAX_ENDPOINTS {
                            return Err(SpMetadataError("more than 16 AssertionConsumerService elements"));
                        }
                        let location = attr("Location")?
                            .ok_or(SpMetadataError("an AssertionConsumerService without Location"))?;
                        if attr("Binding")?.as_deref() == Some(BINDING_POST) {
                            let index =
                                attr("index")?.and_then(|i| i.trim().parse().ok()).unwrap_or(usize::MAX);
                            let default =
                                attr("isDefault")?.is_some_and(|v| v.trim() == "true" || v.trim() == "1");
                            acs.push((!default, index, acs.len(), location));
                        }
                    }
                    (2, true, b"SingleLogoutService") if parent_is(b"SPSSODescriptor") => {
                        if single_logout.len() >= MAX_ENDPOINTS {
                            return Err(SpMetadataError("more than 16 SingleLogoutService elements"));
                        }
                        single_logout.push(SloEndpoint {
                            binding: attr("Binding")?
                                .ok_or(SpMetadataError("a SingleLogoutService without Binding"))?,
                            location: attr("Location")?
                                .ok_or(SpMetadataError("a SingleLogoutService without Location"))?,
                            response_location: attr("ResponseLocation")?,
                        });
                    }
                    (2, true, b"KeyDescriptor") if parent_is(b"SPSSODescriptor") => {
                        key_usable = matches!(
                            attr("use")?.as_deref().map(str::trim),
                            None | Some("") | Some("signing")
                        );
                    }
                    (3, true, b"RequestedAttribute") if parent_is(b"AttributeConsumingService") => {
                        if requested_attributes.len() >= 64 {
                            return Err(SpMetadataError("more than 64 RequestedAttribute elements"));
                        }
                        let name =
                            attr("Name")?.ok_or(SpMetadataError("a RequestedAttribute without Name"))?;
                        if !requested_attributes.contains(&name) {
                            requested_attributes.push(name);
                        }
                    }
                    (5, _, b"X509Certificate")
                        if in_dsig
                            && key_usable
                            && path.get(2).is_some_and(|(md, l)| *md && l == b"KeyDescriptor")
                            && matches!(event, Event::Start(_)) =>
                    {
                        cert_text = Some(String::new());
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    path.push((in_md, local));
                }
            }
            Event::Text(t) => {
                if let Some(c) = cert_text.as_mut() {
                    c.push_str(&t.unescape().map_err(bad)?);
                    if c.len() > MAX_CERT_TEXT {
                        return Err(SpMetadataError("a certificate larger than 16 KiB"));
                    }
                }
            }
            Event::End(_) => {
                if let Some(c) = cert_text.take() {
                    let b64: String = c.chars().filter(|ch| !ch.is_ascii_whitespace()).collect();
                    let der = STANDARD
                        .decode(b64)
                        .map_err(|_| SpMetadataError("a signing certificate is not base64"))?;
                    if signing_certificates.len() < MAX_ENDPOINTS {
                        signing_certificates.push(der);
                    }
                }
                if path.pop().is_some_and(|(md, l)| md && l == b"KeyDescriptor") {
                    key_usable = false;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let entity_id = entity_id.filter(|e| !e.trim().is_empty()).ok_or(SpMetadataError("no entityID"))?;
    match descriptors {
        0 => return Err(SpMetadataError("no SPSSODescriptor")),
        1 => {}
        _ => return Err(SpMetadataError("more than one SPSSODescriptor")),
    }
    if acs.is_empty() {
        return Err(SpMetadataError("no AssertionConsumerService with the HTTP-POST binding"));
    }
    acs.sort();
    if authn_requests_signed && signing_certificates.is_empty() {
        return Err(SpMetadataError("AuthnRequestsSigned is true but there is no signing certificate"));
    }
    Ok(SpMetadata {
        entity_id: entity_id.trim().to_owned(),
        acs_urls: acs.into_iter().map(|(_, _, _, url)| url).collect(),
        signing_certificates,
        authn_requests_signed,
        single_logout,
        requested_attributes,
    })
}

/// The unescaped value of the unqualified attribute `name`.
fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, SpMetadataError> {
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|_| SpMetadataError("a malformed attribute"))?;
        if a.key.as_ref() == name.as_bytes() {
            let v = a.unescape_value().map_err(|_| SpMetadataError("a malformed attribute value"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}
