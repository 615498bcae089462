//! Criterion benchmarks of pbe-core, written once and instantiated per suite (STYLE.md §6.2).
//!
//! Groups (ids are `<group>/<suite>/<case>`):
//! - `setup`, `keygen` (TAT of 19 attributes, PAT of 3, TAT+PAT);
//! - `encrypt`, `decrypt`: one Table 1 value each; `decrypt` also times the multi-pairing
//!   floor (one multi-Miller loop over the same number of pairs + one final exponentiation)
//!   in the same run, so the report can state the ratio;
//! - `bulk`: 1 B … 100 MB under the dob policy beside raw AES-GCM (the suite's key size)
//!   on the same buffer;
//! - `primitives`: the building blocks, so the report can say where time goes.
//!
//! Every suite runs: BN254, BLS12-381, BLS24-479 and BLS48-581. Filter with criterion's
//! own argument, e.g. `cargo bench -p benches --bench pbe -- bls24-479`.
//!
//! `cargo run -p benches --bin report` turns the results into docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use ark_ff::UniformRand;
use ark_serialize::{Compress, Validate};
use benches::{rng, World};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pbe_core::suite::Group;
use pbe_core::{AuthoritySecretKey, Bls12_381Suite, Bls24_479Suite, Bls48_581Suite, Bn254Suite, Gid, Suite};

/// Raw AES-GCM with the suite's key size: the baseline the bulk numbers are compared with.
enum RawAead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl RawAead {
    fn for_suite<S: Suite>() -> Self {
        if S::AEAD_KEY_LEN == 16 {
            RawAead::Aes128(Box::new(Aes128Gcm::new(&[7u8; 16].into())))
        } else {
            RawAead::Aes256(Box::new(Aes256Gcm::new(&[7u8; 32].into())))
        }
    }

    fn encrypt(&self, msg: &[u8]) -> Vec<u8> {
        let nonce = Nonce::from_slice(&[0u8; 12]);
        let payload = Payload { msg, aad: b"header" };
        match self {
            RawAead::Aes128(k) => k.encrypt(nonce, payload),
            RawAead::Aes256(k) => k.encrypt(nonce, payload),
        }
        .unwrap_or_default()
    }

    fn decrypt(&self, msg: &[u8]) -> Vec<u8> {
        let nonce = Nonce::from_slice(&[0u8; 12]);
        let payload = Payload { msg, aad: b"header" };
        match self {
            RawAead::Aes128(k) => k.decrypt(nonce, payload),
            RawAead::Aes256(k) => k.decrypt(nonce, payload),
        }
        .unwrap_or_default()
    }
}

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
    let g1: Vec<S::G1> = (0..pairs).map(|_| S::g1_generator().mul(&S::Scalar::rand(r))).collect();
    let g2: Vec<S::G2> = (0..pairs).map(|_| S::g2_generator().mul(&S::Scalar::rand(r))).collect();
    g.bench_function(BenchmarkId::new("floor", "multi-pairing-11"), |b| {
        b.iter(|| {
            let prepared: Vec<_> = g2.iter().map(S::prepare_g2).collect();
            S::multi_pairing(black_box(&g1), &prepared)
        })
    });
    g.finish();
}

fn bulk<S: Suite>(c: &mut Criterion) {
    let suite = S::ID.name();
    let world = World::<S>::new();
    let (tat, shopping, _) = world.keys();
    let key = RawAead::for_suite::<S>();
    let mut g = c.benchmark_group(format!("bulk/{suite}"));
    g.sample_size(10).measurement_time(Duration::from_secs(6)).warm_up_time(Duration::from_secs(1));
    for (label, len) in [("1B", 1usize), ("1MB", 1 << 20), ("10MB", 10 << 20), ("100MB", 100 << 20)] {
        let data = vec![0x5au8; len];
        g.throughput(Throughput::Bytes(data.len() as u64));
        let policy = world.table1(None).into_iter().nth(1).map(|(_, ct)| ct.policy().clone());
        let Some(policy) = policy else { return };
        let r = &mut rng(13);
        g.bench_with_input(BenchmarkId::new("pbe-encrypt", label), &data, |b, d| {
            b.iter(|| world.encryptor.encrypt(&policy, d, r))
        });
        g.bench_with_input(BenchmarkId::new("aes-gcm-encrypt", label), &data, |b, d| {
            b.iter(|| key.encrypt(d))
        });
        let ct = world.encryptor.encrypt(&policy, &data, r).unwrap_or_else(|_| unreachable!());
        let raw = key.encrypt(&data);
        g.bench_function(BenchmarkId::new("pbe-decrypt", label), |b| {
            b.iter(|| ct.decrypt(&[&tat, &shopping]))
        });
        g.bench_function(BenchmarkId::new("aes-gcm-decrypt", label), |b| b.iter(|| key.decrypt(&raw)));
        if len == 100 << 20 {
            // pbe's decrypt returns a `Zeroizing` plaintext that is wiped when dropped; raw
            // AES-GCM's is not. Timed alone so the report can separate the two.
            // A fresh buffer each time, as a decryption's output is (not timed: its allocation).
            g.bench_function(BenchmarkId::new("zeroize-plaintext", label), |b| {
                b.iter_batched(
                    || data.clone(),
                    |mut plain| {
                        zeroize::Zeroize::zeroize(plain.as_mut_slice());
                        plain
                    },
                    criterion::BatchSize::PerIteration,
                )
            });
        }
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
    let suite = S::ID.name();
    let r = &mut rng(14);
    let k = S::Scalar::rand(r);
    let p1 = S::g1_generator().mul(&k);
    let p2 = S::g2_generator().mul(&k);
    let tables = S::tables();
    let mut g = c.benchmark_group(format!("primitives/{suite}"));
    g.bench_function("hash-attribute-to-g1", |b| {
        b.iter(|| S::hash_attribute(black_box("purpose:current@salesforce")))
    });
    g.bench_function("g1-mul", |b| b.iter(|| black_box(&p1).mul(&k)));
    g.bench_function("g1-mul-secret", |b| b.iter(|| black_box(&p1).mul_secret(&k)));
    g.bench_function("g2-mul", |b| b.iter(|| black_box(&p2).mul(&k)));
    g.bench_function("g2-fixed-base-table", |b| b.iter(|| tables.g2_table.mul(black_box(&k))));
    g.bench_function("gt-fixed-base-table", |b| b.iter(|| tables.gt_table.mul(black_box(&k))));
    g.bench_function("g2-fixed-base-table-vartime", |b| {
        b.iter(|| tables.g2_table.mul_vartime(black_box(&k)))
    });
    g.bench_function("gt-fixed-base-table-vartime", |b| {
        b.iter(|| tables.gt_table.mul_vartime(black_box(&k)))
    });
    g.bench_function("gt-exp-plain", |b| b.iter(|| black_box(&tables.gt).mul(&k)));
    g.bench_function("g2-prepare", |b| b.iter(|| S::prepare_g2(black_box(&p2))));
    g.bench_function("pairing", |b| {
        b.iter(|| S::multi_pairing(std::slice::from_ref(black_box(&p1)), &[S::prepare_g2(&p2)]))
    });
    for (label, form) in [("compressed", Compress::Yes), ("uncompressed", Compress::No)] {
        let mut b1 = Vec::new();
        let mut b2 = Vec::new();
        p1.encode(form, &mut b1);
        p2.encode(form, &mut b2);
        g.bench_function(format!("g1-decode-validated-{label}"), |b| {
            b.iter(|| S::G1::decode(black_box(&b1[..]), form, Validate::Yes))
        });
        g.bench_function(format!("g2-decode-validated-{label}"), |b| {
            b.iter(|| S::G2::decode(black_box(&b2[..]), form, Validate::Yes))
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

fn bls24_479(c: &mut Criterion) {
    all::<Bls24_479Suite>(c);
}

fn bls48_581(c: &mut Criterion) {
    all::<Bls48_581Suite>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = bn254, bls12_381, bls24_479, bls48_581
}
criterion_main!(benches);
