//! What a person is shown about their own data (the account page, issue 18): each stored
//! ciphertext's disclosure rules in plain words, read from the policy text in its public header,
//! and which registered service could open it today.
//!
//! "Could open" is computed exactly as decryption would decide it: the policy is evaluated
//! against the attributes the service would hold after a sign-in today — the TAT this IdP
//! issues it (`access_time` = today, its `domain` and `country`, all at this IdP's authority)
//! and the PAT of its visitor IdP (the purposes registered for it, at its domain's authority,
//! as recorded in its registration here). No key is used and nothing is decrypted.

use pbe_core::disclosure::{ACCESS_TIME, COUNTRY, DOMAIN, PRIMARY_PURPOSE, PURPOSE};
use pbe_core::policy::{Policy, RangePolicy};
use pbe_core::Attribute;

use crate::model::ServiceProvider;

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
    let (y, m, d) = pbe_core::segtree::civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
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

/// Whether `sp` could open a ciphertext under `policy_text` after a sign-in on day `today`:
/// the policy evaluated against its TAT (`access_time` = today, `domain`, `country` at `home`)
/// and its registered purposes (at its domain's authority). A plain SAML service (no PBE
/// registration) opens nothing; an unreadable policy counts as not opened.
pub fn could_open(policy_text: &str, sp: &ServiceProvider, home: &str, today: u64) -> bool {
    let Some(pbe) = &sp.pbe else { return false };
    let Ok(policy) = Policy::parse(policy_text) else { return false };
    let mut held: Vec<Attribute> =
        pbe_core::segtree::path_attributes(ACCESS_TIME, home, today).unwrap_or_default();
    held.extend(Attribute::new(DOMAIN, &pbe.domain, home));
    held.extend(Attribute::new(COUNTRY, &pbe.country, home));
    for p in &sp.purposes {
        if let Some((name, value)) = p.split_once(':') {
            held.extend(Attribute::new(name, value, &pbe.domain));
        }
    }
    policy.is_satisfied_by(&|a: &Attribute| held.contains(a))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::model::PbeBinding;

    const DAY: u64 = 20_423; // 2025-12-01

    fn sp(purposes: &[&str], domain: &str) -> ServiceProvider {
        ServiceProvider {
            entity_id: "https://shop.example".into(),
            display_name: Some("Shop".into()),
            purposes: purposes.iter().map(|s| (*s).to_owned()).collect(),
            acs_urls: vec!["https://shop.example/acs".into()],
            authn_request_cert_pem: None,
            pbe: Some(PbeBinding {
                tat_public_key: String::new(),
                visitor_entity_id: String::new(),
                visitor_token_endpoint: String::new(),
                domain: domain.into(),
                country: "eu".into(),
            }),
            release: vec![],
            attribute_names: Default::default(),
            sign: Default::default(),
            authn_requests_signed: true,
            slo: None,
            consent: None,
            require_mfa: false,
        }
    }

    #[test]
    fn table1_rules_read_as_sentences_and_open_exactly_as_the_paper_says() {
        let rows = pbe_core::disclosure::table1();
        let texts: Vec<String> =
            rows.iter().map(|(_, _, d)| d.compile("telekom", DAY).unwrap().to_string()).collect();
        let addresses = describe(&texts[2], "telekom");
        assert!(
            addresses.text.starts_with("Services of salesforce may read this for contact"),
            "{addresses:?}"
        );
        assert!(addresses.text.contains("primarily for delivery") && addresses.text.contains("only in EU"));
        assert_eq!(addresses.closes, Some(DAY + 13));
        assert!(addresses.text.contains("until 14 Dec 2025"), "{addresses:?}");
        let shopping = sp(&["purpose:current", "ppurpose:purchase"], "salesforce");
        let delivery = sp(&["purpose:current", "purpose:contact", "ppurpose:delivery"], "salesforce");
        let opens = |s: &ServiceProvider, day| {
            texts.iter().map(|t| could_open(t, s, "telekom", day)).collect::<Vec<_>>()
        };
        assert_eq!(opens(&shopping, DAY), [true, true, false]);
        assert_eq!(opens(&delivery, DAY), [true, false, true]);
        assert_eq!(opens(&delivery, DAY + 14), [true, false, false], "addresses close after 14 days");
        assert_eq!(opens(&sp(&["purpose:current", "ppurpose:purchase"], "elsewhere"), DAY), [false; 3]);
        let plain = ServiceProvider { pbe: None, ..shopping };
        assert_eq!(opens(&plain, DAY), [false; 3]);
    }

    #[test]
    fn other_policies_are_shown_as_rules_and_garbage_is_not_a_panic() {
        let r = describe("2 of (a:b@x, c:d@y, e:f@z)", "telekom");
        assert!(r.text.contains("2 of"), "{r:?}");
        assert_eq!(describe("((((", "telekom").closes, None);
        assert!(!could_open("((((", &sp(&[], "salesforce"), "telekom", DAY));
        assert_eq!(human_date(0), "1 Jan 1970");
    }
}
