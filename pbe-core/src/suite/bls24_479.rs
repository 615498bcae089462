//! BLS24-479 (≈192-bit) from MIRACL Core: embedding degree 24, G2 over `F_p^4`, GT in
//! `F_p^24`. AES-256-GCM.

use super::miracl::miracl_suite;

miracl_suite! {
    /// The BLS24-479 suite (MIRACL Core), ≈192-bit security, AES-256-GCM.
    suite: Bls24_479Suite,
    id: Bls24_479,
    curve: bls24479,
    pairing: pair4,
    g2: ecp4::ECP4 (width 4),
    gt: fp24::FP24 (width 24, encoder encode_gt),
    lines: fp8::FP8,
    scalar: (
        "39411628175557697617090394197952197801542843954260125585649332611866166173671941728410546111990041923305187416473601",
        generator "13",
        limbs 7
    ),
    aead_key_len: 32,
    table_window: 5,
}

/// MIRACL's own `FP24::tobytes` (three `FP8` coefficients, `c ‖ b ‖ a`).
fn encode_gt(v: &mut miracl_core::bls24479::fp24::FP24, out: &mut [u8]) {
    v.tobytes(out);
}
