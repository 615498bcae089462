//! Approval of sensitive paths by a group's owner (issue 20, item 4 of "account security").
//!
//! A web agent's access rule may mark a path prefix `sensitive`, approved by "the owner of
//! <group>". A person asks here (the agent links to the request page); the group's owners are
//! mailed and decide on their account page; an approval is a grant in the requester's record
//! (`User::grants`) that the assertions for that SP carry, signed, until it expires
//! (`federation::approvals`), and the agent enforces it at every request. Each request record
//! is its own audit trail (who asked, who decided, when), listed by the admin API, and every
//! step is logged under the target `idaas::audit` with pseudonymous user ids.
//!
//! Bounds: [`MAX_OWNERS`] per group, [`MAX_PENDING`] pending requests per person (more are
//! refused), [`MAX_KEPT`] kept per person (the oldest decided ones make room),
//! [`MAX_GRANTS`] grants per person. Only signed-in people can ask, so no anonymous client
//! can fill the table.

pub use federation::approvals::human_duration;
use federation::approvals::{is_prefix, Approval};
use service_kit::redact::log_id;

use crate::config::is_identifier;
use crate::mail::{Message, Outbox};
use crate::model::{AccessGrant, AccessRequest, RequestStatus, User};
use crate::service::accounts::normalize_uid;
use crate::service::groups::MAX_GROUP_LEN;
use crate::state::AppState;
use crate::store::{Requests, StoreError};

/// Most owners of one group.
pub const MAX_OWNERS: usize = 16;
/// Most pending requests of one person.
pub const MAX_PENDING: usize = 10;
/// Most requests kept per person (pending and decided).
pub const MAX_KEPT: usize = 50;
/// Most grants in one person's record.
pub const MAX_GRANTS: usize = 32;
/// Longest approval, seconds (30 days).
pub const MAX_VALID_FOR: i64 = 30 * 86_400;

/// Why an access operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// A group name is malformed.
    #[error("group names must be 1-64 characters of a-z, 0-9, '_', '.', '-'")]
    InvalidGroup,
    /// An owner is not a user of this IdP.
    #[error("no such user: {0}")]
    UnknownOwner(String),
    /// Too many owners.
    #[error("at most {MAX_OWNERS} owners per group")]
    TooManyOwners,
    /// The path is not an absolute path without spaces (at most 512 bytes).
    #[error("the path must be an absolute path of at most 512 bytes without spaces")]
    InvalidPath,
    /// The duration is out of range.
    #[error("the duration must be between 1 second and 30 days")]
    InvalidDuration,
    /// The SP is not registered here.
    #[error("that service is not registered with this identity provider")]
    UnknownSp,
    /// The group has no owner to ask.
    #[error("the group {0} has no owner who could approve this")]
    NoOwner(String),
    /// Too many pending requests.
    #[error("you have {MAX_PENDING} requests waiting already; withdraw one or wait for an answer")]
    TooManyPending,
    /// No such request (or not one this person may see).
    #[error("no such request")]
    NotFound,
    /// The person is not an owner of the request's group.
    #[error("only an owner of the group can decide this request")]
    NotOwner,
    /// An owner's own request: another owner decides it (separation of duties).
    #[error("you cannot decide your own request: another owner of the group must")]
    OwnRequest,
    /// Someone decided it already.
    #[error("this request was answered already")]
    AlreadyDecided,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a person asks for.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The SP's entity ID.
    pub sp: String,
    /// The path prefix there.
    pub prefix: String,
    /// Whose owners decide.
    pub group: String,
    /// How long an approval lasts, seconds.
    pub valid_for: i64,
}

impl Ask {
    /// Checks the fields (not yet the SP or the owners).
    pub fn check(&self) -> Result<(), AccessError> {
        if !is_identifier(&self.group, MAX_GROUP_LEN) {
            return Err(AccessError::InvalidGroup);
        }
        if !is_prefix(&self.prefix) {
            return Err(AccessError::InvalidPath);
        }
        if !(1..=MAX_VALID_FOR).contains(&self.valid_for) {
            return Err(AccessError::InvalidDuration);
        }
        Ok(())
    }
}

/// Sets a group's owners (sorted, deduplicated; each must be a user); returns the list.
pub fn set_owners(state: &AppState, group: &str, owners: Vec<String>) -> Result<Vec<String>, AccessError> {
    if !is_identifier(group, MAX_GROUP_LEN) {
        return Err(AccessError::InvalidGroup);
    }
    if owners.len() > MAX_OWNERS {
        return Err(AccessError::TooManyOwners);
    }
    let mut uids = Vec::with_capacity(owners.len());
    for o in owners {
        let shown: String = o.chars().take(64).collect();
        let uid = normalize_uid(&o).ok_or_else(|| AccessError::UnknownOwner(shown.clone()))?;
        if state.store.get_user(&uid)?.is_none() {
            return Err(AccessError::UnknownOwner(shown));
        }
        uids.push(uid);
    }
    uids.sort();
    uids.dedup();
    state.store.put_group_owners(group, &uids)?;
    tracing::info!(target: "idaas::audit", event = "group_owners_set", group, owners = uids.len());
    Ok(uids)
}

/// A group's owners.
pub fn owners(state: &AppState, group: &str) -> Result<Vec<String>, AccessError> {
    if !is_identifier(group, MAX_GROUP_LEN) {
        return Err(AccessError::InvalidGroup);
    }
    Ok(state.store.get_group_owners(group)?)
}

/// The groups `uid` owns.
pub fn groups_owned_by(state: &AppState, uid: &str) -> Result<Vec<String>, AccessError> {
    Ok(state
        .store
        .list_group_owners()?
        .into_iter()
        .filter(|(_, o)| o.iter().any(|x| x == uid))
        .map(|(g, _)| g)
        .collect())
}

/// Checks `ask` against the registrations: the SP exists and the group has an owner.
pub fn check_ask(state: &AppState, ask: &Ask) -> Result<(), AccessError> {
    ask.check()?;
    if state.store.get_sp(&ask.sp)?.is_none() {
        return Err(AccessError::UnknownSp);
    }
    if state.store.get_group_owners(&ask.group)?.is_empty() {
        return Err(AccessError::NoOwner(ask.group.clone()));
    }
    Ok(())
}

/// `uid` asks; the owners are mailed. The same request still pending is returned as it is
/// (asking twice sends no second mail).
pub fn request(state: &AppState, uid: &str, ask: Ask) -> Result<AccessRequest, AccessError> {
    check_ask(state, &ask)?;
    let now = state.clock.now();
    let mine = state.store.list_access_requests(Requests::Of(uid))?;
    if let Some(same) = mine.iter().find(|r| {
        r.status == RequestStatus::Pending && r.sp == ask.sp && r.prefix == ask.prefix && r.group == ask.group
    }) {
        return Ok(same.clone());
    }
    if mine.iter().filter(|r| r.status == RequestStatus::Pending).count() >= MAX_PENDING {
        return Err(AccessError::TooManyPending);
    }
    // The oldest decided requests make room (their grants, if any, stay in the user record).
    let decided: Vec<&AccessRequest> = mine.iter().filter(|r| r.status != RequestStatus::Pending).collect();
    for old in decided.iter().take((mine.len() + 1).saturating_sub(MAX_KEPT)) {
        state.store.delete_access_request(&old.id)?;
    }
    let r = AccessRequest {
        id: crate::sso_sessions::random_token().chars().take(32).collect(),
        uid: uid.to_owned(),
        sp: ask.sp,
        prefix: ask.prefix,
        group: ask.group,
        valid_for: ask.valid_for,
        created: now,
        status: RequestStatus::Pending,
        decided_by: None,
        decided_at: None,
        until: None,
    };
    state.store.insert_access_request(&r)?;
    tracing::info!(target: "idaas::audit", event = "access_requested", request = %r.id,
        requester = %log_id(uid), group = %r.group, sp = %r.sp);
    let owners = state.store.get_group_owners(&r.group)?;
    let sp_name = sp_name(state, &r.sp);
    for owner in owners {
        let body = format!(
            "Hello {owner},\n\n{uid} asks to use {prefix} at {sp_name} for {d}, which needs the approval of an \
             owner of the group {group}.\n\nApprove or refuse it on your account page:\n\n{url}/account#access\n",
            prefix = r.prefix,
            d = human_duration(r.valid_for),
            group = r.group,
            url = state.config.public_url.trim_end_matches('/'),
        );
        mail(state, &owner, "An access request waits for your decision", body, now);
    }
    Ok(r)
}

/// `owner` approves (`approve`) or refuses the pending request `id` (not their own: another
/// owner decides that one). An approval becomes a
/// grant in the requester's record from now for the request's duration; the requester is
/// mailed either way.
pub fn decide(state: &AppState, owner: &str, id: &str, approve: bool) -> Result<AccessRequest, AccessError> {
    let r = state.store.get_access_request(id)?.ok_or(AccessError::NotFound)?;
    if !state.store.get_group_owners(&r.group)?.iter().any(|o| o == owner) {
        return Err(AccessError::NotOwner);
    }
    if r.uid == owner {
        return Err(AccessError::OwnRequest);
    }
    if r.status != RequestStatus::Pending {
        return Err(AccessError::AlreadyDecided);
    }
    let now = state.clock.now();
    let decided = AccessRequest {
        status: if approve { RequestStatus::Approved } else { RequestStatus::Refused },
        decided_by: Some(owner.to_owned()),
        decided_at: Some(now),
        until: approve.then(|| now.saturating_add(r.valid_for)),
        ..r
    };
    // Compare-and-swap on the status: of two owners answering at once, one decides.
    if !state.store.update_access_request_if(&decided, RequestStatus::Pending)? {
        return Err(AccessError::AlreadyDecided);
    }
    if let Some(until) = decided.until {
        let grant = AccessGrant {
            request: decided.id.clone(),
            sp: decided.sp.clone(),
            prefix: decided.prefix.clone(),
            until,
        };
        state.store.update_user(&decided.uid, &mut |u| add_grant(u, grant.clone(), now))?;
    }
    tracing::info!(target: "idaas::audit", event = "access_decided", request = %decided.id,
        decision = decided.status.name(), owner = %log_id(owner), requester = %log_id(&decided.uid),
        group = %decided.group, sp = %decided.sp);
    let body = format!(
        "Hello {uid},\n\nyour request to use {prefix} at {sp} was {what} by an owner of the group {group}.{more}\n",
        uid = decided.uid,
        prefix = decided.prefix,
        sp = sp_name(state, &decided.sp),
        what = decided.status.name(),
        group = decided.group,
        more = if approve {
            format!(
                " It counts for {} from now: sign in to the service again to use it.",
                human_duration(decided.valid_for)
            )
        } else {
            String::new()
        },
    );
    mail(state, &decided.uid, "Your access request was answered", body, now);
    Ok(decided)
}

/// Withdraws request `id`: its requester can withdraw a pending or approved request, an
/// owner of its group an approved one (revoking the grant from now on).
pub fn withdraw(state: &AppState, actor: &str, id: &str) -> Result<AccessRequest, AccessError> {
    let r = state.store.get_access_request(id)?.ok_or(AccessError::NotFound)?;
    let is_owner = state.store.get_group_owners(&r.group)?.iter().any(|o| o == actor);
    if r.uid != actor && !is_owner {
        return Err(AccessError::NotFound);
    }
    let allowed = match r.status {
        RequestStatus::Pending => r.uid == actor,
        RequestStatus::Approved => true,
        RequestStatus::Refused | RequestStatus::Withdrawn => false,
    };
    if !allowed {
        return Err(AccessError::AlreadyDecided);
    }
    let now = state.clock.now();
    let from = r.status;
    let done = AccessRequest {
        status: RequestStatus::Withdrawn,
        decided_by: Some(actor.to_owned()),
        decided_at: Some(now),
        ..r
    };
    if !state.store.update_access_request_if(&done, from)? {
        return Err(AccessError::AlreadyDecided);
    }
    state.store.update_user(&done.uid, &mut |u| u.grants.retain(|g| g.request != done.id))?;
    tracing::info!(target: "idaas::audit", event = "access_withdrawn", request = %done.id,
        actor = %log_id(actor), requester = %log_id(&done.uid), group = %done.group, sp = %done.sp);
    Ok(done)
}

/// What the assertions for `sp` say about `user`'s approvals at `now`.
pub fn approvals_for(user: &User, sp: &str, now: i64) -> Vec<Approval> {
    user.grants
        .iter()
        .filter(|g| g.sp == sp && g.until > now)
        .map(|g| Approval { prefix: g.prefix.clone(), until: g.until })
        .collect()
}

/// Adds `grant`, replacing one for the same SP and prefix and dropping expired ones; past
/// [`MAX_GRANTS`], the one ending first goes.
fn add_grant(user: &mut User, grant: AccessGrant, now: i64) {
    user.grants.retain(|g| g.until > now && !(g.sp == grant.sp && g.prefix == grant.prefix));
    user.grants.push(grant);
    while user.grants.len() > MAX_GRANTS {
        if let Some(i) = user.grants.iter().enumerate().min_by_key(|(_, g)| g.until).map(|(i, _)| i) {
            user.grants.remove(i);
        }
    }
}

/// The SP's display name, or its entity ID.
pub fn sp_name(state: &AppState, sp: &str) -> String {
    match state.store.get_sp(sp) {
        Ok(Some(s)) => s.shown_name(),
        _ => sp.to_owned(),
    }
}

/// Mails `uid` (if they have an address); a failure is logged, never fatal: the decision
/// stands and the account page shows it.
fn mail(state: &AppState, uid: &str, subject: &str, body: String, now: i64) {
    let Ok(Some(user)) = state.store.get_user(uid) else { return };
    let msg = Message { from: state.config.mail_from(), to: user.email, subject: subject.into(), body };
    if let Err(e) = Outbox::new(state.config.outbox_dir()).send(&msg, now) {
        tracing::warn!(error = %e, user = %log_id(uid), "access request mail not written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_are_checked() {
        let ok = Ask { sp: "sp".into(), prefix: "/reports".into(), group: "finance".into(), valid_for: 3600 };
        assert!(ok.check().is_ok());
        for bad in [
            Ask { group: "Fin ance".into(), ..ok.clone() },
            Ask { prefix: "reports".into(), ..ok.clone() },
            Ask { prefix: "/a b".into(), ..ok.clone() },
            Ask { valid_for: 0, ..ok.clone() },
            Ask { valid_for: MAX_VALID_FOR + 1, ..ok.clone() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grants_are_bounded_and_replace_their_twin() {
        let mut u = User {
            uid: "bob".into(),
            email: String::new(),
            password_hash: String::new(),
            verified: true,
            groups: Vec::new(),
            created: 0,
            security: Default::default(),
            grants: Vec::new(),
        };
        let g = |i: i64, prefix: &str| AccessGrant {
            request: i.to_string(),
            sp: "sp".into(),
            prefix: prefix.into(),
            until: 1000 + i,
        };
        add_grant(&mut u, g(1, "/a"), 0);
        add_grant(&mut u, g(2, "/a"), 0);
        assert_eq!(u.grants.len(), 1, "the newer grant for /a replaces the older");
        for i in 0..100 {
            add_grant(&mut u, g(10 + i, &format!("/p{i}")), 0);
        }
        assert_eq!(u.grants.len(), MAX_GRANTS);
        add_grant(&mut u, g(5000, "/x"), 1500);
        assert!(u.grants.iter().all(|g| g.until > 1500), "expired ones are dropped");
        assert_eq!(approvals_for(&u, "sp", 1500).len(), u.grants.len());
        assert!(approvals_for(&u, "other", 0).is_empty());
    }
}
