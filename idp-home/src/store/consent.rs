//! People's consents to services (issue 18), in both backends: the sled tree `consents`
//! (key: uid, NUL, SP entity ID) and the PostgreSQL table `idaas_home.consents` (migration 2).
//! Values are the versioned JSON record `StoredConsent::V1` in both. A user's consents go when
//! the user goes (`delete_user`, `delete_user_if`).
//!
//! The table is bounded per user by the caller (`service::consent::MAX_PER_USER`: consents of
//! SPs no longer registered, then the oldest, make room).

use serde::{Deserialize, Serialize};
use service_kit::pg::{Cached, PgError};

use super::pg::PgStore;
use super::{check_key, decode, encode, pii_key, pii_prefix, unstorable, SledStore, StoreError};
use crate::model::Consent;

/// The sled tree of consents.
pub(super) const CONSENTS: &str = "consents";

/// Consents, part of every [`super::Store`].
pub trait ConsentStore {
    /// Creates or replaces `uid`'s consent to `consent.sp`.
    fn put_consent(&self, uid: &str, consent: &Consent) -> Result<(), StoreError>;
    /// Reads `uid`'s consent to the SP `sp`.
    fn get_consent(&self, uid: &str, sp: &str) -> Result<Option<Consent>, StoreError>;
    /// All of `uid`'s consents, ordered by SP entity ID.
    fn list_consents(&self, uid: &str) -> Result<Vec<Consent>, StoreError>;
    /// Deletes `uid`'s consent to `sp`; `false` if there was none.
    fn delete_consent(&self, uid: &str, sp: &str) -> Result<bool, StoreError>;
}

#[derive(Serialize, Deserialize)]
enum StoredConsent {
    V1(Consent),
}

fn consent_from(bytes: &[u8]) -> Result<Consent, StoreError> {
    let StoredConsent::V1(c) = decode(CONSENTS, bytes)?;
    Ok(c)
}

fn consent_text(c: &Consent) -> Result<String, StoreError> {
    String::from_utf8(encode(&StoredConsent::V1(c.clone()))?).map_err(|e| StoreError::Encode(e.to_string()))
}

impl SledStore {
    /// Removes every consent of `uid` (the user is being deleted; the caller flushes).
    pub(super) fn remove_consents_of(&self, uid: &str) -> Result<(), StoreError> {
        for entry in self.consents.scan_prefix(pii_prefix(uid)) {
            let (k, _) = entry?;
            self.consents.remove(k)?;
        }
        Ok(())
    }
}

impl ConsentStore for SledStore {
    fn put_consent(&self, uid: &str, consent: &Consent) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        check_key(uid)?;
        check_key(&consent.sp)?;
        self.consents.insert(pii_key(uid, &consent.sp), encode(&StoredConsent::V1(consent.clone()))?)?;
        self.flush()
    }

    fn get_consent(&self, uid: &str, sp: &str) -> Result<Option<Consent>, StoreError> {
        self.consents.get(pii_key(uid, sp))?.map(|v| consent_from(&v)).transpose()
    }

    fn list_consents(&self, uid: &str) -> Result<Vec<Consent>, StoreError> {
        self.consents.scan_prefix(pii_prefix(uid)).map(|e| consent_from(&e?.1)).collect()
    }

    fn delete_consent(&self, uid: &str, sp: &str) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let prev = self.consents.remove(pii_key(uid, sp))?;
        self.flush()?;
        Ok(prev.is_some())
    }
}

impl ConsentStore for PgStore {
    fn put_consent(&self, uid: &str, consent: &Consent) -> Result<(), StoreError> {
        check_key(uid)?;
        check_key(&consent.sp)?;
        let params = vec![uid.to_owned(), consent.sp.clone(), consent_text(consent)?];
        self.pool.upsert(
            "INSERT INTO idaas_home.consents (uid, sp, value) VALUES ($1, $2, $3)
             ON CONFLICT (uid, sp) DO UPDATE SET value = EXCLUDED.value
             RETURNING (xmax = 0)",
            params,
        )?;
        Ok(())
    }

    fn get_consent(&self, uid: &str, sp: &str) -> Result<Option<Consent>, StoreError> {
        if unstorable(uid) || unstorable(sp) {
            return Ok(None);
        }
        let (uid, sp) = (uid.to_owned(), sp.to_owned());
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached(
                    "SELECT value FROM idaas_home.consents WHERE uid = $1 AND sp = $2",
                    &[&uid, &sp],
                )
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        v.map(|v| consent_from(v.as_bytes())).transpose()
    }

    fn list_consents(&self, uid: &str) -> Result<Vec<Consent>, StoreError> {
        if unstorable(uid) {
            return Ok(Vec::new());
        }
        let uid = uid.to_owned();
        let values = self.pool.run(move |c| async move {
            let rows = c
                .query_cached("SELECT value FROM idaas_home.consents WHERE uid = $1 ORDER BY sp", &[&uid])
                .await?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PgError::from)
        })?;
        values.iter().map(|v| consent_from(v.as_bytes())).collect()
    }

    fn delete_consent(&self, uid: &str, sp: &str) -> Result<bool, StoreError> {
        if unstorable(uid) || unstorable(sp) {
            return Ok(false);
        }
        let (uid, sp) = (uid.to_owned(), sp.to_owned());
        let n = self.pool.run(move |c| async move {
            c.execute_cached("DELETE FROM idaas_home.consents WHERE uid = $1 AND sp = $2", &[&uid, &sp])
                .await
                .map_err(PgError::from)
        })?;
        Ok(n > 0)
    }
}
