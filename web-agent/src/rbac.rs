//! Group-based role-based access control with least-restrictive resolution, as cloud IAM
//! frameworks do it: levels `none < read < read_write < full`; each rule grants groups a level
//! at a path prefix; for a request, each of the user's groups gets the level of the most
//! specific (longest) rule prefix that names it, and the user gets the **highest** of those
//! (the least restrictive). `GET`/`HEAD`/`OPTIONS` need `read`, other methods `read_write`,
//! and admin paths need `full` whatever the method.

use std::collections::BTreeMap;

use serde::Deserialize;

/// An access level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No access.
    None,
    /// Safe methods.
    Read,
    /// Every method, except admin paths.
    ReadWrite,
    /// Everything, admin paths included.
    Full,
}

impl Level {
    /// The name used in configuration and on the 403 page.
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Read => "read",
            Level::ReadWrite => "read_write",
            Level::Full => "full",
        }
    }
}

/// The compiled rules.
#[derive(Debug, Clone)]
pub struct AccessRules {
    default_level: Level,
    admin_paths: Vec<String>,
    /// (prefix, group → level), any order; resolution picks the longest match per group.
    rules: Vec<(String, BTreeMap<String, Level>)>,
    /// Prefixes that also need an owner's approval ([`crate::approval`]).
    sensitive: Vec<crate::approval::Sensitive>,
}

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused: `needed` was required, the user has `has`.
    Deny {
        /// The level the request needs.
        needed: Level,
        /// The user's level at this path.
        has: Level,
    },
}

/// Whether `prefix` covers `path`, segment-aligned (`/shop` covers `/shop/x`, not `/shopping`).
pub fn covers(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let prefix = prefix.trim_end_matches('/');
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

impl AccessRules {
    /// Builds the rules.
    pub fn new(
        default_level: Level,
        admin_paths: Vec<String>,
        rules: Vec<(String, BTreeMap<String, Level>)>,
    ) -> Self {
        AccessRules { default_level, admin_paths, rules, sensitive: Vec::new() }
    }

    /// The same rules, with these prefixes needing an owner's approval too.
    pub fn with_sensitive(self, sensitive: Vec<crate::approval::Sensitive>) -> Self {
        AccessRules { sensitive, ..self }
    }

    /// The first sensitive rule covering `path` that `approvals` hold no live approval for
    /// at `now` (each covering rule needs its own).
    pub fn missing_approval(
        &self,
        path: &str,
        approvals: &[federation::approvals::Approval],
        now: i64,
    ) -> Option<&crate::approval::Sensitive> {
        self.sensitive
            .iter()
            .find(|s| covers(&s.prefix, path) && !crate::approval::approved(s, approvals, now))
    }

    /// The level `groups` have at `path`: per group the longest matching rule that names it,
    /// then the maximum over groups; `default_level` when no rule names any of them.
    pub fn level(&self, path: &str, groups: &[String]) -> Level {
        let mut best: Option<Level> = None;
        for g in groups {
            let mut most_specific: Option<(usize, Level)> = None;
            for (prefix, grants) in &self.rules {
                if let (true, Some(level)) = (covers(prefix, path), grants.get(g)) {
                    if most_specific.is_none_or(|(len, _)| prefix.len() > len) {
                        most_specific = Some((prefix.len(), *level));
                    }
                }
            }
            if let Some((_, level)) = most_specific {
                best = Some(best.map_or(level, |b| b.max(level)));
            }
        }
        best.unwrap_or(self.default_level)
    }

    /// The level a request needs.
    pub fn needed(&self, method: &axum::http::Method, path: &str) -> Level {
        use axum::http::Method;
        if self.admin_paths.iter().any(|p| covers(p, path)) {
            Level::Full
        } else if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            Level::Read
        } else {
            Level::ReadWrite
        }
    }

    /// Decides a request.
    pub fn check(&self, method: &axum::http::Method, path: &str, groups: &[String]) -> Decision {
        let needed = self.needed(method, path);
        let has = self.level(path, groups);
        if has >= needed {
            Decision::Allow
        } else {
            Decision::Deny { needed, has }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn rules() -> AccessRules {
        let g = |pairs: &[(&str, Level)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        AccessRules::new(
            Level::None,
            vec!["/admin".into()],
            vec![
                ("/".into(), g(&[("customers", Level::ReadWrite), ("auditors", Level::Read)])),
                ("/reports".into(), g(&[("customers", Level::None), ("auditors", Level::Read)])),
                ("/admin".into(), g(&[("staff", Level::Full), ("customers", Level::ReadWrite)])),
            ],
        )
    }

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn levels_order() {
        assert!(
            Level::None < Level::Read && Level::Read < Level::ReadWrite && Level::ReadWrite < Level::Full
        );
    }

    #[test]
    fn each_level_and_method() {
        let r = rules();
        assert_eq!(r.check(&Method::GET, "/cart", &groups(&["customers"])), Decision::Allow);
        assert_eq!(r.check(&Method::POST, "/cart", &groups(&["customers"])), Decision::Allow);
        assert_eq!(r.check(&Method::GET, "/cart", &groups(&["auditors"])), Decision::Allow);
        assert_eq!(
            r.check(&Method::DELETE, "/cart", &groups(&["auditors"])),
            Decision::Deny { needed: Level::ReadWrite, has: Level::Read }
        );
        assert_eq!(
            r.check(&Method::GET, "/cart", &groups(&["strangers"])),
            Decision::Deny { needed: Level::Read, has: Level::None }
        );
        // The more specific rule wins for a group: customers lose /reports.
        assert_eq!(
            r.check(&Method::GET, "/reports/q3", &groups(&["customers"])),
            Decision::Deny { needed: Level::Read, has: Level::None }
        );
        // Admin paths need full, whatever the method.
        assert_eq!(
            r.check(&Method::GET, "/admin/users", &groups(&["customers"])),
            Decision::Deny { needed: Level::Full, has: Level::ReadWrite }
        );
        assert_eq!(r.check(&Method::GET, "/admin", &groups(&["staff"])), Decision::Allow);
        // Segment-aligned prefixes.
        assert_eq!(r.needed(&Method::GET, "/administrator"), Level::Read);
    }

    #[test]
    fn several_groups_get_the_least_restrictive_level() {
        let r = rules();
        assert_eq!(r.level("/reports", &groups(&["customers", "auditors"])), Level::Read);
        assert_eq!(r.level("/admin/x", &groups(&["customers", "staff"])), Level::Full);
        assert_eq!(r.level("/cart", &groups(&["auditors", "customers"])), Level::ReadWrite);
        assert_eq!(r.level("/cart", &groups(&[])), Level::None, "no group: the default level");
    }

    #[test]
    fn every_sensitive_rule_covering_a_path_needs_its_approval() {
        use crate::approval::Sensitive;
        use federation::approvals::Approval;
        let s = |p: &str| Sensitive { prefix: p.into(), group: "finance".into(), valid_for: 60 };
        let r = rules().with_sensitive(vec![s("/reports"), s("/reports/secret")]);
        let a = |p: &str| Approval { prefix: p.into(), until: 100 };
        assert_eq!(r.missing_approval("/cart", &[], 0), None);
        assert_eq!(r.missing_approval("/reports/q3", &[], 0), Some(&s("/reports")));
        assert_eq!(r.missing_approval("/reports/q3", &[a("/reports")], 0), None);
        assert_eq!(r.missing_approval("/reports/q3", &[a("/reports")], 100), Some(&s("/reports")), "expired");
        assert_eq!(
            r.missing_approval("/reports/secret/x", &[a("/reports")], 0),
            Some(&s("/reports/secret")),
            "the inner rule needs its own approval"
        );
        assert_eq!(r.missing_approval("/reports/secret/x", &[a("/reports"), a("/reports/secret")], 0), None);
        assert_eq!(r.missing_approval("/reportsx", &[], 0), None, "segment-aligned");
    }

    #[test]
    fn covers_is_segment_aligned() {
        assert!(covers("/", "/anything"));
        assert!(covers("/shop", "/shop"));
        assert!(covers("/shop/", "/shop/x"));
        assert!(!covers("/shop", "/shopping"));
    }
}
