//! RFC 9380 `expand_message_xmd` (§5.3.1), `hash_to_field` (§5.2) and the random-oracle
//! `hash_to_curve` (§3) for the arkworks suites, written here rather than taken from
//! arkworks.
//!
//! arkworks 0.6's `DefaultFieldHasher` pads `expand_message_xmd` with `L` zero bytes (the
//! per-element length) instead of the hash's block size (`s_in_bytes`, 64 for SHA-256). For
//! BLS12-381 the two happen to coincide (`L = 64`), for BN254 they do not (`L = 48`), so
//! arkworks' BN254 hash to G1 was not RFC 9380 and would change whenever arkworks fixes it
//! (issue 23, item 3). Both arkworks suites now hash through this module; the maps
//! themselves (SvdW for BN254, arkworks' WB/SSWU with its isogeny for BLS12-381) are unchanged.
//! Tested against RFC 9380 Appendix K.1–K.3 and J.9.1 and gnark-crypto's
//! `BN254G1_XMD:SHA-256_SVDW_RO_` vectors; every suite's `H` and `F` are pinned by
//! known-answer tests in `suite::kat`.

use ark_ec::hashing::map_to_curve_hasher::MapToCurve;
use ark_ec::short_weierstrass::{Projective, SWCurveConfig};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::PrimeField;
use sha2::digest::core_api::BlockSizeUser;
use sha2::Digest;

/// `expand_message_xmd(msg, DST, len_in_bytes)` of RFC 9380 §5.3.1, with §5.3.3's hashing
/// of DSTs longer than 255 bytes. `None` where the RFC aborts (`ell > 255`,
/// `len_in_bytes > 65535`).
pub(crate) fn expand_message_xmd<H: Digest + BlockSizeUser>(
    msg: &[u8],
    dst: &[u8],
    len_in_bytes: usize,
) -> Option<Vec<u8>> {
    let b_in_bytes = <H as Digest>::output_size();
    let s_in_bytes = <H as BlockSizeUser>::block_size();
    let ell = len_in_bytes.div_ceil(b_in_bytes);
    if ell > 255 || len_in_bytes > 65_535 {
        return None;
    }
    let long_dst;
    let dst = if dst.len() > 255 {
        long_dst = H::new().chain_update(b"H2C-OVERSIZE-DST-").chain_update(dst).finalize();
        long_dst.as_slice()
    } else {
        dst
    };
    // DST_prime = DST ‖ I2OSP(len(DST), 1); the length fits in one byte after the step above.
    let dst_len = [dst.len() as u8];
    let z_pad = vec![0u8; s_in_bytes];
    let l_i_b_str = (len_in_bytes as u16).to_be_bytes();
    let b0 = H::new()
        .chain_update(&z_pad)
        .chain_update(msg)
        .chain_update(l_i_b_str)
        .chain_update([0u8])
        .chain_update(dst)
        .chain_update(dst_len)
        .finalize();
    let mut bi =
        H::new().chain_update(&b0).chain_update([1u8]).chain_update(dst).chain_update(dst_len).finalize();
    let mut out = Vec::with_capacity(ell * b_in_bytes);
    out.extend_from_slice(&bi);
    for i in 2..=ell {
        let mixed: Vec<u8> = b0.iter().zip(bi.iter()).map(|(a, b)| a ^ b).collect();
        bi = H::new()
            .chain_update(&mixed)
            .chain_update([i as u8])
            .chain_update(dst)
            .chain_update(dst_len)
            .finalize();
        out.extend_from_slice(&bi);
    }
    out.truncate(len_in_bytes);
    Some(out)
}

/// `hash_to_field(msg, 2)` over a prime field with `L = ⌈(⌈log2 p⌉ + 128) / 8⌉`, SHA-256
/// (RFC 9380 §5.2, `k = 128` as in every 128-bit suite of the RFC).
pub(crate) fn hash_to_field_sha256<F: PrimeField>(msg: &[u8], dst: &[u8]) -> Option<[F; 2]> {
    let l = (F::MODULUS_BIT_SIZE as usize + 128).div_ceil(8);
    let bytes = expand_message_xmd::<sha2::Sha256>(msg, dst, 2 * l)?;
    let (a, b) = bytes.split_at(l);
    Some([F::from_be_bytes_mod_order(a), F::from_be_bytes_mod_order(b)])
}

/// RFC 9380 `hash_to_curve` (random-oracle variant) into G1 of an arkworks curve:
/// `u = hash_to_field(msg, 2)`, `Q_i = map_to_curve(u_i)`, `clear_cofactor(Q_0 + Q_1)`.
pub(crate) fn hash_to_curve<P, M>(msg: &[u8], dst: &[u8]) -> Option<Projective<P>>
where
    P: SWCurveConfig,
    P::BaseField: PrimeField,
    M: MapToCurve<Projective<P>>,
{
    let [u0, u1] = hash_to_field_sha256::<P::BaseField>(msg, dst)?;
    let q0 = M::map_to_curve(u0).ok()?;
    let q1 = M::map_to_curve(u1).ok()?;
    let r = (q0 + q1).into_affine();
    Some(r.clear_cofactor().into_group())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::svdw::SvdwMap;
    use ark_ff::BigInteger;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn fq_hex<F: PrimeField>(x: &F) -> String {
        // Vectors print field elements without leading zeros.
        let h = hex(&x.into_bigint().to_bytes_be());
        h.trim_start_matches('0').to_owned()
    }

    fn q128() -> String {
        format!("q128_{}", "q".repeat(128))
    }

    fn a512() -> String {
        format!("a512_{}", "a".repeat(512))
    }

    /// RFC 9380 Appendix K.1: expand_message_xmd(SHA-256).
    #[test]
    fn xmd_sha256_matches_rfc9380_k1() {
        let dst = b"QUUX-V01-CS02-with-expander-SHA256-128";
        let cases: [(String, usize, &str); 7] = [
            ("".into(), 0x20, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"),
            ("abc".into(), 0x20, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"),
            ("abcdef0123456789".into(), 0x20, "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1"),
            (q128(), 0x20, "b23a1d2b4d97b2ef7785562a7e8bac7eed54ed6e97e29aa51bfe3f12ddad1ff9"),
            (a512(), 0x20, "4623227bcc01293b8c130bf771da8c298dede7383243dc0993d2d94823958c4c"),
            (
                "".into(),
                0x80,
                "af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbee0d121587713a3e0dd4d5e69e93eb7cd\
                 4f5df4cd103e188cf60cb02edc3edf18eda8576c412b18ffb658e3dd6ec849469b979d444cf7b26911a08e63cf31f9dc\
                 c541708d3491184472c2c29bb749d4286b004ceb5ee6b9a7fa5b646c993f0ced",
            ),
            (
                "abc".into(),
                0x80,
                "abba86a6129e366fc877aab32fc4ffc70120d8996c88aee2fe4b32d6c7b6437a647e6c3163d40b76a73cf6a5674ef1d8\
                 90f95b664ee0afa5359a5c4e07985635bbecbac65d747d3d2da7ec2b8221b17b0ca9dc8a1ac1c07ea6a1e60583e2cb00\
                 058e77b7b72a298425cd1b941ad4ec65e8afc50303a22c0f99b0509b4c895f40",
            ),
        ];
        for (msg, len, want) in cases {
            let got = expand_message_xmd::<sha2::Sha256>(msg.as_bytes(), dst, len).unwrap();
            assert_eq!(hex(&got), want, "msg {:.8}…, len {len}", msg);
        }
    }

    /// RFC 9380 Appendix K.2: a DST longer than 255 bytes (§5.3.3).
    #[test]
    fn xmd_sha256_long_dst_matches_rfc9380_k2() {
        let dst = format!("QUUX-V01-CS02-with-expander-SHA256-128-long-DST-{}", "1".repeat(208));
        assert_eq!(dst.len(), 256);
        let got = expand_message_xmd::<sha2::Sha256>(b"", dst.as_bytes(), 0x20).unwrap();
        assert_eq!(hex(&got), "e8dc0c8b686b7ef2074086fbdd2f30e3f8bfbd3bdf177f73f04b97ce618a3ed3");
        let got = expand_message_xmd::<sha2::Sha256>(b"abc", dst.as_bytes(), 0x20).unwrap();
        assert_eq!(hex(&got), "52dbf4f36cf560fca57dedec2ad924ee9c266341d8f3d6afe5171733b16bbb12");
    }

    /// RFC 9380 Appendix K.3: expand_message_xmd(SHA-512), which MIRACL's `xmd_expand` (used
    /// by BLS48-581) must match too; BLS24-479's SHA-384 has no RFC vector, so MIRACL's is
    /// checked against this implementation.
    #[test]
    fn xmd_sha512_matches_rfc9380_k3_and_miracl_agrees() {
        let dst = b"QUUX-V01-CS02-with-expander-SHA512-256";
        let cases = [
            ("", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"),
            ("abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"),
            (
                "",
                0x80,
                "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921b052b62eaed99b46f72f2ef4cc96bfaf\
                 254ebbbec091e1a3b9e4fb5e5b619d2e0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e\
                 b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961",
            ),
        ];
        for (msg, len, want) in cases {
            let got = expand_message_xmd::<sha2::Sha512>(msg.as_bytes(), dst, len).unwrap();
            assert_eq!(hex(&got), want);
            let mut okm = vec![0u8; len];
            miracl_core::hmac::xmd_expand(miracl_core::hmac::MC_SHA2, 64, &mut okm, len, dst, msg.as_bytes());
            assert_eq!(hex(&okm), want, "MIRACL xmd_expand, SHA-512");
        }
        for (msg, len) in [("", 0xd2usize), ("purpose:ads@x", 0xb4), ("abc", 0x20)] {
            let ours = expand_message_xmd::<sha2::Sha384>(msg.as_bytes(), dst, len).unwrap();
            let mut okm = vec![0u8; len];
            miracl_core::hmac::xmd_expand(miracl_core::hmac::MC_SHA2, 48, &mut okm, len, dst, msg.as_bytes());
            assert_eq!(ours, okm, "MIRACL xmd_expand, SHA-384");
        }
    }

    #[test]
    fn xmd_refuses_what_the_rfc_aborts_on() {
        assert!(expand_message_xmd::<sha2::Sha256>(b"", b"d", 255 * 32 + 1).is_none());
        assert!(expand_message_xmd::<sha2::Sha256>(b"", b"d", 255 * 32).is_some());
    }

    /// arkworks' padding bug, pinned: its expander differs from RFC 9380 for BN254's L = 48
    /// and agrees for BLS12-381's L = 64. When arkworks fixes it, this test says so and the
    /// comment at the top of this module can be revisited (the hashes here do not change).
    #[test]
    fn arkworks_expander_differs_exactly_where_l_is_not_the_block_size() {
        use ark_ff::field_hashers::{DefaultFieldHasher, HashToField};
        let dst = b"QUUX-V01-CS02-with-BN254G1_XMD:SHA-256_SVDW_RO_";
        let ark: [ark_bn254::Fq; 2] =
            <DefaultFieldHasher<sha2::Sha256, 128> as HashToField<ark_bn254::Fq>>::new(dst)
                .hash_to_field::<2>(b"abc");
        let ours = hash_to_field_sha256::<ark_bn254::Fq>(b"abc", dst).unwrap();
        assert_ne!(ark, ours, "arkworks' BN254 hash_to_field now matches RFC 9380");
        let dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
        let ark: [ark_bls12_381::Fq; 2] =
            <DefaultFieldHasher<sha2::Sha256, 128> as HashToField<ark_bls12_381::Fq>>::new(dst)
                .hash_to_field::<2>(b"abc");
        assert_eq!(ark, hash_to_field_sha256::<ark_bls12_381::Fq>(b"abc", dst).unwrap());
    }

    /// Moving BLS12-381 from arkworks' hasher to this module changed none of its hashes
    /// (same GID and attribute DSTs as the suite).
    #[test]
    fn bls12_381_hashes_match_the_arkworks_hasher_they_replace() {
        use ark_ec::hashing::curve_maps::wb::WBMap;
        use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
        use ark_ec::hashing::HashToCurve;
        use ark_ff::field_hashers::DefaultFieldHasher;
        type Cfg = ark_bls12_381::g1::Config;
        type Ark = MapToCurveBasedHasher<
            ark_bls12_381::G1Projective,
            DefaultFieldHasher<sha2::Sha256, 128>,
            WBMap<Cfg>,
        >;
        for purpose in ["GID", "ATTR"] {
            let dst = crate::suite::dst(crate::suite::SuiteId::Bls12_381, purpose, "SSWU");
            let ark = Ark::new(&dst).unwrap();
            for msg in [&b""[..], b"purpose:ads@salesforce", &[7u8; 300]] {
                let ours = hash_to_curve::<Cfg, WBMap<Cfg>>(msg, &dst).unwrap().into_affine();
                assert_eq!(ours, ark.hash(msg).unwrap());
            }
        }
    }

    /// gnark-crypto's `BN254G1_XMD:SHA-256_SVDW_RO_` vectors (ecc/bn254/hash_vectors_test.go):
    /// `u0`, `u1`, the two mapped points and the result.
    #[test]
    fn bn254_hash_to_g1_matches_gnark_crypto_svdw_vectors() {
        type Cfg = ark_bn254::g1::Config;
        let dst = b"QUUX-V01-CS02-with-BN254G1_XMD:SHA-256_SVDW_RO_";
        struct V {
            msg: String,
            p: (&'static str, &'static str),
            q0: (&'static str, &'static str),
            q1: (&'static str, &'static str),
            u0: &'static str,
            u1: &'static str,
        }
        let vectors = [
            V {
                msg: "".into(),
                p: (
                    "a976ab906170db1f9638d376514dbf8c42aef256a54bbd48521f20749e59e86",
                    "2925ead66b9e68bfc309b014398640ab55f6619ab59bc1fab2210ad4c4d53d5",
                ),
                q0: (
                    "e449b959abbd0e5ab4c873eaeb1ccd887f1d9ad6cd671fd72cb8d77fb651892",
                    "29ff1e36867c60374695ee0c298fcbef2af16f8f97ed356fa75e61a797ebb265",
                ),
                q1: (
                    "19388d9112a306fba595c3a8c63daa8f04205ad9581f7cf105c63c442d7c6511",
                    "182da356478aa7776d1de8377a18b41e933036d0b71ab03f17114e4e673ad6e4",
                ),
                u0: "2f87b81d9d6ef05ad4d249737498cc27e1bd485dca804487844feb3c67c1a9b5",
                u1: "6de2d0d7c0d9c7a5a6c0b74675e7543f5b98186b5dbf831067449000b2b1f8e",
            },
            V {
                msg: "abc".into(),
                p: (
                    "23f717bee89b1003957139f193e6be7da1df5f1374b26a4643b0378b5baf53d1",
                    "4142f826b71ee574452dbc47e05bc3e1a647478403a7ba38b7b93948f4e151d",
                ),
                q0: (
                    "1452c8cc24f8dedc25b24d89b87b64e25488191cecc78464fea84077dd156f8d",
                    "209c3633505ba956f5ce4d974a868db972b8f1b69d63c218d360996bcec1ad41",
                ),
                q1: (
                    "4e8357c98524e6208ae2b771e370f0c449e839003988c2e4ce1eaf8d632559f",
                    "4396ec43dd8ec8f2b4a705090b5892219759da30154c39490fc4d59d51bb817",
                ),
                u0: "11945105b5e3d3b9392b5a2318409cbc28b7246aa47fa30da5739907737799a9",
                u1: "1255fc9ad5a6e0fb440916f091229bda611c41be2f2283c3d8f98c596be4c8c9",
            },
            V {
                msg: "abcdef0123456789".into(),
                p: (
                    "187dbf1c3c89aceceef254d6548d7163fdfa43084145f92c4c91c85c21442d4a",
                    "abd99d5b0000910b56058f9cc3b0ab0a22d47cf27615f588924fac1e5c63b4d",
                ),
                q0: (
                    "28d01790d2a1cc4832296774438acd46c2ce162d03099926478cf52319daba8d",
                    "10227ab2707fd65fb45e87f0a48cfe3556f04113d27b1da9a7ae1709007355e1",
                ),
                q1: (
                    "7dc256c7aadac1b4e1d23b3b2bbb5e2ffd9c753b9073d8d952ead8f812ce1b3",
                    "2589008b2e15dcb3d16cdc1fed2634778001b1b28f0ab433f4f5ec6635c55e1e",
                ),
                u0: "2f7993a6b43a8dbb37060e790011a888157f456b895b925c3568690685f4983d",
                u1: "2677d0532b47a4cead2488845e7df7ebc16c0b8a2cd8a6b7f4ce99f51659794e",
            },
            V {
                msg: q128(),
                p: (
                    "fe2b0743575324fc452d590d217390ad48e5a16cf051bee5c40a2eba233f5c",
                    "794211e0cc72d3cbbdf8e4e5cd6e7d7e78d101ff94862caae8acbe63e9fdc78",
                ),
                q0: (
                    "1c53b05f2fce15ba0b9100650c0fb46de1fb62f1d0968b69151151bd25dfefa4",
                    "1fe783faf4bdbd79b717784dc59619106e4acccfe3b5d9750799729d855e7b81",
                ),
                q1: (
                    "214a4e6e97adda47558f80088460eabd71ed35bc8ceafb99a493dd6f4e2b3f0a",
                    "faaeb29cc23f9d09b187a99741613aed84443e7c35736258f57982d336d13bd",
                ),
                u0: "2a50be15282ee276b76db1dab761f75401cdc8bd9fff81fcf4d428db16092a7b",
                u1: "23b41953676183c30aca54b5c8bd3ffe3535a6238c39f6b15487a5467d5d20eb",
            },
            V {
                msg: a512(),
                p: (
                    "1b05dc540bd79fd0fea4fbb07de08e94fc2e7bd171fe025c479dc212a2173ce",
                    "1bf028afc00c0f843d113758968f580640541728cfc6d32ced9779aa613cd9b0",
                ),
                q0: (
                    "2298ba379768da62495af6bb390ffca9156fde1dc167235b89c6dd008d2f2f3b",
                    "660564cf6fce5cdea4780f5976dd0932559336fd072b4ddd83ec37f00fc7699",
                ),
                q1: (
                    "2811dea430f7a1f6c8c941ecdf0e1e725b8ad1801ad15e832654bd8f10b62f16",
                    "253390ed4fb39e58c30ca43892ab0428684cfb30b9df05fc239ab532eaa02444",
                ),
                u0: "48527470f534978bae262c0f3ba8380d7f560916af58af9ad7dcb6a4238e633",
                u1: "19a6d8be25702820b9b11eada2d42f425343889637a01ecd7672fbcf590d9ffe",
            },
        ];
        for v in vectors {
            let [u0, u1] = hash_to_field_sha256::<ark_bn254::Fq>(v.msg.as_bytes(), dst).unwrap();
            assert_eq!((fq_hex(&u0).as_str(), fq_hex(&u1).as_str()), (v.u0, v.u1), "u, msg {:.8}", v.msg);
            let q0 = SvdwMap::<Cfg>::map_to_curve(u0).unwrap();
            let q1 = SvdwMap::<Cfg>::map_to_curve(u1).unwrap();
            assert_eq!((fq_hex(&q0.x).as_str(), fq_hex(&q0.y).as_str()), v.q0, "Q0, msg {:.8}", v.msg);
            assert_eq!((fq_hex(&q1.x).as_str(), fq_hex(&q1.y).as_str()), v.q1, "Q1, msg {:.8}", v.msg);
            let p = hash_to_curve::<Cfg, SvdwMap<Cfg>>(v.msg.as_bytes(), dst).unwrap().into_affine();
            assert_eq!((fq_hex(&p.x).as_str(), fq_hex(&p.y).as_str()), v.p, "P, msg {:.8}", v.msg);
        }
    }

    /// RFC 9380 Appendix J.9.1 (`BLS12381G1_XMD:SHA-256_SSWU_RO_`), through this module.
    #[test]
    fn bls12_381_hash_to_g1_matches_rfc9380_j91() {
        use ark_ec::hashing::curve_maps::wb::WBMap;
        type Cfg = ark_bls12_381::g1::Config;
        let dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
        let cases = [
            (
                "",
                "52926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
                "8ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265",
            ),
            (
                "abc",
                "3567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
                "b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d",
            ),
        ];
        for (msg, x, y) in cases {
            let p = hash_to_curve::<Cfg, WBMap<Cfg>>(msg.as_bytes(), dst).unwrap().into_affine();
            assert_eq!((fq_hex(&p.x).as_str(), fq_hex(&p.y).as_str()), (x, y), "msg {msg:?}");
        }
    }
}
