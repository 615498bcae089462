//! The SAML 2.0 HTTP bindings both ends speak (SAML bindings §3.4 HTTP-Redirect, §3.5
//! HTTP-POST): decoding a received `SAMLRequest`/`SAMLResponse` with hard limits, encoding
//! one for the Redirect binding, and the Redirect binding's query-string signature
//! (§3.4.4.1).
//!
//! # The query-string signature
//!
//! The signer signs the octets `SAMLRequest=…&RelayState=…&SigAlg=…` (or `SAMLResponse=…`),
//! each value URL-encoded as sent, `RelayState` only when present. A verifier must check the
//! signature over **exactly the bytes it received**: re-encoding the decoded values (as
//! samael's `UrlVerifier` does) can produce other bytes than the signer's, and then a genuine
//! message fails or — worse — the verifier signs off on an encoding the signer never produced.
//! [`verify_redirect_query`] therefore cuts the three parameters out of the raw query, joins
//! them in the order the binding fixes, and verifies that with OpenSSL. A parameter given
//! twice is refused (two readers could otherwise pick different copies).

use std::io::{Read as _, Write as _};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Largest encoded `SAMLRequest`/`SAMLResponse` accepted (bytes of base64).
pub const MAX_ENCODED: usize = 64 * 1024;
/// Largest inflated / decoded XML (guards against DEFLATE bombs).
pub const MAX_XML: usize = 64 * 1024;
/// `SigAlg` of RSA-SHA256, what this crate signs with.
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// RSA-SHA384 and RSA-SHA512, also accepted.
const SIG_ALG_RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const SIG_ALG_RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";

/// Which binding carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// HTTP-Redirect (DEFLATE + base64 in the query, signed as a query string).
    Redirect,
    /// HTTP-POST (base64 in a form, an enveloped XML signature).
    Post,
}

/// Which query parameter carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `SAMLRequest`.
    Request,
    /// `SAMLResponse`.
    Response,
}

impl Param {
    /// The parameter's name.
    pub fn name(self) -> &'static str {
        match self {
            Param::Request => "SAMLRequest",
            Param::Response => "SAMLResponse",
        }
    }
}

/// Why a received message could not be decoded or its query signature is not good.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingError {
    /// No `SAMLRequest`/`SAMLResponse` parameter.
    #[error("the request carries no SAML message")]
    Missing,
    /// Larger than [`MAX_ENCODED`] or [`MAX_XML`].
    #[error("the SAML message is too large")]
    TooLarge,
    /// Not base64.
    #[error("the SAML message is not valid base64")]
    Base64,
    /// Not raw DEFLATE (Redirect binding).
    #[error("the SAML message is not valid DEFLATE data")]
    Deflate,
    /// Not UTF-8 XML, or a DOCTYPE/entity declaration.
    #[error("the SAML message is not acceptable XML: {0}")]
    Xml(&'static str),
    /// A parameter appears twice in the query.
    #[error("the query repeats the parameter {0}")]
    Repeated(&'static str),
    /// No `SigAlg`/`Signature`, an algorithm other than RSA with SHA-256 or stronger, or a
    /// signature that does not verify with any of the peer's certificates.
    #[error("the query signature is missing or invalid")]
    BadSignature,
}

/// Why a message could not be signed (a key problem: the operator's, never the peer's).
#[derive(Debug, thiserror::Error)]
#[error("signing the query failed: {0}")]
pub struct SigningError(pub String);

/// Decodes a received message of either binding into XML text: size limits, strict base64
/// (whitespace ignored), raw DEFLATE for Redirect with an inflation limit, UTF-8 only, no
/// DOCTYPE or entity declaration.
pub fn decode(encoded: &str, binding: Binding) -> Result<String, BindingError> {
    if encoded.len() > MAX_ENCODED {
        return Err(BindingError::TooLarge);
    }
    // Form posts and copy-pasted URLs may carry line breaks; strict base64 otherwise.
    let compact: String = encoded.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let raw = STANDARD.decode(compact.as_bytes()).map_err(|_| BindingError::Base64)?;
    let xml_bytes = match binding {
        Binding::Post => raw,
        Binding::Redirect => {
            let mut out = Vec::new();
            let limit = u64::try_from(MAX_XML).unwrap_or(u64::MAX) + 1;
            flate2::read::DeflateDecoder::new(raw.as_slice())
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|_| BindingError::Deflate)?;
            out
        }
    };
    if xml_bytes.len() > MAX_XML {
        return Err(BindingError::TooLarge);
    }
    // Only UTF-8, before any other check: libxml honours a declared encoding, so with
    // `encoding="UTF-7"` the DOCTYPE filter below would look at `+ADw-!DOCTYPE` and miss it.
    crate::xml::check_utf8_xml(&xml_bytes).map_err(|e| match e {
        crate::xml::XmlEncodingError::OtherEncoding => {
            BindingError::Xml("only UTF-8 is accepted (the XML declaration names another encoding)")
        }
        _ => BindingError::Xml("not UTF-8"),
    })?;
    let xml = String::from_utf8(xml_bytes).map_err(|_| BindingError::Xml("not UTF-8"))?;
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(BindingError::Xml("DOCTYPE and entity declarations are not allowed"));
    }
    Ok(xml)
}

/// Raw DEFLATE + base64, the Redirect binding's encoding of a message.
pub fn deflate_base64(xml: &str) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(xml.as_bytes());
    STANDARD.encode(enc.finish().unwrap_or_default())
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn form_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The signed query string (without `?`) of a Redirect-binding message: `xml` DEFLATEd,
/// base64- and URL-encoded, `RelayState` if any, `SigAlg` RSA-SHA256 and the `Signature` over
/// the three, made with `key_der` (an RSA key, PKCS#8 DER).
pub fn sign_redirect_query(
    param: Param,
    xml: &str,
    relay_state: Option<&str>,
    key_der: &[u8],
) -> Result<String, SigningError> {
    let mut signed = format!("{}={}", param.name(), form_encode(&deflate_base64(xml)));
    if let Some(rs) = relay_state {
        signed.push_str(&format!("&RelayState={}", form_encode(rs)));
    }
    signed.push_str(&format!("&SigAlg={}", form_encode(SIG_ALG_RSA_SHA256)));
    let key = parsed_signing_key(key_der)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
        .map_err(|e| SigningError(e.to_string()))?;
    let signature = signer.sign_oneshot_to_vec(signed.as_bytes()).map_err(|e| SigningError(e.to_string()))?;
    Ok(format!("{signed}&Signature={}", form_encode(&STANDARD.encode(signature))))
}

/// `key_der` (PKCS#8) as an OpenSSL key, decoded once per process ([`crate::key_cache`]).
fn parsed_signing_key(key_der: &[u8]) -> Result<openssl::pkey::PKey<openssl::pkey::Private>, SigningError> {
    static KEYS: std::sync::LazyLock<
        crate::key_cache::KeyCache<openssl::pkey::PKey<openssl::pkey::Private>>,
    > = std::sync::LazyLock::new(Default::default);
    KEYS.get(key_der, |der| {
        openssl::pkey::PKey::private_key_from_pkcs8(der).map_err(|e| SigningError(e.to_string()))
    })
}

/// `endpoint` with `query` appended (`?` or, when the endpoint has a query already, `&`).
pub fn with_query(endpoint: &str, query: &str) -> String {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{sep}{query}")
}

/// The parameters of a Redirect-binding query, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectQuery<'a> {
    /// `SAMLRequest` or `SAMLResponse` as sent (URL-encoded).
    pub message_raw: Option<(&'a str, Param)>,
    /// `RelayState` as sent.
    pub relay_state_raw: Option<&'a str>,
    /// `SigAlg` as sent.
    pub sig_alg_raw: Option<&'a str>,
    /// `Signature` as sent.
    pub signature_raw: Option<&'a str>,
}

impl<'a> RedirectQuery<'a> {
    /// Splits a raw query (`a=b&c=d`, without `?`); a SAML parameter given twice, or both
    /// `SAMLRequest` and `SAMLResponse`, is refused. Other parameters are ignored.
    pub fn parse(raw_query: &'a str) -> Result<Self, BindingError> {
        let mut q = RedirectQuery::default();
        for pair in raw_query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "SAMLRequest" | "SAMLResponse" => {
                    let param = if k == "SAMLRequest" { Param::Request } else { Param::Response };
                    if q.message_raw.is_some() {
                        return Err(BindingError::Repeated("SAMLRequest/SAMLResponse"));
                    }
                    q.message_raw = Some((v, param));
                    continue;
                }
                "RelayState" => (&mut q.relay_state_raw, "RelayState"),
                "SigAlg" => (&mut q.sig_alg_raw, "SigAlg"),
                "Signature" => (&mut q.signature_raw, "Signature"),
                _ => continue,
            };
            if slot.0.is_some() {
                return Err(BindingError::Repeated(slot.1));
            }
            *slot.0 = Some(v);
        }
        Ok(q)
    }

    /// The message, decoded to XML (see [`decode`]).
    pub fn message_xml(&self) -> Result<(String, Param), BindingError> {
        let (raw, param) = self.message_raw.ok_or(BindingError::Missing)?;
        if raw.len() > 3 * MAX_ENCODED {
            return Err(BindingError::TooLarge);
        }
        Ok((decode(&form_decode(raw), Binding::Redirect)?, param))
    }

    /// `RelayState`, decoded.
    pub fn relay_state(&self) -> Option<String> {
        self.relay_state_raw.map(form_decode)
    }

    /// Verifies the query signature over the received bytes with any of `certs_der` (X.509
    /// DER). Only RSA with SHA-256, -384 or -512 is accepted.
    pub fn verify(&self, certs_der: &[Vec<u8>]) -> Result<(), BindingError> {
        let bad = BindingError::BadSignature;
        let (message, param) = self.message_raw.ok_or(BindingError::Missing)?;
        let sig_alg_raw = self.sig_alg_raw.ok_or(bad.clone())?;
        let signature = STANDARD
            .decode(form_decode(self.signature_raw.ok_or(bad.clone())?).replace(char::is_whitespace, ""))
            .map_err(|_| bad.clone())?;
        let digest = match form_decode(sig_alg_raw).as_str() {
            SIG_ALG_RSA_SHA256 => openssl::hash::MessageDigest::sha256(),
            SIG_ALG_RSA_SHA384 => openssl::hash::MessageDigest::sha384(),
            SIG_ALG_RSA_SHA512 => openssl::hash::MessageDigest::sha512(),
            _ => return Err(bad),
        };
        let mut signed = format!("{}={message}", param.name());
        if let Some(rs) = self.relay_state_raw {
            signed.push_str(&format!("&RelayState={rs}"));
        }
        signed.push_str(&format!("&SigAlg={sig_alg_raw}"));
        for der in certs_der {
            let Some(key) = certificate_public_key(der) else { continue };
            // RSA only (what `PKey::rsa` accepts), read from the key's type: `rsa()` would
            // export a copy of the key at every call.
            if !matches!(key.id(), openssl::pkey::Id::RSA | openssl::pkey::Id::RSA_PSS) {
                continue;
            }
            let Ok(mut verifier) = openssl::sign::Verifier::new(digest, &key) else { continue };
            if verifier.verify_oneshot(&signature, signed.as_bytes()).unwrap_or(false) {
                return Ok(());
            }
        }
        Err(bad)
    }
}

/// The public key of the certificate `der` (X.509 DER), decoded once per process
/// ([`crate::key_cache`]: bounded, keyed by the SHA-256 of the DER; only the certificates the
/// caller trusts are ever looked up).
fn certificate_public_key(der: &[u8]) -> Option<openssl::pkey::PKey<openssl::pkey::Public>> {
    static KEYS: std::sync::LazyLock<crate::key_cache::KeyCache<openssl::pkey::PKey<openssl::pkey::Public>>> =
        std::sync::LazyLock::new(|| crate::key_cache::KeyCache::with_max(crate::key_cache::MAX_CERTS));
    KEYS.get(der, |der| openssl::x509::X509::from_der(der).and_then(|cert| cert.public_key())).ok()
}

/// Verifies the query signature of a raw Redirect-binding query with any of `certs_der`.
pub fn verify_redirect_query(raw_query: &str, certs_der: &[Vec<u8>]) -> Result<(), BindingError> {
    RedirectQuery::parse(raw_query)?.verify(certs_der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestSigner;

    #[test]
    fn signed_queries_verify_over_the_received_bytes_only() {
        let s = TestSigner::new(1);
        let q = sign_redirect_query(Param::Request, "<a/>", Some("/cart?x=1 2"), &s.key_der).unwrap();
        assert!(verify_redirect_query(&q, std::slice::from_ref(&s.cert_der)).is_ok());
        let parsed = RedirectQuery::parse(&q).unwrap();
        assert_eq!(parsed.relay_state().as_deref(), Some("/cart?x=1 2"));
        assert_eq!(parsed.message_xml().unwrap(), ("<a/>".to_owned(), Param::Request));
        // Another key, a changed RelayState, a re-encoded (but equal) value, a dropped
        // signature, a repeated parameter, another SigAlg: all refused.
        let other = TestSigner::new(2);
        assert_eq!(
            verify_redirect_query(&q, std::slice::from_ref(&other.cert_der)),
            Err(BindingError::BadSignature)
        );
        let certs = [s.cert_der.clone()];
        let tampered = q.replace("RelayState=%2Fcart", "RelayState=%2Fcarp");
        assert_eq!(verify_redirect_query(&tampered, &certs), Err(BindingError::BadSignature));
        let reencoded = q.replace("%2Fcart", "/cart");
        assert_eq!(verify_redirect_query(&reencoded, &certs), Err(BindingError::BadSignature));
        let unsigned = q.split("&Signature=").next().unwrap();
        assert_eq!(verify_redirect_query(unsigned, &certs), Err(BindingError::BadSignature));
        let twice = format!("{q}&RelayState=x");
        assert_eq!(verify_redirect_query(&twice, &certs), Err(BindingError::Repeated("RelayState")));
        let sha1 = q.replace("rsa-sha256", "rsa-sha1");
        assert_eq!(verify_redirect_query(&sha1, &certs), Err(BindingError::BadSignature));
        assert_eq!(verify_redirect_query("", &certs), Err(BindingError::Missing));
        assert_eq!(verify_redirect_query(&q, &[vec![1, 2, 3]]), Err(BindingError::BadSignature));
    }

    /// Keys are parsed once and kept: many keys in turn (more than the cache holds, so it is
    /// cleared on the way) each sign with their own key, and a key that is not PKCS#8 is a
    /// clear error, not a cached one.
    #[test]
    fn parsed_keys_are_kept_per_key_and_bounded() {
        let signers: Vec<TestSigner> =
            (10..10 + crate::key_cache::MAX_KEYS as u64 + 2).map(TestSigner::new).collect();
        for round in 0..2 {
            for (i, s) in signers.iter().enumerate() {
                let q = sign_redirect_query(Param::Request, "<a/>", None, &s.key_der).unwrap();
                assert!(
                    verify_redirect_query(&q, std::slice::from_ref(&s.cert_der)).is_ok(),
                    "round {round}, key {i}"
                );
                let next = &signers[(i + 1) % signers.len()];
                assert_eq!(
                    verify_redirect_query(&q, std::slice::from_ref(&next.cert_der)),
                    Err(BindingError::BadSignature)
                );
            }
        }
        for bad in [&b""[..], b"not a key", &signers[0].key_der[..40]] {
            assert!(sign_redirect_query(Param::Request, "<a/>", None, bad).is_err());
        }
    }

    /// The query signature checked against a signer that is not ours: the `rsa` crate's
    /// PKCS#1 v1.5 signature (SHA-256 DigestInfo) over the same bytes verifies, and ours
    /// verifies with the `rsa` crate.
    #[test]
    fn an_independent_signer_agrees() {
        use rsa::pkcs8::DecodePrivateKey as _;
        use sha2::Digest as _;
        // DER of DigestInfo for SHA-256 without the hash (RFC 8017 §9.2, note 1).
        const PREFIX: [u8; 19] = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
            0x00, 0x04, 0x20,
        ];
        let scheme = || rsa::Pkcs1v15Sign { hash_len: Some(32), prefix: Box::new(PREFIX) };
        let s = TestSigner::new(3);
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&s.key_der).unwrap();
        let signed = format!(
            "SAMLResponse={}&SigAlg={}",
            form_encode(&deflate_base64("<r/>")),
            form_encode(SIG_ALG_RSA_SHA256)
        );
        let sig = key.sign(scheme(), &sha2::Sha256::digest(signed.as_bytes())).unwrap();
        let q = format!("{signed}&Signature={}", form_encode(&STANDARD.encode(&sig)));
        assert!(verify_redirect_query(&q, std::slice::from_ref(&s.cert_der)).is_ok());
        let ours = sign_redirect_query(Param::Response, "<r/>", None, &s.key_der).unwrap();
        let (body, sig) = ours.split_once("&Signature=").unwrap();
        let sig = STANDARD.decode(form_decode(sig)).unwrap();
        let public = key.to_public_key();
        assert!(public.verify(scheme(), &sha2::Sha256::digest(body.as_bytes()), &sig).is_ok());
    }

    #[test]
    fn rejects_malformed_and_hostile_encodings() {
        assert_eq!(decode("%%%", Binding::Post).unwrap_err(), BindingError::Base64);
        assert_eq!(
            decode(&STANDARD.encode(b"not deflate"), Binding::Redirect).unwrap_err(),
            BindingError::Deflate
        );
        assert_eq!(decode(&"A".repeat(MAX_ENCODED + 4), Binding::Post).unwrap_err(), BindingError::TooLarge);
        let bomb = deflate_base64(&"0".repeat(10 << 20));
        assert!(bomb.len() < MAX_ENCODED);
        assert_eq!(decode(&bomb, Binding::Redirect).unwrap_err(), BindingError::TooLarge);
        let doctype = STANDARD.encode("<!DOCTYPE x [<!ENTITY a 'b'>]><a/>");
        assert!(matches!(decode(&doctype, Binding::Post), Err(BindingError::Xml(_))));
        let utf7 = STANDARD.encode("<?xml version=\"1.0\" encoding=\"UTF-7\"?><a/>");
        assert!(matches!(decode(&utf7, Binding::Post), Err(BindingError::Xml(_))));
        // Truncated DEFLATE data.
        let full = STANDARD.decode(deflate_base64(&"<a>x</a>".repeat(50))).unwrap();
        let cut = STANDARD.encode(&full[..full.len() / 2]);
        assert!(decode(&cut, Binding::Redirect).is_err());
    }
}
