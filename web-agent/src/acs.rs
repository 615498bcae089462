//! `POST /saml/acs`: from a posted SAMLResponse to a session. In order, each step refusing
//! with a clear message and leaving nothing behind:
//!
//! 1. size cap, whitespace-tolerant strict base64, UTF-8; the Response's `Destination` (if
//!    present) must be this ACS; its top-level `samlp:StatusCode` must be `Success` (anything
//!    else is shown as "the identity provider did not sign you in");
//! 2. the one signed Assertion is verified with the trusted IdP's certificate
//!    (`federation::verify`: no DOCTYPE, no SHA-1, only the signed content is read, so XML
//!    signature wrapping fails) and its issuer must be that IdP;
//! 3. time conditions with the configured skew, an AudienceRestriction naming this SP, a
//!    bearer confirmation whose Recipient is this ACS and whose `InResponseTo` is a request
//!    *this browser* started (its sign-in cookie, `crate::signin`; each answered once), and a
//!    replay cache of assertion IDs;
//! 4. for a PBE service ([`crate::unlock`]): the TAT is unsealed with the agent's HPKE key;
//!    the ciphertexts the `pii:*` digests name are fetched from the home IdP with the
//!    assertion's `idaas:pii-ref` (sealed to this agent) while the *same signed assertion* is
//!    exchanged at the visitor IdP for a PAT (RFC 7522); each ciphertext must match its signed
//!    digest; TAT and PAT must be bound to `(NameID, SessionIndex)`; every ciphertext they
//!    satisfy is decrypted, the others are counted and left out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::collections::BTreeMap;

use federation::verify::{InResponseTo, UnverifiedAssertion, VerifiedAssertion};

pub use crate::error::AcsError;
use crate::session::Session;
// The ACS uses most of the state (configuration, trusted IdP, key, clients, sessions,
// replay cache, sign-in keys): it is the body of the `/saml/acs` handler. No cycle: the
// state does not know this module.
use crate::state::AppState;
use crate::unlock::{PatSource, PiiFrom, Sealed, TatFrom};

/// Largest SAMLResponse accepted (base64 characters).
pub const MAX_ENCODED: usize = 1 << 20;
/// Largest decoded Response XML.
pub const MAX_XML: usize = 768 * 1024;

/// The outcome of a successful ACS request.
pub struct SignedIn {
    /// The new session.
    pub session: Session,
    /// Where the browser goes next.
    pub return_to: String,
    /// The browser's other sign-ins still under way (written back to its sign-in cookie).
    pub still_pending: Vec<crate::signin::Pending>,
    /// What came over the wire still sealed (PBE services): what the shared session record
    /// holds so another instance can open the PII again (`crate::shared_sessions`).
    pub wire: Option<crate::unlock::Wire>,
}

/// Processes one posted SAMLResponse; `signin_cookie` is the posting browser's sign-in
/// cookie value.
pub async fn process(
    state: &AppState,
    saml_response: &str,
    signin_cookie: Option<&str>,
) -> Result<SignedIn, AcsError> {
    let config = &state.config;
    if saml_response.len() > MAX_ENCODED {
        return Err(AcsError::Malformed("too large"));
    }
    let compact: String = saml_response.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD.decode(compact).map_err(|_| AcsError::Malformed("not base64"))?;
    if bytes.len() > MAX_XML {
        return Err(AcsError::Malformed("too large"));
    }
    let xml = String::from_utf8(bytes).map_err(|_| AcsError::Malformed("not UTF-8"))?;
    let acs_url = config.acs_url();
    let root = root_fields(&xml).map_err(|()| AcsError::Malformed("not well-formed XML"))?;
    if root.destination.as_deref().is_some_and(|d| d != acs_url) {
        return Err(AcsError::WrongDestination);
    }
    // Checked before the signature (the Status is outside the signed assertion): an IdP's
    // refusal is shown as what it is, and a non-success response never signs anyone in even
    // if it carries an assertion.
    match root.status.as_deref() {
        Some(STATUS_SUCCESS) => {}
        Some(other) => return Err(AcsError::Status(status_name(other))),
        None => return Err(AcsError::Malformed("no samlp:Status")),
    }
    let assertion = {
        let trust = state.idp().trust.clone();
        let xml = xml.clone();
        let queued = std::time::Instant::now();
        // libxmlsec1 work is CPU-bound: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            service_kit::metrics::observe_phase("acs_verify_queue", queued.elapsed().as_secs_f64());
            service_kit::metrics::timed("acs_verify", || {
                UnverifiedAssertion::parse_response(&xml, MAX_XML).and_then(|u| u.verify(&trust))
            })
        })
        .await
        .map_err(|_| AcsError::Malformed("verification failed"))??
    };
    if assertion.issuer() != state.idp().entity_id {
        return Err(federation::verify::ValidationError::UnknownIssuer.into());
    }
    let now = state.clock.now();
    let skew = i64::from(config.clock_skew_seconds);
    assertion.check_not_before(now, skew)?;
    assertion.check_not_expired(now, skew)?;
    assertion.check_audience(&[config.entity_id.as_str()])?;
    let confirmation = assertion.bearer_confirmation(&acs_url, InResponseTo::Ignore)?;
    confirmation.check_time(now, skew)?;
    let request_id = confirmation.in_response_to.as_deref().ok_or(AcsError::UnknownRequest)?;
    // Bound to the browser: the request must be pending in the cookie of the browser that
    // posted this response (login CSRF), and answered only once.
    let mut pending_here =
        signin_cookie.map(|v| state.signin.open(&state.signin_cookie, v, now)).unwrap_or_default();
    let at = pending_here.iter().position(|p| p.id == request_id).ok_or(AcsError::UnknownRequest)?;
    let pending = pending_here.remove(at);
    if !state.answer_once(request_id, pending.expires, now) {
        return Err(AcsError::UnknownRequest);
    }
    state.check_replay(&assertion, now, skew)?;

    let (user, groups) = identity(config, &assertion)?;
    let session_index = assertion.session_index().unwrap_or_default().to_owned();
    let (opened, propagation, wire) = if state.config.visitor.is_some() {
        open_pii(state, &xml, &assertion).await?
    } else {
        Default::default()
    };
    state.metrics.decryptions("opened", opened.values.len() as u64);
    state.metrics.decryptions("closed", opened.closed as u64);
    state.metrics.decryptions("broken", opened.broken as u64);
    if opened.closed + opened.broken > 0 {
        tracing::info!(closed = opened.closed, broken = opened.broken, "PII ciphertexts left closed");
    }
    let lifetime = i64::from(config.session_lifetime_minutes) * 60;
    let expires = assertion
        .session_not_on_or_after()
        .map_or(now + lifetime, |end| end.min(now + lifetime))
        .max(now + 60);
    tracing::info!(
        user = %service_kit::redact::log_id(&user),
        opened = opened.values.len(),
        "signed in"
    );
    Ok(SignedIn {
        session: Session {
            user,
            name_id: assertion.name_id().value.clone(),
            groups,
            pii: opened.values,
            session_index,
            expires,
            closed: opened.closed,
            missing: opened.missing,
            approvals: crate::approval::from_values(
                assertion.attribute(federation::approvals::ATTR_APPROVED_ACCESS).unwrap_or_default(),
            ),
            handle: String::new(),
            propagation,
        },
        return_to: pending.return_to,
        still_pending: pending_here,
        wire,
    })
}

/// The user and groups a verified assertion names, as the configuration says where to read
/// them (`user_from`, `groups_attribute`, `group_mapping`). Shared by the ACS and the
/// propagation ingress, so both see one identity.
pub fn identity(
    config: &crate::config::Config,
    assertion: &VerifiedAssertion,
) -> Result<(String, Vec<String>), AcsError> {
    let user = if config.user_from == crate::config::USER_FROM_NAMEID {
        assertion.name_id().value.clone()
    } else {
        match assertion.attribute(&config.user_from) {
            Some([one]) => one.clone(),
            Some([]) | None => return Err(AcsError::Malformed("the user attribute (user_from)")),
            Some(_) => return Err(AcsError::Malformed("a single-valued user attribute (user_from)")),
        }
    };
    if user.is_empty() {
        return Err(AcsError::Malformed("an empty user name"));
    }
    let groups =
        map_groups(&config.group_mapping, assertion.attribute(&config.groups_attribute).unwrap_or_default());
    Ok((user, groups))
}

/// SAML groups after `group_mapping`, sorted and deduplicated.
pub fn map_groups(group_mapping: &BTreeMap<String, String>, saml_groups: &[String]) -> Vec<String> {
    let mut groups: Vec<String> =
        saml_groups.iter().map(|g| group_mapping.get(g).cloned().unwrap_or_else(|| g.clone())).collect();
    groups.sort();
    groups.dedup();
    groups
}

/// The PII of a PBE sign-in: [`crate::unlock`] with the PAT exchanged at the visitor IdP,
/// and what identity propagation needs later (the signed assertion and the TAT).
async fn open_pii(
    state: &AppState,
    response_xml: &str,
    assertion: &VerifiedAssertion,
) -> Result<
    (crate::decrypt::Opened, Option<crate::session::Propagation>, Option<crate::unlock::Wire>),
    AcsError,
> {
    let Some(visitor) = state.config.visitor.as_ref() else { return Ok(Default::default()) };
    // The person denied this service their data at the home IdP (consent, issue 18): the
    // assertion signs them in with no idaas claim at all, so there is nothing to open. One
    // claim present means all must be (`Claims::read` refuses a partial set).
    if no_idaas_claims(assertion) {
        tracing::info!("signed in without personal data (not released by the identity provider)");
        return Ok(Default::default());
    }
    let session_index = assertion.session_index().ok_or(AcsError::Tat)?;
    let tat_info = federation::seal::tat_info(&state.config.entity_id, session_index);
    // RFC 7522 carries the signed Assertion itself; the visitor IdP verifies it again.
    let signed =
        signed_assertion(response_xml, assertion.id()).ok_or(AcsError::Malformed("the signed assertion"))?;
    let idp = state.idp();
    let sealed = Sealed {
        assertion_xml: signed,
        tat: TatFrom::Claims,
        tat_info: &tat_info,
        pii: PiiFrom::Home { url: &idp.pii_fetch_url, sp: &state.config.entity_id },
    };
    let keys = crate::unlock::Keys { key: &state.key, http: &state.http, visitor };
    let unlocked =
        crate::unlock::unlock(keys, assertion, sealed, PatSource::Exchange, state.clock.now()).await?;
    // Only identity propagation needs the signed assertion and the TAT after sign-in: an
    // agent without partners keeps neither (the session store is bounded by bytes).
    let propagation = (!state.config.partners.is_empty()).then(|| crate::session::Propagation {
        assertion_xml: signed.to_owned(),
        assertion_id: assertion.id().to_owned(),
        tat: unlocked.tat,
        pii_ref: unlocked.pii_ref,
        pii_names: unlocked.pii_names,
    });
    Ok((unlocked.opened, propagation, Some(unlocked.wire)))
}

/// Whether the assertion carries none of the idaas claims (no suite, TAT, reference or PII
/// digest): the home IdP released no personal data to this service.
fn no_idaas_claims(assertion: &VerifiedAssertion) -> bool {
    assertion
        .attributes()
        .keys()
        .all(|n| !n.starts_with("idaas:") && !n.starts_with(federation::claims::PII_PREFIX))
}

/// `urn:oasis:names:tc:SAML:2.0:status:Success`.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// A status URN as shown to the user: its last part (`Responder`, `AuthnFailed`), at most
/// 64 characters of `[A-Za-z0-9]`.
fn status_name(urn: &str) -> String {
    let last = urn.rsplit(':').next().unwrap_or_default();
    let name: String = last.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

/// What the agent reads from the (unsigned) Response element itself.
#[derive(Debug, Default, PartialEq, Eq)]
struct RootFields {
    /// The root's `Destination`.
    destination: Option<String>,
    /// The `Value` of the top-level `StatusCode` of the root's one `Status` child.
    status: Option<String>,
}

fn local(name: &[u8]) -> &[u8] {
    name.iter().rposition(|&b| b == b':').map_or(name, |i| &name[i + 1..])
}

fn attr(e: &quick_xml::events::BytesStart<'_>, key: &[u8]) -> Result<Option<String>, ()> {
    for a in e.attributes() {
        let a = a.map_err(|_| ())?;
        if a.key.as_ref() == key {
            return Ok(Some(a.unescape_value().map_err(|_| ())?.into_owned()));
        }
    }
    Ok(None)
}

/// The root's `Destination` and status (`Err` on malformed XML or more than one `Status`).
fn root_fields(xml: &str) -> Result<RootFields, ()> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = RootFields::default();
    let (mut depth, mut in_status, mut statuses) = (0usize, false, 0usize);
    loop {
        let (e, empty) = match reader.read_event().map_err(|_| ())? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if depth == 2 {
                    in_status = false;
                }
                depth = depth.checked_sub(1).ok_or(())?;
                if depth == 0 {
                    return Ok(out);
                }
                continue;
            }
            Event::Eof => return Err(()),
            _ => continue,
        };
        depth += 1;
        match depth {
            1 => out.destination = attr(&e, b"Destination")?,
            2 if local(e.name().as_ref()) == b"Status" => {
                statuses += 1;
                if statuses > 1 {
                    return Err(());
                }
                in_status = !empty;
            }
            3 if in_status && local(e.name().as_ref()) == b"StatusCode" && out.status.is_none() => {
                out.status = Some(attr(&e, b"Value")?.unwrap_or_default());
            }
            _ => {}
        }
        if empty {
            if depth == 1 {
                return Ok(out);
            }
            depth -= 1;
        }
    }
}

/// The exact text of the element whose `ID` is `id` (the signed assertion), as the IdP
/// produced it, found by parsing (any quoting, any whitespace before `ID=`, nested
/// elements): the one element carrying that `ID` must be an `Assertion`, and its text runs
/// from its start tag to its own end tag. Refuses when the ID occurs on more than one
/// element (a wrapping attempt). The visitor IdP verifies the signature of what is sent.
pub fn signed_assertion<'a>(xml: &'a str, id: &str) -> Option<&'a str> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut found: Option<(usize, usize, usize)> = None; // (start, depth, end)
    let mut open_at: Option<(usize, usize)> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if attr(&e, b"ID").ok()?.as_deref() == Some(id) => {
                let empty = xml.get(before..usize::try_from(reader.buffer_position()).ok()?)?.ends_with("/>");
                if found.is_some() || open_at.is_some() || empty || local(e.name().as_ref()) != b"Assertion" {
                    return None;
                }
                depth += 1;
                open_at = Some((before, depth));
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                if let Some((start, d)) = open_at {
                    if d == depth {
                        found = Some((start, d, usize::try_from(reader.buffer_position()).ok()?));
                        open_at = None;
                    }
                }
                depth = depth.checked_sub(1)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let (start, _, end) = found?;
    xml.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_assertion_is_cut_exactly_and_duplicates_refused() {
        let xml = "<samlp:Response ID=\"r\"><saml:Assertion xmlns:saml=\"x\" ID=\"a1\"><saml:Issuer>i</saml:Issuer></saml:Assertion></samlp:Response>";
        assert_eq!(
            signed_assertion(xml, "a1"),
            Some("<saml:Assertion xmlns:saml=\"x\" ID=\"a1\"><saml:Issuer>i</saml:Issuer></saml:Assertion>")
        );
        assert_eq!(signed_assertion(xml, "r"), None, "not an assertion");
        let twice =
            xml.replace("</samlp:Response>", "<saml:Assertion ID=\"a1\"></saml:Assertion></samlp:Response>");
        assert_eq!(signed_assertion(&twice, "a1"), None);
        assert_eq!(signed_assertion(xml, "zz"), None);
    }

    #[test]
    fn signed_assertion_is_found_by_parsing_not_by_text() {
        // Single quotes, a newline before ID=, and a nested Assertion inside the signed one:
        // the cut ends at the signed element's own end tag.
        let inner = "<saml:Assertion ID='n1'><saml:Issuer>x</saml:Issuer></saml:Assertion>";
        let signed = format!("<saml:Assertion xmlns:saml='x'\n   ID='a1'><saml:Advice>{inner}</saml:Advice><saml:Issuer>i</saml:Issuer></saml:Assertion>");
        let xml = format!("<samlp:Response xmlns:samlp='p' ID='r'>{signed}</samlp:Response>");
        assert_eq!(signed_assertion(&xml, "a1"), Some(signed.as_str()));
        assert_eq!(signed_assertion(&xml, "n1"), Some(inner));
        // The ID on another element as well as on the assertion: refused (either order).
        let dup = xml.replace("<saml:Issuer>i", "<saml:Issuer ID=\"a1\">i");
        assert_eq!(signed_assertion(&dup, "a1"), None);
        let dup = xml.replace("ID='r'", "ID='a1'");
        assert_eq!(signed_assertion(&dup, "a1"), None);
        // An entity in the value is compared unescaped; an empty element is not an assertion.
        assert_eq!(
            signed_assertion("<R><saml:Assertion ID=\"a&amp;b\"></saml:Assertion></R>", "a&b"),
            Some("<saml:Assertion ID=\"a&amp;b\"></saml:Assertion>")
        );
        assert_eq!(signed_assertion("<R><saml:Assertion ID=\"a\"/></R>", "a"), None);
    }

    #[test]
    fn destination_is_read_from_the_root_only() {
        let f = root_fields("<R Destination=\"a&amp;b\"><x Destination=\"c\"/></R>").unwrap();
        assert_eq!(f.destination.as_deref(), Some("a&b"));
        assert_eq!(root_fields("<R><x Destination=\"c\"/></R>").unwrap().destination, None);
        assert_eq!(root_fields("garbage"), Err(()));
    }

    #[test]
    fn the_top_level_status_is_read() {
        let ok = "<p:Response xmlns:p=\"x\"><p:Status><p:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></p:Status></p:Response>";
        assert_eq!(root_fields(ok).unwrap().status.as_deref(), Some(STATUS_SUCCESS));
        let nested = "<R><Status><StatusCode Value='urn:oasis:names:tc:SAML:2.0:status:Responder'><StatusCode Value='urn:oasis:names:tc:SAML:2.0:status:Success'/></StatusCode></Status></R>";
        assert_eq!(
            root_fields(nested).unwrap().status.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:status:Responder"),
            "the second-level code does not count"
        );
        let deep =
            "<R><A><Status><StatusCode Value='urn:oasis:names:tc:SAML:2.0:status:Success'/></Status></A></R>";
        assert_eq!(root_fields(deep).unwrap().status, None, "only a child of the root");
        assert_eq!(root_fields("<R><Status/><Status/></R>"), Err(()), "two statuses");
        assert_eq!(status_name("urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"), "AuthnFailed");
        assert_eq!(status_name("<script>"), "script");
    }
}
