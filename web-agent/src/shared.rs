//! What several instances of one agent must share when they run behind a load balancer
//! without sticky sessions (issue 17): the answered AuthnRequest IDs, the assertion-ID replay
//! cache, the propagation nonces, the exchanged PATs and the sessions
//! ([`crate::shared_sessions`]). With `store_url = "postgres://…"`
//! they live in the schema `idaas_agent_<entity>` ([`Config::schema`](crate::config::Config::schema));
//! otherwise in this process's memory, bounded, as before.
//!
//! Nothing decrypted is stored: the replay tables hold SHA-256 digests of (kind, issuer or
//! caller, ID) and an expiry; a cached PAT is the visitor IdP's user key for this service's
//! purposes, exactly as the visitor sent it over the wire, and it opens nothing without the
//! TAT (which is never stored). Rows carry their expiry and are deleted by the sweep that
//! runs every minute ([`Shared::purge`]).

use std::sync::Arc;

use service_kit::pg::{migrate, Cached, MigrateError, PgError, PgPool, PgUrl};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Migration `i` takes the schema from version `i` to `i + 1` (`{schema}` is the agent's).
pub const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE {schema}.seen (
        key BYTEA PRIMARY KEY,
        until BIGINT NOT NULL
    );
    CREATE INDEX seen_until ON {schema}.seen (until);
    CREATE TABLE {schema}.pats (
        key BYTEA PRIMARY KEY,
        pat BYTEA NOT NULL,
        until BIGINT NOT NULL
    );
    CREATE INDEX pats_until ON {schema}.pats (until);
",
    "
    CREATE TABLE {schema}.sessions (
        key BYTEA PRIMARY KEY,
        handle BYTEA NOT NULL UNIQUE,
        subject BYTEA NOT NULL,
        name_id BYTEA NOT NULL,
        record BYTEA NOT NULL,
        mac BYTEA NOT NULL,
        expires BIGINT NOT NULL
    );
    CREATE INDEX sessions_subject ON {schema}.sessions (subject);
    CREATE INDEX sessions_name_id ON {schema}.sessions (name_id);
    CREATE INDEX sessions_expires ON {schema}.sessions (expires);
",
];

/// Which replay cache an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An AuthnRequest ID answered by a response (or a LogoutRequest/Response ID).
    Answered,
    /// A (issuer, assertion ID) accepted at the ACS.
    Assertion,
    /// A (caller, nonce) of a propagated call.
    Nonce,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Answered => "answered",
            Kind::Assertion => "assertion",
            Kind::Nonce => "nonce",
        }
    }
}

/// The digest a row is keyed by: no ID, nonce or issuer is stored in the clear.
pub fn row_key(label: &str, parts: &[&str]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_vec()
}

/// The PostgreSQL schema of the agent whose entity ID is `entity_id`.
pub fn schema_for(entity_id: &str) -> String {
    let mut name: String = entity_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    name.truncate(40);
    let digest = hex::encode(&Sha256::digest(entity_id.as_bytes())[..5]);
    format!("idaas_agent_{name}_{digest}")
}

/// The shared tables of one agent.
#[derive(Debug)]
pub struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) schema: String,
}

impl Shared {
    /// Connects to `url`, applies the migrations of `schema` and refuses a newer schema.
    pub fn open(url: &PgUrl, schema: &str) -> Result<Shared, MigrateError> {
        let pool = PgPool::connect_ephemeral(url)?;
        migrate(&pool, schema, MIGRATIONS)?;
        Ok(Shared { pool, schema: schema.to_owned() })
    }

    /// Records (`kind`, `parts`) until `until`; false if it is recorded and not expired (one
    /// statement: of two instances recording one ID at once, exactly one gets true).
    pub fn once(&self, kind: Kind, parts: &[&str], until: i64, now: i64) -> Result<bool, PgError> {
        let key = row_key(kind.label(), parts);
        let sql = format!(
            "INSERT INTO {s}.seen (key, until) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until WHERE {s}.seen.until <= $3",
            s = self.schema
        );
        self.pool.run(move |c| async move { Ok(c.execute_cached(&sql, &[&key, &until, &now]).await? == 1) })
    }

    /// The PAT cached for (`issuer`, `assertion_id`), if not expired.
    pub fn pat(
        &self,
        issuer: &str,
        assertion_id: &str,
        now: i64,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, PgError> {
        let key = row_key("pat", &[issuer, assertion_id]);
        let sql = format!("SELECT pat FROM {}.pats WHERE key = $1 AND until > $2", self.schema);
        self.pool.run(move |c| async move {
            let row = c.query_opt_cached(&sql, &[&key, &now]).await?;
            Ok(row.map(|r| r.try_get::<_, Vec<u8>>(0)).transpose()?.map(Zeroizing::new))
        })
    }

    /// Caches `pat` for (`issuer`, `assertion_id`) until `until`.
    pub fn remember_pat(
        &self,
        issuer: &str,
        assertion_id: &str,
        pat: &[u8],
        until: i64,
    ) -> Result<(), PgError> {
        let key = row_key("pat", &[issuer, assertion_id]);
        let pat = Zeroizing::new(pat.to_vec());
        let sql = format!(
            "INSERT INTO {}.pats (key, pat, until) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET pat = EXCLUDED.pat, until = EXCLUDED.until",
            self.schema
        );
        self.pool.run(move |c| async move {
            c.execute_cached(&sql, &[&key, &pat.as_slice(), &until]).await?;
            Ok(())
        })
    }

    /// Deletes the expired rows; returns how many.
    pub fn purge(&self, now: i64) -> Result<u64, PgError> {
        let s = self.schema.clone();
        self.pool.run(move |c| async move {
            let a = c.execute_cached(&format!("DELETE FROM {s}.seen WHERE until <= $1"), &[&now]).await?;
            let b = c.execute_cached(&format!("DELETE FROM {s}.pats WHERE until <= $1"), &[&now]).await?;
            let d =
                c.execute_cached(&format!("DELETE FROM {s}.sessions WHERE expires <= $1"), &[&now]).await?;
            Ok(a.saturating_add(b).saturating_add(d))
        })
    }
}

/// Applies the migrations of the schema of the agent whose entity ID is `entity_id` (what the
/// agent does at start; `idaas migrate --agent`); returns the schema and its version.
pub fn migrate_agent(url: &PgUrl, entity_id: &str) -> Result<(String, i32), MigrateError> {
    let schema = schema_for(entity_id);
    let pool = PgPool::connect(url)?;
    let version = migrate(&pool, &schema, MIGRATIONS)?;
    Ok((schema, version))
}

/// Runs a shared-table step; a database failure is logged and answered with `refuse` (a
/// replay cache that cannot be read refuses rather than forgets).
pub fn or_refuse<T>(r: Result<T, PgError>, refuse: T) -> T {
    r.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "agent shared state");
        refuse
    })
}

/// Opens the shared tables `config` names, if any.
pub fn open(config: &crate::config::Config) -> Result<Option<Arc<Shared>>, crate::state::StartError> {
    match config.shared_store()? {
        None => Ok(None),
        Some(url) => Ok(Some(Arc::new(
            Shared::open(&url, &config.schema())
                .map_err(|e| crate::state::StartError::Store(e.to_string()))?,
        ))),
    }
}

impl crate::state::AppState {
    /// Records that the request `id` (pending until `until`) is answered; false if it was
    /// answered before — at any instance when the state is shared
    /// ([`crate::session::Sessions::answer_once`] otherwise).
    pub fn answer_once(&self, id: &str, until: i64, now: i64) -> bool {
        match &self.shared {
            Some(s) => or_refuse(s.once(Kind::Answered, &[id], until, now), false),
            None => self.sessions.answer_once(id, until, now),
        }
    }

    /// The assertion-ID replay check of the ACS: records the assertion's (issuer, ID) until
    /// its replay horizon, refusing one seen before — at any instance when the state is
    /// shared.
    pub fn check_replay(
        &self,
        assertion: &federation::verify::VerifiedAssertion,
        now: i64,
        skew: i64,
    ) -> Result<(), federation::verify::ValidationError> {
        let Some(s) = &self.shared else {
            return self.replay.check_and_record(assertion, now, skew);
        };
        let parts = [assertion.issuer(), assertion.id()];
        if or_refuse(s.once(Kind::Assertion, &parts, assertion.replay_horizon(skew), now), false) {
            Ok(())
        } else {
            Err(federation::verify::ValidationError::Replayed)
        }
    }
}
