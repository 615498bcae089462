//! Group owners and access requests (issue 20, approval of sensitive paths), in both backends:
//! the sled trees `group_owners` (key: group) and `access_requests` (key: request id), and the
//! PostgreSQL tables `idaas_home.group_owners` and `idaas_home.access_requests` (migration 7,
//! with the requester, group and status as columns for the owners' and requesters' lists).
//! Values are the versioned JSON records `StoredOwners::V1` / `StoredRequest::V1` in both.
//!
//! Bounds are the caller's (`service::access`): owners per group, pending and kept requests
//! per requester. A requester's requests go when the requester goes (`delete_user`).

use serde::{Deserialize, Serialize};
use service_kit::pg::{Cached, PgError};

use super::pg::PgStore;
use super::{check_key, decode, encode, unstorable, SledStore, StoreError};
use crate::model::{AccessRequest, RequestStatus};

/// The sled tree of group owners.
pub(super) const GROUP_OWNERS: &str = "group_owners";
/// The sled tree of access requests.
pub(super) const ACCESS_REQUESTS: &str = "access_requests";

/// Migration 7 of the PostgreSQL schema (to version 8).
pub(super) const TABLES_SQL: &str = "
    CREATE TABLE idaas_home.group_owners (
        grp TEXT COLLATE \"C\" PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE idaas_home.access_requests (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        uid TEXT COLLATE \"C\" NOT NULL,
        grp TEXT COLLATE \"C\" NOT NULL,
        status TEXT NOT NULL,
        created BIGINT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX access_requests_uid ON idaas_home.access_requests (uid);
    CREATE INDEX access_requests_pending ON idaas_home.access_requests (grp) WHERE status = 'pending';
";

/// Which requests to list.
#[derive(Clone, Copy, Debug)]
pub enum Requests<'a> {
    /// Everything one person asked.
    Of(&'a str),
    /// The pending ones that owners of any of these groups decide.
    PendingFor(&'a [String]),
    /// All of them (the admin API's audit view).
    All,
}

impl Requests<'_> {
    fn matches(&self, r: &AccessRequest) -> bool {
        match self {
            Requests::Of(uid) => r.uid == *uid,
            Requests::PendingFor(groups) => r.status == RequestStatus::Pending && groups.contains(&r.group),
            Requests::All => true,
        }
    }
}

/// Group owners and access requests, part of every [`super::Store`].
pub trait AccessStore {
    /// Sets the owners of `group` (an empty list removes the record).
    fn put_group_owners(&self, group: &str, owners: &[String]) -> Result<(), StoreError>;
    /// The owners of `group` (empty if none).
    fn get_group_owners(&self, group: &str) -> Result<Vec<String>, StoreError>;
    /// Every group with owners, ordered by group.
    fn list_group_owners(&self) -> Result<Vec<(String, Vec<String>)>, StoreError>;
    /// Stores a new request; [`StoreError::AlreadyExists`] if its id is taken.
    fn insert_access_request(&self, r: &AccessRequest) -> Result<(), StoreError>;
    /// Reads a request.
    fn get_access_request(&self, id: &str) -> Result<Option<AccessRequest>, StoreError>;
    /// Requests, oldest first (by creation time, then id).
    fn list_access_requests(&self, which: Requests<'_>) -> Result<Vec<AccessRequest>, StoreError>;
    /// Replaces the request `new.id` with `new` only if it is still in `status` (one decision
    /// wins when two owners answer at once); `false` if it is not (or is gone).
    fn update_access_request_if(
        &self,
        new: &AccessRequest,
        status: RequestStatus,
    ) -> Result<bool, StoreError>;
    /// Deletes a request; `false` if there was none.
    fn delete_access_request(&self, id: &str) -> Result<bool, StoreError>;
}

#[derive(Serialize, Deserialize)]
enum StoredOwners {
    V1(Vec<String>),
}

#[derive(Serialize, Deserialize)]
enum StoredRequest {
    V1(AccessRequest),
}

fn owners_from(bytes: &[u8]) -> Result<Vec<String>, StoreError> {
    let StoredOwners::V1(o) = decode(GROUP_OWNERS, bytes)?;
    Ok(o)
}

fn request_from(bytes: &[u8]) -> Result<AccessRequest, StoreError> {
    let StoredRequest::V1(r) = decode(ACCESS_REQUESTS, bytes)?;
    Ok(r)
}

fn request_text(r: &AccessRequest) -> Result<String, StoreError> {
    String::from_utf8(encode(&StoredRequest::V1(r.clone()))?).map_err(|e| StoreError::Encode(e.to_string()))
}

fn check_request(r: &AccessRequest) -> Result<(), StoreError> {
    for key in [&r.id, &r.uid, &r.sp, &r.prefix, &r.group] {
        check_key(key)?;
    }
    Ok(())
}

fn sorted(mut v: Vec<AccessRequest>) -> Vec<AccessRequest> {
    v.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    v
}

impl SledStore {
    /// Removes every request of `uid` (the user is being deleted; the caller flushes).
    pub(super) fn remove_requests_of(&self, uid: &str) -> Result<(), StoreError> {
        for entry in self.access_requests.iter() {
            let (k, v) = entry?;
            if request_from(&v)?.uid == uid {
                self.access_requests.remove(k)?;
            }
        }
        Ok(())
    }
}

impl AccessStore for SledStore {
    fn put_group_owners(&self, group: &str, owners: &[String]) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        check_key(group)?;
        if owners.is_empty() {
            self.group_owners.remove(group.as_bytes())?;
        } else {
            self.group_owners.insert(group.as_bytes(), encode(&StoredOwners::V1(owners.to_vec()))?)?;
        }
        self.flush()
    }

    fn get_group_owners(&self, group: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.group_owners.get(group.as_bytes())?.map(|v| owners_from(&v)).transpose()?.unwrap_or_default())
    }

    fn list_group_owners(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        self.group_owners
            .iter()
            .map(|e| {
                let (k, v) = e?;
                Ok((String::from_utf8_lossy(&k).into_owned(), owners_from(&v)?))
            })
            .collect()
    }

    fn insert_access_request(&self, r: &AccessRequest) -> Result<(), StoreError> {
        let _writing = self.gate.writing();
        check_request(r)?;
        let value = encode(&StoredRequest::V1(r.clone()))?;
        if self.access_requests.compare_and_swap(r.id.as_bytes(), None::<&[u8]>, Some(value))?.is_err() {
            return Err(StoreError::AlreadyExists);
        }
        self.flush()
    }

    fn get_access_request(&self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        self.access_requests.get(id.as_bytes())?.map(|v| request_from(&v)).transpose()
    }

    fn list_access_requests(&self, which: Requests<'_>) -> Result<Vec<AccessRequest>, StoreError> {
        let mut out = Vec::new();
        for entry in self.access_requests.iter() {
            let r = request_from(&entry?.1)?;
            if which.matches(&r) {
                out.push(r);
            }
        }
        Ok(sorted(out))
    }

    fn update_access_request_if(
        &self,
        new: &AccessRequest,
        status: RequestStatus,
    ) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        check_request(new)?;
        let value = encode(&StoredRequest::V1(new.clone()))?;
        loop {
            let Some(old) = self.access_requests.get(new.id.as_bytes())? else { return Ok(false) };
            if request_from(&old)?.status != status {
                return Ok(false);
            }
            if self
                .access_requests
                .compare_and_swap(new.id.as_bytes(), Some(old), Some(value.clone()))?
                .is_ok()
            {
                self.flush()?;
                return Ok(true);
            }
        }
    }

    fn delete_access_request(&self, id: &str) -> Result<bool, StoreError> {
        let _writing = self.gate.writing();
        let prev = self.access_requests.remove(id.as_bytes())?;
        self.flush()?;
        Ok(prev.is_some())
    }
}

impl AccessStore for PgStore {
    fn put_group_owners(&self, group: &str, owners: &[String]) -> Result<(), StoreError> {
        check_key(group)?;
        let group = group.to_owned();
        if owners.is_empty() {
            self.pool.run(move |c| async move {
                c.execute_cached("DELETE FROM idaas_home.group_owners WHERE grp = $1", &[&group])
                    .await
                    .map_err(PgError::from)
            })?;
            return Ok(());
        }
        let value = String::from_utf8(encode(&StoredOwners::V1(owners.to_vec()))?)
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        self.pool.upsert(
            "INSERT INTO idaas_home.group_owners (grp, value) VALUES ($1, $2)
             ON CONFLICT (grp) DO UPDATE SET value = EXCLUDED.value
             RETURNING (xmax = 0)",
            vec![group, value],
        )?;
        Ok(())
    }

    fn get_group_owners(&self, group: &str) -> Result<Vec<String>, StoreError> {
        if unstorable(group) {
            return Ok(Vec::new());
        }
        let group = group.to_owned();
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached("SELECT value FROM idaas_home.group_owners WHERE grp = $1", &[&group])
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        Ok(v.map(|v| owners_from(v.as_bytes())).transpose()?.unwrap_or_default())
    }

    fn list_group_owners(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let rows = self.pool.run(move |c| async move {
            let rows =
                c.query_cached("SELECT grp, value FROM idaas_home.group_owners ORDER BY grp", &[]).await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?)))
                .collect::<Result<Vec<_>, service_kit::pg::DriverError>>()
                .map_err(PgError::from)
        })?;
        rows.into_iter().map(|(g, v)| Ok((g, owners_from(v.as_bytes())?))).collect()
    }

    fn insert_access_request(&self, r: &AccessRequest) -> Result<(), StoreError> {
        check_request(r)?;
        let (id, uid, grp, status, created) =
            (r.id.clone(), r.uid.clone(), r.group.clone(), r.status.name().to_owned(), r.created);
        let value = request_text(r)?;
        let n = self.pool.run(move |c| async move {
            c.execute_cached(
                "INSERT INTO idaas_home.access_requests (id, uid, grp, status, created, value)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[&id, &uid, &grp, &status, &created, &value],
            )
            .await
            .map_err(PgError::from)
        })?;
        if n == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    fn get_access_request(&self, id: &str) -> Result<Option<AccessRequest>, StoreError> {
        if unstorable(id) {
            return Ok(None);
        }
        let id = id.to_owned();
        let v = self.pool.run(move |c| async move {
            let row = c
                .query_opt_cached("SELECT value FROM idaas_home.access_requests WHERE id = $1", &[&id])
                .await?;
            row.map(|r| r.try_get::<_, String>(0)).transpose().map_err(PgError::from)
        })?;
        v.map(|v| request_from(v.as_bytes())).transpose()
    }

    fn list_access_requests(&self, which: Requests<'_>) -> Result<Vec<AccessRequest>, StoreError> {
        let (sql, params): (&'static str, Vec<String>) = match which {
            Requests::Of(uid) if unstorable(uid) => return Ok(Vec::new()),
            Requests::Of(uid) => (
                "SELECT value FROM idaas_home.access_requests WHERE uid = $1 ORDER BY created, id",
                vec![uid.to_owned()],
            ),
            Requests::PendingFor(groups) => (
                "SELECT value FROM idaas_home.access_requests WHERE status = 'pending' AND grp = ANY($1)
                 ORDER BY created, id",
                groups.to_vec(),
            ),
            Requests::All => {
                ("SELECT value FROM idaas_home.access_requests ORDER BY created, id", Vec::new())
            }
        };
        let pending_for = matches!(which, Requests::PendingFor(_));
        let values = self.pool.run(move |c| async move {
            let rows = if pending_for {
                c.query_cached(sql, &[&params]).await?
            } else if let Some(p) = params.first() {
                c.query_cached(sql, &[p]).await?
            } else {
                c.query_cached(sql, &[]).await?
            };
            rows.iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(PgError::from)
        })?;
        values.iter().map(|v| request_from(v.as_bytes())).collect()
    }

    fn update_access_request_if(
        &self,
        new: &AccessRequest,
        status: RequestStatus,
    ) -> Result<bool, StoreError> {
        check_request(new)?;
        let (id, new_status, old_status) =
            (new.id.clone(), new.status.name().to_owned(), status.name().to_owned());
        let value = request_text(new)?;
        let n = self.pool.run(move |c| async move {
            c.execute_cached(
                "UPDATE idaas_home.access_requests SET status = $2, value = $3 WHERE id = $1 AND status = $4",
                &[&id, &new_status, &value, &old_status],
            )
            .await
            .map_err(PgError::from)
        })?;
        Ok(n > 0)
    }

    fn delete_access_request(&self, id: &str) -> Result<bool, StoreError> {
        if unstorable(id) {
            return Ok(false);
        }
        let id = id.to_owned();
        let n = self.pool.run(move |c| async move {
            c.execute_cached("DELETE FROM idaas_home.access_requests WHERE id = $1", &[&id])
                .await
                .map_err(PgError::from)
        })?;
        Ok(n > 0)
    }
}
