//! The IdP session table in this process's memory (the sled deployment: one instance).
//! Bounded by [`MAX_ENTRIES`]; expired sessions are dropped when it is full and by the purge.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{IdpSession, Participant, SessionTable, TableError, MAX_ENTRIES, MAX_PARTICIPANTS};

/// The in-memory [`SessionTable`].
#[derive(Debug, Default)]
pub struct MemorySessions {
    map: Mutex<HashMap<String, IdpSession>>,
}

impl MemorySessions {
    fn map(&self) -> MutexGuard<'_, HashMap<String, IdpSession>> {
        // A poisoned map is still a valid map of sessions.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionTable for MemorySessions {
    fn insert(&self, session: &IdpSession, now: i64) -> Result<(), TableError> {
        let mut map = self.map();
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, s| s.expires > now);
        }
        if map.len() >= MAX_ENTRIES {
            return Err(TableError::Full);
        }
        map.insert(session.id.clone(), session.clone());
        Ok(())
    }

    fn get(&self, id: &str, now: i64) -> Result<Option<IdpSession>, TableError> {
        Ok(self.map().get(id).filter(|s| s.expires > now).cloned())
    }

    fn record_participant(&self, id: &str, p: Participant) -> Result<(), TableError> {
        if let Some(s) = self.map().get_mut(id) {
            if s.participants.len() >= MAX_PARTICIPANTS {
                s.participants.remove(0);
            }
            s.participants.push(p);
        }
        Ok(())
    }

    fn mark_mfa(&self, id: &str) -> Result<(), TableError> {
        if let Some(s) = self.map().get_mut(id) {
            s.mfa = true;
        }
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<Option<IdpSession>, TableError> {
        Ok(self.map().remove(id))
    }

    fn find_participant(
        &self,
        sp: &str,
        name_id: &str,
        session_indexes: &[String],
        now: i64,
    ) -> Result<Option<String>, TableError> {
        let map = self.map();
        Ok(map
            .iter()
            .find(|(_, s)| {
                s.expires > now
                    && s.participants.iter().any(|p| {
                        p.sp == sp
                            && p.name_id == name_id
                            && (session_indexes.is_empty() || session_indexes.contains(&p.session_index))
                    })
            })
            .map(|(k, _)| k.clone()))
    }

    fn of_user(&self, uid: &str) -> Result<Vec<IdpSession>, TableError> {
        Ok(self.map().values().filter(|s| s.uid == uid).cloned().collect())
    }

    fn remove_of_user(&self, uid: &str, keep: Option<&str>) -> Result<Vec<IdpSession>, TableError> {
        let mut map = self.map();
        let keys: Vec<String> = map
            .iter()
            .filter(|(k, s)| s.uid == uid && Some(k.as_str()) != keep)
            .map(|(k, _)| k.clone())
            .collect();
        Ok(keys.iter().filter_map(|k| map.remove(k)).collect())
    }

    fn purge(&self, now: i64) -> Result<usize, TableError> {
        let mut map = self.map();
        let before = map.len();
        map.retain(|_, s| s.expires > now);
        Ok(before - map.len())
    }
}
