//! What a person is shown about their own data, shared by the home IdP's account page and the
//! data owner's wallet (`idaas wallet`): each stored ciphertext's disclosure rules in plain
//! words, read from the policy text in its public header, and which service could open it today.
//!
//! "Could open" is computed exactly as decryption would decide it: the policy is evaluated
//! against the attributes the service would hold after a sign-in today — the TAT the home IdP
//! issues it (`access_time` = today, its `domain` and `country`, all at the home authority)
//! and the PAT of its visitor IdP (the purposes registered for it, at its domain's authority).
//! No key is used and nothing is decrypted.

use crate::disclosure::{ACCESS_TIME, COUNTRY, DOMAIN, PRIMARY_PURPOSE, PURPOSE};
use crate::policy::{Policy, RangePolicy};
use crate::Attribute;

/// A stored attribute's rules, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The rules in a sentence.
    pub text: String,
    /// The last day (days since 1970-01-01) on which the rules let anyone read it, when the
    /// policy bounds `access_time`.
    pub closes: Option<u64>,
}

/// `days` (since 1970-01-01) as "30 Dec 2026".
pub fn human_date(days: u64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d) = crate::segtree::civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    let month = usize::try_from(m).ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).copied().unwrap_or("?");
    format!("{d} {month} {y}")
}

/// What a policy of the disclosure-policy shape names, gathered from its tree.
#[derive(Default)]
struct Parts {
    domains: Vec<String>,
    /// Purposes by the authority that certifies them (a domain, in the disclosure shape).
    purposes: Vec<(String, Vec<String>)>,
    /// Primary purposes by certifying authority.
    primary: Vec<(String, Vec<String>)>,
    countries: Vec<String>,
    window: Option<(u64, u64)>,
    /// Something outside the shape (another attribute, a threshold, another range).
    other: bool,
}

fn push(list: &mut Vec<String>, v: &str) {
    if !list.iter().any(|x| x == v) {
        list.push(v.to_owned());
    }
}

fn push_by(lists: &mut Vec<(String, Vec<String>)>, authority: &str, v: &str) {
    match lists.iter_mut().find(|(a, _)| a == authority) {
        Some((_, list)) => push(list, v),
        None => lists.push((authority.to_owned(), vec![v.to_owned()])),
    }
}

fn gather(p: &Policy, home: &str, out: &mut Parts) {
    match p {
        Policy::Attr(a) => match (a.name(), a.authority() == home) {
            (DOMAIN, true) => push(&mut out.domains, a.value()),
            (COUNTRY, true) => push(&mut out.countries, a.value()),
            (PURPOSE, false) => push_by(&mut out.purposes, a.authority(), a.value()),
            (PRIMARY_PURPOSE, false) => push_by(&mut out.primary, a.authority(), a.value()),
            _ => out.other = true,
        },
        Policy::And(c) | Policy::Or(c) => c.iter().for_each(|c| gather(c, home, out)),
        Policy::Threshold { children, .. } => {
            out.other = true;
            children.iter().for_each(|c| gather(c, home, out));
        }
        Policy::Range(r) => window(r, home, out),
    }
}

fn window(r: &RangePolicy, home: &str, out: &mut Parts) {
    if r.name() == ACCESS_TIME && r.authority() == home && r.is_date() && out.window.is_none() {
        out.window = Some((r.low(), r.high()));
    } else {
        out.other = true;
    }
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The disclosure rules `policy` was compiled from, with its window as dates, when it is
/// exactly what [`crate::DisclosurePolicy::compile`] makes of them. Recompiling is the check:
/// reading the rules off the tree alone would misdescribe a policy that only resembles the
/// shape (purposes of one domain placed in another domain's clause, say).
fn rules_of(policy: &Policy, home: &str) -> Option<crate::DisclosurePolicy> {
    let mut parts = Parts::default();
    gather(policy, home, &mut parts);
    if parts.other || parts.domains.is_empty() {
        return None;
    }
    let (low, high) = parts.window?;
    let of = |lists: &[(String, Vec<String>)], domain: &str| {
        lists.iter().find(|(a, _)| a == domain).map(|(_, l)| l.clone()).unwrap_or_default()
    };
    // The general purposes are the first domain's; every domain that differs gets its own.
    let first = parts.domains.first()?.clone();
    let (purposes, primary_purposes) = (of(&parts.purposes, &first), of(&parts.primary, &first));
    let mut domain_purposes = std::collections::BTreeMap::new();
    for domain in &parts.domains {
        let own = crate::DomainPurposes {
            purposes: of(&parts.purposes, domain),
            primary_purposes: of(&parts.primary, domain),
        };
        if own.purposes != purposes || own.primary_purposes != primary_purposes {
            domain_purposes.insert(domain.clone(), own);
        }
    }
    let rules = crate::DisclosurePolicy {
        purposes,
        primary_purposes,
        domains: parts.domains,
        countries: parts.countries,
        valid_from: Some(iso_date(low)),
        lifetime_days: None,
        valid_until: Some(iso_date(high)),
        domain_purposes,
    };
    (rules.compile(home, low).ok()? == *policy).then_some(rules)
}

/// "services of salesforce may read this for current or contact, primarily for purchase":
/// one phrase per group of domains sharing the same purposes.
fn purpose_phrases(rules: &crate::DisclosurePolicy) -> Vec<String> {
    let mut groups: Vec<(Vec<String>, &[String], &[String])> = Vec::new();
    for domain in &rules.domains {
        let (purposes, primary) = rules.purposes_of(domain);
        match groups.iter_mut().find(|(_, p, q)| *p == purposes && *q == primary) {
            Some((domains, _, _)) => domains.push(domain.clone()),
            None => groups.push((vec![domain.clone()], purposes, primary)),
        }
    }
    let mut noted_current = false;
    let mut phrases = Vec::with_capacity(groups.len());
    for (i, (domains, purposes, primary)) in groups.iter().enumerate() {
        let verb = if i == 0 { "this" } else { "it" };
        let mut phrase =
            format!("services of {} may read {verb} for {}", or_list(domains), or_list(purposes));
        if !noted_current && purposes.iter().any(|p| p == "current") {
            phrase.push_str(" (current: only while you are signed in)");
            noted_current = true;
        }
        if !primary.is_empty() {
            phrase.push_str(&format!(", primarily for {}", or_list(primary)));
        }
        phrases.push(phrase);
    }
    phrases
}

/// The rules of the policy `policy_text` (the public text in a ciphertext's header) for data
/// held at `home` (this IdP's authority), in plain words.
pub fn describe(policy_text: &str, home: &str) -> Rules {
    let Ok(policy) = Policy::parse(policy_text) else {
        return Rules { text: "The rules of this value could not be read.".into(), closes: None };
    };
    let Some(rules) = rules_of(&policy, home) else {
        let mut parts = Parts::default();
        gather(&policy, home, &mut parts);
        let text = format!("Readable by whoever holds keys satisfying the rule {policy}.");
        return Rules { text, closes: parts.window.map(|(_, high)| high) };
    };
    let mut text = purpose_phrases(&rules).join("; ");
    if let Some(first) = text.get(..1) {
        text.replace_range(..1, &first.to_uppercase());
    }
    let (low, high) = rules.validity(0).unwrap_or_default();
    text.push_str(&format!(", from {} until {}", human_date(low), human_date(high)));
    if !rules.countries.is_empty() {
        let upper: Vec<String> = rules.countries.iter().map(|c| c.to_uppercase()).collect();
        text.push_str(&format!("; only in {}", or_list(&upper)));
    }
    text.push('.');
    Rules { text, closes: Some(high) }
}

/// The disclosure rules a policy of the disclosure-policy shape was compiled from, when it has
/// that shape (the wallet pre-fills its form with them): the window comes back as
/// `valid_from`/`valid_until` dates, and domains whose purposes differ from the first domain's
/// come back in `domain_purposes`. `None` for any other policy.
pub fn recover(policy_text: &str, home: &str) -> Option<crate::DisclosurePolicy> {
    rules_of(&Policy::parse(policy_text).ok()?, home)
}

/// `days` (since 1970-01-01) as `YYYY-MM-DD`.
pub fn iso_date(days: u64) -> String {
    let (y, m, d) = crate::segtree::civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A service as the home IdP registered it for purpose-based encryption: what its TAT and
/// PAT would carry after a sign-in.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// Its domain (visitor authority).
    pub domain: &'a str,
    /// Its country.
    pub country: &'a str,
    /// Its registered purposes, `name:value` (`purpose:current`, `ppurpose:delivery`).
    pub purposes: &'a [String],
}

/// Whether `reader` could open a ciphertext under `policy_text` after a sign-in on day `today`:
/// the policy evaluated against its TAT (`access_time` = today, `domain`, `country` at `home`)
/// and its registered purposes (at its domain's authority). An unreadable policy counts as not
/// opened.
pub fn could_open(policy_text: &str, reader: &Reader<'_>, home: &str, today: u64) -> bool {
    let Ok(policy) = Policy::parse(policy_text) else { return false };
    let mut held: Vec<Attribute> =
        crate::segtree::path_attributes(ACCESS_TIME, home, today).unwrap_or_default();
    held.extend(Attribute::new(DOMAIN, reader.domain, home));
    held.extend(Attribute::new(COUNTRY, reader.country, home));
    for p in reader.purposes {
        if let Some((name, value)) = p.split_once(':') {
            held.extend(Attribute::new(name, value, reader.domain));
        }
    }
    policy.is_satisfied_by(&|a: &Attribute| held.contains(a))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const DAY: u64 = 20_423; // 2025-12-01

    #[test]
    fn table1_rules_read_as_sentences_and_open_as_the_paper_says() {
        let texts: Vec<String> = crate::disclosure::table1()
            .iter()
            .map(|(_, _, d)| d.compile("telekom", DAY).unwrap().to_string())
            .collect();
        let addresses = describe(&texts[2], "telekom");
        assert!(addresses.text.contains("primarily for delivery"), "{addresses:?}");
        assert_eq!(addresses.closes, Some(DAY + 13));
        let purposes = ["purpose:current".to_owned(), "ppurpose:purchase".to_owned()];
        let shop = Reader { domain: "salesforce", country: "eu", purposes: &purposes };
        let opens: Vec<bool> = texts.iter().map(|t| could_open(t, &shop, "telekom", DAY)).collect();
        assert_eq!(opens, [true, true, false]);
        assert!(!could_open("((((", &shop, "telekom", DAY));
        assert_eq!(describe("((((", "telekom").closes, None);
        assert_eq!(human_date(0), "1 Jan 1970");
    }

    #[test]
    fn compiled_rules_are_recovered_with_their_window_as_dates() {
        for (_, _, d) in crate::disclosure::table1() {
            let text = d.compile("telekom", DAY).unwrap().to_string();
            let back = recover(&text, "telekom").unwrap();
            assert_eq!(
                (&back.purposes, &back.domains, &back.countries),
                (&d.purposes, &d.domains, &d.countries)
            );
            assert_eq!(back.primary_purposes, d.primary_purposes);
            assert_eq!(back.compile("telekom", 0).unwrap().to_string(), text);
        }
        assert_eq!(iso_date(DAY), "2025-12-01");
        assert!(recover("a:b@c", "telekom").is_none());
    }

    fn per_domain() -> crate::DisclosurePolicy {
        let mut d = crate::disclosure::table1()[0].2.clone();
        d.domain_purposes.insert(
            "amazon".into(),
            crate::DomainPurposes { purposes: vec!["delivery".into()], primary_purposes: vec![] },
        );
        d
    }

    #[test]
    fn per_domain_purposes_are_told_per_domain_and_recovered() {
        let text = per_domain().compile("telekom", DAY).unwrap().to_string();
        let rules = describe(&text, "telekom");
        assert_eq!(
            rules.text,
            "Services of salesforce may read this for current or contact (current: only while you are \
             signed in), primarily for purchase or delivery; services of amazon may read it for delivery, \
             from 1 Dec 2025 until 30 Dec 2025; only in EU."
        );
        assert_eq!(rules.closes, Some(DAY + 29));
        let back = recover(&text, "telekom").unwrap();
        assert_eq!(back.domain_purposes, per_domain().domain_purposes);
        assert_eq!(back.compile("telekom", 0).unwrap().to_string(), text);
        let delivery = ["purpose:delivery".to_owned()];
        let amazon = Reader { domain: "amazon", country: "eu", purposes: &delivery };
        let salesforce = Reader { domain: "salesforce", ..amazon };
        assert!(could_open(&text, &amazon, "telekom", DAY));
        assert!(!could_open(&text, &salesforce, "telekom", DAY));
    }

    #[test]
    fn a_policy_that_only_resembles_the_shape_is_shown_as_its_rule() {
        // Each domain's clause names the other domain's purpose: not what the rules compile to.
        let text = "(domain:a@telekom and purpose:x@b or domain:b@telekom and purpose:y@a) \
                    and access_time@telekom in [2025-12-01, 2025-12-07]";
        let rules = describe(text, "telekom");
        assert!(rules.text.starts_with("Readable by whoever holds keys satisfying the rule"), "{rules:?}");
        assert_eq!(rules.closes, Some(DAY + 6));
        assert!(recover(text, "telekom").is_none());
        // Same for a purpose certified by an authority that is no domain of the policy.
        let text = "domain:a@telekom and purpose:x@z and access_time@telekom in [2025-12-01, 2025-12-07]";
        assert!(recover(text, "telekom").is_none());
    }
}
