#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ark_ff::UniformRand;
use ark_serialize::{Compress, Validate};

use super::*;
use crate::suite::{Bls12_381Arkworks, Gt};

fn enc<G: Group>(g: &G, form: Compress) -> Vec<u8> {
    let mut out = Vec::new();
    g.encode(form, &mut out);
    out
}

#[test]
fn generators_and_gt_encode_as_arkworks() {
    type A = Bls12_381Arkworks;
    type B = Bls12_381Blst;
    for form in [Compress::Yes, Compress::No] {
        assert_eq!(enc(&A::g1_generator(), form), enc(&B::g1_generator(), form));
        assert_eq!(enc(&A::g2_generator(), form), enc(&B::g2_generator(), form));
    }
    assert_eq!(enc(&A::tables().gt, Compress::Yes), enc(&B::tables().gt, Compress::Yes));
    assert_eq!(enc(&Gt::<A>::identity(), Compress::Yes), enc(&Gt::<B>::identity(), Compress::Yes));
}

#[test]
fn group_laws_agree_with_arkworks() {
    type A = Bls12_381Arkworks;
    type B = Bls12_381Blst;
    let mut rng = ark_std::test_rng();
    for _ in 0..4 {
        let k = Fr::rand(&mut rng);
        let gt_a = A::tables().gt.mul(&k);
        let gt_b = B::tables().gt.mul(&k);
        assert_eq!(enc(&gt_a, Compress::Yes), enc(&gt_b, Compress::Yes));
        assert_eq!(enc(&gt_a.neg(), Compress::Yes), enc(&gt_b.neg(), Compress::Yes));
        assert_eq!(enc(&gt_a.double(), Compress::Yes), enc(&gt_b.double(), Compress::Yes));
        assert_eq!(enc(&B::tables().gt.mul_secret(&k), Compress::Yes), enc(&gt_b, Compress::Yes));
        let g1_a = A::g1_generator().mul(&k).add(&A::g1_generator().double()).neg();
        let g1_b = B::g1_generator().mul(&k).add(&B::g1_generator().double()).neg();
        assert_eq!(enc(&g1_a, Compress::Yes), enc(&g1_b, Compress::Yes));
        let g2_a = A::g2_generator().mul_secret(&k).sub(&A::g2_generator());
        let g2_b = B::g2_generator().mul_secret(&k).sub(&B::g2_generator());
        assert_eq!(enc(&g2_a, Compress::No), enc(&g2_b, Compress::No));
        let back = BlstG2::decode(&enc(&g2_a, Compress::Yes), Compress::Yes, Validate::Yes).unwrap();
        assert_eq!(back, g2_b);
    }
    // The identity is neutral, and x − x is the identity.
    let g = B::g1_generator();
    assert_eq!(g.add(&BlstG1::identity()), g);
    assert_eq!(g.sub(&g), BlstG1::identity());
    let one = BlstGt::identity();
    assert_eq!(B::tables().gt.add(&one), B::tables().gt);
}

#[test]
fn normalize_batch_and_ct_assign_keep_values() {
    let mut rng = ark_std::test_rng();
    let mut points: Vec<BlstG2> =
        (0..3).map(|_| Bls12_381Blst::g2_generator().mul(&Fr::rand(&mut rng))).collect();
    let before = points.clone();
    BlstG2::normalize_batch(&mut points);
    assert_eq!(points, before);
    let mut x = before[0];
    x.ct_assign(&before[1], Choice::from(0));
    assert_eq!(x, before[0]);
    x.ct_assign(&before[1], Choice::from(1));
    assert_eq!(x, before[1]);
    x.zeroize();
    assert_eq!(x, BlstG2::identity());
}

/// The workspace denies `unsafe_code` (rather than forbidding it) only so that `ffi.rs` can
/// allow it: no other source file in the workspace may.
#[test]
fn only_the_ffi_module_allows_unsafe_code() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                    walk(&path, found);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.contains(concat!("allow(", "unsafe_code)")) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    walk(&root, &mut found);
    assert_eq!(found.len(), 1, "files allowing unsafe code: {found:?}");
    assert!(found[0].ends_with("suite/bls12_381_blst/ffi.rs"), "{found:?}");
}

/// RFC 9380 Appendix J.9.1 (`BLS12381G1_XMD:SHA-256_SSWU_RO_`) through `blst_hash_to_g1`.
#[test]
fn hash_to_g1_matches_rfc9380_j91() {
    let dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
    let cases = [
        (
            "",
            "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
            "08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265",
        ),
        (
            "abc",
            "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
            "0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d",
        ),
    ];
    for (msg, x, y) in cases {
        let p = BlstG1(ffi::hash_to_g1(msg.as_bytes(), dst));
        let hex: String = enc(&p, Compress::No).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!((&hex[..96], &hex[96..]), (x, y), "msg {msg:?}");
    }
}

#[test]
fn pairs_with_the_identity_count_as_one() {
    type B = Bls12_381Blst;
    type A = Bls12_381Arkworks;
    let g1 = [B::g1_generator(), BlstG1::identity(), B::g1_generator().double()];
    let g2 = [B::g2_generator(), B::g2_generator(), BlstG2::identity()].map(|q| B::prepare_g2(&q));
    let e = B::multi_pairing(&g1, &g2).unwrap();
    assert_eq!(e, B::tables().gt);
    let a = A::multi_pairing(
        &[A::g1_generator(), crate::suite::G1::<A>::identity()],
        &[A::prepare_g2(&A::g2_generator()), A::prepare_g2(&A::g2_generator())],
    )
    .unwrap();
    assert_eq!(enc(&a, Compress::Yes), enc(&e, Compress::Yes));
    assert_eq!(B::multi_pairing(&g1[1..2], &g2[1..2]).unwrap(), BlstGt::identity());
}
