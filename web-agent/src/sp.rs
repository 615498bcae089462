//! The SAML service-provider side that does not touch keys: the trusted IdP from its
//! metadata, AuthnRequests (HTTP-Redirect binding), same-origin RelayState, and this SP's own
//! metadata (with the X25519 key the home IdP seals TATs to, its signing certificate and its
//! SingleLogoutService).

use std::panic::catch_unwind;

use federation::binding::Param;
use federation::verify::TrustStore;
use federation::xml::XmlBuilder;

/// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect`.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// `urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST`.
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// Namespace of this project's metadata extension carrying the TAT key.
pub const NS_IDAAS_MD: &str = "urn:idaas:metadata:1.0";

/// The trusted home IdP.
#[derive(Debug, Clone)]
pub struct TrustedIdp {
    /// Its entity ID.
    pub entity_id: String,
    /// Its HTTP-Redirect SSO endpoint.
    pub sso_url: String,
    /// Its PII fetch endpoint: the home IdP serves SSO at `<base>/saml/sso` and the fetch at
    /// `<base>/pbe/pii/fetch` ([`pii_fetch_url`]).
    pub pii_fetch_url: String,
    /// Its signing certificates.
    pub trust: TrustStore,
    /// Its HTTP-Redirect SingleLogoutService, if it has one: where this agent sends its
    /// LogoutRequests.
    pub slo_url: Option<String>,
    /// Where this agent sends LogoutResponses: that endpoint's `ResponseLocation`, else
    /// `slo_url`.
    pub slo_response_url: Option<String>,
}

/// Why the IdP metadata is unusable (start-up error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// No signing certificate, bad XML, etc.
    #[error(transparent)]
    Trust(#[from] federation::verify::TrustError),
    /// No HTTP-Redirect SingleSignOnService.
    #[error("the IdP metadata has no HTTP-Redirect SingleSignOnService")]
    NoSso,
}

impl TrustedIdp {
    /// Reads IdP metadata. An IdP without a signing certificate is refused: samael would
    /// otherwise skip signature checks (DESIGN.md §9).
    pub fn from_metadata(xml: &str) -> Result<TrustedIdp, MetadataError> {
        let mut trust = TrustStore::new();
        let entity_id = trust.insert_metadata(xml, None)?;
        let parsed = catch_unwind(|| xml.parse::<samael::metadata::EntityDescriptor>())
            .ok()
            .and_then(Result::ok)
            .ok_or(MetadataError::NoSso)?;
        let sso_url = parsed
            .idp_sso_descriptors
            .iter()
            .flatten()
            .flat_map(|d| d.single_sign_on_services.iter())
            .find(|e| e.binding == BINDING_REDIRECT)
            .map(|e| e.location.clone())
            .filter(|l| url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
            .ok_or(MetadataError::NoSso)?;
        let pii_fetch_url = pii_fetch_url(&sso_url).ok_or(MetadataError::NoSso)?;
        let usable = |l: &str| url::Url::parse(l).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        let slo = parsed
            .idp_sso_descriptors
            .iter()
            .flatten()
            .flat_map(|d| d.single_logout_services.iter())
            .find(|e| e.binding == BINDING_REDIRECT && usable(&e.location));
        let slo_url = slo.map(|e| e.location.clone());
        let slo_response_url = slo
            .map(|e| e.response_location.clone().filter(|r| usable(r)).unwrap_or_else(|| e.location.clone()));
        Ok(TrustedIdp { entity_id, sso_url, pii_fetch_url, trust, slo_url, slo_response_url })
    }
}

/// The home IdP's PII fetch endpoint for its SSO endpoint `sso_url`: `FETCH_PATH` next to
/// `saml/`, so a home IdP published under a path prefix (`https://h/idp/saml/sso`) keeps it
/// (`https://h/idp/pbe/pii/fetch`).
pub fn pii_fetch_url(sso_url: &str) -> Option<String> {
    let relative = format!("..{}", federation::pii::FETCH_PATH);
    url::Url::parse(sso_url).ok()?.join(&relative).ok().map(String::from)
}

/// A new AuthnRequest ID (`_` + 32 hex digits: an NCName).
pub fn request_id() -> String {
    format!("_{}", &crate::session::random_token()[..32])
}

/// The AuthnRequest XML.
pub fn authn_request_xml(id: &str, issuer: &str, destination: &str, acs_url: &str, now: i64) -> String {
    let instant = federation::assertion::xml_time(now).unwrap_or_default();
    let mut x = XmlBuilder::new();
    x.open(
        "samlp:AuthnRequest",
        &[
            ("xmlns:samlp", federation::assertion::NS_PROTOCOL),
            ("xmlns:saml", federation::assertion::NS_ASSERTION),
            ("ID", id),
            ("Version", "2.0"),
            ("IssueInstant", &instant),
            ("Destination", destination),
            ("AssertionConsumerServiceURL", acs_url),
            ("ProtocolBinding", BINDING_POST),
        ],
    );
    x.leaf("saml:Issuer", &[], issuer);
    x.empty(
        "samlp:NameIDPolicy",
        &[("Format", federation::assertion::NAMEID_PERSISTENT), ("AllowCreate", "true")],
    );
    x.close();
    x.finish()
}

/// The HTTP-Redirect URL carrying `xml` (raw DEFLATE, base64, URL-encoded) and `relay_state`,
/// with the binding's query signature made with `key_der` (SAML bindings §3.4.4.1).
pub fn redirect_url(sso_url: &str, xml: &str, relay_state: &str, key_der: &[u8]) -> Option<String> {
    url::Url::parse(sso_url).ok()?;
    let query =
        federation::binding::sign_redirect_query(Param::Request, xml, Some(relay_state), key_der).ok()?;
    Some(federation::binding::with_query(sso_url, &query))
}

/// The path to return to after sign-in, if `candidate` is a safe same-origin path: it starts
/// with one `/`, has no backslash, no scheme-relative `//`, no control characters, ≤ 1024 bytes.
/// Anything else (absolute URLs, `//evil.example`, `/\evil.example`) becomes `/`.
pub fn safe_return_path(candidate: &str) -> String {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.contains('\\')
        && candidate.len() <= 1024
        && !candidate.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        candidate.to_owned()
    } else {
        "/".to_owned()
    }
}

/// This SP's metadata: entity ID, ACS (HTTP-POST), and in `md:Extensions` the HPKE public
/// key the home IdP seals TATs to, with its kind (`<idaas:TatKey Algorithm="X25519">base64url
/// </idaas:TatKey>`; `P-384` at 192 bits, `P-521` at 256); during a key rollover the next key
/// follows with `Use="next"` (crate::seal_keys).
///
/// It also publishes the agent's signing certificate (`KeyDescriptor use="signing"`: its
/// AuthnRequests and logout messages are signed) and its `SingleLogoutService` at `slo_url`
/// in both bindings.
pub fn metadata_xml(
    entity_id: &str,
    acs_url: &str,
    tat_keys: &crate::seal_keys::SealKeys,
    signing_cert_base64: &str,
    slo_url: &str,
) -> String {
    let kem = tat_keys.suite().kem_name();
    let mut x = XmlBuilder::new();
    x.open(
        "md:EntityDescriptor",
        &[("xmlns:md", "urn:oasis:names:tc:SAML:2.0:metadata"), ("entityID", entity_id)],
    );
    x.open("md:Extensions", &[]);
    x.leaf(
        "idaas:TatKey",
        &[("xmlns:idaas", NS_IDAAS_MD), ("Algorithm", kem)],
        &tat_keys.current().public_text(),
    );
    if let Some(next) = tat_keys.next() {
        x.leaf(
            "idaas:TatKey",
            &[("xmlns:idaas", NS_IDAAS_MD), ("Algorithm", kem), ("Use", "next")],
            &next.public_text(),
        );
    }
    x.close();
    x.open(
        "md:SPSSODescriptor",
        &[
            ("AuthnRequestsSigned", "true"),
            ("WantAssertionsSigned", "true"),
            ("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol"),
        ],
    );
    x.open("md:KeyDescriptor", &[("use", "signing")])
        .open("ds:KeyInfo", &[("xmlns:ds", federation::assertion::NS_DSIG)])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], signing_cert_base64)
        .close()
        .close()
        .close();
    for binding in [BINDING_REDIRECT, BINDING_POST] {
        x.empty("md:SingleLogoutService", &[("Binding", binding), ("Location", slo_url)]);
    }
    x.leaf("md:NameIDFormat", &[], federation::assertion::NAMEID_PERSISTENT);
    x.empty(
        "md:AssertionConsumerService",
        &[("Binding", BINDING_POST), ("Location", acs_url), ("index", "0"), ("isDefault", "true")],
    );
    x.close();
    x.close();
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_this_origin() {
        assert_eq!(safe_return_path("/cart?x=1"), "/cart?x=1");
        for bad in ["https://evil.example/", "//evil.example", "/\\evil.example", "evil", "/a b", "/\n", ""] {
            assert_eq!(safe_return_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn the_metadata_publishes_the_next_hpke_key_during_a_rollover() {
        let dir = tempfile::tempdir().unwrap();
        let suite = federation::seal::SealSuite::X25519Aes128;
        let keys = crate::seal_keys::SealKeys::load(dir.path(), suite).unwrap();
        let md = |k: &crate::seal_keys::SealKeys| {
            metadata_xml("https://sp/md", "https://sp/acs", k, "Q0VSVA", "https://sp/slo")
        };
        let before = md(&keys);
        assert_eq!(before.matches("<idaas:TatKey").count(), 1);
        let next = crate::seal_keys::rotate(dir.path(), suite).unwrap();
        keys.reload().unwrap();
        let during = md(&keys);
        assert_eq!(during.matches("<idaas:TatKey").count(), 2);
        assert!(during.contains(&format!("Use=\"next\">{}</idaas:TatKey>", next.public_text())), "{during}");
        crate::seal_keys::activate(dir.path(), suite).unwrap();
        keys.reload().unwrap();
        let after = md(&keys);
        assert_eq!(after.matches("<idaas:TatKey").count(), 1);
        assert!(after.contains(&next.public_text()));
    }

    #[test]
    fn the_fetch_endpoint_sits_next_to_the_sso_endpoint() {
        assert_eq!(pii_fetch_url("https://h/saml/sso").unwrap(), "https://h/pbe/pii/fetch");
        assert_eq!(pii_fetch_url("http://h:8081/saml/sso").unwrap(), "http://h:8081/pbe/pii/fetch");
        assert_eq!(pii_fetch_url("https://h/idp/saml/sso?x=1").unwrap(), "https://h/idp/pbe/pii/fetch");
        assert!(pii_fetch_url("not a url").is_none());
    }

    #[test]
    fn redirect_url_round_trips() {
        let xml = authn_request_xml(
            "_1",
            "https://sp/saml/metadata",
            "https://idp/saml/sso",
            "https://sp/saml/acs",
            0,
        );
        assert!(xml.contains("AssertionConsumerServiceURL=\"https://sp/saml/acs\""));
        let signer = federation::testing::TestSigner::new(5);
        let url = redirect_url("https://idp/saml/sso?x=1", &xml, "/cart", &signer.key_der).unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("x".into(), "1".into()));
        assert_eq!(pairs[2], ("RelayState".into(), "/cart".into()));
        assert_eq!(pairs[3].0, "SigAlg");
        let query = url.split_once("x=1&").unwrap().1;
        federation::binding::verify_redirect_query(query, std::slice::from_ref(&signer.cert_der)).unwrap();
        use base64::Engine as _;
        let deflated = base64::engine::general_purpose::STANDARD.decode(&pairs[1].1).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::DeflateDecoder::new(&deflated[..]), &mut out)
            .unwrap();
        assert_eq!(out, xml);
    }
}
