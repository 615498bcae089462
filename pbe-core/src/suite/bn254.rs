//! BN254 (≈100-bit, legacy): kept for comparison with Charm and rabe, which use it.

use super::ark::ark_suite;
use super::svdw::SvdwMap;

ark_suite! {
    /// The BN254 suite (arkworks), AES-128-GCM.
    suite: Bn254Suite,
    id: Bn254,
    curve: ark_bn254,
    engine: Bn254,
    /// RFC 9380 `BN254G1_XMD:SHA-256_SVDW_RO_` under our DST: the RFC-exact
    /// `expand_message_xmd` of `suite::h2c` (arkworks' pads with 48 bytes instead of 64, so
    /// hashes made before this change differ) and the SvdW map of `suite::svdw`.
    map: SvdwMap (
        dst tag "SVDW",
        failure "BN254 SvdW map parameters are invalid: checked by the svdw module's tests"
    ),
    aead_key_len: 16,
}
