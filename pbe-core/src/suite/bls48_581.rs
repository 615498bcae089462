//! BLS48-581 (≈256-bit) from MIRACL Core: embedding degree 48, G2 over `F_p^8`, GT in
//! `F_p^48`. AES-256-GCM.

use super::miracl::miracl_suite;

miracl_suite! {
    /// The BLS48-581 suite (MIRACL Core), ≈256-bit security, AES-256-GCM.
    suite: Bls48_581Suite,
    id: Bls48_581,
    curve: bls48581,
    pairing: pair8,
    g2: ecp8::ECP8 (width 8),
    gt: fp48::FP48 (width 48, encoder encode_gt),
    lines: fp16::FP16,
    scalar: (
        "476342299743339008482451055637099285448102090246347886165811576342746904451443552831892849773706409097740116059681046950759420830087773258940488535108951041",
        generator "17",
        limbs 9
    ),
    aead_key_len: 32,
    table_window: 4,
}

/// `FP48` as `c ‖ b ‖ a`, each `FP16` as `b ‖ a`, each `FP8` by MIRACL: the layout
/// `FP48::frombytes` reads. Written here because MIRACL Core 2.7's `FP16::tobytes` sizes its
/// halves as `FP4`s and overruns its buffer (it panics), so `FP48::tobytes` cannot be used.
fn encode_gt(v: &mut miracl_core::bls48581::fp48::FP48, out: &mut [u8]) {
    const FP8_LEN: usize = 8 * miracl_core::bls48581::big::MODBYTES;
    let parts = [v.getc(), v.getb(), v.geta()];
    let halves = parts.iter().flat_map(|p| [p.getb(), p.geta()]);
    for (chunk, half) in out.chunks_exact_mut(FP8_LEN).zip(halves) {
        half.tobytes(chunk);
    }
}
