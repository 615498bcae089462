//! End-to-end properties of the scheme, written once and instantiated per suite
//! (STYLE.md §6.1): the Table 1 lifecycle, collusion resistance, tampering, hostile bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use ark_serialize::Compress;
use pbe_core::disclosure::table1;
use pbe_core::suite::Group;
use pbe_core::{
    segtree, Attribute, AuthorityPublicKey, AuthoritySecretKey, Ciphertext, DecodeError, Encryptor, Error,
    Gid, Policy, SchemeError, Suite, UserKey,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const HOME: &str = "telekom";
const VISITOR: &str = "salesforce";
/// 2026-11-23, the day the data is encrypted in these tests.
const DAY: u64 = 20_415;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn attr(s: &str) -> Attribute {
    s.parse().unwrap()
}

struct World<S: Suite> {
    home: AuthoritySecretKey<S>,
    visitor: AuthoritySecretKey<S>,
    encryptor: Encryptor<S>,
}

fn world<S: Suite>(seed: u64) -> World<S> {
    let mut r = rng(seed);
    let home = AuthoritySecretKey::<S>::setup(HOME, &mut r).unwrap();
    let visitor = AuthoritySecretKey::<S>::setup(VISITOR, &mut r).unwrap();
    // Table 1 also names the domain `amazon`, a second visitor authority.
    let amazon = AuthoritySecretKey::<S>::setup("amazon", &mut r).unwrap();
    let encryptor =
        Encryptor::with_window([home.public_key(), visitor.public_key(), amazon.public_key()], 6).unwrap();
    World { home, visitor, encryptor }
}

impl<S: Suite> World<S> {
    fn tat(&self, gid: &Gid, day: u64, r: &mut ChaCha20Rng) -> UserKey<S> {
        let mut attrs = segtree::path_attributes("access_time", HOME, day).unwrap();
        attrs.push(attr("domain:salesforce@telekom"));
        attrs.push(attr("country:eu@telekom"));
        assert_eq!(attrs.len(), 19, "a TAT holds 17 time nodes + domain + country");
        self.home.keygen(gid, &attrs, r).unwrap()
    }

    fn pat(&self, gid: &Gid, purposes: &[&str], r: &mut ChaCha20Rng) -> UserKey<S> {
        let attrs: Vec<Attribute> = purposes.iter().map(|p| attr(&format!("{p}@{VISITOR}"))).collect();
        self.visitor.keygen(gid, &attrs, r).unwrap()
    }

    fn table1(&self, r: &mut ChaCha20Rng) -> Vec<(&'static str, &'static str, Ciphertext<S>)> {
        table1()
            .into_iter()
            .map(|(name, value, d)| {
                let policy = d.compile(HOME, DAY).unwrap();
                (name, value, self.encryptor.encrypt(&policy, value.as_bytes(), r).unwrap())
            })
            .collect()
    }
}

fn opens<S: Suite>(ct: &Ciphertext<S>, keys: &[&UserKey<S>], expected: &str) -> bool {
    match ct.decrypt(keys) {
        Ok(plain) => {
            assert_eq!(plain.as_slice(), expected.as_bytes());
            true
        }
        Err(Error::Scheme(SchemeError::NotSatisfied { .. })) => {
            assert!(!ct.is_satisfied_by(keys));
            false
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn table1_lifecycle<S: Suite>() {
    let w = world::<S>(1);
    let r = &mut rng(2);
    let cts = w.table1(r);
    let gid = Gid::new("bob", "s-1").unwrap();
    let tat = w.tat(&gid, DAY, r);
    let check = |keys: &[&UserKey<S>], expected: [bool; 3]| {
        let got: Vec<bool> = cts.iter().map(|(_, v, ct)| opens(ct, keys, v)).collect();
        assert_eq!(got, expected, "lastname, dob, addresses");
    };
    // (2) shopping: current + purchase → lastname and dob, not addresses.
    let shopping = w.pat(&gid, &["purpose:current", "ppurpose:purchase"], r);
    check(&[&tat, &shopping], [true, true, false]);
    // (3) delivery: current, contact, delivery → lastname and addresses, not dob.
    let delivery = w.pat(&gid, &["purpose:current", "purpose:contact", "ppurpose:delivery"], r);
    check(&[&tat, &delivery], [true, false, true]);
    // (4) an expired SAML session: the PAT lacks `current`; dob stays closed.
    let expired = w.pat(&gid, &["ppurpose:purchase"], r);
    check(&[&tat, &expired], [false, false, false]);
    // (5) a TAT issued 15 days later: addresses (14 days) no longer opens, lastname does.
    let later = w.tat(&gid, DAY + 15, r);
    check(&[&later, &delivery], [true, false, false]);
    // The day before the window and the last day of the 14-day window.
    check(&[&w.tat(&gid, DAY - 1, r), &delivery], [false, false, false]);
    check(&[&w.tat(&gid, DAY + 13, r), &delivery], [true, false, true]);
    check(&[&w.tat(&gid, DAY + 14, r), &delivery], [true, false, false]);
    // A TAT alone or a PAT alone opens nothing.
    check(&[&tat], [false, false, false]);
    check(&[&shopping], [false, false, false]);
}

/// A key decoded with only the components the policies use opens exactly what the full key
/// opens, decodes far fewer points, and still refuses malformed bytes.
fn filtered_decoding_opens_the_same<S: Suite>() {
    let w = world::<S>(3);
    let r = &mut rng(4);
    let cts = w.table1(r);
    let gid = Gid::new("bob", "s-f").unwrap();
    let tat = w.tat(&gid, DAY, r).to_bytes();
    let delivery = w.pat(&gid, &["purpose:current", "purpose:contact", "ppurpose:delivery"], r);
    let needed: std::collections::BTreeSet<Attribute> =
        cts.iter().flat_map(|(_, _, ct)| ct.policy().attributes()).collect();
    let filtered = UserKey::<S>::from_bytes_for(&tat, &|a| needed.contains(a)).unwrap();
    assert!(filtered.attributes().count() < 19, "most time nodes are skipped");
    let full = UserKey::<S>::from_bytes(&tat).unwrap();
    for (_, value, ct) in &cts {
        assert_eq!(opens(ct, &[&filtered, &delivery], value), opens(ct, &[&full, &delivery], value));
    }
    for cut in [0, 10, tat.len() / 2, tat.len() - 1] {
        assert!(UserKey::<S>::from_bytes_for(&tat[..cut], &|_| false).is_err(), "cut at {cut}");
    }
    let mut trailing = tat.to_vec();
    trailing.push(0);
    assert!(UserKey::<S>::from_bytes_for(&trailing, &|_| false).is_err());
}

/// Keys of two users, or of one user in two sessions, never combine — even when the
/// attacker relabels one bundle's GID so that the library's identity check passes.
fn collusion_fails<S: Suite>() {
    let w = world::<S>(3);
    let r = &mut rng(4);
    let cts = w.table1(r);
    let (_, lastname, ct) = &cts[0];
    let bob = Gid::new("bob", "s-1").unwrap();
    let alice = Gid::new("alice", "s-9").unwrap();
    let bob_later = Gid::new("bob", "s-2").unwrap();
    let tat = w.tat(&bob, DAY, r);
    let shopping = ["purpose:current", "ppurpose:purchase"];
    assert!(opens(ct, &[&tat, &w.pat(&bob, &shopping, r)], lastname));

    for other in [&alice, &bob_later] {
        let foreign_pat = w.pat(other, &shopping, r);
        // The library refuses to combine bundles of different identities…
        assert_eq!(
            ct.decrypt(&[&tat, &foreign_pat]).unwrap_err(),
            Error::Scheme(SchemeError::MixedIdentities)
        );
        let mut merged = tat.clone();
        assert!(merged.merge(&foreign_pat).is_err());
        // …and the mathematics refuses too: relabel the foreign bundle with bob's GID.
        let forged = relabel(&foreign_pat, &bob);
        let err = ct.decrypt(&[&tat, &forged]).unwrap_err();
        assert!(matches!(err, Error::Envelope(_)), "collusion must not decrypt: {err}");
    }
}

/// Re-encodes a key bundle under another GID, as a colluding attacker would.
fn relabel<S: Suite>(key: &UserKey<S>, gid: &Gid) -> UserKey<S> {
    let bytes = key.to_bytes();
    let old = key.gid();
    let skip = 7 + 2 + old.uid().len() + 2 + old.session().len();
    let mut out = bytes[..7].to_vec();
    for part in [gid.uid(), gid.session()] {
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(&bytes[skip..]);
    UserKey::from_bytes(&out).unwrap()
}

/// Every single-byte change of a ciphertext, anywhere, fails cleanly (`stride` > 1 samples).
fn tampering_fails<S: Suite>(stride: usize) {
    let w = world::<S>(5);
    let r = &mut rng(6);
    let policy = Policy::parse("domain:salesforce@telekom and purpose:current@salesforce").unwrap();
    let ct = w.encryptor.encrypt(&policy, b"secret", r).unwrap();
    let gid = Gid::new("bob", "s").unwrap();
    let tat = w.home.keygen(&gid, &[attr("domain:salesforce@telekom")], r).unwrap();
    let pat = w.pat(&gid, &["purpose:current"], r);
    assert_eq!(ct.decrypt(&[&tat, &pat]).unwrap().as_slice(), b"secret");
    let bytes = ct.as_bytes();
    for i in (0..bytes.len()).step_by(stride) {
        let mut bad = bytes.to_vec();
        bad[i] ^= 0x01;
        if let Ok(c) = Ciphertext::<S>::from_bytes(&bad) {
            assert!(c.decrypt(&[&tat, &pat]).is_err(), "flipping byte {i} went unnoticed");
        }
    }
    // Editing the policy text to a policy the keys also satisfy still fails (AAD).
    let text = policy.to_string();
    let edited = text.replace("purpose:current", "purpose:cUrrent").to_ascii_lowercase();
    assert_eq!(edited, text);
    let weaker = "domain:salesforce@telekom or purpose:current@salesforce";
    let mut forged = bytes[..7].to_vec();
    forged.extend_from_slice(&(weaker.len() as u16).to_be_bytes());
    forged.extend_from_slice(weaker.as_bytes());
    forged.extend_from_slice(&bytes[7 + 2 + text.len()..]);
    let c = Ciphertext::<S>::from_bytes(&forged).unwrap();
    assert!(matches!(c.decrypt(&[&tat, &pat]), Err(Error::Envelope(_))));
    assert!(matches!(c.decrypt(&[&tat]), Err(Error::Envelope(_))));
}

/// Every prefix of every valid encoding is rejected with an error.
fn truncation_fails<S: Suite>() {
    let w = world::<S>(7);
    let r = &mut rng(8);
    let ct = w.encryptor.encrypt(&Policy::parse("domain:x@telekom").unwrap(), b"v", r).unwrap();
    let gid = Gid::new("bob", "s").unwrap();
    let key = w.home.keygen(&gid, &[attr("domain:x@telekom")], r).unwrap();
    let pk = w.home.public_key().to_bytes();
    let msk = w.home.to_bytes();
    let kb = key.to_bytes();
    for n in 0..pk.len() {
        assert!(AuthorityPublicKey::<S>::from_bytes(&pk[..n]).is_err());
    }
    for n in 0..msk.len() {
        assert!(AuthoritySecretKey::<S>::from_bytes(&msk[..n]).is_err());
    }
    for n in 0..kb.len() {
        assert!(UserKey::<S>::from_bytes(&kb[..n]).is_err());
    }
    for n in 0..ct.as_bytes().len() {
        assert!(Ciphertext::<S>::from_bytes(&ct.as_bytes()[..n]).is_err());
    }
    // Trailing bytes are refused too.
    let mut long = pk.clone();
    long.push(0);
    assert_eq!(
        AuthorityPublicKey::<S>::from_bytes(&long).unwrap_err(),
        Error::Decode(DecodeError::TrailingData("authority public key"))
    );
    let mut long = kb.to_vec();
    long.push(0);
    assert!(UserKey::<S>::from_bytes(&long).is_err());
    // Round trips.
    assert_eq!(&AuthorityPublicKey::<S>::from_bytes(&pk).unwrap(), w.home.public_key());
    assert_eq!(AuthoritySecretKey::<S>::from_bytes(&msk).unwrap().public_key(), w.home.public_key());
    assert_eq!(UserKey::<S>::from_bytes(&kb).unwrap().to_bytes(), kb);
    let text = ct.to_text();
    assert_eq!(Ciphertext::<S>::from_text(&text).unwrap().as_bytes(), ct.as_bytes());
    ct.validate().unwrap();
}

/// A key object of one kind is never accepted as another, and suites never mix.
fn kinds_and_suites_do_not_mix<S: Suite, T: Suite>() {
    let w = world::<S>(9);
    let pk = w.home.public_key().to_bytes();
    assert!(matches!(UserKey::<S>::from_bytes(&pk), Err(Error::Decode(DecodeError::UnexpectedKind { .. }))));
    assert!(matches!(
        Ciphertext::<S>::from_bytes(&pk),
        Err(Error::Decode(DecodeError::UnexpectedKind { .. }))
    ));
    assert!(matches!(
        AuthorityPublicKey::<T>::from_bytes(&pk),
        Err(Error::Decode(DecodeError::SuiteMismatch { .. }))
    ));
}

/// A point off the curve or outside the prime-order subgroup in a key bundle is refused.
/// The G2 component is changed: G2 has a large cofactor on every curve, so a changed
/// x coordinate (when it lands on the curve at all) gives a point outside the subgroup.
fn rejects_invalid_points<S: Suite>() {
    let w = world::<S>(10);
    let r = &mut rng(11);
    let gid = Gid::new("bob", "s").unwrap();
    let key = w.home.keygen(&gid, &[attr("domain:x@telekom")], r).unwrap();
    let kb = key.to_bytes();
    // The K component starts after header, uid, session, count and the attribute text.
    let start = 7 + 2 + 3 + 2 + 1 + 2 + 2 + "domain:x@telekom".len();
    let g1_len = <S::G1 as Group>::encoded_len(Compress::Yes);
    assert_eq!(kb.len(), start + g1_len + <S::G2 as Group>::encoded_len(Compress::Yes));
    let mut rejected = 0;
    for i in 0..16 {
        let mut bad = kb.to_vec();
        bad[start + g1_len + 5 + i] ^= 0x5a;
        if matches!(UserKey::<S>::from_bytes(&bad), Err(Error::Decode(DecodeError::InvalidGroupElement(_)))) {
            rejected += 1;
        }
    }
    assert_eq!(rejected, 16, "a changed x coordinate must never give a valid subgroup point");
}

fn unknown_authority_is_refused<S: Suite>() {
    let w = world::<S>(12);
    let err = w.encryptor.encrypt(&Policy::parse("a:b@ebay").unwrap(), b"x", &mut rng(1)).unwrap_err();
    assert_eq!(err, Error::Scheme(SchemeError::UnknownAuthority("ebay".into())));
    let gid = Gid::new("bob", "s").unwrap();
    let err = w.home.keygen(&gid, &[attr("purpose:current@salesforce")], &mut rng(1)).unwrap_err();
    assert!(matches!(err, Error::Scheme(SchemeError::ForeignAttribute { .. })));
}

fn thresholds_decrypt<S: Suite>() {
    let w = world::<S>(13);
    let r = &mut rng(14);
    let policy = Policy::parse(
        "2 of (domain:a@telekom, domain:b@telekom, purpose:c@salesforce) and country:eu@telekom",
    )
    .unwrap();
    let ct = w.encryptor.encrypt(&policy, b"t", r).unwrap();
    let gid = Gid::new("u", "s").unwrap();
    let home = w.home.keygen(&gid, &[attr("domain:a@telekom"), attr("country:eu@telekom")], r).unwrap();
    let visitor = w.pat(&gid, &["purpose:c"], r);
    assert!(opens(&ct, &[&home, &visitor], "t"));
    assert!(!opens(&ct, &[&home], "t"));
    let both = w
        .home
        .keygen(&gid, &[attr("domain:a@telekom"), attr("domain:b@telekom"), attr("country:eu@telekom")], r)
        .unwrap();
    assert!(opens(&ct, &[&both], "t"));
}

/// The full set for one suite. `$stride` samples the byte-flip test (1 = every byte); for
/// the large suites `$ignored` marks that exhaustive run `#[ignore]` (about 2 minutes at
/// 256-bit; run it with `cargo test -- --ignored`) and `make test` runs it sampled every
/// `$quick_stride` bytes instead. Everything else runs for every suite in `make test`.
macro_rules! suite_tests {
    ($module:ident, $suite:ty, $other:ty, stride $stride:expr, quick_stride $quick:expr, $(#[$ignored:meta])?) => {
        mod $module {
            #[test]
            fn table1_lifecycle() {
                super::table1_lifecycle::<$suite>();
            }
            #[test]
            fn collusion_fails() {
                super::collusion_fails::<$suite>();
            }
            #[test]
            $(#[$ignored])?
            fn tampering_fails() {
                super::tampering_fails::<$suite>($stride);
            }
            #[test]
            fn tampering_fails_sampled() {
                super::tampering_fails::<$suite>($quick);
            }
            #[test]
            fn truncation_fails() {
                super::truncation_fails::<$suite>();
            }
            #[test]
            fn kinds_and_suites_do_not_mix() {
                super::kinds_and_suites_do_not_mix::<$suite, $other>();
            }
            #[test]
            fn rejects_invalid_points() {
                super::rejects_invalid_points::<$suite>();
            }
            #[test]
            fn unknown_authority_is_refused() {
                super::unknown_authority_is_refused::<$suite>();
            }
            #[test]
            fn thresholds_decrypt() {
                super::thresholds_decrypt::<$suite>();
            }
            #[test]
            fn filtered_decoding_opens_the_same() {
                super::filtered_decoding_opens_the_same::<$suite>();
            }
        }
    };
}

suite_tests!(bls12_381, pbe_core::Bls12_381Suite, pbe_core::Bn254Suite, stride 1, quick_stride 97,);
// `Bls12_381Suite` is the blst backend by default; the arkworks backend keeps the whole set
// too (with a sparser tampering stride: it is the slower of the two).
suite_tests!(bls12_381_arkworks, pbe_core::Bls12_381Arkworks, pbe_core::Bn254Suite, stride 3, quick_stride 97,);
suite_tests!(bn254, pbe_core::Bn254Suite, pbe_core::Bls12_381Suite, stride 5, quick_stride 97,);
suite_tests!(
    bls24_479,
    pbe_core::Bls24_479Suite,
    pbe_core::Bls12_381Suite,
    stride 7,
    quick_stride 211,
    #[ignore = "slow at 192-bit: the full set runs under `cargo test -- --ignored`"]
);
suite_tests!(
    bls48_581,
    pbe_core::Bls48_581Suite,
    pbe_core::Bls24_479Suite,
    stride 13,
    quick_stride 701,
    #[ignore = "slow at 256-bit: the full set runs under `cargo test -- --ignored`"]
);

mod hostile_bytes {
    //! Random bytes, alone or behind a valid header, never panic a decoder.
    use super::*;
    use pbe_core::{Bls12_381Suite as B, Bls24_479Suite as L24, Bls48_581Suite as L48, Bn254Suite as N};
    use proptest::prelude::*;

    fn all_decoders(bytes: &[u8]) {
        let _ = pbe_core::wire::peek(bytes);
        let _ = pbe_core::wire::from_binary_or_text(bytes);
        let _ = AuthorityPublicKey::<B>::from_bytes(bytes);
        let _ = AuthoritySecretKey::<B>::from_bytes(bytes);
        let _ = UserKey::<B>::from_bytes(bytes);
        let _ = Ciphertext::<B>::from_bytes(bytes);
        let _ = AuthorityPublicKey::<N>::from_bytes(bytes);
        let _ = UserKey::<N>::from_bytes(bytes);
        let _ = Ciphertext::<N>::from_bytes(bytes);
        let _ = AuthorityPublicKey::<L24>::from_bytes(bytes);
        let _ = UserKey::<L24>::from_bytes(bytes);
        let _ = Ciphertext::<L24>::from_bytes(bytes);
        let _ = AuthorityPublicKey::<L48>::from_bytes(bytes);
        let _ = AuthoritySecretKey::<L48>::from_bytes(bytes);
        let _ = UserKey::<L48>::from_bytes(bytes);
        let _ = Ciphertext::<L48>::from_bytes(bytes);
        if let Ok(text) = std::str::from_utf8(bytes) {
            let _ = Ciphertext::<B>::from_text(text);
            let _ = Policy::parse(text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            all_decoders(&bytes);
        }

        #[test]
        fn random_bodies_behind_valid_headers_never_panic(
            kind in 1u8..=4,
            suite in 1u8..=4,
            body in proptest::collection::vec(any::<u8>(), 0..4096),
        ) {
            let mut bytes = b"IDPB\x01".to_vec();
            bytes.push(kind);
            bytes.push(suite);
            bytes.extend_from_slice(&body);
            all_decoders(&bytes);
            prop_assert!(Ciphertext::<B>::from_bytes(&bytes).is_err() || kind == 4);
        }

        #[test]
        fn random_policy_text_in_a_ciphertext_is_rejected_cleanly(text in "[ -~]{0,200}") {
            let mut bytes = b"IDPB\x01\x04\x01".to_vec();
            bytes.extend_from_slice(&(text.len() as u16).to_be_bytes());
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(&[0, 1]);
            prop_assert!(Ciphertext::<B>::from_bytes(&bytes).is_err());
        }
    }
}
