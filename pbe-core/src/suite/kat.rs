//! Known-answer tests pinning every suite's `H` (GID → G1) and `F` (attribute → G1).
//!
//! Every key component and ciphertext row depends on these hashes: if a dependency upgrade
//! (arkworks, MIRACL, sha2) changed them, every stored key and ciphertext of that suite would
//! stop decrypting. These fixed input → fixed output pairs make such a change fail the build's
//! tests instead (issue 23, item 3). BN254's values are those of the RFC-exact
//! `expand_message_xmd` (`suite::h2c`); they differ from the pre-fix ones (arkworks' padding).

use ark_serialize::Compress;

use super::{Bls12_381Suite, Bls24_479Suite, Bls48_581Suite, Bn254Suite, Group, Suite};
use crate::scheme::Gid;

fn hex<G: Group>(g: &G) -> String {
    let mut out = Vec::new();
    g.encode(Compress::Yes, &mut out);
    out.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(H(GID("alice", "s-1")), F("purpose:ads@salesforce"), F(""))` as compressed hex.
fn answers<S: Suite>() -> [String; 3] {
    let gid = Gid::new("alice", "s-1").map(|g| g.encode()).unwrap_or_default();
    [hex(&S::hash_gid(&gid)), hex(&S::hash_attribute("purpose:ads@salesforce")), hex(&S::hash_attribute(""))]
}

fn check<S: Suite>(expected: [&str; 3]) {
    let got = answers::<S>();
    let names = ["H(GID)", "F(attribute)", "F(empty)"];
    let changed: Vec<String> = names
        .iter()
        .zip(&got)
        .zip(expected)
        .filter(|((_, got), want)| got != want)
        .map(|((name, got), want)| format!("{name}: expected {want}, got {got}"))
        .collect();
    assert!(
        changed.is_empty(),
        "{}: hash to G1 changed; every stored key and ciphertext would be orphaned:\n{}",
        S::ID,
        changed.join("\n")
    );
}

#[test]
fn bn254_hashes_are_pinned() {
    check::<Bn254Suite>([
        "81bc1840410189eb11b18870bb0e9ac6e76eaaf8f4a627227ff9087cabd85303",
        "7fa562b160070935e9ba9fa16c219affd60eb2a3f8e4866788348cc3e0aecd27",
        "2b0d71c14b47bb20eee63311fa87cfc11d1e9bc0b45a89b1ba0319fab64139a4",
    ]);
}

#[test]
fn bls12_381_hashes_are_pinned() {
    check::<Bls12_381Suite>([
        "8665adec477bc8db9926792618d27410001962f1e1fe6f1eb22afb57202bb509bdc70a1135d9b8d1505a5dd4bb4e4a3a",
        "a0315f085f3f2d3810deec93f5ed70fb252bf7df9b041c108e7858871398378ee19dff5b38a713ff5fab4e0ec582e1ab",
        "a8414103b7bf4e9feb010d505702d3cd3f6e6a7046505709f16121227aad0798fdfd0408621204ebb7dace9c85392568",
    ]);
}

#[test]
fn bls24_479_hashes_are_pinned() {
    check::<Bls24_479Suite>([
        "022eda85145aee914c246e8556fa1794e9bf4e15afc6ea3c9028c4722ed9e03120384c584c3871b08411b7887de094c685f2cefb442c12dfa370398a25",
        "0205d4ccd81049e1018e60793615e2f2b0ac2415a60126378c35f20dddf339f277c22d40f59b0dbcc47669243f42eb3fe8584b984b3d3007a297b13c20",
        "023ec23485a7a8e0b6c84c10516129b4422f2686f04c3aa7f29edfa77cf90b603c53eb63acb3be4c5d9e47915567ff21ded38a983e08ace3f14bd69837",
    ]);
}

#[test]
fn bls48_581_hashes_are_pinned() {
    check::<Bls48_581Suite>([
        "030dfaf856154802a6bc5607c08b9224cf8c65f7e55990176293bdf8e70d60e5d5fb32b9295499239bf5e84530494340dd2a0920cbdcc0f3862af81c5333e07f11253fe0910a0a64f1e4",
        "020e720cf11320ed431c61a13f981f8989908a7bac536865b95fc837b0979df1e959c20e5903285cec24fb1582f8d6f4abea87cf4416a878d44ab8bb149be6974e8c3a1f60a7dd70d4b1",
        "020042012232be447630b1e9375716efdef88a3deb2dcc1fb98c06ceb29b77087ebfdfb15a0a75e2cbd00e76b90ecd347996b901df43eed450c994b20e6dd00e12f6de745e96729f00a5",
    ]);
}
