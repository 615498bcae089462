//! The append-only audit log: one entry for every grant and every refusal of an
//! *authenticated* client at the token endpoint, and for every change to the client registry.
//! Requests refused before the client authenticated are only counted in memory
//! ([`crate::AppState::refused_unauthenticated`], shown by `/healthz`): anonymous traffic must
//! not be able to grow the database.
//!
//! No PII and no secrets: the subject (NameID), the SAML SessionIndex and the assertion ID are
//! recorded only as keyed hashes ([`crate::keys::Keys::audit_hash`], key in `data_dir`), so the
//! log alone cannot be linked to a person, while an operator holding the key can still answer
//! "what was granted for this subject?" (`GET /admin/audit?subject=…&idp=…`). Client IDs, the
//! home IdP's entity ID, purposes, error codes and the grant receipt's ID are recorded in clear.
//! Nothing from a refused, unverified assertion is recorded except its size.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A PAT was issued.
    Granted,
    /// A token request was refused.
    Refused,
    /// A client was created or replaced through the admin API or the configuration.
    ClientStored,
    /// A client was deleted through the admin API.
    ClientDeleted,
}

/// One audit entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub time: i64,
    /// What happened.
    pub outcome: Outcome,
    /// The client (authenticated, or as claimed when authentication failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether the client authenticated.
    #[serde(default)]
    pub client_authenticated: bool,
    /// The RFC 6749 error code of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why (a fixed text, never input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The home IdP that issued a verified assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// Keyed hash of (IdP, NameID) of a verified assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Keyed hash of the SessionIndex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Keyed hash of (IdP, assertion ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<String>,
    /// Purposes granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<String>,
    /// Registered purposes withheld (transaction purposes after the session ended).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<String>,
    /// The grant receipt's `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// A delegated exchange: the `may_exchange_for` entry under which the client exchanged an
    /// assertion made for another service (absent when the audience names the client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_for: Option<String>,
}

impl AuditEntry {
    /// An entry with only time and outcome.
    pub fn new(time: i64, outcome: Outcome) -> Self {
        AuditEntry {
            time,
            outcome,
            client_id: None,
            client_authenticated: false,
            error: None,
            reason: None,
            idp: None,
            subject: None,
            session: None,
            assertion: None,
            purposes: Vec::new(),
            withheld: Vec::new(),
            receipt: None,
            delegated_for: None,
        }
    }
}
