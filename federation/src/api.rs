//! The JSON bodies that cross between parties (issue 13, item 2): one serde type per body,
//! used by the handler that writes it and by the client that reads it, so the two ends cannot
//! drift apart (no `json!` literals, no `Value` indexing on these paths).
//!
//! **Strictness rule** (also in `docs/architecture.md`): a body a service *receives* as a
//! request is strict, `deny_unknown_fields` and every required field present, because a
//! misspelt field there is a client error the client must hear about (a silently ignored
//! `pasword` would be worse). A body a party *reads from a peer* as an answer is tolerant of
//! unknown fields, so a peer may add fields without breaking older readers; the fields the
//! reader needs are still required (no `#[serde(default)]` on them), so a missing one is an
//! error naming it.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub mod oauth;

/// A [`Secret`] serializes as `[redacted]` so that it cannot leak into logs or answers by
/// accident; the one place its value must go on the wire is a request that carries it.
fn send_secret<S: serde::Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

fn send_opt_secret<S: serde::Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose()),
        None => s.serialize_none(),
    }
}

/// The content type of [`Problem`] documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error document (RFC 9457 style), written by every JSON API of the services and read by
/// the CLI and the data-owner client. Tolerant: read from a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URN naming the class, e.g. `urn:idaas:problem:invalid-input`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed title of the class.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong with this request (never a secret).
    pub detail: String,
}

impl Problem {
    /// The problem document of class `slug` (`urn:idaas:problem:<slug>`).
    pub fn new(slug: &str, title: &str, status: u16, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:idaas:problem:{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
        }
    }
}

/// `GET /pbe/authority` at the home and visitor IdPs: the IdP's own ABE authority. Tolerant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityKey {
    /// The pairing suite's name (`bls12-381`, …).
    pub suite: String,
    /// The authority name.
    pub authority: String,
    /// The authority public key, wire text form.
    pub public_key: String,
}

/// One entry of [`Authorities`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityEntry {
    /// The authority name.
    pub authority: String,
    /// The authority public key, wire text form.
    pub public_key: String,
    /// Whether this is the answering IdP's own authority.
    pub own: bool,
}

/// `GET /pbe/authorities` at the home IdP: every authority of the federation. Tolerant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorities {
    /// The pairing suite's name.
    pub suite: String,
    /// The authorities, the IdP's own marked `own`.
    pub authorities: Vec<AuthorityEntry>,
}

impl Authorities {
    /// The answering IdP's own authority, if exactly one is marked.
    pub fn own(&self) -> Option<&AuthorityEntry> {
        let mut own = self.authorities.iter().filter(|a| a.own);
        match (own.next(), own.next()) {
            (Some(a), None) => Some(a),
            _ => None,
        }
    }
}

/// `POST /api/users` at the home IdP. Strict: received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The wanted user id.
    pub uid: String,
    /// The e-mail address the verification link goes to.
    pub email: String,
    /// The password (never logged; written in clear only into this request body).
    #[serde(serialize_with = "send_secret")]
    pub password: Secret,
}

/// The answer to [`RegisterRequest`] (201). Tolerant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The normalized user id.
    pub uid: String,
    /// The e-mail address.
    pub email: String,
    /// Always `false` here: the link must be opened first.
    pub verified: bool,
    /// What to do next, for people.
    pub message: String,
}

/// The answer of `GET /api/users/verify`. Tolerant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The user id.
    pub uid: String,
    /// `true`.
    pub verified: bool,
}

/// `POST /api/token` at the home IdP. Strict: received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The user id.
    pub uid: String,
    /// The password (never logged; written in clear only into this request body).
    #[serde(serialize_with = "send_secret")]
    pub password: Secret,
}

/// The answer to [`TokenRequest`]: a data-owner API bearer token. Tolerant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The bearer token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// `POST /api/upload-token` at the home IdP (issue 20): a fresh authentication for the
/// short-lived token that uploading or deleting PII needs. Strict: received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadTokenRequest {
    /// The user id.
    pub uid: String,
    /// The password (never logged; written in clear only into this request body).
    #[serde(serialize_with = "send_secret")]
    pub password: Secret,
    /// A code from the user's authenticator app, or a recovery code: required when the user
    /// has a confirmed authenticator.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "send_opt_secret")]
    pub code: Option<Secret>,
}

/// The answer to [`UploadTokenRequest`]. Tolerant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadToken {
    /// The bearer token (for `PUT`/`DELETE /api/pii/…`, and reads of one's own data).
    pub token: String,
    /// When it expires, RFC 3339 (UTC).
    pub expires_at: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for UploadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The problem type (slug) the home IdP answers a write with a long-lived API token.
pub const PROBLEM_UPLOAD_TOKEN_REQUIRED: &str = "upload-token-required";
/// The problem type (slug) of `POST /api/upload-token` without the code a user with an
/// authenticator must give.
pub const PROBLEM_SECOND_FACTOR_REQUIRED: &str = "second-factor-required";

/// One stored PII attribute as the vault describes it (`PUT /api/pii/{name}` answers one,
/// `GET /api/pii` a list): never the ciphertext itself. Tolerant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiSummary {
    /// The attribute name.
    pub attribute: String,
    /// The ciphertext's policy, canonical text.
    pub policy: String,
    /// The authorities the policy names.
    pub authorities: Vec<String>,
    /// The ciphertext size, bytes.
    pub size: usize,
    /// When it was stored (RFC 3339).
    pub updated: String,
}

/// A registered service as a signed-in person may see it (`GET /api/services` at the home
/// IdP, the same list the account page shows): what its keys would carry after a sign-in, so
/// the data owner's wallet can tell which services could open a value. Tolerant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummary {
    /// Its display name (or entity ID).
    pub name: String,
    /// Its domain (visitor authority); `None` for a plain SAML service, which opens nothing.
    #[serde(default)]
    pub domain: Option<String>,
    /// Its country, when it has a domain.
    #[serde(default)]
    pub country: Option<String>,
    /// Its registered purposes, `name:value`.
    #[serde(default)]
    pub purposes: Vec<String>,
}

/// `POST /pbe/pii/fetch` at the home IdP (`crate::pii`): a web agent asks for the
/// ciphertexts of one assertion. Strict: received by the home IdP. Every field but `names` is
/// one the reference's MAC covers, so a reference moved to another user, SP, session or
/// assertion fails the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiFetchRequest {
    /// The assertion's `idaas:pii-ref` claim.
    #[serde(rename = "ref")]
    pub pii_ref: String,
    /// The assertion's NameID.
    pub uid: String,
    /// The SP's entity ID (the assertion's audience; the seal goes to its registered key).
    pub sp: String,
    /// The assertion's SessionIndex.
    pub session_index: String,
    /// The assertion's ID.
    pub assertion_id: String,
    /// The attribute names wanted (the assertion's `pii:` names), at most `claims::MAX_PII`.
    pub names: Vec<String>,
}

/// The answer to [`PiiFetchRequest`]. Tolerant: read from a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiFetchResponse {
    /// The pairing suite of the ciphertexts (canonical name).
    pub suite: String,
    /// The bundle (`crate::pii::encode_bundle`), HPKE-sealed to the SP under
    /// `crate::pii::pii_info`, text form.
    pub sealed: String,
}

/// `GET /healthz` of every service. Tolerant. The visitor IdP adds its count of requests
/// refused before client authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Visitor IdP only: requests refused before client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_unauthenticated: Option<u64>,
}

impl Health {
    /// `{"status": "ok"}`.
    pub fn ok() -> Self {
        Health { status: "ok".into(), refused_unauthenticated: None }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::de::DeserializeOwned;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
        let text = serde_json::to_string(v).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), v, "{text}");
    }

    /// Adds a field to the JSON of `v`, and removes `required`: the reader's answer to each.
    fn with_extra<T: Serialize>(v: &T) -> String {
        let mut m = serde_json::to_value(v).unwrap();
        m.as_object_mut().unwrap().insert("added_later".into(), serde_json::json!(1));
        m.to_string()
    }

    fn without<T: Serialize>(v: &T, field: &str) -> String {
        let mut m = serde_json::to_value(v).unwrap();
        assert!(m.as_object_mut().unwrap().remove(field).is_some(), "{field}");
        m.to_string()
    }

    #[test]
    fn answers_round_trip_tolerate_new_fields_and_need_theirs() {
        let problem = Problem::new("invalid-input", "Invalid input", 400, "uid must be …");
        assert_eq!(problem.kind, "urn:idaas:problem:invalid-input");
        let key =
            AuthorityKey { suite: "bls12-381".into(), authority: "telekom".into(), public_key: "AAA".into() };
        let all = Authorities {
            suite: "bls12-381".into(),
            authorities: vec![
                AuthorityEntry { authority: "amazon".into(), public_key: "BBB".into(), own: false },
                AuthorityEntry { authority: "telekom".into(), public_key: "AAA".into(), own: true },
            ],
        };
        let registered =
            Registered { uid: "bob".into(), email: "b@e.org".into(), verified: false, message: "m".into() };
        let verified = Verified { uid: "bob".into(), verified: true };
        let token = ApiToken { access_token: "t".into(), token_type: "Bearer".into(), expires_in: 900 };
        let pii = PiiSummary {
            attribute: "lastname".into(),
            policy: "a:b@c".into(),
            authorities: vec!["c".into()],
            size: 10,
            updated: "2026-12-01T00:00:00Z".into(),
        };
        macro_rules! check {
            ($v:expr, $ty:ty, $required:expr) => {{
                round_trip(&$v);
                assert_eq!(serde_json::from_str::<$ty>(&with_extra(&$v)).unwrap(), $v);
                for f in $required {
                    let err = serde_json::from_str::<$ty>(&without(&$v, f)).unwrap_err().to_string();
                    assert!(err.contains(&format!("missing field `{f}`")), "{err}");
                }
            }};
        }
        check!(problem, Problem, ["type", "title", "status", "detail"]);
        check!(key, AuthorityKey, ["suite", "authority", "public_key"]);
        check!(all, Authorities, ["suite", "authorities"]);
        check!(registered, Registered, ["uid", "email", "verified", "message"]);
        check!(verified, Verified, ["uid", "verified"]);
        check!(token, ApiToken, ["access_token", "token_type", "expires_in"]);
        check!(pii, PiiSummary, ["attribute", "policy", "authorities", "size", "updated"]);
        let fetched = PiiFetchResponse { suite: "bls12-381".into(), sealed: "SURTTA".into() };
        check!(fetched, PiiFetchResponse, ["suite", "sealed"]);
        check!(Health::ok(), Health, ["status"]);
        assert_eq!(serde_json::to_string(&Health::ok()).unwrap(), r#"{"status":"ok"}"#);
        assert_eq!(all.own().unwrap().authority, "telekom");
        assert!(!format!("{token:?}").contains("\"t\""));
    }

    #[test]
    fn only_one_own_authority_counts() {
        let e = |own| AuthorityEntry { authority: "x".into(), public_key: "k".into(), own };
        let none = Authorities { suite: "s".into(), authorities: vec![e(false)] };
        let two = Authorities { suite: "s".into(), authorities: vec![e(true), e(true)] };
        assert!(none.own().is_none() && two.own().is_none());
    }

    #[test]
    fn requests_are_strict() {
        let reg = RegisterRequest { uid: "bob".into(), email: "b@e.org".into(), password: Secret::new("pw") };
        let tok = TokenRequest { uid: "bob".into(), password: Secret::new("pw") };
        round_trip(&reg);
        round_trip(&tok);
        // The password really goes on the wire (a `Secret` alone would write `[redacted]`).
        assert!(serde_json::to_string(&tok).unwrap().contains(r#""password":"pw""#));
        let unknown = |e: serde_json::Error| e.to_string().contains("unknown field `added_later`");
        assert!(unknown(serde_json::from_str::<RegisterRequest>(&with_extra(&reg)).unwrap_err()));
        assert!(unknown(serde_json::from_str::<TokenRequest>(&with_extra(&tok)).unwrap_err()));
        for f in ["uid", "email", "password"] {
            let err = serde_json::from_str::<RegisterRequest>(&without(&reg, f)).unwrap_err();
            assert!(err.to_string().contains(&format!("missing field `{f}`")), "{err}");
        }
        for f in ["uid", "password"] {
            let err = serde_json::from_str::<TokenRequest>(&without(&tok, f)).unwrap_err();
            assert!(err.to_string().contains(&format!("missing field `{f}`")), "{err}");
        }
        // A misspelt field is refused, not ignored.
        let err = serde_json::from_str::<TokenRequest>(r#"{"uid":"bob","pasword":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("pasword"), "{err}");
        let fetch = PiiFetchRequest {
            pii_ref: "r".into(),
            uid: "bob".into(),
            sp: "sp".into(),
            session_index: "s".into(),
            assertion_id: "a".into(),
            names: vec!["lastname".into()],
        };
        round_trip(&fetch);
        assert!(serde_json::to_string(&fetch).unwrap().contains(r#""ref":"r""#), "the wire name is `ref`");
        assert!(unknown(serde_json::from_str::<PiiFetchRequest>(&with_extra(&fetch)).unwrap_err()));
        for f in ["ref", "uid", "sp", "session_index", "assertion_id", "names"] {
            let err = serde_json::from_str::<PiiFetchRequest>(&without(&fetch, f)).unwrap_err();
            assert!(err.to_string().contains(&format!("missing field `{f}`")), "{err}");
        }
    }
}
