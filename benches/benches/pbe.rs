//! Criterion benchmarks of pbe-core, written once and instantiated per suite (STYLE.md §6.2).
//!
//! Groups (ids are `<group>/<suite>/<case>`):
//! - `setup`, `keygen` (TAT of 19 attributes, PAT of 3, TAT+PAT);
//! - `encrypt`, `decrypt`: one Table 1 value each; `decrypt` also times the multi-pairing
//!   floor (one multi-Miller loop over the same number of pairs + one final exponentiation)
//!   in the same run, so the report can state the ratio;
//! - `bulk`: 1 MB … 100 MB under the dob policy beside raw AES-GCM on the same buffer.
//!
//! `cargo run -p benches --bin report` turns the results into docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use ark_ec::pairing::Pairing;
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::UniformRand;
use benches::{rng, World};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pbe_core::{AuthoritySecretKey, Bls12_381Suite, Bn254Suite, Gid, Suite};

fn setup_and_keygen<S: Suite>(c: &mut Criterion) {
    let suite = S::ID.name();
    let world = World::<S>::new();
    let gid = Gid::new("bob", "session-1").unwrap_or_else(|_| unreachable!());
    let tat = World::<S>::tat_attributes(benches::DAY);
    let pat = World::<S>::pat_attributes();
    let mut g = c.benchmark_group(format!("setup/{suite}"));
    g.bench_function("authority", |b| {
        let r = &mut rng(9);
        b.iter(|| AuthoritySecretKey::<S>::setup("telekom", r))
    });
    g.finish();
    let mut g = c.benchmark_group(format!("keygen/{suite}"));
    let r = &mut rng(10);
    g.bench_function("tat-19", |b| b.iter(|| world.home.keygen(&gid, black_box(&tat), r)));
    g.bench_function("pat-3", |b| b.iter(|| world.visitor.keygen(&gid, black_box(&pat), r)));
    g.bench_function("tat-19+pat-3", |b| {
        b.iter(|| {
            (world.home.keygen(&gid, black_box(&tat), r), world.visitor.keygen(&gid, black_box(&pat), r))
        })
    });
    g.finish();
}

fn encrypt_decrypt<S: Suite>(c: &mut Criterion) {
    let suite = S::ID.name();
    let world = World::<S>::new();
    let (tat, shopping, delivery) = world.keys();
    let cts = world.table1(None);

    let mut g = c.benchmark_group(format!("encrypt/{suite}"));
    let r = &mut rng(11);
    for (name, ct) in &cts {
        let policy = ct.policy().clone();
        g.bench_with_input(BenchmarkId::new(*name, format!("{}-rows", ct.row_count())), &policy, |b, p| {
            b.iter(|| world.encryptor.encrypt(p, b"1980-01-01", r))
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("decrypt/{suite}"));
    for (name, ct) in &cts {
        let pat = if *name == "addresses" { &delivery } else { &shopping };
        let keys = [&tat, pat];
        g.bench_function(BenchmarkId::new(*name, "tat+pat"), |b| b.iter(|| ct.decrypt(black_box(&keys))));
    }
    // The floor: 5 rows used ⇒ 2·5 + 1 = 11 pairs, one multi-Miller loop, one final
    // exponentiation, inputs already decoded (affine), nothing prepared in advance.
    let r = &mut rng(12);
    let pairs = 11;
    let g1: Vec<_> = (0..pairs)
        .map(|_| {
            (<S::Engine as Pairing>::G1::generator() * <S::Engine as Pairing>::ScalarField::rand(r))
                .into_affine()
        })
        .collect();
    let g2: Vec<_> = (0..pairs)
        .map(|_| {
            (<S::Engine as Pairing>::G2::generator() * <S::Engine as Pairing>::ScalarField::rand(r))
                .into_affine()
        })
        .collect();
    g.bench_function(BenchmarkId::new("floor", "multi-pairing-11"), |b| {
        b.iter(|| S::Engine::multi_pairing(black_box(g1.clone()), black_box(g2.clone())))
    });
    g.finish();
}

fn bulk<S: Suite>(c: &mut Criterion) {
    let suite = S::ID.name();
    let world = World::<S>::new();
    let (tat, shopping, _) = world.keys();
    let key = Aes128Gcm::new_from_slice(&[7u8; 16]).unwrap_or_else(|_| unreachable!());
    let nonce = [0u8; 12];
    let mut g = c.benchmark_group(format!("bulk/{suite}"));
    g.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    for mb in [1usize, 10, 100] {
        let data = vec![0x5au8; mb << 20];
        g.throughput(Throughput::Bytes(data.len() as u64));
        let policy = world.table1(None).into_iter().nth(1).map(|(_, ct)| ct.policy().clone());
        let Some(policy) = policy else { return };
        let r = &mut rng(13);
        g.bench_with_input(BenchmarkId::new("pbe-encrypt", format!("{mb}MB")), &data, |b, d| {
            b.iter(|| world.encryptor.encrypt(&policy, d, r))
        });
        g.bench_with_input(BenchmarkId::new("aes-gcm-encrypt", format!("{mb}MB")), &data, |b, d| {
            b.iter(|| key.encrypt(Nonce::from_slice(&nonce), Payload { msg: d, aad: b"header" }))
        });
        let ct = world.encryptor.encrypt(&policy, &data, r).unwrap_or_else(|_| unreachable!());
        let raw = key
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &data, aad: b"header" })
            .unwrap_or_default();
        g.bench_function(BenchmarkId::new("pbe-decrypt", format!("{mb}MB")), |b| {
            b.iter(|| ct.decrypt(&[&tat, &shopping]))
        });
        g.bench_function(BenchmarkId::new("aes-gcm-decrypt", format!("{mb}MB")), |b| {
            b.iter(|| key.decrypt(Nonce::from_slice(&nonce), Payload { msg: &raw, aad: b"header" }))
        });
    }
    g.finish();
}

fn sizes<S: Suite>() {
    let world = World::<S>::new();
    let (tat, shopping, delivery) = world.keys();
    let cts = world.table1(None);
    let mut out = serde_json::Map::new();
    out.insert("tat".into(), tat.to_bytes().len().into());
    out.insert("pat_shopping".into(), shopping.to_bytes().len().into());
    out.insert("pat_delivery".into(), delivery.to_bytes().len().into());
    for (name, ct) in &cts {
        out.insert(format!("ciphertext_header_{name}"), ct.header_len().into());
        out.insert(format!("rows_{name}"), ct.row_count().into());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("sizes-{}.json", S::ID.name())),
        serde_json::to_string_pretty(&out).unwrap_or_default(),
    );
}

/// The building blocks, so the report can say where the time of each operation goes.
fn primitives<S: Suite>(c: &mut Criterion) {
    use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
    type E<S> = <S as Suite>::Engine;
    let suite = S::ID.name();
    let r = &mut rng(14);
    let k = <E<S> as Pairing>::ScalarField::rand(r);
    let p1 = (<E<S> as Pairing>::G1::generator() * k).into_affine();
    let p2 = (<E<S> as Pairing>::G2::generator() * k).into_affine();
    let tables = S::tables();
    let mut g = c.benchmark_group(format!("primitives/{suite}"));
    g.bench_function("hash-attribute-to-g1", |b| {
        b.iter(|| S::hash_attribute(black_box("purpose:current@salesforce")))
    });
    g.bench_function("g1-mul-glv", |b| b.iter(|| black_box(p1) * k));
    g.bench_function("g2-mul-glv", |b| b.iter(|| S::g2_mul(black_box(p2).into(), k)));
    g.bench_function("g2-fixed-base-table", |b| b.iter(|| tables.g2_table.mul(black_box(&k))));
    g.bench_function("gt-fixed-base-table", |b| b.iter(|| tables.gt_table.mul(black_box(&k))));
    g.bench_function("gt-exp-plain", |b| b.iter(|| black_box(tables.gt) * k));
    g.bench_function("g2-prepare", |b| b.iter(|| <E<S> as Pairing>::G2Prepared::from(black_box(p2))));
    for (label, compress) in
        [("compressed", ark_serialize::Compress::Yes), ("uncompressed", ark_serialize::Compress::No)]
    {
        let mut b1 = Vec::new();
        let mut b2 = Vec::new();
        let _ = p1.serialize_with_mode(&mut b1, compress);
        let _ = p2.serialize_with_mode(&mut b2, compress);
        g.bench_function(format!("g1-decode-validated-{label}"), |b| {
            b.iter(|| {
                <E<S> as Pairing>::G1Affine::deserialize_with_mode(
                    black_box(&b1[..]),
                    compress,
                    ark_serialize::Validate::Yes,
                )
            })
        });
        g.bench_function(format!("g2-decode-validated-{label}"), |b| {
            b.iter(|| {
                <E<S> as Pairing>::G2Affine::deserialize_with_mode(
                    black_box(&b2[..]),
                    compress,
                    ark_serialize::Validate::Yes,
                )
            })
        });
    }
    g.finish();
}

fn all<S: Suite>(c: &mut Criterion) {
    sizes::<S>();
    primitives::<S>(c);
    setup_and_keygen::<S>(c);
    encrypt_decrypt::<S>(c);
    if std::env::var_os("IDAAS_BENCH_SKIP_BULK").is_none() {
        bulk::<S>(c);
    }
}

fn bls12_381(c: &mut Criterion) {
    all::<Bls12_381Suite>(c);
}

fn bn254(c: &mut Criterion) {
    all::<Bn254Suite>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bls12_381, bn254
}
criterion_main!(benches);
