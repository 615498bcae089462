//! Authentication contexts (issue 20): what an SP's `RequestedAuthnContext` accepts, and which
//! `AuthnContextClassRef` the assertion then states.
//!
//! The IdP knows two classes of sign-in: a password over TLS
//! ([`AC_PASSWORD_PROTECTED_TRANSPORT`]) and a password with a TOTP code, stated as the REFEDS
//! MFA profile ([`AC_REFEDS_MFA`], the class federations ask for) or, when an SP asks for it
//! by that name, SAML's [`AC_MOBILE_TWO_FACTOR`]. A request names classes with a comparison
//! (SAML core §3.3.2.2.1, `exact` when absent); the two levels are ordered password < MFA.
//! A request that only `AuthnContextDeclRef`s, or classes this IdP never issues, can be
//! satisfied by no sign-in: it is answered with the status `NoAuthnContext`.

pub use federation::assertion::{AC_MOBILE_TWO_FACTOR, AC_PASSWORD_PROTECTED_TRANSPORT, AC_REFEDS_MFA};
use samael::schema::{AuthnContextComparison, RequestedAuthnContext};

/// Which class an assertion states for each kind of sign-in, `None` where the request does
/// not accept that kind. Copied into the pending sign-in's cookie (two small numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedContext {
    /// The class stated for a password-only sign-in, if one is accepted.
    pub password: Option<&'static str>,
    /// The class stated for a sign-in with a second factor, if one is accepted.
    pub mfa: Option<&'static str>,
}

impl Default for RequestedContext {
    /// Nothing requested: both kinds accepted, stated as password and REFEDS MFA.
    fn default() -> Self {
        RequestedContext { password: Some(AC_PASSWORD_PROTECTED_TRANSPORT), mfa: Some(AC_REFEDS_MFA) }
    }
}

const CLASSES: [&str; 3] = [AC_PASSWORD_PROTECTED_TRANSPORT, AC_REFEDS_MFA, AC_MOBILE_TWO_FACTOR];

fn code(class: Option<&'static str>) -> u8 {
    class.and_then(|c| CLASSES.iter().position(|k| *k == c)).map_or(0, |i| (i + 1) as u8)
}

fn class(code: u8) -> Option<&'static str> {
    CLASSES.get(usize::from(code).checked_sub(1)?).copied()
}

impl RequestedContext {
    /// Reads the request's `RequestedAuthnContext` (absent: [`RequestedContext::default`]).
    pub fn from_request(requested: Option<&RequestedAuthnContext>) -> RequestedContext {
        let Some(r) = requested else {
            return RequestedContext::default();
        };
        let named: Vec<&str> = r
            .authn_context_class_refs
            .iter()
            .flatten()
            .filter_map(|c| c.value.as_deref())
            .map(str::trim)
            .collect();
        let password = named.contains(&AC_PASSWORD_PROTECTED_TRANSPORT);
        // The MFA class named first (the SP's preference), if any.
        let mfa =
            named.iter().find_map(|n| [AC_REFEDS_MFA, AC_MOBILE_TWO_FACTOR].into_iter().find(|c| c == n));
        let pw = Some(AC_PASSWORD_PROTECTED_TRANSPORT);
        match r.comparison.clone().unwrap_or(AuthnContextComparison::Exact) {
            AuthnContextComparison::Exact => RequestedContext { password: pw.filter(|_| password), mfa },
            AuthnContextComparison::Minimum if password => {
                RequestedContext { password: pw, mfa: mfa.or(Some(AC_REFEDS_MFA)) }
            }
            AuthnContextComparison::Minimum => RequestedContext { password: None, mfa },
            AuthnContextComparison::Better if password => {
                RequestedContext { password: None, mfa: mfa.or(Some(AC_REFEDS_MFA)) }
            }
            AuthnContextComparison::Better => RequestedContext { password: None, mfa: None },
            AuthnContextComparison::Maximum if mfa.is_some() => RequestedContext { password: pw, mfa },
            AuthnContextComparison::Maximum => {
                RequestedContext { password: pw.filter(|_| password), mfa: None }
            }
        }
    }

    /// Whether some sign-in satisfies the request (else: `NoAuthnContext`).
    pub fn satisfiable(self) -> bool {
        self.password.is_some() || self.mfa.is_some()
    }

    /// Whether only a sign-in with a second factor satisfies the request.
    pub fn needs_mfa(self) -> bool {
        self.password.is_none()
    }

    /// The class an assertion states for a session with (`mfa`) or without a second factor;
    /// `None` when that session does not satisfy the request. A session with a second factor
    /// also satisfies a request for the password class (the password was given too).
    pub fn class_for(self, mfa: bool) -> Option<&'static str> {
        if mfa {
            self.mfa.or(self.password)
        } else {
            self.password
        }
    }

    /// The form kept in the pending sign-in's cookie.
    pub fn to_codes(self) -> [u8; 2] {
        [code(self.password), code(self.mfa)]
    }

    /// Back from [`RequestedContext::to_codes`] (unknown codes accept nothing).
    pub fn from_codes(codes: [u8; 2]) -> RequestedContext {
        RequestedContext { password: class(codes[0]), mfa: class(codes[1]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samael::schema::AuthnContextClassRef;

    fn req(classes: &[&str], comparison: Option<AuthnContextComparison>) -> RequestedAuthnContext {
        RequestedAuthnContext {
            authn_context_class_refs: Some(
                classes.iter().map(|c| AuthnContextClassRef { value: Some((*c).to_owned()) }).collect(),
            ),
            authn_context_decl_refs: None,
            comparison,
        }
    }

    #[test]
    fn exact_accepts_only_the_named_classes() {
        let r = RequestedContext::from_request(Some(&req(&[AC_MOBILE_TWO_FACTOR], None)));
        assert_eq!(r, RequestedContext { password: None, mfa: Some(AC_MOBILE_TWO_FACTOR) });
        assert!(r.needs_mfa() && r.class_for(false).is_none());
        assert_eq!(r.class_for(true), Some(AC_MOBILE_TWO_FACTOR));
        let r = RequestedContext::from_request(Some(&req(&[AC_PASSWORD_PROTECTED_TRANSPORT], None)));
        assert_eq!(r.class_for(true), Some(AC_PASSWORD_PROTECTED_TRANSPORT));
        let r = RequestedContext::from_request(Some(&req(&["urn:example:smartcard"], None)));
        assert!(!r.satisfiable());
        let r = RequestedContext::from_request(None);
        assert_eq!(
            (r.class_for(false), r.class_for(true)),
            (Some(AC_PASSWORD_PROTECTED_TRANSPORT), Some(AC_REFEDS_MFA))
        );
    }

    #[test]
    fn comparisons_order_password_below_mfa() {
        let better = Some(AuthnContextComparison::Better);
        let r =
            RequestedContext::from_request(Some(&req(&[AC_PASSWORD_PROTECTED_TRANSPORT], better.clone())));
        assert!(r.needs_mfa() && r.satisfiable());
        assert!(!RequestedContext::from_request(Some(&req(&[AC_REFEDS_MFA], better))).satisfiable());
        let min = Some(AuthnContextComparison::Minimum);
        assert!(!RequestedContext::from_request(Some(&req(&[AC_PASSWORD_PROTECTED_TRANSPORT], min.clone())))
            .needs_mfa());
        assert!(RequestedContext::from_request(Some(&req(&[AC_REFEDS_MFA], min))).needs_mfa());
        let max = Some(AuthnContextComparison::Maximum);
        let r = RequestedContext::from_request(Some(&req(&[AC_PASSWORD_PROTECTED_TRANSPORT], max)));
        assert_eq!(r, RequestedContext { password: Some(AC_PASSWORD_PROTECTED_TRANSPORT), mfa: None });
    }

    #[test]
    fn codes_round_trip() {
        for r in [
            RequestedContext::default(),
            RequestedContext { password: None, mfa: Some(AC_MOBILE_TWO_FACTOR) },
            RequestedContext { password: None, mfa: None },
        ] {
            assert_eq!(RequestedContext::from_codes(r.to_codes()), r);
        }
        assert_eq!(RequestedContext::from_codes([9, 9]), RequestedContext { password: None, mfa: None });
    }
}
