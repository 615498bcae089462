//! Small per-user record sets kept the same way in both backends (issue 20: known devices,
//! passkeys): the sled tree keyed by uid, NUL, record key, and a PostgreSQL table
//! `(uid, key, value)` with the versioned JSON text in `value`. The typed stores
//! ([`super::devices`], [`super::passkeys`]) name their tree and their statements in a
//! [`Table`] and call these helpers; bounds per user are the callers'.

use service_kit::pg::{Cached, PgError};

use super::pg::PgStore;
use super::{check_key, pii_key, pii_prefix, unstorable, SledStore, StoreError};

/// The statements of one PostgreSQL table of per-user records.
pub(super) struct Table {
    /// `SELECT value … WHERE uid = $1 ORDER BY key`.
    pub(super) list: &'static str,
    /// `INSERT … (uid, key, value) VALUES ($1, $2, $3) ON CONFLICT … DO UPDATE`.
    pub(super) put: &'static str,
    /// `DELETE … WHERE uid = $1 AND key = $2`.
    pub(super) delete: &'static str,
}

impl SledStore {
    pub(super) fn per_user_put(
        &self,
        tree: &sled::Tree,
        uid: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        check_key(uid)?;
        check_key(key)?;
        tree.insert(pii_key(uid, key), value)?;
        self.flush()
    }

    pub(super) fn per_user_list(&self, tree: &sled::Tree, uid: &str) -> Result<Vec<sled::IVec>, StoreError> {
        tree.scan_prefix(pii_prefix(uid)).map(|e| Ok(e?.1)).collect()
    }

    pub(super) fn per_user_delete(
        &self,
        tree: &sled::Tree,
        uid: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let prev = tree.remove(pii_key(uid, key))?;
        self.flush()?;
        Ok(prev.is_some())
    }

    /// Removes every record of `uid` from `tree` (the user is being deleted; the caller flushes).
    pub(super) fn per_user_remove_all(&self, tree: &sled::Tree, uid: &str) -> Result<(), StoreError> {
        for entry in tree.scan_prefix(pii_prefix(uid)) {
            let (k, _) = entry?;
            tree.remove(k)?;
        }
        Ok(())
    }
}

impl PgStore {
    pub(super) fn per_user_put(
        &self,
        table: &Table,
        uid: &str,
        key: &str,
        value: String,
    ) -> Result<(), StoreError> {
        check_key(uid)?;
        check_key(key)?;
        let (sql, uid, key) = (table.put, uid.to_owned(), key.to_owned());
        self.pool.run(move |c| async move {
            c.execute_cached(sql, &[&uid, &key, &value]).await.map_err(PgError::from)
        })?;
        Ok(())
    }

    pub(super) fn per_user_list(&self, table: &Table, uid: &str) -> Result<Vec<String>, StoreError> {
        if unstorable(uid) {
            return Ok(Vec::new());
        }
        let (sql, uid) = (table.list, uid.to_owned());
        Ok(self.pool.run(move |c| async move {
            let rows = c.query_cached(sql, &[&uid]).await?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PgError::from)
        })?)
    }

    pub(super) fn per_user_delete(&self, table: &Table, uid: &str, key: &str) -> Result<bool, StoreError> {
        if unstorable(uid) || unstorable(key) {
            return Ok(false);
        }
        let (sql, uid, key) = (table.delete, uid.to_owned(), key.to_owned());
        let n = self
            .pool
            .run(move |c| async move { c.execute_cached(sql, &[&uid, &key]).await.map_err(PgError::from) })?;
        Ok(n > 0)
    }
}
