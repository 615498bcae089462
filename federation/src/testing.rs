//! Test support (feature `test-support`; never enable it in a service build): a throw-away
//! XML-signing identity, assertions signed by an **independent** producer — the `xmlsec1`
//! command-line tool — and cutting the bare assertion out of a signed response. Used by the
//! tests of `federation`, `idp-visitor` and `web-agent`, so each checks its verifier against
//! the same hostile and foreign-made inputs.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test helpers fail loudly

use std::process::Command;

use rand_core::SeedableRng as _;
use rsa::pkcs8::EncodePrivateKey as _;

use crate::assertion::xml_time;

/// An RSA-2048 signing key with a self-signed certificate, derived from a seed.
pub struct TestSigner {
    /// PKCS#8 DER of the key (what `build_signed_response` takes).
    pub key_der: Vec<u8>,
    /// PKCS#8 PEM of the key (what `xmlsec1` takes).
    pub key_pem: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER (what a `TrustStore` takes).
    pub cert_der: Vec<u8>,
}

impl TestSigner {
    /// A signer derived from `seed` (the same seed gives the same key).
    pub fn new(seed: u64) -> TestSigner {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        let key_der = key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec();
        let key_pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("PKCS#8 PEM").to_string();
        let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
            .expect("key pair");
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .expect("params")
            .self_signed(&kp)
            .expect("self-signed certificate");
        TestSigner { key_der, key_pem, cert_pem: cert.pem(), cert_der: cert.der().to_vec() }
    }

    /// The certificate as base64 DER (for `ds:X509Certificate`).
    pub fn cert_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }
}

/// RSA-SHA256, the signature method everyone must accept.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// RSA-SHA1, which must be refused.
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
/// SHA-256 digest.
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// SHA-1 digest, which must be refused.
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// An assertion template for [`xmlsec1_sign`]: one bearer confirmation, one audience, an
/// AuthnStatement and a `groups` attribute. Times are relative to `now` (Unix seconds):
/// issued at `now`, valid `[now − 60, now + 300)`, session until `now + 3600`.
#[derive(Clone, Debug)]
pub struct Template {
    /// `ID` (an NCName).
    pub id: String,
    /// `Issuer`.
    pub issuer: String,
    /// `NameID` (inserted as is: XML-escape it yourself if needed).
    pub name_id: String,
    /// The bearer confirmation's `Recipient`.
    pub recipient: String,
    /// The one `Audience`.
    pub audience: String,
    /// `IssueInstant`, Unix seconds.
    pub now: i64,
    /// `SessionIndex`.
    pub session_index: String,
    /// `SignatureMethod` algorithm.
    pub signature_method: &'static str,
    /// `DigestMethod` algorithm.
    pub digest_method: &'static str,
}

impl Template {
    /// The unsigned XML with an empty enveloped-signature template (exclusive C14N).
    pub fn to_xml(&self) -> String {
        let t = |d: i64| xml_time(self.now + d).expect("time in range");
        let Template {
            id,
            issuer,
            name_id,
            recipient,
            audience,
            session_index,
            signature_method,
            digest_method,
            ..
        } = self;
        format!(
            r##"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{i}">
  <saml:Issuer>{issuer}</saml:Issuer>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="{signature_method}"/>
      <ds:Reference URI="#{id}">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="{digest_method}"/>
        <ds:DigestValue></ds:DigestValue>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue></ds:SignatureValue>
    <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
  </ds:Signature>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID>
    <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData NotOnOrAfter="{exp}" Recipient="{recipient}"/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions NotBefore="{nb}" NotOnOrAfter="{exp}">
    <saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
  <saml:AuthnStatement AuthnInstant="{authn}" SessionIndex="{session_index}" SessionNotOnOrAfter="{session_end}">
    <saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
  </saml:AuthnStatement>
  <saml:AttributeStatement>
    <saml:Attribute Name="groups"><saml:AttributeValue>customers</saml:AttributeValue></saml:Attribute>
  </saml:AttributeStatement>
</saml:Assertion>"##,
            i = t(0),
            exp = t(300),
            nb = t(-60),
            authn = t(-10),
            session_end = t(3600),
        )
    }
}

/// Signs `xml` (a template with an empty `ds:Signature`) with the `xmlsec1` command-line tool:
/// `xmlsec1 --sign --privkey-pem key.pem,cert.pem --id-attr:ID …:Assertion`. Returns the signed
/// document without the XML declaration xmlsec1 adds (RFC 7522 carries the bare element).
pub fn xmlsec1_sign(signer: &TestSigner, xml: &str) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (t, k, c) = (dir.path().join("t.xml"), dir.path().join("key.pem"), dir.path().join("cert.pem"));
    std::fs::write(&t, xml).expect("write template");
    std::fs::write(&k, &signer.key_pem).expect("write key");
    std::fs::write(&c, &signer.cert_pem).expect("write certificate");
    let out = Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", k.display(), c.display()))
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response"])
        .arg(&t)
        .output()
        .expect("xmlsec1 is installed by scripts/install-deps.sh");
    assert!(out.status.success(), "xmlsec1: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(text.clone(), |(_, doc)| doc.trim_start().to_owned()),
        None => text,
    }
}

/// Whether the `xmlsec1` command-line tool (an implementation independent of ours) verifies
/// the signature of the `ID`-referenced Assertion in `xml` with `cert_pem`, same-document
/// references only.
pub fn xmlsec1_verifies(xml: &str, cert_pem: &str) -> bool {
    xmlsec1_verifies_element(xml, cert_pem, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
}

/// The SAML protocol `Response` element, for [`xmlsec1_verifies_element`].
pub const RESPONSE_NODE: &str = "urn:oasis:names:tc:SAML:2.0:protocol:Response";

/// [`xmlsec1_verifies`] for the signature that is a child of the first element named by
/// `id_node` (`namespace:LocalName`, e.g. [`RESPONSE_NODE`]), whose `ID` attribute is
/// declared. Both the Response's and the Assertion's `ID` are declared, and the signature is
/// chosen by position, so a document signed twice is checked one signature at a time.
pub fn xmlsec1_verifies_element(xml: &str, cert_pem: &str, id_node: &str) -> bool {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (doc, cert) = (dir.path().join("doc.xml"), dir.path().join("cert.pem"));
    std::fs::write(&doc, xml).expect("write document");
    std::fs::write(&cert, cert_pem).expect("write certificate");
    let local = id_node.rsplit(':').next().unwrap_or(id_node);
    let signature = format!(
        "/descendant::*[local-name()='{local}'][1]/*[local-name()='Signature' and \
         namespace-uri()='http://www.w3.org/2000/09/xmldsig#']"
    );
    let out = Command::new("xmlsec1")
        .args(["--verify", "--id-attr:ID", id_node, "--id-attr:ID", RESPONSE_NODE])
        .args(["--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"])
        .args(["--node-xpath", &signature, "--pubkey-cert-pem"])
        .arg(&cert)
        .args(["--enabled-reference-uris", "same-doc"])
        .arg(&doc)
        .output()
        .expect("xmlsec1 is installed by scripts/install-deps.sh");
    out.status.success()
}

/// The `<saml:Assertion …>…</saml:Assertion>` of a signed response built by
/// [`crate::assertion::build_signed_response`] (self-contained: it declares `xmlns:saml`).
pub fn bare_assertion(response_xml: &str) -> &str {
    let start = response_xml.find("<saml:Assertion").expect("an assertion");
    let end = response_xml.rfind("</saml:Assertion>").expect("an assertion") + "</saml:Assertion>".len();
    &response_xml[start..end]
}

/// `xml` without its (first) `ds:Signature` element.
pub fn strip_signature(xml: &str) -> String {
    match (xml.find("<ds:Signature"), xml.find("</ds:Signature>")) {
        (Some(a), Some(b)) => format!("{}{}", &xml[..a], &xml[b + "</ds:Signature>".len()..]),
        _ => xml.to_owned(),
    }
}
