//! Shared fixtures for the criterion benchmarks and the report generator: the paper's
//! Table 1 world (home authority `telekom`, visitor authorities `salesforce` and `amazon`),
//! built once per suite outside the timed closures.

use pbe_core::disclosure::table1;
use pbe_core::{segtree, Attribute, AuthoritySecretKey, Ciphertext, Encryptor, Gid, Suite, UserKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The day the Table 1 data is encrypted (2026-11-23).
pub const DAY: u64 = 20_415;

/// Deterministic RNG for reproducible inputs.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// The authorities and prepared encryptor of Table 1.
pub struct World<S: Suite> {
    /// Home IdP authority (`telekom`).
    pub home: AuthoritySecretKey<S>,
    /// Visitor IdP authority (`salesforce`).
    pub visitor: AuthoritySecretKey<S>,
    /// Encryptor over telekom, salesforce and amazon with the default (6-bit) tables.
    pub encryptor: Encryptor<S>,
}

/// Attribute parse helper for fixtures (inputs are constants).
pub fn attr(s: &str) -> Attribute {
    s.parse().unwrap_or_else(|e| unreachable_fixture(&e))
}

#[allow(clippy::panic)]
fn unreachable_fixture(e: &dyn std::fmt::Display) -> ! {
    panic!("benchmark fixture is invalid: {e}")
}

impl<S: Suite> World<S> {
    /// Sets up the three authorities.
    pub fn new() -> Self {
        let r = &mut rng(1);
        let setup = |name: &str, r: &mut ChaCha20Rng| {
            AuthoritySecretKey::<S>::setup(name, r).unwrap_or_else(|e| unreachable_fixture(&e))
        };
        let home = setup("telekom", r);
        let visitor = setup("salesforce", r);
        let amazon = setup("amazon", r);
        let encryptor = Encryptor::new([home.public_key(), visitor.public_key(), amazon.public_key()])
            .unwrap_or_else(|e| unreachable_fixture(&e));
        World { home, visitor, encryptor }
    }

    /// The TAT's 19 attributes: 17 segment-tree nodes of `day`, domain and country.
    pub fn tat_attributes(day: u64) -> Vec<Attribute> {
        let mut a = segtree::path_attributes("access_time", "telekom", day)
            .unwrap_or_else(|e| unreachable_fixture(&e));
        a.push(attr("domain:salesforce@telekom"));
        a.push(attr("country:eu@telekom"));
        a
    }

    /// The delivery service's PAT attributes (3).
    pub fn pat_attributes() -> Vec<Attribute> {
        ["purpose:current@salesforce", "purpose:contact@salesforce", "ppurpose:delivery@salesforce"]
            .iter()
            .map(|s| attr(s))
            .collect()
    }

    /// The shopping service's PAT attributes (2, plus `contact` to open nothing extra).
    pub fn shopping_pat_attributes() -> Vec<Attribute> {
        ["purpose:current@salesforce", "ppurpose:purchase@salesforce"].iter().map(|s| attr(s)).collect()
    }

    /// A TAT for today and PATs for the shopping and delivery services, one GID.
    pub fn keys(&self) -> (UserKey<S>, UserKey<S>, UserKey<S>) {
        let r = &mut rng(2);
        let gid = Gid::new("bob", "session-1").unwrap_or_else(|e| unreachable_fixture(&e));
        let kg = |k: &AuthoritySecretKey<S>, a: &[Attribute], r: &mut ChaCha20Rng| {
            k.keygen(&gid, a, r).unwrap_or_else(|e| unreachable_fixture(&e))
        };
        let tat = kg(&self.home, &Self::tat_attributes(DAY), r);
        let shopping = kg(&self.visitor, &Self::shopping_pat_attributes(), r);
        let delivery = kg(&self.visitor, &Self::pat_attributes(), r);
        (tat, shopping, delivery)
    }

    /// Table 1 encrypted: (attribute, value, ciphertext).
    pub fn table1(&self, payload: Option<&[u8]>) -> Vec<(&'static str, Ciphertext<S>)> {
        let r = &mut rng(3);
        table1()
            .into_iter()
            .map(|(name, value, d)| {
                let policy = d.compile("telekom", DAY).unwrap_or_else(|e| unreachable_fixture(&e));
                let data = payload.unwrap_or(value.as_bytes());
                (name, self.encryptor.encrypt(&policy, data, r).unwrap_or_else(|e| unreachable_fixture(&e)))
            })
            .collect()
    }
}

impl<S: Suite> Default for World<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// The quickstart stack's options for the in-process service benchmarks and harnesses:
/// ephemeral loopback ports, `dir` for data, the system clock, BLS12-381, plain HTTP, sled.
pub fn quickstart_options(dir: &std::path::Path) -> idaas::stack::Options {
    idaas::stack::Options {
        base_port: 0,
        data_dir: dir.to_owned(),
        clock: std::sync::Arc::new(service_kit::clock::SystemClock),
        suite: pbe_core::SuiteId::Bls12_381,
        tls: false,
        store_url: None,
        public: None,
    }
}

/// The mean of every `idaas_phase_duration_seconds` phase in this process between two
/// renderings of the metrics (`Metrics::render`), milliseconds: where one request's time went.
pub fn phase_means(before: &str, after: &str) -> Vec<(String, u64, f64)> {
    let read = |text: &str| {
        let mut m = std::collections::BTreeMap::<String, (f64, f64)>::new();
        for line in text.lines().filter(|l| l.starts_with("idaas_phase_duration_seconds_")) {
            let (Some(phase), Some(value)) = (
                line.split("phase=\"").nth(1).and_then(|r| r.split('"').next()),
                line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()),
            ) else {
                continue;
            };
            let e = m.entry(phase.to_owned()).or_default();
            if line.starts_with("idaas_phase_duration_seconds_sum") {
                e.0 = value;
            } else if line.starts_with("idaas_phase_duration_seconds_count") {
                e.1 = value;
            }
        }
        m
    };
    let (b, a) = (read(before), read(after));
    a.into_iter()
        .filter_map(|(phase, (sum, count))| {
            let (s0, c0) = b.get(&phase).copied().unwrap_or_default();
            let n = count - c0;
            (n > 0.0).then(|| (phase, n as u64, (sum - s0) / n * 1000.0))
        })
        .collect()
}

/// Prints [`phase_means`] under `group`, one line per phase (the home and agent benches).
pub fn print_phases(group: &str, before: &str, after: &str) {
    for (phase, n, ms) in phase_means(before, after) {
        println!("{group}: phase {phase:<24} {n:>6} × mean {ms:.3} ms");
    }
}
