//! The token endpoint's logic, free of HTTP (STYLE.md §7.2): parsing the form, client
//! authentication, and the RFC 7522 exchange of a SAML 2.0 bearer assertion for a PAT.
//!
//! # The exchange, step by step
//!
//! 1. `assertion` is base64url (padding optional, nothing else tolerated), at most
//!    `max_assertion_bytes` once decoded, UTF-8.
//! 2. [`federation::verify`] checks the XML signature against the trusted home IdPs and yields
//!    only what it covers.
//! 3. RFC 7522 §3: the audience must name this IdP (its entity ID, or the token endpoint URL);
//!    a bearer `SubjectConfirmation` must have this token endpoint as `Recipient` and a
//!    `NotOnOrAfter`; `IssueInstant`/`NotBefore` must not lie in the future; NameID and
//!    SessionIndex (the linchpin) are required.
//! 4. **Expiry, relaxed on purpose** (the paper's design): the *transaction purposes*
//!    (`transaction_purposes`, default `purpose:current`) are granted only while the
//!    assertion's `Conditions/@NotOnOrAfter`, the bearer confirmation's `NotOnOrAfter` and the
//!    `SessionNotOnOrAfter` have all not passed (each with the clock skew). The other
//!    registered purposes are granted while the assertion is younger than
//!    `max_assertion_age_days` — so an assertion whose `NotOnOrAfter` has passed **is
//!    accepted** for them, unlike RFC 7522 §3 item 4/5 requires. Older → `invalid_grant`.
//! 5. **Who may exchange it:** only the client whose service the assertion was made for (its
//!    `entity_id`, or its client ID, in every `AudienceRestriction`), or a client with an
//!    explicit delegation for that service (`may_exchange_for`: the propagation partner gets
//!    its own PAT, for its own purposes; every such grant is audited with `delegated_for`).
//!    Anyone else: `invalid_grant`.
//! 6. Replay: each client may exchange a given assertion (issuer + ID) **once**; replay
//!    records are kept until the assertion is too old.
//! 7. The PAT (pbe-core keys for `GID(NameID, SessionIndex)` and the granted purposes) is
//!    sealed with HPKE (the suite of the level) for the client's key when one is registered
//!    (`federation::pat::pat_info(client_id, SessionIndex)`), and a signed grant receipt is
//!    made. Replay record, access token and audit entry are written in one transaction.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use federation::pat::{pat_info, PatFields, ReceiptClaims, GRANT_TYPE_SAML2_BEARER};
use federation::verify::{InResponseTo, UnverifiedAssertion, VerifiedAssertion};
use rand_core::{CryptoRng, RngCore};
use service_kit::metrics::timed;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::audit::AuditEntry;
use crate::clients::Client;
use crate::oauth::OAuthError;
use crate::state::AppState;
use crate::store::{AccessToken, GrantRecord, GrantStoreError};

/// Most parameters accepted in one form.
pub const MAX_PARAMS: usize = 16;

/// The form parameters, each present at most once (RFC 6749 §3.2).
#[derive(Default)]
pub struct Params(Vec<(String, Zeroizing<String>)>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(k, _)| k)).finish()
    }
}

impl Params {
    /// Parses `application/x-www-form-urlencoded`; refuses a repeated parameter, an empty
    /// name, invalid UTF-8 and more than [`MAX_PARAMS`] parameters.
    pub fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::InvalidRequest("the body is not UTF-8".into()));
        }
        let mut out: Vec<(String, Zeroizing<String>)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if k.is_empty() {
                continue;
            }
            if out.iter().any(|(name, _)| *name == k) {
                return Err(OAuthError::InvalidRequest(format!(
                    "the parameter '{}' is repeated",
                    excerpt(&k)
                )));
            }
            if out.len() >= MAX_PARAMS {
                return Err(OAuthError::InvalidRequest("too many parameters".into()));
            }
            out.push((k.into_owned(), Zeroizing::new(v.into_owned())));
        }
        Ok(Params(out))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
}

fn excerpt(s: &str) -> String {
    s.chars().take(32).filter(|c| !c.is_control()).collect()
}

/// How the client presented its credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
}

/// Client credentials from the request.
pub struct Credentials {
    /// The claimed client ID.
    pub client_id: String,
    /// The secret.
    pub secret: Zeroizing<String>,
    /// How they were sent.
    pub method: AuthMethod,
}

/// Extracts the client credentials: `Authorization: Basic` *or* the body, never both
/// (RFC 6749 §2.3: one method per request). `Ok(None)` when there are none.
pub fn credentials(authorization: Option<&str>, params: &Params) -> Result<Option<Credentials>, OAuthError> {
    let in_body = params.get("client_secret").is_some();
    if let Some(value) = authorization {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::InvalidClient);
        }
        if in_body {
            return Err(OAuthError::InvalidRequest("use one client authentication method, not both".into()));
        }
        let decoded = STANDARD.decode(rest.trim()).map_err(|_| OAuthError::InvalidClient)?;
        let decoded = Zeroizing::new(String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?);
        let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
        // RFC 6749 §2.3.1: both are form-urlencoded before being joined.
        let id = form_decode(id);
        let secret = Zeroizing::new(form_decode(secret));
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::InvalidRequest("client_id differs from the authenticated client".into()));
        }
        return Ok(Some(Credentials { client_id: id, secret, method: AuthMethod::Basic }));
    }
    match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Ok(Some(Credentials {
            client_id: id.to_owned(),
            secret: Zeroizing::new(secret.to_owned()),
            method: AuthMethod::Post,
        })),
        _ => Ok(None),
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Authenticates a client (blocking: argon2 unless remembered). Unknown clients and wrong
/// secrets look the same, and take the same time: an unknown client ID is verified against a
/// dummy hash with the same argon2 parameters.
pub fn authenticate(state: &AppState, creds: &Credentials) -> Result<Client, OAuthError> {
    let client = state.store.get_client(&creds.client_id)?;
    match client {
        Some(c) if state.secrets.verify(&c, &creds.secret) => Ok(c),
        Some(_) => Err(OAuthError::InvalidClient),
        None => {
            state.secrets.verify_unknown(&creds.secret);
            Err(OAuthError::InvalidClient)
        }
    }
}

/// Whether `client` may exchange `assertion`: its own service is in every
/// `AudienceRestriction` (`Ok(None)`), or one of its `may_exchange_for` delegations is
/// (`Ok(Some(entry))`, to be audited). A delegation naming a registered client ID stands for
/// that client's entity ID.
pub fn exchange_allowed(
    state: &AppState,
    client: &Client,
    assertion: &VerifiedAssertion,
) -> Result<Option<String>, OAuthError> {
    // This IdP's own names are in every audience it accepts: they never identify a service.
    let token_endpoint = state.config.token_endpoint();
    let is_service = |a: &str| a != state.config.entity_id && a != token_endpoint;
    if is_service(client.audience_id()) && assertion.check_audience(&[client.audience_id()]).is_ok() {
        return Ok(None);
    }
    for entry in &client.may_exchange_for {
        let audience = match state.store.get_client(entry)? {
            Some(other) => other.audience_id().to_owned(),
            None => entry.clone(),
        };
        if is_service(&audience) && assertion.check_audience(&[&audience]).is_ok() {
            return Ok(Some(entry.clone()));
        }
    }
    Err(OAuthError::InvalidGrant(
        "the assertion was not issued for this client's service, and no delegation covers it".into(),
    ))
}

/// A successful exchange.
pub struct Grant {
    /// The opaque access token (returned once; stored hashed).
    pub access_token: String,
    /// Its lifetime, seconds.
    pub expires_in: u32,
    /// The granted purposes, space-separated.
    pub scope: String,
    /// PAT and receipt.
    pub fields: PatFields,
}

/// SHA-256 of a bearer token: the only form in which access tokens are stored.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The replay key of (issuer, assertion ID, client): each client may use an assertion once.
pub fn replay_key(issuer: &str, assertion_id: &str, client_id: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"idaas replay v1");
    for p in [issuer, assertion_id, client_id] {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

fn random_token<R: RngCore>(rng: &mut R, n: usize) -> String {
    let mut b = vec![0u8; n];
    rng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn invalid_grant(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::InvalidGrant(e.to_string())
}

/// Decodes and verifies the `assertion` parameter.
pub fn verify_assertion(state: &AppState, assertion_b64: &str) -> Result<VerifiedAssertion, OAuthError> {
    let max = state.config.max_assertion_bytes;
    if assertion_b64.len() > max / 3 * 4 + 8 {
        return Err(OAuthError::InvalidGrant(format!("the assertion is larger than {max} bytes")));
    }
    let xml = URL_SAFE_NO_PAD
        .decode(assertion_b64.trim_end_matches('='))
        .map_err(|_| OAuthError::InvalidGrant("the assertion is not base64url".into()))?;
    let xml = String::from_utf8(xml)
        .map_err(|_| OAuthError::InvalidGrant("the assertion is not UTF-8 XML".into()))?;
    UnverifiedAssertion::parse(&xml, max).and_then(|u| u.verify(&state.trust())).map_err(invalid_grant)
}

/// Exchanges a verified assertion for a PAT for `client` (blocking: key generation). Fills
/// `audit` with what it learns; on success the audit entry is written with the grant.
pub fn exchange<R: RngCore + CryptoRng>(
    state: &AppState,
    client: &Client,
    assertion: &VerifiedAssertion,
    scope: Option<&str>,
    now: i64,
    audit: &mut AuditEntry,
    rng: &mut R,
) -> Result<Grant, OAuthError> {
    let config = &state.config;
    let skew = i64::from(config.clock_skew_seconds);
    let keys = &state.keys;
    let name_id = &assertion.name_id().value;
    audit.idp = Some(assertion.issuer().to_owned());
    audit.subject = Some(keys.audit_hash("sub", &[assertion.issuer(), name_id]));
    audit.assertion = Some(keys.audit_hash("aid", &[assertion.issuer(), assertion.id()]));

    let token_endpoint = config.token_endpoint();
    assertion.check_not_before(now, skew).map_err(invalid_grant)?;
    assertion.check_audience(&[&config.entity_id, &token_endpoint]).map_err(invalid_grant)?;
    // Only the service the assertion was made for, or an explicitly delegated partner, gets a
    // PAT for it: otherwise two services could pool keys for one session (DESIGN.md §5).
    let delegated = exchange_allowed(state, client, assertion)?;
    if let Some(d) = &delegated {
        tracing::info!(client_id = %client.client_id, delegated_for = %d, "delegated exchange");
    }
    audit.delegated_for = delegated;
    let confirmation =
        assertion.bearer_confirmation(&token_endpoint, InResponseTo::Ignore).map_err(invalid_grant)?;
    let session_index = assertion
        .session_index()
        .ok_or_else(|| OAuthError::InvalidGrant("the assertion has no SessionIndex".into()))?;
    audit.session = Some(keys.audit_hash("sid", &[session_index]));
    assertion.check_age(now, config.max_age_seconds()).map_err(invalid_grant)?;
    // The relaxation of RFC 7522's expiry rule (module doc, step 4).
    let transaction_valid = assertion.check_not_expired(now, skew).is_ok()
        && confirmation.check_time(now, skew).is_ok()
        && assertion.check_session(now, skew).is_ok();

    let requested: Vec<String> = match scope {
        None => client.purposes.clone(),
        Some(s) => {
            let mut r: Vec<String> = s.split(' ').filter(|p| !p.is_empty()).map(str::to_owned).collect();
            r.sort();
            r.dedup();
            if let Some(p) = r.iter().find(|p| !client.purposes.contains(p)) {
                return Err(OAuthError::InvalidScope(format!(
                    "the client is not registered for '{}'",
                    excerpt(p)
                )));
            }
            r
        }
    };
    let (granted, withheld): (Vec<String>, Vec<String>) =
        requested.into_iter().partition(|p| transaction_valid || !config.transaction_purposes.contains(p));
    audit.purposes.clone_from(&granted);
    audit.withheld.clone_from(&withheld);
    if granted.is_empty() {
        return Err(OAuthError::InvalidGrant(
            "the SAML session of the assertion has ended, and the client asked only for transaction purposes"
                .into(),
        ));
    }

    let pat = timed("token_pat", || keys.issue_pat(name_id, session_index, &granted, rng))
        .map_err(|e| OAuthError::InvalidGrant(format!("no PAT can be issued for this subject: {e}")))?;
    let (purpose_access_token, pat_sealed) = match &client.pat_public_key {
        Some(pk) => {
            let sealed = timed("token_seal", || {
                federation::seal::seal(
                    federation::seal::SealSuite::for_suite(keys.suite()),
                    pk,
                    &pat_info(&client.client_id, session_index),
                    &pat,
                    rng,
                )
            })
            .map_err(|e| OAuthError::ServerError(format!("sealing the PAT: {e}")))?;
            (sealed, true)
        }
        None => (pbe_core::wire::to_text(&pat), false),
    };
    let jti = random_token(rng, 16);
    let receipt = ReceiptClaims {
        iss: config.entity_id.clone(),
        sub: name_id.clone(),
        sid: session_index.to_owned(),
        idp: assertion.issuer().to_owned(),
        assertion_id: assertion.id().to_owned(),
        client_id: client.client_id.clone(),
        purposes: granted.clone(),
        withheld,
        iat: now,
        jti: jti.clone(),
    };
    let grant_receipt = timed("token_receipt", || keys.receipt().sign(&receipt))
        .map_err(|e| OAuthError::ServerError(format!("signing the receipt: {e}")))?;
    audit.receipt = Some(jti);

    let access_token = random_token(rng, 32);
    let lifetime = config.access_token_lifetime_seconds;
    let token = AccessToken {
        client_id: client.client_id.clone(),
        sub: name_id.clone(),
        idp: assertion.issuer().to_owned(),
        scope: granted.clone(),
        iat: now,
        exp: now.saturating_add(i64::from(lifetime)),
    };
    let mut granted_audit = audit.clone();
    granted_audit.outcome = crate::audit::Outcome::Granted;
    let record = GrantRecord {
        replay_key: replay_key(assertion.issuer(), assertion.id(), &client.client_id),
        replay_until: assertion.issue_instant().saturating_add(config.max_age_seconds()).saturating_add(skew),
        token_hash: token_hash(&access_token),
        token: &token,
        audit: &granted_audit,
    };
    // The grant, its replay key and its audit entry in one durable (fsynced) write.
    timed("token_store", || state.store.record_grant(&record, now)).map_err(|e| match e {
        GrantStoreError::Replayed => {
            OAuthError::InvalidGrant("this client has already exchanged this assertion".into())
        }
        GrantStoreError::Store(s) => s.into(),
    })?;
    Ok(Grant {
        access_token,
        expires_in: lifetime,
        scope: granted.join(" "),
        fields: PatFields {
            purpose_access_token,
            pat_sealed,
            pbe_suite: keys.suite().name().to_owned(),
            pbe_authority: keys.authority_name().to_owned(),
            grant_receipt,
        },
    })
}

/// Checks the `grant_type` parameter.
pub fn check_grant_type(params: &Params) -> Result<(), OAuthError> {
    match params.get("grant_type") {
        None => Err(OAuthError::InvalidRequest("the grant_type parameter is missing".into())),
        Some(GRANT_TYPE_SAML2_BEARER) => Ok(()),
        Some(_) => Err(OAuthError::UnsupportedGrantType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing_refuses_repeats_and_reads_credentials() {
        assert!(matches!(Params::parse(b"a=1&a=2"), Err(OAuthError::InvalidRequest(_))));
        assert!(Params::parse(b"a=%FF").is_ok(), "lossy percent-decoding of a value is not an error");
        assert!(matches!(Params::parse(&[0xff, b'=']), Err(OAuthError::InvalidRequest(_))));
        let p = Params::parse(b"client_id=shop&client_secret=s%20x&empty=").unwrap();
        assert_eq!(p.get("empty"), None);
        let c = credentials(None, &p).unwrap().unwrap();
        assert_eq!((c.client_id.as_str(), c.secret.as_str(), c.method), ("shop", "s x", AuthMethod::Post));
        // Basic: id and secret are form-encoded, then joined and base64-encoded.
        let basic = format!("Basic {}", STANDARD.encode("sh%3Aop:p%2Bw+d"));
        let c = credentials(Some(&basic), &Params::default()).unwrap().unwrap();
        assert_eq!(
            (c.client_id.as_str(), c.secret.as_str(), c.method),
            ("sh:op", "p+w d", AuthMethod::Basic)
        );
        assert!(matches!(credentials(Some(&basic), &p), Err(OAuthError::InvalidRequest(_))), "two methods");
        assert!(matches!(credentials(Some("Bearer x"), &Params::default()), Err(OAuthError::InvalidClient)));
        assert!(matches!(credentials(Some("Basic !!!"), &Params::default()), Err(OAuthError::InvalidClient)));
        assert!(credentials(None, &Params::parse(b"client_id=shop").unwrap()).unwrap().is_none());
        assert_ne!(replay_key("a", "b", "c"), replay_key("a", "bc", ""));
    }
}
