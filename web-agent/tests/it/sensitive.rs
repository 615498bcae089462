//! Sensitive paths (issue 20) at the agent, against a throw-away IdP key: a path whose rule
//! needs an owner's approval is refused (403, with the link to ask at the home IdP and the
//! way to sign in again) until a signed assertion states a live approval for that prefix; the
//! approval's end is checked at every request; an approval for another prefix, a malformed
//! value or an unsigned claim opens nothing; the level check still comes first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use std::sync::Arc;

use federation::approvals::ATTR_APPROVED_ACCESS;
use federation::assertion::{AttributeValues, ATTR_IS_MEMBER_OF};
use service_kit::ManualClock;

use crate::common::{Agent, Browser, Opts, T0};

const RULE: &str = "[[access.rules]]\nprefix = \"/reports\"\ngroups = { customers = \"read\" }\n\
                    sensitive = { approvers = \"owner of managers\", valid_for = \"1h\" }\n";

fn attributes(approvals: &[String]) -> Vec<AttributeValues> {
    let mut a = vec![AttributeValues::uri(ATTR_IS_MEMBER_OF, "isMemberOf", vec!["customers".into()])];
    if !approvals.is_empty() {
        a.push(AttributeValues::uri(ATTR_APPROVED_ACCESS, "approvedAccess", approvals.to_vec()));
    }
    a
}

/// A browser signed in with an assertion stating `approvals`.
async fn signed_in(agent: &Agent, approvals: &[String]) -> Browser {
    let mut b = Browser::default();
    let id = b.start_sign_in(agent, "/x").await;
    let a = b.post_response(agent, &agent.response_with(&id, attributes(approvals))).await;
    assert_eq!(a.status, 303, "{a:?}");
    b
}

#[tokio::test]
async fn a_sensitive_path_needs_a_live_approval_from_the_signed_assertion() {
    let clock = Arc::new(ManualClock::new(T0));
    let agent =
        Agent::start(Opts { access_toml: RULE.into(), clock: Some(clock.clone()), ..Opts::default() }).await;

    // Without an approval: refused with the ways on, and nothing reaches the backend.
    let mut bob = signed_in(&agent, &[]).await;
    agent.backend.take();
    let a = bob.send(&agent, "GET", "/reports/q3", &[], b"").await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.body.contains("Approval needed") && a.body.contains("managers"), "{}", a.body);
    let expected = format!(
        "href=\"https://idp.example/account/access/request?sp={}&amp;path=%2Freports&amp;group=managers&amp;valid_for=3600",
        url::form_urlencoded::byte_serialize(agent.state.config.entity_id.as_bytes()).collect::<String>()
    );
    assert!(a.body.contains(&expected), "{expected}\n{}", a.body);
    assert!(a.body.contains("href=\"/saml/login?return_to=%2Freports%2Fq3\""), "{}", a.body);
    assert!(agent.backend.take().is_empty(), "the backend saw nothing");
    // Other paths are as before; the prefix is segment-aligned.
    assert_eq!(bob.send(&agent, "GET", "/cart", &[], b"").await.status, 200);
    assert_eq!(bob.send(&agent, "GET", "/reportsx", &[], b"").await.status, 200);

    // Approvals for other prefixes, expired or malformed ones open nothing.
    let mut other = signed_in(
        &agent,
        &[
            format!("{} /report", T0 + 600),
            format!("{} /reports", T0),
            "junk".into(),
            format!("x{} /reports", T0 + 600),
        ],
    )
    .await;
    assert_eq!(other.send(&agent, "GET", "/reports", &[], b"").await.status, 403);

    // A live approval for the prefix opens it, for GET (the rule's level), not POST.
    let mut carol = signed_in(&agent, &[format!("{} /reports", T0 + 600)]).await;
    agent.backend.take();
    let a = carol.send(&agent, "GET", "/reports/q3", &[], b"").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(agent.backend.take().len(), 1);
    let a = carol.send(&agent, "POST", "/reports/q3", &[], b"").await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("Access denied"), "the level check first: {}", a.body);

    // Its end is checked at every request, in the same session.
    clock.set(T0 + 600);
    let a = carol.send(&agent, "GET", "/reports/q3", &[], b"").await;
    assert_eq!(a.status, 403, "expired");
    assert_eq!(carol.send(&agent, "GET", "/cart", &[], b"").await.status, 200, "still signed in");
}
