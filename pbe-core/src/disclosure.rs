//! Disclosure policies: the data owner's high-level rules (the paper's Figure 12), compiled to
//! the policy language.
//!
//! A disclosure policy lists the purposes (and optionally primary purposes) for which a piece of
//! personal data may be used, the domains (visitor authorities) that may use it, optionally the
//! countries they must operate from, and a validity window. A domain may have purposes of its
//! own (`domain_purposes`), which replace the general ones for that domain only. It compiles to
//!
//! ```text
//! ( domain:d1@HOME and (purpose:p1@d1 or …) [and (ppurpose:q1@d1 or …)]
//!   or domain:d2@HOME and … )
//! [and (country:c1@HOME or …)]
//! and access_time@HOME in [from, until]
//! ```
//!
//! where each domain's clause names that domain's purposes (its own, or else the general ones).
//!
//! ```
//! use pbe_core::disclosure::DisclosurePolicy;
//! use pbe_core::segtree::days_from_civil;
//!
//! let rules: DisclosurePolicy = toml::from_str(r#"
//!     purposes = ["contact"]
//!     primary_purposes = ["delivery"]
//!     domains = ["salesforce"]
//!     countries = ["eu"]
//!     lifetime_days = 14
//! "#).unwrap();
//! let today = days_from_civil(2026, 11, 23).unwrap() as u64;
//! assert_eq!(
//!     rules.compile("telekom", today).unwrap().to_string(),
//!     "domain:salesforce@telekom and purpose:contact@salesforce and ppurpose:delivery@salesforce \
//!      and country:eu@telekom and access_time@telekom in [2026-11-23, 2026-12-06]"
//! );
//! ```
//!
//! Purposes are issued by each domain's own visitor IdP (`@d`), while the domain, country and
//! access time are vouched for by the home IdP: a visitor cannot certify purposes for another
//! domain, and the home IdP decides which domain a session belongs to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::attribute::{validate_identifier, Attribute};
use crate::policy::{Policy, PolicyError, RangePolicy};
use crate::segtree::parse_number;

/// Name of the home-issued attribute naming the visitor's domain (`domain:salesforce@telekom`).
pub const DOMAIN: &str = "domain";
/// Name of the visitor-issued attribute stating a purpose of use (`purpose:current@salesforce`).
pub const PURPOSE: &str = "purpose";
/// Name of the visitor-issued attribute stating a primary purpose (`ppurpose:purchase@salesforce`).
pub const PRIMARY_PURPOSE: &str = "ppurpose";
/// Name of the home-issued attribute stating the visitor's country (`country:eu@telekom`).
pub const COUNTRY: &str = "country";
/// Name of the home-issued numeric attribute holding the access day (days since 1970-01-01),
/// issued as a segment-tree path (see [`crate::segtree::path_attributes`]).
pub const ACCESS_TIME: &str = "access_time";

/// A data owner's disclosure rules for one attribute value (the paper's Figure 12).
///
/// Deserialises from JSON or TOML with the field names below; unknown fields are rejected so a
/// misspelt restriction (`countrys`) cannot be silently ignored. All identifiers are validated
/// and lower-cased by [`DisclosurePolicy::compile`]. `Default` is the empty policy, which does
/// not compile: it exists so callers can write `..DisclosurePolicy::default()`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosurePolicy {
    /// Purposes for which the data may be used; a visitor needs one of them. Needed for every
    /// domain without purposes of its own in `domain_purposes` (so it may be empty only when
    /// every domain has them).
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Primary purposes; if non-empty, a visitor additionally needs one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_purposes: Vec<String>,
    /// Domains (visitor authorities) that may receive the data (non-empty).
    pub domains: Vec<String>,
    /// Countries the visitor must be in; empty means no restriction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// First valid day, `YYYY-MM-DD`; defaults to the day of compilation (encryption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Number of valid days starting at `valid_from` (at least 1). Exactly one of
    /// `lifetime_days` and `valid_until` must be set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_days: Option<u32>,
    /// Last valid day (inclusive), `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Purposes of one domain, replacing `purposes` and `primary_purposes` for that domain
    /// (keys must be listed in `domains`). Last, so TOML writes the tables after the values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub domain_purposes: BTreeMap<String, DomainPurposes>,
}

/// The purposes one domain may use the data for, instead of the policy's general ones.
///
/// Both lists replace the general ones: a domain with `purposes = ["delivery"]` and no
/// `primary_purposes` needs no primary purpose, whatever the general rules say.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainPurposes {
    /// Purposes for which this domain may use the data; it needs one of them (non-empty).
    pub purposes: Vec<String>,
    /// Primary purposes; if non-empty, this domain additionally needs one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_purposes: Vec<String>,
}

/// Parses a `YYYY-MM-DD` field into days since 1970-01-01; integers are rejected because a bare
/// number in a date field is almost certainly a mistake.
fn parse_date_field(field: &'static str, text: &str) -> Result<u64, PolicyError> {
    let in_field = |error| PolicyError::InField { field, error: Box::new(error) };
    match parse_number(text) {
        Ok((days, true)) => Ok(days),
        Ok((_, false)) => {
            Err(in_field(PolicyError::InvalidDate { position: 0, text: crate::policy::error::excerpt(text) }))
        }
        Err(error) => Err(in_field(error)),
    }
}

/// `name:v@authority` for each value, OR-ed (a single value is not wrapped).
fn any_of(name: &str, kind: &'static str, values: &[String], authority: &str) -> Result<Policy, PolicyError> {
    let leaves = values
        .iter()
        .map(|v| {
            let value = validate_identifier(kind, v)?;
            Ok(Policy::Attr(Attribute::new(name, &value, authority)?))
        })
        .collect::<Result<Vec<_>, PolicyError>>()?;
    Ok(Policy::or(leaves))
}

impl DisclosurePolicy {
    /// The validity window `[from, until]` in days since 1970-01-01, inclusive.
    ///
    /// `from` is `valid_from` or else `today_days`; `until` is `valid_until`, or else
    /// `from + lifetime_days − 1`. Exactly one of `valid_until` and `lifetime_days` must be set.
    pub fn validity(&self, today_days: u64) -> Result<(u64, u64), PolicyError> {
        let from = match &self.valid_from {
            Some(text) => parse_date_field("valid_from", text)?,
            None => today_days,
        };
        let until = match (&self.valid_until, self.lifetime_days) {
            (Some(_), Some(_)) => return Err(PolicyError::ConflictingValidity),
            (None, None) => return Err(PolicyError::MissingValidity),
            (None, Some(0)) => return Err(PolicyError::ZeroLifetime),
            (None, Some(days)) => from.saturating_add(u64::from(days) - 1),
            (Some(text), None) => parse_date_field("valid_until", text)?,
        };
        Ok((from, until))
    }

    /// Compiles the rules into a policy for data held by `home_authority`, with `today_days`
    /// (days since 1970-01-01) as the default start of validity.
    ///
    /// Fails on empty `domains`, a domain left without purposes (no general `purposes` and none
    /// of its own), purposes given for a domain not in `domains` (or twice, ignoring case),
    /// invalid identifiers, a bad validity window (see [`DisclosurePolicy::validity`]; an empty
    /// window or one reaching past the segment tree is an error) or a result beyond the policy
    /// limits.
    pub fn compile(&self, home_authority: &str, today_days: u64) -> Result<Policy, PolicyError> {
        let home = validate_identifier("authority", home_authority)?;
        if self.domains.is_empty() {
            return Err(PolicyError::EmptyField { field: "domains" });
        }
        let own = self.own_purposes()?;
        let mut per_domain = Vec::with_capacity(self.domains.len());
        for domain in &self.domains {
            let domain = validate_identifier("domain", domain)?;
            let (purposes, primary) = match own.get(&domain) {
                Some(rules) => (&rules.purposes, &rules.primary_purposes),
                None => (&self.purposes, &self.primary_purposes),
            };
            if purposes.is_empty() {
                return Err(PolicyError::EmptyField { field: "purposes" });
            }
            let mut clause = vec![
                Policy::Attr(Attribute::new(DOMAIN, &domain, &home)?),
                any_of(PURPOSE, "purpose", purposes, &domain)?,
            ];
            if !primary.is_empty() {
                clause.push(any_of(PRIMARY_PURPOSE, "primary purpose", primary, &domain)?);
            }
            per_domain.push(Policy::and(clause));
        }
        let mut conjuncts = vec![Policy::or(per_domain)];
        if !self.countries.is_empty() {
            conjuncts.push(any_of(COUNTRY, "country", &self.countries, &home)?);
        }
        let (from, until) = self.validity(today_days)?;
        conjuncts.push(Policy::Range(RangePolicy::new(ACCESS_TIME, &home, from, until, true)?));
        let policy = Policy::and(conjuncts);
        policy.validate()?;
        Ok(policy)
    }
}

impl DisclosurePolicy {
    /// `domain_purposes` keyed by the validated, lower-cased domain; each key must be one of
    /// `domains` (a typo would otherwise silently leave the domain on the general purposes).
    fn own_purposes(&self) -> Result<BTreeMap<String, &DomainPurposes>, PolicyError> {
        let listed =
            self.domains.iter().map(|d| validate_identifier("domain", d)).collect::<Result<Vec<_>, _>>()?;
        let mut own = BTreeMap::new();
        for (domain, rules) in &self.domain_purposes {
            let domain = validate_identifier("domain", domain)?;
            if !listed.contains(&domain) {
                return Err(PolicyError::UnlistedDomain { domain });
            }
            if rules.purposes.is_empty() {
                return Err(PolicyError::EmptyField { field: "domain_purposes.purposes" });
            }
            if own.insert(domain.clone(), rules).is_some() {
                return Err(PolicyError::DuplicateDomain { domain });
            }
        }
        Ok(own)
    }

    /// The purposes and primary purposes that apply to `domain`: its own, or the general ones.
    pub fn purposes_of(&self, domain: &str) -> (&[String], &[String]) {
        let own = self.domain_purposes.iter().find(|(d, _)| d.eq_ignore_ascii_case(domain));
        match own {
            Some((_, rules)) => (&rules.purposes, &rules.primary_purposes),
            None => (&self.purposes, &self.primary_purposes),
        }
    }
}

/// The paper's Table 1, the running example: `(attribute, value, rules)` for `lastname`, `dob`
/// and `addresses`. Validity starts on the day of encryption (`valid_from` is `None`).
pub fn table1() -> [(&'static str, &'static str, DisclosurePolicy); 3] {
    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    let rules = |purposes: &[&str], primary: &[&str], domains: &[&str], days| DisclosurePolicy {
        purposes: strings(purposes),
        primary_purposes: strings(primary),
        domains: strings(domains),
        countries: strings(&["eu"]),
        valid_from: None,
        lifetime_days: Some(days),
        valid_until: None,
        domain_purposes: BTreeMap::new(),
    };
    [
        (
            "lastname",
            "Tri",
            rules(&["current", "contact"], &["purchase", "delivery"], &["salesforce", "amazon"], 30),
        ),
        (
            "dob",
            "1980-01-01",
            rules(&["current"], &["purchase", "government"], &["salesforce", "amazon"], 30),
        ),
        ("addresses", "Berlin, Germany", rules(&["contact"], &["delivery"], &["salesforce"], 14)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsss::Lsss;
    use crate::segtree::{days_from_civil, path_attributes};
    use ark_bls12_381::Fr;
    use std::collections::BTreeSet;

    const HOME: &str = "telekom";

    fn day(y: i64, m: u32, d: u32) -> u64 {
        u64::try_from(days_from_civil(y, m, d).unwrap()).unwrap()
    }

    fn attrs(list: &[&str]) -> BTreeSet<Attribute> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    /// The home IdP's token for a session on `access_day` in domain salesforce, country eu.
    fn tat(access_day: u64) -> BTreeSet<Attribute> {
        let mut set = attrs(&["domain:salesforce@telekom", "country:eu@telekom"]);
        set.extend(path_attributes(ACCESS_TIME, HOME, access_day).unwrap());
        set
    }

    fn shopping() -> BTreeSet<Attribute> {
        attrs(&["purpose:current@salesforce", "ppurpose:purchase@salesforce"])
    }

    fn delivery() -> BTreeSet<Attribute> {
        attrs(&["purpose:current@salesforce", "purpose:contact@salesforce", "ppurpose:delivery@salesforce"])
    }

    /// Which of Table 1's attributes (encrypted on `encrypted`) the key `tat ∪ pat` opens,
    /// checked with both the reference semantics and the LSSS, which must agree.
    fn opens(encrypted: u64, tat: &BTreeSet<Attribute>, pat: &BTreeSet<Attribute>) -> Vec<&'static str> {
        let has = |a: &Attribute| tat.contains(a) || pat.contains(a);
        table1()
            .into_iter()
            .filter_map(|(name, _, rules)| {
                let policy = rules.compile(HOME, encrypted).unwrap();
                let satisfied = policy.is_satisfied_by(&has);
                let lsss = Lsss::<Fr>::from_policy(&policy).unwrap();
                assert_eq!(lsss.reconstruction(&has).is_some(), satisfied, "{name}: {policy}");
                satisfied.then_some(name)
            })
            .collect()
    }

    #[test]
    fn table1_shopping_opens_lastname_and_dob_only() {
        let d = day(2026, 11, 23);
        assert_eq!(opens(d, &tat(d), &shopping()), ["lastname", "dob"]);
    }

    #[test]
    fn table1_delivery_opens_lastname_and_addresses_only() {
        let d = day(2026, 11, 23);
        assert_eq!(opens(d, &tat(d), &delivery()), ["lastname", "addresses"]);
    }

    #[test]
    fn table1_expired_session_without_current_opens_neither_lastname_nor_dob() {
        let d = day(2026, 11, 23);
        let pat = attrs(&["ppurpose:purchase@salesforce"]);
        assert!(opens(d, &tat(d), &pat).is_empty());
    }

    #[test]
    fn table1_token_after_fourteen_days_no_longer_opens_addresses() {
        let d = day(2026, 11, 23);
        assert_eq!(opens(d, &tat(d + 13), &delivery()), ["lastname", "addresses"]);
        assert_eq!(opens(d, &tat(d + 15), &delivery()), ["lastname"]);
        assert_eq!(opens(d, &tat(d + 29), &delivery()), ["lastname"]);
        assert!(opens(d, &tat(d + 30), &delivery()).is_empty());
        assert!(opens(d, &tat(d - 1), &delivery()).is_empty());
    }

    #[test]
    fn table1_other_domain_or_country_opens_nothing() {
        let d = day(2026, 11, 23);
        let mut wrong_country = tat(d);
        wrong_country.remove(&"country:eu@telekom".parse().unwrap());
        wrong_country.insert("country:us@telekom".parse().unwrap());
        assert!(opens(d, &wrong_country, &delivery()).is_empty());
        // Purposes certified by salesforce do not count for an amazon session.
        let mut amazon = tat(d);
        amazon.remove(&"domain:salesforce@telekom".parse().unwrap());
        amazon.insert("domain:amazon@telekom".parse().unwrap());
        assert!(opens(d, &amazon, &delivery()).is_empty());
    }

    #[test]
    fn compiles_table1_lastname_to_the_documented_formula() {
        let (_, _, rules) = table1().into_iter().next().unwrap();
        let policy = rules.compile("Telekom", day(2026, 11, 23)).unwrap();
        assert_eq!(
            policy.to_string(),
            "(domain:salesforce@telekom and (purpose:current@salesforce or purpose:contact@salesforce) \
             and (ppurpose:purchase@salesforce or ppurpose:delivery@salesforce) \
             or domain:amazon@telekom and (purpose:current@amazon or purpose:contact@amazon) \
             and (ppurpose:purchase@amazon or ppurpose:delivery@amazon)) \
             and country:eu@telekom and access_time@telekom in [2026-11-23, 2026-12-22]"
        );
        assert_eq!(Policy::parse(&policy.to_string()).unwrap(), policy);
        let authorities: Vec<_> = policy.authorities().into_iter().collect();
        assert_eq!(authorities, ["amazon", "salesforce", "telekom"]);
    }

    #[test]
    fn single_values_are_not_wrapped_and_primary_purposes_are_optional() {
        let rules = DisclosurePolicy {
            purposes: vec!["Contact".into()],
            primary_purposes: vec![],
            domains: vec!["salesforce".into()],
            countries: vec![],
            valid_from: Some("2026-01-01".into()),
            lifetime_days: None,
            valid_until: Some("2026-01-31".into()),
            domain_purposes: BTreeMap::new(),
        };
        assert_eq!(
            rules.compile(HOME, 0).unwrap().to_string(),
            "domain:salesforce@telekom and purpose:contact@salesforce \
             and access_time@telekom in [2026-01-01, 2026-01-31]"
        );
    }

    fn base() -> DisclosurePolicy {
        table1().into_iter().nth(2).unwrap().2
    }

    #[test]
    fn rejects_empty_purposes_and_domains() {
        assert_eq!(
            DisclosurePolicy::default().compile(HOME, 0),
            Err(PolicyError::EmptyField { field: "domains" })
        );
        let mut rules = base();
        rules.purposes.clear();
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::EmptyField { field: "purposes" }));
        let mut rules = base();
        rules.domains.clear();
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::EmptyField { field: "domains" }));
    }

    #[test]
    fn rejects_missing_conflicting_and_zero_validity() {
        let mut rules = base();
        rules.lifetime_days = None;
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::MissingValidity));
        rules.valid_until = Some("2026-01-01".into());
        rules.lifetime_days = Some(3);
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::ConflictingValidity));
        rules.valid_until = None;
        rules.lifetime_days = Some(0);
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::ZeroLifetime));
    }

    #[test]
    fn rejects_bad_dates_and_windows() {
        let mut rules = base();
        rules.valid_from = Some("2026-02-30".into());
        assert_eq!(
            rules.compile(HOME, 0),
            Err(PolicyError::InField {
                field: "valid_from",
                error: Box::new(PolicyError::InvalidDate { position: 0, text: "2026-02-30".into() }),
            })
        );
        rules.valid_from = Some("20000".into());
        assert!(matches!(rules.compile(HOME, 0), Err(PolicyError::InField { field: "valid_from", .. })));
        let mut rules = base();
        rules.lifetime_days = None;
        rules.valid_from = Some("2026-02-01".into());
        rules.valid_until = Some("2026-01-31".into());
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::EmptyRange { position: None }));
        let mut rules = base();
        assert!(matches!(rules.compile(HOME, 65_530), Err(PolicyError::OutOfRange { .. })));
        rules.lifetime_days = Some(u32::MAX);
        assert!(matches!(rules.compile(HOME, 0), Err(PolicyError::OutOfRange { .. })));
    }

    #[test]
    fn rejects_invalid_identifiers() {
        let mut rules = base();
        rules.domains = vec!["sales force".into()];
        assert_eq!(
            rules.compile(HOME, 0),
            Err(PolicyError::InvalidIdentifier { kind: "domain", value: "sales force".into() })
        );
        let mut rules = base();
        rules.countries = vec!["".into()];
        assert!(matches!(
            rules.compile(HOME, 0),
            Err(PolicyError::InvalidIdentifier { kind: "country", .. })
        ));
        assert!(matches!(
            base().compile("tele kom", 0),
            Err(PolicyError::InvalidIdentifier { kind: "authority", .. })
        ));
    }

    #[test]
    fn rejects_policies_beyond_the_row_limit() {
        let mut rules = base();
        rules.purposes = (0..600).map(|i| format!("p{i}")).collect();
        assert!(matches!(rules.compile(HOME, 0), Err(PolicyError::TooManyRows { .. })));
    }

    #[test]
    fn reads_json_and_toml() {
        let json = r#"{"purposes": ["current", "contact"], "primary_purposes": ["purchase"],
            "domains": ["salesforce", "amazon"], "countries": ["eu"], "lifetime_days": 30}"#;
        let from_json: DisclosurePolicy = serde_json::from_str(json).unwrap();
        let toml_text = r#"
            purposes = ["current", "contact"]
            primary_purposes = ["purchase"]
            domains = ["salesforce", "amazon"]
            countries = ["eu"]
            lifetime_days = 30
        "#;
        let from_toml: DisclosurePolicy = toml::from_str(toml_text).unwrap();
        assert_eq!(from_json, from_toml);
        assert_eq!(from_json.valid_from, None);
        let minimal: DisclosurePolicy =
            serde_json::from_str(r#"{"purposes": ["x"], "domains": ["d"], "valid_until": "2026-12-31"}"#)
                .unwrap();
        assert!(minimal.primary_purposes.is_empty() && minimal.countries.is_empty());
    }

    #[test]
    fn rejects_unknown_and_missing_fields() {
        let unknown = r#"{"purposes": ["x"], "domains": ["d"], "lifetime_days": 1, "countrys": ["eu"]}"#;
        assert!(serde_json::from_str::<DisclosurePolicy>(unknown).is_err());
        assert!(toml::from_str::<DisclosurePolicy>("purposes = [\"x\"]\nlifetime_days = 1").is_err());
    }

    /// salesforce on the general purposes, amazon on its own: delivery only, no primary.
    fn per_domain() -> DisclosurePolicy {
        let mut rules = table1().into_iter().next().unwrap().2;
        rules.domain_purposes.insert(
            "Amazon".into(),
            DomainPurposes { purposes: vec!["delivery".into()], primary_purposes: vec![] },
        );
        rules
    }

    #[test]
    fn a_domain_with_its_own_purposes_compiles_to_its_own_clause() {
        let policy = per_domain().compile(HOME, day(2026, 11, 23)).unwrap();
        assert_eq!(
            policy.to_string(),
            "(domain:salesforce@telekom and (purpose:current@salesforce or purpose:contact@salesforce) \
             and (ppurpose:purchase@salesforce or ppurpose:delivery@salesforce) \
             or domain:amazon@telekom and purpose:delivery@amazon) \
             and country:eu@telekom and access_time@telekom in [2026-11-23, 2026-12-22]"
        );
        assert_eq!(Policy::parse(&policy.to_string()).unwrap(), policy);
        let rules = per_domain();
        assert_eq!(rules.purposes_of("amazon").0, ["delivery"]);
        assert!(rules.purposes_of("amazon").1.is_empty());
        assert_eq!(rules.purposes_of("salesforce").0, ["current", "contact"]);
    }

    #[test]
    fn per_domain_purposes_open_only_that_domain_for_those_purposes() {
        let d = day(2026, 11, 23);
        let policy = per_domain().compile(HOME, d).unwrap();
        let mut amazon_tat = tat(d);
        amazon_tat.remove(&"domain:salesforce@telekom".parse().unwrap());
        amazon_tat.insert("domain:amazon@telekom".parse().unwrap());
        let opens = |tat: &BTreeSet<Attribute>, pat: &[&str]| {
            let pat = attrs(pat);
            let has = |a: &Attribute| tat.contains(a) || pat.contains(a);
            let satisfied = policy.is_satisfied_by(&has);
            let lsss = Lsss::<Fr>::from_policy(&policy).unwrap();
            assert_eq!(lsss.reconstruction(&has).is_some(), satisfied);
            satisfied
        };
        assert!(opens(&amazon_tat, &["purpose:delivery@amazon"]));
        // amazon's general purposes no longer count for amazon, nor salesforce's own purposes.
        assert!(!opens(&amazon_tat, &["purpose:current@amazon", "ppurpose:purchase@amazon"]));
        assert!(!opens(&tat(d), &["purpose:delivery@salesforce"]));
        assert!(opens(&tat(d), &["purpose:current@salesforce", "ppurpose:purchase@salesforce"]));
    }

    #[test]
    fn general_purposes_may_be_empty_only_when_every_domain_has_its_own() {
        let mut rules = per_domain();
        rules.purposes.clear();
        rules.primary_purposes.clear();
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::EmptyField { field: "purposes" }));
        rules.domain_purposes.insert(
            "salesforce".into(),
            DomainPurposes { purposes: vec!["current".into()], primary_purposes: vec!["purchase".into()] },
        );
        assert!(rules.compile(HOME, 0).is_ok());
    }

    #[test]
    fn per_domain_purposes_for_an_unlisted_duplicate_or_empty_domain_are_refused() {
        let mut rules = per_domain();
        rules
            .domain_purposes
            .insert("ebay".into(), DomainPurposes { purposes: vec!["x".into()], ..Default::default() });
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::UnlistedDomain { domain: "ebay".into() }));
        let mut rules = per_domain();
        rules
            .domain_purposes
            .insert("amazon".into(), DomainPurposes { purposes: vec!["x".into()], ..Default::default() });
        assert_eq!(rules.compile(HOME, 0), Err(PolicyError::DuplicateDomain { domain: "amazon".into() }));
        let mut rules = per_domain();
        rules.domain_purposes.insert("salesforce".into(), DomainPurposes::default());
        assert_eq!(
            rules.compile(HOME, 0),
            Err(PolicyError::EmptyField { field: "domain_purposes.purposes" })
        );
        let mut rules = per_domain();
        rules.domain_purposes.insert(
            "sales force".into(),
            DomainPurposes { purposes: vec!["x".into()], ..Default::default() },
        );
        assert!(matches!(rules.compile(HOME, 0), Err(PolicyError::InvalidIdentifier { kind: "domain", .. })));
        let mut rules = per_domain();
        rules.domain_purposes.insert(
            "salesforce".into(),
            DomainPurposes { purposes: vec!["a b".into()], ..Default::default() },
        );
        assert!(matches!(
            rules.compile(HOME, 0),
            Err(PolicyError::InvalidIdentifier { kind: "purpose", .. })
        ));
    }

    #[test]
    fn per_domain_purposes_read_and_round_trip_in_json_and_toml() {
        let toml_text = r#"
            purposes = ["current"]
            domains = ["salesforce", "amazon"]
            lifetime_days = 7
            [domain_purposes.amazon]
            purposes = ["delivery"]
            primary_purposes = ["delivery"]
        "#;
        let rules: DisclosurePolicy = toml::from_str(toml_text).unwrap();
        assert_eq!(rules.purposes_of("amazon"), (&["delivery".to_owned()][..], &["delivery".to_owned()][..]));
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(serde_json::from_str::<DisclosurePolicy>(&json).unwrap(), rules);
        assert_eq!(toml::from_str::<DisclosurePolicy>(&toml::to_string(&rules).unwrap()).unwrap(), rules);
        let only_own = r#"{"domains": ["amazon"], "lifetime_days": 1,
            "domain_purposes": {"amazon": {"purposes": ["delivery"]}}}"#;
        assert!(serde_json::from_str::<DisclosurePolicy>(only_own).unwrap().compile(HOME, 0).is_ok());
        let unknown = r#"{"domains": ["amazon"], "lifetime_days": 1,
            "domain_purposes": {"amazon": {"purposes": ["delivery"], "primary": ["x"]}}}"#;
        assert!(serde_json::from_str::<DisclosurePolicy>(unknown).is_err());
    }

    #[test]
    fn table1_round_trips_through_json_and_toml() {
        for (_, _, rules) in table1() {
            let json = serde_json::to_string(&rules).unwrap();
            assert_eq!(serde_json::from_str::<DisclosurePolicy>(&json).unwrap(), rules);
            let toml_text = toml::to_string(&rules).unwrap();
            assert_eq!(toml::from_str::<DisclosurePolicy>(&toml_text).unwrap(), rules);
        }
    }
}
