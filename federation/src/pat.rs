//! What the visitor IdP's token endpoint hands out besides the OAuth access token: the Purpose
//! Access Token (PAT), optionally HPKE-sealed for the client, and a signed **grant receipt**.
//!
//! - [`pat_info`] is the HPKE `info` of a sealed PAT (see [`crate::seal`]): it binds the
//!   OAuth `client_id` and the SAML `SessionIndex`, so a sealed PAT taken from one client's
//!   response, or one session's, does not open in another context.
//! - [`PatFields`] are the extra members of the token response (RFC 6749 §5.1 allows them).
//! - A grant receipt is a compact JWS (RFC 7515) signed with Ed25519 (`alg: EdDSA`, RFC 8037)
//!   whose payload is [`ReceiptClaims`]: who got which purposes for which subject and session,
//!   when. [`ReceiptSigner::sign`] makes one; [`verify_receipt`] checks one against the public
//!   key the visitor IdP publishes as a JWK ([`ReceiptSigner::public_jwk`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The RFC 7522 grant type.
pub const GRANT_TYPE_SAML2_BEARER: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";
/// The JWS `typ` of a grant receipt.
pub const RECEIPT_TYP: &str = "idaas-grant-receipt+jwt";
/// Largest receipt [`verify_receipt`] looks at, bytes.
pub const MAX_RECEIPT_LEN: usize = 16 * 1024;

/// The HPKE `info` of a PAT sealed for `client_id` in the SAML session `session_index`:
/// `"idaas PAT v1"` then each part with a 4-byte big-endian length prefix.
pub fn pat_info(client_id: &str, session_index: &str) -> Vec<u8> {
    let mut info = b"idaas PAT v1".to_vec();
    for part in [client_id, session_index] {
        info.extend_from_slice(&(part.len() as u32).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    info
}

/// The token response's members beyond RFC 6749's `access_token`, `token_type`, `expires_in`
/// and `scope`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PatFields {
    /// The PAT: a pbe-core key bundle (wire text), or — when `pat_sealed` — that text sealed
    /// with HPKE for the client's registered X25519 key under [`pat_info`].
    pub purpose_access_token: String,
    /// Whether `purpose_access_token` is sealed.
    pub pat_sealed: bool,
    /// The pbe-core suite of the PAT (`bls12-381`, `bn254`).
    pub pbe_suite: String,
    /// The ABE authority that issued the PAT (the visitor IdP's).
    pub pbe_authority: String,
    /// The compact JWS grant receipt.
    pub grant_receipt: String,
}

/// The payload of a grant receipt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReceiptClaims {
    /// The visitor IdP (its entity ID).
    pub iss: String,
    /// The subject: the assertion's NameID.
    pub sub: String,
    /// The SAML `SessionIndex` the PAT is bound to (with `sub`, the pbe-core GID).
    pub sid: String,
    /// The home IdP that issued the assertion.
    pub idp: String,
    /// The assertion's ID.
    pub assertion_id: String,
    /// The OAuth client that received the PAT.
    pub client_id: String,
    /// The purpose attributes granted (`purpose:current`, `ppurpose:purchase`, …), sorted.
    pub purposes: Vec<String>,
    /// Registered purposes that were withheld (transaction purposes after the SAML session
    /// ended), sorted.
    pub withheld: Vec<String>,
    /// Issue time, Unix seconds.
    pub iat: i64,
    /// A unique receipt ID.
    pub jti: String,
}

#[derive(Serialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// The header as read. Unknown members that are not critical are ignored (RFC 7515 §4);
/// `crit` is read as any JSON value so that a malformed one (`null`, not a list) is seen and
/// refused rather than taken for an absent one.
#[derive(Deserialize)]
struct ReceivedHeader {
    alg: String,
    typ: String,
    #[serde(default, deserialize_with = "present")]
    crit: Option<serde_json::Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Header parameters this verifier understands as critical extensions (RFC 7515 §4.1.11):
/// none. A receipt whose header lists any extension in `crit` is refused, because honouring
/// the JWS means honouring that extension's semantics, which this code does not know.
const UNDERSTOOD_CRITICAL: &[&str] = &[];

/// The parameters RFC 7515 and RFC 7518 define: `crit` must not list them (§4.1.11).
const REGISTERED: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc", "zip", "epk",
    "apu", "apv", "iv", "tag", "p2s", "p2c",
];

/// Checks a header's `crit` (RFC 7515 §4.1.11): absent, or a non-empty list of distinct
/// strings naming extensions (not registered parameters) that the header carries and that
/// this verifier understands.
fn check_crit(header_json: &[u8], crit: Option<&serde_json::Value>) -> Result<(), ReceiptError> {
    let Some(crit) = crit else { return Ok(()) };
    let malformed = |why: &str| Err(ReceiptError::CriticalHeader(why.to_owned()));
    let Some(list) = crit.as_array() else { return malformed("crit is not a list") };
    if list.is_empty() {
        return malformed("crit is an empty list");
    }
    let members: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header_json).map_err(|_| ReceiptError::Malformed)?;
    let mut seen = std::collections::BTreeSet::new();
    for name in list {
        let Some(name) = name.as_str() else { return malformed("crit lists a non-string") };
        if !seen.insert(name) {
            return malformed("crit lists a member twice");
        }
        if REGISTERED.contains(&name) {
            return malformed("crit lists a registered header parameter");
        }
        if !members.contains_key(name) {
            return malformed("crit lists a member the header does not carry");
        }
    }
    // Only a well-formed list gets this far, so the error says which extension is the problem.
    match seen.into_iter().find(|name| !UNDERSTOOD_CRITICAL.contains(name)) {
        Some(name) => {
            Err(ReceiptError::CriticalHeader(format!("unsupported critical header parameter {name:?}")))
        }
        None => Ok(()),
    }
}

/// Why a receipt could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not three base64url parts, bad JSON, or too long.
    #[error("malformed receipt")]
    Malformed,
    /// The header's `alg` is not `EdDSA` or its `typ` is not [`RECEIPT_TYP`].
    #[error("the receipt is not an EdDSA grant receipt")]
    WrongAlgorithm,
    /// The header's `crit` is malformed or names an extension this verifier does not
    /// understand (RFC 7515 §4.1.11).
    #[error("the receipt's critical header parameters are not accepted: {0}")]
    CriticalHeader(String),
    /// The signature does not verify with the key.
    #[error("the receipt's signature is not valid")]
    BadSignature,
    /// The public key is not an Ed25519 key.
    #[error("invalid Ed25519 public key")]
    InvalidKey,
}

/// The Ed25519 key that signs grant receipts.
pub struct ReceiptSigner {
    key: SigningKey,
    kid: String,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptSigner").field("kid", &self.kid).field("key", &"[redacted]").finish()
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256 of the canonical JWK).
pub fn jwk_thumbprint(public: &[u8; 32]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, URL_SAFE_NO_PAD.encode(public));
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

impl ReceiptSigner {
    /// A fresh key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_key(SigningKey::generate(rng))
    }

    /// From the 32 secret bytes.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| ReceiptError::InvalidKey)?;
        Ok(Self::from_key(SigningKey::from_bytes(&bytes)))
    }

    fn from_key(key: SigningKey) -> Self {
        let kid = jwk_thumbprint(key.verifying_key().as_bytes());
        ReceiptSigner { key, kid }
    }

    /// The 32 secret bytes (store with mode 0600).
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }

    /// The public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The key ID (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (RFC 8037): `{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,
    /// "alg":"EdDSA","use":"sig"}`.
    pub fn public_jwk(&self) -> crate::api::oauth::Jwk {
        crate::api::oauth::Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(self.public_bytes()),
            kid: self.kid.clone(),
            alg: "EdDSA".into(),
            usage: "sig".into(),
        }
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &ReceiptClaims) -> Result<String, serde_json::Error> {
        let header = Header { alg: "EdDSA".into(), typ: RECEIPT_TYP.into(), kid: self.kid.clone() };
        let mut out = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
        let sig = self.key.sign(out.as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        Ok(out)
    }
}

/// Verifies a grant receipt with the visitor IdP's public key (32 bytes, or the `x` of its
/// JWK decoded) and returns its claims.
///
/// # Security
/// Only `alg: EdDSA` with [`RECEIPT_TYP`] is accepted (no `none`, no algorithm confusion);
/// a header with `crit` is refused (RFC 7515 §4.1.11: no critical extension is understood
/// here, and a malformed `crit` makes the JWS invalid); verification is `verify_strict` (no
/// small-order keys, no malleable signatures).
pub fn verify_receipt(jws: &str, public_key: &[u8]) -> Result<ReceiptClaims, ReceiptError> {
    if jws.len() > MAX_RECEIPT_LEN {
        return Err(ReceiptError::Malformed);
    }
    let key: [u8; 32] = public_key.try_into().map_err(|_| ReceiptError::InvalidKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| ReceiptError::InvalidKey)?;
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ReceiptError::Malformed);
    };
    let decode = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| ReceiptError::Malformed);
    let header_json = decode(h)?;
    let header: ReceivedHeader = serde_json::from_slice(&header_json).map_err(|_| ReceiptError::Malformed)?;
    if header.alg != "EdDSA" || header.typ != RECEIPT_TYP {
        return Err(ReceiptError::WrongAlgorithm);
    }
    check_crit(&header_json, header.crit.as_ref())?;
    let sig: [u8; 64] = decode(s)?.try_into().map_err(|_| ReceiptError::Malformed)?;
    let signed_len = h.len() + 1 + p.len();
    let signed = jws.get(..signed_len).ok_or(ReceiptError::Malformed)?;
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| ReceiptError::BadSignature)?;
    serde_json::from_slice(&decode(p)?).map_err(|_| ReceiptError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn claims() -> ReceiptClaims {
        ReceiptClaims {
            iss: "https://visitor.example".into(),
            sub: "bob".into(),
            sid: "_s1".into(),
            idp: "https://home.example".into(),
            assertion_id: "_a1".into(),
            client_id: "shop".into(),
            purposes: vec!["ppurpose:purchase".into(), "purpose:current".into()],
            withheld: vec![],
            iat: 1_795_000_000,
            jti: "r1".into(),
        }
    }

    #[test]
    fn receipt_round_trips_and_refuses_tampering() {
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let signer = ReceiptSigner::generate(rng);
        let jws = signer.sign(&claims()).unwrap();
        assert_eq!(verify_receipt(&jws, &signer.public_bytes()).unwrap(), claims());
        let other = ReceiptSigner::generate(rng);
        assert_eq!(verify_receipt(&jws, &other.public_bytes()), Err(ReceiptError::BadSignature));
        // Any flipped character of header or payload breaks it.
        let (hp, sig) = jws.rsplit_once('.').unwrap();
        let mut forged = claims();
        forged.purposes.push("purpose:contact".into());
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let h = hp.split('.').next().unwrap();
        assert_eq!(
            verify_receipt(&format!("{h}.{forged_payload}.{sig}"), &signer.public_bytes()),
            Err(ReceiptError::BadSignature)
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"idaas-grant-receipt+jwt","kid":"x"}"#);
        let p = hp.split('.').nth(1).unwrap();
        assert_eq!(
            verify_receipt(&format!("{none}.{p}.{sig}"), &signer.public_bytes()),
            Err(ReceiptError::WrongAlgorithm)
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(MAX_RECEIPT_LEN + 1)] {
            assert!(verify_receipt(bad, &signer.public_bytes()).is_err(), "{bad}");
        }
        assert_eq!(verify_receipt(&jws, &[0u8; 31]), Err(ReceiptError::InvalidKey));
        let restored = ReceiptSigner::from_secret_bytes(signer.secret_bytes().as_slice()).unwrap();
        assert_eq!(restored.kid(), signer.kid());
        assert_eq!(signer.public_jwk().kid, signer.kid());
        assert!(!format!("{signer:?}").contains(&URL_SAFE_NO_PAD.encode(signer.secret_bytes().as_slice())));
    }

    /// Signs an arbitrary header over the standard claims, as an attacker holding the key (or
    /// a future producer) could.
    fn sign_with_header(signer: &ReceiptSigner, header: &str) -> String {
        let mut out = URL_SAFE_NO_PAD.encode(header);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap()));
        let sig = signer.key.sign(out.as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        out
    }

    #[test]
    fn receipt_header_crit_is_enforced() {
        let signer = ReceiptSigner::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(4));
        let key = signer.public_bytes();
        let base = r#""alg":"EdDSA","typ":"idaas-grant-receipt+jwt","kid":"k""#;
        // Correctly signed; no crit, or unknown non-critical members: accepted.
        for ok in [format!("{{{base}}}"), format!(r#"{{{base},"x-note":"ignored"}}"#)] {
            assert_eq!(verify_receipt(&sign_with_header(&signer, &ok), &key).unwrap(), claims(), "{ok}");
        }
        // Correctly signed, but crit names an extension we do not understand, or is malformed.
        let refused = [
            (r#","exp-ext":1,"crit":["exp-ext"]"#, "unsupported critical header parameter \"exp-ext\""),
            (r#","b64":false,"crit":["b64"]"#, "unsupported critical header parameter \"b64\""),
            (r#","crit":["missing"]"#, "does not carry"),
            (r#","crit":[]"#, "empty list"),
            (r#","crit":null"#, "not a list"),
            (r#","crit":"exp-ext","exp-ext":1"#, "not a list"),
            (r#","crit":{"exp-ext":true}"#, "not a list"),
            (r#","crit":[1]"#, "non-string"),
            (r#","crit":["alg"]"#, "registered"),
            (r#","crit":["kid"]"#, "registered"),
            (r#","e":1,"crit":["e","e"]"#, "twice"),
        ];
        for (extra, why) in refused {
            let header = format!("{{{base}{extra}}}");
            match verify_receipt(&sign_with_header(&signer, &header), &key) {
                Err(ReceiptError::CriticalHeader(msg)) => assert!(msg.contains(why), "{header}: {msg}"),
                other => panic!("{header}: {other:?}"),
            }
        }
        // A duplicated crit member is malformed JSON for this header, not a bypass.
        let dup = format!(r#"{{{base},"crit":["e"],"e":1,"crit":["e"]}}"#);
        assert_eq!(verify_receipt(&sign_with_header(&signer, &dup), &key), Err(ReceiptError::Malformed));
    }

    #[test]
    fn rfc8037_thumbprint_vector() {
        // RFC 8037 appendix A.3: the thumbprint of the example public key.
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        assert_eq!(jwk_thumbprint(&x.try_into().unwrap()), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn pat_info_is_unambiguous() {
        assert_ne!(pat_info("ab", "c"), pat_info("a", "bc"));
        assert_ne!(pat_info("shop", "s1"), crate::seal::tat_info("shop", "s1"));
    }
}
