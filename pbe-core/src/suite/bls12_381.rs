//! BLS12-381 (≈128-bit) on arkworks: the reference backend (the blst backend,
//! `suite::bls12_381_blst`, is wire-compatible with it and is the default; see
//! `suite::Bls12_381Suite`).

use ark_ec::hashing::curve_maps::wb::WBMap;

use super::ark::ark_suite;

ark_suite! {
    /// The BLS12-381 suite on arkworks, AES-128-GCM. Wire-compatible with
    /// [`super::Bls12_381Blst`] (same [`SuiteId::Bls12_381`]).
    suite: Bls12_381Arkworks,
    id: Bls12_381,
    curve: ark_bls12_381,
    engine: Bls12_381,
    /// RFC 9380 `BLS12381G1_XMD:SHA-256_SSWU_RO_` under our DST, through `suite::h2c` (whose
    /// `expand_message_xmd` does not depend on arkworks' field hasher) and arkworks' WB map.
    map: WBMap (dst tag "SSWU", failure "BLS12-381 hash-to-curve failed: the SSWU map is total"),
    aead_key_len: 16,
}
