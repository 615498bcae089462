//! The two BLS12-381 backends side by side in one run (issue 22): arkworks
//! (`Bls12_381Arkworks`) and blst (`Bls12_381Blst`, the default `Bls12_381Suite`).
//!
//! Ids are `backends/<operation>/<backend>`:
//! - `decrypt-<value>`: one Table 1 value with TAT + PAT (5 rows used ⇒ 11 pairs), on the
//!   calling thread (`decrypt_on_this_thread`); `…-both-cores`: `decrypt`, which splits the
//!   rows' decoding and the multi-Miller loop over two threads (issue 22);
//! - `decrypt-<n>-pairs[-both-cores]`: conjunctions of 1–3 TAT attributes (3, 5, 7 pairs), to
//!   choose from how many pairs the Miller loop is split;
//! - `multi-pairing-11`: the suite's own multi-pairing of 11 pairs (G1 affine conversion,
//!   G2 preparation, one multi-Miller loop, one final exponentiation), as in `pbe`'s floor;
//! - `blst-raw-multi-pairing-11` (backend `blst`): blst's safe API alone on affine inputs,
//!   single-threaded (`blst::Pairing::raw_aggregate` + one `final_exp`), the floor a blst
//!   decryption is compared with; `…-threaded`: `blst_fp12::miller_loop_n`, which uses blst's
//!   thread pool (both cores here);
//! - `encrypt-<value>` (the report divides by the row count in the id), `keygen-tat19+pat3`;
//! - primitives: `pairing`, `g2-prepare`, `g1-mul-secret`, `g2-mul-secret`, `g2-table`, `gt-table`,
//!   `g1-table` (an attribute table, `F(u)^t`) and `g1-table-build`, `hash-to-g1`,
//!   `g1/g2-decode-<form>` (validated), `gt-decode-validated`/`-unchecked`;
//! - `table-window/<group>-w<bits>` (blst only): the constant-time tables per window width,
//!   to choose `Suite::TABLE_WINDOW`.
//!
//! Run: `cargo bench -p benches --bench backends`; medians in docs/performance.md, section
//! "BLS12-381 backends".

use std::hint::black_box;
use std::time::Duration;

use ark_ff::UniformRand;
use ark_serialize::{Compress, Validate};
use benches::{rng, World};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pbe_core::suite::Group;
use pbe_core::{Bls12_381Arkworks, Bls12_381Blst, FixedBaseTable, Gid, Suite};

fn backend<S: Suite>(c: &mut Criterion, name: &str) {
    let world = World::<S>::new();
    let (tat, shopping, delivery) = world.keys();
    let cts = world.table1(None);
    let mut g = c.benchmark_group("backends");

    for (value, ct) in &cts {
        let pat = if *value == "addresses" { &delivery } else { &shopping };
        let keys = [&tat, pat];
        g.bench_function(BenchmarkId::new(format!("decrypt-{value}"), name), |b| {
            b.iter(|| ct.decrypt_on_this_thread(black_box(&keys)))
        });
        g.bench_function(BenchmarkId::new(format!("decrypt-{value}-both-cores"), name), |b| {
            b.iter(|| ct.decrypt(black_box(&keys)))
        });
    }
    // Conjunctions of 1, 2, 3 TAT attributes (3, 5, 7 pairs): where splitting starts to pay.
    let tat_attrs = ["domain:salesforce@telekom", "country:eu@telekom", "access_time:s0.20415@telekom"];
    for rows in 1..=3usize {
        let text = tat_attrs.iter().take(rows).copied().collect::<Vec<_>>().join(" and ");
        let Ok(policy) = pbe_core::Policy::parse(&text) else { continue };
        let Ok(ct) = world.encryptor.encrypt(&policy, b"x", &mut rng(13)) else { continue };
        if ct.decrypt(&[&tat]).is_err() {
            continue;
        }
        let keys = [&tat];
        g.bench_function(BenchmarkId::new(format!("decrypt-{}-pairs", 2 * rows + 1), name), |b| {
            b.iter(|| ct.decrypt_on_this_thread(black_box(&keys)))
        });
        g.bench_function(BenchmarkId::new(format!("decrypt-{}-pairs-both-cores", 2 * rows + 1), name), |b| {
            b.iter(|| ct.decrypt(black_box(&keys)))
        });
    }
    let r = &mut rng(12);
    let g1: Vec<S::G1> = (0..11).map(|_| S::g1_generator().mul(&S::Scalar::rand(r))).collect();
    let g2: Vec<S::G2> = (0..11).map(|_| S::g2_generator().mul(&S::Scalar::rand(r))).collect();
    g.bench_function(BenchmarkId::new("multi-pairing-11", name), |b| {
        b.iter(|| {
            let prepared: Vec<_> = g2.iter().map(S::prepare_g2).collect();
            S::multi_pairing(black_box(&g1), &prepared)
        })
    });

    let r = &mut rng(11);
    for (value, ct) in &cts {
        let policy = ct.policy().clone();
        let id = BenchmarkId::new(format!("encrypt-{value}-{}-rows", ct.row_count()), name);
        g.bench_function(id, |b| b.iter(|| world.encryptor.encrypt(&policy, b"1980-01-01", r)));
    }
    let gid = Gid::new("bob", "session-1").unwrap_or_else(|_| unreachable!());
    let tat_attrs = World::<S>::tat_attributes(benches::DAY);
    let pat_attrs = World::<S>::pat_attributes();
    let r = &mut rng(10);
    g.bench_function(BenchmarkId::new("keygen-tat19+pat3", name), |b| {
        b.iter(|| {
            (
                world.home.keygen(&gid, black_box(&tat_attrs), r),
                world.visitor.keygen(&gid, black_box(&pat_attrs), r),
            )
        })
    });

    let k = S::Scalar::rand(r);
    let (p1, p2) = (g1.first().cloned().unwrap_or_else(S::G1::identity), S::g2_generator().mul(&k));
    let tables = S::tables();
    g.bench_function(BenchmarkId::new("pairing", name), |b| {
        b.iter(|| S::multi_pairing(std::slice::from_ref(black_box(&p1)), &[S::prepare_g2(&p2)]))
    });
    g.bench_function(BenchmarkId::new("g2-prepare", name), |b| b.iter(|| S::prepare_g2(black_box(&p2))));
    g.bench_function(BenchmarkId::new("g1-mul-secret", name), |b| b.iter(|| black_box(&p1).mul_secret(&k)));
    g.bench_function(BenchmarkId::new("g2-mul-secret", name), |b| b.iter(|| black_box(&p2).mul_secret(&k)));
    g.bench_function(BenchmarkId::new("g1-mul-public", name), |b| b.iter(|| black_box(&p1).mul(&k)));
    g.bench_function(BenchmarkId::new("g2-table", name), |b| b.iter(|| tables.g2_table.mul(black_box(&k))));
    g.bench_function(BenchmarkId::new("gt-table", name), |b| b.iter(|| tables.gt_table.mul(black_box(&k))));
    // A G1 table as the attribute tables build them (issue 22): `F(u)^t` once an attribute is hot.
    let f_u = S::hash_attribute("purpose:current@salesforce");
    let t1 = FixedBaseTable::new(f_u.clone(), S::TABLE_WINDOW);
    g.bench_function(BenchmarkId::new("g1-table", name), |b| b.iter(|| t1.mul(black_box(&k))));
    g.bench_function(BenchmarkId::new("g1-table-build", name), |b| {
        b.iter(|| FixedBaseTable::new(black_box(f_u.clone()), S::TABLE_WINDOW))
    });
    g.bench_function(BenchmarkId::new("hash-to-g1", name), |b| {
        b.iter(|| S::hash_attribute(black_box("purpose:current@salesforce")))
    });
    for (label, form) in [("compressed", Compress::Yes), ("uncompressed", Compress::No)] {
        let (mut b1, mut b2) = (Vec::new(), Vec::new());
        p1.encode(form, &mut b1);
        p2.encode(form, &mut b2);
        g.bench_function(BenchmarkId::new(format!("g1-decode-{label}"), name), |b| {
            b.iter(|| S::G1::decode(black_box(&b1[..]), form, Validate::Yes))
        });
        g.bench_function(BenchmarkId::new(format!("g2-decode-{label}"), name), |b| {
            b.iter(|| S::G2::decode(black_box(&b2[..]), form, Validate::Yes))
        });
    }
    let mut bt = Vec::new();
    tables.gt.mul(&k).encode(Compress::Yes, &mut bt);
    for (label, check) in [("validated", Validate::Yes), ("unchecked", Validate::No)] {
        g.bench_function(BenchmarkId::new(format!("gt-decode-{label}"), name), |b| {
            b.iter(|| S::Gt::decode(black_box(&bt[..]), Compress::Yes, check))
        });
    }
    g.finish();
}

/// blst's own multi-pairing of 11 pairs on affine inputs, through its safe API only.
fn blst_raw_floor(c: &mut Criterion) {
    use blst::min_pk::SecretKey;
    use blst::{blst_fp12, blst_p1_affine, blst_p2_affine};
    let keys: Vec<SecretKey> =
        (0u8..11).filter_map(|i| SecretKey::key_gen(&[i.wrapping_add(1); 32], &[]).ok()).collect();
    let p: Vec<blst_p1_affine> = keys.iter().map(|k| blst_p1_affine::from(k.sk_to_pk())).collect();
    let q: Vec<blst_p2_affine> =
        keys.iter().map(|k| blst_p2_affine::from(k.sign(b"floor", b"BENCH", &[]))).collect();
    let mut g = c.benchmark_group("backends");
    // `blst_fp12::miller_loop_n` spreads the pairs over blst's thread pool (2 threads here).
    g.bench_function(BenchmarkId::new("blst-raw-multi-pairing-11-threaded", "blst"), |b| {
        b.iter(|| blst_fp12::miller_loop_n(black_box(&q), black_box(&p)).final_exp())
    });
    // `blst::Pairing` is single-threaded (Miller loops in batches of 8 pairs, one final
    // exponentiation): the floor a single-threaded decryption is compared with.
    g.bench_function(BenchmarkId::new("blst-raw-multi-pairing-11", "blst"), |b| {
        b.iter(|| {
            let mut ctx = blst::Pairing::new(false, b"");
            for (q, p) in black_box(&q).iter().zip(black_box(&p)) {
                ctx.raw_aggregate(q, p);
            }
            ctx.as_fp12().final_exp()
        })
    });
    g.finish();
}

/// The blst tables per window width (G1 and G2 entries affine, GT entries `F_p¹²`).
fn table_windows(c: &mut Criterion) {
    type S = Bls12_381Blst;
    let k = <S as Suite>::Scalar::rand(&mut rng(9));
    let f_u = S::hash_attribute("purpose:current@salesforce");
    let mut g = c.benchmark_group("table-window");
    for w in [4usize, 5, 6, 7, 8] {
        let t1 = FixedBaseTable::new(f_u, w);
        let t2 = FixedBaseTable::new(S::g2_generator(), w);
        let tt = FixedBaseTable::new(S::tables().gt, w);
        g.bench_function(BenchmarkId::new("g1", format!("w{w}")), |b| b.iter(|| t1.mul(black_box(&k))));
        g.bench_function(BenchmarkId::new("g2", format!("w{w}")), |b| b.iter(|| t2.mul(black_box(&k))));
        g.bench_function(BenchmarkId::new("gt", format!("w{w}")), |b| b.iter(|| tt.mul(black_box(&k))));
    }
    g.finish();
}

fn both(c: &mut Criterion) {
    table_windows(c);
    blst_raw_floor(c);
    backend::<Bls12_381Blst>(c, "blst");
    backend::<Bls12_381Arkworks>(c, "arkworks");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    targets = both
}
criterion_main!(benches);
