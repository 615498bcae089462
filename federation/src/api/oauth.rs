//! The OAuth-side bodies: what the visitor IdP's discovery, JWKS and introspection endpoints
//! write, the RFC 6749 §5.2 error body (written by the visitor IdP and by the agent's
//! propagation endpoints), and the agent's caller key. The token response itself is read by
//! the agent with the `oauth2` crate's standard types plus [`crate::pat::PatFields`], so a
//! third-party client shapes what we write there.
//!
//! Answers are tolerant of unknown fields, as the module above says.

use serde::{Deserialize, Serialize};

/// An RFC 6749 §5.2 error body: `{"error": …, "error_description": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    /// The error code (`invalid_grant`, `invalid_client`, …).
    pub error: String,
    /// What went wrong, for people (never an internal cause).
    pub error_description: String,
}

/// RFC 8414 authorization server metadata of the visitor IdP, with the idaas extensions
/// (`saml2_entity_id`, `pbe_*`, `transaction_purposes`, `max_assertion_age_days`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// The issuer (the visitor IdP's public URL).
    pub issuer: String,
    /// The token endpoint (RFC 7522 grant).
    pub token_endpoint: String,
    /// The RFC 7662 introspection endpoint.
    pub introspection_endpoint: String,
    /// The JWK set with the grant-receipt key.
    pub jwks_uri: String,
    /// `urn:ietf:params:oauth:grant-type:saml2-bearer` only.
    pub grant_types_supported: Vec<String>,
    /// `["none"]`: there is no authorization endpoint (RFC 8414 requires a non-empty array).
    pub response_types_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication methods at the introspection endpoint.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// The visitor IdP's SAML entity ID (the audience assertions must name).
    pub saml2_entity_id: String,
    /// The ABE authority name of this IdP.
    pub pbe_authority: String,
    /// The pairing suite.
    pub pbe_suite: String,
    /// Where the authority public key is served.
    pub pbe_authority_endpoint: String,
    /// The purposes granted only for one transaction.
    pub transaction_purposes: Vec<String>,
    /// The oldest assertion (days) a grant accepts.
    pub max_assertion_age_days: u32,
}

/// One Ed25519 public key as a JWK (RFC 8037), with its RFC 7638 thumbprint as `kid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, unpadded base64url.
    pub x: String,
    /// The key ID.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub usage: String,
}

/// A JWK set (`/.well-known/jwks.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// The details of an active token in an [`Introspection`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveToken {
    /// The client the token was issued to.
    pub client_id: String,
    /// The granted purposes, space-separated.
    pub scope: String,
    /// `Bearer`.
    pub token_type: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// The subject (the assertion's NameID).
    pub sub: String,
    /// The visitor IdP.
    pub iss: String,
    /// The home IdP that signed the assertion.
    pub idp: String,
}

/// An RFC 7662 introspection answer: `{"active": false}` or `active: true` with the details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is active for the asking client.
    pub active: bool,
    /// Present exactly when `active`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub token: Option<ActiveToken>,
}

impl Introspection {
    /// `{"active": false}`: unknown, expired, or another client's token.
    pub fn inactive() -> Self {
        Introspection { active: false, token: None }
    }

    /// An active token.
    pub fn active(token: ActiveToken) -> Self {
        Introspection { active: true, token: Some(token) }
    }
}

/// `GET /.idaas/caller-key` at a web agent: the Ed25519 key its propagation calls are signed
/// with, to be pinned by partners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerKey {
    /// The agent's SAML entity ID.
    pub entity_id: String,
    /// The public key, unpadded base64url.
    pub public_key: String,
    /// `Ed25519`.
    pub alg: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn introspection_is_flat_and_inactive_is_one_field() {
        assert_eq!(serde_json::to_string(&Introspection::inactive()).unwrap(), r#"{"active":false}"#);
        let t = ActiveToken {
            client_id: "c".into(),
            scope: "purchase delivery".into(),
            token_type: "Bearer".into(),
            exp: 2,
            iat: 1,
            sub: "bob".into(),
            iss: "v".into(),
            idp: "h".into(),
        };
        let v = serde_json::to_value(Introspection::active(t.clone())).unwrap();
        assert_eq!(v["active"], true);
        assert_eq!(v["sub"], "bob");
        let back: Introspection = serde_json::from_value(v).unwrap();
        assert_eq!(back, Introspection::active(t));
        let inactive: Introspection = serde_json::from_str(r#"{"active":false,"later":1}"#).unwrap();
        assert_eq!(inactive, Introspection::inactive());
    }

    #[test]
    fn jwk_writes_use_not_usage() {
        let k = Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: "AA".into(),
            kid: "k".into(),
            alg: "EdDSA".into(),
            usage: "sig".into(),
        };
        let text = serde_json::to_string(&Jwks { keys: vec![k.clone()] }).unwrap();
        assert!(text.contains(r#""use":"sig""#), "{text}");
        assert_eq!(serde_json::from_str::<Jwks>(&text).unwrap().keys, vec![k]);
        let e = OAuthErrorBody { error: "invalid_grant".into(), error_description: "d".into() };
        assert_eq!(serde_json::from_str::<OAuthErrorBody>(&serde_json::to_string(&e).unwrap()).unwrap(), e);
    }
}
