//! `POST /saml/acs`: from a posted SAMLResponse to a session. In order, each step refusing
//! with a clear message and leaving nothing behind:
//!
//! 1. size cap, whitespace-tolerant strict base64, UTF-8; the Response's `Destination` (if
//!    present) must be this ACS;
//! 2. the one signed Assertion is verified with the trusted IdP's certificate
//!    (`federation::verify`: no DOCTYPE, no SHA-1, only the signed content is read, so XML
//!    signature wrapping fails) and its issuer must be that IdP;
//! 3. time conditions with the configured skew, an AudienceRestriction naming this SP, a
//!    bearer confirmation whose Recipient is this ACS and whose `InResponseTo` is a request this
//!    agent sent (each answered once), and a replay cache of assertion IDs;
//! 4. for a PBE service: the TAT is unsealed with the agent's X25519 key; the *same signed
//!    assertion* is exchanged at the visitor IdP for a PAT (RFC 7522), which is unsealed when
//!    sealed; both must be bound to `(NameID, SessionIndex)`; every `pii:*` ciphertext they
//!    satisfy is decrypted, the others are counted and left out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use federation::verify::{InResponseTo, UnverifiedAssertion, VerifiedAssertion};
use zeroize::Zeroizing;

use crate::session::Session;
use crate::AppState;

/// Largest SAMLResponse accepted (base64 characters).
pub const MAX_ENCODED: usize = 1 << 20;
/// Largest decoded Response XML.
pub const MAX_XML: usize = 768 * 1024;

/// Why a response was refused. Shown to the user on a 400/403 page (no secrets in it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcsError {
    /// Encoding, size, or XML problems.
    #[error("the SAML response is malformed: {0}")]
    Malformed(&'static str),
    /// The Response's Destination is not this ACS.
    #[error("the SAML response is addressed to another service")]
    WrongDestination,
    /// Signature, issuer, audience, recipient, time or replay.
    #[error("the SAML assertion was refused: {0}")]
    Invalid(#[from] federation::verify::ValidationError),
    /// `InResponseTo` names no request this agent sent (or one already answered / expired).
    #[error("the SAML response does not answer a sign-in this service started (or it was already used)")]
    UnknownRequest,
    /// No TAT, or it does not open with this agent's key for this session.
    #[error("the Time Access Token is missing or not sealed for this service and session")]
    Tat,
    /// The visitor IdP exchange failed.
    #[error(transparent)]
    Exchange(#[from] crate::exchange::ExchangeError),
    /// The PAT does not open, or is for another session.
    #[error("the Purpose Access Token is not sealed for this service and session")]
    Pat,
    /// TAT/PAT mismatch.
    #[error(transparent)]
    Keys(#[from] crate::pii::KeyError),
}

/// The outcome of a successful ACS request.
pub struct SignedIn {
    /// The new session.
    pub session: Session,
    /// Where the browser goes next.
    pub return_to: String,
}

/// Processes one posted SAMLResponse.
pub async fn process(state: &AppState, saml_response: &str) -> Result<SignedIn, AcsError> {
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
    match root_destination(&xml) {
        Ok(Some(d)) if d != acs_url => return Err(AcsError::WrongDestination),
        Ok(_) => {}
        Err(()) => return Err(AcsError::Malformed("not well-formed XML")),
    }
    let assertion = {
        let trust = state.idp.trust.clone();
        let xml = xml.clone();
        // libxmlsec1 work is CPU-bound: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            UnverifiedAssertion::parse_response(&xml, MAX_XML).and_then(|u| u.verify(&trust))
        })
        .await
        .map_err(|_| AcsError::Malformed("verification failed"))??
    };
    if assertion.issuer() != state.idp.entity_id {
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
    let pending = state.sessions.take_request(request_id, now).ok_or(AcsError::UnknownRequest)?;
    state.replay.check_and_record(&assertion, now, skew)?;

    let user = assertion.name_id().value.clone();
    if user.is_empty() {
        return Err(AcsError::Malformed("empty NameID"));
    }
    let groups = map_groups(state, assertion.attribute("groups").unwrap_or_default());
    let session_index = assertion.session_index().unwrap_or_default().to_owned();
    let (opened, propagation) = if state.config.visitor.is_some() {
        open_pii(state, &xml, &assertion).await?
    } else {
        Default::default()
    };
    if opened.closed + opened.broken > 0 {
        tracing::info!(closed = opened.closed, broken = opened.broken, "PII ciphertexts left closed");
    }
    let lifetime = i64::from(config.session_lifetime_minutes) * 60;
    let expires = assertion
        .session_not_on_or_after()
        .map_or(now + lifetime, |end| end.min(now + lifetime))
        .max(now + 60);
    tracing::info!(
        user = %federation::redact::log_id(&user),
        opened = opened.values.len(),
        "signed in"
    );
    Ok(SignedIn {
        session: Session {
            user,
            groups,
            pii: opened.values,
            session_index,
            expires,
            closed: opened.closed,
            handle: String::new(),
            propagation,
        },
        return_to: pending.return_to,
    })
}

/// SAML groups after `group_mapping`, sorted and deduplicated.
pub fn map_groups(state: &AppState, saml_groups: &[String]) -> Vec<String> {
    let mut groups: Vec<String> = saml_groups
        .iter()
        .map(|g| state.config.group_mapping.get(g).cloned().unwrap_or_else(|| g.clone()))
        .collect();
    groups.sort();
    groups.dedup();
    groups
}

async fn open_pii(
    state: &AppState,
    response_xml: &str,
    assertion: &VerifiedAssertion,
) -> Result<(crate::pii::Opened, Option<crate::session::Propagation>), AcsError> {
    let Some(visitor) = state.config.visitor.as_ref() else { return Ok(Default::default()) };
    let session_index = assertion.session_index().ok_or(AcsError::Tat)?;
    let user = &assertion.name_id().value;
    let sealed_tat = assertion
        .attribute(federation::assertion::TAT_ATTRIBUTE)
        .and_then(|v| v.first())
        .ok_or(AcsError::Tat)?;
    let suite = assertion
        .attribute(federation::assertion::SUITE_ATTRIBUTE)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| "bls12-381".into());
    let tat_info = federation::seal::tat_info(&state.config.entity_id, session_index);
    let tat: Zeroizing<Vec<u8>> = Zeroizing::new(
        pbe_core::wire::from_binary_or_text(
            &state.key.open(sealed_tat, &tat_info).map_err(|_| AcsError::Tat)?,
        )
        .map_err(|_| AcsError::Tat)?,
    );
    let ciphertexts: Vec<(String, String)> = assertion
        .attributes()
        .iter()
        .filter_map(|(name, values)| {
            let attr = name.strip_prefix(federation::assertion::PII_PREFIX)?;
            (crate::config::is_pii_name(attr))
                .then(|| (attr.to_owned(), values.first().cloned().unwrap_or_default()))
        })
        .collect();
    // Decode the TAT while the exchange below is in flight.
    let (tat_suite, tat_cts) = (suite.clone(), ciphertexts.clone());
    // Kept (zeroized on drop) so the agent can re-seal it for a partner service.
    let tat_kept = tat.clone();
    let tat_job = tokio::task::spawn_blocking(move || crate::pii::Tat::decode(&tat_suite, &tat, &tat_cts));

    // RFC 7522 carries the signed Assertion itself; the visitor IdP verifies it again.
    let signed =
        signed_assertion(response_xml, assertion.id()).ok_or(AcsError::Malformed("the signed assertion"))?;
    let exchanged = crate::exchange::exchange(&state.http, visitor, signed).await?;
    if exchanged.fields.pbe_suite != suite {
        return Err(crate::pii::KeyError::Suite.into());
    }
    let pat_text: Zeroizing<Vec<u8>> = if exchanged.fields.pat_sealed {
        let info = federation::pat::pat_info(&visitor.client_id, session_index);
        state.key.open(&exchanged.fields.purpose_access_token, &info).map_err(|_| AcsError::Pat)?
    } else {
        Zeroizing::new(exchanged.fields.purpose_access_token.as_bytes().to_vec())
    };
    let pat = Zeroizing::new(pbe_core::wire::from_binary_or_text(&pat_text).map_err(|_| AcsError::Pat)?);
    let (user, session_index) = (user.clone(), session_index.to_owned());
    let tat = tat_job.await.map_err(|_| AcsError::Tat)??;
    let opened = tokio::task::spawn_blocking(move || {
        crate::pii::open_decoded(&tat, &pat, &user, &session_index, &ciphertexts)
    })
    .await
    .map_err(|_| AcsError::Pat)??;
    let propagation = crate::session::Propagation {
        assertion_xml: signed.to_owned(),
        assertion_id: assertion.id().to_owned(),
        tat: tat_kept,
    };
    Ok((opened, Some(propagation)))
}

/// The `Destination` attribute of the root element, if any (`Err` on malformed XML).
fn root_destination(xml: &str) -> Result<Option<String>, ()> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().map_err(|_| ())? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                for a in e.attributes() {
                    let a = a.map_err(|_| ())?;
                    if a.key.as_ref() == b"Destination" {
                        return Ok(Some(a.unescape_value().map_err(|_| ())?.into_owned()));
                    }
                }
                return Ok(None);
            }
            quick_xml::events::Event::Eof => return Err(()),
            _ => {}
        }
    }
}

/// The exact text of the element whose `ID` is `id` (the signed assertion), as the IdP
/// produced it. Refuses when the ID occurs more than once (a wrapping attempt) or the element
/// cannot be delimited. The visitor IdP verifies the signature of what is sent.
pub fn signed_assertion<'a>(xml: &'a str, id: &str) -> Option<&'a str> {
    let needle = format!(" ID=\"{id}\"");
    let at = xml.find(&needle)?;
    if xml[at + needle.len()..].contains(&needle) {
        return None;
    }
    let start = xml[..at].rfind('<')?;
    let name_end = start + 1 + xml[start + 1..].find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let name = &xml[start + 1..name_end];
    if !(name == "Assertion" || name.ends_with(":Assertion")) {
        return None;
    }
    let close = format!("</{name}>");
    let end = start + xml[start..].find(&close)? + close.len();
    Some(&xml[start..end])
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
    fn destination_is_read_from_the_root_only() {
        assert_eq!(
            root_destination("<R Destination=\"a&amp;b\"><x Destination=\"c\"/></R>"),
            Ok(Some("a&b".into()))
        );
        assert_eq!(root_destination("<R><x Destination=\"c\"/></R>"), Ok(None));
        assert_eq!(root_destination("garbage"), Err(()));
    }
}
