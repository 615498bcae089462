//! Sensitive paths (issue 20): an access rule may say that its prefix also needs the approval
//! of a group's owner, for a limited time:
//!
//! ```toml
//! [[access.rules]]
//! prefix = "/reports"
//! groups = { staff = "read" }
//! sensitive = { approvers = "owner of finance", valid_for = "8h" }
//! ```
//!
//! A request under such a prefix passes the level check first, then needs a live approval
//! for that very prefix in the session: the home IdP states approvals in the signed assertion
//! (`federation::approvals`), each with its end, and the agent checks the end at every
//! request, so an approval stops counting when it expires, not at the next sign-in. Without
//! one the person gets a 403 page linking to the home IdP's request page
//! (`/account/access/request`, next to its SSO endpoint) and to a fresh sign-in (which brings
//! an approval given since). When several sensitive rules cover a path, each needs its own
//! approval. The group named is the home IdP's (before `group_mapping`): its owners are there.

use axum::http::StatusCode;
use axum::response::Response;
use federation::approvals::{human_duration, Approval};

/// A compiled `sensitive` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sensitive {
    /// The rule's prefix.
    pub prefix: String,
    /// The group whose owners approve (the home IdP's name).
    pub group: String,
    /// How long an approval lasts, seconds.
    pub valid_for: i64,
}

/// Longest `valid_for`, seconds (30 days, as the home IdP allows).
pub const MAX_VALID_FOR: i64 = 30 * 86_400;

/// `"owner of <group>"` → the group (1-64 of `a-z0-9_.-`, as the home IdP's group names).
pub fn parse_approvers(text: &str) -> Option<String> {
    let group = text.trim().strip_prefix("owner of ")?.trim();
    let ok = !group.is_empty()
        && group.len() <= 64
        && group.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    ok.then(|| group.to_owned())
}

/// `"45s"`, `"30m"`, `"8h"`, `"7d"` → seconds, 1 second to 30 days.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.len().checked_sub(1)?;
    let (digits, unit) = (text.get(..split)?, text.get(split..)?);
    if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let secs = n.checked_mul(match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    })?;
    (1..=MAX_VALID_FOR).contains(&secs).then_some(secs)
}

/// The approvals a verified assertion states (values that do not parse are left out).
pub fn from_values(values: &[String]) -> Vec<Approval> {
    values.iter().take(64).filter_map(|v| Approval::parse(v)).collect()
}

/// Whether `approvals` hold a live one for `rule` at `now`.
pub fn approved(rule: &Sensitive, approvals: &[Approval], now: i64) -> bool {
    approvals.iter().any(|a| a.prefix == rule.prefix && a.until > now)
}

/// The home IdP's request page for `rule`, coming back to `path` after a fresh sign-in; `None`
/// if the SSO URL does not make one.
pub fn request_url(
    sso_url: &str,
    entity_id: &str,
    public_url: &str,
    rule: &Sensitive,
    path: &str,
) -> Option<String> {
    let mut url = url::Url::parse(sso_url).ok()?.join("../account/access/request").ok()?;
    let mut back = url::Url::parse(&format!("{}/saml/login", public_url.trim_end_matches('/'))).ok()?;
    back.query_pairs_mut().append_pair("return_to", path);
    url.query_pairs_mut()
        .append_pair("sp", entity_id)
        .append_pair("path", &rule.prefix)
        .append_pair("group", &rule.group)
        .append_pair("valid_for", &rule.valid_for.to_string())
        .append_pair("return", back.as_str());
    Some(url.into())
}

/// The 403 page for a sensitive path without a live approval.
pub fn needed_page(rule: &Sensitive, request_url: Option<&str>, path: &str) -> Response {
    let message = format!(
        "{} needs the approval of an owner of the group {}, for {} at a time. Ask for access; once an \
         owner approves, sign in again to use it.",
        rule.prefix,
        rule.group,
        human_duration(rule.valid_for)
    );
    let login = format!(
        "/saml/login?return_to={}",
        url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
    );
    let mut links: Vec<service_kit::html::Link<'_>> = Vec::new();
    if let Some(u) = request_url {
        links.push((u, "Ask for access"));
    }
    links.push((&login, "Sign in again (after an approval)"));
    links.push(("/", "Go to the start page"));
    crate::html::page_with(StatusCode::FORBIDDEN, "Approval needed", &message, &links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvers_name_one_group() {
        assert_eq!(parse_approvers("owner of finance").as_deref(), Some("finance"));
        assert_eq!(parse_approvers("  owner of fin.ops-1 ").as_deref(), Some("fin.ops-1"));
        for bad in
            ["", "owner of", "owner of ", "owners of finance", "owner of Finance", "owner of a b", "finance"]
        {
            assert_eq!(parse_approvers(bad), None, "{bad:?}");
        }
        assert_eq!(parse_approvers(&format!("owner of {}", "a".repeat(65))), None);
    }

    #[test]
    fn durations_have_one_unit_and_a_range() {
        assert_eq!(parse_duration("8h"), Some(28_800));
        assert_eq!(parse_duration("2s"), Some(2));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("30d"), Some(MAX_VALID_FOR));
        for bad in ["", "h", "0s", "31d", "8", "8 h", "-1h", "1.5h", "8H", "99999999d", "١h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_approval_counts_for_its_prefix_until_its_end() {
        let rule = Sensitive { prefix: "/reports".into(), group: "finance".into(), valid_for: 60 };
        let a = vec![Approval { prefix: "/reports".into(), until: 100 }];
        assert!(approved(&rule, &a, 99));
        assert!(!approved(&rule, &a, 100));
        assert!(!approved(&rule, &[Approval { prefix: "/reports/q3".into(), until: 100 }], 0));
        assert!(!approved(&rule, &[], 0));
    }

    #[test]
    fn the_request_url_sits_next_to_the_sso_endpoint() {
        let rule = Sensitive { prefix: "/reports".into(), group: "finance".into(), valid_for: 28_800 };
        let u = request_url(
            "https://idp.example/idp/saml/sso",
            "https://shop/saml/metadata",
            "https://shop",
            &rule,
            "/reports/q3",
        )
        .unwrap_or_default();
        assert!(u.starts_with("https://idp.example/idp/account/access/request?sp=https%3A%2F%2Fshop"), "{u}");
        assert!(u.contains("&path=%2Freports&group=finance&valid_for=28800&return=https%3A%2F%2Fshop%2Fsaml%2Flogin%3Freturn_to%3D%252Freports%252Fq3"), "{u}");
        assert_eq!(request_url("not a url", "x", "https://shop", &rule, "/"), None);
    }

    #[test]
    fn malformed_values_are_left_out() {
        let v = vec!["100 /a".to_owned(), "junk".to_owned(), "5 b".to_owned()];
        assert_eq!(from_values(&v), vec![Approval { prefix: "/a".into(), until: 100 }]);
    }
}
