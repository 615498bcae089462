//! The home IdP's records, independent of how they are stored.
//!
//! Stored values are versioned enums (`Stored*::V1`) so the on-disk format can evolve
//! (STYLE.md §3.3); these are the in-memory shapes the handlers use.

use federation::assertion::SignedParts;
use serde::{Deserialize, Serialize};

/// A user account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// The user id (lower-case `[a-z0-9_.-]+`, ≤ 64 bytes). Also the SAML persistent NameID.
    pub uid: String,
    /// E-mail address (verified before sign-in is allowed).
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the e-mail address was verified.
    pub verified: bool,
    /// Group names (plain SAML attribute `groups`, used by the web agent's RBAC).
    pub groups: Vec<String>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// The second factor and its policy (issue 20); absent in older records.
    #[serde(default, skip_serializing_if = "AccountSecurity::is_empty")]
    pub security: AccountSecurity,
    /// Access to sensitive paths that a group's owner approved (issue 20): the assertions for
    /// the SP concerned carry them until they expire. Absent in older records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<AccessGrant>,
}

/// An approved access request, as the requester's record keeps it: the SP's assertions say
/// "`prefix` approved until `until`" (`federation::assertion::ATTR_APPROVED_ACCESS`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessGrant {
    /// The request it answers ([`AccessRequest::id`]).
    pub request: String,
    /// The SP's entity ID.
    pub sp: String,
    /// The path prefix at that SP (as its agent's `[[access.rules]]` names it).
    pub prefix: String,
    /// Unix seconds after which it no longer counts.
    pub until: i64,
}

/// Where an access request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Waiting for an owner of the group.
    Pending,
    /// An owner approved it: the grant runs until [`AccessRequest::until`].
    Approved,
    /// An owner refused it.
    Refused,
    /// An owner (or the requester) withdrew it, or the requester's record went.
    Withdrawn,
}

impl RequestStatus {
    /// The word people see.
    pub fn name(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Refused => "refused",
            RequestStatus::Withdrawn => "withdrawn",
        }
    }
}

/// A person's request to use a sensitive path of an SP, decided by an owner of a group
/// (issue 20). The record is also its audit trail: who asked, who decided, when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessRequest {
    /// Random identifier (32 hex digits).
    pub id: String,
    /// Who asks.
    pub uid: String,
    /// The SP's entity ID.
    pub sp: String,
    /// The path prefix at that SP.
    pub prefix: String,
    /// The group whose owners decide.
    pub group: String,
    /// How long an approval lasts, seconds.
    pub valid_for: i64,
    /// When it was asked, Unix seconds.
    pub created: i64,
    /// Where it stands.
    pub status: RequestStatus,
    /// The owner who decided (or withdrew) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    /// For an approval: until when it counts, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// Whether a user's sign-ins ask for a second factor (`mfa = off | optional | required`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Never asked, even with an enrolled factor; an SP requiring MFA is refused.
    Off,
    /// Asked once the user has enrolled a factor (the default).
    #[default]
    Optional,
    /// Always asked: without an enrolled factor the user can sign in only to the account
    /// pages, to enrol one.
    Required,
}

/// A user's second factor and its policy.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountSecurity {
    /// The policy.
    #[serde(default)]
    pub mfa: MfaPolicy,
    /// The TOTP factor, from the start of its enrolment on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpFactor>,
    /// Registered passkeys (WebAuthn), at most `service::passkeys::MAX_PER_USER`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passkeys: Vec<PasskeyCredential>,
    /// The WebAuthn user handle (a random UUID), from the first passkey registration on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn_handle: Option<String>,
}

/// A registered passkey (issue 20): public key material only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PasskeyCredential {
    /// The credential id, base64url.
    pub id: String,
    /// The name the person gave it.
    pub name: String,
    /// Registration time, Unix seconds.
    pub created: i64,
    /// Last successful use, Unix seconds (0: never).
    #[serde(default)]
    pub last_used: i64,
    /// webauthn-rs's `Passkey` (public key, signature counter, flags), as JSON.
    pub credential: serde_json::Value,
}

impl AccountSecurity {
    /// Nothing set (the record of an older version).
    pub fn is_empty(&self) -> bool {
        self.mfa == MfaPolicy::Optional
            && self.totp.is_none()
            && self.passkeys.is_empty()
            && self.webauthn_handle.is_none()
    }
}

/// An RFC 6238 authenticator (HMAC-SHA-1, 6 digits, 30-second steps).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TotpFactor {
    /// The shared secret, base64url without padding (20 random bytes).
    pub secret: String,
    /// Whether the user proved, with a code, that their authenticator holds it; an
    /// unconfirmed factor is never asked for at sign-in.
    pub confirmed: bool,
    /// When the enrolment started, Unix seconds.
    pub created: i64,
    /// The last time step whose code was accepted: that step and earlier ones are refused
    /// (replay).
    #[serde(default)]
    pub last_step: u64,
    /// SHA-256 (hex) of each unused recovery code; a used one is removed.
    #[serde(default)]
    pub recovery: Vec<String>,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("secret", &"[redacted]")
            .field("confirmed", &self.confirmed)
            .field("recovery_left", &self.recovery.len())
            .finish_non_exhaustive()
    }
}

/// A browser the user signed in from (issue 20): the device cookie names it, and a sign-in
/// from a device not in the user's list asks for the second factor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KnownDevice {
    /// The random id the device cookie carries (base64url, 22 characters).
    pub id: String,
    /// The first sign-in from it, Unix seconds.
    pub first_seen: i64,
    /// The last sign-in from it, Unix seconds.
    pub last_seen: i64,
    /// The browser, as its `User-Agent` summarised (truncated, printable ASCII).
    pub agent: String,
    /// The client address of the last sign-in.
    pub address: String,
}

/// A registered service provider.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceProvider {
    /// SAML entity ID (the AuthnRequest issuer).
    pub entity_id: String,
    /// The name people see (sign-in form, account page); [`ServiceProvider::shown_name`]
    /// falls back to the host of the first ACS URL.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The purposes this SP is registered for at its visitor IdP (`purpose:current`,
    /// `ppurpose:purchase`, …), as the account page shows them: what it could read is
    /// computed from them. Display only: the PAT its visitor IdP issues is what counts.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Registered assertion consumer service URLs; the first is the default.
    pub acs_urls: Vec<String>,
    /// PEM certificate whose key signs this SP's AuthnRequests (optional: unsigned requests
    /// are accepted when absent, since the ACS URL comes from this registration anyway).
    #[serde(default)]
    pub authn_request_cert_pem: Option<String>,
    /// The PBE part; `None` for a plain SAML 2.0 service (no TAT, no PII ciphertexts).
    #[serde(default)]
    pub pbe: Option<PbeBinding>,
    /// The plain user attributes released to this SP ([`RELEASABLE`]); `["groups"]` unless
    /// registered otherwise. The e-mail address goes only to an SP registered for it.
    #[serde(default = "default_release")]
    pub release: Vec<String>,
    /// Under which names `groups` and `email` are released (standard URIs unless registered
    /// for the short names).
    #[serde(default)]
    pub attribute_names: AttributeNames,
    /// Which parts of the Response are signed as registered; `None`:
    /// [`ServiceProvider::signed_parts`] decides by the kind of SP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignedParts>,
    /// Whether the SP's AuthnRequests must be signed with `authn_request_cert_pem` (default
    /// true). False for an SP that registers a certificate only for single logout: its
    /// unsigned AuthnRequests are accepted (the ACS URL comes from the registration anyway).
    #[serde(default = "default_true")]
    pub authn_requests_signed: bool,
    /// Where and how this SP takes Single Logout messages; `None`: it takes part in no single
    /// logout (the IdP cannot sign it out, and reports `PartialLogout` when it should have).
    #[serde(default)]
    pub slo: Option<SloConfig>,
    /// Whether people are asked before their first sign-in to this SP (and whenever what it
    /// could read changes); `None`: [`ServiceProvider::consent_required`] decides by what it
    /// gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentMode>,
    /// Whether every sign-in to this SP needs a second factor (issue 20); the assertion then
    /// states the MFA authentication context.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
}

/// Whether an SP's sign-ins need the person's consent (`consent = "required" | "implied"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentMode {
    /// The IdP shows what the SP will be able to read and asks Allow / Deny, once per set of
    /// readable attributes.
    Required,
    /// Signing in is consent (an SP of the person's own organisation, an automated demo).
    Implied,
}

/// A person's consent to one SP reading a set of attributes (the account page lists them, a
/// POST there revokes one).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Consent {
    /// The SP's entity ID.
    pub sp: String,
    /// What it could read when the person allowed it: plain attributes (`groups`, `email`)
    /// and the names of the PII values it could open (no values).
    pub attributes: Vec<String>,
    /// The fingerprint of that set (`service::consent::fingerprint`): a sign-in whose set has
    /// another fingerprint asks again.
    pub fingerprint: String,
    /// When it was given, Unix seconds.
    pub granted: i64,
    /// The person pressed **Deny** for this set: sign-ins to the SP withhold personal data
    /// without asking again, until the set changes or the answer is withdrawn on the account
    /// page. Absent (false) in an Allow's record, so those read and write as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
}

/// An SP's Single Logout endpoint (SAML profiles §4.4).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Where LogoutRequests (and, without `response_url`, LogoutResponses) go.
    pub url: String,
    /// `"redirect"` (default, HTTP-Redirect) or `"post"` (HTTP-POST).
    #[serde(default)]
    pub binding: SloBinding,
    /// Where LogoutResponses go, when not to `url`.
    #[serde(default)]
    pub response_url: Option<String>,
}

/// The binding of an SP's SLO endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SloBinding {
    /// HTTP-Redirect: DEFLATE + base64 in the query, a signed query string.
    #[default]
    Redirect,
    /// HTTP-POST: an auto-posted form, an enveloped XML signature.
    Post,
}

impl SloBinding {
    /// As the shared binding type.
    pub fn binding(self) -> federation::binding::Binding {
        match self {
            SloBinding::Redirect => federation::binding::Binding::Redirect,
            SloBinding::Post => federation::binding::Binding::Post,
        }
    }
}

/// The names the plain attributes are released under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeNames {
    /// `urn:oid:1.3.6.1.4.1.5923.1.5.1.1` (isMemberOf) and `urn:oid:0.9.2342.19200300.100.1.3`
    /// (mail), NameFormat uri, with FriendlyNames: what SP libraries map out of the box.
    #[default]
    Standard,
    /// `groups` and `email`, NameFormat basic (this project's names before 2026-12).
    Short,
}

/// The plain (unencrypted) user attributes an SP can be registered to receive.
pub const RELEASABLE: [&str; 2] = ["groups", "email"];

/// Serde default of flags that are on unless a registration says otherwise.
pub fn default_true() -> bool {
    true
}

/// What an SP receives when its registration says nothing: its users' groups only.
pub fn default_release() -> Vec<String> {
    vec!["groups".to_owned()]
}

impl ServiceProvider {
    /// The name people see: `display_name`, else the host of the first ACS URL, else the
    /// entity ID.
    pub fn shown_name(&self) -> String {
        if let Some(n) = self.display_name.as_deref().filter(|n| !n.trim().is_empty()) {
            return n.to_owned();
        }
        self.acs_urls
            .first()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.entity_id.clone())
    }

    /// Whether sign-ins to this SP need consent: as registered, else required for an SP that
    /// gets personal data (PII ciphertexts as a PBE service, or the e-mail address) and
    /// implied for the others.
    pub fn consent_required(&self) -> bool {
        match self.consent {
            Some(mode) => mode == ConsentMode::Required,
            None => self.pbe.is_some() || self.releases("email"),
        }
    }

    /// Which parts of the Response are signed: as registered, else only the Assertion for a
    /// PBE service and both for the others. A PBE service's agent verifies the Assertion's
    /// signature and nothing outside it, and the visitor IdP receives the bare Assertion
    /// (RFC 7522), so a Response signature would cost one more RSA signature per sign-in
    /// (≈ 1.5 ms with the XML work, docs/performance.md) that nobody checks. SAML's Web
    /// Browser SSO profile accepts either a signed Response or signed Assertions for the POST
    /// binding. A generic SAML SP library often insists on a signed Response: `both` for those.
    pub fn signed_parts(&self) -> SignedParts {
        self.sign.unwrap_or(if self.pbe.is_some() { SignedParts::Assertion } else { SignedParts::Both })
    }

    /// Whether the plain attribute `name` is released to this SP.
    pub fn releases(&self, name: &str) -> bool {
        self.release.iter().any(|r| r == name)
    }
}

/// What makes a service provider part of the purpose-based-encryption federation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PbeBinding {
    /// HPKE public key for sealing the TAT, unpadded base64url, of the kind of the IdP's suite
    /// (X25519, 32 bytes, at 128 bits; P-384 at 192; P-521 at 256).
    pub tat_public_key: String,
    /// The visitor IdP's SAML entity ID (added to the assertion's audience).
    pub visitor_entity_id: String,
    /// The visitor IdP's token endpoint (a second bearer SubjectConfirmation's Recipient).
    pub visitor_token_endpoint: String,
    /// The `domain` attribute value of this service (= its visitor IdP's authority name).
    pub domain: String,
    /// The `country` attribute value of this service.
    pub country: String,
}

/// One stored PII ciphertext of a user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PiiRecord {
    /// The PII attribute name (`[a-z0-9_.-]+`, ≤ 64 bytes), e.g. `lastname`.
    pub attribute: String,
    /// The pbe-core ciphertext, binary.
    pub ciphertext: Vec<u8>,
    /// Canonical policy text (copied from the ciphertext for listing).
    pub policy: String,
    /// Authorities the policy names.
    pub authorities: Vec<String>,
    /// Last update, Unix seconds.
    pub updated: i64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stored_sps_without_slo_keep_loading_and_slo_defaults_to_redirect() {
        let old = r#"{"entity_id":"https://sp","acs_urls":["https://sp/acs"]}"#;
        let sp: ServiceProvider = serde_json::from_str(old).unwrap();
        assert_eq!(sp.slo, None);
        let with =
            r#"{"entity_id":"https://sp","acs_urls":["https://sp/acs"],"slo":{"url":"https://sp/slo"}}"#;
        let sp: ServiceProvider = serde_json::from_str(with).unwrap();
        assert_eq!(sp.slo.as_ref().unwrap().binding, SloBinding::Redirect);
        let post = r#"{"url":"https://sp/slo","binding":"post","response_url":"https://sp/done"}"#;
        let slo: SloConfig = serde_json::from_str(post).unwrap();
        assert_eq!(slo.binding, SloBinding::Post);
        assert!(serde_json::from_str::<SloConfig>(r#"{"url":"x","binding":"soap"}"#).is_err());
        assert!(serde_json::from_str::<SloConfig>(r#"{"url":"x","extra":1}"#).is_err());
        let mut bad = sp.clone();
        bad.slo =
            Some(SloConfig { url: "ftp://sp/slo".into(), binding: SloBinding::Redirect, response_url: None });
        let err = crate::config::validate_service_provider(&bad, pbe_core::SuiteId::Bls12_381).unwrap_err();
        assert_eq!(err.0, "slo.url");
        bad.slo = Some(SloConfig {
            url: "https://sp/slo".into(),
            binding: SloBinding::Post,
            response_url: Some("nope".into()),
        });
        let err = crate::config::validate_service_provider(&bad, pbe_core::SuiteId::Bls12_381).unwrap_err();
        assert_eq!(err.0, "slo.response_url");
    }
}
