//! Verified assertion + sealed TAT + a source of the PAT → opened PII. The one pipeline
//! behind both the ACS (a browser signs in) and the propagation ingress (a partner agent
//! calls on a user's behalf); only where the PAT comes from differs ([`PatSource`]).
//!
//! In order: the assertion's idaas claims are read ([`federation::claims::Claims`]: the
//! suite, the TAT, the `pii:*` digests and the `idaas:pii-ref` reference; refused when
//! missing, duplicated or hostile); the TAT is unsealed with the agent's HPKE key under the
//! caller's `info` (the home IdP's, or the propagated one bound to the assertion); then, at
//! the same time, the PII ciphertexts are obtained ([`PiiFrom`]: fetched from the home IdP
//! with the reference, or re-sealed by a partner) and the PAT is exchanged for the signed
//! assertion at the visitor IdP (RFC 7522) and unsealed, unless the source remembers one.
//! Each ciphertext must hash to the digest the home IdP signed (a mismatch is refused and
//! counted, never decrypted: `federation::pii::check_digests`); TAT and PAT must be bound to
//! the assertion's `(NameID, SessionIndex)`; every ciphertext they satisfy is decrypted, the
//! others are counted and left out.
//!
//! The suite is the one the claims name (typed, no default): an assertion that does not say
//! its suite is refused, never read as BLS12-381.

use crate::seal_keys::SealKeys;
use federation::claims::Claims;
use federation::pii::{check_digests, decode_bundle};
use federation::verify::VerifiedAssertion;
use service_kit::metrics::{observe_phase, timed};
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
    pub key: &'a SealKeys,
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
    /// Where the PII ciphertexts come from.
    pub pii: PiiFrom<'a>,
}

/// Where the PII ciphertexts of an unlock come from.
#[derive(Debug, Clone, Copy)]
pub enum PiiFrom<'a> {
    /// The home IdP's fetch endpoint, with the assertion's `idaas:pii-ref` (the ACS).
    Home {
        /// The endpoint ([`crate::sp::TrustedIdp::pii_fetch_url`]).
        url: &'a str,
        /// This agent's entity ID (the SP the reference and the seal are bound to).
        sp: &'a str,
    },
    /// A bundle a partner agent re-sealed to this agent under `info` (the propagation
    /// ingress; the partner never needs the home IdP's reference).
    Propagated {
        /// The sealed bundle (text).
        sealed: &'a str,
        /// [`crate::pii::propagated_info`] for this agent and the assertion.
        info: &'a [u8],
    },
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
    /// The assertion's `idaas:pii-ref`, kept so the agent can fetch the ciphertexts again for
    /// a partner.
    pub pii_ref: String,
    /// The PII names the assertion signs a digest for.
    pub pii_names: Vec<String>,
    /// What came over the wire, still sealed or encrypted: enough for another instance to
    /// open the same PII again ([`reopen`]) without asking the IdPs.
    pub wire: Wire,
}

/// The PAT exactly as the visitor IdP's token response carried it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ReceivedPat {
    /// Sealed to this agent (HPKE text), or the key itself when the visitor IdP does not seal.
    pub text: String,
    /// Whether `text` is sealed.
    pub sealed: bool,
}

/// The material of one unlock as it was safe on the wire: the sealed TAT, the PAT as received,
/// and the digest-checked PII ciphertexts. No plaintext, no opened key: what an agent session
/// record in the shared database holds (`crate::shared_sessions`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Wire {
    /// The pairing suite's name.
    pub suite: String,
    /// The TAT, sealed to this agent (HPKE text).
    pub sealed_tat: String,
    /// The PAT as received; `None` when it came from the propagation memory.
    pub pat: Option<ReceivedPat>,
    /// The ciphertexts that matched their signed digests (attribute, binary form; base64 in
    /// the serialised record).
    #[serde(with = "b64_pairs")]
    pub ciphertexts: Vec<(String, Vec<u8>)>,
    /// Signed attributes with no ciphertext, and ciphertexts refused for their digest: closed.
    pub absent: usize,
    /// Of those, the ones refused for their digest.
    pub mismatched: usize,
    /// The day (days since 1970) the ciphertexts were decrypted on.
    pub day: u64,
}

/// `(name, bytes)` pairs serialised as `(name, base64)`.
mod b64_pairs {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<(&str, String)> = v.iter().map(|(n, b)| (n.as_str(), STANDARD.encode(b))).collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Vec<u8>)>, D::Error> {
        let text = Vec::<(String, String)>::deserialize(d)?;
        text.into_iter()
            .map(|(n, b)| STANDARD.decode(b).map(|b| (n, b)).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire").field("ciphertexts", &self.ciphertexts.len()).finish_non_exhaustive()
    }
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
    let opened_tat = timed("unlock_tat_unseal", || keys.key.open(sealed_tat, sealed.tat_info))
        .map_err(|_| UnlockError::Tat)?;
    let tat: Zeroizing<Vec<u8>> =
        Zeroizing::new(pbe_core::wire::from_binary_or_text(&opened_tat).map_err(|_| UnlockError::Tat)?);
    let today = u64::try_from(now.div_euclid(86_400)).unwrap_or(0);
    // The ciphertexts, checked against the signed digests, and then at once the TAT
    // components their policies can use, decoded on a blocking thread: both while the
    // exchange below is still in flight (the PII fetch is the shorter round trip).
    let pii = async {
        let fetch_started = std::time::Instant::now();
        let bundle = if claims.pii.is_empty() {
            federation::pii::Bundle::new()
        } else {
            let bundle = match sealed.pii {
                PiiFrom::Home { url, sp } => {
                    let to = crate::pii::FetchFor {
                        url,
                        pii_ref: &claims.pii_ref,
                        uid: &user,
                        sp,
                        session_index: &session_index,
                        assertion_id: assertion.id(),
                    };
                    crate::pii::fetch(keys.http, keys.key, to, claims.pii.keys()).await?
                }
                PiiFrom::Propagated { sealed, info } => crate::pii::open(keys.key, sealed, info)?,
            };
            decode_bundle(&bundle).map_err(|_| UnlockError::PiiSeal)?
        };
        observe_phase("unlock_pii", fetch_started.elapsed().as_secs_f64());
        // Only ciphertexts whose hash the home IdP signed go on to decryption.
        let checked = check_digests(&claims.pii, bundle);
        let ciphertexts: Vec<(String, Vec<u8>)> = checked.ciphertexts.into_iter().collect();
        let (tat_cts, tat_bytes) = (ciphertexts.clone(), tat.clone());
        let decode_started = std::time::Instant::now();
        // Its error is returned after the PAT's, as before the two overlapped.
        let decoded = tokio::task::spawn_blocking(move || {
            timed("unlock_tat_decode", || Tat::decode(suite, &tat_bytes, &tat_cts))
        })
        .await
        .map_err(|_| UnlockError::Tat)
        .and_then(|d| d.map_err(UnlockError::TatBundle));
        observe_phase("unlock_tat_decode_wait", decode_started.elapsed().as_secs_f64());
        Ok::<_, UnlockError>((checked.absent, checked.mismatched, ciphertexts, decoded))
    };
    let pat = async {
        let remembered = match pat_source {
            PatSource::Exchange => None,
            PatSource::Remembered { memory, .. } => memory.pat(assertion.issuer(), assertion.id(), now),
        };
        match remembered {
            Some(pat) => Ok((pat, None)),
            None => {
                let exchange_started = std::time::Instant::now();
                let (pat, received) = exchange_pat(keys, &session_index, suite, sealed.assertion_xml).await?;
                observe_phase("unlock_exchange", exchange_started.elapsed().as_secs_f64());
                if let PatSource::Remembered { memory, until } = pat_source {
                    memory.remember_pat(assertion.issuer(), assertion.id(), pat.clone(), now, until);
                }
                Ok::<_, UnlockError>((pat, Some(received)))
            }
        }
    };
    let (bundle, pat) = tokio::join!(pii, pat);
    let ((absent, mismatched, ciphertexts, decoded), (pat, received)) = (bundle?, pat?);
    let decoded = decoded?;
    if mismatched > 0 {
        tracing::warn!(mismatched, "PII ciphertexts that do not match the signed digests were refused");
    }
    let wire = Wire {
        suite: suite.name().to_owned(),
        sealed_tat: sealed_tat.to_owned(),
        pat: received,
        ciphertexts: ciphertexts.clone(),
        absent,
        mismatched,
        day: today,
    };
    let tat_at = started.elapsed();
    let mut opened = tokio::task::spawn_blocking(move || {
        timed("unlock_decrypt", || {
            crate::decrypt::open_decoded(&decoded, &pat, &user, &session_index, &ciphertexts, today)
        })
    })
    .await
    .map_err(|_| UnlockError::Pat)??;
    // Deleted or replaced since sign-in, or swapped by whoever answered: closed to us.
    opened.mismatched = mismatched;
    opened.closed += absent + mismatched;
    tracing::debug!(
        keys_and_pii_us = tat_at.as_micros() as u64,
        opened_us = started.elapsed().as_micros() as u64,
        "unlock timings"
    );
    Ok(Unlocked { opened, tat, pii_ref: claims.pii_ref, pii_names: claims.pii.into_keys().collect(), wire })
}

/// Opens `wire` again, as [`unlock`] did when it was received: the TAT unsealed under
/// `tat_info`, the PAT under `pat_info` (when it was sealed), then the same decryption on the
/// same day. What an agent instance does once for a session another instance created; the
/// IdPs are not asked. Returns the opened PII and the TAT (binary, wiped on drop).
pub async fn reopen(
    key: &SealKeys,
    wire: &Wire,
    uid: &str,
    session_index: &str,
    tat_info: &[u8],
    pat_info: &[u8],
) -> Result<(Opened, Zeroizing<Vec<u8>>), UnlockError> {
    let suite = pbe_core::SuiteId::from_name(&wire.suite).ok_or(UnlockError::Tat)?;
    let opened_tat = key.open(&wire.sealed_tat, tat_info).map_err(|_| UnlockError::Tat)?;
    let tat = Zeroizing::new(pbe_core::wire::from_binary_or_text(&opened_tat).map_err(|_| UnlockError::Tat)?);
    let received = wire.pat.as_ref().ok_or(UnlockError::Pat)?;
    let text: Zeroizing<Vec<u8>> = if received.sealed {
        key.open(&received.text, pat_info).map_err(|_| UnlockError::Pat)?
    } else {
        Zeroizing::new(received.text.as_bytes().to_vec())
    };
    let pat = Zeroizing::new(pbe_core::wire::from_binary_or_text(&text).map_err(|_| UnlockError::Pat)?);
    let (cts, tat_bytes, day) = (wire.ciphertexts.clone(), tat.clone(), wire.day);
    let (uid, session_index) = (uid.to_owned(), session_index.to_owned());
    let mut opened = tokio::task::spawn_blocking(move || {
        let decoded = Tat::decode(suite, &tat_bytes, &cts).map_err(UnlockError::TatBundle)?;
        Ok::<_, UnlockError>(crate::decrypt::open_decoded(&decoded, &pat, &uid, &session_index, &cts, day)?)
    })
    .await
    .map_err(|_| UnlockError::Pat)??;
    opened.mismatched = wire.mismatched;
    opened.closed += wire.absent;
    Ok((opened, tat))
}

/// RFC 7522: the signed assertion for a PAT of `suite`, unsealed when sealed.
async fn exchange_pat(
    keys: Keys<'_>,
    session_index: &str,
    suite: pbe_core::SuiteId,
    assertion_xml: &str,
) -> Result<(Zeroizing<Vec<u8>>, ReceivedPat), UnlockError> {
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
    let pat = Zeroizing::new(pbe_core::wire::from_binary_or_text(&text).map_err(|_| UnlockError::Pat)?);
    let received = ReceivedPat {
        text: exchanged.fields.purpose_access_token.clone(),
        sealed: exchanged.fields.pat_sealed,
    };
    Ok((pat, received))
}
