//! The wallet's rules form, read into a disclosure policy: the attribute, the value, the
//! domains (one checkbox per authority of the federation), the purposes and primary purposes
//! (preset checkboxes or typed), optionally a domain's own purposes (the same fields, named
//! `purpose@DOMAIN` and so on), the country and the lifetime (for N days, or until a date,
//! optionally from a date).

use std::collections::BTreeMap;

use pbe_core::{DisclosurePolicy, DomainPurposes};
use zeroize::Zeroizing;

/// The purposes offered as checkboxes (the paper's examples); others can be typed.
pub const PRESETS: [&str; 5] = ["current", "contact", "purchase", "delivery", "marketing"];

/// Purposes as the form holds them: ticked presets and typed ones.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct PurposeFields {
    /// Ticked purposes.
    pub purposes: Vec<String>,
    /// Typed purposes, comma-separated.
    pub purposes_other: String,
    /// Ticked primary purposes.
    pub primary: Vec<String>,
    /// Typed primary purposes, comma-separated.
    pub primary_other: String,
}

impl PurposeFields {
    fn from_lists(purposes: &[String], primary: &[String]) -> Self {
        let (preset, other): (Vec<String>, Vec<String>) =
            purposes.iter().cloned().partition(|x| PRESETS.contains(&x.as_str()));
        let (ppreset, pother): (Vec<String>, Vec<String>) =
            primary.iter().cloned().partition(|x| PRESETS.contains(&x.as_str()));
        PurposeFields {
            purposes: preset,
            purposes_other: other.join(", "),
            primary: ppreset,
            primary_other: pother.join(", "),
        }
    }

    /// The purposes and primary purposes, ticked ones first.
    fn lists(&self) -> (Vec<String>, Vec<String>) {
        let mut purposes = self.purposes.clone();
        split_list(&self.purposes_other).for_each(|p| push_unique(&mut purposes, p));
        let mut primary = self.primary.clone();
        split_list(&self.primary_other).for_each(|p| push_unique(&mut primary, p));
        (purposes, primary)
    }

    /// Whether nothing is ticked or typed.
    pub fn is_empty(&self) -> bool {
        let (purposes, primary) = self.lists();
        purposes.is_empty() && primary.is_empty()
    }

    /// Takes one posted field of this group (`purpose`, `purposes_other`, `primary`,
    /// `primary_other`); false for any other name.
    fn take(&mut self, name: &str, v: String) -> bool {
        match name {
            "purpose" => push_unique(&mut self.purposes, v),
            "purposes_other" => self.purposes_other = v,
            "primary" => push_unique(&mut self.primary, v),
            "primary_other" => self.primary_other = v,
            _ => return false,
        }
        true
    }
}

/// At most this many domains with purposes of their own in one form (the short form's bound).
const MAX_OWN: usize = super::rules::MAX_ITEMS;

/// What the form posted.
#[derive(Default)]
pub struct FormInput {
    /// The attribute name.
    pub attr: String,
    /// The value (wiped on drop; may be empty when the vault keeps it).
    pub value: Zeroizing<String>,
    /// Ticked domains.
    pub domains: Vec<String>,
    /// The general purposes.
    pub general: PurposeFields,
    /// A domain's own purposes, by domain (fields named `purpose@DOMAIN`…); empty groups mean
    /// the domain uses the general ones.
    pub own: BTreeMap<String, PurposeFields>,
    /// Countries, comma-separated (empty: anywhere).
    pub country: String,
    /// First day, `YYYY-MM-DD` (empty: today).
    pub from: String,
    /// `days` or `until`.
    pub life: String,
    /// Number of days.
    pub days: String,
    /// Last day, `YYYY-MM-DD`.
    pub until: String,
    /// The form's CSRF token.
    pub csrf: String,
    /// A code from the person's authenticator app, when an upload token needs one.
    pub code: Zeroizing<String>,
    /// The value from a file (multipart posts only; used instead of `value` when given).
    pub file: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for FormInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormInput").field("attr", &self.attr).field("value", &"[redacted]").finish()
    }
}

fn split_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn push_unique(list: &mut Vec<String>, v: String) {
    if !list.contains(&v) {
        list.push(v);
    }
}

impl FormInput {
    /// Reads the posted pairs (repeated names for checkboxes); unknown names are ignored.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = FormInput { life: "days".into(), ..FormInput::default() };
        for (k, v) in pairs {
            if let Some((name, domain)) = k.split_once('@') {
                // A hostile page cannot grow the map past the bound: further domains are dropped
                // (and the form has no more fields than the federation has domains).
                if f.own.len() < MAX_OWN || f.own.contains_key(domain) {
                    f.own.entry(domain.to_owned()).or_default().take(name, v);
                }
                continue;
            }
            if f.general.take(&k, v.clone()) {
                continue;
            }
            match k.as_str() {
                "attr" => f.attr = v.trim().to_owned(),
                "value" => f.value = Zeroizing::new(v),
                "domain" => push_unique(&mut f.domains, v),
                "country" => f.country = v,
                "from" => f.from = v.trim().to_owned(),
                "life" => f.life = v,
                "days" => f.days = v.trim().to_owned(),
                "until" => f.until = v.trim().to_owned(),
                "csrf" => f.csrf = v,
                "code" => f.code = Zeroizing::new(v.trim().to_owned()),
                _ => {}
            }
        }
        f
    }

    /// The form pre-filled from rules (editing a stored attribute).
    pub fn from_policy(attr: &str, p: &DisclosurePolicy) -> Self {
        FormInput {
            attr: attr.to_owned(),
            domains: p.domains.clone(),
            general: PurposeFields::from_lists(&p.purposes, &p.primary_purposes),
            own: p
                .domain_purposes
                .iter()
                .map(|(d, own)| (d.clone(), PurposeFields::from_lists(&own.purposes, &own.primary_purposes)))
                .collect(),
            country: p.countries.join(", "),
            from: p.valid_from.clone().unwrap_or_default(),
            life: if p.valid_until.is_some() { "until".into() } else { "days".into() },
            days: p.lifetime_days.map(|d| d.to_string()).unwrap_or_default(),
            until: p.valid_until.clone().unwrap_or_default(),
            ..FormInput::default()
        }
    }

    /// The rules the form describes, or what is missing, in words.
    pub fn policy(&self) -> Result<DisclosurePolicy, String> {
        let (purposes, primary) = self.general.lists();
        if self.domains.is_empty() {
            return Err("Choose at least one domain.".into());
        }
        let mut domain_purposes = BTreeMap::new();
        for (domain, fields) in self.own.iter().filter(|(_, f)| !f.is_empty()) {
            let shown: String = domain.chars().take(40).collect();
            if !self.domains.contains(domain) {
                return Err(format!("You gave purposes for {shown} only, but did not choose {shown}."));
            }
            let (own, own_primary) = fields.lists();
            if own.is_empty() {
                return Err(format!("Choose or type at least one purpose for {shown}."));
            }
            domain_purposes
                .insert(domain.clone(), DomainPurposes { purposes: own, primary_purposes: own_primary });
        }
        if purposes.is_empty() && self.domains.iter().any(|d| !domain_purposes.contains_key(d)) {
            return Err("Choose or type at least one purpose.".into());
        }
        let (lifetime_days, valid_until) = if self.life == "until" {
            if self.until.is_empty() {
                return Err("Give the last day (until).".into());
            }
            (None, Some(self.until.clone()))
        } else {
            let n = self
                .days
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=99_999).contains(n))
                .ok_or("Give the number of days (1 to 99999).")?;
            (Some(n), None)
        };
        let countries: Vec<String> = split_list(&self.country).collect();
        let own_lists = domain_purposes
            .iter()
            .flat_map(|(d, o)| std::iter::once(d).chain(&o.purposes).chain(&o.primary_purposes));
        let all = self.domains.iter().chain(&purposes).chain(&primary).chain(&countries).chain(own_lists);
        if let Some(bad) = all.into_iter().find(|x| !super::rules::item_ok(x)) {
            let shown: String = bad.chars().take(40).collect();
            return Err(format!("'{shown}' is not a name (letters, digits, '_', '-', '.'; 1 to 64)."));
        }
        let p = DisclosurePolicy {
            purposes,
            primary_purposes: primary,
            domains: self.domains.clone(),
            countries,
            valid_from: (!self.from.is_empty()).then(|| self.from.clone()),
            lifetime_days,
            valid_until,
            domain_purposes,
        };
        // The short form checks every name and date; the same text `idaas pii put --rules` takes.
        super::rules::parse(&super::rules::print(&p)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_delivery_only_week_reads_as_the_short_form() {
        let f = FormInput::from_pairs(pairs(&[
            ("attr", "phone"),
            ("value", "+49 30 1234567"),
            ("domain", "salesforce"),
            ("purpose", "delivery"),
            ("primary", "delivery"),
            ("life", "days"),
            ("days", "7"),
        ]));
        let p = f.policy().unwrap();
        assert_eq!(
            super::super::rules::print(&p),
            "domain=salesforce purposes=delivery primary=delivery for=7d"
        );
        assert!(!format!("{f:?}").contains("1234567"));
        let back = FormInput::from_policy("phone", &p);
        assert_eq!(back.policy().unwrap(), p);
    }

    #[test]
    fn missing_or_bad_fields_are_explained() {
        let base = [("domain", "salesforce"), ("purpose", "current"), ("days", "7")];
        assert!(FormInput::from_pairs(pairs(&base)).policy().is_ok());
        let without = |drop: &str| {
            let list: Vec<_> = base.iter().copied().filter(|(k, _)| *k != drop).collect();
            FormInput::from_pairs(pairs(&list)).policy().unwrap_err()
        };
        assert!(without("domain").contains("domain"));
        assert!(without("purpose").contains("purpose"));
        assert!(without("days").contains("days"));
        let bad = FormInput::from_pairs(pairs(&[
            ("domain", "salesforce"),
            ("purposes_other", "x y"),
            ("days", "7"),
        ]));
        assert!(bad.policy().unwrap_err().contains("not a name"));
        let until = FormInput::from_pairs(pairs(&[
            ("domain", "salesforce"),
            ("purpose", "current"),
            ("life", "until"),
            ("until", "2026-13-40"),
        ]));
        assert!(until.policy().unwrap_err().contains("date"));
    }

    #[test]
    fn a_domain_can_have_purposes_of_its_own() {
        let mut list = vec![
            ("domain", "salesforce"),
            ("domain", "amazon"),
            ("purpose", "current"),
            ("primary", "purchase"),
            ("purpose@amazon", "delivery"),
            ("purposes_other@amazon", "returns"),
            // An empty group of a domain means: the general purposes.
            ("purposes_other@salesforce", ""),
            ("days", "7"),
        ];
        let p = FormInput::from_pairs(pairs(&list)).policy().unwrap();
        assert_eq!(
            super::super::rules::print(&p),
            "domain=salesforce,amazon purposes=current primary=purchase purposes@amazon=delivery,returns for=7d"
        );
        assert_eq!(FormInput::from_policy("phone", &p).policy().unwrap(), p);
        // Only own purposes, for every domain: no general purpose needed.
        let only_own = [("domain", "amazon"), ("purpose@amazon", "delivery"), ("days", "7")];
        assert!(FormInput::from_pairs(pairs(&only_own)).policy().unwrap().purposes.is_empty());
        // Own purposes for a domain not chosen, or only a primary one, are explained.
        list.push(("purpose@ebay", "contact"));
        assert!(FormInput::from_pairs(pairs(&list)).policy().unwrap_err().contains("did not choose ebay"));
        let primary_only =
            [("domain", "amazon"), ("purpose", "x"), ("primary@amazon", "delivery"), ("days", "7")];
        assert!(FormInput::from_pairs(pairs(&primary_only))
            .policy()
            .unwrap_err()
            .contains("purpose for amazon"));
        let bad = [("domain", "amazon"), ("purposes_other@amazon", "a b"), ("days", "7")];
        assert!(FormInput::from_pairs(pairs(&bad)).policy().unwrap_err().contains("not a name"));
        let no_general =
            [("domain", "amazon"), ("domain", "x"), ("purpose@amazon", "delivery"), ("days", "7")];
        assert!(FormInput::from_pairs(pairs(&no_general))
            .policy()
            .unwrap_err()
            .contains("at least one purpose"));
    }

    #[test]
    fn a_hostile_form_cannot_grow_the_own_purposes_past_the_bound() {
        let many: Vec<(String, String)> =
            (0..10_000).map(|i| (format!("purpose@d{i}"), "x".to_owned())).collect();
        let f = FormInput::from_pairs(many);
        assert_eq!(f.own.len(), MAX_OWN);
        assert!(f.policy().is_err());
    }
}
