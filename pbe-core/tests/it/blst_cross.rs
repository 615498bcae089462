//! Issue 22, item 1: the blst and arkworks BLS12-381 backends are one suite on the wire.
//! Keys issued by either open ciphertexts made by either, decoded by either; the same seed
//! gives the same bytes through both; hashes agree; and every malformed, off-curve or
//! out-of-subgroup encoding is refused by both or by neither.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a failed unwrap in a test is a failed test

use ark_ec::AffineRepr;
use ark_ff::{Field, UniformRand};
use ark_serialize::{CanonicalSerialize, Compress, Validate};
use pbe_core::disclosure::table1;
use pbe_core::suite::{Group, Gt, G1, G2};
use pbe_core::{
    segtree, Attribute, AuthorityPublicKey, AuthoritySecretKey, Bls12_381Arkworks as A, Bls12_381Blst as B,
    Ciphertext, Encryptor, Gid, Policy, Suite, UserKey,
};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const DAY: u64 = 20_415;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn attr(s: &str) -> Attribute {
    s.parse().unwrap()
}

/// Re-reads an object written by one backend with the other and checks that it writes the
/// same bytes back.
fn convert_key<S: Suite, T: Suite>(key: &UserKey<S>) -> UserKey<T> {
    let bytes = key.to_bytes();
    let out = UserKey::<T>::from_bytes(&bytes).unwrap();
    assert_eq!(*out.to_bytes(), *bytes, "key bundle re-encodes byte for byte");
    out
}

fn convert_ct<S: Suite, T: Suite>(ct: &Ciphertext<S>) -> Ciphertext<T> {
    let out = Ciphertext::<T>::from_bytes(ct.as_bytes()).unwrap();
    out.validate().unwrap();
    out
}

/// Three authorities (home, visitor, amazon) in one backend, their secrets re-read by the
/// other: both derive byte-identical public keys.
struct Authorities<S: Suite> {
    home: AuthoritySecretKey<S>,
    visitor: AuthoritySecretKey<S>,
    encryptor: Encryptor<S>,
}

fn authorities<S: Suite>(secrets: &[Vec<u8>]) -> Authorities<S> {
    let keys: Vec<AuthoritySecretKey<S>> =
        secrets.iter().map(|b| AuthoritySecretKey::<S>::from_bytes(b).unwrap()).collect();
    let encryptor = Encryptor::with_window(keys.iter().map(|k| k.public_key()), 4).unwrap();
    let mut keys = keys.into_iter();
    Authorities { home: keys.next().unwrap(), visitor: keys.next().unwrap(), encryptor }
}

fn tat<S: Suite>(a: &Authorities<S>, gid: &Gid, seed: u64) -> UserKey<S> {
    let mut attrs = segtree::path_attributes("access_time", "telekom", DAY).unwrap();
    attrs.push(attr("domain:salesforce@telekom"));
    attrs.push(attr("country:eu@telekom"));
    a.home.keygen(gid, &attrs, &mut rng(seed)).unwrap()
}

fn pat<S: Suite>(a: &Authorities<S>, gid: &Gid, purposes: &[&str], seed: u64) -> UserKey<S> {
    let attrs: Vec<Attribute> = purposes.iter().map(|p| attr(&format!("{p}@salesforce"))).collect();
    a.visitor.keygen(gid, &attrs, &mut rng(seed)).unwrap()
}

fn opens<S: Suite>(ct: &Ciphertext<S>, keys: &[&UserKey<S>], value: &str) -> bool {
    match ct.decrypt(keys) {
        Ok(p) => {
            assert_eq!(p.as_slice(), value.as_bytes());
            true
        }
        Err(_) => false,
    }
}

/// Decrypts with backend `T` what was encrypted (and keyed) by anyone: `cts` and keys are
/// given as bytes.
fn outcomes<T: Suite>(cts: &[(&str, Vec<u8>)], keys: &[&[u8]]) -> Vec<bool> {
    let keys: Vec<UserKey<T>> = keys.iter().map(|k| UserKey::<T>::from_bytes(k).unwrap()).collect();
    let refs: Vec<&UserKey<T>> = keys.iter().collect();
    cts.iter().map(|(v, ct)| opens(&Ciphertext::<T>::from_bytes(ct).unwrap(), &refs, v)).collect()
}

#[test]
fn table1_crosses_backends_both_ways() {
    let mut r = rng(22);
    let secrets: Vec<Vec<u8>> = ["telekom", "salesforce", "amazon"]
        .iter()
        .map(|n| AuthoritySecretKey::<A>::setup(n, &mut r).unwrap().to_bytes().to_vec())
        .collect();
    let a = authorities::<A>(&secrets);
    let b = authorities::<B>(&secrets);
    for (ka, kb) in [(&a.home, &b.home), (&a.visitor, &b.visitor)] {
        assert_eq!(ka.public_key().to_bytes(), kb.public_key().to_bytes(), "public keys agree");
        let pk = AuthorityPublicKey::<B>::from_bytes(&ka.public_key().to_bytes()).unwrap();
        assert_eq!(pk.to_bytes(), ka.public_key().to_bytes());
    }

    // Same seeds → same ciphertext and key bytes through either backend.
    let mut cts = Vec::new();
    for (i, (_, value, d)) in table1().into_iter().enumerate() {
        let policy = d.compile("telekom", DAY).unwrap();
        let seed = 100 + i as u64;
        let ct_a = a.encryptor.encrypt(&policy, value.as_bytes(), &mut rng(seed)).unwrap();
        let ct_b = b.encryptor.encrypt(&policy, value.as_bytes(), &mut rng(seed)).unwrap();
        assert_eq!(ct_a.as_bytes(), ct_b.as_bytes(), "{value}: same ciphertext");
        let _: Ciphertext<B> = convert_ct(&ct_a);
        let _: Ciphertext<A> = convert_ct(&ct_b);
        cts.push((value, ct_a.into_bytes()));
    }
    let gid = Gid::new("bob", "s-1").unwrap();
    let shopping = ["purpose:current", "ppurpose:purchase"];
    let delivery = ["purpose:current", "purpose:contact", "ppurpose:delivery"];
    let (tat_a, tat_b) = (tat(&a, &gid, 7), tat(&b, &gid, 7));
    assert_eq!(*tat_a.to_bytes(), *tat_b.to_bytes(), "same TAT");
    let (shop_a, shop_b) = (pat(&a, &gid, &shopping, 8), pat(&b, &gid, &shopping, 8));
    assert_eq!(*shop_a.to_bytes(), *shop_b.to_bytes(), "same PAT");
    let _: UserKey<A> = convert_key(&tat_b);
    let _: UserKey<B> = convert_key(&tat_a);

    // Keys from fresh seeds per backend (different bytes), used by the other backend.
    let tat_a = tat_a.to_bytes();
    let tat_b = tat(&b, &gid, 9).to_bytes();
    let del_a = pat(&a, &gid, &delivery, 10).to_bytes();
    let del_b = pat(&b, &gid, &delivery, 11).to_bytes();
    let shop_a = shop_a.to_bytes();
    let shop_b = pat(&b, &gid, &shopping, 12).to_bytes();
    for (t, s, d) in [(&tat_a, &shop_b, &del_b), (&tat_b, &shop_a, &del_a), (&tat_a, &shop_a, &del_b)] {
        for run in [outcomes::<A>, outcomes::<B>] {
            assert_eq!(run(&cts, &[t, s]), [true, true, false], "shopping: lastname and dob");
            assert_eq!(run(&cts, &[t, d]), [true, false, true], "delivery: lastname and addresses");
            assert_eq!(run(&cts, &[t]), [false, false, false], "a TAT alone");
        }
    }
}

#[test]
fn hashes_agree() {
    for msg in ["", "purpose:ads@salesforce", "a:b@c", &"x".repeat(300)] {
        let mut ha = Vec::new();
        let mut hb = Vec::new();
        A::hash_attribute(msg).encode(Compress::No, &mut ha);
        B::hash_attribute(msg).encode(Compress::No, &mut hb);
        assert_eq!(ha, hb, "F({msg:?})");
        ha.clear();
        hb.clear();
        A::hash_gid(msg.as_bytes()).encode(Compress::Yes, &mut ha);
        B::hash_gid(msg.as_bytes()).encode(Compress::Yes, &mut hb);
        assert_eq!(ha, hb, "H({msg:?})");
    }
}

/// A random AND/OR policy over `n` attributes of two authorities, as text.
fn policy_text() -> impl Strategy<Value = String> {
    let leaf = (0..6usize, 0..2usize).prop_map(|(i, a)| format!("a{i}:v@{}", ["telekom", "salesforce"][a]));
    leaf.prop_recursive(3, 12, 3, |inner| {
        (proptest::collection::vec(inner, 2..4), any::<bool>())
            .prop_map(|(parts, and)| format!("({})", parts.join(if and { " and " } else { " or " })))
    })
}

fn random_policy_case(text: &str, held: &[bool], seed: u64) {
    let policy = Policy::parse(text).unwrap();
    let mut r = rng(seed);
    let secrets: Vec<Vec<u8>> = ["telekom", "salesforce"]
        .iter()
        .map(|n| AuthoritySecretKey::<B>::setup(n, &mut r).unwrap().to_bytes().to_vec())
        .collect();
    let a = authorities::<A>(&secrets);
    let b = authorities::<B>(&secrets);
    let ct_a = a.encryptor.encrypt(&policy, b"v", &mut rng(seed + 1)).unwrap();
    let ct_b = b.encryptor.encrypt(&policy, b"v", &mut rng(seed + 1)).unwrap();
    assert_eq!(ct_a.as_bytes(), ct_b.as_bytes());
    let gid = Gid::new("u", "s").unwrap();
    let pick = |auth: usize| -> Vec<Attribute> {
        (0..6)
            .filter(|i| held[i + 6 * auth])
            .map(|i| attr(&format!("a{i}:v@{}", ["telekom", "salesforce"][auth])))
            .collect()
    };
    let (home_attrs, visitor_attrs) = (pick(0), pick(1));
    let mut keys_a: Vec<Vec<u8>> = Vec::new();
    let mut keys_b: Vec<Vec<u8>> = Vec::new();
    if !home_attrs.is_empty() {
        keys_a.push(a.home.keygen(&gid, &home_attrs, &mut rng(seed + 2)).unwrap().to_bytes().to_vec());
        keys_b.push(b.home.keygen(&gid, &home_attrs, &mut rng(seed + 3)).unwrap().to_bytes().to_vec());
    }
    if !visitor_attrs.is_empty() {
        keys_a.push(a.visitor.keygen(&gid, &visitor_attrs, &mut rng(seed + 4)).unwrap().to_bytes().to_vec());
        keys_b.push(b.visitor.keygen(&gid, &visitor_attrs, &mut rng(seed + 5)).unwrap().to_bytes().to_vec());
    }
    if keys_a.is_empty() {
        return;
    }
    let cts = [("v", ct_a.into_bytes())];
    let ka: Vec<&[u8]> = keys_a.iter().map(|k| &k[..]).collect();
    let kb: Vec<&[u8]> = keys_b.iter().map(|k| &k[..]).collect();
    let reference = outcomes::<A>(&cts, &ka);
    for got in [outcomes::<B>(&cts, &ka), outcomes::<A>(&cts, &kb), outcomes::<B>(&cts, &kb)] {
        assert_eq!(got, reference, "{text}");
    }
    // The satisfiability the keys claim is what both backends found.
    let keys: Vec<UserKey<B>> = keys_a.iter().map(|k| UserKey::<B>::from_bytes(k).unwrap()).collect();
    let refs: Vec<&UserKey<B>> = keys.iter().collect();
    assert_eq!(Ciphertext::<B>::from_bytes(&cts[0].1).unwrap().is_satisfied_by(&refs), reference[0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn random_policies_cross_backends(
        text in policy_text(),
        held in proptest::collection::vec(any::<bool>(), 12),
        seed in any::<u32>(),
    ) {
        random_policy_case(&text, &held, u64::from(seed));
    }
}

/// `Some(re-encoding)` or `None`, for comparing what two decoders made of the same bytes.
fn decoded<G: Group>(bytes: &[u8], form: Compress, check: Validate) -> Option<Vec<u8>> {
    G::decode(bytes, form, check).map(|g| {
        let mut out = Vec::new();
        g.encode(form, &mut out);
        out
    })
}

fn same_verdict(what: &str, bytes: &[u8]) {
    for check in [Validate::Yes, Validate::No] {
        for form in [Compress::Yes, Compress::No] {
            let (c, f) = (check == Validate::Yes, form == Compress::Yes);
            if bytes.len() == G1::<A>::encoded_len(form) {
                let (a, b) = (decoded::<G1<A>>(bytes, form, check), decoded::<G1<B>>(bytes, form, check));
                assert_eq!(a, b, "G1 {what} (check {c}, compressed {f})");
            }
            if bytes.len() == G2::<A>::encoded_len(form) {
                let (a, b) = (decoded::<G2<A>>(bytes, form, check), decoded::<G2<B>>(bytes, form, check));
                assert_eq!(a, b, "G2 {what} (check {c}, compressed {f})");
            }
            if bytes.len() == Gt::<A>::encoded_len(form) {
                let (a, b) = (decoded::<Gt<A>>(bytes, form, check), decoded::<Gt<B>>(bytes, form, check));
                assert_eq!(a, b, "GT {what} (check {c}, compressed {f})");
            }
        }
    }
}

fn ark_bytes<T: CanonicalSerialize>(t: &T, form: Compress) -> Vec<u8> {
    let mut out = Vec::new();
    t.serialize_with_mode(&mut out, form).unwrap();
    out
}

/// Points on the curve but outside the prime-order subgroup (first x from 1 with a point),
/// and a unitary GT element outside GT: refused by both with `Validate::Yes`, and read alike
/// by both without it.
#[test]
fn out_of_subgroup_elements_are_refused_by_both() {
    use ark_bls12_381::{Fq, Fq12, Fq2, G1Affine, G2Affine};
    let g1 = (1u64..)
        .find_map(|x| G1Affine::get_point_from_x_unchecked(Fq::from(x), true))
        .filter(|p| !p.is_in_correct_subgroup_assuming_on_curve())
        .unwrap();
    let g2 = (1u64..)
        .find_map(|x| G2Affine::get_point_from_x_unchecked(Fq2::new(Fq::from(x), Fq::ONE), false))
        .filter(|p| !p.is_in_correct_subgroup_assuming_on_curve())
        .unwrap();
    let f = Fq12::rand(&mut rng(5));
    let mut unitary = f;
    unitary.conjugate_in_place();
    let unitary = unitary * f.inverse().unwrap();
    let samples = [
        ("G1 outside the subgroup", g1.into_group().into_affine_bytes()),
        ("G2 outside the subgroup", g2.into_group().into_affine_bytes()),
    ];
    for (what, forms) in &samples {
        for (form, bytes) in forms {
            same_verdict(what, bytes);
            assert!(decoded::<G1<B>>(bytes, *form, Validate::Yes).is_none());
            assert!(decoded::<G2<B>>(bytes, *form, Validate::Yes).is_none());
        }
    }
    let gt = ark_bytes(&unitary, Compress::Yes);
    same_verdict("unitary, outside GT", &gt);
    assert!(decoded::<Gt<B>>(&gt, Compress::Yes, Validate::Yes).is_none());
    assert!(decoded::<Gt<B>>(&gt, Compress::Yes, Validate::No).is_some());
}

/// Both encodings of a projective arkworks point.
trait BothForms {
    fn into_affine_bytes(self) -> Vec<(Compress, Vec<u8>)>;
}

impl<P: ark_ec::short_weierstrass::SWCurveConfig> BothForms for ark_ec::short_weierstrass::Projective<P> {
    fn into_affine_bytes(self) -> Vec<(Compress, Vec<u8>)> {
        use ark_ec::CurveGroup;
        let p = self.into_affine();
        vec![(Compress::Yes, ark_bytes(&p, Compress::Yes)), (Compress::No, ark_bytes(&p, Compress::No))]
    }
}

/// Valid encodings of each group with one byte changed (flags, high bits, coordinates), and
/// fixed hostile patterns: both backends accept exactly the same ones, as the same element.
#[test]
fn malformed_encodings_get_the_same_verdict() {
    let mut r = rng(6);
    let k = ark_bls12_381::Fr::rand(&mut r);
    let mut valid: Vec<Vec<u8>> = Vec::new();
    for form in [Compress::Yes, Compress::No] {
        let mut out = Vec::new();
        A::g1_generator().mul(&k).encode(form, &mut out);
        valid.push(out);
        let mut out = Vec::new();
        A::g2_generator().mul(&k).encode(form, &mut out);
        valid.push(out);
    }
    let mut out = Vec::new();
    A::tables().gt.mul(&k).encode(Compress::Yes, &mut out);
    valid.push(out);
    for v in &valid {
        same_verdict("valid", v);
        let len = v.len();
        for at in [0, 1, 24, 47, 48, 95, len / 2, len - 1] {
            for mask in [0x01u8, 0x20, 0x40, 0x80, 0xe0, 0xff] {
                if at < len {
                    let mut bad = v.clone();
                    bad[at] ^= mask;
                    same_verdict(&format!("byte {at} ^ {mask:#x}"), &bad);
                }
            }
        }
        let mut ones = vec![0xffu8; len];
        ones[0] = v[0];
        same_verdict("all ones", &ones);
        same_verdict("zeros", &vec![0u8; len]);
        let mut inf = vec![0u8; len];
        inf[0] = 0xc0;
        same_verdict("infinity, compressed flag", &inf);
        inf[0] = 0x40;
        same_verdict("infinity", &inf);
        inf[0] = 0xe0;
        same_verdict("infinity with sign", &inf);
        // x = p (non-canonical), then p + 1 written in the low coordinate.
        let p = hex_p();
        let mut big = v.clone();
        big[..48].copy_from_slice(&p);
        big[0] |= v[0] & 0xe0;
        same_verdict("x = p", &big);
    }
    same_verdict("empty", &[]);
    for len in [47, 49, 97, 191, 193, 575, 577] {
        same_verdict("wrong length", &vec![0x80u8; len]);
    }
}

/// The base-field modulus, big-endian.
fn hex_p() -> Vec<u8> {
    let h =
        "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab";
    (0..48).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A random bit flip in a valid encoding gets the same verdict from both backends.
    #[test]
    fn bit_flips_get_the_same_verdict(which in 0usize..5, bit in 0usize..(576 * 8), k in any::<u64>()) {
        let k = ark_bls12_381::Fr::from(k.max(1));
        let mut bytes = Vec::new();
        match which {
            0 => A::g1_generator().mul(&k).encode(Compress::Yes, &mut bytes),
            1 => A::g1_generator().mul(&k).encode(Compress::No, &mut bytes),
            2 => A::g2_generator().mul(&k).encode(Compress::Yes, &mut bytes),
            3 => A::g2_generator().mul(&k).encode(Compress::No, &mut bytes),
            _ => A::tables().gt.mul(&k).encode(Compress::Yes, &mut bytes),
        }
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        same_verdict("bit flip", &bytes);
    }
}
