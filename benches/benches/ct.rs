//! Constant-time scalar multiplication (issue 23, item 1): what it costs, and a statistical
//! timing check.
//!
//! - `ct/<suite>/…`: the constant-time fixed-base tables (`FixedBaseTable::mul`) beside the
//!   variable-time lookup they replaced (`mul_vartime`), per window width, and
//!   `Group::mul_secret` beside the libraries' own `mul`.
//! - The timing check (printed, never asserted: the machine is shared and noisy) times the
//!   same operation on two classes of secret scalar, low Hamming weight (few set bits, so
//!   most window digits are zero) and uniformly random, interleaved, and reports the medians
//!   and Welch's t statistic (dudect's criterion: |t| > 4.5 suggests a leak). The
//!   variable-time lookup skips zero digits, so it is shown as the control that must
//!   differ.
//!
//! `cargo bench -p benches --bench ct` (filter e.g. `-- bls12-381`; set
//! `IDAAS_CT_SAMPLES` for the timing check's samples per class, default 2000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ark_ff::{PrimeField, UniformRand};
use benches::rng;
use criterion::{BenchmarkId, Criterion};
use pbe_core::suite::Group;
use pbe_core::FixedBaseTable;
use pbe_core::{Bls12_381Suite, Bls24_479Suite, Bls48_581Suite, Bn254Suite, Suite};

fn costs<S: Suite>(c: &mut Criterion) {
    let suite = S::ID.name();
    let r = &mut rng(23);
    let k = S::Scalar::rand(r);
    let g2 = S::g2_generator();
    let gt = S::tables().gt.clone();
    let mut g = c.benchmark_group(format!("ct/{suite}"));
    let windows: &[usize] = if S::ID.security_bits() > 128 { &[3, 4, 5] } else { &[4, 5, 6, 8] };
    for &w in windows {
        let t2 = FixedBaseTable::new(g2.clone(), w);
        let tt = FixedBaseTable::new(gt.clone(), w);
        g.bench_function(BenchmarkId::new("g2-table-ct", w), |b| b.iter(|| t2.mul(black_box(&k))));
        g.bench_function(BenchmarkId::new("g2-table-vartime", w), |b| {
            b.iter(|| t2.mul_vartime(black_box(&k)))
        });
        g.bench_function(BenchmarkId::new("gt-table-ct", w), |b| b.iter(|| tt.mul(black_box(&k))));
        g.bench_function(BenchmarkId::new("gt-table-vartime", w), |b| {
            b.iter(|| tt.mul_vartime(black_box(&k)))
        });
    }
    let p1 = S::g1_generator().mul(&k);
    g.bench_function("g1-mul-secret", |b| b.iter(|| black_box(&p1).mul_secret(&k)));
    g.bench_function("g1-mul-vartime", |b| b.iter(|| black_box(&p1).mul(&k)));
    g.finish();
}

/// A scalar with `weight` random bits set.
fn low_weight<F: PrimeField>(weight: usize, r: &mut impl rand::RngCore) -> F {
    let bits = F::MODULUS_BIT_SIZE as usize - 1;
    let mut k = F::zero();
    for _ in 0..weight {
        let bit = (r.next_u64() as usize) % bits;
        k += F::from(2u64).pow([bit as u64]);
    }
    k
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Welch's t over the fastest 90 % of each class (dudect's cropping of interrupt outliers).
fn welch_t(a: &mut [f64], b: &mut [f64]) -> f64 {
    let crop = |v: &mut [f64]| -> Vec<f64> {
        v.sort_by(|x, y| x.total_cmp(y));
        v[..v.len() * 9 / 10].to_vec()
    };
    let (a, b) = (crop(a), crop(b));
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, var, n)
    };
    let ((ma, va, na), (mb, vb, nb)) = (stats(&a), stats(&b));
    (ma - mb) / (va / na + vb / nb).sqrt()
}

/// Times `f` on low-weight and random scalars, interleaved, and prints the comparison.
fn timing_check<S: Suite>(label: &str, samples: usize, f: impl Fn(&S::Scalar)) {
    let r = &mut rng(42);
    let (mut low, mut random) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for i in 0..2 * samples {
        let k = if i % 2 == 0 { low_weight::<S::Scalar>(4, r) } else { S::Scalar::rand(r) };
        let start = Instant::now();
        f(black_box(&k));
        let ns = start.elapsed().as_nanos() as f64;
        if i % 2 == 0 {
            low.push(ns)
        } else {
            random.push(ns)
        }
    }
    let t = welch_t(&mut low.clone(), &mut random.clone());
    println!(
        "timing-check {:<10} {label:<22} median low-weight {:>10.0} ns, random {:>10.0} ns, Welch t = {t:>7.2}{}",
        S::ID.name(),
        median(&mut low),
        median(&mut random),
        if t.abs() > 4.5 { "  (differs)" } else { "" }
    );
}

fn timing_checks<S: Suite>(samples: usize) {
    let tables = S::tables();
    let p1 = S::g1_generator().mul(&S::Scalar::from(7u64));
    timing_check::<S>("g2-table-ct", samples, |k| {
        black_box(tables.g2_table.mul(k));
    });
    timing_check::<S>("g2-table-vartime", samples, |k| {
        black_box(tables.g2_table.mul_vartime(k));
    });
    timing_check::<S>("gt-table-ct", samples / 4, |k| {
        black_box(tables.gt_table.mul(k));
    });
    timing_check::<S>("g1-mul-secret", samples, |k| {
        black_box(p1.mul_secret(k));
    });
    timing_check::<S>("g1-mul (vartime)", samples, |k| {
        black_box(p1.mul(k));
    });
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let samples: usize = std::env::var("IDAAS_CT_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300))
        .configure_from_args();
    let wanted = |name: &str| filter.is_empty() || name.contains(&filter) || filter.contains(name);
    if wanted("bn254") {
        costs::<Bn254Suite>(&mut c);
        timing_checks::<Bn254Suite>(samples);
    }
    if wanted("bls12-381") {
        costs::<Bls12_381Suite>(&mut c);
        timing_checks::<Bls12_381Suite>(samples);
    }
    if wanted("bls24-479") {
        costs::<Bls24_479Suite>(&mut c);
        timing_checks::<Bls24_479Suite>(samples / 10);
    }
    if wanted("bls48-581") {
        costs::<Bls48_581Suite>(&mut c);
        timing_checks::<Bls48_581Suite>(samples / 20);
    }
    c.final_summary();
}
