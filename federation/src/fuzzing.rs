//! Fixtures shared by the fuzz targets (`fuzz/`, a cargo-fuzz crate outside the workspace) and
//! the generator of their seed corpora (`federation/tests/it/fuzz_seeds.rs`): the same signer,
//! trust store, sealing keys and pairing authority on both sides, derived from fixed seeds, so a
//! seed written by the generator verifies, opens or decrypts inside the target and the fuzzer
//! starts from the deep end of each parser. Feature `test-support` only.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // fixtures fail loudly

use std::sync::OnceLock;

use pbe_core::{AuthoritySecretKey, Bls12_381Suite, Ciphertext, Encryptor, Gid, Policy, UserKey};
use rand_core::SeedableRng as _;

use crate::assertion::{build_signed_response, AttributeValues, Recipient, ResponseParams, SignedResponse};
use crate::pat::{ReceiptClaims, ReceiptSigner};
use crate::seal::{RecipientKey, SealSuite};
use crate::testing::TestSigner;
use crate::verify::TrustStore;

/// The fixtures' IdP entity ID.
pub const IDP: &str = "https://idp.fuzz.example";
/// The service provider (web agent) entity ID.
pub const SP: &str = "https://shop.fuzz.example/saml/metadata";
/// Its ACS URL.
pub const ACS: &str = "https://shop.fuzz.example/saml/acs";
/// The visitor IdP's entity ID.
pub const VISITOR: &str = "https://visitor.fuzz.example";
/// The visitor IdP's token endpoint.
pub const TOKEN: &str = "https://visitor.fuzz.example/oauth2/token";
/// The fixtures' time, Unix seconds.
pub const NOW: i64 = 1_795_000_000;
/// The user.
pub const UID: &str = "bob";
/// The SAML session (`SessionIndex`).
pub const SESSION: &str = "_s1";
/// The pairing authority's name.
pub const AUTHORITY: &str = "home";
/// The attributes of [`user_key`].
pub const KEY_ATTRIBUTES: [&str; 3] = ["domain:salesforce@home", "country:eu@home", "purpose:current@home"];

fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

/// The IdP's XML-signing identity.
pub fn signer() -> &'static TestSigner {
    static S: OnceLock<TestSigner> = OnceLock::new();
    S.get_or_init(|| TestSigner::new(0xf022))
}

/// A trust store that trusts [`signer`] for [`IDP`].
pub fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(IDP, vec![signer().cert_der.clone()]).unwrap();
    t
}

/// IdP metadata for [`IDP`] with [`signer`]'s certificate (what a web agent is configured with).
pub fn idp_metadata() -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP}"><md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP}/saml/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        signer().cert_base64()
    )
}

/// The parameters of a response for [`SP`] carrying `attributes`.
pub fn response_params(attributes: Vec<AttributeValues>) -> ResponseParams {
    ResponseParams {
        signed_parts: Default::default(),
        issuer: IDP.into(),
        destination: ACS.into(),
        in_response_to: Some("_req1".into()),
        name_id: UID.into(),
        recipients: vec![
            Recipient { url: ACS.into(), in_response_to: Some("_req1".into()) },
            Recipient { url: TOKEN.into(), in_response_to: None },
        ],
        audiences: vec![SP.into(), VISITOR.into()],
        now: NOW,
        lifetime: 300,
        session_index: SESSION.into(),
        session_not_on_or_after: NOW + 8 * 3600,
        authn_instant: NOW - 10,
        attributes,
    }
}

/// A response signed by [`signer`].
pub fn signed_response(attributes: Vec<AttributeValues>, seed: u64) -> SignedResponse {
    let s = signer();
    build_signed_response(&response_params(attributes), &s.key_der, &s.cert_base64(), &mut rng(seed)).unwrap()
}

/// The recipient key of `suite` (a web agent's).
pub fn recipient(suite: SealSuite) -> RecipientKey {
    let seed = match suite {
        SealSuite::X25519Aes128 => 0x5e1,
        SealSuite::P384Aes256 => 0x5e2,
        SealSuite::P521Aes256 => 0x5e3,
    };
    RecipientKey::generate(suite, &mut rng(seed))
}

/// The grant-receipt signer (a visitor IdP's).
pub fn receipt_signer() -> ReceiptSigner {
    ReceiptSigner::generate(&mut rng(0x7ec))
}

/// Claims of a grant receipt.
pub fn receipt_claims() -> ReceiptClaims {
    ReceiptClaims {
        iss: VISITOR.into(),
        sub: UID.into(),
        sid: SESSION.into(),
        idp: IDP.into(),
        assertion_id: "_a1".into(),
        client_id: "shop".into(),
        purposes: vec!["purpose:current".into()],
        withheld: vec![],
        iat: NOW,
        jti: "r1".into(),
    }
}

/// The BLS12-381 authority [`AUTHORITY`].
pub fn authority() -> &'static AuthoritySecretKey<Bls12_381Suite> {
    static A: OnceLock<AuthoritySecretKey<Bls12_381Suite>> = OnceLock::new();
    A.get_or_init(|| AuthoritySecretKey::setup(AUTHORITY, &mut rng(0xab5)).unwrap())
}

/// A key of ([`UID`], [`SESSION`]) for [`KEY_ATTRIBUTES`].
pub fn user_key() -> UserKey<Bls12_381Suite> {
    let gid = Gid::new(UID, SESSION).unwrap();
    let attrs: Vec<_> = KEY_ATTRIBUTES.iter().map(|a| a.parse().unwrap()).collect();
    authority().keygen(&gid, &attrs, &mut rng(0x6e9)).unwrap()
}

/// `plaintext` encrypted under `policy` (text) for [`authority`].
pub fn ciphertext(policy: &str, plaintext: &[u8], seed: u64) -> Ciphertext<Bls12_381Suite> {
    let policy = Policy::parse(policy).unwrap();
    Encryptor::new([authority().public_key()]).unwrap().encrypt(&policy, plaintext, &mut rng(seed)).unwrap()
}
