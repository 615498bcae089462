//! Combining a TAT and a PAT and decrypting what they open. Generic over the pairing suite;
//! the suite is named by the assertion's claims (`federation::claims::Claims::suite`, typed)
//! and by the token response, and both must agree.

use std::collections::BTreeMap;

use pbe_core::{Ciphertext, Gid, Suite, SuiteId, UserKey};
use zeroize::Zeroizing;

/// Why the keys could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Unknown or mismatched suite.
    #[error("the TAT and PAT are for an unsupported or different pairing suite")]
    Suite,
    /// A key bundle does not decode.
    #[error("the {0} is not a valid key bundle")]
    Malformed(&'static str),
    /// A key bundle is for another (uid, session) than the assertion.
    #[error("the {0} is bound to another user or session than the assertion")]
    WrongSession(&'static str),
}

/// What decryption produced.
#[derive(Debug, Default)]
pub struct Opened {
    /// Attribute → plaintext (UTF-8; other bytes are replaced).
    pub values: BTreeMap<String, Zeroizing<String>>,
    /// Ciphertexts the keys do not satisfy.
    pub closed: usize,
    /// Ciphertexts that were malformed or failed to authenticate.
    pub broken: usize,
    /// Signed attributes whose fetched ciphertext did not match the signed digest: refused,
    /// never decrypted (also counted in `closed`).
    pub mismatched: usize,
    /// Why each ciphertext the keys do not satisfy stayed closed: (attribute, reason in plain
    /// words, [`crate::explain`]), in attribute order.
    pub missing: Vec<(String, String)>,
}

/// One attribute's decryption result.
type Decrypted = (String, Result<pbe_core::Plaintext, pbe_core::Error>);

/// A decoded Time Access Token, in its suite (which decides the PAT's).
pub struct Tat(Box<dyn OpenWith>);

/// What the agent does with a TAT of any suite: combine it with a PAT and decrypt.
trait OpenWith: Send + Sync {
    fn open(
        &self,
        pat: &[u8],
        uid: &str,
        session_index: &str,
        ciphertexts: &[(String, Vec<u8>)],
        today: u64,
        schedule: Schedule,
    ) -> Result<Opened, KeyError>;
}

impl<S: Suite> OpenWith for UserKey<S> {
    fn open(
        &self,
        pat: &[u8],
        uid: &str,
        session_index: &str,
        ciphertexts: &[(String, Vec<u8>)],
        today: u64,
        schedule: Schedule,
    ) -> Result<Opened, KeyError> {
        open_with::<S>(self, pat, uid, session_index, ciphertexts, today, schedule)
    }
}

impl Tat {
    /// Decodes a TAT of `suite`, keeping (and validating) only the components the policies of
    /// `ciphertexts` can use. A TAT has 19 G1/G2 pairs (17 of them the day's segment-tree
    /// path), and decoding a validated pair costs about 0.25 ms, while a decryption uses a
    /// few. The agent runs this while the PAT exchange is in flight.
    pub fn decode(suite: SuiteId, bytes: &[u8], ciphertexts: &[(String, Vec<u8>)]) -> Result<Tat, KeyError> {
        pbe_core::with_suite!(suite, S => Ok(Tat(Box::new(decode_needed::<S>(bytes, ciphertexts)?))))
    }
}

fn decode_needed<S: Suite>(bytes: &[u8], ciphertexts: &[(String, Vec<u8>)]) -> Result<UserKey<S>, KeyError> {
    let needed: std::collections::BTreeSet<pbe_core::Attribute> = ciphertexts
        .iter()
        .filter_map(|(_, bytes)| Ciphertext::<S>::from_bytes(bytes).ok())
        .flat_map(|ct| ct.policy().attributes())
        .collect();
    UserKey::from_bytes_for(bytes, &|a| needed.contains(a)).map_err(|_| KeyError::Malformed("TAT"))
}

/// Decodes both bundles in `suite`, checks they are for `(uid, session_index)`, and decrypts
/// every `(attribute, ciphertext)` (pbe-core binary: what the home IdP's fetch answers and
/// the assertion's digests cover).
pub fn open(
    suite: SuiteId,
    tat: &[u8],
    pat: &[u8],
    uid: &str,
    session_index: &str,
    ciphertexts: &[(String, Vec<u8>)],
    today: u64,
) -> Result<Opened, KeyError> {
    open_decoded(&Tat::decode(suite, tat, ciphertexts)?, pat, uid, session_index, ciphertexts, today)
}

/// As [`open`], with the TAT already decoded (its suite decides the PAT's). `today` (days
/// since 1970) dates the reasons of what stays closed.
pub fn open_decoded(
    tat: &Tat,
    pat: &[u8],
    uid: &str,
    session_index: &str,
    ciphertexts: &[(String, Vec<u8>)],
    today: u64,
) -> Result<Opened, KeyError> {
    tat.0.open(pat, uid, session_index, ciphertexts, today, Schedule::default())
}

/// As [`open`], with the schedule named: for the benchmark that chose the default
/// (`benches/benches/agent.rs`, `agent-open`), not for the agent itself.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn open_scheduled(
    suite: SuiteId,
    tat: &[u8],
    pat: &[u8],
    uid: &str,
    session_index: &str,
    ciphertexts: &[(String, Vec<u8>)],
    today: u64,
    schedule: Schedule,
) -> Result<Opened, KeyError> {
    Tat::decode(suite, tat, ciphertexts)?.0.open(pat, uid, session_index, ciphertexts, today, schedule)
}

/// How the decryptions of one request share the cores (the target machine has two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// One value after another, each on both cores (pbe-core splits a decryption's row
    /// decoding and multi-Miller loop over two threads).
    EachOnBothCores,
    /// The values shared out over two threads, each decryption on one; a lone value is
    /// decrypted on both cores instead. The default: on the quiet 2-core machine, two and
    /// three values were faster this way than each on both cores (8.3 vs 9.0 ms, 10.3 vs
    /// 13.3 ms), one value on both cores faster than on one (4.9 vs 5.6 ms)
    /// (docs/performance.md, "Decryption on both cores").
    #[default]
    ValuesOverThreads,
}

/// Decrypts every job under `schedule`; also returns how many results were lost to a
/// panicking worker (counted as broken).
fn decrypt_all<S: Suite>(
    work: &[(&String, Ciphertext<S>)],
    keys: &[&UserKey<S>],
    schedule: Schedule,
) -> (Vec<Decrypted>, usize) {
    match schedule {
        Schedule::EachOnBothCores => {
            (work.iter().map(|(name, ct)| ((*name).clone(), ct.decrypt(keys))).collect(), 0)
        }
        Schedule::ValuesOverThreads => {
            let decrypt = |jobs: &[(&String, Ciphertext<S>)]| -> Vec<Decrypted> {
                jobs.iter().map(|(name, ct)| ((*name).clone(), ct.decrypt_on_this_thread(keys))).collect()
            };
            if work.len() < 2 {
                // Nothing to share out: the lone value gets both cores.
                return (work.iter().map(|(name, ct)| ((*name).clone(), ct.decrypt(keys))).collect(), 0);
            }
            let (left, right) = work.split_at(work.len() / 2);
            std::thread::scope(|s| {
                let other = s.spawn(|| decrypt(left));
                let mut mine = decrypt(right);
                match other.join() {
                    Ok(mut theirs) => {
                        theirs.append(&mut mine);
                        (theirs, 0)
                    }
                    Err(_) => (mine, left.len()),
                }
            })
        }
    }
}

fn open_with<S: Suite>(
    tat: &UserKey<S>,
    pat: &[u8],
    uid: &str,
    session_index: &str,
    ciphertexts: &[(String, Vec<u8>)],
    today: u64,
    schedule: Schedule,
) -> Result<Opened, KeyError> {
    // Ciphertexts decode lazily (rows are validated when a decryption uses them); decryption
    // is a multi-pairing per ciphertext, spread over the 2-core target machine ([`Schedule`]).
    let pat = UserKey::<S>::from_bytes(pat).map_err(|_| KeyError::Malformed("PAT"))?;
    let parsed: Vec<(&String, Option<Ciphertext<S>>)> =
        ciphertexts.iter().map(|(name, bytes)| (name, Ciphertext::<S>::from_bytes(bytes).ok())).collect();
    // The linchpin: both bundles must be for the assertion's (NameID, SessionIndex). The
    // scheme would refuse to combine mismatched keys anyway; checking here gives a clear error.
    let gid = Gid::new(uid, session_index).map_err(|_| KeyError::WrongSession("TAT"))?;
    if tat.gid() != &gid {
        return Err(KeyError::WrongSession("TAT"));
    }
    if pat.gid() != &gid {
        return Err(KeyError::WrongSession("PAT"));
    }
    let keys = [tat, &pat];
    let mut opened = Opened::default();
    let mut work = Vec::new();
    for (name, ct) in parsed {
        match ct {
            None => opened.broken += 1,
            // Only satisfied ciphertexts cost pairings: share those out evenly.
            Some(ct) if ct.is_satisfied_by(&keys) => work.push((name, ct)),
            Some(ct) => {
                opened.closed += 1;
                let held = |a: &pbe_core::Attribute| keys.iter().any(|k| k.attributes().any(|h| h == a));
                opened.missing.push((name.clone(), crate::explain::why_closed(ct.policy(), &held, today)));
            }
        }
    }
    let (results, lost) = decrypt_all(&work, &keys, schedule);
    opened.broken += lost;
    for (name, result) in results {
        match result {
            Ok(plain) => {
                let value = Zeroizing::new(String::from_utf8_lossy(&plain).into_owned());
                opened.values.insert(name, value);
            }
            Err(pbe_core::Error::Scheme(pbe_core::SchemeError::NotSatisfied { .. })) => opened.closed += 1,
            Err(_) => opened.broken += 1,
        }
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbe_core::{Attribute, AuthoritySecretKey, Encryptor, Policy};
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn keys_must_share_the_assertions_uid_and_session() {
        for suite in SuiteId::ALL {
            pbe_core::with_suite!(suite, S => keys_must_share::<S>());
        }
    }

    /// 0 to 4 satisfied values with malformed and closed ones mixed in: both schedules open
    /// the same values and count the same closed and broken ones.
    #[test]
    fn opens_zero_to_four_values_under_both_schedules() {
        type S = pbe_core::Bls12_381Suite;
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let home = AuthoritySecretKey::<S>::setup("telekom", rng).unwrap();
        let visitor = AuthoritySecretKey::<S>::setup("salesforce", rng).unwrap();
        let enc = Encryptor::new([home.public_key(), visitor.public_key()]).unwrap();
        let policies = [
            "domain:salesforce@telekom and purpose:current@salesforce",
            "domain:salesforce@telekom or country:eu@telekom",
            "2 of (domain:salesforce@telekom, country:eu@telekom, purpose:current@salesforce)",
            "country:eu@telekom and (purpose:current@salesforce or purpose:other@salesforce)",
        ];
        let gid = Gid::new("bob", "s1").unwrap();
        let attrs = |list: &[&str]| list.iter().map(|a| Attribute::parse(a).unwrap()).collect::<Vec<_>>();
        let tat =
            home.keygen(&gid, &attrs(&["domain:salesforce@telekom", "country:eu@telekom"]), rng).unwrap();
        let pat = visitor.keygen(&gid, &attrs(&["purpose:current@salesforce"]), rng).unwrap();
        let closed = enc.encrypt(&Policy::parse("purpose:other@salesforce").unwrap(), b"no", rng).unwrap();
        for n in 0..=policies.len() {
            let mut cts: Vec<(String, Vec<u8>)> = policies[..n]
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let ct =
                        enc.encrypt(&Policy::parse(p).unwrap(), format!("v{i}").as_bytes(), rng).unwrap();
                    (format!("attr{i}"), ct.into_bytes())
                })
                .collect();
            cts.push(("junk".into(), vec![1, 2, 3]));
            cts.push(("closed".into(), closed.clone().into_bytes()));
            if let Some((_, bytes)) = cts.first_mut().filter(|_| n > 0) {
                // A tampered payload: decodes, is satisfied, fails to authenticate.
                if let Some(last) = bytes.last_mut() {
                    *last ^= 1;
                }
            }
            for schedule in [Schedule::EachOnBothCores, Schedule::ValuesOverThreads] {
                let opened =
                    open_scheduled(S::ID, &tat.to_bytes(), &pat.to_bytes(), "bob", "s1", &cts, 0, schedule)
                        .unwrap();
                let expected: Vec<String> = (1..n).map(|i| format!("attr{i}")).collect();
                assert_eq!(opened.values.keys().cloned().collect::<Vec<_>>(), expected, "{n} {schedule:?}");
                for (i, name) in expected.iter().enumerate() {
                    assert_eq!(opened.values[name].as_str(), format!("v{}", i + 1));
                }
                assert_eq!((opened.closed, opened.broken), (1, 1 + usize::from(n > 0)), "{n} {schedule:?}");
            }
        }
    }

    fn keys_must_share<S: Suite>() {
        let name = S::ID;
        let other = if S::ID == SuiteId::Bn254 { SuiteId::Bls12_381 } else { SuiteId::Bn254 };
        let rng = &mut rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let home = AuthoritySecretKey::<S>::setup("telekom", rng).unwrap();
        let visitor = AuthoritySecretKey::<S>::setup("salesforce", rng).unwrap();
        let policy = Policy::parse("domain:salesforce@telekom and purpose:current@salesforce").unwrap();
        let ct = Encryptor::new([home.public_key(), visitor.public_key()])
            .unwrap()
            .encrypt(&policy, b"Tri", rng)
            .unwrap();
        let mut key = |k: &AuthoritySecretKey<S>, session: &str, attr: &str| {
            let a = Attribute::parse(attr).unwrap();
            k.keygen(&Gid::new("bob", session).unwrap(), &[a], rng).unwrap().to_bytes()
        };
        let tat = key(&home, "s1", "domain:salesforce@telekom");
        let pat = key(&visitor, "s1", "purpose:current@salesforce");
        let other_pat = key(&visitor, "s2", "purpose:current@salesforce");
        let cts =
            vec![("lastname".to_string(), ct.clone().into_bytes()), ("junk".to_string(), vec![0, 0, 0])];

        let opened = open(name, &tat, &pat, "bob", "s1", &cts, 0).unwrap();
        assert_eq!(opened.values["lastname"].as_str(), "Tri");
        assert_eq!((opened.closed, opened.broken), (0, 1));
        assert_eq!(
            open(name, &tat, &other_pat, "bob", "s1", &cts, 0).unwrap_err(),
            KeyError::WrongSession("PAT")
        );
        assert_eq!(open(name, &tat, &pat, "bob", "s2", &cts, 0).unwrap_err(), KeyError::WrongSession("TAT"));
        assert_eq!(
            open(name, &tat, &pat, "alice", "s1", &cts, 0).unwrap_err(),
            KeyError::WrongSession("TAT")
        );
        assert_eq!(open(other, &tat, &pat, "bob", "s1", &cts, 0).unwrap_err(), KeyError::Malformed("TAT"));
        assert_eq!(
            open(name, b"garbage", &pat, "bob", "s1", &cts, 0).unwrap_err(),
            KeyError::Malformed("TAT")
        );
        assert_eq!(
            open(name, &tat, &tat[..10], "bob", "s1", &cts, 0).unwrap_err(),
            KeyError::Malformed("PAT")
        );
    }
}
