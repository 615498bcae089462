//! The checks a relying party makes on a [`VerifiedAssertion`]: time window, audience, bearer
//! `SubjectConfirmation`. Each party composes the ones it needs (see the table in
//! [`crate::verify`]).

#[cfg(doc)]
use super::ReplayCache;
use super::{ValidationError, VerifiedAssertion};

/// A bearer `SubjectConfirmation` (method `urn:oasis:names:tc:SAML:2.0:cm:bearer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerConfirmation {
    /// `Recipient`.
    pub recipient: Option<String>,
    /// `NotBefore`, Unix seconds.
    pub not_before: Option<i64>,
    /// `NotOnOrAfter`, Unix seconds.
    pub not_on_or_after: Option<i64>,
    /// `InResponseTo`.
    pub in_response_to: Option<String>,
}

impl BearerConfirmation {
    /// `NotBefore ≤ now + skew` and `now - skew < NotOnOrAfter` (which must be present).
    pub fn check_time(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        if self.not_before.is_some_and(|nb| now.saturating_add(skew) < nb) {
            return Err(ValidationError::ConfirmationExpired);
        }
        match self.not_on_or_after {
            Some(t) if now.saturating_sub(skew) < t => Ok(()),
            _ => Err(ValidationError::ConfirmationExpired),
        }
    }
}

/// What the `InResponseTo` of a bearer confirmation must be.
#[derive(Clone, Copy, Debug)]
pub enum InResponseTo<'a> {
    /// Not checked (RFC 7522: the token endpoint sent no request).
    Ignore,
    /// Must be absent (IdP-initiated SSO).
    Absent,
    /// Must be one of these request IDs (SP-initiated SSO).
    OneOf(&'a [&'a str]),
}

impl InResponseTo<'_> {
    fn accepts(&self, value: Option<&str>) -> bool {
        match self {
            InResponseTo::Ignore => true,
            InResponseTo::Absent => value.is_none(),
            InResponseTo::OneOf(ids) => value.is_some_and(|v| ids.contains(&v)),
        }
    }
}

impl VerifiedAssertion {
    /// Refuses an assertion issued, or with a `Conditions/@NotBefore`, later than `now + skew`.
    pub fn check_not_before(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        let limit = now.saturating_add(skew);
        if self.issue_instant > limit || self.not_before.is_some_and(|nb| nb > limit) {
            return Err(ValidationError::NotYetValid);
        }
        Ok(())
    }

    /// Refuses an assertion whose `Conditions/@NotOnOrAfter` is at or before `now - skew`.
    pub fn check_not_expired(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        if self.not_on_or_after.is_some_and(|t| t <= now.saturating_sub(skew)) {
            return Err(ValidationError::Expired);
        }
        Ok(())
    }

    /// Refuses an assertion whose `SessionNotOnOrAfter` is at or before `now - skew`.
    pub fn check_session(&self, now: i64, skew: i64) -> Result<(), ValidationError> {
        if self.session_not_on_or_after.is_some_and(|t| t <= now.saturating_sub(skew)) {
            return Err(ValidationError::SessionExpired);
        }
        Ok(())
    }

    /// Refuses an assertion issued `max_age` seconds or more before `now`.
    pub fn check_age(&self, now: i64, max_age: i64) -> Result<(), ValidationError> {
        if self.issue_instant.saturating_add(max_age) <= now {
            return Err(ValidationError::TooOld);
        }
        Ok(())
    }

    /// Requires at least one `AudienceRestriction`, and every one of them to name one of
    /// `acceptable` (SAML core §2.5.1.4: restrictions are AND-ed, audiences within one OR-ed).
    pub fn check_audience(&self, acceptable: &[&str]) -> Result<(), ValidationError> {
        let ok = !self.audience_restrictions.is_empty()
            && self.audience_restrictions.iter().all(|r| r.iter().any(|a| acceptable.contains(&a.as_str())));
        if ok {
            Ok(())
        } else {
            Err(ValidationError::WrongAudience)
        }
    }

    /// The first bearer confirmation whose `Recipient` is `recipient`, whose `InResponseTo`
    /// is acceptable, and which has a `NotOnOrAfter`. Its time is *not* checked here (see
    /// [`BearerConfirmation::check_time`]).
    pub fn bearer_confirmation(
        &self,
        recipient: &str,
        in_response_to: InResponseTo<'_>,
    ) -> Result<&BearerConfirmation, ValidationError> {
        self.bearer
            .iter()
            .find(|c| {
                c.recipient.as_deref() == Some(recipient)
                    && c.not_on_or_after.is_some()
                    && in_response_to.accepts(c.in_response_to.as_deref())
            })
            .ok_or(ValidationError::WrongRecipient)
    }

    /// The SAML 2.0 Web Browser SSO profile's checks, as a service provider makes them: not
    /// before, not expired, the audience names `audience`, and a bearer confirmation for
    /// `recipient` with an acceptable `InResponseTo` whose time is valid. Replay is the
    /// caller's ([`ReplayCache`]).
    pub fn check_web_sso(
        &self,
        audience: &str,
        recipient: &str,
        in_response_to: InResponseTo<'_>,
        now: i64,
        skew: i64,
    ) -> Result<&BearerConfirmation, ValidationError> {
        self.check_not_before(now, skew)?;
        self.check_not_expired(now, skew)?;
        self.check_audience(&[audience])?;
        let c = self.bearer_confirmation(recipient, in_response_to)?;
        c.check_time(now, skew)?;
        Ok(c)
    }

    /// Until when this assertion's ID must be remembered to refuse a replay: the latest of
    /// `Conditions/@NotOnOrAfter` and the bearer confirmations' `NotOnOrAfter`, plus `skew`.
    pub fn replay_horizon(&self, skew: i64) -> i64 {
        self.bearer
            .iter()
            .filter_map(|c| c.not_on_or_after)
            .chain(self.not_on_or_after)
            .max()
            .unwrap_or(self.issue_instant)
            .saturating_add(skew)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{NameId, ReplayCache, ValidationError, VerifiedAssertion};

    #[test]
    fn audience_restrictions_are_anded() {
        let mut a = VerifiedAssertion {
            issuer: "i".into(),
            id: "x".into(),
            issue_instant: 100,
            name_id: NameId { value: "bob".into(), format: None },
            session_index: None,
            session_not_on_or_after: None,
            authn_instant: None,
            not_before: None,
            not_on_or_after: Some(200),
            audience_restrictions: vec![],
            bearer: vec![],
            attributes: BTreeMap::new(),
        };
        assert_eq!(a.check_audience(&["v"]), Err(ValidationError::WrongAudience));
        a.audience_restrictions = vec![vec!["sp".into(), "v".into()]];
        assert_eq!(a.check_audience(&["v"]), Ok(()));
        a.audience_restrictions.push(vec!["sp".into()]);
        assert_eq!(a.check_audience(&["v"]), Err(ValidationError::WrongAudience));
        assert_eq!(a.check_not_expired(199, 0), Ok(()));
        assert_eq!(a.check_not_expired(200, 0), Err(ValidationError::Expired));
        assert_eq!(a.check_not_expired(200, 1), Ok(()));
        assert_eq!(a.check_age(130, 30), Err(ValidationError::TooOld));
        assert_eq!(a.check_not_before(40, 60), Ok(()));
        assert_eq!(a.check_not_before(39, 60), Err(ValidationError::NotYetValid));
        let cache = ReplayCache::new(1);
        assert_eq!(cache.check_and_record(&a, 150, 0), Ok(()));
        assert_eq!(cache.check_and_record(&a, 150, 0), Err(ValidationError::Replayed));
        assert_eq!(cache.check_and_record(&a, 201, 0), Ok(()), "forgotten after its expiry");
    }
}
