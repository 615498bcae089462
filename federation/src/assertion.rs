//! Building and signing the home IdP's SAML 2.0 Response with ONE Assertion: the Assertion,
//! the Response, or both signed ([`SignedParts`], both by default).
//!
//! The XML is written by [`crate::xml::XmlBuilder`] (every value escaped) with an enveloped
//! XML-DSig template (exclusive C14N, RSA-SHA256, SHA-256 digest) inside the Assertion, then
//! signed by libxmlsec1 through samael. The signed string is sent as produced: never parsed
//! back into a samael struct and re-serialized (DESIGN.md §9).
//!
//! The Assertion carries what RFC 7522 and the web agent need: persistent NameID, two bearer
//! SubjectConfirmations (the SP's ACS URL with InResponseTo, and the visitor IdP's token
//! endpoint), Conditions with NotBefore/NotOnOrAfter and an AudienceRestriction naming the SP
//! and its visitor IdP, an AuthnStatement whose `SessionIndex` is the linchpin session id,
//! and an AttributeStatement with plain attributes and the idaas claims (PII ciphertexts, the
//! sealed TAT, the suite), written by [`crate::claims::Claims`].

use rand_core::{CryptoRng, RngCore};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::xml::{check_chars, XmlBuilder, XmlCharError};

/// SAML 2.0 assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// XML-DSig namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Persistent NameID format.
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// Bearer subject confirmation method.
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// `NameFormat` of attributes named by a URI (the standard names below).
pub const NAME_FORMAT_URI: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
/// `NameFormat` of attributes with a plain name (`groups`, `email`, the idaas claims).
pub const NAME_FORMAT_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
/// `AuthnContextClassRef` of a sign-in with a password over TLS (the default).
pub const AC_PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
/// `AuthnContextClassRef` of a sign-in with a password and a second factor: the REFEDS MFA
/// profile, the class research and education federations ask for.
pub const AC_REFEDS_MFA: &str = "https://refeds.org/profile/mfa";
/// The SAML 2.0 class of two factors, one a device the user holds (an authenticator app):
/// answered when an SP asks for it by name instead of [`AC_REFEDS_MFA`].
pub const AC_MOBILE_TWO_FACTOR: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract";
/// `mail` (RFC 4524, eduPerson/SAML2 Int profile URI form).
pub const ATTR_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
/// `isMemberOf` (group membership, eduMember).
pub const ATTR_IS_MEMBER_OF: &str = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1";

/// One attribute of the AttributeStatement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeValues {
    /// The attribute name.
    pub name: String,
    /// `FriendlyName`, for attributes named by a URI.
    pub friendly_name: Option<String>,
    /// `NameFormat`: [`NAME_FORMAT_BASIC`] or [`NAME_FORMAT_URI`].
    pub name_format: &'static str,
    /// Its values.
    pub values: Vec<String>,
}

impl AttributeValues {
    /// An attribute with a plain name (NameFormat basic).
    pub fn basic(name: impl Into<String>, values: Vec<String>) -> Self {
        AttributeValues { name: name.into(), friendly_name: None, name_format: NAME_FORMAT_BASIC, values }
    }

    /// An attribute named by a URI, with its `FriendlyName` (NameFormat uri).
    pub fn uri(name: &str, friendly_name: &str, values: Vec<String>) -> Self {
        AttributeValues {
            name: name.to_owned(),
            friendly_name: Some(friendly_name.to_owned()),
            name_format: NAME_FORMAT_URI,
            values,
        }
    }
}

/// Which parts of the Response carry a signature (SAML core §5; the profile lets either or
/// both be signed). The default signs both: the most common SP libraries require a signed
/// Response, and RFC 7522 needs a signed Assertion, whose enveloped signature stays valid
/// inside the signed Response (exclusive C14N).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignedParts {
    /// Response and Assertion.
    #[default]
    Both,
    /// Only the Assertion.
    Assertion,
    /// Only the Response (no RFC 7522 exchange is possible: the bare assertion is unsigned).
    Response,
}

impl SignedParts {
    /// Whether the Assertion carries its own signature.
    pub fn signs_assertion(self) -> bool {
        matches!(self, SignedParts::Both | SignedParts::Assertion)
    }

    /// Whether the Response carries a signature.
    pub fn signs_response(self) -> bool {
        matches!(self, SignedParts::Both | SignedParts::Response)
    }
}

/// A recipient of a bearer SubjectConfirmation.
#[derive(Clone, Debug)]
pub struct Recipient {
    /// `Recipient` URL.
    pub url: String,
    /// `InResponseTo`, for the SP's confirmation.
    pub in_response_to: Option<String>,
}

/// Everything that goes into one SSO response.
#[derive(Clone, Debug)]
pub struct ResponseParams {
    /// The IdP's entity ID (Issuer).
    pub issuer: String,
    /// The ACS URL the response is posted to (Destination).
    pub destination: String,
    /// The AuthnRequest ID, if SP-initiated.
    pub in_response_to: Option<String>,
    /// Persistent NameID (the uid).
    pub name_id: String,
    /// Bearer confirmations (SP ACS first, then the visitor token endpoint if any).
    pub recipients: Vec<Recipient>,
    /// Audiences (the SP, and its visitor IdP if any).
    pub audiences: Vec<String>,
    /// Issue time, Unix seconds.
    pub now: i64,
    /// Assertion lifetime (Conditions and SubjectConfirmationData), seconds.
    pub lifetime: i64,
    /// The SAML session id: `SessionIndex` and the linchpin.
    pub session_index: String,
    /// `SessionNotOnOrAfter`, Unix seconds.
    pub session_not_on_or_after: i64,
    /// When the user authenticated, Unix seconds.
    pub authn_instant: i64,
    /// Attributes.
    pub attributes: Vec<AttributeValues>,
    /// Which parts are signed.
    pub signed_parts: SignedParts,
}

/// Why a response could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// A value cannot be written into XML.
    #[error(transparent)]
    Char(#[from] XmlCharError),
    /// A time is out of range.
    #[error("time out of range")]
    Time,
    /// libxmlsec1 refused to sign.
    #[error("XML signing failed: {0}")]
    Signing(String),
}

/// A signed response, ready to post.
#[derive(Clone, Debug)]
pub struct SignedResponse {
    /// The Response XML as produced by the signer.
    pub xml: String,
    /// The Response ID.
    pub response_id: String,
    /// The signed Assertion's ID.
    pub assertion_id: String,
    /// The assertion's `SessionIndex` (what a LogoutRequest names).
    pub session_index: String,
}

/// `_` + 32 hex characters: an NCName with 128 random bits.
pub fn new_id<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    let mut s = String::with_capacity(33);
    s.push('_');
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// xs:dateTime in UTC.
pub fn xml_time(unix: i64) -> Result<String, AssertionError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or(AssertionError::Time)
}

/// Builds the Response and signs its Assertion with `signing_key_der` (RSA, PKCS#8 DER);
/// `cert_base64` (DER, base64) goes into `ds:KeyInfo`.
pub fn build_signed_response<R: RngCore + CryptoRng>(
    p: &ResponseParams,
    signing_key_der: &[u8],
    cert_base64: &str,
    rng: &mut R,
) -> Result<SignedResponse, AssertionError> {
    let response_id = new_id(rng);
    let assertion_id = new_id(rng);
    build_signed_response_with_id(p, response_id, assertion_id, signing_key_der, cert_base64)
}

/// [`build_signed_response`] with the Response and Assertion IDs chosen by the caller (the
/// home IdP binds `idaas:pii-ref` to the assertion ID, so it must know it before signing).
/// Both must be fresh [`new_id`]s.
pub fn build_signed_response_with_id(
    p: &ResponseParams,
    response_id: String,
    assertion_id: String,
    signing_key_der: &[u8],
    cert_base64: &str,
) -> Result<SignedResponse, AssertionError> {
    build_signed_response_in_context(
        p,
        AC_PASSWORD_PROTECTED_TRANSPORT,
        response_id,
        assertion_id,
        signing_key_der,
        cert_base64,
    )
}

/// [`build_signed_response_with_id`] stating `class_ref` as the `AuthnContextClassRef` (how
/// the user authenticated: [`AC_PASSWORD_PROTECTED_TRANSPORT`], [`AC_REFEDS_MFA`], …).
pub fn build_signed_response_in_context(
    p: &ResponseParams,
    class_ref: &str,
    response_id: String,
    assertion_id: String,
    signing_key_der: &[u8],
    cert_base64: &str,
) -> Result<SignedResponse, AssertionError> {
    check_chars("AuthnContextClassRef", class_ref)?;
    check_chars("NameID", &p.name_id)?;
    check_chars("issuer", &p.issuer)?;
    for a in &p.attributes {
        check_chars("attribute name", &a.name)?;
        for v in &a.values {
            check_chars("attribute value", v)?;
        }
    }
    let now = xml_time(p.now)?;
    let sign = |xml: String| -> Result<String, AssertionError> {
        crate::key_cache::sign_xml(&xml, signing_key_der).map_err(|e| AssertionError::Signing(e.to_string()))
    };
    // The Assertion is built and signed on its own first: samael signs the first signature
    // template of a document, and the Response's signature must cover the Assertion's
    // finished signature, so it is computed second, over the embedded signed bytes.
    let mut assertion = write_assertion(p, class_ref, &assertion_id, &now, cert_base64)?;
    if p.signed_parts.signs_assertion() {
        assertion = sign(assertion)?;
    }

    let mut x = XmlBuilder::new();
    let mut resp_attrs: Vec<(&str, &str)> = vec![
        ("xmlns:samlp", NS_PROTOCOL),
        ("xmlns:saml", NS_ASSERTION),
        ("ID", &response_id),
        ("Version", "2.0"),
        ("IssueInstant", &now),
        ("Destination", &p.destination),
    ];
    if let Some(irt) = &p.in_response_to {
        check_chars("InResponseTo", irt)?;
        resp_attrs.push(("InResponseTo", irt));
    }
    x.open("samlp:Response", &resp_attrs);
    x.leaf("saml:Issuer", &[], &p.issuer);
    if p.signed_parts.signs_response() {
        // Schema order: Issuer, Signature, Extensions, Status.
        signature_template(&mut x, &format!("#{response_id}"), cert_base64);
    }
    x.open("samlp:Status", &[])
        .empty("samlp:StatusCode", &[("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")])
        .close();
    x.signed_element(&assertion);
    x.close(); // Response
    let mut xml = x.finish();
    if p.signed_parts.signs_response() {
        xml = sign(xml)?;
    }
    Ok(SignedResponse { xml, response_id, assertion_id, session_index: p.session_index.clone() })
}

/// The Assertion as a document of its own (it declares `xmlns:saml`, so exclusive C14N gives
/// the same bytes inside the Response), with a signature template when it is to be signed.
fn write_assertion(
    p: &ResponseParams,
    class_ref: &str,
    assertion_id: &str,
    now: &str,
    cert_base64: &str,
) -> Result<String, AssertionError> {
    let not_before = xml_time(p.now - 60)?; // a minute of clock skew for the relying party
    let not_on_or_after = xml_time(p.now + p.lifetime)?;
    let session_end = xml_time(p.session_not_on_or_after)?;
    let authn_instant = xml_time(p.authn_instant)?;

    let mut x = XmlBuilder::new();
    x.open(
        "saml:Assertion",
        &[("xmlns:saml", NS_ASSERTION), ("ID", assertion_id), ("Version", "2.0"), ("IssueInstant", now)],
    );
    x.leaf("saml:Issuer", &[], &p.issuer);
    if p.signed_parts.signs_assertion() {
        signature_template(&mut x, &format!("#{assertion_id}"), cert_base64);
    }

    x.open("saml:Subject", &[]);
    x.leaf("saml:NameID", &[("Format", NAMEID_PERSISTENT)], &p.name_id);
    for r in &p.recipients {
        x.open("saml:SubjectConfirmation", &[("Method", CM_BEARER)]);
        let mut attrs: Vec<(&str, &str)> = vec![("NotOnOrAfter", &not_on_or_after), ("Recipient", &r.url)];
        if let Some(irt) = &r.in_response_to {
            check_chars("InResponseTo", irt)?;
            attrs.push(("InResponseTo", irt));
        }
        x.empty("saml:SubjectConfirmationData", &attrs);
        x.close();
    }
    x.close();

    x.open("saml:Conditions", &[("NotBefore", &not_before), ("NotOnOrAfter", &not_on_or_after)]);
    x.open("saml:AudienceRestriction", &[]);
    for a in &p.audiences {
        x.leaf("saml:Audience", &[], a);
    }
    x.close().close();

    x.open(
        "saml:AuthnStatement",
        &[
            ("AuthnInstant", &authn_instant),
            ("SessionIndex", &p.session_index),
            ("SessionNotOnOrAfter", &session_end),
        ],
    );
    x.open("saml:AuthnContext", &[]).leaf("saml:AuthnContextClassRef", &[], class_ref).close();
    x.close();

    if !p.attributes.is_empty() {
        x.open("saml:AttributeStatement", &[]);
        for a in &p.attributes {
            let mut attrs: Vec<(&str, &str)> = vec![("Name", &a.name)];
            if let Some(friendly) = &a.friendly_name {
                attrs.push(("FriendlyName", friendly));
            }
            attrs.push(("NameFormat", a.name_format));
            x.open("saml:Attribute", &attrs);
            for v in &a.values {
                x.leaf("saml:AttributeValue", &[], v);
            }
            x.close();
        }
        x.close();
    }
    x.close(); // Assertion
    Ok(x.finish())
}

/// The enveloped-signature template xmlsec fills in: exclusive C14N, RSA-SHA256, SHA-256.
pub(crate) fn signature_template(x: &mut XmlBuilder, reference: &str, cert_base64: &str) {
    x.open("ds:Signature", &[("xmlns:ds", NS_DSIG)]);
    x.open("ds:SignedInfo", &[]);
    x.empty("ds:CanonicalizationMethod", &[("Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#")]);
    x.empty("ds:SignatureMethod", &[("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")]);
    x.open("ds:Reference", &[("URI", reference)]);
    x.open("ds:Transforms", &[]);
    x.empty("ds:Transform", &[("Algorithm", "http://www.w3.org/2000/09/xmldsig#enveloped-signature")]);
    x.empty("ds:Transform", &[("Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#")]);
    x.close();
    x.empty("ds:DigestMethod", &[("Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256")]);
    x.leaf("ds:DigestValue", &[], "");
    x.close(); // Reference
    x.close(); // SignedInfo
    x.leaf("ds:SignatureValue", &[], "");
    x.open("ds:KeyInfo", &[])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], cert_base64)
        .close()
        .close();
    x.close(); // Signature
}
