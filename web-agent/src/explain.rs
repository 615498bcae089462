//! Why a PII value stayed closed, in plain words (issue 18): the policy text is public in the
//! ciphertext's header, and the agent holds the attributes of its TAT and PAT, so it can say
//! which clause was not met — "the rule for this service ended on 22 Oct 2025", "only for
//! services of amazon", "only for the purpose contact, which this service does not hold
//! now". The backend gets these in `X-Idaas-Missing` (`name=reason; …`) and can show them.
//! Nothing secret is in them: the policy is public, the attributes are this service's own.

use pbe_core::disclosure::{ACCESS_TIME, COUNTRY, DOMAIN, PRIMARY_PURPOSE, PURPOSE};
use pbe_core::policy::Policy;
use pbe_core::Attribute;

/// Longest reason kept (characters): a hostile policy cannot make a huge header.
pub const MAX_REASON: usize = 200;

/// `days` since 1970-01-01 as "22 Oct 2025".
pub fn human_date(days: u64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, m, d) = pbe_core::segtree::civil_from_days(i64::try_from(days).unwrap_or(i64::MAX));
    let month = usize::try_from(m).ok().and_then(|m| MONTHS.get(m.wrapping_sub(1))).copied().unwrap_or("?");
    format!("{d} {month} {y}")
}

/// Why `policy` is not satisfied by the attributes `held` on day `today`: the first clause of
/// its top-level conjunction that fails, in words.
pub fn why_closed(policy: &Policy, held: &dyn Fn(&Attribute) -> bool, today: u64) -> String {
    let mut reason = clause(failing(policy, held), today);
    if reason.chars().count() > MAX_REASON {
        reason = reason.chars().take(MAX_REASON).collect::<String>() + "…";
    }
    reason
}

/// The clause to explain: in a conjunction, its first failing part; in a disjunction of
/// conjunctions (one branch per domain, as disclosure policies with several domains are), the
/// branch closest to being met (most parts met: the service's own domain) — each looked into
/// again.
fn failing<'p>(p: &'p Policy, held: &dyn Fn(&Attribute) -> bool) -> &'p Policy {
    match p {
        Policy::And(children) => match children.iter().find(|c| !c.is_satisfied_by(held)) {
            Some(c) => failing(c, held),
            None => p,
        },
        Policy::Or(children) if children.iter().any(|c| matches!(c, Policy::And(_))) => {
            let met = |c: &Policy| match c {
                Policy::And(parts) => parts.iter().filter(|x| x.is_satisfied_by(held)).count(),
                other => usize::from(other.is_satisfied_by(held)),
            };
            match children.iter().max_by_key(|c| met(c)) {
                Some(best) => failing(best, held),
                None => p,
            }
        }
        other => other,
    }
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn clause(p: &Policy, today: u64) -> String {
    if let Policy::Range(r) = p {
        if r.name() == ACCESS_TIME && r.is_date() {
            return if today > r.high() {
                format!("the rule for this service ended on {}", human_date(r.high()))
            } else if today < r.low() {
                format!("the rule for this service starts on {}", human_date(r.low()))
            } else {
                "the rule's dates do not cover today".to_owned()
            };
        }
    }
    // A disjunction of one kind of attribute: domains, purposes, primary purposes, countries.
    let attrs: Vec<&Attribute> = match p {
        Policy::Attr(a) => vec![a],
        Policy::Or(children) => {
            children.iter().filter_map(|c| if let Policy::Attr(a) = c { Some(a) } else { None }).collect()
        }
        _ => Vec::new(),
    };
    let same_kind = !attrs.is_empty()
        && matches!(p, Policy::Attr(_) | Policy::Or(_))
        && attrs.iter().all(|a| a.name() == attrs.first().map_or("", |f| f.name()))
        && attrs.len() == if let Policy::Or(c) = p { c.len() } else { 1 };
    if same_kind {
        let values: Vec<&str> = attrs.iter().map(|a| a.value()).collect();
        let list = or_list(&values);
        match attrs.first().map(|a| a.name()) {
            Some(DOMAIN) => return format!("it is only for services of {list}"),
            Some(COUNTRY) => return format!("it is only for services in {}", list.to_uppercase()),
            Some(PRIMARY_PURPOSE) => return format!("it is only for services whose main purpose is {list}"),
            Some(PURPOSE) if values.contains(&"current") && values.len() == 1 => {
                return "it is only for a service you are signed in to right now".to_owned()
            }
            Some(PURPOSE) if values.len() == 1 => {
                return format!("it is only for the purpose {list}, which this service does not hold now")
            }
            Some(PURPOSE) => {
                return format!("it is only for the purposes {list}, and this service holds none of them now")
            }
            _ => {}
        }
    }
    format!("the rule {p} is not met")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbe_core::disclosure::table1;

    const DAY: u64 = 20_370; // 2025-10-09

    #[test]
    fn each_failing_clause_of_table1_is_named_in_words() {
        let texts: Vec<Policy> =
            table1().iter().map(|(_, _, d)| d.compile("telekom", DAY).unwrap()).collect();
        let held = |day: u64, attrs: &[&str]| {
            let mut h: Vec<Attribute> =
                pbe_core::segtree::path_attributes(ACCESS_TIME, "telekom", day).unwrap_or_default();
            h.extend(attrs.iter().map(|a| Attribute::parse(a).unwrap()));
            h
        };
        let delivery = [
            "domain:salesforce@telekom",
            "country:eu@telekom",
            "purpose:current@salesforce",
            "purpose:contact@salesforce",
            "ppurpose:delivery@salesforce",
        ];
        // addresses (14 days): closed 15 days later, because its rule ended.
        let h = held(DAY + 15, &delivery);
        let why = why_closed(&texts[2], &|a| h.contains(a), DAY + 15);
        assert_eq!(why, format!("the rule for this service ended on {}", human_date(DAY + 13)));
        assert_eq!(human_date(DAY + 13), "22 Oct 2025");
        // Another domain.
        let mut amazon = delivery.to_vec();
        amazon[0] = "domain:amazon@telekom";
        let h = held(DAY, &amazon);
        assert_eq!(why_closed(&texts[2], &|a| h.contains(a), DAY), "it is only for services of salesforce");
        // Not signed in any more: no purpose:current.
        let h =
            held(DAY, &["domain:salesforce@telekom", "country:eu@telekom", "ppurpose:purchase@salesforce"]);
        assert!(why_closed(&texts[1], &|a| h.contains(a), DAY).contains("signed in to right now"));
        // Anything else is named as the rule itself, bounded.
        let odd = Policy::parse("2 of (a:b@x, c:d@y, e:f@z)").unwrap();
        assert!(why_closed(&odd, &|_| false, DAY).starts_with("the rule 2 of"));
    }
}
