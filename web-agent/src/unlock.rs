//! Verified assertion + sealed TAT + a source of the PAT → opened PII. The one pipeline
//! behind both the ACS (a browser signs in) and the propagation ingress (a partner agent
//! calls on a user's behalf); only where the PAT comes from differs ([`PatSource`]).
//!
//! In order: the assertion's idaas claims are read ([`federation::claims::Claims`]: the
//! suite, the TAT, the `pii:*` ciphertexts; refused when missing, duplicated or hostile);
//! the TAT is unsealed with the agent's HPKE key under the caller's `info` (the
//! home IdP's, or the propagated one bound to the assertion), and decoded off the async
//! workers while the PAT is obtained; the PAT is exchanged for the signed assertion at the
//! visitor IdP (RFC 7522) and unsealed, unless the source remembers one; both must be bound
//! to the assertion's `(NameID, SessionIndex)`; every `pii:*` ciphertext they satisfy is
//! decrypted, the others are counted and left out.
//!
//! The suite is the one the claims name (typed, no default): an assertion that does not say
//! its suite is refused, never read as BLS12-381.

use federation::claims::Claims;
use federation::seal::RecipientKey;
use federation::verify::VerifiedAssertion;
use zeroize::Zeroizing;

use crate::config::VisitorConfig;
use crate::decrypt::{KeyError, Opened, Tat};
pub use crate::error::UnlockError;
use crate::propagation::memory::Memory;

/// Where the PAT comes from.
#[derive(Debug, Clone, Copy)]
pub enum PatSource<'a> {
    /// Exchange the signed assertion at the visitor IdP, every time (the ACS: each
    /// assertion is exchanged once, by the sign-in it belongs to).
    Exchange,
    /// Reuse the PAT remembered for (issuer, assertion ID) in `memory`; otherwise exchange
    /// and remember it until `until` (the propagation ingress: a visitor IdP grants each
    /// client one exchange per assertion, and a partner may call many times).
    Remembered {
        /// The cache of exchanged PATs.
        memory: &'a Memory,
        /// Until when a freshly exchanged PAT may be reused (Unix seconds).
        until: i64,
    },
}

/// The pieces of agent state the pipeline uses.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// The agent's HPKE key (TATs and PATs are sealed to it).
    pub key: &'a RecipientKey,
    /// The client for the visitor IdP.
    pub http: &'a reqwest::Client,
    /// The visitor IdP and this agent's client credentials there.
    pub visitor: &'a VisitorConfig,
}

/// One assertion's material to unlock.
#[derive(Debug, Clone, Copy)]
pub struct Sealed<'a> {
    /// The signed `<saml:Assertion>` exactly as the IdP produced it (what the visitor IdP
    /// verifies again).
    pub assertion_xml: &'a str,
    /// Where the sealed TAT comes from.
    pub tat: TatFrom<'a>,
    /// The HPKE `info` the TAT was sealed under.
    pub tat_info: &'a [u8],
}

/// Where the sealed TAT of an unlock comes from.
#[derive(Debug, Clone, Copy)]
pub enum TatFrom<'a> {
    /// The assertion's own `idaas:tat` claim, sealed to this agent by the home IdP (the ACS).
    Claims,
    /// A TAT a partner agent re-sealed to this agent (the propagation ingress; the
    /// assertion's own claim is sealed to the partner, not to us).
    Propagated(&'a str),
}

/// What unlocking yields.
#[derive(Debug)]
pub struct Unlocked {
    /// The decrypted PII and the counts of what stayed closed.
    pub opened: Opened,
    /// The TAT bundle (binary, wiped on drop), kept so the agent can re-seal it for a partner.
    pub tat: Zeroizing<Vec<u8>>,
}

/// Runs the pipeline for a verified `assertion` (its signature, issuer and the caller's
/// time and audience checks are done already).
pub async fn unlock(
    keys: Keys<'_>,
    assertion: &VerifiedAssertion,
    sealed: Sealed<'_>,
    pat_source: PatSource<'_>,
    now: i64,
) -> Result<Unlocked, UnlockError> {
    let started = std::time::Instant::now();
    let session_index = assertion.session_index().ok_or(UnlockError::Tat)?.to_owned();
    let user = assertion.name_id().value.clone();
    let claims = Claims::read(assertion)?;
    let suite = claims.suite;
    let sealed_tat = match sealed.tat {
        TatFrom::Claims => claims.sealed_tat.as_str(),
        TatFrom::Propagated(t) => t,
    };
    let opened_tat = keys.key.open(sealed_tat, sealed.tat_info).map_err(|_| UnlockError::Tat)?;
    let tat: Zeroizing<Vec<u8>> =
        Zeroizing::new(pbe_core::wire::from_binary_or_text(&opened_tat).map_err(|_| UnlockError::Tat)?);
    let ciphertexts: Vec<(String, String)> = claims.pii.into_iter().collect();
    // Decode the TAT while the PAT is obtained.
    let (tat_cts, tat_bytes) = (ciphertexts.clone(), tat.clone());
    let tat_job = tokio::task::spawn_blocking(move || Tat::decode(suite, &tat_bytes, &tat_cts));

    let remembered = match pat_source {
        PatSource::Exchange => None,
        PatSource::Remembered { memory, .. } => memory.pat(assertion.issuer(), assertion.id(), now),
    };
    let pat = match remembered {
        Some(pat) => pat,
        None => {
            let pat = exchange_pat(keys, &session_index, suite, sealed.assertion_xml).await?;
            if let PatSource::Remembered { memory, until } = pat_source {
                memory.remember_pat(assertion.issuer(), assertion.id(), pat.clone(), now, until);
            }
            pat
        }
    };
    let pat_at = started.elapsed();
    let decoded = tat_job.await.map_err(|_| UnlockError::Tat)?.map_err(UnlockError::TatBundle)?;
    let tat_at = started.elapsed();
    let opened = tokio::task::spawn_blocking(move || {
        crate::decrypt::open_decoded(&decoded, &pat, &user, &session_index, &ciphertexts)
    })
    .await
    .map_err(|_| UnlockError::Pat)??;
    tracing::debug!(
        pat_us = pat_at.as_micros() as u64,
        tat_us = tat_at.as_micros() as u64,
        opened_us = started.elapsed().as_micros() as u64,
        "unlock timings"
    );
    Ok(Unlocked { opened, tat })
}

/// RFC 7522: the signed assertion for a PAT of `suite`, unsealed when sealed.
async fn exchange_pat(
    keys: Keys<'_>,
    session_index: &str,
    suite: pbe_core::SuiteId,
    assertion_xml: &str,
) -> Result<Zeroizing<Vec<u8>>, UnlockError> {
    let exchanged = crate::exchange::exchange(keys.http, keys.visitor, assertion_xml).await?;
    // The token response names its suite in text; only the canonical name of the claims'
    // suite matches.
    if exchanged.fields.pbe_suite != suite.name() {
        return Err(KeyError::Suite.into());
    }
    let text: Zeroizing<Vec<u8>> = if exchanged.fields.pat_sealed {
        let info = federation::pat::pat_info(&keys.visitor.client_id, session_index);
        keys.key.open(&exchanged.fields.purpose_access_token, &info).map_err(|_| UnlockError::Pat)?
    } else {
        Zeroizing::new(exchanged.fields.purpose_access_token.as_bytes().to_vec())
    };
    Ok(Zeroizing::new(pbe_core::wire::from_binary_or_text(&text).map_err(|_| UnlockError::Pat)?))
}
