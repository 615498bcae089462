//! The PostgreSQL implementation of [`Store`], in schema `idaas_home` (issue 17).
//!
//! Tables mirror the sled trees: a key column and a `value` column holding the very JSON text
//! the sled store writes (`StoredUser::V1`, …), so both backends share one versioned record
//! format and a record that does not decode is [`StoreError::Corrupt`] in both. Text keys use
//! the `"C"` collation, so lists come back in byte order as sled returns them; token tables
//! also carry `expires` as a column so that the purge is one `DELETE`. The two operations that
//! run a caller's closure (`update_user`, `delete_user_if`) read, run it here, and write only
//! if the row still holds the value read (compare-and-swap in SQL, retried on conflict), like
//! the sled store: see `service_kit::pg` for why no closure goes to the pool's threads. Every
//! statement is committed (durably: synchronous commit is left on) before a method returns.

use service_kit::pg::{migrate, Cached, PgError, PgPool, PgUrl};

use super::{
    decode, encode, pii_from_stored, pii_to_stored, sp_from, user_from, ApiToken, Store, StoreError,
    StoredApiToken, StoredSp, StoredUser, StoredVerification, Verification, API_TOKENS, PII, VERIFICATIONS,
};
use crate::model::{PiiRecord, ServiceProvider, User};

/// The PostgreSQL schema of the home IdP.
pub const SCHEMA: &str = "idaas_home";

/// Migration `i` takes the schema from version `i` to `i + 1`. Never edit a released one: add.
/// 0: users, SPs, PII, tokens; 1: consents (issue 18); 2: throttles; 3: IdP sessions (issue 17);
/// 4: single-logout chains; 5: the second-factor flag of IdP sessions (issue 20; the TOTP
/// factor itself is part of the user record); 6: upload tokens (issue 20); 7: group owners and
/// access requests (issue 20); 8: known devices (issue 20).
pub const MIGRATIONS: &[&str] = &[
    V1,
    CONSENTS,
    service_kit::throttle::pg::TABLE_SQL,
    crate::sso_sessions::pg::TABLES_SQL,
    crate::slo_chains::TABLES_SQL,
    crate::sso_sessions::pg::MFA_SQL,
    super::upload_tokens::TABLE_SQL,
    super::access::TABLES_SQL,
    super::devices::TABLE_SQL,
];

/// Version 1: the persistent records.
const V1: &str = "
    CREATE TABLE idaas_home.users (
        uid TEXT COLLATE \"C\" PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE idaas_home.service_providers (
        entity_id TEXT COLLATE \"C\" PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE idaas_home.pii (
        uid TEXT COLLATE \"C\" NOT NULL,
        attribute TEXT COLLATE \"C\" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (uid, attribute)
    );
    CREATE TABLE idaas_home.api_tokens (
        hash BYTEA PRIMARY KEY,
        expires BIGINT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE TABLE idaas_home.verifications (
        hash BYTEA PRIMARY KEY,
        expires BIGINT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX api_tokens_expires ON idaas_home.api_tokens (expires);
    CREATE INDEX verifications_expires ON idaas_home.verifications (expires);
";

/// Version 2: consents (issue 18).
const CONSENTS: &str = "
    CREATE TABLE idaas_home.consents (
        uid TEXT COLLATE \"C\" NOT NULL,
        sp TEXT COLLATE \"C\" NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (uid, sp)
    );
";

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug)]
pub struct PgStore {
    pub(super) pool: std::sync::Arc<PgPool>,
    /// Connections for the state shared between instances (see [`Store::pg_pool`]).
    shared_state: std::sync::Arc<PgPool>,
}

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    // serde_json writes UTF-8 (and escapes NUL), which is what a TEXT column takes.
    String::from_utf8(bytes).map_err(|e| StoreError::Encode(e.to_string()))
}

impl PgStore {
    /// Connects, applies the migrations this database has not seen, and refuses a schema newer
    /// than this build's.
    pub fn open(url: &PgUrl) -> Result<PgStore, StoreError> {
        let pool = PgPool::connect(url)?;
        migrate(&pool, SCHEMA, MIGRATIONS)?;
        let shared_state = PgPool::connect_ephemeral(url)?;
        Ok(PgStore { pool: std::sync::Arc::new(pool), shared_state: std::sync::Arc::new(shared_state) })
    }

    /// Applies the migrations only (`idaas migrate`); returns the version now in force.
    pub fn migrate(url: &PgUrl) -> Result<i32, StoreError> {
        let pool = PgPool::connect(url)?;
        Ok(migrate(&pool, SCHEMA, MIGRATIONS)?)
    }

    fn exec(&self, sql: &'static str, key: String) -> Result<u64, StoreError> {
        Ok(self
            .pool
            .run(move |c| async move { c.execute_cached(sql, &[&key]).await.map_err(PgError::from) })?)
    }

    fn one_value(&self, sql: &'static str, key: String) -> Result<Option<String>, StoreError> {
        Ok(self.pool.run(move |c| async move {
            let row = c.query_opt_cached(sql, &[&key]).await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?)
    }

    fn values(&self, sql: &'static str, key: Option<String>) -> Result<Vec<String>, StoreError> {
        Ok(self.pool.run(move |c| async move {
            let rows = match key {
                Some(k) => c.query_cached(sql, &[&k]).await?,
                None => c.query_cached(sql, &[]).await?,
            };
            rows.iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PgError::from)
        })?)
    }

    /// Deletes the user row if it still holds `old` (or unconditionally), with their PII, in
    /// one transaction; `true` if the row was deleted.
    fn delete_user_where(&self, uid: &str, old: Option<String>) -> Result<bool, StoreError> {
        let uid = uid.to_owned();
        Ok(self.pool.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let n = match &old {
                Some(old) => {
                    tx.execute_cached(
                        "DELETE FROM idaas_home.users WHERE uid = $1 AND value = $2",
                        &[&uid, old],
                    )
                    .await?
                }
                None => tx.execute_cached("DELETE FROM idaas_home.users WHERE uid = $1", &[&uid]).await?,
            };
            if old.is_some() && n == 0 {
                return Ok(false);
            }
            tx.execute_cached("DELETE FROM idaas_home.pii WHERE uid = $1", &[&uid]).await?;
            tx.execute_cached("DELETE FROM idaas_home.consents WHERE uid = $1", &[&uid]).await?;
            tx.execute_cached("DELETE FROM idaas_home.access_requests WHERE uid = $1", &[&uid]).await?;
            tx.execute_cached("DELETE FROM idaas_home.devices WHERE uid = $1", &[&uid]).await?;
            tx.commit().await?;
            Ok::<_, PgError>(n > 0)
        })?)
    }

    fn put_token(
        &self,
        sql: &'static str,
        hash: &[u8; 32],
        expires: i64,
        value: String,
    ) -> Result<(), StoreError> {
        let hash = hash.to_vec();
        self.pool.run(move |c| async move {
            c.execute_cached(sql, &[&hash, &expires, &value]).await.map_err(PgError::from)
        })?;
        Ok(())
    }
}

impl Store for PgStore {
    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        super::check_key(&user.uid)?;
        let value = text(encode(&StoredUser::V1(user.clone()))?)?;
        let uid = user.uid.clone();
        let n = self.pool.run(move |c| async move {
            c.execute_cached(
                "INSERT INTO idaas_home.users (uid, value) VALUES ($1, $2) ON CONFLICT (uid) DO NOTHING",
                &[&uid, &value],
            )
            .await
            .map_err(PgError::from)
        })?;
        if n == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    fn get_user(&self, uid: &str) -> Result<Option<User>, StoreError> {
        if super::unstorable(uid) {
            return Ok(None);
        }
        self.one_value("SELECT value FROM idaas_home.users WHERE uid = $1", uid.to_owned())?
            .map(|v| user_from(v.as_bytes()))
            .transpose()
    }

    fn put_user(&self, user: &User) -> Result<(), StoreError> {
        super::check_key(&user.uid)?;
        let value = text(encode(&StoredUser::V1(user.clone()))?)?;
        let uid = user.uid.clone();
        self.pool.run(move |c| async move {
            c.execute_cached(
                "INSERT INTO idaas_home.users (uid, value) VALUES ($1, $2)
                 ON CONFLICT (uid) DO UPDATE SET value = EXCLUDED.value",
                &[&uid, &value],
            )
            .await
            .map_err(PgError::from)
        })?;
        Ok(())
    }

    fn update_user(&self, uid: &str, f: &mut dyn FnMut(&mut User)) -> Result<Option<User>, StoreError> {
        if super::unstorable(uid) {
            return Ok(None);
        }
        loop {
            let Some(old) =
                self.one_value("SELECT value FROM idaas_home.users WHERE uid = $1", uid.to_owned())?
            else {
                return Ok(None);
            };
            let mut user = user_from(old.as_bytes())?;
            f(&mut user);
            let new = text(encode(&StoredUser::V1(user.clone()))?)?;
            let key = uid.to_owned();
            // Written only if nobody changed the row since it was read; else read again.
            let n = self.pool.run(move |c| async move {
                c.execute_cached(
                    "UPDATE idaas_home.users SET value = $3 WHERE uid = $1 AND value = $2",
                    &[&key, &old, &new],
                )
                .await
                .map_err(PgError::from)
            })?;
            if n == 1 {
                return Ok(Some(user));
            }
        }
    }

    fn delete_user(&self, uid: &str) -> Result<bool, StoreError> {
        if super::unstorable(uid) {
            return Ok(false);
        }
        self.delete_user_where(uid, None)
    }

    fn delete_user_if(&self, uid: &str, pred: &dyn Fn(&User) -> bool) -> Result<bool, StoreError> {
        if super::unstorable(uid) {
            return Ok(false);
        }
        let Some(old) =
            self.one_value("SELECT value FROM idaas_home.users WHERE uid = $1", uid.to_owned())?
        else {
            return Ok(false);
        };
        if !pred(&user_from(old.as_bytes())?) {
            return Ok(false);
        }
        // Only if the record is still exactly the one judged (not verified meanwhile).
        self.delete_user_where(uid, Some(old))
    }

    fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.values("SELECT value FROM idaas_home.users ORDER BY uid", None)?
            .iter()
            .map(|v| user_from(v.as_bytes()))
            .collect()
    }

    fn put_sp(&self, sp: &ServiceProvider) -> Result<bool, StoreError> {
        super::check_key(&sp.entity_id)?;
        let value = text(encode(&StoredSp::V1(sp.clone()))?)?;
        Ok(self.pool.upsert(
            "INSERT INTO idaas_home.service_providers (entity_id, value) VALUES ($1, $2)
             ON CONFLICT (entity_id) DO UPDATE SET value = EXCLUDED.value
             RETURNING (xmax = 0)",
            vec![sp.entity_id.clone(), value],
        )?)
    }

    fn get_sp(&self, entity_id: &str) -> Result<Option<ServiceProvider>, StoreError> {
        if super::unstorable(entity_id) {
            return Ok(None);
        }
        self.one_value(
            "SELECT value FROM idaas_home.service_providers WHERE entity_id = $1",
            entity_id.to_owned(),
        )?
        .map(|v| sp_from(v.as_bytes()))
        .transpose()
    }

    fn list_sps(&self) -> Result<Vec<ServiceProvider>, StoreError> {
        self.values("SELECT value FROM idaas_home.service_providers ORDER BY entity_id", None)?
            .iter()
            .map(|v| sp_from(v.as_bytes()))
            .collect()
    }

    fn delete_sp(&self, entity_id: &str) -> Result<bool, StoreError> {
        if super::unstorable(entity_id) {
            return Ok(false);
        }
        Ok(self
            .exec("DELETE FROM idaas_home.service_providers WHERE entity_id = $1", entity_id.to_owned())?
            > 0)
    }

    fn put_pii(&self, uid: &str, record: &PiiRecord) -> Result<bool, StoreError> {
        super::check_key(uid)?;
        super::check_key(&record.attribute)?;
        let value = text(encode(&pii_to_stored(record))?)?;
        Ok(self.pool.upsert(
            "INSERT INTO idaas_home.pii (uid, attribute, value) VALUES ($1, $2, $3)
             ON CONFLICT (uid, attribute) DO UPDATE SET value = EXCLUDED.value
             RETURNING (xmax = 0)",
            vec![uid.to_owned(), record.attribute.clone(), value],
        )?)
    }

    fn get_pii(&self, uid: &str, attribute: &str) -> Result<Option<PiiRecord>, StoreError> {
        if super::unstorable(uid) || super::unstorable(attribute) {
            return Ok(None);
        }
        let (uid, attribute) = (uid.to_owned(), attribute.to_owned());
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached(
                    "SELECT value FROM idaas_home.pii WHERE uid = $1 AND attribute = $2",
                    &[&uid, &attribute],
                )
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        v.map(|v| pii_from_stored(decode(PII, v.as_bytes())?)).transpose()
    }

    fn list_pii(&self, uid: &str) -> Result<Vec<PiiRecord>, StoreError> {
        if super::unstorable(uid) {
            return Ok(Vec::new());
        }
        self.values(
            "SELECT value FROM idaas_home.pii WHERE uid = $1 ORDER BY attribute",
            Some(uid.to_owned()),
        )?
        .iter()
        .map(|v| pii_from_stored(decode(PII, v.as_bytes())?))
        .collect()
    }

    fn delete_pii(&self, uid: &str, attribute: &str) -> Result<bool, StoreError> {
        if super::unstorable(uid) || super::unstorable(attribute) {
            return Ok(false);
        }
        let (uid, attribute) = (uid.to_owned(), attribute.to_owned());
        let n = self.pool.run(move |c| async move {
            c.execute_cached(
                "DELETE FROM idaas_home.pii WHERE uid = $1 AND attribute = $2",
                &[&uid, &attribute],
            )
            .await
            .map_err(PgError::from)
        })?;
        Ok(n > 0)
    }

    fn put_api_token(&self, hash: &[u8; 32], token: &ApiToken) -> Result<(), StoreError> {
        let v = StoredApiToken::V1 { uid: token.uid.clone(), expires: token.expires };
        self.put_token(
            "INSERT INTO idaas_home.api_tokens (hash, expires, value) VALUES ($1, $2, $3)
             ON CONFLICT (hash) DO UPDATE SET expires = EXCLUDED.expires, value = EXCLUDED.value",
            hash,
            token.expires,
            text(encode(&v)?)?,
        )
    }

    fn get_api_token(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>, StoreError> {
        let hash = hash.to_vec();
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached("SELECT value FROM idaas_home.api_tokens WHERE hash = $1", &[&hash])
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        let Some(v) = v else {
            return Ok(None);
        };
        let StoredApiToken::V1 { uid, expires } = decode(API_TOKENS, v.as_bytes())?;
        Ok(Some(ApiToken { uid, expires }))
    }

    fn put_verification(&self, hash: &[u8; 32], v: &Verification) -> Result<(), StoreError> {
        let s = StoredVerification::V1 { uid: v.uid.clone(), expires: v.expires };
        self.put_token(
            "INSERT INTO idaas_home.verifications (hash, expires, value) VALUES ($1, $2, $3)
             ON CONFLICT (hash) DO UPDATE SET expires = EXCLUDED.expires, value = EXCLUDED.value",
            hash,
            v.expires,
            text(encode(&s)?)?,
        )
    }

    fn take_verification(&self, hash: &[u8; 32]) -> Result<Option<Verification>, StoreError> {
        let hash = hash.to_vec();
        // One statement: of two concurrent takers, exactly one gets the row.
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached(
                    "DELETE FROM idaas_home.verifications WHERE hash = $1 RETURNING value",
                    &[&hash],
                )
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        let Some(v) = v else {
            return Ok(None);
        };
        let StoredVerification::V1 { uid, expires } = decode(VERIFICATIONS, v.as_bytes())?;
        Ok(Some(Verification { uid, expires }))
    }

    fn pg_pool(&self) -> Option<std::sync::Arc<PgPool>> {
        Some(self.shared_state.clone())
    }

    fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let n = self.pool.run(move |c| async move {
            let a =
                c.execute_cached("DELETE FROM idaas_home.api_tokens WHERE expires <= $1", &[&now]).await?;
            let b =
                c.execute_cached("DELETE FROM idaas_home.verifications WHERE expires <= $1", &[&now]).await?;
            Ok::<_, PgError>(a.saturating_add(b))
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
