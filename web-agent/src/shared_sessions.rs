//! Agent sessions shared by the instances of one agent (issue 17), so that a load balancer
//! needs no sticky sessions.
//!
//! With `store_url = "postgres://…"` every session also has a row in
//! `idaas_agent_<entity>.sessions` holding only what was safe on the wire: the verified claims
//! (user, groups, NameID, SessionIndex, expiry, the backend handle), the TAT still sealed to
//! this agent, the PAT as the visitor IdP sent it (sealed to this agent when it seals), the PII
//! ciphertexts that matched their signed digests, and — for identity propagation — the signed
//! assertion and its PII reference. **No decrypted PII and no opened key is ever written.**
//! The row is keyed by the SHA-256 of the cookie (never the cookie), and its record carries a
//! MAC under a key derived from `signin.key` (a row written by someone with the database but
//! without the agent's key files is refused).
//!
//! An instance that meets a cookie it does not know loads the row, unseals and decrypts once
//! ([`crate::unlock::reopen`]) and keeps the plaintext in its own memory only, in the same
//! bounded, zeroizing table as before ([`crate::session::Sessions`]). Every later request at
//! any instance checks that the row is still there and unexpired (one indexed `SELECT` by
//! primary key): sign-out, a LogoutRequest from the IdP, or expiry delete the row, and the
//! session ends at every instance at its next request. A database that cannot be read ends
//! the request's session there (refusing rather than trusting a copy that may be signed out).
//!
//! Without a PostgreSQL `store_url` the sessions are in this process's memory, as before.

use std::sync::Arc;

use service_kit::pg::{Cached, PgError};

use crate::session::{key, random_token, subject_key, Propagation, Session};
use crate::shared::{or_refuse, Shared};
use crate::state::AppState;
use crate::unlock::Wire;

/// A session as its row stores it (versioned).
#[derive(serde::Serialize, serde::Deserialize)]
enum Stored {
    V1(Record),
}

/// The claims and the still-sealed material of one session.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    user: String,
    groups: Vec<String>,
    name_id: String,
    session_index: String,
    expires: i64,
    handle: String,
    /// PBE services: the sealed TAT, the PAT as received, the ciphertexts.
    wire: Option<Wire>,
    /// Identity propagation: the signed assertion, its ID, the PII reference and names.
    propagation: Option<(String, String, String, Vec<String>)>,
    /// Owners' approvals of sensitive paths, as `"<until> <prefix>"` (absent in older rows).
    #[serde(default)]
    approvals: Vec<String>,
}

/// The digest of a NameID in the `name_id` column (a LogoutRequest without SessionIndex
/// ends all of the NameID's sessions).
fn name_id_key(name_id: &str) -> Vec<u8> {
    crate::shared::row_key("name_id", &[name_id])
}

/// One row, as read.
struct Row {
    key: Vec<u8>,
    record: Vec<u8>,
    mac: Vec<u8>,
}

impl Shared {
    fn put_session(
        &self,
        row: Row,
        handle: Vec<u8>,
        subject: Vec<u8>,
        name_id: Vec<u8>,
        expires: i64,
    ) -> Result<(), PgError> {
        let sql = format!(
            "INSERT INTO {}.sessions (key, handle, subject, name_id, record, mac, expires)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.schema
        );
        self.pool.run(move |c| async move {
            c.execute_cached(&sql, &[&row.key, &handle, &subject, &name_id, &row.record, &row.mac, &expires])
                .await?;
            Ok(())
        })
    }

    /// The live row whose `column` is `value`.
    fn session_row(&self, column: &'static str, value: Vec<u8>, now: i64) -> Result<Option<Row>, PgError> {
        let sql = format!(
            "SELECT key, record, mac FROM {}.sessions WHERE {column} = $1 AND expires > $2",
            self.schema
        );
        self.pool.run(move |c| async move {
            let Some(r) = c.query_opt_cached(&sql, &[&value, &now]).await? else { return Ok(None) };
            Ok(Some(Row { key: r.try_get(0)?, record: r.try_get(1)?, mac: r.try_get(2)? }))
        })
    }

    /// Whether the session stored under `key` is still live (not signed out, not expired).
    pub fn session_live(&self, key: &[u8; 32], now: i64) -> Result<bool, PgError> {
        let sql = format!("SELECT 1 FROM {}.sessions WHERE key = $1 AND expires > $2", self.schema);
        let key = key.to_vec();
        self.pool.run(move |c| async move { Ok(c.query_opt_cached(&sql, &[&key, &now]).await?.is_some()) })
    }

    /// Deletes the rows whose `column` is one of `values`; returns how many.
    fn delete_sessions(&self, column: &'static str, values: Vec<Vec<u8>>) -> Result<u64, PgError> {
        let sql = format!("DELETE FROM {}.sessions WHERE {column} = ANY($1)", self.schema);
        self.pool.run(move |c| async move { Ok(c.execute_cached(&sql, &[&values]).await?) })
    }
}

impl AppState {
    /// Stores a new session and returns its cookie value: in this process's table and, when
    /// the state is shared, as a row every instance can read (written first: a session the
    /// others cannot see is not handed out).
    pub fn create_session(&self, mut session: Session, wire: Option<Wire>) -> Result<String, PgError> {
        let now = self.clock.now();
        let Some(shared) = &self.shared else { return Ok(self.sessions.create(session, now)) };
        let cookie = random_token();
        session.handle = random_token();
        let k = key(&cookie);
        let propagation = session.propagation.as_ref().map(|p| {
            (p.assertion_xml.clone(), p.assertion_id.clone(), p.pii_ref.clone(), p.pii_names.clone())
        });
        let record = Stored::V1(Record {
            user: session.user.clone(),
            groups: session.groups.clone(),
            name_id: session.name_id.clone(),
            session_index: session.session_index.clone(),
            expires: session.expires,
            handle: session.handle.clone(),
            wire,
            propagation,
            approvals: session.approvals.iter().map(federation::approvals::Approval::to_value).collect(),
        });
        let record = serde_json::to_vec(&record).map_err(|e| PgError::Pool(e.to_string()))?;
        let mac = self.signin.record_mac(&k, &record);
        shared.put_session(
            Row { key: k.to_vec(), record, mac },
            key(&session.handle).to_vec(),
            subject_key(&session.name_id, &session.session_index).to_vec(),
            name_id_key(&session.name_id),
            session.expires,
        )?;
        self.sessions.adopt(k, session, now);
        Ok(cookie)
    }

    /// The live session of the cookie `cookie`: this process's copy while its row is live at
    /// the shared database, or the row rebuilt here (once) when this instance has none.
    pub async fn session(&self, cookie: &str) -> Option<Arc<Session>> {
        let now = self.clock.now();
        let local = self.sessions.get(cookie, now);
        let Some(shared) = self.shared.clone() else { return local };
        let k = key(cookie);
        if let Some(s) = local {
            return self.still_live(&shared, &k, s, now);
        }
        let row = or_refuse(shared.session_row("key", k.to_vec(), now), None)?;
        self.rebuild(row, now).await
    }

    /// The live session whose backend handle is `handle` (`X-Idaas-Session`), at any
    /// instance when the state is shared.
    pub async fn session_by_handle(&self, handle: &str) -> Option<Arc<Session>> {
        let now = self.clock.now();
        let local = self.sessions.by_handle_keyed(handle, now);
        let Some(shared) = self.shared.clone() else { return local.map(|(_, s)| s) };
        if let Some((k, s)) = local {
            return self.still_live(&shared, &k, s, now);
        }
        let row = or_refuse(shared.session_row("handle", key(handle).to_vec(), now), None)?;
        self.rebuild(row, now).await
    }

    /// `s` if its row is still live (checked at most every `session_check_seconds`);
    /// otherwise it is ended here too.
    fn still_live(&self, shared: &Shared, k: &[u8; 32], s: Arc<Session>, now: i64) -> Option<Arc<Session>> {
        let window = i64::from(self.config.session_check_seconds);
        if window > 0 && self.sessions.checked_at(k).is_some_and(|at| now >= at && now - at < window) {
            return Some(s);
        }
        if or_refuse(shared.session_live(k, now), false) {
            self.sessions.mark_checked(k, now);
            Some(s)
        } else {
            self.sessions.end_keyed(k);
            None
        }
    }

    /// Ends the session of `cookie` here and at every instance.
    pub fn end_session(&self, cookie: &str) {
        self.sessions.end(cookie);
        if let Some(shared) = &self.shared {
            or_refuse(shared.delete_sessions("key", vec![key(cookie).to_vec()]).map(|_| ()), ());
        }
    }

    /// Ends the sessions of `name_id` with one of `session_indexes` (all of them when the
    /// list is empty) here and at every instance; returns how many.
    pub fn end_sessions_by_subject(&self, name_id: &str, session_indexes: &[String]) -> usize {
        let here = self.sessions.end_by_subject(name_id, session_indexes);
        let Some(shared) = &self.shared else { return here };
        let deleted = if session_indexes.is_empty() {
            shared.delete_sessions("name_id", vec![name_id_key(name_id)])
        } else {
            let subjects = session_indexes.iter().map(|i| subject_key(name_id, i).to_vec()).collect();
            shared.delete_sessions("subject", subjects)
        };
        usize::try_from(or_refuse(deleted, 0)).unwrap_or(usize::MAX).max(here)
    }

    /// A session rebuilt from its row: the MAC checked, the TAT and PAT unsealed and the
    /// ciphertexts decrypted here, as the instance that ran the ACS did.
    async fn rebuild(&self, row: Row, now: i64) -> Option<Arc<Session>> {
        let k: [u8; 32] = row.key.as_slice().try_into().ok()?;
        if !self.signin.check_record_mac(&k, &row.record, &row.mac) {
            tracing::warn!("a shared session record whose MAC does not verify was refused");
            return None;
        }
        let Ok(Stored::V1(r)) = serde_json::from_slice::<Stored>(&row.record) else {
            tracing::warn!("an unreadable shared session record was refused");
            return None;
        };
        let (opened, tat) = match (&r.wire, &self.config.visitor) {
            (Some(wire), Some(visitor)) => {
                let tat_info = federation::seal::tat_info(&self.config.entity_id, &r.session_index);
                let pat_info = federation::pat::pat_info(&visitor.client_id, &r.session_index);
                let reopened = crate::unlock::reopen(
                    &self.key,
                    wire,
                    &r.name_id,
                    &r.session_index,
                    &tat_info,
                    &pat_info,
                )
                .await;
                match reopened {
                    Ok((opened, tat)) => (opened, Some(tat)),
                    Err(e) => {
                        tracing::warn!(error = %e, "a shared session's keys did not open here");
                        return None;
                    }
                }
            }
            (Some(_), None) => return None,
            (None, _) => Default::default(),
        };
        let propagation = match (r.propagation, tat) {
            (Some((xml, id, pii_ref, names)), Some(tat)) => {
                Some(Propagation::new(xml, id, tat.to_vec(), pii_ref, names))
            }
            _ => None,
        };
        let session = Session {
            user: r.user,
            groups: r.groups,
            pii: opened.values,
            name_id: r.name_id,
            session_index: r.session_index,
            expires: r.expires,
            closed: opened.closed,
            missing: opened.missing,
            approvals: crate::approval::from_values(&r.approvals),
            handle: r.handle,
            propagation,
        };
        tracing::debug!("a session signed in at another instance was opened here");
        Some(self.sessions.adopt(k, session, now))
    }
}
