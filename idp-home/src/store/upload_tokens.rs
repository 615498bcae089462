//! Short-lived upload tokens (issue 20), in both backends: the sled tree `upload_tokens` (key:
//! the SHA-256 of the token) and the PostgreSQL table `idaas_home.upload_tokens` (migration 6,
//! [`TABLE_SQL`]). Values are the versioned JSON record `StoredUploadToken::V1` in both.
//!
//! The table is bounded: every issue first removes the expired tokens of everyone, then, when
//! the user already holds `cap` live ones, their oldest, so a user holds at most `cap` tokens
//! (two issues racing may leave one more until the next issue) and the whole table at most
//! `cap` per user who asked within the token lifetime.

use serde::{Deserialize, Serialize};
use service_kit::pg::{Cached, PgError};

use super::pg::PgStore;
use super::{decode, encode, SledStore, StoreError};

/// The sled tree of upload tokens.
pub(super) const UPLOAD_TOKENS: &str = "upload_tokens";

/// Migration 6 of the PostgreSQL schema (`super::pg::MIGRATIONS`): the upload tokens.
pub const TABLE_SQL: &str = "
    CREATE TABLE idaas_home.upload_tokens (
        hash BYTEA PRIMARY KEY,
        uid TEXT COLLATE \"C\" NOT NULL,
        issued BIGINT NOT NULL,
        expires BIGINT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX upload_tokens_uid ON idaas_home.upload_tokens (uid, issued);
    CREATE INDEX upload_tokens_expires ON idaas_home.upload_tokens (expires);
";

/// A short-lived upload token (stored under the SHA-256 of the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadToken {
    /// The user.
    pub uid: String,
    /// When it was issued, Unix seconds.
    pub issued: i64,
    /// Expiry, Unix seconds.
    pub expires: i64,
}

/// Upload tokens, part of every [`super::Store`].
pub trait UploadTokenStore {
    /// Stores `token` under `hash`, after deleting every upload token expired at `now` and, when
    /// `token.uid` holds `cap` or more live ones, their oldest (keeping `cap - 1` besides this).
    fn put_upload_token(
        &self,
        hash: &[u8; 32],
        token: &UploadToken,
        cap: usize,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Looks an upload token up by its hash (expired ones included: the caller checks).
    fn get_upload_token(&self, hash: &[u8; 32]) -> Result<Option<UploadToken>, StoreError>;
    /// How many upload tokens `uid` holds (expired ones included).
    fn count_upload_tokens(&self, uid: &str) -> Result<usize, StoreError>;
}

#[derive(Serialize, Deserialize)]
enum StoredUploadToken {
    V1 { uid: String, issued: i64, expires: i64 },
}

fn token_from(bytes: &[u8]) -> Result<UploadToken, StoreError> {
    let StoredUploadToken::V1 { uid, issued, expires } = decode(UPLOAD_TOKENS, bytes)?;
    Ok(UploadToken { uid, issued, expires })
}

fn token_bytes(t: &UploadToken) -> Result<Vec<u8>, StoreError> {
    encode(&StoredUploadToken::V1 { uid: t.uid.clone(), issued: t.issued, expires: t.expires })
}

impl UploadTokenStore for SledStore {
    fn put_upload_token(
        &self,
        hash: &[u8; 32],
        token: &UploadToken,
        cap: usize,
        now: i64,
    ) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        let mut mine: Vec<(i64, sled::IVec)> = Vec::new();
        for entry in self.upload_tokens.iter() {
            let (k, v) = entry?;
            match token_from(&v) {
                // A record that does not decode can never authenticate anyone: removed too.
                Ok(t) if t.expires > now => {
                    if t.uid == token.uid {
                        mine.push((t.issued, k));
                    }
                }
                _ => {
                    self.upload_tokens.remove(k)?;
                }
            }
        }
        mine.sort_by_key(|(issued, _)| *issued);
        let excess = (mine.len() + 1).saturating_sub(cap.max(1));
        for (_, k) in mine.into_iter().take(excess) {
            self.upload_tokens.remove(k)?;
        }
        self.upload_tokens.insert(hash, token_bytes(token)?)?;
        self.flush()
    }

    fn get_upload_token(&self, hash: &[u8; 32]) -> Result<Option<UploadToken>, StoreError> {
        self.upload_tokens.get(hash)?.map(|v| token_from(&v)).transpose()
    }

    fn count_upload_tokens(&self, uid: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for entry in self.upload_tokens.iter() {
            let (_, v) = entry?;
            if token_from(&v).is_ok_and(|t| t.uid == uid) {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl UploadTokenStore for PgStore {
    fn put_upload_token(
        &self,
        hash: &[u8; 32],
        token: &UploadToken,
        cap: usize,
        now: i64,
    ) -> Result<(), StoreError> {
        super::check_key(&token.uid)?;
        let value = String::from_utf8(token_bytes(token)?).map_err(|e| StoreError::Encode(e.to_string()))?;
        let (hash, uid, issued, expires) = (hash.to_vec(), token.uid.clone(), token.issued, token.expires);
        let keep = i64::try_from(cap.max(1) - 1).unwrap_or(i64::MAX);
        self.pool.run(move |mut c| async move {
            let tx = c.transaction().await?;
            tx.execute_cached("DELETE FROM idaas_home.upload_tokens WHERE expires <= $1", &[&now]).await?;
            tx.execute_cached(
                "DELETE FROM idaas_home.upload_tokens WHERE hash IN (
                     SELECT hash FROM idaas_home.upload_tokens WHERE uid = $1
                     ORDER BY issued DESC, hash OFFSET $2)",
                &[&uid, &keep],
            )
            .await?;
            tx.execute_cached(
                "INSERT INTO idaas_home.upload_tokens (hash, uid, issued, expires, value)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (hash) DO UPDATE SET uid = EXCLUDED.uid, issued = EXCLUDED.issued,
                     expires = EXCLUDED.expires, value = EXCLUDED.value",
                &[&hash, &uid, &issued, &expires, &value],
            )
            .await?;
            tx.commit().await?;
            Ok::<_, PgError>(())
        })?;
        Ok(())
    }

    fn get_upload_token(&self, hash: &[u8; 32]) -> Result<Option<UploadToken>, StoreError> {
        let hash = hash.to_vec();
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached("SELECT value FROM idaas_home.upload_tokens WHERE hash = $1", &[&hash])
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        v.map(|v| token_from(v.as_bytes())).transpose()
    }

    fn count_upload_tokens(&self, uid: &str) -> Result<usize, StoreError> {
        if super::unstorable(uid) {
            return Ok(0);
        }
        let uid = uid.to_owned();
        let n = self.pool.run(move |c| async move {
            let row = c
                .query_one_cached("SELECT count(*) FROM idaas_home.upload_tokens WHERE uid = $1", &[&uid])
                .await?;
            row.try_get::<_, i64>(0).map_err(PgError::from)
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
