//! The IdP session table in PostgreSQL (`idaas_home.sso_sessions` and
//! `idaas_home.sso_participants`), shared by every home IdP instance on the database, so that
//! a browser signed in at one instance is signed in at all of them and single logout finds
//! the session wherever it started (issue 17).
//!
//! A row holds what the in-memory table holds: the SHA-256 of the session cookie (never the
//! cookie), the uid, the times, and the SPs the session issued assertions to. Expired rows
//! are deleted by the periodic purge ([`SessionTable::purge`]); participants go with their
//! session (`ON DELETE CASCADE`), at most [`MAX_PARTICIPANTS`] per session.

use std::sync::Arc;

use service_kit::pg::{Cached, PgError, PgPool, Row, ToSql};

use super::{IdpSession, Participant, SessionTable, TableError, MAX_PARTICIPANTS};

/// The tables, for the home IdP's migrations.
pub const TABLES_SQL: &str = "
    CREATE TABLE idaas_home.sso_sessions (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        uid TEXT COLLATE \"C\" NOT NULL,
        authn_instant BIGINT NOT NULL,
        expires BIGINT NOT NULL
    );
    CREATE INDEX sso_sessions_uid ON idaas_home.sso_sessions (uid);
    CREATE INDEX sso_sessions_expires ON idaas_home.sso_sessions (expires);
    CREATE TABLE idaas_home.sso_participants (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id TEXT COLLATE \"C\" NOT NULL
            REFERENCES idaas_home.sso_sessions (id) ON DELETE CASCADE,
        sp TEXT COLLATE \"C\" NOT NULL,
        name_id TEXT COLLATE \"C\" NOT NULL,
        session_index TEXT COLLATE \"C\" NOT NULL
    );
    CREATE INDEX sso_participants_session ON idaas_home.sso_participants (session_id, seq);
    CREATE INDEX sso_participants_name ON idaas_home.sso_participants (sp, name_id);
";

const SELECT: &str = "SELECT s.id, s.uid, s.authn_instant, s.expires,
        coalesce(array_agg(p.sp ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
        coalesce(array_agg(p.name_id ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
        coalesce(array_agg(p.session_index ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL), '{}'),
        s.mfa
    FROM idaas_home.sso_sessions s LEFT JOIN idaas_home.sso_participants p ON p.session_id = s.id";

/// Migration 5 (issue 20): whether a session's sign-in included a second factor.
pub const MFA_SQL: &str = "
    ALTER TABLE idaas_home.sso_sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT false;
";

/// The PostgreSQL [`SessionTable`].
#[derive(Debug)]
pub struct PgSessions {
    pool: Arc<PgPool>,
}

impl From<PgError> for TableError {
    fn from(e: PgError) -> Self {
        TableError::Db(e.to_string())
    }
}

fn session(row: &Row) -> Result<IdpSession, PgError> {
    let sps: Vec<String> = row.try_get(4)?;
    let names: Vec<String> = row.try_get(5)?;
    let indexes: Vec<String> = row.try_get(6)?;
    let participants = sps
        .into_iter()
        .zip(names)
        .zip(indexes)
        .map(|((sp, name_id), session_index)| Participant { sp, name_id, session_index })
        .collect();
    Ok(IdpSession {
        id: row.try_get(0)?,
        uid: row.try_get(1)?,
        authn_instant: row.try_get(2)?,
        expires: row.try_get(3)?,
        participants,
        mfa: row.try_get(7)?,
    })
}

impl PgSessions {
    /// The table on `pool` (the home store's pool; the migrations created it).
    pub fn new(pool: Arc<PgPool>) -> PgSessions {
        PgSessions { pool }
    }

    fn select(
        &self,
        filter: &'static str,
        args: Vec<String>,
        now: i64,
    ) -> Result<Vec<IdpSession>, TableError> {
        Ok(self.pool.run(move |c| async move {
            let sql =
                format!("{SELECT} WHERE {filter} AND s.expires > $1 GROUP BY s.id ORDER BY s.authn_instant");
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&now];
            params.extend(args.iter().map(|a| a as &(dyn ToSql + Sync)));
            let rows = c.query_cached(&sql, &params).await?;
            rows.iter().map(session).collect::<Result<Vec<_>, PgError>>()
        })?)
    }

    /// Deletes sessions by `filter` and returns them (with their participants) as they were.
    fn take(&self, filter: &'static str, args: Vec<String>) -> Result<Vec<IdpSession>, TableError> {
        Ok(self.pool.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            let locked = tx
                .query_cached(
                    &format!("SELECT s.id FROM idaas_home.sso_sessions s WHERE {filter} FOR UPDATE"),
                    &params,
                )
                .await?;
            let ids = locked.iter().map(|r| r.try_get::<_, String>(0)).collect::<Result<Vec<_>, _>>()?;
            let sql = format!("{SELECT} WHERE s.id = ANY($1) GROUP BY s.id ORDER BY s.authn_instant");
            let rows = tx.query_cached(&sql, &[&ids]).await?;
            let taken = rows.iter().map(session).collect::<Result<Vec<_>, PgError>>()?;
            tx.execute_cached("DELETE FROM idaas_home.sso_sessions WHERE id = ANY($1)", &[&ids]).await?;
            tx.commit().await?;
            Ok(taken)
        })?)
    }
}

impl SessionTable for PgSessions {
    fn insert(&self, s: &IdpSession, _now: i64) -> Result<(), TableError> {
        let (id, uid, at, exp, mfa) = (s.id.clone(), s.uid.clone(), s.authn_instant, s.expires, s.mfa);
        Ok(self.pool.run(move |c| async move {
            c.execute_cached(
                "INSERT INTO idaas_home.sso_sessions (id, uid, authn_instant, expires, mfa)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&id, &uid, &at, &exp, &mfa],
            )
            .await?;
            Ok(())
        })?)
    }

    fn get(&self, id: &str, now: i64) -> Result<Option<IdpSession>, TableError> {
        Ok(self.select("s.id = $2", vec![id.to_owned()], now)?.into_iter().next())
    }

    fn record_participant(&self, id: &str, p: Participant) -> Result<(), TableError> {
        let id = id.to_owned();
        let keep = i64::try_from(MAX_PARTICIPANTS).unwrap_or(i64::MAX);
        Ok(self.pool.run(move |c| async move {
            // Nothing is inserted for a session that is gone (as in memory).
            c.execute_cached(
                "INSERT INTO idaas_home.sso_participants (session_id, sp, name_id, session_index)
                 SELECT id, $2, $3, $4 FROM idaas_home.sso_sessions WHERE id = $1",
                &[&id, &p.sp, &p.name_id, &p.session_index],
            )
            .await?;
            c.execute_cached(
                "DELETE FROM idaas_home.sso_participants WHERE session_id = $1 AND seq NOT IN (
                     SELECT seq FROM idaas_home.sso_participants WHERE session_id = $1
                     ORDER BY seq DESC LIMIT $2)",
                &[&id, &keep],
            )
            .await?;
            Ok(())
        })?)
    }

    fn mark_mfa(&self, id: &str) -> Result<(), TableError> {
        let id = id.to_owned();
        Ok(self.pool.run(move |c| async move {
            c.execute_cached("UPDATE idaas_home.sso_sessions SET mfa = true WHERE id = $1", &[&id]).await?;
            Ok(())
        })?)
    }

    fn remove(&self, id: &str) -> Result<Option<IdpSession>, TableError> {
        Ok(self.take("s.id = $1", vec![id.to_owned()])?.into_iter().next())
    }

    fn find_participant(
        &self,
        sp: &str,
        name_id: &str,
        session_indexes: &[String],
        now: i64,
    ) -> Result<Option<String>, TableError> {
        let (sp, name_id, indexes) = (sp.to_owned(), name_id.to_owned(), session_indexes.to_vec());
        Ok(self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached(
                    "SELECT s.id FROM idaas_home.sso_sessions s
                     JOIN idaas_home.sso_participants p ON p.session_id = s.id
                     WHERE p.sp = $1 AND p.name_id = $2 AND s.expires > $3
                       AND (cardinality($4::text[]) = 0 OR p.session_index = ANY($4))
                     ORDER BY s.authn_instant LIMIT 1",
                    &[&sp, &name_id, &now, &indexes],
                )
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?)
    }

    fn of_user(&self, uid: &str) -> Result<Vec<IdpSession>, TableError> {
        self.select("s.uid = $2", vec![uid.to_owned()], i64::MIN)
    }

    fn remove_of_user(&self, uid: &str, keep: Option<&str>) -> Result<Vec<IdpSession>, TableError> {
        match keep {
            Some(k) => self.take("s.uid = $1 AND s.id <> $2", vec![uid.to_owned(), k.to_owned()]),
            None => self.take("s.uid = $1", vec![uid.to_owned()]),
        }
    }

    fn purge(&self, now: i64) -> Result<usize, TableError> {
        let n = self.pool.run(move |c| async move {
            Ok::<_, PgError>(
                c.execute_cached("DELETE FROM idaas_home.sso_sessions WHERE expires <= $1", &[&now]).await?,
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
