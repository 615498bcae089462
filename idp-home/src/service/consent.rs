//! Consent before disclosure (issue 18): what a service will be able to read when a person
//! signs in to it, whether they have already allowed exactly that, and recording or revoking
//! their answer. No HTTP here ([`crate::http::consent`] shows the page and posts the answer).
//!
//! "What it will be able to read" is the plain attributes released to it (`groups`, `email`)
//! and the names of the person's PII values it could open after a sign-in today, computed by
//! [`crate::service::disclosure_view::could_open`] exactly as the account page's
//! who-can-see-what table does. A consent stores the SHA-256 fingerprint of that set: when the
//! set changes (a new value, wider rules, a new purpose registered, a value opening or closing
//! with the date) the person is asked again.

use sha2::{Digest, Sha256};

use crate::model::{Consent, ServiceProvider};
use crate::service::disclosure_view::could_open;
use crate::state::AppState;
use crate::store::StoreError;

/// Most consents kept per person; beyond it, consents of services no longer registered and
/// then the oldest make room (a person is asked again, nothing is released without asking).
pub const MAX_PER_USER: usize = 256;

/// What a service will be able to read about one person after a sign-in today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// Plain attributes released to it (`groups`, `email`), as registered.
    pub plain: Vec<String>,
    /// Names of the stored PII values it could open today (sorted).
    pub pii: Vec<String>,
    /// Names of the stored PII values it could not open today (sorted).
    pub closed: Vec<String>,
}

impl Disclosure {
    /// Everything it could read, plain attributes first: what a consent records.
    pub fn attributes(&self) -> Vec<String> {
        self.plain.iter().chain(&self.pii).cloned().collect()
    }

    /// The fingerprint of what `sp` could read: hex SHA-256 over the SP's entity ID and the
    /// sorted plain and PII names, each length-prefixed (no two sets share one).
    pub fn fingerprint(&self, sp: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"idaas consent v1\0");
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        field(sp);
        for (tag, list) in [("plain", &self.plain), ("pii", &self.pii)] {
            field(tag);
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            sorted.iter().for_each(|s| field(s));
        }
        hex::encode(h.finalize())
    }
}

/// What a sign-in to `sp` releases about `uid` today.
pub fn disclosure(state: &AppState, sp: &ServiceProvider, uid: &str) -> Result<Disclosure, StoreError> {
    let today = state.clock.today().unwrap_or(0);
    let home = state.config.authority.as_str();
    let records = state.store.list_pii(uid)?;
    let (open, closed): (Vec<_>, Vec<_>) = if sp.pbe.is_some() {
        records.iter().partition(|r| could_open(&r.policy, sp, home, today))
    } else {
        (Vec::new(), records.iter().collect())
    };
    let plain = crate::model::RELEASABLE.iter().filter(|a| sp.releases(a)).map(|a| (*a).to_owned()).collect();
    Ok(Disclosure {
        plain,
        pii: open.iter().map(|r| r.attribute.clone()).collect(),
        closed: closed.iter().map(|r| r.attribute.clone()).collect(),
    })
}

/// What to do with a sign-in of `uid` to `sp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Release what the registration says: consent is implied for this SP, or the person
    /// allowed exactly this set already.
    Release,
    /// Ask the person first (never asked, revoked, or the set changed).
    Ask(Disclosure),
    /// The person denied exactly this set before: sign in without personal data, without
    /// asking again.
    Withhold,
}

/// Whether a sign-in of `uid` to `sp` may release without asking.
pub fn decide(state: &AppState, sp: &ServiceProvider, uid: &str) -> Result<Decision, StoreError> {
    if !sp.consent_required() {
        return Ok(Decision::Release);
    }
    let d = disclosure(state, sp, uid)?;
    let given = state.store.get_consent(uid, &sp.entity_id)?;
    Ok(match given {
        Some(c) if c.fingerprint == d.fingerprint(&sp.entity_id) && c.denied => Decision::Withhold,
        Some(c) if c.fingerprint == d.fingerprint(&sp.entity_id) => Decision::Release,
        _ => Decision::Ask(d),
    })
}

/// Records that `uid` allowed `sp` to read `d` (replacing an earlier answer), keeping the
/// person's consents within [`MAX_PER_USER`].
pub fn grant(state: &AppState, uid: &str, sp: &ServiceProvider, d: &Disclosure) -> Result<(), StoreError> {
    record(state, uid, sp, d, false)
}

/// Records that `uid` denied `sp` the set `d` (replacing an earlier answer): later sign-ins
/// with the same set withhold personal data without asking ([`Decision::Withhold`]).
pub fn deny(state: &AppState, uid: &str, sp: &ServiceProvider, d: &Disclosure) -> Result<(), StoreError> {
    record(state, uid, sp, d, true)
}

fn record(
    state: &AppState,
    uid: &str,
    sp: &ServiceProvider,
    d: &Disclosure,
    denied: bool,
) -> Result<(), StoreError> {
    let mine = state.store.list_consents(uid)?;
    if mine.len() >= MAX_PER_USER && !mine.iter().any(|c| c.sp == sp.entity_id) {
        make_room(state, uid, mine)?;
    }
    let consent = Consent {
        sp: sp.entity_id.clone(),
        attributes: d.attributes(),
        fingerprint: d.fingerprint(&sp.entity_id),
        granted: state.clock.now(),
        denied,
    };
    state.store.put_consent(uid, &consent)
}

/// Deletes consents until one more fits: first those of SPs no longer registered, then the
/// oldest.
fn make_room(state: &AppState, uid: &str, mut mine: Vec<Consent>) -> Result<(), StoreError> {
    let registered: std::collections::BTreeSet<String> =
        state.store.list_sps()?.into_iter().map(|s| s.entity_id).collect();
    let mut n = mine.len();
    for c in mine.iter().filter(|c| !registered.contains(&c.sp)) {
        if state.store.delete_consent(uid, &c.sp)? {
            n -= 1;
        }
    }
    mine.retain(|c| registered.contains(&c.sp));
    mine.sort_by_key(|c| c.granted);
    for c in &mine {
        if n < MAX_PER_USER {
            break;
        }
        if state.store.delete_consent(uid, &c.sp)? {
            n -= 1;
        }
    }
    Ok(())
}

/// Revokes `uid`'s consent to the SP `sp`; `false` if there was none. The next sign-in there
/// asks again; what the service already read is not taken back.
pub fn revoke(state: &AppState, uid: &str, sp: &str) -> Result<bool, StoreError> {
    state.store.delete_consent(uid, sp)
}

#[cfg(test)]
mod tests {
    use super::Disclosure;

    fn d(plain: &[&str], pii: &[&str]) -> Disclosure {
        Disclosure {
            plain: plain.iter().map(|s| (*s).to_owned()).collect(),
            pii: pii.iter().map(|s| (*s).to_owned()).collect(),
            closed: Vec::new(),
        }
    }

    #[test]
    fn fingerprints_differ_for_every_change_of_the_set_and_ignore_order() {
        let base = d(&["groups"], &["firstname", "lastname"]).fingerprint("https://shop");
        assert_eq!(base, d(&["groups"], &["lastname", "firstname"]).fingerprint("https://shop"));
        assert_ne!(base, d(&["groups"], &["firstname"]).fingerprint("https://shop"));
        assert_ne!(base, d(&["groups", "email"], &["firstname", "lastname"]).fingerprint("https://shop"));
        assert_ne!(base, d(&["groups"], &["firstname", "lastname"]).fingerprint("https://other"));
        // Moving a name between the lists, or between two names, is a different set.
        assert_ne!(d(&["email"], &[]).fingerprint("x"), d(&[], &["email"]).fingerprint("x"));
        assert_ne!(d(&[], &["ab", "c"]).fingerprint("x"), d(&[], &["a", "bc"]).fingerprint("x"));
    }
}
