//! The short form of a disclosure policy, as `idaas pii put --rules` takes it and the wallet
//! shows it: `domain=salesforce purposes=purchase,current for=30d country=eu`.
//!
//! Grammar (docs/wallet.md):
//!
//! ```text
//! rules  = clause *( 1*SP clause )
//! clause = key "=" item *( "," item )
//! key    = "domain" | "purposes" | "primary" | "country" | "from" | "for" | "until"
//!        | "purposes@" item | "primary@" item   ; one domain's own purposes
//! item   = 1*64( a-z / A-Z / 0-9 / "_" / "-" / "." )
//! for    = 1*5DIGIT "d"            ; number of days, at least 1
//! from, until = YYYY-MM-DD
//! ```
//!
//! Each key at most once; `domain` is required, `purposes` too unless every domain has its
//! own (`purposes@amazon=delivery`), and exactly one of `for` and `until`. A domain's own
//! purposes replace the general `purposes` and `primary` for it; `primary@D` needs
//! `purposes@D`, and `D` must be one of the domains. `domains`, `purpose` and `countries` are
//! accepted as spellings of the same keys. [`print`] writes the canonical order (domain,
//! purposes, primary, each domain's own, country, from, for/until), and `parse(print(p)) == p`
//! for every policy [`parse`] accepts.

use pbe_core::{DisclosurePolicy, DomainPurposes};

/// Why a `--rules` text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rules: {0}")]
pub struct RulesError(String);

fn err(msg: impl Into<String>) -> RulesError {
    RulesError(msg.into())
}

/// At most this many bytes of rules text.
pub const MAX_RULES_LEN: usize = 4096;
/// At most this many items in one list.
pub const MAX_ITEMS: usize = 32;

/// Whether `s` may be one item of a list (a domain, purpose or country).
pub fn item_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn items(key: &str, value: &str) -> Result<Vec<String>, RulesError> {
    let list: Vec<String> = value.split(',').map(str::to_owned).collect();
    if list.len() > MAX_ITEMS {
        return Err(err(format!("{key}: at most {MAX_ITEMS} values")));
    }
    if let Some(bad) = list.iter().find(|i| !item_ok(i)) {
        return Err(err(format!(
            "{key}: '{}' is not a name (letters, digits, '_', '-', '.'; 1 to 64)",
            excerpt(bad)
        )));
    }
    Ok(list)
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

fn date(key: &str, value: &str) -> Result<String, RulesError> {
    match pbe_core::segtree::parse_number(value) {
        Ok((_, true)) => Ok(value.to_owned()),
        _ => Err(err(format!("{key}: '{}' is not a date YYYY-MM-DD", excerpt(value)))),
    }
}

fn days(value: &str) -> Result<u32, RulesError> {
    let n = value
        .strip_suffix('d')
        .filter(|n| !n.is_empty() && n.len() <= 5 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| err(format!("for: '{}' is not a number of days like 30d", excerpt(value))))?;
    if n == 0 {
        return Err(err("for: at least 1d"));
    }
    Ok(n)
}

/// Parses the short form into a disclosure policy (not yet compiled: identifiers are checked
/// again, and dates resolved, by [`DisclosurePolicy::compile`]).
pub fn parse(text: &str) -> Result<DisclosurePolicy, RulesError> {
    if text.len() > MAX_RULES_LEN {
        return Err(err(format!("longer than {MAX_RULES_LEN} bytes")));
    }
    let mut p = DisclosurePolicy::default();
    let mut seen: Vec<String> = Vec::new();
    for clause in text.split_ascii_whitespace() {
        let (key, value) =
            clause.split_once('=').ok_or_else(|| err(format!("'{}' is not key=value", excerpt(clause))))?;
        let (key, domain) = match key.split_once('@') {
            Some((key, domain)) if item_ok(domain) => (key, Some(domain)),
            Some(_) => return Err(err(format!("'{}': the domain after '@' is not a name", excerpt(key)))),
            None => (key, None),
        };
        let key: &'static str = match (key, domain) {
            ("domain" | "domains", None) => "domain",
            ("purposes" | "purpose", _) => "purposes",
            ("primary", _) => "primary",
            ("country" | "countries", None) => "country",
            ("from", None) => "from",
            ("for", None) => "for",
            ("until", None) => "until",
            (other, _) => {
                return Err(err(format!(
                    "unknown key '{}' (domain, purposes, primary, purposes@DOMAIN, primary@DOMAIN, \
                     country, from, for, until)",
                    excerpt(other)
                )))
            }
        };
        let seen_as = match domain {
            Some(d) => format!("{key}@{}", d.to_ascii_lowercase()),
            None => key.to_owned(),
        };
        if seen.contains(&seen_as) {
            return Err(err(format!("{seen_as} given twice")));
        }
        seen.push(seen_as);
        if let Some(d) = domain {
            let own = p.domain_purposes.entry(d.to_owned()).or_default();
            match key {
                "purposes" => own.purposes = items(key, value)?,
                _ => own.primary_purposes = items(key, value)?,
            }
            continue;
        }
        match key {
            "domain" => p.domains = items(key, value)?,
            "purposes" => p.purposes = items(key, value)?,
            "primary" => p.primary_purposes = items(key, value)?,
            "country" => p.countries = items(key, value)?,
            "from" => p.valid_from = Some(date(key, value)?),
            "until" => p.valid_until = Some(date(key, value)?),
            _ => p.lifetime_days = Some(days(value)?),
        }
    }
    check_domains(&p)?;
    match (p.lifetime_days, &p.valid_until) {
        (Some(_), Some(_)) => Err(err("give for=Nd or until=DATE, not both")),
        (None, None) => Err(err("give for=Nd or until=DATE")),
        _ => Ok(p),
    }
}

/// Every domain has purposes (general or its own), and every domain given its own is listed.
fn check_domains(p: &DisclosurePolicy) -> Result<(), RulesError> {
    if p.domains.is_empty() {
        return Err(err("domain=… is required"));
    }
    for (d, own) in &p.domain_purposes {
        if own.purposes.is_empty() {
            return Err(err(format!("primary@{d} needs purposes@{d}")));
        }
        if !p.domains.iter().any(|listed| listed.eq_ignore_ascii_case(d)) {
            return Err(err(format!("purposes@{d}: {d} is not one of domain=…")));
        }
    }
    let on_general = |d: &String| !p.domain_purposes.keys().any(|own| own.eq_ignore_ascii_case(d));
    if p.purposes.is_empty() && p.domains.iter().any(on_general) {
        return Err(err("purposes=… is required (unless every domain has purposes@DOMAIN=…)"));
    }
    Ok(())
}

/// The canonical short form of `p` (for a policy [`parse`] would accept; other lists are
/// written as they are).
pub fn print(p: &DisclosurePolicy) -> String {
    let mut out = vec![format!("domain={}", p.domains.join(","))];
    if !p.purposes.is_empty() {
        out.push(format!("purposes={}", p.purposes.join(",")));
    }
    if !p.primary_purposes.is_empty() {
        out.push(format!("primary={}", p.primary_purposes.join(",")));
    }
    for (d, DomainPurposes { purposes, primary_purposes }) in &p.domain_purposes {
        out.push(format!("purposes@{d}={}", purposes.join(",")));
        if !primary_purposes.is_empty() {
            out.push(format!("primary@{d}={}", primary_purposes.join(",")));
        }
    }
    if !p.countries.is_empty() {
        out.push(format!("country={}", p.countries.join(",")));
    }
    if let Some(f) = &p.valid_from {
        out.push(format!("from={f}"));
    }
    if let Some(n) = p.lifetime_days {
        out.push(format!("for={n}d"));
    }
    if let Some(u) = &p.valid_until {
        out.push(format!("until={u}"));
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_issue_example_parses_and_prints_canonically() {
        let p = parse("domain=salesforce purposes=purchase,current for=30d country=eu").unwrap();
        assert_eq!(p.domains, ["salesforce"]);
        assert_eq!(p.purposes, ["purchase", "current"]);
        assert_eq!(p.countries, ["eu"]);
        assert_eq!(p.lifetime_days, Some(30));
        assert_eq!(print(&p), "domain=salesforce purposes=purchase,current country=eu for=30d");
        assert_eq!(parse(&print(&p)).unwrap(), p);
        assert!(p.compile("telekom", 20_423).is_ok());
    }

    #[test]
    fn table1_round_trips_through_the_short_form_and_json() {
        for (_, _, d) in pbe_core::disclosure::table1() {
            let short = print(&d);
            let back = parse(&short).unwrap();
            assert_eq!(back, d, "{short}");
            let json = serde_json::to_string(&back).unwrap();
            assert_eq!(serde_json::from_str::<DisclosurePolicy>(&json).unwrap(), d);
        }
    }

    #[test]
    fn malformed_rules_are_refused_with_a_reason() {
        let cases = [
            ("", "domain"),
            ("domain=salesforce for=7d", "purposes"),
            ("purposes=current for=7d", "domain"),
            ("domain=a purposes=b", "for=Nd"),
            ("domain=a purposes=b for=7d until=2026-01-01", "not both"),
            ("domain=a purposes=b for=0d", "at least"),
            ("domain=a purposes=b for=7", "number of days"),
            ("domain=a purposes=b for=d", "number of days"),
            ("domain=a purposes=b for=999999d", "number of days"),
            ("domain=a purposes=b for=-1d", "number of days"),
            ("domain=a purposes=b until=tomorrow", "not a date"),
            ("domain=a purposes=b from=2026-13-01 for=1d", "not a date"),
            ("domain=a domain=b purposes=c for=1d", "twice"),
            ("domain=a purposes=b,,c for=1d", "not a name"),
            ("domain=a purposes=b for=1d colour=red", "unknown key"),
            ("domain=a purposes=b for=1d junk", "key=value"),
            ("domain=a@x purposes=b for=1d", "not a name"),
            ("domain= purposes=b for=1d", "not a name"),
            ("domain=é purposes=b for=1d", "not a name"),
            ("domain=a purposes@b=x for=1d", "not one of domain"),
            ("domain=a purposes=y primary@a=x for=1d", "needs purposes@a"),
            ("domain=a purposes@a=x purposes@A=y for=1d", "twice"),
            ("domain=a purposes@=x for=1d", "after '@'"),
            ("domain=a purposes@a@b=x for=1d", "after '@'"),
            ("domain=a purposes=b country@a=x for=1d", "unknown key"),
            ("domain@a=x purposes=b for=1d", "unknown key"),
            ("domain=a,b purposes@a=x for=1d", "purposes=… is required"),
            ("domain=a purposes@a=x,,y for=1d", "not a name"),
        ];
        for (text, why) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(parse(&"x".repeat(MAX_RULES_LEN + 1)).is_err());
        let many = (0..=MAX_ITEMS).map(|i| format!("p{i}")).collect::<Vec<_>>().join(",");
        assert!(parse(&format!("domain=a purposes={many} for=1d")).is_err());
    }

    #[test]
    fn a_domain_with_its_own_purposes_round_trips_and_compiles_to_its_own_clause() {
        let text =
            "domain=salesforce,amazon purposes=current primary=purchase purposes@amazon=delivery for=7d";
        let p = parse(text).unwrap();
        assert_eq!(p.purposes_of("amazon"), (&["delivery".to_owned()][..], &[][..]));
        assert_eq!(print(&p), text);
        let policy = p.compile("telekom", 20_423).unwrap().to_string();
        assert!(policy.contains("domain:amazon@telekom and purpose:delivery@amazon"), "{policy}");
        // Without general purposes, when every domain has its own.
        let p =
            parse("domain=amazon purposes@amazon=delivery primary@amazon=delivery until=2026-01-01").unwrap();
        assert!(p.purposes.is_empty());
        assert_eq!(
            print(&p),
            "domain=amazon purposes@amazon=delivery primary@amazon=delivery until=2026-01-01"
        );
        assert!(p.compile("telekom", 20_423).is_ok());
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<DisclosurePolicy>(&json).unwrap(), p);
    }

    fn names() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[a-z0-9_.-]{1,12}", 1..4)
    }

    fn date_text() -> impl Strategy<Value = String> {
        (1970u32..2100, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
    }

    prop_compose! {
        fn policy()(
            domains in names(), purposes in names(),
            primary in prop::option::of(names()), countries in prop::option::of(names()),
            from in prop::option::of(date_text()),
            life in prop_oneof![(1u32..99_999).prop_map(Ok::<u32, String>), date_text().prop_map(Err::<u32, String>)],
            own in prop::collection::vec((any::<prop::sample::Index>(), names(), prop::option::of(names())), 0..3),
        ) -> DisclosurePolicy {
            let domain_purposes = own
                .into_iter()
                .map(|(i, purposes, primary)| {
                    let d = i.get(&domains).clone();
                    (d, DomainPurposes { purposes, primary_purposes: primary.unwrap_or_default() })
                })
                .collect();
            DisclosurePolicy {
                domains, purposes,
                primary_purposes: primary.unwrap_or_default(),
                countries: countries.unwrap_or_default(),
                valid_from: from,
                lifetime_days: life.clone().ok(),
                valid_until: life.err(),
                domain_purposes,
            }
        }
    }

    proptest! {
        #[test]
        fn print_then_parse_is_the_identity(p in policy()) {
            let text = print(&p);
            prop_assert_eq!(parse(&text).unwrap(), p.clone());
            prop_assert_eq!(print(&parse(&text).unwrap()), text);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "[ -~]{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn clause_order_and_spacing_do_not_matter(p in policy()) {
            let text = print(&p);
            let reversed: Vec<&str> = text.split(' ').rev().collect();
            prop_assert_eq!(parse(&reversed.join("  \t")).unwrap(), p);
        }
    }
}
