//! The short form of a disclosure policy, as `idaas pii put --rules` takes it and the wallet
//! shows it: `domain=salesforce purposes=purchase,current for=30d country=eu`.
//!
//! Grammar (docs/wallet.md):
//!
//! ```text
//! rules  = clause *( 1*SP clause )
//! clause = key "=" item *( "," item )
//! key    = "domain" | "purposes" | "primary" | "country" | "from" | "for" | "until"
//! item   = 1*64( a-z / A-Z / 0-9 / "_" / "-" / "." )
//! for    = 1*5DIGIT "d"            ; number of days, at least 1
//! from, until = YYYY-MM-DD
//! ```
//!
//! Each key at most once; `domain` and `purposes` are required, and exactly one of `for` and
//! `until`. `domains`, `purpose` and `countries` are accepted as spellings of the same keys.
//! [`print`] writes the canonical order (domain, purposes, primary, country, from, for/until),
//! and `parse(print(p)) == p` for every policy [`parse`] accepts.

use pbe_core::DisclosurePolicy;

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
    let mut p = DisclosurePolicy {
        purposes: vec![],
        primary_purposes: vec![],
        domains: vec![],
        countries: vec![],
        valid_from: None,
        lifetime_days: None,
        valid_until: None,
    };
    let mut seen: Vec<&'static str> = Vec::new();
    for clause in text.split_ascii_whitespace() {
        let (key, value) =
            clause.split_once('=').ok_or_else(|| err(format!("'{}' is not key=value", excerpt(clause))))?;
        let key: &'static str = match key {
            "domain" | "domains" => "domain",
            "purposes" | "purpose" => "purposes",
            "primary" => "primary",
            "country" | "countries" => "country",
            "from" => "from",
            "for" => "for",
            "until" => "until",
            other => {
                return Err(err(format!(
                    "unknown key '{}' (domain, purposes, primary, country, from, for, until)",
                    excerpt(other)
                )))
            }
        };
        if seen.contains(&key) {
            return Err(err(format!("{key} given twice")));
        }
        seen.push(key);
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
    if p.domains.is_empty() {
        return Err(err("domain=… is required"));
    }
    if p.purposes.is_empty() {
        return Err(err("purposes=… is required"));
    }
    match (p.lifetime_days, &p.valid_until) {
        (Some(_), Some(_)) => Err(err("give for=Nd or until=DATE, not both")),
        (None, None) => Err(err("give for=Nd or until=DATE")),
        _ => Ok(p),
    }
}

/// The canonical short form of `p` (for a policy [`parse`] would accept; other lists are
/// written as they are).
pub fn print(p: &DisclosurePolicy) -> String {
    let mut out =
        vec![format!("domain={}", p.domains.join(",")), format!("purposes={}", p.purposes.join(","))];
    if !p.primary_purposes.is_empty() {
        out.push(format!("primary={}", p.primary_purposes.join(",")));
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
        ];
        for (text, why) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(parse(&"x".repeat(MAX_RULES_LEN + 1)).is_err());
        let many = (0..=MAX_ITEMS).map(|i| format!("p{i}")).collect::<Vec<_>>().join(",");
        assert!(parse(&format!("domain=a purposes={many} for=1d")).is_err());
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
        ) -> DisclosurePolicy {
            DisclosurePolicy {
                domains, purposes,
                primary_purposes: primary.unwrap_or_default(),
                countries: countries.unwrap_or_default(),
                valid_from: from,
                lifetime_days: life.clone().ok(),
                valid_until: life.err(),
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
