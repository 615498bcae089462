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
    purposes: Vec<String>,
    primary: Vec<String>,
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

fn gather(p: &Policy, home: &str, out: &mut Parts) {
    match p {
        Policy::Attr(a) => match (a.name(), a.authority() == home) {
            (DOMAIN, true) => push(&mut out.domains, a.value()),
            (COUNTRY, true) => push(&mut out.countries, a.value()),
            (PURPOSE, false) => push(&mut out.purposes, a.value()),
            (PRIMARY_PURPOSE, false) => push(&mut out.primary, a.value()),
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

/// The rules of the policy `policy_text` (the public text in a ciphertext's header) for data
/// held at `home` (this IdP's authority), in plain words.
pub fn describe(policy_text: &str, home: &str) -> Rules {
    let Ok(policy) = Policy::parse(policy_text) else {
        return Rules { text: "The rules of this value could not be read.".into(), closes: None };
    };
    let mut parts = Parts::default();
    gather(&policy, home, &mut parts);
    let closes = parts.window.map(|(_, high)| high);
    if parts.other || parts.domains.is_empty() || parts.purposes.is_empty() {
        let text = format!("Readable by whoever holds keys satisfying the rule {policy}.");
        return Rules { text, closes };
    }
    let mut text = format!("Services of {} may read this", or_list(&parts.domains));
    text.push_str(&format!(" for {}", or_list(&parts.purposes)));
    if parts.purposes.iter().any(|p| p == "current") {
        text.push_str(" (current: only while you are signed in)");
    }
    if !parts.primary.is_empty() {
        text.push_str(&format!(", primarily for {}", or_list(&parts.primary)));
    }
    if let Some((low, high)) = parts.window {
        text.push_str(&format!(", from {} until {}", human_date(low), human_date(high)));
    }
    if !parts.countries.is_empty() {
        let upper: Vec<String> = parts.countries.iter().map(|c| c.to_uppercase()).collect();
        text.push_str(&format!("; only in {}", or_list(&upper)));
    }
    text.push('.');
    Rules { text, closes }
}

/// The disclosure rules a policy of the disclosure-policy shape was compiled from, when it has
/// that shape (the wallet pre-fills its form with them): the window comes back as
/// `valid_from`/`valid_until` dates. `None` for any other policy.
pub fn recover(policy_text: &str, home: &str) -> Option<crate::DisclosurePolicy> {
    let policy = Policy::parse(policy_text).ok()?;
    let mut parts = Parts::default();
    gather(&policy, home, &mut parts);
    if parts.other || parts.domains.is_empty() || parts.purposes.is_empty() {
        return None;
    }
    let (low, high) = parts.window?;
    Some(crate::DisclosurePolicy {
        purposes: parts.purposes,
        primary_purposes: parts.primary,
        domains: parts.domains,
        countries: parts.countries,
        valid_from: Some(iso_date(low)),
        lifetime_days: None,
        valid_until: Some(iso_date(high)),
    })
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
}
